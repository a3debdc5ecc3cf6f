// NbdDevice against real nbdkit processes, one per test (`-t 1`, see nbd_test_server.h).
// Every test is bounded by alarm(): a hang kills the binary instead of blocking the run.
#include "io/nbd_device.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "io/clock.h"
#include "io/nbd_test_server.h"
#include "io/reactor.h"
#include "io/when_all.h"

namespace meshraid::io {
namespace {

constexpr uint64_t kMiB = 1u << 20;
constexpr uint64_t kMsNs = 1'000'000;

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t((i * 131 + seed * 7 + (i >> 12)) & 0xff);
  return v;
}

bool AllZero(std::span<const uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

Task<Status> CountedRead(NbdDevice& d, uint64_t off, std::span<uint8_t> b, int* count) {
  Status s = co_await d.Read(off, b);
  ++*count;
  co_return s;
}

Task<Status> CountedWrite(NbdDevice& d, uint64_t off, std::span<const uint8_t> b, int* count) {
  Status s = co_await d.Write(off, b);
  ++*count;
  co_return s;
}

Task<Status> SignalAfter(Reactor& r, const NbdkitServer& server, uint64_t ns, int sig) {
  static_cast<void>(co_await r.Sleep(ns));
  server.Signal(sig);
  co_return Status::Ok();
}

uint64_t NowMs() { return SystemClock::Get().NowNs() / kMsNs; }

Task<Status> Pause(Reactor& r, uint64_t ns) {
  static_cast<void>(co_await r.Sleep(ns));
  co_return Status::Ok();
}

class NbdDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::alarm(120);
    char tmpl[] = "/tmp/meshraid-nbd-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto r = Reactor::Create();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reactor_ = std::move(r).value();
  }
  void TearDown() override {
    if (dev_) {
      Status s = Run(dev_->Close());
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    dev_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
    ::alarm(0);
  }

  std::string Path(const char* name) const { return dir_ + "/" + name; }
  std::string UnixUri() const { return "nbd+unix:///?socket=" + Path("sock"); }
  // Starts nbdkit on the test's Unix socket; `args`: server options, filters, plugin, params.
  bool StartServer(std::vector<std::string> args) {
    server_ = std::make_unique<NbdkitServer>(
        Path("pid"), std::vector<std::string>{"-U", Path("sock")}, std::move(args));
    return server_->Start();
  }
  void ConnectOk(NbdDevice::Options o = {}) {
    o.log = [this](std::string_view line) { log_.emplace_back(line); };
    auto d = Run(NbdDevice::Connect(*reactor_, UnixUri(), std::move(o)));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dev_ = std::move(d).value();
  }
  template <typename T>
  T Run(Task<T> t) {
    return reactor_->RunUntilComplete(std::move(t));
  }

  std::string dir_;
  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<NbdkitServer> server_;
  std::unique_ptr<NbdDevice> dev_;
  std::vector<std::string> log_;
};

TEST_F(NbdDeviceTest, RoundTripReadWriteFlushZeroTrim) {
  ASSERT_TRUE(StartServer({"memory", "64M"}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  const DeviceInfo& info = dev_->info();
  EXPECT_EQ(info.size_bytes, 64 * kMiB);
  EXPECT_EQ(info.logical_block_size, 512u);
  EXPECT_EQ(info.max_io_bytes, 32 * kMiB);
  EXPECT_TRUE(info.can_flush && info.can_fua && info.can_discard && info.can_write_zeroes);
  EXPECT_EQ(dev_->generation(), 1u);
  EXPECT_TRUE(dev_->connected());

  const std::vector<uint8_t> data = Pattern(kMiB, 1);
  std::vector<uint8_t> back(kMiB);
  ASSERT_TRUE(Run(dev_->Write(4096, data)).ok());
  ASSERT_TRUE(Run(dev_->Read(4096, back)).ok());
  EXPECT_TRUE(back == data);
  EXPECT_TRUE(Run(dev_->Flush()).ok());

  ASSERT_TRUE(Run(dev_->WriteZeroes(8192, 65536, ZeroFlags::kNoHole)).ok());
  ASSERT_TRUE(Run(dev_->Read(4096, back)).ok());
  EXPECT_TRUE(std::equal(back.begin(), back.begin() + 4096, data.begin()));
  EXPECT_TRUE(AllZero(std::span(back).subspan(4096, 65536)));
  EXPECT_TRUE(std::equal(back.begin() + 4096 + 65536, back.end(), data.begin() + 4096 + 65536));

  ASSERT_TRUE(Run(dev_->Discard(0, 2 * kMiB)).ok());
  ASSERT_TRUE(Run(dev_->Read(4096, back)).ok());
  EXPECT_TRUE(AllZero(back));  // nbdkit memory frees trimmed pages: they read as zeroes

  std::vector<uint8_t> small(512);
  EXPECT_EQ(Run(dev_->Read(100, small)).code(), Code::kInvalidArgument);
  EXPECT_EQ(Run(dev_->Read(64 * kMiB, small)).code(), Code::kInvalidArgument);
  EXPECT_TRUE(log_.empty());
}

TEST_F(NbdDeviceTest, LargeIoIsSplitAt32MiB) {
  ASSERT_TRUE(StartServer({"--filter=log", "memory", "64M", "logfile=" + Path("log")}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  const std::vector<uint8_t> data = Pattern(40 * kMiB, 2);
  std::vector<uint8_t> back(40 * kMiB);
  ASSERT_TRUE(Run(dev_->Write(0, data)).ok());
  ASSERT_TRUE(Run(dev_->Read(0, back)).ok());
  EXPECT_TRUE(back == data);
  ASSERT_TRUE(Run(dev_->Close()).ok());
  for (const char* action : {"Write", "Read"}) {
    uint64_t total = 0;
    const std::vector<Logged> reqs = LoggedRequests(Path("log"), action);
    EXPECT_EQ(reqs.size(), 2u) << action;
    for (const Logged& r : reqs) {
      EXPECT_LE(r.count, 32 * kMiB) << action;
      total += r.count;
    }
    EXPECT_EQ(total, 40 * kMiB) << action;
  }
}

TEST_F(NbdDeviceTest, FuaIsPassedWhenTheServerCan) {
  ASSERT_TRUE(StartServer({"--filter=log", "memory", "64M", "logfile=" + Path("log")}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  ASSERT_TRUE(dev_->info().can_fua);
  const std::vector<uint8_t> data = Pattern(4096, 3);
  ASSERT_TRUE(Run(dev_->Write(0, data, WriteFlags::kFua)).ok());
  ASSERT_TRUE(Run(dev_->Write(8192, data)).ok());
  ASSERT_TRUE(Run(dev_->Close()).ok());
  const std::vector<Logged> writes = LoggedRequests(Path("log"), "Write");
  ASSERT_EQ(writes.size(), 2u);
  EXPECT_TRUE(writes[0].offset == 0 && writes[0].fua);
  EXPECT_TRUE(writes[1].offset == 8192 && !writes[1].fua);
  EXPECT_TRUE(LoggedRequests(Path("log"), "Flush").empty());
}

TEST_F(NbdDeviceTest, FuaWithoutServerSupportIsWritePlusFlush) {
  // fuamode=none is the default (1.32.5 rejects it spelled out).
  ASSERT_TRUE(
      StartServer({"--filter=log", "--filter=fua", "memory", "64M", "logfile=" + Path("log")}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  ASSERT_FALSE(dev_->info().can_fua);
  ASSERT_TRUE(Run(dev_->Write(0, Pattern(4096, 4), WriteFlags::kFua)).ok());
  ASSERT_TRUE(Run(dev_->Close()).ok());
  const std::vector<Logged> writes = LoggedRequests(Path("log"), "Write");
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_FALSE(writes[0].fua);
  EXPECT_EQ(LoggedRequests(Path("log"), "Flush").size(), 1u);
}

TEST_F(NbdDeviceTest, ZeroesAreWrittenWhenTheServerCannotZero) {
  ASSERT_TRUE(StartServer(
      {"--filter=log", "--filter=nozero", "memory", "64M", "logfile=" + Path("log")}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  ASSERT_FALSE(dev_->info().can_write_zeroes);
  ASSERT_TRUE(Run(dev_->Write(0, Pattern(65536, 5))).ok());
  ASSERT_TRUE(Run(dev_->WriteZeroes(0, 65536)).ok());
  std::vector<uint8_t> back(65536);
  ASSERT_TRUE(Run(dev_->Read(0, back)).ok());
  EXPECT_TRUE(AllZero(back));
  ASSERT_TRUE(Run(dev_->Close()).ok());
  EXPECT_TRUE(LoggedRequests(Path("log"), "Zero").empty());
  EXPECT_EQ(LoggedRequests(Path("log"), "Write").size(), 2u);
}

TEST_F(NbdDeviceTest, ReadOnlyServerCannotTrimOrWrite) {
  ASSERT_TRUE(StartServer({"-r", "memory", "64M"}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  EXPECT_TRUE(dev_->read_only());
  EXPECT_FALSE(dev_->info().can_discard);
  EXPECT_EQ(Run(dev_->Discard(0, 4096)).code(), Code::kNotSupported);
  Status s = Run(dev_->Write(0, Pattern(4096, 6)));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(dev_->connected()) << "a refused request must not kill the connection";
}

TEST_F(NbdDeviceTest, SixtyFourConcurrentRequestsCompleteExactlyOnce) {
  ASSERT_TRUE(StartServer({"memory", "64M"}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  constexpr int kN = 64;
  std::vector<std::vector<uint8_t>> data, back;
  int writes = 0, reads = 0;
  std::vector<Task<Status>> tasks;
  for (int i = 0; i < kN; ++i) {
    data.push_back(Pattern(8192, uint32_t(i)));
    back.emplace_back(8192);
  }
  for (int i = 0; i < kN; ++i) tasks.push_back(CountedWrite(*dev_, i * 65536, data[i], &writes));
  for (const Status& s : Run(WhenAll(std::move(tasks)))) EXPECT_TRUE(s.ok()) << s.ToString();
  tasks.clear();
  for (int i = 0; i < kN; ++i) tasks.push_back(CountedRead(*dev_, i * 65536, back[i], &reads));
  for (const Status& s : Run(WhenAll(std::move(tasks)))) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(writes, kN);
  EXPECT_EQ(reads, kN);
  for (int i = 0; i < kN; ++i) EXPECT_TRUE(back[i] == data[i]) << i;
}

TEST_F(NbdDeviceTest, ServerErrorsComeBackAsStatusWithErrno) {
  const std::string trigger = Path("trigger");
  ASSERT_TRUE(StartServer({"--filter=error", "memory", "64M", "error-pread-rate=100%",
                           "error-pread-file=" + trigger}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  std::vector<uint8_t> buf(4096);
  EXPECT_TRUE(Run(dev_->Read(0, buf)).ok());
  std::ofstream(trigger).put('x');
  Status s = Run(dev_->Read(0, buf));
  EXPECT_EQ(s.code(), Code::kIoError) << s.ToString();
  EXPECT_EQ(s.err(), EIO);
  EXPECT_EQ(s.scope(), Scope::kRange);
  EXPECT_NE(s.message().find("read"), std::string::npos) << s.message();
  EXPECT_TRUE(dev_->connected());
  EXPECT_TRUE(Run(dev_->Write(0, buf)).ok());
  std::filesystem::remove(trigger);
  EXPECT_TRUE(Run(dev_->Read(0, buf)).ok());
}

TEST_F(NbdDeviceTest, ServerKilledMidIoFailsEverythingWithDeviceScope) {
  ASSERT_TRUE(StartServer({"--filter=delay", "memory", "64M", "rdelay=2"}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  constexpr int kN = 8;
  std::vector<std::vector<uint8_t>> bufs(kN, std::vector<uint8_t>(4096));
  int done = 0;
  std::vector<Task<Status>> tasks;
  for (int i = 0; i < kN; ++i) tasks.push_back(CountedRead(*dev_, i * 4096, bufs[i], &done));
  tasks.push_back(SignalAfter(*reactor_, *server_, 200 * kMsNs, SIGKILL));
  const uint64_t t0 = NowMs();
  std::vector<Status> results = Run(WhenAll(std::move(tasks)));
  EXPECT_LT(NowMs() - t0, 1500u);
  EXPECT_EQ(done, kN);
  for (int i = 0; i < kN; ++i) {
    EXPECT_EQ(results[i].code(), Code::kUnavailable) << results[i].ToString();
    EXPECT_EQ(results[i].scope(), Scope::kDevice);
  }
  EXPECT_FALSE(dev_->connected());
  EXPECT_FALSE(log_.empty());
  Status later = Run(dev_->Read(0, bufs[0]));  // fails fast
  EXPECT_EQ(later.code(), Code::kUnavailable);
  EXPECT_EQ(later.scope(), Scope::kDevice);

  server_->Kill(SIGKILL);
  EXPECT_FALSE(Run(dev_->Reconnect()).ok());  // nobody listens
  EXPECT_EQ(dev_->generation(), 1u);
  ASSERT_TRUE(StartServer({"memory", "64M"}));
  Status r = Run(dev_->Reconnect());
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(dev_->generation(), 2u);
  EXPECT_TRUE(dev_->connected());
  EXPECT_TRUE(Run(dev_->Read(0, bufs[0])).ok());
}

TEST_F(NbdDeviceTest, RequestTimeoutClosesTheConnectionWithoutHanging) {
  ASSERT_TRUE(StartServer({"--filter=delay", "memory", "64M", "rdelay=3"}));
  NbdDevice::Options o;
  o.request_timeout_ns = 500 * kMsNs;
  ASSERT_NO_FATAL_FAILURE(ConnectOk(o));
  std::vector<uint8_t> buf(4096);
  const uint64_t t0 = NowMs();
  Status s = Run(dev_->Read(0, buf));
  const uint64_t elapsed = NowMs() - t0;
  EXPECT_EQ(s.code(), Code::kTimedOut) << s.ToString();
  EXPECT_EQ(s.scope(), Scope::kDevice);
  EXPECT_GE(elapsed, 450u);
  EXPECT_LT(elapsed, 2000u);
  EXPECT_FALSE(dev_->connected());
  EXPECT_EQ(dev_->connection_status().code(), Code::kTimedOut);
  Status later = Run(dev_->Write(0, buf));
  EXPECT_EQ(later.code(), Code::kUnavailable) << later.ToString();

  Status r = Run(dev_->Reconnect());
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_EQ(dev_->generation(), 2u);
  EXPECT_TRUE(Run(dev_->Write(0, buf)).ok());  // writes are not delayed
}

// A read-poll completion can be stale (io_uring reports the waker's mask; on a Unix socket the
// peer's wake-up can arrive after we already read the reply it announced). Handing such a
// wake-up to nbd_aio_notify_read on an idle connection parked libnbd in REPLY.START, where the
// next command was only queued, never sent, and timed out (bench/latency_swap.sh saw this as
// 10 s stalls). The stale wake-up must be recognised and the next reads must be sent.
TEST_F(NbdDeviceTest, StaleReadWakeOnAnIdleConnectionDoesNotStallTheNextRequest) {
  ASSERT_TRUE(StartServer({"memory", "64M"}));
  NbdDevice::Options o;
  o.request_timeout_ns = 2000 * kMsNs;
  ASSERT_NO_FATAL_FAILURE(ConnectOk(o));
  std::vector<uint8_t> buf(4096);
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(Run(dev_->Read(0, buf)).ok());  // now idle: nothing in flight, nothing to read
    dev_->InjectStaleReadWakeForTest();
    ASSERT_TRUE(Run(Pause(*reactor_, 20 * kMsNs)).ok());  // let the read pump handle it
    EXPECT_EQ(dev_->stale_read_wakes(), uint64_t(round + 1));
    const uint64_t t0 = NowMs();
    Status s = Run(dev_->Read(4096, buf));
    EXPECT_TRUE(s.ok()) << "round " << round << ": " << s.ToString();
    EXPECT_LT(NowMs() - t0, 1000u);
    ASSERT_TRUE(dev_->connected());
  }
  EXPECT_TRUE(log_.empty()) << log_.front();
}

TEST_F(NbdDeviceTest, TcpOnLoopback) {
  const std::string port = FreeTcpPort();
  server_ = std::make_unique<NbdkitServer>(
      Path("pid"), std::vector<std::string>{"-i", "127.0.0.1", "-p", port},
      std::vector<std::string>{"memory", "64M"});
  ASSERT_TRUE(server_->Start());
  auto d = Run(NbdDevice::Connect(*reactor_, "nbd://127.0.0.1:" + port));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  dev_ = std::move(d).value();
  const std::vector<uint8_t> data = Pattern(65536, 7);
  std::vector<uint8_t> back(65536);
  ASSERT_TRUE(Run(dev_->Write(65536, data)).ok());
  ASSERT_TRUE(Run(dev_->Read(65536, back)).ok());
  EXPECT_TRUE(back == data);
  auto named = Run(NbdDevice::Connect(*reactor_, "nbd://localhost:" + port));
  EXPECT_EQ(named.status().code(), Code::kInvalidArgument);
}

TEST_F(NbdDeviceTest, CloseIsCleanAndFinal) {
  ASSERT_TRUE(StartServer({"--filter=log", "memory", "64M", "logfile=" + Path("log")}));
  ASSERT_NO_FATAL_FAILURE(ConnectOk());
  ASSERT_TRUE(Run(dev_->Write(0, Pattern(4096, 8))).ok());
  Status s = Run(dev_->Close());
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Run(dev_->Close()).ok());
  EXPECT_FALSE(dev_->connected());
  std::vector<uint8_t> buf(4096);
  EXPECT_EQ(Run(dev_->Read(0, buf)).code(), Code::kFailedPrecondition);
  EXPECT_EQ(Run(dev_->Reconnect()).code(), Code::kFailedPrecondition);
  EXPECT_TRUE(log_.empty()) << log_.front();
  std::ifstream in(Path("log"));
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("Disconnect"), std::string::npos);  // the server saw a polite goodbye
  EXPECT_EQ(::waitpid(server_->pid(), nullptr, WNOHANG), 0) << "nbdkit exited";
}

TEST_F(NbdDeviceTest, HandshakeTimeoutDoesNotHang) {
  // A socket that accepts connections (backlog) but never speaks NBD.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string path = Path("sock");
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  NbdDevice::Options o;
  o.connect_timeout_ns = 300 * kMsNs;
  const uint64_t t0 = NowMs();
  auto d = Run(NbdDevice::Connect(*reactor_, UnixUri(), o));
  EXPECT_LT(NowMs() - t0, 2000u);
  EXPECT_EQ(d.status().code(), Code::kTimedOut) << d.status().ToString();
  ::close(fd);
}

TEST_F(NbdDeviceTest, ConnectFailsWithoutServerAndRejectsNames) {
  auto d = Run(NbdDevice::Connect(*reactor_, UnixUri()));
  EXPECT_FALSE(d.ok());
  EXPECT_TRUE(CheckNbdUriHostIsNumeric("nbd+unix:///e?socket=/tmp/s").ok());
  EXPECT_TRUE(CheckNbdUriHostIsNumeric("nbd://10.0.0.1:10809/e").ok());
  EXPECT_TRUE(CheckNbdUriHostIsNumeric("nbd://[::1]:10809").ok());
  EXPECT_FALSE(CheckNbdUriHostIsNumeric("nbd://example.com/e").ok());
  EXPECT_FALSE(CheckNbdUriHostIsNumeric("nbd:///e").ok());
  EXPECT_FALSE(CheckNbdUriHostIsNumeric("/dev/sda").ok());
}

}  // namespace
}  // namespace meshraid::io
