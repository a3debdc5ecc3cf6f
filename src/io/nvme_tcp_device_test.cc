// NvmeTcpDevice (our NVMe/TCP host) against a fake controller: threads on blocking loopback
// sockets (testing::NvmeTestPeer, built on the codec) that bring up an admin and an I/O queue
// properly and then misbehave as each test asks — never answer, send a C2HTermReq, drop the
// connection inside a C2HData, send a bad data digest, answer a CID not in flight, enable a
// digest that was not asked for, return an error status. The fake records what the host sends
// after the violation (an H2CTermReq where the protocol wants one, then the close). Every
// command in flight must complete exactly once with a device-scoped error, later commands fail
// at once, and Close() returns. Every test is bounded by alarm().
#include "io/nvme_tcp_device.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "io/clock.h"
#include "io/nvme_test_peer.h"
#include "io/reactor.h"
#include "io/when_all.h"
#include "proto/nvme_command.h"
#include "proto/nvme_fabrics.h"
#include "proto/nvme_identify.h"
#include "proto/nvme_status.h"
#include "proto/nvme_tcp.h"
#include "util/endian.h"

namespace meshraid::io {
namespace {

namespace nv = proto::nvme;
using testing::NvmeTestPeer;

constexpr uint64_t kMsNs = 1'000'000;
constexpr uint64_t kDeviceBytes = 8u << 20;
constexpr uint16_t kCntlid = 7;
constexpr char kNqn[] = "nqn.2026-01.io.meshraid:fake";
constexpr char kHost[] = "nqn.2014-08.org.nvmexpress:uuid:01020304-0506-4708-890a-0b0c0d0e0f10";

uint8_t StoreByte(uint64_t i) { return uint8_t((i * 29 + (i >> 9)) & 0xff); }

enum class Misbehave {
  kNone,
  kIgnoreReads,     // reads are received and never answered
  kTermReqOnRead,   // the held reads are answered with a C2HTermReq
  kDropMidRead,     // a C2HData header and part of its data, then the connection closes
  kBadDataDigest,   // a C2HData whose data digest is wrong
  kWrongCidResp,    // a CapsuleResp for a CID not in flight
  kWrongCidData,    // a C2HData for a CID not in flight
  kReadError,       // reads of `error_lba` get `error_status`; the rest are served
  kExtraDigest,     // the admin queue's ICResp enables a header digest nobody asked for
  kIgnoreKeepAlive, // Keep Alive is never answered
};

struct FakeOptions {
  Misbehave what = Misbehave::kNone;
  int hold = 1;  // reads received (and held) before the misbehaviour starts
  uint64_t error_lba = 0;
  uint16_t error_status = 0;
};

// What the fake saw the host do after its violation.
struct Seen {
  int connections = 0;
  int io_commands = 0;                 // I/O queue capsules received
  std::vector<nv::TermReq> term_reqs;  // H2CTermReqs received (any queue)
  std::vector<std::vector<uint8_t>> quoted_headers;  // what each violation sent, to compare quotes
  bool closed_after_violation = false;  // the host closed that connection
  size_t pdus_after_term_req = 0;       // anything the host sent after its own TermReq
};

class FakeController {
 public:
  explicit FakeController(FakeOptions o) : o_(o), store_(kDeviceBytes) {
    for (uint64_t i = 0; i < store_.size(); ++i) store_[i] = StoreByte(i);
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(lfd_, 8) != 0 ||
        ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "fake controller: cannot listen";
    }
    port_ = ntohs(a.sin_port);
    accept_ = std::thread([this] { AcceptLoop(); });
  }
  ~FakeController() {
    ::shutdown(lfd_, SHUT_RDWR);
    accept_.join();
    ::close(lfd_);
    std::vector<std::thread> t;
    {
      std::lock_guard<std::mutex> l(mu_);
      t.swap(threads_);
    }
    for (std::thread& th : t) th.join();
  }
  uint16_t port() const { return port_; }
  Seen seen() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  // Waits (bounded) until the host closed the connection the violation was on.
  bool WaitViolationSeen() {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(20), [&] { return violation_done_; });
  }
  std::vector<uint8_t> Store(uint64_t off, uint64_t len) {
    std::lock_guard<std::mutex> l(mu_);
    return std::vector<uint8_t>(store_.begin() + off, store_.begin() + off + len);
  }

