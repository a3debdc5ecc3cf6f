// Array: a running RAID1/RAID10 array over member BlockDevices, itself a BlockDevice.
// Writes go to every in-sync copy under a range lock; reads go to one copy chosen by the read
// balancer, are retried on another copy after an error and the bad copy is rewritten. A member
// that fails a write (or too many reads) is failed: events bumped and the superblocks of the
// survivors rewritten (role 0xFFFE) before the write is acknowledged. The last copy is never
// failed: the array becomes "broken" instead. Superblocks say "active" before the first write
// after idle and "clean" again after safe_mode_delay without writes (MD's safe mode).
// Everything runs on the thread of the executor given at creation.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/block_device.h"
#include "io/clock.h"
#include "io/gate.h"
#include "io/reactor.h"
#include "io/sync.h"
#include "layout/reshape.h"
#include "raid/assemble.h"
#include "raid/barrier.h"
#include "raid/placement.h"
#include "raid/range_lock.h"
#include "raid/read_balancer.h"
#include "raid/takeover.h"
#include "raid/write_intent.h"
#include "util/histogram.h"

namespace meshraid::raid {

// Waits `ns` nanoseconds (a reactor timer in production, a manual timer in tests).
using SleepFn = std::function<io::Task<void>(uint64_t ns)>;

// MD's sync_action values (idle and frozen are states, the others actions).
enum class SyncAction { kIdle, kResync, kRecover, kCheck, kRepair, kReshape };
std::string_view SyncActionName(SyncAction a);  // idle, resync, recover, check, repair, reshape

struct SyncOptions {
  bool autostart = true;               // start resync/recovery by itself, as MD's thread does
  uint64_t speed_min_kib = 1000;       // MD's speed_limit_min: never throttled below this
  uint64_t speed_max_kib = 200000;     // MD's speed_limit_max: never faster than this
  uint64_t window_sectors = 2048;      // one sync read/write (1 MiB)
  uint32_t depth = 4;                  // sync windows in flight
  uint64_t checkpoint_ns = 5'000'000'000;  // superblock checkpoint of the sync position
};

struct ArrayOptions {
  uint64_t safe_mode_delay_ns = 200'000'000;  // MD's 200 ms
  uint32_t max_read_errors = 20;              // MD's max_read_errors
  ReadPolicy read_policy = ReadPolicy::kLatency;
  BarrierMode barrier_mode = BarrierMode::kBucket;
  SyncOptions sync;
  std::function<void(const std::string&)> log;  // one line per state change
  std::function<uint64_t()> wall_seconds;      // utime; defaults to time(nullptr)
};

// One input member for the running array: its device (null if it could not be opened) and the
// metadata assembly read from it.
struct ArrayMember {
  std::unique_ptr<io::BlockDevice> device;
  MemberMetadata metadata;
};

enum class MemberState { kInSync, kFaulty, kSpare, kStale, kRecovering, kMissing };
std::string_view MemberStateName(MemberState s);

// A sync action as `meshraid stat` shows it.
struct SyncProgress {
  SyncAction action = SyncAction::kIdle;  // what runs now (kIdle: nothing)
  bool frozen = false;                     // `action frozen`: nothing starts by itself
  uint64_t done_sectors = 0, total_sectors = 0;  // array (resync/check) or member (recovery) sectors
  uint64_t speed_kib_s = 0;
  uint64_t mismatch_sectors = 0;   // of the last check/repair (mismatch_cnt)
  uint64_t copied_sectors = 0;     // written by sync since start (for tests and benchmarks)
  uint64_t skipped_sectors = 0;    // skipped as clean by the bitmap since start
};

struct MemberStats {
  uint64_t reads = 0, read_bytes = 0, writes = 0, write_bytes = 0;
  uint64_t read_errors = 0;       // since start
  uint64_t corrected_errors = 0;  // persisted as cnt_corrected_read
  uint32_t pending = 0;
  Histogram read_latency;  // ns, successful member reads
};

class Array : public io::BlockDevice {
 public:
  // `members` are in the order of the plan's inputs. Members that are not in sync are kept but
  // never read or written (their resync is a later step).
  static Result<std::unique_ptr<Array>> Create(io::Executor& executor, io::Clock& clock,
                                               SleepFn sleep, const AssemblyPlan& plan,
                                               std::vector<ArrayMember> members,
                                               ArrayOptions options = {});
  ~Array() override;

