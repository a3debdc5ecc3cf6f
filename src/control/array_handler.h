// ArrayHandler: the ControlHandler of a running raid::Array, used by `meshraid run`. Runs on
// the array's reactor thread (the server posts every request there).
// Settings: read-policy = latency | md | round-robin; sync-speed-min, sync-speed-max = KiB/s
// (or "system": MD's defaults). Actions: MD's sync_action words. Manage: add, fail, remove,
// re-add, replace; new and re-added members are opened by the injected DeviceOpener. Grow:
// RAID1 <-> RAID10 takeover, and reshape (more members, with spares added before).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "control/handler.h"
#include "io/block_device.h"
#include "io/gate.h"
#include "io/sync.h"
#include "raid/array.h"

namespace meshraid::control {

inline constexpr const char* kReadPolicyKey = "read-policy";
inline constexpr const char* kSyncSpeedMinKey = "sync-speed-min";
inline constexpr const char* kSyncSpeedMaxKey = "sync-speed-max";

// Opens a member by the name given on the command line (a path or an NBD URI), on the
// reactor thread. Errors name the member.
using DeviceOpener =
    std::function<io::Task<Result<std::unique_ptr<io::BlockDevice>>>(const std::string& name)>;

class ArrayHandler : public ControlHandler {
 public:
  // Without an opener, add, re-add and replace are refused.
  ArrayHandler(raid::Array& array, io::Executor& executor, DeviceOpener opener = {});

  Result<ArrayStatus> GetStatus() override;
  Result<std::string> Set(const std::string& key, const std::string& value) override;
  Result<std::string> Action(const std::string& action) override;
  void Manage(const ManageRequest& request, Reply done) override;
  void Grow(int level, uint64_t chunk_sectors, Reply done) override;
  void Reshape(int raid_disks, uint64_t chunk_sectors, Reply done) override;

  // Refuses further manage requests and waits for those in flight (before the array closes).
  io::Task<void> Close() { return gate_.Close(); }

  // One manage operation, awaited (Manage spawns it). Operations run one at a time.
  io::Task<Result<std::string>> RunManage(ManageRequest request);

 private:
  // Runs `op` in the gate and answers `done` with its result.
  void Start(io::Task<Result<std::string>> op, Reply done);
  static io::Task<void> AndReply(io::Task<Result<std::string>> op, Reply done);
  io::Task<Result<std::string>> RunGrow(int level, uint64_t chunk_sectors);
  io::Task<Result<std::string>> RunReshape(int raid_disks, uint64_t chunk_sectors);
  // The operations (array_handler_manage.cc).
  io::Task<Result<std::string>> Add(std::string name, int replaces);
  io::Task<Result<std::string>> Fail(size_t input);
  io::Task<Result<std::string>> ReAdd(size_t input);
  // The input of the member named `name` that is still in the array (not removed), or -1.
  int Find(const std::string& name) const;
  // Opens `name` through the opener, shared so it can be closed if the array refuses it.
  io::Task<Result<std::unique_ptr<io::BlockDevice>>> Open(std::string name);
  Result<std::string> SetSyncSpeed(const std::string& key, const std::string& value);

  raid::Array& array_;
  DeviceOpener opener_;
  io::Gate gate_;
  io::Semaphore one_at_a_time_;
};

}  // namespace meshraid::control