 private:
  void AcceptLoop() {
    for (;;) {
      const int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard<std::mutex> l(mu_);
      ++seen_.connections;
      const bool admin = seen_.connections == 1;
      threads_.emplace_back([this, fd, admin] { Serve(fd, admin); });
    }
  }

  // After a violation: records H2CTermReqs until the host closes.
  void Observe(NvmeTestPeer& p) {
    bool got_term = false;
    size_t after = 0;
    std::vector<nv::TermReq> terms;
    for (;;) {
      auto r = p.ReadPdu();
      if (!r) break;
      if (const auto* t = std::get_if<nv::TermReq>(&r->pdu)) {
        terms.push_back(*t);
        got_term = true;
      } else if (got_term) {
        ++after;
      }
    }
    std::lock_guard<std::mutex> l(mu_);
    for (const nv::TermReq& t : terms) seen_.term_reqs.push_back(t);
    seen_.closed_after_violation = p.error == "EOF" || p.error == "recv failed";
    seen_.pdus_after_term_req += after;
    violation_done_ = true;
    cv_.notify_all();
  }
  void Quote(std::span<const uint8_t> header) {
    std::lock_guard<std::mutex> l(mu_);
    seen_.quoted_headers.emplace_back(header.begin(), header.end());
  }

  bool SendResp(NvmeTestPeer& p, uint16_t cid, uint16_t status = 0, uint32_t dw0 = 0, uint32_t dw1 = 0) {
    nv::Cqe c;
    c.cid = cid;
    c.status = status;
    c.dw0 = dw0;
    c.dw1 = dw1;
    return p.SendPdu(nv::EncodeCapsuleResp(c, p.tx));
  }
  bool SendData(NvmeTestPeer& p, uint16_t cid, std::span<const uint8_t> data, bool success = false) {
    nv::C2HData d;
    d.cccid = cid;
    d.datal = uint32_t(data.size());
    d.last = true;
    d.success = success;
    auto pre = nv::EncodeC2HData(d, p.tx);
    return pre.ok() && p.SendPdu(*pre, data);
  }

