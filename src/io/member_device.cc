#include "io/member_device.h"

#include <utility>

#include "io/file_device.h"
#include "io/nbd_device.h"
#include "io/nvme_tcp_device.h"

namespace meshraid::io {
namespace {

bool Starts(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

template <typename Dev>
Result<std::unique_ptr<BlockDevice>> Widen(Result<std::unique_ptr<Dev>> r, const std::string& spec) {
  if (!r.ok()) {
    if (r.status().message().find(spec) == std::string::npos) return r.status().WithPrefix(spec);
    return r.status();
  }
  return std::unique_ptr<BlockDevice>(std::move(r).value());
}

}  // namespace

MemberKind MemberKindOf(std::string_view spec) {
  if (Starts(spec, "nbd://") || Starts(spec, "nbd+unix://")) return MemberKind::kNbd;
  if (Starts(spec, "nvme+tcp://")) return MemberKind::kNvmeTcp;
  return MemberKind::kLocal;
}

Task<Result<std::unique_ptr<BlockDevice>>> OpenMemberDevice(Reactor& reactor, std::string spec,
                                                            MemberDeviceOptions options) {
  switch (MemberKindOf(spec)) {
    case MemberKind::kNbd: {
      NbdDevice::Options no;
      no.log = options.log;
      auto dev = co_await NbdDevice::Connect(reactor, spec, no);
      co_return Widen(std::move(dev), spec);
    }
    case MemberKind::kNvmeTcp: {
      NvmeTcpDevice::Options no;
      no.log = options.log;
      auto dev = co_await NvmeTcpDevice::Connect(reactor, spec, no);
      co_return Widen(std::move(dev), spec);
    }
    case MemberKind::kLocal:
      break;
  }
  co_return Widen(FileDevice::Open(reactor, spec, {}), spec);
}

}  // namespace meshraid::io
