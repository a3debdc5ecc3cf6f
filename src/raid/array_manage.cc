// Member management on a running array (mdadm --manage): add a spare or a replacement,
// re-add a member that left, remove one that is out of the array.
#include <random>

#include <fmt/format.h>

#include "format/badblocks.h"
#include "raid/array.h"

namespace meshraid::raid {
namespace {

format::Uuid RandomDeviceUuid() {
  std::random_device rd;
  format::Uuid u;
  for (size_t i = 0; i < u.size(); i += 4) {
    uint32_t r = rd();
    for (size_t k = 0; k < 4; ++k) u[i + k] = uint8_t(r >> (8 * k));
  }
  return u;
}

io::Task<Status> WriteAll(io::BlockDevice& d, uint64_t at, std::vector<uint8_t> bytes) {
  uint32_t lbs = d.info().logical_block_size;
  bytes.resize((bytes.size() + lbs - 1) / lbs * lbs, 0);
  co_return co_await d.Write(at, bytes, io::WriteFlags::kFua);
}

}  // namespace

// A member joining a running array must take the array's I/O granularity: the array already
// promised its clients that block size.
Status Array::CheckBlockSize(const io::BlockDevice& d, const std::string& path) const {
  const uint32_t lbs = d.info().logical_block_size;
  if (lbs > info_.logical_block_size) {
    return Status::FailedPrecondition(fmt::format(
        "{}: its logical block size is {} bytes but the array serves {}-byte blocks: I/O of {} bytes "
        "would not be a multiple of it (stop the array and run it with this member to serve {}-byte blocks)",
        path, lbs, info_.logical_block_size, info_.logical_block_size, lbs));
  }
  return Status::Ok();
}

io::Task<Result<size_t>> Array::AddMember(std::unique_ptr<io::BlockDevice> device,
                                          std::string path, int replaces) {
  Result<size_t> r = co_await AddMemberOwned(device, std::move(path), replaces);
  if (!r.ok() && device) (void)co_await device->Close();  // refused: the caller's device is closed
  co_return r;
}

io::Task<Status> Array::ReAddMember(size_t input, std::unique_ptr<io::BlockDevice> device) {
  Status s = co_await ReAddMemberOwned(input, device);
  if (!s.ok() && device) (void)co_await device->Close();
  co_return s;
}

// A failed member's device is kept (open, locked) until it is removed or re-added; this lets
// it go first, after draining all I/O, so that the member can be opened again.
io::Task<Status> Array::ReleaseMember(size_t input) {
  if (input >= members_.size()) co_return Status::InvalidArgument("no such member");
  Member& m = members_[input];
  if (HasSuperblock(m)) {
    co_return Status::FailedPrecondition(fmt::format(
        "{} is {}: only a failed or stale member can be released", m.metadata.path,
        MemberStateName(m.state)));
  }
  if (!m.device) co_return Status::Ok();
  co_await barrier_.Freeze();
  Status s = co_await m.device->Close();
  m.device.reset();
  barrier_.Unfreeze();
  co_return s;
}

// AddMember with the device still owned by the caller's pointer until it is taken.
io::Task<Result<size_t>> Array::AddMemberOwned(std::unique_ptr<io::BlockDevice>& device,
                                               std::string path, int replaces) {
  if (broken_) co_return Status::FailedPrecondition("array is broken");
  // A spare may join during a reshape; a rebuild or a replacement waits for its end (recovery
  // walks one layout only).
  if (reshape_ && (replaces >= 0 || degraded() > 0)) {
    co_return Status::FailedPrecondition(fmt::format(
        "{}: a reshape is in progress (position {}); add it when the reshape is done", path,
        reshape_pos_));
  }
  if (FindMember(path) >= 0) {
    co_return Status::InvalidArgument(path + ": already a member of this array");
  }
  MESHRAID_CO_RETURN_IF_ERROR(CheckBlockSize(*device, path));
  if (replaces >= 0) {
    if (size_t(replaces) >= members_.size() || members_[size_t(replaces)].state != MemberState::kInSync) {
      co_return Status::FailedPrecondition(path + ": only an in-sync member can be replaced");
    }
    for (const Member& m : members_) {
      if (m.state == MemberState::kRecovering && m.slot == members_[size_t(replaces)].slot) {
        co_return Status::FailedPrecondition(fmt::format(
            "slot {} is already being rebuilt onto {}", m.slot, m.metadata.path));
      }
    }
  }
  // The new superblock follows an in-sync member's: same array fields and offsets.
  const Member* tmpl = nullptr;
  for (const Member& m : members_) {
    if (m.state == MemberState::kInSync) tmpl = &m;
  }
  if (!tmpl) co_return Status::FailedPrecondition("no in-sync member to copy the metadata from");
  MemberMetadata md;
  md.path = path;
  md.device_sectors = device->info().size_bytes / 512;
  md.version = tmpl->metadata.version;
  md.sb_sector = format::SuperblockSector(md.version, md.device_sectors);
  md.sb = tmpl->metadata.sb;
  format::Superblock& sb = md.sb;
  const uint64_t used = geometry_.DeviceSectorsUsed();
  uint64_t data_end = md.version == format::SbVersion::k1_0 ? md.sb_sector : md.device_sectors;
  if (data_end < sb.data_offset + used) {
    co_return Status::InvalidArgument(fmt::format(
        "{}: too small: {} data sectors after offset {}, the array needs {}", path,
        data_end - std::min(data_end, sb.data_offset), sb.data_offset, used));
  }
  // The first device number no member uses and no superblock records as active or faulty.
  uint32_t dn = 0;
  for (;; ++dn) {
    bool taken = dn < reference_.dev_roles.size() && reference_.dev_roles[dn] != format::kRoleSpare;
    for (const Member& m : members_) taken |= !m.removed && m.metadata.sb.dev_number == dn;
    if (!taken) break;
  }
  if (dn >= sb.max_dev) co_return Status::NoSpace("no free device number left in the superblock (max_dev)");
  sb.dev_number = dn;
  sb.device_uuid = RandomDeviceUuid();
  sb.data_size = data_end - sb.data_offset;
  sb.super_offset = md.sb_sector;
  sb.devflags = 0;
  sb.cnt_corrected_read = 0;
  sb.recovery_offset = 0;
  sb.events = events_;
  // The bitmap area (the array's current bits) and an empty bad-block log come first.
  if (bitmap_) {
    int64_t at = (int64_t(md.sb_sector) + sb.bitmap_offset) * 512;
    MESHRAID_CO_RETURN_IF_ERROR(co_await WriteAll(*device, uint64_t(at), bitmap_->image()));
  }
  if (sb.Has(format::kFeatureBadBlocks) || sb.bblog_size > 0) {
    int64_t at = (int64_t(md.sb_sector) + sb.bblog_offset) * 512;
    MESHRAID_CO_RETURN_IF_ERROR(co_await WriteAll(
        *device, uint64_t(at), format::EncodeEmptyBadBlockLog(sb.bblog_size)));
  }
  Member m;
  m.device = std::move(device);
  m.metadata = std::move(md);
  m.state = MemberState::kSpare;
  // A replacement, or a rebuild into the first slot nobody holds or rebuilds.
  if (replaces >= 0) {
    m.slot = members_[size_t(replaces)].slot;
    m.replaces = replaces;
    m.state = MemberState::kRecovering;
  } else {
    for (size_t s = 0; s < slot_member_.size() && m.state == MemberState::kSpare; ++s) {
      if (slot_member_[s] >= 0 || !slot_writers_[s].empty()) continue;
      m.slot = int(s);
      m.state = MemberState::kRecovering;
    }
  }
  co_await md_lock_.Acquire();
  members_.push_back(std::move(m));  // a deque: references to other members stay valid
  size_t input = members_.size() - 1;
  RebuildSlots();
  Status s = co_await WriteSuperblocks();
  md_lock_.Release();
  MESHRAID_CO_RETURN_IF_ERROR(s);
  const Member& added = members_[input];
  Log(added.state == MemberState::kSpare
          ? fmt::format("{} added as a spare", path)
          : fmt::format("{} added to slot {}{}", path, added.slot,
                        replaces >= 0 ? " as a replacement of " + members_[size_t(replaces)].metadata.path
                                      : ""));
  KickSync();
  co_return input;
}

io::Task<Status> Array::ReAddMemberOwned(size_t input, std::unique_ptr<io::BlockDevice>& device) {
  if (input >= members_.size()) co_return Status::InvalidArgument("no such member");
  Member& m = members_[input];
  const std::string& path = m.metadata.path;
  if (m.removed) co_return Status::FailedPrecondition(path + ": was removed; add it instead");
  if (reshape_) {
    co_return Status::FailedPrecondition(fmt::format(
        "{}: a reshape is in progress (position {}); re-add it when the reshape is done", path,
        reshape_pos_));
  }
  if (m.state != MemberState::kFaulty && m.state != MemberState::kStale &&
      m.state != MemberState::kMissing) {
    co_return Status::FailedPrecondition(fmt::format(
        "{}: cannot re-add a member that is {}", path, MemberStateName(m.state)));
  }
  MESHRAID_CO_RETURN_IF_ERROR(CheckBlockSize(*device, path));
  int slot = m.slot >= 0 ? m.slot : int(m.metadata.sb.ThisRole());
  if (slot < 0 || slot >= geometry_.raid_disks()) {
    co_return Status::FailedPrecondition(path + ": its superblock records no slot; add it instead");
  }
  if (slot_member_[size_t(slot)] >= 0 || !slot_writers_[size_t(slot)].empty()) {
    co_return Status::FailedPrecondition(fmt::format("{}: slot {} is taken", path, slot));
  }
  uint64_t member_events = m.metadata.sb.events;
  // Bitmap-guided when every write the member missed is still marked: the member saw every
  // event up to the last time bits were cleared (MD's events >= events_cleared).
  bool guided = bitmap_ && member_events >= bitmap_->super().events_cleared;
  if (bitmap_) {
    int64_t at = (int64_t(m.metadata.sb_sector) + m.metadata.sb.bitmap_offset) * 512;
    MESHRAID_CO_RETURN_IF_ERROR(co_await WriteAll(*device, uint64_t(at), bitmap_->image()));
  }
  co_await md_lock_.Acquire();
  if (m.device) (void)co_await m.device->Close();
  m.device = std::move(device);
  m.slot = slot;
  m.state = MemberState::kRecovering;
  m.recovery_offset = 0;
  m.bitmap_recovery = guided;
  m.stats.read_errors = 0;
  RebuildSlots();
  Status s = co_await WriteSuperblocks();
  md_lock_.Release();
  MESHRAID_CO_RETURN_IF_ERROR(s);
  Log(fmt::format("{} re-added to slot {} ({})", path, slot,
                  guided ? fmt::format("bitmap-guided: events {} >= events_cleared {}", member_events,
                                       bitmap_->super().events_cleared)
                         : "full recovery"));
  KickSync();
  co_return Status::Ok();
}

io::Task<Status> Array::RemoveMember(size_t input) {
  if (input >= members_.size() || members_[input].removed) co_return Status::InvalidArgument("no such member");
  Member& m = members_[input];
  if (m.state == MemberState::kInSync || m.state == MemberState::kRecovering) {
    co_return Status::FailedPrecondition(fmt::format(
        "{} is {}: fail it first", m.metadata.path, MemberStateName(m.state)));
  }
  co_await md_lock_.Acquire();
  m.removed = true;
  m.slot = -1;
  if (m.device) (void)co_await m.device->Close();
  m.device.reset();
  // MD records a removed member as a spare (0xFFFF), not as faulty.
  uint32_t dn = m.metadata.sb.dev_number;
  if (dn < reference_.dev_roles.size()) reference_.dev_roles[dn] = format::kRoleSpare;
  m.state = MemberState::kMissing;
  Status s = co_await WriteSuperblocks();
  md_lock_.Release();
  if (s.ok()) Log(m.metadata.path + " removed");
  co_return s;
}

}  // namespace meshraid::raid