  void Serve(int fd, bool admin) {
    NvmeTestPeer p(fd, nv::Role::kController, 20000);
    auto ic = p.ReadPdu();
    if (!ic) return;
    const auto* req = std::get_if<nv::ICReq>(&ic->pdu);
    if (req == nullptr) return;
    nv::ICResp resp;
    resp.header_digest = req->header_digest;
    resp.data_digest = req->data_digest;
    resp.maxh2cdata = 16384;
    if (admin && o_.what == Misbehave::kExtraDigest) {
      resp.header_digest = true;
      const nv::PduPrefix pre = nv::EncodeICResp(resp);
      Quote(pre.bytes());
      p.Send(pre.bytes());
      Observe(p);
      return;
    }
    if (!p.Send(nv::EncodeICResp(resp).bytes())) return;
    p.tx.header_digest = p.rx.header_digest = req->header_digest;
    p.tx.data_digest = p.rx.data_digest = req->data_digest;
    p.rx.initialized = true;
    std::vector<uint16_t> held;
    uint32_t cc = 0;
    for (;;) {
      auto r = p.ReadPdu();
      if (!r) return;
      const auto* cmd = std::get_if<nv::CapsuleCmd>(&r->pdu);
      if (cmd == nullptr) {
        if (const auto* t = std::get_if<nv::TermReq>(&r->pdu)) {
          std::lock_guard<std::mutex> l(mu_);
          seen_.term_reqs.push_back(*t);
        }
        return;
      }
      const nv::Sqe& s = cmd->sqe;
      if (s.opcode == nv::kFabricsOpcode) {
        const uint8_t fctype = nv::FabricsType(s);
        if (fctype == nv::kFctypeConnect) {
          SendResp(p, s.cid, 0, admin ? kCntlid : 0);
        } else if (fctype == nv::kFctypePropertyGet) {
          const auto prop = nv::DecodeProperty(s);
          uint64_t v = 0;
          if (prop->offset == nv::kPropertyCap) {
            nv::Capabilities cap;
            cap.max_queue_entries = 128;
            cap.timeout_500ms = 2;
            cap.css = 1;
            v = nv::EncodeCap(cap);
          } else if (prop->offset == nv::kPropertyCsts) {
            nv::ControllerStatus st;
            st.ready = (cc & 1) != 0;
            st.shst = nv::DecodeCc(cc).shn != 0 ? nv::kShutdownStatusComplete : 0;
            v = nv::EncodeCsts(st);
          } else if (prop->offset == nv::kPropertyVs) {
            v = nv::kVersion1_4;
          }
          SendResp(p, s.cid, 0, uint32_t(v), uint32_t(v >> 32));
        } else {
          cc = uint32_t(nv::DecodeProperty(s)->value);
          SendResp(p, s.cid);
        }
        continue;
      }
      if (admin) {
        if (!Admin(p, s)) return;
        continue;
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        ++seen_.io_commands;
      }
      if (s.opcode == nv::kIoRead) {
        const nv::BlockRange br = nv::DecodeBlockRange(s);
        const uint64_t off = br.slba * 512, len = uint64_t(br.blocks) * 512;
        switch (o_.what) {
          case Misbehave::kIgnoreReads:
            continue;
          case Misbehave::kReadError:
            if (br.slba == o_.error_lba) {
              SendResp(p, s.cid, o_.error_status);
              continue;
            }
            break;
          case Misbehave::kTermReqOnRead:
          case Misbehave::kDropMidRead:
          case Misbehave::kBadDataDigest:
          case Misbehave::kWrongCidResp:
          case Misbehave::kWrongCidData:
            held.push_back(s.cid);
            if (int(held.size()) < o_.hold) continue;
            Violate(p, held.front(), off, len);
            return;
          default:
            break;
        }
        std::vector<uint8_t> data = Store(off, len);
        SendData(p, s.cid, data, (s.cid & 1) != 0);  // odd CIDs: SUCCESS, no CapsuleResp
        if ((s.cid & 1) == 0) SendResp(p, s.cid);
        continue;
      }
      if (s.opcode == nv::kIoWrite) {
        const nv::BlockRange br = nv::DecodeBlockRange(s);
        const uint64_t off = br.slba * 512, len = uint64_t(br.blocks) * 512;
        std::vector<uint8_t> data = r->data;
        if (data.empty()) {
          nv::R2T t{s.cid, uint16_t(s.cid + 100), 0, uint32_t(len)};
          p.SendPdu(nv::EncodeR2T(t, p.tx));
          while (data.size() < len) {
            auto h = p.ReadPdu();
            if (!h) return;
            const auto* d = std::get_if<nv::H2CData>(&h->pdu);
            if (d == nullptr || !h->data_digest_ok) return;
            data.insert(data.end(), h->data.begin(), h->data.end());
          }
        }
        {
          std::lock_guard<std::mutex> l(mu_);
          std::copy(data.begin(), data.end(), store_.begin() + off);
        }
        SendResp(p, s.cid);
        continue;
      }
      SendResp(p, s.cid);  // flush, write zeroes, DSM
    }
  }

