// The member URI of an NVMe/TCP namespace, parsed (pure):
//   nvme+tcp://HOST:PORT/SUBNQN[?nsid=N&hostnqn=NQN&hostid=UUID&digest=header,data&queues=N&depth=N]
// HOST is a numeric IPv4 address or a bracketed IPv6 one (no name lookup on the reactor);
// PORT defaults to 4420; the NQN may be percent-encoded. nsid defaults to 1; hostnqn/hostid to
// the host's identity (/etc/nvme/hostnqn and /etc/nvme/hostid, as nvme-cli uses them, or one
// derived from /etc/machine-id); digest to none; queues to 1 I/O queue; depth to 128.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace meshraid::io {

struct NvmeTcpUri {
  std::string host;  // as written, without brackets
  uint16_t port = 4420;
  std::string subnqn;
  uint32_t nsid = 1;
  std::string hostnqn;                 // empty: the host's default identity
  std::array<uint8_t, 16> hostid{};    // all zero: the host's default identity
  bool header_digest = false;
  bool data_digest = false;
  uint32_t queues = 1;
  uint32_t depth = 128;
  // The address to connect to.
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
};

// kInvalidArgument naming what is wrong ("nvme+tcp://...: unknown parameter 'foo'").
Result<NvmeTcpUri> ParseNvmeTcpUri(std::string_view uri);

// "nqn.2014-08.org.nvmexpress:uuid:<U>" and U as 16 bytes: /etc/nvme/hostnqn and
// /etc/nvme/hostid when present (they must agree, as the Linux host demands), else a UUID
// derived from /etc/machine-id (stable on this machine).
struct HostIdentity {
  std::string nqn;
  std::array<uint8_t, 16> id{};
};
HostIdentity DefaultHostIdentity();

// "xxxxxxxx-xxxx-..." <-> 16 bytes.
Result<std::array<uint8_t, 16>> ParseUuid(std::string_view text);
std::string FormatUuid(const std::array<uint8_t, 16>& id);

}  // namespace meshraid::io
