// Connections that end with requests in flight, from either side: a client that sends many
// requests and hangs up without waiting for them, and a server stopped (NbdServer::Stop, the
// path SIGINT/SIGTERM take in `meshraid run` and `meshraid serve-member`) while requests are
// outstanding, with a client that reads its replies, one that stopped reading them and one
// that stopped in the middle of a WRITE payload. A raw client records every reply it reads, so
// the checks are on the wire: no reply for a cookie that was not requested (on this connection:
// a later connection that reuses the socket's descriptor number must not see an earlier one's
// replies), none twice, none cut short, and the server neither crashes nor hangs.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "export/nbd_test_harness.h"
#include "export/raw_nbd_client.h"

namespace meshraid::exports::testing {
namespace {

using namespace proto;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr uint64_t kMs = 1'000'000;

// Delays every read and write by 0..max_ms (a hash of the offset), so completions come in a
// shuffled order and many requests are in flight at once.
class JitterDevice : public io::BlockDeviceWrapper {
 public:
  JitterDevice(io::Reactor& r, std::unique_ptr<io::BlockDevice> target, uint64_t max_ms)
      : BlockDeviceWrapper(std::move(target)), reactor_(r), max_ms_(max_ms) {}
  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override {
    (void)co_await reactor_.Sleep(Delay(offset));
    co_return co_await target().Read(offset, buf);
  }
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf, io::WriteFlags f) override {
    (void)co_await reactor_.Sleep(Delay(offset + 1));
    co_return co_await target().Write(offset, buf, f);
  }

 private:
  uint64_t Delay(uint64_t x) const {
    x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ull;
    return (x >> 40) % (max_ms_ + 1) * kMs + 1;
  }
  io::Reactor& reactor_;
  uint64_t max_ms_;
};

HarnessOptions Jittery(uint64_t max_ms, size_t max_in_flight = 64) {
  HarnessOptions o;
  o.session.max_in_flight = max_in_flight;
  o.wrap = [max_ms](io::Reactor& r, std::unique_ptr<io::BlockDevice> d) {
    return std::make_unique<JitterDevice>(r, std::move(d), max_ms);
  };
  return o;
}

// One reply as read off the wire.
struct WireReply {
  uint64_t cookie = 0;
  uint32_t error = 0;
  bool chunk = false;
  uint16_t flags = 0;
  std::vector<uint8_t> data;  // READ data (for a chunk: the payload after the offset)
};

// What a connection sent and what came back, kept by the client threads.
class Ledger {
 public:
  void Sent(uint64_t cookie, uint16_t type, uint32_t length) {
    std::lock_guard<std::mutex> l(mu_);
    sent_[cookie] = {type, length};
  }
  // The READ length for `cookie`, 0 for anything else (also for a cookie never sent).
  uint32_t ReadLength(uint64_t cookie) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sent_.find(cookie);
    return it != sent_.end() && it->second.first == kCmdRead ? it->second.second : 0;
  }
  void Got(WireReply r) {
    std::lock_guard<std::mutex> l(mu_);
    got_.push_back(std::move(r));
  }
  size_t got_count() {
    std::lock_guard<std::mutex> l(mu_);
    return got_.size();
  }
  // Every reply names a cookie this connection sent, and no cookie is answered twice (a
  // structured READ is one chunk with DONE here, so one chunk per cookie).
  void Check(const std::string& who) {
    std::lock_guard<std::mutex> l(mu_);
    std::set<uint64_t> seen;
    for (const WireReply& r : got_) {
      EXPECT_TRUE(sent_.count(r.cookie)) << who << ": reply for cookie " << r.cookie << " never sent";
      EXPECT_TRUE(seen.insert(r.cookie).second) << who << ": cookie " << r.cookie << " answered twice";
      if (r.chunk) {
        EXPECT_EQ(r.flags & kReplyFlagDone, kReplyFlagDone) << who;
      }
    }
  }
  std::vector<WireReply> got() {
    std::lock_guard<std::mutex> l(mu_);
    return got_;
  }
  size_t sent_count() {
    std::lock_guard<std::mutex> l(mu_);
    return sent_.size();
  }

 private:
  std::mutex mu_;
  std::map<uint64_t, std::pair<uint16_t, uint32_t>> sent_;
  std::vector<WireReply> got_;
};