  bool Admin(NvmeTestPeer& p, const nv::Sqe& s) {
    switch (s.opcode) {
      case nv::kAdminIdentify: {
        const nv::IdentifyCommand id = nv::DecodeIdentify(s);
        Result<nv::IdentifyPage> page = Status::InvalidArgument("no page");
        if (id.cns == nv::kCnsController) {
          nv::ControllerIdentity c;
          c.serial = "FAKE1";
          c.model = "fake controller";
          c.firmware = "1";
          c.mdts = 5;
          c.cntlid = kCntlid;
          c.version = nv::kVersion1_4;
          c.cntrltype = nv::kControllerTypeIo;
          c.kas = 1;
          c.maxcmd = 128;
          c.nn = 1;
          c.oncs = nv::kOncsDsm | nv::kOncsWriteZeroes;
          c.sgls = nv::kSglsSupported | nv::kSglsOffset;
          c.subnqn = kNqn;
          c.ioccsz = (8192 + 64) / 16;
          c.iorcsz = 1;
          page = nv::BuildIdentifyController(c);
        } else {
          nv::NamespaceIdentity ns;
          ns.nsze = ns.ncap = ns.nuse = kDeviceBytes / 512;
          page = nv::BuildIdentifyNamespace(ns);
        }
        return SendData(p, s.cid, std::span<const uint8_t>(page->data(), s.sgl1.length)) && SendResp(p, s.cid);
      }
      case nv::kAdminSetFeatures:
        return SendResp(p, s.cid, 0, *nv::EncodeQueueCount({4, 4}));
      case nv::kAdminKeepAlive:
        if (o_.what == Misbehave::kIgnoreKeepAlive) return true;
        return SendResp(p, s.cid);
      default:
        return SendResp(p, s.cid, nv::MakeStatus(nv::kScInvalidOpcode, true));
    }
  }

  void Violate(NvmeTestPeer& p, uint16_t cid, uint64_t off, uint64_t len) {
    switch (o_.what) {
      case Misbehave::kTermReqOnRead: {
        nv::TermReq t;
        t.fes = nv::kFesPduSequenceError;
        p.SendPdu(nv::EncodeTermReq(nv::Role::kController, t));
        Observe(p);
        return;
      }
      case Misbehave::kDropMidRead: {
        nv::C2HData d;
        d.cccid = cid;
        d.datal = uint32_t(len);
        d.last = true;
        auto pre = nv::EncodeC2HData(d, p.tx);
        std::vector<uint8_t> b(pre->buf.begin(), pre->buf.begin() + pre->size);
        std::vector<uint8_t> half = Store(off, len / 3);
        b.insert(b.end(), half.begin(), half.end());
        p.Send(b);
        ::shutdown(p.fd(), SHUT_RDWR);
        std::lock_guard<std::mutex> l(mu_);
        violation_done_ = true;
        cv_.notify_all();
        return;
      }
      case Misbehave::kBadDataDigest: {
        nv::C2HData d;
        d.cccid = cid;
        d.datal = uint32_t(len);
        d.last = true;
        auto pre = nv::EncodeC2HData(d, p.tx);
        std::vector<uint8_t> data = Store(off, len);
        p.SendPdu(*pre, data, /*bad_data_digest=*/true);
        SendResp(p, cid);
        Observe(p);
        return;
      }
      case Misbehave::kWrongCidResp: {
        nv::Cqe c;
        c.cid = uint16_t(cid + 77);
        const nv::PduPrefix pre = nv::EncodeCapsuleResp(c, p.tx);
        Quote(pre.bytes());
        p.SendPdu(pre);
        Observe(p);
        return;
      }
      case Misbehave::kWrongCidData: {
        nv::C2HData d;
        d.cccid = uint16_t(cid + 77);
        d.datal = 512;
        d.last = true;
        auto pre = nv::EncodeC2HData(d, p.tx);
        Quote(std::span<const uint8_t>(pre->buf.data(), pre->size));
        std::vector<uint8_t> data(512, 0xAB);
        p.SendPdu(*pre, data);
        Observe(p);
        return;
      }
      default:
        return;
    }
  }

