// Growing the stripe width of a running RAID10 near array (MD's forward reshape).
#include <fmt/format.h>

#include "raid/array.h"

namespace meshraid::raid {

io::Task<Status> Array::Reshape(int new_raid_disks, uint64_t new_chunk_sectors) {
  static_cast<void>(new_chunk_sectors);
  co_return Status::NotSupported(fmt::format("reshape to {} members: not implemented yet", new_raid_disks));
}

io::Task<Status> Array::RunReshape() { co_return Status::NotSupported("reshape"); }

}  // namespace meshraid::raid