enum class ReadEnd { kEof, kTorn, kBadMagic };

// Reads replies (simple or structured, in any mix) into `ledger` until `stop` is set or the
// connection ends, waiting `pace` before each. kEof: the connection ended on a reply boundary;
// kTorn: in the middle of a reply; kBadMagic: bytes that are not a reply.
ReadEnd ReadReplies(RawClient& c, Ledger& ledger, const std::atomic<bool>& stop,
                    milliseconds pace = milliseconds(0)) {
  while (!stop.load()) {
    if (pace.count() > 0) std::this_thread::sleep_for(pace);
    auto magic = c.Recv(4);
    if (!magic) return ReadEnd::kEof;
    WireReply r;
    const uint32_t m = LoadBe32(magic->data());
    if (m == kSimpleReplyMagic) {
      auto rest = c.Recv(12);
      if (!rest) return ReadEnd::kTorn;
      r.error = LoadBe32(rest->data());
      r.cookie = LoadBe64(rest->data() + 4);
      const uint32_t len = ledger.ReadLength(r.cookie);
      if (r.error == 0 && len > 0) {
        auto d = c.Recv(len);
        if (!d) return ReadEnd::kTorn;
        r.data = std::move(*d);
      }
    } else if (m == kStructuredReplyMagic) {
      auto rest = c.Recv(16);
      if (!rest) return ReadEnd::kTorn;
      r.chunk = true;
      r.flags = LoadBe16(rest->data());
      r.cookie = LoadBe64(rest->data() + 4);
      const uint16_t type = LoadBe16(rest->data() + 2);
      const uint32_t len = LoadBe32(rest->data() + 12);
      std::vector<uint8_t> payload;
      if (len > 0) {
        auto p = c.Recv(len);
        if (!p) return ReadEnd::kTorn;
        payload = std::move(*p);
      }
      if (type == kReplyTypeOffsetData && payload.size() >= 8) r.data.assign(payload.begin() + 8, payload.end());
      if (type >= 0x8000 && payload.size() >= 4) r.error = LoadBe32(payload.data());
    } else {
      return ReadEnd::kBadMagic;
    }
    ledger.Got(std::move(r));
  }
  return ReadEnd::kEof;
}

// Request i of a connection whose cookies start at `base`: reads and writes (some with FUA)
// over the first 8 MiB, a flush now and then. Writes carry Pattern(len, cookie).
struct Req {
  uint16_t type;
  uint64_t cookie, offset;
  uint32_t length;
  uint16_t flags;
};
Req MakeRequest(uint64_t base, int i) {
  const uint64_t cookie = base + uint64_t(i);
  const uint64_t offset = uint64_t((i * 37) % 2048) * 4096;
  const uint32_t length = 4096u << (i % 4);
  switch (i % 7) {
    case 0: case 2: case 4: return {kCmdRead, cookie, offset, length, 0};
    case 1: case 5: return {kCmdWrite, cookie, offset, length, 0};
    case 3: return {kCmdWrite, cookie, offset, length, kCmdFlagFua};
    default: return {kCmdFlush, cookie, 0, 0, 0};
  }
}

bool SendOne(RawClient& c, Ledger& ledger, const Req& q) {
  ledger.Sent(q.cookie, q.type, q.length);  // before the send: the reply may come at once
  if (q.type == kCmdWrite) {
    return c.SendRequest(q.type, q.cookie, q.offset, q.length, q.flags, Pattern(q.length, uint32_t(q.cookie)));
  }
  return c.SendRequest(q.type, q.cookie, q.offset, q.length, q.flags);
}

// The server's own count of answered requests for the connection named `peer` in its close
// line, or -1.
long long AnsweredInLog(ServerHarness& h, const std::string& peer, std::string* why = nullptr) {
  const std::string key = "nbd: connection " + peer + " closed (";
  for (const std::string& l : h.log()) {
    if (l.rfind(key, 0) != 0) continue;
    const size_t close_paren = l.find("): ", key.size());
    if (why) *why = l.substr(key.size(), close_paren - key.size());
    return std::stoll(l.substr(close_paren + 3));
  }
  return -1;
}