  FakeOptions o_;
  int lfd_ = -1;
  uint16_t port_ = 0;
  std::thread accept_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  std::vector<uint8_t> store_;
  Seen seen_;
  bool violation_done_ = false;
};

struct Outcome {
  int completions = 0;
  Status status;
};

Task<void> ReadInto(NvmeTcpDevice& d, uint64_t off, std::span<uint8_t> b, Outcome* out) {
  out->status = co_await d.Read(off, b);
  ++out->completions;
}

class NvmeTcpDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::alarm(120);
    auto r = Reactor::Create();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reactor_ = std::move(r).value();
  }
  void TearDown() override {
    if (dev_) {
      Status s = Run(dev_->Close());  // must return whatever the fake did
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    dev_.reset();
    fake_.reset();
    ::alarm(0);
  }
  template <typename T>
  T Run(Task<T> t) {
    return reactor_->RunUntilComplete(std::move(t));
  }
  std::string Uri(const std::string& query = "") const {
    return fmt::format("nvme+tcp://127.0.0.1:{}/{}?hostnqn={}{}{}", fake_->port(), kNqn, kHost,
                       query.empty() ? "" : "&", query);
  }
  Result<std::unique_ptr<NvmeTcpDevice>> Connect(FakeOptions fo, const std::string& query = "",
                                                 NvmeTcpDevice::Options o = {}) {
    fake_ = std::make_unique<FakeController>(fo);
    o.log = [this](std::string_view l) { log_.emplace_back(l); };
    return Run(NvmeTcpDevice::Connect(*reactor_, Uri(query), std::move(o)));
  }
  void ConnectOk(FakeOptions fo, const std::string& query = "", NvmeTcpDevice::Options o = {}) {
    if (o.kato_ms == 10'000) o.kato_ms = 0;  // no keep-alive traffic unless a test asks
    auto d = Connect(fo, query, std::move(o));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dev_ = std::move(d).value();
  }
  // `n` reads of 16 KiB at once; every one must complete exactly once.
  std::vector<Outcome> ReadsInFlight(int n, std::vector<std::vector<uint8_t>>& bufs) {
    std::vector<Outcome> out(static_cast<size_t>(n));
    bufs.assign(size_t(n), std::vector<uint8_t>(16384));
    std::vector<Task<void>> parts;
    for (int i = 0; i < n; ++i) parts.push_back(ReadInto(*dev_, uint64_t(i) * 65536, bufs[size_t(i)], &out[size_t(i)]));
    Run(WhenAll(std::move(parts)));
    for (int i = 0; i < n; ++i) EXPECT_EQ(out[size_t(i)].completions, 1) << "read " << i;
    return out;
  }
  // Every outcome failed with a device-scoped error; a later command fails too, without
  // reaching the controller.
  void ExpectDeviceDead(const std::vector<Outcome>& out, const std::string& needle) {
    for (size_t i = 0; i < out.size(); ++i) {
      EXPECT_FALSE(out[i].status.ok()) << "read " << i;
      EXPECT_EQ(out[i].status.scope(), Scope::kDevice) << "read " << i << ": " << out[i].status.ToString();
      EXPECT_NE(out[i].status.message().find(needle), std::string::npos) << out[i].status.ToString();
    }
    EXPECT_FALSE(dev_->connected());
    const int before = fake_->seen().io_commands;
    std::vector<uint8_t> b(4096);
    Status later = Run(dev_->Read(0, b));
    EXPECT_FALSE(later.ok());
    EXPECT_EQ(later.scope(), Scope::kDevice) << later.ToString();
    Status w = Run(dev_->Write(0, b));
    EXPECT_EQ(w.scope(), Scope::kDevice) << w.ToString();
    EXPECT_EQ(Run(dev_->Flush()).scope(), Scope::kDevice);
    EXPECT_EQ(fake_->seen().io_commands, before) << "a command after the death reached the controller";
  }

  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<FakeController> fake_;
  std::unique_ptr<NvmeTcpDevice> dev_;
  std::vector<std::string> log_;
};

TEST_F(NvmeTcpDeviceTest, WellBehavedFakeServesIo) {
  ASSERT_NO_FATAL_FAILURE(ConnectOk({}, "digest=header,data"));
  EXPECT_EQ(dev_->info().size_bytes, kDeviceBytes);
  EXPECT_EQ(dev_->cntlid(), kCntlid);
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<Outcome> out = ReadsInFlight(6, bufs);
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_TRUE(out[i].status.ok()) << out[i].status.ToString();
    EXPECT_EQ(bufs[i], fake_->Store(i * 65536, 16384));
  }
  std::vector<uint8_t> w(20480, 0x5C);  // by R2T
  ASSERT_TRUE(Run(dev_->Write(4096, w)).ok());
  EXPECT_EQ(fake_->Store(4096, w.size()), w);
  EXPECT_TRUE(dev_->connected());
  EXPECT_TRUE(log_.empty());
}

