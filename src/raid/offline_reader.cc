#include "raid/offline_reader.h"

#include <algorithm>

#include <fmt/format.h>

#include "raid/placement.h"

namespace meshraid::raid {

Status OfflineReader::Read(uint64_t sector, std::span<uint8_t> buf) const {
  if (buf.size() % 512 != 0) return Status::InvalidArgument("read size is not a multiple of 512");
  uint64_t count = buf.size() / 512;
  if (sector > ArraySectors() || count > ArraySectors() - sector) {
    return Status::InvalidArgument(fmt::format("read of {} sectors at {} is beyond the array end {}",
                                               count, sector, ArraySectors()));
  }
  const uint64_t position = plan_.reshape ? plan_.reshape->position : 0;
  uint64_t done = 0;
  while (done < count) {
    uint64_t v = sector + done;
    Placement place = Place(plan_.geometry, plan_.reshape, position, v);
    uint64_t run = std::min(count - done, place.run);
    int input = -1;
    uint64_t member_sector = 0;
    for (const layout::Copy& c : place.copies) {
      int m = plan_.slot_member[size_t(c.disk)];
      if (m >= 0) {
        input = m;
        member_sector = c.sector;
        break;
      }
    }
    if (input < 0) {
      return Status::Unavailable(fmt::format("array sector {}: no in-sync copy", v));
    }
    uint64_t offset = PlacedByteOffset(plan_.members[size_t(input)].data_offset, plan_.reshape,
                                       place.new_layout, member_sector);
    MESHRAID_RETURN_IF_ERROR(
        files_[size_t(input)].ReadAt(offset, buf.subspan(done * 512, run * 512)));
    done += run;
  }
  return Status::Ok();
}

}  // namespace meshraid::raid