bool WaitFor(const std::function<bool()>& f, milliseconds limit) {
  const auto end = steady_clock::now() + limit;
  while (steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return f();
}

// (a) Clients that send many requests and hang up after reading a few replies (0 to many),
// round after round on one server; each round's connection gets the descriptor number the
// previous one had on the server side as soon as that one is closed. Each connection sees
// only replies to its own cookies, once each; the server stays up and answers the next
// connection.
TEST(HangupTest, ClientHangingUpWithRequestsInFlightGetsNoStrayOrDuplicateReplies) {
  ServerHarness h(Jittery(/*max_ms=*/8));
  constexpr int kRounds = 24;
  constexpr int kRequests = 400;
  size_t total_replies = 0, total_unanswered = 0;
  for (int round = 0; round < kRounds; ++round) {
    const uint64_t base = uint64_t(round + 1) << 32;  // cookies never repeat across rounds
    RawClient c(h.Connect());
    ASSERT_TRUE(c.Connect(/*structured=*/round % 2 == 0));
    Ledger ledger;
    std::atomic<bool> stop_reading{false};
    const size_t hang_up_after = size_t(round * 7) % 90;  // replies read before hanging up
    std::thread sender([&] {
      for (int i = 0; i < kRequests; ++i) {
        if (!SendOne(c, ledger, MakeRequest(base, i))) break;  // the hang-up broke the send
      }
    });
    std::atomic<int> end{-1};
    std::thread reader([&] { end = int(ReadReplies(c, ledger, stop_reading)); });
    EXPECT_TRUE(WaitFor([&] { return ledger.got_count() >= hang_up_after; }, milliseconds(10000)));
    // Hang up: no NBD_CMD_DISC, requests still in flight and more being sent.
    ::shutdown(c.fd(), SHUT_RDWR);
    stop_reading = true;
    sender.join();
    reader.join();
    c.Close();
    EXPECT_NE(end.load(), int(ReadEnd::kBadMagic)) << "round " << round;
    ledger.Check("round " + std::to_string(round));
    for (const WireReply& r : ledger.got()) {  // the data that came back is the data asked for
      if (r.error != 0 || r.data.empty()) continue;
      EXPECT_EQ(r.data.size(), size_t(MakeRequest(base, int(r.cookie - base)).length));
    }
    total_replies += ledger.got_count();
    total_unanswered += ledger.sent_count() - ledger.got_count();
  }
  // Every hung-up session ends (its commands finish first), and the server still serves.
  ASSERT_TRUE(WaitFor([&] { return h.live_sessions() == 0; }, milliseconds(10000)));
  RawClient d(h.Connect());
  ASSERT_TRUE(d.Connect(false));
  ASSERT_TRUE(d.SendRequest(kCmdFlush, 7, 0, 0));
  auto r = d.ReadSimpleReply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->cookie, 7u);
  EXPECT_EQ(r->error, 0u);
  EXPECT_GT(total_replies, 0u);
  EXPECT_GT(total_unanswered, 0u) << "no hang-up happened with requests outstanding";
}

// (a, sharper) The server side's descriptor number is reused at once by the next connection
// while the hung-up one still has slow commands in flight: their late replies must go nowhere
// (certainly not to the new connection).
TEST(HangupTest, LateRepliesOfAHungUpConnectionNeverReachTheNextOne) {
  HarnessOptions o;
  o.slow_from = 0;
  o.slow_to = 1 << 20;
  o.slow_ns = 150 * kMs;
  ServerHarness h(o);
  for (int round = 0; round < 8; ++round) {
    const uint64_t old_base = 0x1000 + uint64_t(round) * 0x100;
    {
      RawClient c(h.Connect());
      ASSERT_TRUE(c.Connect(/*structured=*/round % 2 == 1));
      for (uint64_t i = 0; i < 32; ++i) ASSERT_TRUE(c.SendRequest(kCmdRead, old_base + i, i * 4096, 4096));
    }  // closed with 32 slow reads in flight
    RawClient n(h.Connect());
    ASSERT_TRUE(n.Connect(/*structured=*/false));
    Ledger ledger;
    const uint64_t new_base = 0xA0000000 + uint64_t(round) * 0x100;
    for (int i = 0; i < 16; ++i) {  // fast requests (above the slow range)
      const uint64_t cookie = new_base + uint64_t(i);
      ledger.Sent(cookie, i % 2 ? kCmdWrite : kCmdRead, 4096);
      if (i % 2) ASSERT_TRUE(n.SendRequest(kCmdWrite, cookie, (2 << 20) + uint64_t(i) * 4096, 4096, 0, Pattern(4096, i)));
      else ASSERT_TRUE(n.SendRequest(kCmdRead, cookie, (2 << 20) + uint64_t(i) * 4096, 4096));
    }
    // Read for longer than the slow reads take, so that any stray late reply would show.
    std::atomic<bool> stop{false};
    std::thread t([&] { (void)ReadReplies(n, ledger, stop); });
    EXPECT_TRUE(WaitFor([&] { return ledger.got_count() >= 16; }, milliseconds(5000)));
    std::this_thread::sleep_for(milliseconds(250));
    ASSERT_TRUE(n.SendRequest(kCmdDisc, new_base + 99, 0, 0));
    t.join();  // ends at the server's close after DISC
    ledger.Check("round " + std::to_string(round));
    EXPECT_EQ(ledger.got_count(), 16u) << "round " << round;
  }
}

