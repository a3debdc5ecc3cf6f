#include "control/status_from_array.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>

#include "format/superblock.h"

namespace meshraid::control {
namespace {

// MD keeps one 16-bit counter per bitmap chunk, 2048 to a 4 KiB page.
constexpr uint64_t kChunksPerPage = 2048;

// The device numbers of a block device member; 0:0 for files and anything else.
void DeviceNumbers(const std::string& path, MemberStatus* m) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
    m->major = ::major(st.st_rdev);
    m->minor = ::minor(st.st_rdev);
  }
}

// A bitmap read from a superblock only (not loaded by the array): no page is in use.
BitmapStatus BitmapFrom(const format::BitmapSuper& b) {
  BitmapStatus s;
  s.chunk_bytes = b.chunksize;
  s.pages_total = (b.Chunks() + kChunksPerPage - 1) / kChunksPerPage;
  return s;
}

// The running bitmap: a page is in use while one of its chunks is dirty (MD allocates a
// counter page on the first write to it and frees it once all its counters are back to 0).
BitmapStatus BitmapFrom(const raid::WriteIntent& w) {
  BitmapStatus s = BitmapFrom(w.super());
  s.dirty_chunks = w.DirtyCount();
  if (s.dirty_chunks == 0) return s;
  for (uint64_t page = 0; page < s.pages_total; ++page) {
    uint64_t end = std::min(w.chunks(), (page + 1) * kChunksPerPage);
    for (uint64_t c = page * kChunksPerPage; c < end; ++c) {
      if (w.Dirty(c)) {
        ++s.pages_used;
        break;
      }
    }
  }
  return s;
}

// mdstat's word for a running action (MD prints repair as resync: see ProgressLine).
std::string ProgressAction(raid::SyncAction a) {
  switch (a) {
    case raid::SyncAction::kResync: return "resync";
    case raid::SyncAction::kRecover: return "recovery";
    case raid::SyncAction::kCheck: return "check";
    case raid::SyncAction::kRepair: return "repair";
    case raid::SyncAction::kReshape: return "reshape";
    case raid::SyncAction::kIdle: break;
  }
  return "";
}

// The progress line's data while an action runs; "resync=PENDING" while a needed resync
// cannot start (frozen).
std::optional<SyncStatus> SyncFrom(const raid::Array& array, const raid::SyncProgress& p) {
  if (p.action == raid::SyncAction::kIdle) {
    if (array.resync_offset() == format::kMaxSector) return std::nullopt;
    SyncStatus s;
    s.action = "resync";
    s.waiting = "PENDING";
    return s;
  }
  SyncStatus s;
  s.action = ProgressAction(p.action);
  s.done_sectors = std::min(p.done_sectors, p.total_sectors);
  s.total_sectors = p.total_sectors;
  s.speed_kib_s = p.speed_kib_s;
  // MD: the sectors left at the measured speed.
  if (p.speed_kib_s > 0) s.finish_seconds = (s.total_sectors - s.done_sectors) / 2 / p.speed_kib_s;
  return s;
}

// A reshape in progress: the superblocks carry MD's reshape fields (raid_disks is the new
// count, delta_disks the change, new_layout/new_chunk the target, reshape_position the last
// checkpoint); the live cursor comes from the array.
std::optional<ReshapeStatus> ReshapeFrom(const raid::Array& array) {
  if (!array.reshaping()) return std::nullopt;
  const format::Superblock& sb = array.superblock();
  ReshapeStatus r;
  r.reshape_position = array.reshape_position();
  r.new_level = sb.level;
  r.new_layout = sb.layout;
  r.new_chunk_sectors = sb.chunksize;
  r.new_raid_disks = int(sb.raid_disks);
  if (sb.Has(format::kFeatureReshapeActive)) {
    r.checkpoint = sb.reshape_position;
    r.delta_disks = sb.delta_disks;
    r.new_level = int(sb.new_level);
    r.new_layout = sb.new_layout;
    r.new_chunk_sectors = sb.new_chunk;
  }
  r.old_raid_disks = r.new_raid_disks - r.delta_disks;
  return r;
}

}  // namespace