  const io::DeviceInfo& info() const override { return info_; }
  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override;
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                         io::WriteFlags flags = io::WriteFlags::kNone) override;
  io::Task<Status> Flush() override;
  io::Task<Status> Discard(uint64_t offset, uint64_t length) override;
  io::Task<Status> WriteZeroes(uint64_t offset, uint64_t length,
                               io::ZeroFlags flags = io::ZeroFlags::kNone) override;
  // Waits for the safe-mode timer, flushes, marks the array clean and closes the members.
  // No request may be in flight.
  io::Task<Status> Close() override;

  // Fails member `input` on request (mdadm --fail).
  io::Task<Status> FailMember(size_t input, std::string why);

  // Management (array_manage.cc). AddMember writes a fresh superblock (and bitmap) to the new
  // device and makes it a spare; a spare is rebuilt into a missing slot at once. With
  // `replaces` >= 0 it is rebuilt as a replacement of that in-sync member, which is failed when
  // the copy is complete. ReAddMember takes a failed or stale member back into its old slot,
  // copying only the chunks the bitmap marks when it can. RemoveMember drops a faulty, stale
  // or spare member. Returns the new member's input index. A device that is refused is closed.
  // ReleaseMember closes a failed or stale member's device (draining all I/O first), so that
  // it can be opened again for a re-add.
  io::Task<Result<size_t>> AddMember(std::unique_ptr<io::BlockDevice> device, std::string path,
                                     int replaces = -1);
  io::Task<Status> ReAddMember(size_t input, std::unique_ptr<io::BlockDevice> device);
  io::Task<Status> RemoveMember(size_t input);
  io::Task<Status> ReleaseMember(size_t input);
  // The input of the member named `path` (as given) that was not removed, or -1.
  int FindMember(const std::string& path) const;

  // RAID1 <-> RAID10 takeover (array_takeover.cc): checks MeshStor's preconditions, drains
  // the array, rewrites the superblocks with the new level/layout/chunk; no data moves.
  // `chunk_sectors` 0: the default chunk (raid/takeover.h).
  io::Task<Status> Takeover(int to_level, uint64_t chunk_sectors = 0);

  // Reshape (array_reshape.cc): grows a RAID10 near array onto `new_raid_disks` members, with
  // chunk `new_chunk_sectors` (0: unchanged). The new slots are filled with spares (added
  // before with AddMember), which must be at least as large as the members. Checks the
  // preconditions (one-line errors), writes the reshape start to every superblock and returns;
  // the sync thread then moves the data (sync_progress(): action kReshape, done/total in array
  // sectors). When the move completes the array size grows (info().size_bytes) and the new
  // space is resynced.
  io::Task<Status> Reshape(int new_raid_disks, uint64_t new_chunk_sectors = 0);
  // A reshape is in progress (also after an interrupted one was assembled).
  bool reshaping() const { return reshape_.has_value(); }
  // Array sectors below this are in the new layout (valid while reshaping()).
  uint64_t reshape_position() const { return reshape_pos_; }

  // Sync actions (array_sync.cc). kCheck/kRepair start a check/repair pass (kFailedPrecondition
  // while another action runs); kIdle stops a check/repair (a pending resync/recovery goes on
  // from its position at once); `frozen` stops everything and starts nothing until unfrozen.
  Status RequestSync(SyncAction a);
  void SetSyncFrozen(bool frozen);
  SyncProgress sync_progress() const;
  void set_sync_speed(uint64_t min_kib, uint64_t max_kib) {
    options_.sync.speed_min_kib = min_kib;
    options_.sync.speed_max_kib = max_kib;
  }
  const SyncOptions& sync_options() const { return options_.sync; }
  // Waits until no sync action runs (tests, tools).
  io::Task<void> WaitSyncIdle();
  // Drains all I/O and blocks new I/O (management steps); Unfreeze lets it go on.
  io::Task<void> Freeze() { return barrier_.Freeze(); }
  void Unfreeze() { barrier_.Unfreeze(); }
  const Barrier& barrier() const { return barrier_; }
  // The write-intent bitmap, or null.
  const WriteIntent* write_intent() const { return bitmap_.get(); }
  uint64_t resync_offset() const { return resync_offset_; }
  uint64_t member_recovery_offset(size_t input) const { return members_[input].recovery_offset; }

