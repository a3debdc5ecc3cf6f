// NbdServer with real listening sockets: Unix socket mode and stale-file rules, TCP on an
// explicit address, accept through the reactor, and Stop() removing the socket file.
#include "export/nbd_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "export/raw_nbd_client.h"
#include "io/mem_device.h"

namespace meshraid::exports {
namespace {

using testing::RawClient;

std::string TempPath(const std::string& leaf) {
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp && *tmp ? tmp : "/tmp") + "/meshraid-" + std::to_string(::getpid()) + "-" + leaf;
}

int ConnectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  path.copy(sun.sun_path, sizeof(sun.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int ConnectTcp(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Runs `client` on a thread while the reactor serves, then stops the server.
io::Task<void> ServeWhile(io::Reactor& r, NbdServer& s, std::atomic<bool>& done) {
  while (!done) (void)co_await r.Sleep(1'000'000);
  co_await s.Stop();
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reactor_ = std::move(io::Reactor::Create()).value();
    mem_ = std::make_unique<io::MemDevice>(*reactor_, io::MemDevice::Options{1 << 20});
    export_ = Export{"disk", "", mem_.get(), false, false};
  }
  // A client session (GO, FLUSH, DISC) against `connect()`, served until it finishes.
  void RoundTrip(NbdServer& s, std::function<int()> connect) {
    std::atomic<bool> done{false};
    bool ok = false;
    std::thread client([&] {
      RawClient c(connect());
      ok = c.Connect() && c.SendRequest(proto::kCmdFlush, 1, 0, 0) &&
           c.ReadSimpleReply().value_or(testing::SimpleReply{1, 0}).error == 0 &&
           c.SendRequest(proto::kCmdDisc, 2, 0, 0) && c.WaitClosed();
      done = true;
    });
    s.Start();
    reactor_->RunUntilComplete(ServeWhile(*reactor_, s, done));
    client.join();
    EXPECT_TRUE(ok);
  }
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::MemDevice> mem_;
  Export export_;
};

TEST_F(ServerTest, UnixSocketIsPrivateAndRemovedOnStop) {
  const std::string path = TempPath("private.sock");
  ServerOptions o;
  o.listen = ListenAddress::Unix(path);
  o.log = [](std::string_view) {};
  auto s = NbdServer::Create(*reactor_, export_, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->address(), "unix:" + path);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  RoundTrip(**s, [&] { return ConnectUnix(path); });
  EXPECT_EQ((*s)->connections(), 1u);
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST_F(ServerTest, StaleSocketIsReplacedButALiveOneOrARegularFileIsNot) {
  const std::string path = TempPath("stale.sock");
  {  // a socket file nobody listens on any more
    ServerOptions o;
    o.listen = ListenAddress::Unix(path);
    auto listener = OpenListener(o.listen);
    ASSERT_TRUE(listener.ok());
    ::close(listener->fd);  // leaves the file behind
  }
  ServerOptions o;
  o.listen = ListenAddress::Unix(path);
  o.log = [](std::string_view) {};
  auto first = NbdServer::Create(*reactor_, export_, o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = NbdServer::Create(*reactor_, export_, o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kBusy) << second.status().ToString();
  first->reset();
  EXPECT_NE(::access(path.c_str(), F_OK), 0);

  const std::string file = TempPath("regular");
  std::ofstream(file) << "data";
  o.listen = ListenAddress::Unix(file);
  auto third = NbdServer::Create(*reactor_, export_, o);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), Code::kFailedPrecondition);
  std::ifstream in(file);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "data");
  ::unlink(file.c_str());
}

TEST_F(ServerTest, TcpOnAnExplicitLoopbackAddress) {
  auto addr = ListenAddress::ParseTcp("127.0.0.1:0");
  ASSERT_TRUE(addr.ok());
  ServerOptions o;
  o.listen = *addr;
  o.log = [](std::string_view) {};
  auto s = NbdServer::Create(*reactor_, export_, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const std::string a = (*s)->address();
  ASSERT_EQ(a.rfind("127.0.0.1:", 0), 0u) << a;
  const uint16_t port = uint16_t(std::stoi(a.substr(10)));
  EXPECT_NE(port, 0);
  RoundTrip(**s, [port] { return ConnectTcp(port); });
}

TEST_F(ServerTest, ExportsTheWireCannotCarryAreRefused) {
  Export bad = export_;
  bad.name = std::string(5000, 'x');
  EXPECT_FALSE(NbdServer::CreateUnbound(*reactor_, bad, {}, nullptr).ok());
  bad = export_;
  bad.device = nullptr;
  EXPECT_FALSE(NbdServer::CreateUnbound(*reactor_, bad, {}, nullptr).ok());
}

// A device that grows (an array after a reshape): each new connection is told the size the
// device has when it connects; a connection keeps the size it was told.
class GrowingDevice : public io::BlockDeviceWrapper {
 public:
  explicit GrowingDevice(std::unique_ptr<io::BlockDevice> d)
      : BlockDeviceWrapper(std::move(d)), info_(target().info()) {}
  const io::DeviceInfo& info() const override { return info_; }
  io::DeviceInfo info_;
};

TEST_F(ServerTest, EachConnectionIsToldTheSizeOfTheDeviceNow) {
  const std::string path = TempPath("grow.sock");
  auto dev = std::make_unique<GrowingDevice>(
      std::make_unique<io::MemDevice>(*reactor_, io::MemDevice::Options{2 << 20}));
  GrowingDevice* grow = dev.get();
  dev->info_.size_bytes = 1 << 20;
  Export e{"disk", "", dev.get(), false, false};
  ServerOptions o;
  o.listen = ListenAddress::Unix(path);
  auto server = NbdServer::Create(*reactor_, e, o);
  ASSERT_TRUE(server.ok()) << server.status().message();
  std::vector<uint64_t> sizes;
  std::atomic<bool> done{false};
  std::thread client([&] {
    for (int i = 0; i < 2; ++i) {
      RawClient c(ConnectUnix(path));
      auto n = c.Connect();
      sizes.push_back(n ? n->size : 0);
      c.SendRequest(proto::kCmdDisc, 1, 0, 0);
      c.WaitClosed();
      grow->info_.size_bytes = 2 << 20;  // the array grew meanwhile
    }
    done = true;
  });
  (*server)->Start();
  reactor_->RunUntilComplete(ServeWhile(*reactor_, **server, done));
  client.join();
  EXPECT_EQ(sizes, (std::vector<uint64_t>{1 << 20, 2 << 20}));
}

TEST(ListenAddressTest, ParsesHostPortForms) {
  auto a = ListenAddress::ParseTcp("127.0.0.1:10809");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 10809);
  auto b = ListenAddress::ParseTcp("[::1]:99");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->ToString(), "[::1]:99");
  for (const char* bad : {"10809", ":10809", "host:", "::1:5", "[::1:5", "h:70000", "h:1x"}) {
    EXPECT_FALSE(ListenAddress::ParseTcp(bad).ok()) << bad;
  }
}

TEST(NbdExportTest, MultiConnOnlyWithFlushAndErrorMapping) {
  auto reactor = std::move(io::Reactor::Create()).value();
  io::MemDevice mem(*reactor, {1 << 20});
  Export e{"x", "", &mem, false, false};
  const ExportParams p = DescribeExport(e);
  EXPECT_NE(p.tx_flags & proto::kTxCanMultiConn, 0);
  EXPECT_EQ(ClientTxFlags(p, true) & proto::kTxSendDf, proto::kTxSendDf);
  EXPECT_EQ(ClientTxFlags(p, false) & proto::kTxSendDf, 0);
  EXPECT_EQ(NbdErrorFor(Status::NoSpace("x")), proto::kNbdEnospc);
  EXPECT_EQ(NbdErrorFor(Status::FromErrno(EROFS, "x")), proto::kNbdEperm);
  EXPECT_EQ(NbdErrorFor(Status::InvalidArgument("x")), proto::kNbdEinval);
  EXPECT_EQ(NbdErrorFor(Status::IoError("x")), proto::kNbdEio);
  EXPECT_EQ(NbdErrorFor(Status::NotSupported("x")), proto::kNbdEio);
}

}  // namespace
}  // namespace meshraid::exports
