#include "tools/nvme_export.h"

#include <fmt/format.h>

namespace meshraid::tools {

Result<NvmeExportSpec> ParseNvmeExport(std::string_view text) {
  const std::string_view scheme = "nvme+tcp://";
  std::string_view rest = text.substr(0, scheme.size()) == scheme ? text.substr(scheme.size()) : text;
  NvmeExportSpec s;
  const size_t q = rest.find('?');
  std::string_view query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  rest = rest.substr(0, q);
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return Status::InvalidArgument(fmt::format("{}: expected nvme+tcp://[ADDR[:PORT]]/SUBNQN", text));
  }
  // No address: loopback only. Other hosts reach the target only where the user said so.
  std::string addr = slash == 0 ? std::string("127.0.0.1") : std::string(rest.substr(0, slash));
  const bool has_port = addr.back() != ']' && addr.rfind(':') != std::string::npos &&
                        (addr[0] != '[' || addr.rfind("]:") != std::string::npos);
  if (!has_port) addr += ":4420";
  MESHRAID_ASSIGN_OR_RETURN(s.listen, exports::ListenAddress::ParseTcp(addr));
  s.nqn = std::string(rest.substr(slash + 1));
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item == "lba=512") {
      s.lba_bytes = 512;
    } else if (item == "lba=4096") {
      s.lba_bytes = 4096;
    } else {
      return Status::InvalidArgument(fmt::format("{}: unknown option '{}' (lba=512 or lba=4096)", text, item));
    }
  }
  return s;
}

std::array<uint8_t, 16> StableId(std::string_view s) {
  std::array<uint8_t, 16> id{};
  for (int half = 0; half < 2; ++half) {
    uint64_t h = 1469598103934665603ull ^ uint64_t(half);
    for (char c : s) {
      h ^= uint8_t(c);
      h *= 1099511628211ull;
    }
    for (int i = 0; i < 8; ++i) id[size_t(half * 8 + i)] = uint8_t(h >> (8 * i));
  }
  return id;
}

Result<std::unique_ptr<exports::NvmeTarget>> OpenNvmeTarget(io::Reactor& reactor, const NvmeExportSpec& spec,
                                                            io::BlockDevice& device,
                                                            const std::array<uint8_t, 16>& id,
                                                            const NvmeAccess& access, exports::NvmeLog log) {
  exports::NvmeSubsystem sub;
  sub.nqn = spec.nqn;
  sub.device = &device;
  sub.lba_bytes = spec.lba_bytes;
  sub.serial = "MR";
  for (size_t i = 0; i < 9; ++i) sub.serial += fmt::format("{:02x}", id[i]);
  sub.firmware = "meshraid";
  sub.nguid = id;
  sub.allow_any_host = access.allow_any_host;
  sub.allowed_hosts = access.allowed_hosts;
  exports::NvmeTarget::Options o;
  o.listen = spec.listen;
  o.log = std::move(log);
  return exports::NvmeTarget::Create(reactor, std::move(sub), std::move(o));
}

}  // namespace meshraid::tools
