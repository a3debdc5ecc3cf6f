#include "control/array_handler.h"

#include <charconv>

#include <fmt/format.h>

#include "control/status_from_array.h"

namespace meshraid::control {
namespace {

std::optional<raid::SyncAction> ParseSyncAction(const std::string& a) {
  if (a == "idle") return raid::SyncAction::kIdle;
  if (a == "resync") return raid::SyncAction::kResync;
  if (a == "recover") return raid::SyncAction::kRecover;
  if (a == "check") return raid::SyncAction::kCheck;
  if (a == "repair") return raid::SyncAction::kRepair;
  if (a == "reshape") return raid::SyncAction::kReshape;
  return std::nullopt;
}

std::string CurrentAction(const raid::Array& array) {
  raid::SyncProgress p = array.sync_progress();
  return p.frozen ? "frozen" : std::string(raid::SyncActionName(p.action));
}

}  // namespace

ArrayHandler::ArrayHandler(raid::Array& array, io::Executor& executor, DeviceOpener opener)
    : array_(array), opener_(std::move(opener)), gate_(executor), one_at_a_time_(executor, 1) {}

Result<ArrayStatus> ArrayHandler::GetStatus() { return StatusFromArray(array_); }

Result<std::string> ArrayHandler::Set(const std::string& key, const std::string& value) {
  if (key == kSyncSpeedMinKey || key == kSyncSpeedMaxKey) return SetSyncSpeed(key, value);
  if (key != kReadPolicyKey) {
    return Status::InvalidArgument(fmt::format("unknown setting '{}' (settable: {}, {}, {})", key,
                                               kReadPolicyKey, kSyncSpeedMinKey, kSyncSpeedMaxKey));
  }
  std::optional<raid::ReadPolicy> p = raid::ParseReadPolicy(value);
  if (!p) {
    return Status::InvalidArgument(
        fmt::format("{}={}: use latency, md or round-robin", key, value));
  }
  std::string_view before = raid::ReadPolicyName(array_.read_policy());
  array_.set_read_policy(*p);
  return fmt::format("{}: {} -> {}", key, before, raid::ReadPolicyName(*p));
}

// KiB/s, as MD's sync_speed_min/max; "system" restores MD's defaults (1000 and 200000).
Result<std::string> ArrayHandler::SetSyncSpeed(const std::string& key, const std::string& value) {
  const bool is_min = key == kSyncSpeedMinKey;
  uint64_t kib = 0;
  if (value == "system") {
    kib = is_min ? raid::SyncOptions{}.speed_min_kib : raid::SyncOptions{}.speed_max_kib;
  } else {
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), kib);
    if (ec != std::errc() || end != value.data() + value.size() || kib == 0) {
      return Status::InvalidArgument(
          fmt::format("{}={}: give KiB/s as a positive integer, or system", key, value));
    }
  }
  const raid::SyncOptions& o = array_.sync_options();
  uint64_t before = is_min ? o.speed_min_kib : o.speed_max_kib;
  if (is_min) {
    array_.set_sync_speed(kib, o.speed_max_kib);
  } else {
    array_.set_sync_speed(o.speed_min_kib, kib);
  }
  return fmt::format("{}: {} -> {} KiB/s", key, before, kib);
}

// MD's sync_action: idle stops what runs (and unfreezes), frozen stops it and starts nothing,
// the others start an action (refused while another runs); reshape continues a reshape.
Result<std::string> ArrayHandler::Action(const std::string& action) {
  std::string before = CurrentAction(array_);
  if (action == "frozen") {
    array_.SetSyncFrozen(true);
  } else {
    std::optional<raid::SyncAction> a = ParseSyncAction(action);
    if (!a) {
      return Status::InvalidArgument(fmt::format(
          "sync action '{}': use idle, frozen, resync, recover, check or repair", action));
    }
    if (*a == raid::SyncAction::kIdle) {
      MESHRAID_RETURN_IF_ERROR(array_.RequestSync(*a));
      if (array_.sync_progress().frozen) array_.SetSyncFrozen(false);
    } else {
      MESHRAID_RETURN_IF_ERROR(array_.RequestSync(*a));
    }
  }
  return fmt::format("sync_action: {} -> {}", before, action);
}

void ArrayHandler::Manage(const ManageRequest& request, Reply done) {
  Start(RunManage(request), std::move(done));
}

void ArrayHandler::Grow(int level, uint64_t chunk_sectors, Reply done) {
  Start(RunGrow(level, chunk_sectors), std::move(done));
}

io::Task<Result<std::string>> ArrayHandler::RunGrow(int level, uint64_t chunk_sectors) {
  co_await one_at_a_time_.Acquire();
  std::string before = fmt::format("raid{}", array_.geometry().level());
  Status s = co_await array_.Takeover(level, chunk_sectors);
  one_at_a_time_.Release();
  if (!s.ok()) co_return s;
  const layout::Geometry& g = array_.geometry();
  std::string chunk = g.level() == 10 ? fmt::format(", chunk {}K", g.chunk_sectors() / 2) : "";
  co_return fmt::format("level: {} -> raid{}{}, no data moved", before, g.level(), chunk);
}

void ArrayHandler::Reshape(int raid_disks, uint64_t chunk_sectors, Reply done) {
  Start(RunReshape(raid_disks, chunk_sectors), std::move(done));
}

// Starts the reshape (the engine checks its preconditions and records the start in the
// superblocks); the data moves in the background, shown by stat and detail.
io::Task<Result<std::string>> ArrayHandler::RunReshape(int raid_disks, uint64_t chunk_sectors) {
  co_await one_at_a_time_.Acquire();
  const layout::Geometry before = array_.geometry();
  Status s = co_await array_.Reshape(raid_disks, chunk_sectors);
  one_at_a_time_.Release();
  if (!s.ok()) co_return s;
  const layout::Geometry& g = array_.geometry();
  std::string chunk =
      g.chunk_sectors() != before.chunk_sectors()
          ? fmt::format(", chunk {}K -> {}K", before.chunk_sectors() / 2, g.chunk_sectors() / 2)
          : "";
  co_return fmt::format("raid devices: {} -> {}{}, reshape started ({} sectors to move)",
                        before.raid_disks(), raid_disks, chunk, array_.info().size_bytes / 512);
}

void ArrayHandler::Start(io::Task<Result<std::string>> op, Reply done) {
  if (gate_.closed()) {
    done(Status::Unavailable("the array is stopping"));
    return;
  }
  io::Spawn(gate_, AndReply(std::move(op), std::move(done)));
}

io::Task<void> ArrayHandler::AndReply(io::Task<Result<std::string>> op, Reply done) {
  Result<std::string> r = co_await std::move(op);
  done(std::move(r));
}

}  // namespace meshraid::control