// (b) Stop with requests outstanding and a client that keeps reading: whatever the server had
// read is answered, once, in whole replies; the connection then closes, the server's count of
// answered requests is what arrived, and Stop() completes.
TEST(HangupTest, StopWithRequestsOutstandingAnswersWhatItReadThenCloses) {
  for (int variant = 0; variant < 6; ++variant) {
    ServerHarness h(Jittery(/*max_ms=*/20, /*max_in_flight=*/16 + 16 * variant));
    RawClient c(h.Connect());
    ASSERT_TRUE(c.Connect(/*structured=*/variant % 2 == 0));
    Ledger ledger;
    std::atomic<bool> never{false};
    std::thread sender([&] {
      for (int i = 0; i < 3000; ++i) {
        if (!SendOne(c, ledger, MakeRequest(1u << 20, i))) break;
      }
    });
    std::atomic<int> end{-1};
    std::thread reader([&] { end = int(ReadReplies(c, ledger, never)); });
    EXPECT_TRUE(WaitFor([&] { return ledger.got_count() >= size_t(5 + 20 * variant); }, milliseconds(10000)));
    auto stopped = std::async(std::launch::async, [&] { h.Stop(); });
    const bool stop_done = stopped.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
    EXPECT_TRUE(stop_done) << "variant " << variant << ": Stop() hangs";
    reader.join();  // the server closed the connection (or the 10 s read timeout hit)
    ::shutdown(c.fd(), SHUT_RDWR);  // unblocks the sender, if it still sends
    sender.join();
    stopped.wait();
    EXPECT_EQ(end.load(), int(ReadEnd::kEof)) << "variant " << variant;
    ledger.Check("variant " + std::to_string(variant));
    std::string why;
    const long long answered = AnsweredInLog(h, "test#1", &why);
    EXPECT_EQ(why, "server shutting down") << "variant " << variant;
    EXPECT_EQ(answered, (long long)ledger.got_count()) << "variant " << variant;
    EXPECT_LT(ledger.got_count(), ledger.sent_count()) << "the stop came too late to test anything";
  }
}