  const layout::Geometry& geometry() const { return geometry_; }
  bool broken() const { return broken_; }
  bool active() const { return active_; }
  int degraded() const;
  uint64_t events() const { return events_; }
  size_t member_count() const { return members_.size(); }
  MemberState member_state(size_t input) const { return members_[input].state; }
  const MemberStats& member_stats(size_t input) const { return members_[input].stats; }
  const std::string& member_name(size_t input) const { return members_[input].metadata.path; }
  int member_slot(size_t input) const { return members_[input].slot; }  // -1: none
  const MemberMetadata& member_metadata(size_t input) const { return members_[input].metadata; }
  bool member_removed(size_t input) const { return members_[input].removed; }
  // The array-level superblock fields as last written (events, roles, resync_offset...).
  const format::Superblock& superblock() const { return reference_; }
  // The member's read-balancing state (latency EWMA, pending, probes), or null without a slot.
  const ReadState* member_read_state(size_t input) const {
    int slot = members_[input].slot;
    return slot < 0 ? nullptr : &read_state_[size_t(slot)];
  }
  // The latency EWMA the balancer uses now (0: unmeasured or stale).
  uint64_t member_latency_ewma_ns(size_t input) const {
    const ReadState* rs = member_read_state(input);
    return rs ? balancer_.EwmaNs(*rs, clock_.NowNs()) : 0;
  }
  ReadPolicy read_policy() const { return balancer_.policy(); }
  void set_read_policy(ReadPolicy p) { balancer_.set_policy(p); }

 private:
  struct Member {
    std::unique_ptr<io::BlockDevice> device;
    MemberMetadata metadata;
    MemberState state = MemberState::kMissing;
    int slot = -1;
    MemberStats stats;
    uint64_t recovery_offset = 0;  // kRecovering: member sectors copied so far
    bool bitmap_recovery = false;  // kRecovering: only chunks the bitmap marks are copied
    int replaces = -1;             // kRecovering as a replacement of this input
    bool removed = false;          // removed by the user: kept only so indices stay stable
  };
  struct Piece {
    uint64_t sector;   // array sector
    uint64_t sectors;
    size_t buf_offset;  // bytes into the request buffer
  };
  using MemberOp = std::function<io::Task<Status>(io::BlockDevice&, uint64_t byte_offset,
                                                  const Piece&)>;

  Array(io::Executor& executor, io::Clock& clock, SleepFn sleep, ArrayOptions options);

  std::vector<Piece> Split(uint64_t sector, uint64_t sectors) const;
  int SlotMember(int slot) const { return slot_member_[size_t(slot)]; }
  uint64_t MemberByteOffset(const Member& m, uint64_t member_sector) const {
    return (m.metadata.sb.data_offset + member_sector) * 512;
  }
  // The same for a copy placed in the old or (during a reshape) the new layout.
  uint64_t MemberByteOffset(const Member& m, uint64_t member_sector, bool new_layout) const {
    return PlacedByteOffset(m.metadata.sb.data_offset, reshape_, new_layout, member_sector);
  }
  io::Task<Status> ReadPiece(Piece p, std::span<uint8_t> buf);
  io::Task<Status> ReadPieceLocked(Piece p, std::span<uint8_t> buf);
  io::Task<Status> RepairRead(size_t bad, const Piece& p, int good_slot, uint64_t good_sector,
                              uint64_t bad_sector, bool new_layout);
  io::Task<Status> WritePiece(const Piece& p, const MemberOp& op);
  io::Task<Status> MemberWrite(size_t input, uint64_t byte_offset, const Piece& p,
                               const MemberOp& op);
  io::Task<Status> FanOutWrite(uint64_t offset, uint64_t length, MemberOp op);
  io::Task<Status> FailLocked(size_t input, const std::string& why);
  bool EnoughWithout(size_t input) const;
  void MarkFaulty(size_t input, const std::string& why);
  io::Task<Status> EnsureActive();
  io::Task<void> SafeModeTimer();
  io::Task<Status> MarkCleanLocked();
  io::Task<Status> WriteSuperblocks();
  // Members whose superblock (and bitmap) the array keeps up to date.
  bool HasSuperblock(const Member& m) const {
    return m.state == MemberState::kInSync || m.state == MemberState::kRecovering ||
           (m.state == MemberState::kSpare && m.device);
  }
  io::Task<Status> PersistBitmap(uint64_t offset, std::span<const uint8_t> bytes);
  void WritesIdle();
  // Members that receive writes for each slot: in sync, or recovering (incl. replacements).
  void RebuildSlots();
  // array_sync.cc
  io::Task<Result<size_t>> AddMemberOwned(std::unique_ptr<io::BlockDevice>& device,
                                          std::string path, int replaces);
  io::Task<Status> ReAddMemberOwned(size_t input, std::unique_ptr<io::BlockDevice>& device);
  Status CheckBlockSize(const io::BlockDevice& d, const std::string& path) const;
  TakeoverFacts GatherTakeoverFacts() const;
  io::Task<Status> TakeoverLocked(int to_level, uint64_t chunk_sectors);
  void KickSync();
  io::Task<void> SyncThread();
  io::Task<Status> ActivateSpares();
  io::Task<Status> RunResync(SyncAction action);
  io::Task<Status> RunRecovery();
  // array_reshape.cc
  io::Task<Status> RunReshape();
  struct ReshapeFlight;
  io::Task<void> ReshapeSlide(ReshapeFlight& flight, uint64_t at, uint64_t n, uint64_t ticket);
  io::Task<Status> ReshapeLocked(int new_raid_disks, uint64_t new_chunk_sectors);
  io::Task<Status> ReshapeWindow(uint64_t sector, uint64_t sectors, uint64_t index);
  io::Task<Status> ReshapeCheckpoint(uint64_t position);
  io::Task<Status> FinishReshape();
  // Writes the reshape fields (or their absence) into a superblock.
  void ApplyReshapeFields(format::Superblock& sb) const;
  // The lowest data offset the members allow (superblock + 72 sectors, bitmap, bad-block log)
  // with a bitmap covering `array_sectors`.
  uint64_t LowestDataOffset(uint64_t array_sectors) const;
  io::Task<Status> SyncWindow(SyncAction action, uint64_t sector, uint64_t sectors);
  io::Task<Status> RecoverWindow(size_t target, uint64_t dev_sector, uint64_t sectors);
  io::Task<void> Throttle(uint64_t sectors);  // before a window of `sectors`
  io::Task<Status> FinishRecovery(size_t target);
  io::Task<void> BitmapDaemon();
  void StartBitmapDaemon();
  Status LoadBitmap(const AssemblyPlan& plan);
  bool ForegroundBackOff(uint64_t* seen_ios, uint64_t in_flight_sectors);
  bool SyncInterrupted() const { return sync_interrupt_ || closing_; }
  void Log(const std::string& line) const;

