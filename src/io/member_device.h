// Opening a member by what the user typed: a local path (file or block device, io_uring) or a
// remote URI:
//   nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH       (NbdDevice, libnbd)
//   nvme+tcp://HOST:PORT/SUBNQN[?nsid=N&hostnqn=NQN&digest=...]      (NvmeTcpDevice)
// One place decides which backend a spec means, for `run`, `manage --add/--replace` and the
// offline tools (create, examine, cat: through SyncFile).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "io/block_device.h"
#include "io/reactor.h"
#include "io/task.h"
#include "util/result.h"

namespace meshraid::io {

enum class MemberKind { kLocal, kNbd, kNvmeTcp };

// The backend a member spec names (by its URI scheme; anything else is a local path).
MemberKind MemberKindOf(std::string_view spec);
inline bool IsRemoteMember(std::string_view spec) { return MemberKindOf(spec) != MemberKind::kLocal; }

struct MemberDeviceOptions {
  // Remote members: connection deaths and reconnects, one line each (may be empty).
  std::function<void(std::string_view)> log;
};

// Opens (local) or connects (remote) the member. Errors start with the spec.
Task<Result<std::unique_ptr<BlockDevice>>> OpenMemberDevice(Reactor& reactor, std::string spec,
                                                            MemberDeviceOptions options = {});

}  // namespace meshraid::io
