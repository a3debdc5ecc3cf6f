// ControlHandler: what a control request may do to a running array. The control server never
// calls it from its own thread: each request is posted to the array's reactor thread (see
// ServerOptions::post), so an implementation may touch the array freely.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <fmt/format.h>

#include "control/array_status.h"
#include "util/result.h"

namespace meshraid::control {

// {"cmd":"manage","op":OP,"member":M,"with":W}: mdadm --manage. OP is add, fail, remove,
// re-add or replace (M is replaced by W); members are named as given to `meshraid run`.
struct ManageRequest {
  std::string op;
  std::string member;
  std::string with;  // replace only
};

// The answer of an asynchronous request: a one-line description of what was done, or the error.
using Reply = std::function<void(Result<std::string>)>;

class ControlHandler {
 public:
  virtual ~ControlHandler() = default;

  // A snapshot of the array ({"cmd":"status"}).
  virtual Result<ArrayStatus> GetStatus() = 0;

  // Changes one run-time setting ({"cmd":"set","key":K,"value":V}); returns a one-line
  // description of what changed. Unknown keys and values are kInvalidArgument, naming what
  // is accepted.
  virtual Result<std::string> Set(const std::string& key, const std::string& value) = 0;

  // Writes MD's sync_action ({"cmd":"action","action":A}): idle, frozen, resync, recover,
  // check or repair.
  virtual Result<std::string> Action(const std::string& action) {
    return Status::NotSupported("sync actions are not supported here (" + action + ")");
  }

  // Member management, which waits for I/O: `done` is called exactly once, on the thread
  // Manage was called on, either before Manage returns or later.
  virtual void Manage(const ManageRequest& request, Reply done) {
    done(Status::NotSupported("member management is not supported here (" + request.op + ")"));
  }

  // RAID1 <-> RAID10 takeover ({"cmd":"grow","level":L,"chunk_sectors":C}; C 0: the default
  // chunk), answered like Manage once the superblocks are rewritten.
  virtual void Grow(int level, uint64_t chunk_sectors, Reply done) {
    (void)chunk_sectors;
    done(Status::NotSupported(fmt::format("takeover to raid{} is not supported here", level)));
  }

  // Reshape: grows a RAID10 near array onto `raid_disks` members with spares added before
  // ({"cmd":"grow","raid_disks":N,"chunk_sectors":C}; C 0: keep the chunk). Answered like
  // Manage once the reshape has started (the data moves in the background).
  virtual void Reshape(int raid_disks, uint64_t chunk_sectors, Reply done) {
    (void)chunk_sectors;
    done(Status::NotSupported(
        fmt::format("reshape to {} members is not supported here", raid_disks)));
  }
};

}  // namespace meshraid::control