std::string ShortArrayName(const std::string& set_name) {
  auto c = set_name.find(':');
  return c == std::string::npos ? set_name : set_name.substr(c + 1);
}

ArrayStatus StatusFromArray(const raid::Array& array) {
  ArrayStatus a;
  const layout::Geometry& g = array.geometry();
  a.set_name = array.info().name;
  a.name = ShortArrayName(a.set_name);
  a.level = g.level();
  a.layout = g.level() == 10 ? g.raid10().Word() : 0;
  a.chunk_sectors = g.level() == 10 ? g.chunk_sectors() : 0;
  a.raid_disks = g.raid_disks();
  a.array_sectors = array.info().size_bytes / 512;
  a.dev_sectors = g.dev_sectors();
  a.active = array.active();
  a.broken = array.broken();
  a.degraded = array.degraded();
  a.events = array.events();
  const format::Superblock& sb = array.superblock();
  a.uuid = format::UuidMdadm(sb.set_uuid);
  a.ctime = sb.ctime & ((uint64_t{1} << 40) - 1);
  a.utime = sb.utime & ((uint64_t{1} << 40) - 1);
  a.read_policy = std::string(raid::ReadPolicyName(array.read_policy()));

  a.reshape = ReshapeFrom(array);
  if (a.reshape) {
    // MD during a reshape: raid_disks is the new count, layout and chunk the old ones (the
    // new ones are in new_layout/new_chunk).
    a.level = sb.level;
    a.layout = sb.layout;
    a.chunk_sectors = sb.chunksize;
    a.raid_disks = std::max(a.raid_disks, a.reshape->new_raid_disks);
  }

  const raid::SyncProgress p = array.sync_progress();
  a.sync = SyncFrom(array, p);
  a.sync_action = p.frozen ? "frozen" : std::string(raid::SyncActionName(p.action));
  a.mismatch_cnt = p.mismatch_sectors;
  a.sync_speed_min = array.sync_options().speed_min_kib;
  a.sync_speed_max = array.sync_options().speed_max_kib;
  a.copied_sectors = p.copied_sectors;
  a.skipped_sectors = p.skipped_sectors;
  if (array.write_intent()) a.bitmap = BitmapFrom(*array.write_intent());

  // Recovery rebuilds the recovering members one after the other, in input order: the first
  // one is being rebuilt now and its live position is the sync cursor.
  bool live_recovery = p.action == raid::SyncAction::kRecover;
  for (size_t i = 0; i < array.member_count(); ++i) {
    if (array.member_removed(i)) continue;
    MemberStatus m;
    m.path = array.member_name(i);
    m.state = std::string(raid::MemberStateName(array.member_state(i)));
    const raid::MemberStats& st = array.member_stats(i);
    m.pending = st.pending;
    m.reads = st.reads;
    m.read_bytes = st.read_bytes;
    m.writes = st.writes;
    m.write_bytes = st.write_bytes;
    m.read_errors = st.read_errors;
    m.corrected_errors = st.corrected_errors;
    m.slot = array.member_slot(i);
    const raid::MemberMetadata& md = array.member_metadata(i);
    m.dev_number = md.sb.dev_number;
    m.write_mostly = (md.sb.devflags & format::kDevFlagWriteMostly) != 0;
    m.latency_ewma_ns = array.member_latency_ewma_ns(i);
    m.read_p50_ns = st.read_latency.Percentile(0.50);
    m.read_p99_ns = st.read_latency.Percentile(0.99);
    if (array.member_state(i) == raid::MemberState::kRecovering) {
      m.recovery_offset = array.member_recovery_offset(i);
      if (live_recovery) m.recovery_offset = std::max(m.recovery_offset, p.done_sectors);
      live_recovery = false;
    }
    if (md.bitmap && !a.bitmap) a.bitmap = BitmapFrom(md.bitmap->super);
    DeviceNumbers(m.path, &m);
    a.members.push_back(std::move(m));
  }
  return a;
}

}  // namespace meshraid::control