// ---- error status: one command's range error, nothing else ------------------------------------

TEST_F(NvmeTcpDeviceTest, UnrecoveredReadErrorIsARangeErrorOfThatCommandOnly) {
  FakeOptions fo;
  fo.what = Misbehave::kReadError;
  fo.error_lba = 256;
  fo.error_status = nv::MakeStatus(nv::kScUnrecoveredReadError, true);
  ASSERT_NO_FATAL_FAILURE(ConnectOk(fo));
  std::vector<Outcome> out(3);
  std::vector<std::vector<uint8_t>> b(3, std::vector<uint8_t>(4096));
  std::vector<Task<void>> parts;
  parts.push_back(ReadInto(*dev_, 0, b[0], &out[0]));
  parts.push_back(ReadInto(*dev_, 256 * 512, b[1], &out[1]));
  parts.push_back(ReadInto(*dev_, 512 * 512, b[2], &out[2]));
  Run(WhenAll(std::move(parts)));
  EXPECT_TRUE(out[0].status.ok() && out[2].status.ok());
  EXPECT_EQ(out[1].completions, 1);
  EXPECT_EQ(out[1].status.code(), Code::kIoError) << out[1].status.ToString();
  EXPECT_EQ(out[1].status.scope(), Scope::kRange) << out[1].status.ToString();
  EXPECT_NE(out[1].status.message().find("read of 4096 bytes at 131072"), std::string::npos) << out[1].status.ToString();
  EXPECT_NE(out[1].status.message().find("unrecovered read error"), std::string::npos) << out[1].status.ToString();
  EXPECT_EQ(b[0], fake_->Store(0, 4096));
  EXPECT_TRUE(dev_->connected());
  std::vector<uint8_t> again(4096);
  EXPECT_TRUE(Run(dev_->Read(1024 * 512, again)).ok());
  EXPECT_TRUE(log_.empty());
}

TEST_F(NvmeTcpDeviceTest, NamespaceNotReadyIsDeviceScoped) {
  FakeOptions fo;
  fo.what = Misbehave::kReadError;
  fo.error_lba = 0;
  fo.error_status = nv::MakeStatus(nv::kScNamespaceNotReady, false);
  ASSERT_NO_FATAL_FAILURE(ConnectOk(fo));
  std::vector<uint8_t> b(4096);
  Status s = Run(dev_->Read(0, b));
  EXPECT_EQ(s.scope(), Scope::kDevice) << s.ToString();
}

// ---- transport failures: the whole device ------------------------------------------------------

