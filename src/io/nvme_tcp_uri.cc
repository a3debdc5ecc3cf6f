#include "io/nvme_tcp_uri.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace meshraid::io {
namespace {

constexpr std::string_view kScheme = "nvme+tcp://";

Result<std::string> PercentDecode(std::string_view uri, std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int v = 0;
    if (i + 2 >= s.size() || std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr != s.data() + i + 3) {
      return Status::InvalidArgument(fmt::format("{}: bad percent-encoding in '{}'", uri, s));
    }
    out += char(v);
    i += 2;
  }
  return out;
}

Result<uint32_t> Number(std::string_view uri, std::string_view key, std::string_view v, uint32_t lo,
                        uint32_t hi) {
  uint32_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) {
    return Status::InvalidArgument(fmt::format("{}: {}={} is not a number in {}..{}", uri, key, v, lo, hi));
  }
  return n;
}

Status ParseQuery(std::string_view uri, std::string_view query, NvmeTcpUri& u) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument(fmt::format("{}: parameter '{}' has no value", uri, item));
    }
    const std::string_view key = item.substr(0, eq);
    MESHRAID_ASSIGN_OR_RETURN(std::string value, PercentDecode(uri, item.substr(eq + 1)));
    if (key == "nsid") {
      MESHRAID_ASSIGN_OR_RETURN(u.nsid, Number(uri, key, value, 1, 0xFFFFFFFEu));
    } else if (key == "hostnqn") {
      u.hostnqn = value;
    } else if (key == "hostid") {
      MESHRAID_ASSIGN_OR_RETURN(u.hostid, ParseUuid(value));
    } else if (key == "digest") {
      std::string_view rest = value;
      while (!rest.empty()) {
        const size_t c = rest.find(',');
        const std::string_view d = rest.substr(0, c);
        rest = c == std::string_view::npos ? std::string_view() : rest.substr(c + 1);
        if (d == "header") {
          u.header_digest = true;
        } else if (d == "data") {
          u.data_digest = true;
        } else if (d != "none") {
          return Status::InvalidArgument(fmt::format("{}: digest={}: use header, data, both (header,data) or none", uri, value));
        }
      }
    } else if (key == "queues") {
      MESHRAID_ASSIGN_OR_RETURN(u.queues, Number(uri, key, value, 1, 64));
    } else if (key == "depth") {
      MESHRAID_ASSIGN_OR_RETURN(u.depth, Number(uri, key, value, 2, 1024));
    } else {
      return Status::InvalidArgument(fmt::format(
          "{}: unknown parameter '{}' (nsid, hostnqn, hostid, digest, queues, depth)", uri, key));
    }
  }
  return Status::Ok();
}

std::string ReadLine(const char* path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

}  // namespace

Result<std::array<uint8_t, 16>> ParseUuid(std::string_view text) {
  std::array<uint8_t, 16> out{};
  size_t n = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '-') continue;
    int v = 0;
    if (n == 16 || i + 1 >= text.size() ||
        std::from_chars(text.data() + i, text.data() + i + 2, v, 16).ptr != text.data() + i + 2) {
      return Status::InvalidArgument(fmt::format("'{}' is not a UUID", text));
    }
    out[n++] = uint8_t(v);
    ++i;
  }
  if (n != 16) return Status::InvalidArgument(fmt::format("'{}' is not a UUID", text));
  return out;
}

std::string FormatUuid(const std::array<uint8_t, 16>& id) {
  std::string s;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += fmt::format("{:02x}", id[i]);
  }
  return s;
}

HostIdentity DefaultHostIdentity() {
  HostIdentity h;
  const std::string nqn = ReadLine("/etc/nvme/hostnqn");
  const std::string id = ReadLine("/etc/nvme/hostid");
  if (!nqn.empty()) {
    h.nqn = nqn;
    if (auto u = ParseUuid(id); u.ok()) {
      h.id = *u;
      return h;
    }
    const size_t at = nqn.rfind(":uuid:");
    if (at != std::string::npos) {
      if (auto u = ParseUuid(nqn.substr(at + 6)); u.ok()) h.id = *u;
    }
    return h;
  }
  // A UUID from the machine id (a version-4 shape so that tools accept it).
  std::string mid = ReadLine("/etc/machine-id");
  if (mid.size() < 32) mid = "6d657368726169646d65736872616964";  // "meshraidmeshraid"
  for (size_t i = 0; i < 16; ++i) {
    int v = 0;
    std::from_chars(mid.data() + 2 * i, mid.data() + 2 * i + 2, v, 16);
    h.id[i] = uint8_t(v);
  }
  h.id[6] = uint8_t((h.id[6] & 0x0F) | 0x40);
  h.id[8] = uint8_t((h.id[8] & 0x3F) | 0x80);
  h.nqn = "nqn.2014-08.org.nvmexpress:uuid:" + FormatUuid(h.id);
  return h;
}

Result<NvmeTcpUri> ParseNvmeTcpUri(std::string_view uri) {
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return Status::InvalidArgument(fmt::format("{}: not an nvme+tcp:// URI", uri));
  }
  NvmeTcpUri u;
  std::string_view rest = uri.substr(kScheme.size());
  const size_t q = rest.find('?');
  std::string_view query = q == std::string_view::npos ? std::string_view() : rest.substr(q + 1);
  rest = rest.substr(0, q);
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return Status::InvalidArgument(fmt::format("{}: expected nvme+tcp://HOST:PORT/SUBNQN", uri));
  }
  std::string_view hostport = rest.substr(0, slash);
  MESHRAID_ASSIGN_OR_RETURN(u.subnqn, PercentDecode(uri, rest.substr(slash + 1)));
  std::string_view port;
  if (!hostport.empty() && hostport[0] == '[') {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument(fmt::format("{}: unclosed '['", uri));
    u.host = std::string(hostport.substr(1, close - 1));
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return Status::InvalidArgument(fmt::format("{}: bad host", uri));
      port = hostport.substr(close + 2);
    }
  } else {
    const size_t colon = hostport.rfind(':');
    u.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) port = hostport.substr(colon + 1);
  }
  if (!port.empty()) {
    MESHRAID_ASSIGN_OR_RETURN(uint32_t p, Number(uri, "port", port, 1, 65535));
    u.port = uint16_t(p);
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&u.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&u.addr);
  if (::inet_pton(AF_INET, u.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(u.port);
    u.addr_len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, u.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(u.port);
    u.addr_len = sizeof(sockaddr_in6);
  } else {
    return Status::InvalidArgument(fmt::format(
        "{}: host '{}' is not a numeric IPv4 or [IPv6] address (no name lookups on the data path)",
        uri, u.host));
  }
  if (u.subnqn.size() > 223) return Status::InvalidArgument(fmt::format("{}: SUBNQN is longer than 223 bytes", uri));
  MESHRAID_RETURN_IF_ERROR(ParseQuery(uri, query, u));
  return u;
}

}  // namespace meshraid::io