  io::Executor& executor_;
  io::Clock& clock_;
  SleepFn sleep_;
  ArrayOptions options_;
  io::DeviceInfo info_;
  layout::Geometry geometry_;
  format::Superblock reference_;  // array-level fields of the freshest superblock
  uint64_t events_ = 0;
  uint64_t resync_offset_ = 0;    // as assembled; kMaxSector when in sync
  std::deque<Member> members_;  // a deque: AddMember keeps references to members valid
  std::vector<int> slot_member_;  // slot -> input of its in-sync member, or -1
  std::vector<std::vector<size_t>> slot_writers_;  // slot -> inputs that receive writes
  std::vector<ReadState> read_state_;  // per slot
  ReadBalancer balancer_;
  RangeLock range_lock_;
  io::Semaphore md_lock_;  // serialises superblock updates
  io::Gate gate_;          // background tasks (the safe-mode timer, sync, bitmap daemon)
  Barrier barrier_;
  std::unique_ptr<WriteIntent> bitmap_;
  std::vector<bool> resync_chunks_;  // bitmap chunks that needed a resync at assembly
  // Sync state.
  bool sync_running_ = false;
  bool sync_interrupt_ = false;
  bool sync_frozen_ = false;
  SyncAction sync_requested_ = SyncAction::kIdle;  // check/repair asked for
  SyncProgress progress_;
  uint64_t sync_marks_ns_[2] = {0, 0};   // speed: a mark's time and done_sectors
  uint64_t sync_marks_done_[2] = {0, 0};
  uint64_t foreground_ios_ = 0;          // completed normal requests (sync backs off)
  io::Event sync_idle_;
  // Reshape state (array_reshape.cc). reshape_->position is the checkpoint on disk (a restart
  // resumes there); reshape_pos_ the live position (sectors below are in the new layout).
  std::optional<ReshapePlan> reshape_;
  uint64_t reshape_pos_ = 0;
  uint64_t reshape_sb_position_ = 0;  // what WriteSuperblocks records
  // Writes of moved sectors not yet covered by the checkpoint also go to the old layout (a
  // restart reads them there); a checkpoint waits for those in flight from before it.
  uint64_t dual_gen_ = 0;
  uint32_t dual_in_flight_[2] = {0, 0};
  io::Event dual_idle_;
  bool daemon_running_ = false;
  bool active_ = false;
  bool marking_active_ = false;  // the superblock write that marks the array active is in flight
  bool broken_ = false;
  bool closing_ = false;
  bool timer_running_ = false;
  uint32_t pending_writes_ = 0;
  uint64_t last_write_done_ns_ = 0;
};

// A SleepFn over a reactor's timers.
SleepFn ReactorSleep(io::Reactor& reactor);

}  // namespace meshraid::raid