TEST_F(NvmeTcpDeviceTest, CommandNeverAnsweredTimesOutAndFailsEverythingInFlight) {
  FakeOptions fo;
  fo.what = Misbehave::kIgnoreReads;
  NvmeTcpDevice::Options o;
  o.command_timeout_ns = 1000 * kMsNs;
  ASSERT_NO_FATAL_FAILURE(ConnectOk(fo, "queues=2", o));
  ASSERT_EQ(dev_->io_queues(), 2u);
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<Outcome> out = ReadsInFlight(5, bufs);
  for (const Outcome& r : out) EXPECT_EQ(r.status.code(), Code::kTimedOut) << r.status.ToString();
  ASSERT_NO_FATAL_FAILURE(ExpectDeviceDead(out, "got no answer within 1000 ms"));
  ASSERT_FALSE(log_.empty());
  EXPECT_NE(log_[0].find("got no answer within 1000 ms"), std::string::npos) << log_[0];
}

TEST_F(NvmeTcpDeviceTest, C2HTermReqKillsTheDeviceAndIsNotAnswered) {
  FakeOptions fo;
  fo.what = Misbehave::kTermReqOnRead;
  fo.hold = 3;
  ASSERT_NO_FATAL_FAILURE(ConnectOk(fo));
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<Outcome> out = ReadsInFlight(3, bufs);
  ASSERT_NO_FATAL_FAILURE(ExpectDeviceDead(out, "the controller terminated the connection"));
  ASSERT_TRUE(fake_->WaitViolationSeen());
  const Seen seen = fake_->seen();
  EXPECT_TRUE(seen.term_reqs.empty()) << "a TermReq was answered with a TermReq";
  EXPECT_TRUE(seen.closed_after_violation);
}

TEST_F(NvmeTcpDeviceTest, ConnectionDroppedInsideC2HData) {
  FakeOptions fo;
  fo.what = Misbehave::kDropMidRead;
  fo.hold = 4;
  ASSERT_NO_FATAL_FAILURE(ConnectOk(fo, "digest=header"));
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<Outcome> out = ReadsInFlight(4, bufs);
  ASSERT_NO_FATAL_FAILURE(ExpectDeviceDead(out, "I/O queue 1"));
  EXPECT_NE(out[0].status.message().find("the connection ended inside C2HData"), std::string::npos)
      << out[0].status.ToString();
}

TEST_F(NvmeTcpDeviceTest, BadDataDigestKillsTheDevice) {
  FakeOptions fo;
  fo.what = Misbehave::kBadDataDigest;
  fo.hold = 2;
  ASSERT_NO_FATAL_FAILURE(ConnectOk(fo, "digest=data"));
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<Outcome> out = ReadsInFlight(2, bufs);
  ASSERT_NO_FATAL_FAILURE(ExpectDeviceDead(out, "data digest error in C2HData"));
  ASSERT_TRUE(fake_->WaitViolationSeen());
  // Not a framing error: no TermReq, just the close.
  EXPECT_TRUE(fake_->seen().term_reqs.empty());
  EXPECT_TRUE(fake_->seen().closed_after_violation);
}

TEST_F(NvmeTcpDeviceTest, CapsuleRespForACidNotInFlightIsRefusedWithATermReq) {
  FakeOptions fo;
  fo.what = Misbehave::kWrongCidResp;
  fo.hold = 2;
  ASSERT_NO_FATAL_FAILURE(ConnectOk(fo, "digest=header,data"));
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<Outcome> out = ReadsInFlight(2, bufs);
  ASSERT_NO_FATAL_FAILURE(ExpectDeviceDead(out, "CapsuleResp: CID not in flight"));
  ASSERT_TRUE(fake_->WaitViolationSeen());
  const Seen seen = fake_->seen();
  ASSERT_EQ(seen.term_reqs.size(), 1u);
  EXPECT_EQ(seen.term_reqs[0].fes, nv::kFesInvalidHeaderField);
  EXPECT_EQ(seen.term_reqs[0].fei, 20u);  // the CQE's CID
  ASSERT_EQ(seen.quoted_headers.size(), 1u);
  const auto quote = seen.term_reqs[0].error_header();
  EXPECT_TRUE(std::equal(quote.begin(), quote.end(), seen.quoted_headers[0].begin(), seen.quoted_headers[0].end()))
      << "the TermReq quotes " << quote.size() << " bytes, not the CapsuleResp";
  EXPECT_EQ(seen.pdus_after_term_req, 0u);
  EXPECT_TRUE(seen.closed_after_violation);
}