// (b) over TCP, with a client that reads slowly through a small receive buffer, so that at the
// stop many replies are still in the server's send queue while pipelined requests it will
// never read sit in its receive queue: every reply the server counts as answered must still
// arrive (closing a TCP socket with unread data resets the connection and drops what it had
// not sent yet).
TEST(HangupTest, StopOverTcpDeliversEveryReplyItCountsAsAnswered) {
  for (int variant = 0; variant < 3; ++variant) {
    ServerHarness h(Jittery(/*max_ms=*/2, /*max_in_flight=*/64));
    const int fd = h.ConnectTcp(/*client_rcvbuf=*/4096);
    ASSERT_GE(fd, 0);
    RawClient c(fd);
    ASSERT_TRUE(c.Connect(/*structured=*/variant % 2 == 0));
    Ledger ledger;
    std::thread sender([&] {
      for (int i = 0; i < 4000; ++i) {
        const uint64_t cookie = 0x5000 + uint64_t(i);
        ledger.Sent(cookie, kCmdRead, 65536);
        if (!c.SendRequest(kCmdRead, cookie, uint64_t(i % 128) * 65536, 65536)) break;
      }
    });
    std::atomic<bool> never{false};
    std::atomic<int> end{-1};
    std::thread reader([&] { end = int(ReadReplies(c, ledger, never, milliseconds(1))); });
    EXPECT_TRUE(WaitFor([&] { return ledger.got_count() >= 20; }, milliseconds(10000)));
    auto stopped = std::async(std::launch::async, [&] { h.Stop(); });
    EXPECT_EQ(stopped.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    reader.join();
    ::shutdown(c.fd(), SHUT_RDWR);
    sender.join();
    stopped.wait();
    EXPECT_EQ(end.load(), int(ReadEnd::kEof)) << "tcp variant " << variant;
    ledger.Check("tcp variant " + std::to_string(variant));
    std::string why;
    const long long answered = AnsweredInLog(h, "test#1", &why);
    EXPECT_EQ(answered, (long long)ledger.got_count()) << "tcp variant " << variant << " (" << why << ")";
  }
}

// (b) Stop while the client has stopped reading replies (its socket buffer is full, so the
// server cannot send): Stop() must still complete, closing the connection; no reply is sent
// twice and none is torn on the wire before the close.
TEST(HangupTest, StopCompletesWhenTheClientNoLongerReadsItsReplies) {
  HarnessOptions o;
  o.session.stop_grace_ns = 300 * kMs;
  ServerHarness h(o);
  RawClient c(h.Connect());
  ASSERT_TRUE(c.Connect(/*structured=*/false));
  Ledger ledger;
  for (int i = 0; i < 40; ++i) {  // 40 MiB of READ replies: far more than the socket buffers
    ledger.Sent(100 + uint64_t(i), kCmdRead, 1 << 20);
    ASSERT_TRUE(c.SendRequest(kCmdRead, 100 + uint64_t(i), uint64_t(i % 16) << 20, 1 << 20));
  }
  std::this_thread::sleep_for(milliseconds(200));  // the server is stuck in a send
  const auto t0 = steady_clock::now();
  auto stopped = std::async(std::launch::async, [&] { h.Stop(); });
  const bool done = stopped.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  EXPECT_TRUE(done) << "Stop() hangs on a client that does not read";
  if (!done) ::shutdown(c.fd(), SHUT_RDWR);  // let the server go, so the test can end
  stopped.wait();
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - t0).count();
  EXPECT_GE(took, 250) << "the grace period was not given";
  // What the client finds in its socket afterwards: replies for its own cookies, the last one
  // possibly cut short by the close, and nothing after that.
  std::atomic<bool> never{false};
  EXPECT_NE(ReadReplies(c, ledger, never), ReadEnd::kBadMagic);
  ledger.Check("stuck client");
  EXPECT_LT(ledger.got_count(), 40u);
  std::string why;
  (void)AnsweredInLog(h, "test#1", &why);
  EXPECT_NE(why.find("server shutting down"), std::string::npos) << why;
}

// (b) Stop while the client is in the middle of a WRITE payload and sends no more: Stop() must
// complete (the request cannot be served: it never fully arrived).
TEST(HangupTest, StopCompletesWhenTheClientStallsInAWritePayload) {
  HarnessOptions o;
  o.session.stop_grace_ns = 300 * kMs;
  ServerHarness h(o);
  RawClient c(h.Connect());
  ASSERT_TRUE(c.Connect(/*structured=*/false));
  ASSERT_TRUE(c.SendRequest(kCmdWrite, 1, 0, 4096, 0, Pattern(4096, 1)));
  ASSERT_EQ(c.ReadSimpleReply()->cookie, 1u);
  const auto half = Pattern(1 << 19, 2);
  const auto header = EncodeRequest({0, kCmdWrite, 2, 0, 1 << 20});
  ASSERT_TRUE(c.Send(header));
  ASSERT_TRUE(c.Send(half));  // half of the 1 MiB payload, then nothing
  std::this_thread::sleep_for(milliseconds(100));
  auto stopped = std::async(std::launch::async, [&] { h.Stop(); });
  const bool done = stopped.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  EXPECT_TRUE(done) << "Stop() hangs on a client stalled mid-payload";
  if (!done) ::shutdown(c.fd(), SHUT_RDWR);
  stopped.wait();
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(h.Peek(0, 4096), Pattern(4096, 1));  // the half-sent write was not applied
}

}  // namespace
}  // namespace meshraid::exports::testing
