#include "io/nvme_tcp_uri.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace meshraid::io {
namespace {

TEST(NvmeTcpUri, HostPortNqnAndDefaults) {
  auto u = ParseNvmeTcpUri("nvme+tcp://10.1.2.3:4421/nqn.2026-12.io.meshraid:m1");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->host, "10.1.2.3");
  EXPECT_EQ(u->port, 4421);
  EXPECT_EQ(u->subnqn, "nqn.2026-12.io.meshraid:m1");
  EXPECT_EQ(u->nsid, 1u);
  EXPECT_FALSE(u->header_digest);
  EXPECT_FALSE(u->data_digest);
  EXPECT_EQ(u->queues, 1u);
  EXPECT_EQ(u->depth, 128u);
  EXPECT_TRUE(u->hostnqn.empty());
  const auto* in = reinterpret_cast<const sockaddr_in*>(&u->addr);
  EXPECT_EQ(in->sin_family, AF_INET);
  EXPECT_EQ(ntohs(in->sin_port), 4421);
  EXPECT_EQ(u->addr_len, sizeof(sockaddr_in));
}

TEST(NvmeTcpUri, DefaultPortIpv6AndParameters) {
  auto u = ParseNvmeTcpUri(
      "nvme+tcp://[::1]/nqn.x%3Ay?nsid=7&hostnqn=nqn.2014-08.org.nvmexpress:uuid:1&digest=header,data"
      "&queues=2&depth=64&hostid=00112233-4455-6677-8899-aabbccddeeff");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 4420);
  EXPECT_EQ(u->subnqn, "nqn.x:y");
  EXPECT_EQ(u->nsid, 7u);
  EXPECT_EQ(u->hostnqn, "nqn.2014-08.org.nvmexpress:uuid:1");
  EXPECT_TRUE(u->header_digest);
  EXPECT_TRUE(u->data_digest);
  EXPECT_EQ(u->queues, 2u);
  EXPECT_EQ(u->depth, 64u);
  EXPECT_EQ(FormatUuid(u->hostid), "00112233-4455-6677-8899-aabbccddeeff");
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(&u->addr)->sin6_family, AF_INET6);
}

TEST(NvmeTcpUri, BadInputIsOneLineNamingWhatIsWrong) {
  struct Case {
    const char* uri;
    const char* says;
  } cases[] = {
      {"nbd://1.2.3.4/x", "not an nvme+tcp:// URI"},
      {"nvme+tcp://1.2.3.4:4420", "expected nvme+tcp://HOST:PORT/SUBNQN"},
      {"nvme+tcp://1.2.3.4:4420/", "expected nvme+tcp://HOST:PORT/SUBNQN"},
      {"nvme+tcp://storage.example:4420/nqn.x", "not a numeric IPv4"},
      {"nvme+tcp://1.2.3.4:99999/nqn.x", "port=99999"},
      {"nvme+tcp://1.2.3.4/nqn.x?nsid=0", "nsid=0"},
      {"nvme+tcp://1.2.3.4/nqn.x?digest=crc", "digest=crc"},
      {"nvme+tcp://1.2.3.4/nqn.x?color=red", "unknown parameter 'color'"},
      {"nvme+tcp://1.2.3.4/nqn.x?nsid", "has no value"},
      {"nvme+tcp://1.2.3.4/nqn.x?hostid=nope", "not a UUID"},
      {"nvme+tcp://1.2.3.4/nqn%zz", "percent-encoding"},
  };
  for (const Case& c : cases) {
    auto u = ParseNvmeTcpUri(c.uri);
    ASSERT_FALSE(u.ok()) << c.uri;
    EXPECT_EQ(u.status().code(), Code::kInvalidArgument) << c.uri;
    EXPECT_NE(u.status().message().find(c.says), std::string::npos) << u.status().message();
    EXPECT_EQ(u.status().message().find('\n'), std::string::npos);
  }
}

TEST(NvmeTcpUri, DefaultHostIdentityIsNeverEmpty) {
  // /etc/nvme/hostnqn and hostid as nvme-cli left them (they need not agree: Debian's package
  // writes two random UUIDs), or one derived from the machine id.
  const HostIdentity h = DefaultHostIdentity();
  EXPECT_TRUE(h.nqn.starts_with("nqn.")) << h.nqn;
  EXPECT_NE(h.id, (std::array<uint8_t, 16>{}));
}

}  // namespace
}  // namespace meshraid::io