TEST_F(NvmeTcpDeviceTest, C2HDataForACidNotInFlightIsRefusedWithATermReq) {
  FakeOptions fo;
  fo.what = Misbehave::kWrongCidData;
  fo.hold = 3;
  ASSERT_NO_FATAL_FAILURE(ConnectOk(fo));
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<Outcome> out = ReadsInFlight(3, bufs);
  ASSERT_NO_FATAL_FAILURE(ExpectDeviceDead(out, "CCCID is not a read in flight"));
  ASSERT_TRUE(fake_->WaitViolationSeen());
  const Seen seen = fake_->seen();
  ASSERT_EQ(seen.term_reqs.size(), 1u);
  EXPECT_EQ(seen.term_reqs[0].fes, nv::kFesInvalidHeaderField);
  EXPECT_EQ(seen.term_reqs[0].fei, 8u);  // CCCID
  ASSERT_EQ(seen.quoted_headers.size(), 1u);
  const auto quote = seen.term_reqs[0].error_header();
  EXPECT_TRUE(std::equal(quote.begin(), quote.end(), seen.quoted_headers[0].begin(), seen.quoted_headers[0].end()))
      << "the TermReq quotes " << quote.size() << " bytes, not the C2HData header";
  EXPECT_TRUE(seen.closed_after_violation);
}

TEST_F(NvmeTcpDeviceTest, ICRespEnablingADigestNotAskedForIsRefused) {
  FakeOptions fo;
  fo.what = Misbehave::kExtraDigest;
  auto d = Connect(fo);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("ICResp: enables a digest the host did not request"), std::string::npos)
      << d.status().ToString();
  EXPECT_NE(d.status().message().find(kNqn), std::string::npos) << d.status().ToString();
  ASSERT_TRUE(fake_->WaitViolationSeen());
  const Seen seen = fake_->seen();
  ASSERT_EQ(seen.term_reqs.size(), 1u) << "no H2CTermReq for the bad ICResp";
  EXPECT_EQ(seen.term_reqs[0].fes, nv::kFesUnsupportedParameter);
  EXPECT_EQ(seen.term_reqs[0].fei, 11u);  // DGST
  ASSERT_EQ(seen.quoted_headers.size(), 1u);
  const auto quote = seen.term_reqs[0].error_header();
  EXPECT_TRUE(std::equal(quote.begin(), quote.end(), seen.quoted_headers[0].begin(), seen.quoted_headers[0].end()));
  EXPECT_TRUE(seen.closed_after_violation);
  EXPECT_EQ(seen.connections, 1);
}

TEST_F(NvmeTcpDeviceTest, UnansweredKeepAliveKillsEveryQueue) {
  FakeOptions fo;
  fo.what = Misbehave::kIgnoreKeepAlive;
  NvmeTcpDevice::Options o;
  o.kato_ms = 400;  // a Keep Alive every 200 ms ...
  o.command_timeout_ns = 500 * kMsNs;  // ... that times out on the admin queue
  ASSERT_NO_FATAL_FAILURE(ConnectOk(fo, "queues=2", o));
  ASSERT_TRUE(Run([](Reactor& r, NvmeTcpDevice& d) -> Task<bool> {
    const uint64_t until = SystemClock::Get().NowNs() + 30'000 * kMsNs;
    while (d.connected() && SystemClock::Get().NowNs() < until) (void)co_await r.Sleep(10 * kMsNs);
    co_return !d.connected();
  }(*reactor_, *dev_)));
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<Outcome> out = ReadsInFlight(2, bufs);
  ASSERT_NO_FATAL_FAILURE(ExpectDeviceDead(out, "keep alive failed"));
}

}  // namespace
}  // namespace meshraid::io
