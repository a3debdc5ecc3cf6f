#include "raid/create.h"

#include <sys/stat.h>

#include <algorithm>

#include <fmt/format.h>

#include "format/badblocks.h"
#include "format/bitmap.h"
#include "io/sync_file.h"
#include "raid/member_metadata.h"

namespace meshraid::raid {
namespace {

constexpr uint64_t kSbSector = 8;        // v1.2
constexpr uint64_t kBitmapOffset = 8;    // sectors after the superblock (4 KiB)
constexpr uint64_t kBadBlockLogSectors = 8;
constexpr uint64_t kDefaultChunkSectors = 1024;  // 512 KiB
constexpr uint64_t kGiB = 2 * 1024 * 1024;       // sectors
// mdadm makes an internal bitmap the default from this array size up.
constexpr uint64_t kDefaultBitmapFrom = 100 * kGiB;

uint64_t RoundUp(uint64_t v, uint64_t m) { return (v + m - 1) / m * m; }

}  // namespace

uint64_t BitmapSpaceSectors(uint64_t device_sectors) {
  if (device_sectors < 64) return 0;
  if (device_sectors - 64 >= 200 * kGiB) return 256;
  if (device_sectors - 8 > 8 * kGiB) return 128;
  return 8;
}

uint64_t DefaultDataOffset(uint64_t device_sectors, uint64_t chunk_kib) {
  uint64_t headroom = 262144;  // 128 MiB, aiming at about 0.1 % of the device
  while ((headroom << 10) > device_sectors && (chunk_kib == 0 || headroom / 2 >= 4 * chunk_kib)) {
    headroom >>= 1;
  }
  return RoundUp(24 + BitmapSpaceSectors(device_sectors) + headroom, 2048);
}

Result<CreatePlan> PlanCreate(const CreateOptions& opts, const std::vector<CreateMember>& members) {
  std::vector<uint64_t> device_sectors;
  for (const CreateMember& m : members) device_sectors.push_back(m.sectors);
  if (opts.level != 1 && opts.level != 10) {
    return Status::InvalidArgument(fmt::format("level {} is not supported (use 1 or 10)", opts.level));
  }
  if (opts.raid_devices < (opts.level == 1 ? 1 : 2)) {
    return Status::InvalidArgument(fmt::format("raid-devices {} is too small", opts.raid_devices));
  }
  if (device_sectors.size() != size_t(opts.raid_devices)) {
    return Status::InvalidArgument(fmt::format("{} members given for raid-devices={}",
                                               device_sectors.size(), opts.raid_devices));
  }
  uint64_t chunk = 0;
  if (opts.level == 10) chunk = opts.chunk_sectors ? opts.chunk_sectors : kDefaultChunkSectors;
  else if (opts.chunk_sectors) return Status::InvalidArgument("--chunk applies to RAID10 only");

  CreatePlan plan;
  uint64_t min_dev = *std::min_element(device_sectors.begin(), device_sectors.end());
  plan.data_offset = DefaultDataOffset(device_sectors[0], chunk / 2);
  uint64_t bm_space = BitmapSpaceSectors(device_sectors[0]);
  // The smallest member decides the component size, rounded down to the chunk (RAID10) or to
  // 64 KiB (RAID1, as mdadm does so that a later reshape has whole chunks).
  uint64_t unit = opts.level == 10 ? chunk : 128;
  uint64_t min_data = std::max<uint64_t>(unit * opts.raid10_layout.far, 128);
  for (size_t i = 0; i < device_sectors.size(); ++i) {
    uint64_t need = plan.data_offset + min_data;
    if (device_sectors[i] < need) {
      return Status::InvalidArgument(fmt::format(
          "{}: member is too small: {} sectors, needs at least {} (data offset {} + {} of data)",
          members[i].name,
          device_sectors[i], need, plan.data_offset, min_data));
    }
  }
  plan.component_sectors = (min_dev - plan.data_offset) / unit * unit;

  Result<layout::Geometry> geo =
      opts.level == 1
          ? layout::Geometry::Raid1(opts.raid_devices, plan.component_sectors)
          : layout::Geometry::Raid10(opts.raid_devices, opts.raid10_layout, chunk,
                                     plan.component_sectors);
  if (!geo.ok()) return geo.status();
  plan.geometry = std::move(geo).value();

  switch (opts.bitmap) {
    case BitmapChoice::kInternal: plan.bitmap = true; break;
    case BitmapChoice::kNone: plan.bitmap = false; break;
    case BitmapChoice::kDefault: plan.bitmap = plan.geometry.ArraySectors() >= kDefaultBitmapFrom; break;
  }
  if (plan.bitmap && bm_space == 0) return Status::InvalidArgument("members too small for a bitmap");

  format::Superblock sb;
  sb.feature_map = plan.bitmap ? uint32_t{format::kFeatureBitmapOffset} : 0u;
  sb.set_uuid = opts.set_uuid;
  std::string set_name = opts.homehost.empty() ? opts.name : opts.homehost + ":" + opts.name;
  if (set_name.size() > 31) set_name = opts.name;
  if (set_name.size() > 32) return Status::InvalidArgument("--name is longer than 32 bytes");
  sb.SetName(set_name);
  sb.ctime = format::SbTime(opts.now_seconds);
  sb.utime = sb.ctime;
  sb.level = opts.level;
  sb.layout = opts.level == 10 ? opts.raid10_layout.Word() : 0;
  sb.size = plan.component_sectors;
  sb.chunksize = uint32_t(chunk);
  sb.raid_disks = uint32_t(opts.raid_devices);
  sb.bitmap_offset = plan.bitmap ? int32_t(kBitmapOffset) : 0;
  sb.data_offset = plan.data_offset;
  sb.super_offset = kSbSector;
  sb.bblog_size = uint16_t(kBadBlockLogSectors);
  sb.bblog_offset = int32_t(kBitmapOffset + bm_space);
  sb.events = 1;
  sb.resync_offset = opts.assume_clean ? format::kMaxSector : 0;
  // Room for the members plus spares, rounded to whole 512-byte sectors.
  sb.max_dev = uint32_t((RoundUp(256 + 2 * uint64_t(opts.raid_devices), 512) - 256) / 2);
  sb.dev_roles.assign(sb.max_dev, format::kRoleSpare);
  for (int i = 0; i < opts.raid_devices; ++i) sb.dev_roles[size_t(i)] = uint16_t(i);

  std::vector<uint8_t> bitmap_bytes;
  if (plan.bitmap) {
    format::BitmapSuper b;
    b.uuid = opts.set_uuid;
    b.events = sb.events;
    b.events_cleared = sb.events;
    // Bitmap space: RAID1 covers the component, RAID10 the whole array.
    b.sync_size = opts.level == 1 ? plan.component_sectors : plan.geometry.ArraySectors();
    uint64_t space_bytes = std::min<uint64_t>(bm_space, 256) * 512;
    b.chunksize = format::DefaultBitmapChunk(b.sync_size, (space_bytes - 256) * 8);
    format::BitmapBits bits(b.Chunks());
    // A new array that is not --assume-clean needs a full resync: every chunk is dirty.
    if (!opts.assume_clean) {
      for (uint64_t c = 0; c < b.Chunks(); ++c) bits.Set(c);
    }
    // The reserved area is written whole, the way mdadm leaves it.
    MESHRAID_ASSIGN_OR_RETURN(bitmap_bytes, format::EncodeBitmapArea(b, bits, bm_space * 512));
  }
  std::vector<uint8_t> bblog = format::EncodeEmptyBadBlockLog(uint32_t(kBadBlockLogSectors));

  for (int i = 0; i < opts.raid_devices; ++i) {
    MemberWrite w;
    w.sb = sb;
    w.sb.dev_number = uint32_t(i);
    w.sb.data_size = device_sectors[size_t(i)] - plan.data_offset;
    if (size_t(i) < opts.device_uuids.size()) w.sb.device_uuid = opts.device_uuids[size_t(i)];
    w.sb_bytes = format::Encode(w.sb);
    w.sb.sb_csum = format::ComputeChecksum(w.sb_bytes);
    if (plan.bitmap) {
      w.bitmap_sector = kSbSector + kBitmapOffset;
      w.bitmap_bytes = bitmap_bytes;
    }
    w.bblog_sector = kSbSector + uint64_t(sb.bblog_offset);
    w.bblog_bytes = bblog;
    plan.members.push_back(std::move(w));
  }
  return plan;
}

Result<CreatePlan> CreateArray(const CreateOptions& opts, const std::vector<std::string>& paths) {
  // Phase 1: check every member; nothing is written until all pass.
  std::vector<io::SyncFile> files;
  std::vector<CreateMember> sizes;
  std::vector<std::pair<dev_t, ino_t>> seen;
  for (const std::string& p : paths) {
    auto f = io::SyncFile::Open(p, io::SyncFile::Mode::kReadWrite);
    if (!f.ok()) {
      if (f.status().code() == Code::kFailedPrecondition) {
        return Status::FailedPrecondition(
            fmt::format("{}: member is not writable ({})", p, f.status().message()));
      }
      return f.status();
    }
    if (f->remote()) {  // a remote member is known by its URI
      for (const CreateMember& m : sizes) {
        if (m.name == p) return Status::InvalidArgument(fmt::format("{}: member given twice", p));
      }
    }
    struct stat st {};
    if (!f->remote() && ::fstat(f->fd(), &st) == 0) {
      std::pair<dev_t, ino_t> id = f->is_block_device() ? std::pair<dev_t, ino_t>{st.st_rdev, 0}
                                                        : std::pair<dev_t, ino_t>{st.st_dev, st.st_ino};
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) {
        return Status::InvalidArgument(fmt::format("{}: member given twice", p));
      }
      seen.push_back(id);
    }
    if (!opts.force) {
      auto md = ReadMemberMetadata(*f);
      if (md.ok()) {
        return Status::Busy(fmt::format(
            "{}: already a member of array {} (UUID {}, role {}); use --force to overwrite", p,
            md->sb.Name(), format::UuidMdadm(md->sb.set_uuid), md->Role()));
      }
      if (md.status().code() != Code::kNotFound) {
        return Status::Busy(fmt::format(
            "{}: holds a damaged MD superblock ({}); use --force to overwrite", p,
            md.status().message()));
      }
    }
    sizes.push_back({p, f->size_sectors()});
    files.push_back(std::move(f).value());
  }
  MESHRAID_ASSIGN_OR_RETURN(CreatePlan plan, PlanCreate(opts, sizes));
  // Phase 2: write. Bitmap and bad-block log first, the superblock last.
  for (size_t i = 0; i < files.size(); ++i) {
    const MemberWrite& w = plan.members[i];
    if (!w.bitmap_bytes.empty()) {
      MESHRAID_RETURN_IF_ERROR(files[i].WriteAt(w.bitmap_sector * 512, w.bitmap_bytes));
    }
    MESHRAID_RETURN_IF_ERROR(files[i].WriteAt(w.bblog_sector * 512, w.bblog_bytes));
    std::vector<uint8_t> block(4096, 0);
    std::copy(w.sb_bytes.begin(), w.sb_bytes.end(), block.begin());
    MESHRAID_RETURN_IF_ERROR(files[i].WriteAt(kSbSector * 512, block));
  }
  for (const io::SyncFile& f : files) MESHRAID_RETURN_IF_ERROR(f.Sync());
  return plan;
}

}  // namespace meshraid::raid
