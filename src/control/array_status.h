// ArrayStatus: a snapshot of one running array as the control socket reports it — identity,
// geometry, state and per-member counters — with its JSON form. Plain data: it is filled on
// the reactor thread (StatusFromArray), sent as JSON and formatted by the CLI (mdstat, detail).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace meshraid::control {

struct MemberStatus {
  std::string path;           // as given to `meshraid run`
  int slot = -1;              // raid role; -1 when the member holds no slot (spare, faulty...)
  uint32_t dev_number = 0;    // the superblock's dev_number (mdstat's "[N]")
  std::string state;          // raid::MemberStateName: in_sync, faulty, spare, recovering...
  bool write_mostly = false;
  uint32_t major = 0, minor = 0;  // the block device's numbers; 0 for files and remote members
  uint64_t latency_ewma_ns = 0;   // 0: not measured
  uint32_t pending = 0;
  uint64_t reads = 0, read_bytes = 0, writes = 0, write_bytes = 0;
  uint64_t read_errors = 0;       // since start
  uint64_t corrected_errors = 0;  // sectors rewritten after read errors (cnt_corrected_read)
  uint64_t read_p50_ns = 0, read_p99_ns = 0;  // from the member's read-latency histogram
  // Recovering members: member sectors rebuilt so far (MD's recovery_start); 0 otherwise.
  uint64_t recovery_offset = 0;

  bool operator==(const MemberStatus&) const = default;
};

// An internal write-intent bitmap, as mdstat's "bitmap:" line shows it. MD keeps one 16-bit
// counter per chunk, 2048 to a 4 KiB page: pages_total covers every chunk, pages_used those
// holding a chunk that is dirty now.
struct BitmapStatus {
  uint64_t pages_used = 0, pages_total = 0;
  uint64_t chunk_bytes = 0;
  uint64_t dirty_chunks = 0;  // bits set now
  bool operator==(const BitmapStatus&) const = default;
};

// A resync, recovery, check or reshape, as mdstat's progress line shows it.
struct SyncStatus {
  std::string action;        // resync, recovery, check, repair, reshape
  std::string waiting;       // "" while running; "DELAYED" or "PENDING" when not started
  // Array sectors (resync, check, repair) or member sectors (recovery), as MD's sync_completed.
  uint64_t done_sectors = 0, total_sectors = 0;
  uint64_t speed_kib_s = 0;
  uint64_t finish_seconds = 0;  // estimated time left
  bool operator==(const SyncStatus&) const = default;
};

// A reshape in progress (MD's reshape fields, md-facts F.5): the array grows from old_raid_disks
// to raid_disks members (and perhaps a new chunk/layout). ArrayStatus.raid_disks is the new
// count (as MD reports it during a reshape), its layout and chunk the ones data below
// reshape_position has not been moved from yet.
struct ReshapeStatus {
  uint64_t reshape_position = 0;  // array sectors below this are in the new layout (live cursor)
  uint64_t checkpoint = 0;        // the reshape_position the superblocks record
  int delta_disks = 0;            // new - old member count
  int old_raid_disks = 0;
  int new_raid_disks = 0;
  int new_level = 10;
  uint32_t new_layout = 0;
  uint64_t new_chunk_sectors = 0;
  bool operator==(const ReshapeStatus&) const = default;
};

struct ArrayStatus {
  std::string name;               // short name (set_name after the colon); the socket's name
  std::string set_name;           // "homehost:name"
  std::string uuid;               // mdadm's spelling, e.g. f5131ccd:69dba5a0:fc0ff208:fe2302fb
  std::string metadata_version = "1.2";
  int level = 1;                  // 1 or 10
  uint32_t layout = 0;            // RAID10 layout word (MD's)
  uint64_t chunk_sectors = 0;     // RAID10
  int raid_disks = 0;
  uint64_t array_sectors = 0;
  uint64_t dev_sectors = 0;       // per member ("Used Dev Size")
  bool active = false;            // superblocks say "active" (writes since the last clean mark)
  bool broken = false;            // a failure hit the last copy of some data
  int degraded = 0;               // slots without an in-sync member
  uint64_t events = 0;
  uint64_t ctime = 0, utime = 0;  // creation and last superblock update, Unix seconds
  std::string read_policy;        // latency, md, round-robin
  std::optional<BitmapStatus> bitmap;
  std::optional<SyncStatus> sync;  // while an action runs (or waits)
  std::optional<ReshapeStatus> reshape;  // while a reshape is in progress (also when paused)
  // MD's sysfs sync attributes: sync_action (idle, frozen, resync, recover, check, repair),
  // mismatch_cnt (sectors found different by the last check/repair), sync_speed_min/max (KiB/s).
  std::string sync_action = "idle";
  uint64_t mismatch_cnt = 0;
  uint64_t sync_speed_min = 0, sync_speed_max = 0;
  // Sectors written by sync actions since `meshraid run` started, and skipped as clean by the
  // bitmap (a bitmap-guided resync or re-add copies only dirty chunks).
  uint64_t copied_sectors = 0, skipped_sectors = 0;
  std::vector<MemberStatus> members;  // in `meshraid run`'s member order

  // One word: "broken", "degraded", "active" or "clean".
  std::string State() const;
  // The personality name: "raid1" or "raid10".
  std::string LevelName() const;

  bool operator==(const ArrayStatus&) const = default;
};

nlohmann::json ToJson(const MemberStatus& m);
nlohmann::json ToJson(const ArrayStatus& a);
// Missing keys keep their defaults (older servers); wrong types are kInvalidArgument.
Result<ArrayStatus> ArrayStatusFromJson(const nlohmann::json& j);

}  // namespace meshraid::control
