// Our NVMe/TCP target against a raw client (io::testing::NvmeTestPeer on a blocking loopback
// socket) that sends exactly the bytes each case needs: every kind of malformed PDU header gets
// a C2HTermReq with the FES/FEI of doc/nvme_tcp.md (type 0x03, hlen 24, quoting a prefix of what
// was sent) and then the connection closes; a bad TermReq is never answered; after each case a
// fresh connection is still served (bring-up and one read). Commands with bad fields get the
// right CQE status. The target runs on its own reactor thread; client reads time out.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "export/nvme_target.h"
#include "io/mem_device.h"
#include "io/nvme_test_peer.h"
#include "io/reactor.h"
#include "io/sync.h"
#include "proto/nvme_command.h"
#include "proto/nvme_fabrics.h"
#include "proto/nvme_status.h"
#include "proto/nvme_tcp.h"
#include "util/crc32c.h"
#include "util/endian.h"

namespace meshraid::exports {
namespace {

namespace nv = proto::nvme;
using io::testing::NvmeTestPeer;

constexpr uint64_t kDeviceBytes = 16u << 20;
constexpr uint64_t kBlocks = kDeviceBytes / 512;
constexpr char kNqn[] = "nqn.2026-01.io.meshraid:raw-pdu-test";
constexpr char kHost[] = "nqn.2014-08.org.nvmexpress:uuid:12345678-9abc-4def-8123-456789abcdef";

// The target over a MemDevice on its own reactor thread, listening on 127.0.0.1:0.
class TargetThread {
 public:
  TargetThread() {
    std::promise<void> ready;
    thread_ = std::thread([this, &ready] { Body(&ready); });
    ready.get_future().wait();
  }
  ~TargetThread() { Stop(); }
  uint16_t port() const { return port_; }
  void Stop() {
    if (!thread_.joinable()) return;
    reactor_->Post([this] { stop_->Set(); });
    thread_.join();
  }
  void OnReactor(std::function<void()> fn) {
    std::promise<void> done;
    reactor_->Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  std::vector<uint8_t> Peek(uint64_t off, uint64_t len) {
    std::vector<uint8_t> out;
    OnReactor([&] { out = mem_->Peek(off, len); });
    return out;
  }
  void Poke(uint64_t off, std::vector<uint8_t> data) {
    OnReactor([&] { mem_->Poke(off, data); });
  }
  size_t live_sessions() {
    size_t n = 0;
    OnReactor([&] { n = target_->live_sessions(); });
    return n;
  }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }
  bool LogHas(const std::string& needle) {
    for (const std::string& l : log()) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

 private:
  io::Task<void> Main() {
    co_await stop_->Wait();
    co_await target_->Stop();
  }
  void Body(std::promise<void>* ready) {
    auto r = io::Reactor::Create();
    if (!r.ok()) Die(r.status());
    reactor_ = std::move(*r);
    mem_ = std::make_unique<io::MemDevice>(*reactor_, io::MemDevice::Options{kDeviceBytes, 512, 4096, "mem"});
    NvmeSubsystem sub;
    sub.nqn = kNqn;
    sub.device = mem_.get();
    sub.serial = "RAWPDU";
    sub.allowed_hosts = {kHost};
    NvmeTarget::Options o;
    o.listen.kind = ListenAddress::Kind::kTcp;
    o.listen.host = "127.0.0.1";
    o.listen.port = 0;
    o.log = [this](std::string_view l) {
      std::lock_guard<std::mutex> lock(mu_);
      log_.emplace_back(l);
    };
    auto t = NvmeTarget::Create(*reactor_, std::move(sub), std::move(o));
    if (!t.ok()) Die(t.status());
    target_ = std::move(*t);
    target_->Start();
    port_ = uint16_t(std::stoi(target_->address().substr(target_->address().rfind(':') + 1)));
    stop_ = std::make_unique<io::Event>(*reactor_);
    ready->set_value();
    reactor_->RunUntilComplete(Main());
    target_.reset();
    (void)reactor_->RunUntilComplete(mem_->Close());
    stop_.reset();
    mem_.reset();
    reactor_.reset();
  }
  [[noreturn]] static void Die(const Status& s) {
    std::fprintf(stderr, "target thread: %s\n", s.ToString().c_str());
    std::abort();
  }

  std::thread thread_;
  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::MemDevice> mem_;
  std::unique_ptr<NvmeTarget> target_;
  std::unique_ptr<io::Event> stop_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::string> log_;
};

// A raw host: the bring-up steps and commands, by hand.
class RawHost {
 public:
  explicit RawHost(uint16_t port) : peer_(io::testing::ConnectLoopback(port), nv::Role::kHost) {}
  NvmeTestPeer& peer() { return peer_; }
  bool ok() const { return peer_.fd() >= 0; }

  // ICReq, then the ICResp must echo the digests.
  bool Initialize(bool hd = false, bool dd = false) {
    nv::ICReq req;
    req.header_digest = hd;
    req.data_digest = dd;
    if (!peer_.Send(nv::EncodeICReq(req).bytes())) return false;
    peer_.rx.header_digest = hd;
    peer_.rx.data_digest = dd;
    auto r = peer_.ReadPdu();
    if (!r) return false;
    const auto* resp = std::get_if<nv::ICResp>(&r->pdu);
    if (resp == nullptr || resp->header_digest != hd || resp->data_digest != dd) return false;
    peer_.rx.initialized = true;
    peer_.tx.header_digest = hd;
    peer_.tx.data_digest = dd;
    peer_.tx.pda = resp->cpda;
    maxh2cdata_ = resp->maxh2cdata;
    return true;
  }
  // A capsule; in-capsule data when `data` is given (and the SGL is set to it).
  bool SendCapsule(nv::Sqe sqe, std::span<const uint8_t> data = {}) {
    if (!data.empty()) sqe.sgl1 = {0, uint32_t(data.size()), nv::kSglInCapsule};
    auto p = nv::EncodeCapsuleCmd(sqe, uint32_t(data.size()), peer_.tx);
    return p.ok() && peer_.SendPdu(*p, data);
  }
  // Reads PDUs until the CapsuleResp of `cid`: C2HData lands in `in`, R2Ts are answered from
  // `out` (in MAXH2CDATA pieces). nullopt on anything else.
  std::optional<nv::Cqe> Await(uint16_t cid, std::span<uint8_t> in = {}, std::span<const uint8_t> out = {}) {
    for (;;) {
      auto r = peer_.ReadPdu();
      if (!r) return std::nullopt;
      if (const auto* c = std::get_if<nv::CapsuleResp>(&r->pdu)) {
        if (c->cqe.cid != cid) return std::nullopt;
        return c->cqe;
      }
      if (const auto* d = std::get_if<nv::C2HData>(&r->pdu)) {
        if (d->cccid != cid || uint64_t(d->datao) + d->datal > in.size() || !r->data_digest_ok) return std::nullopt;
        std::copy(r->data.begin(), r->data.end(), in.begin() + d->datao);
        if (d->success) {
          nv::Cqe ok;
          ok.cid = cid;
          return ok;
        }
        continue;
      }
      if (const auto* t = std::get_if<nv::R2T>(&r->pdu)) {
        if (t->cccid != cid || uint64_t(t->r2to) + t->r2tl > out.size()) return std::nullopt;
        for (uint32_t done = 0; done < t->r2tl;) {
          const uint32_t n = std::min(t->r2tl - done, maxh2cdata_);
          if (!SendH2CData(cid, t->ttag, t->r2to + done, out.subspan(t->r2to + done, n), done + n == t->r2tl)) {
            return std::nullopt;
          }
          done += n;
        }
        continue;
      }
      return std::nullopt;
    }
  }
  bool SendH2CData(uint16_t cccid, uint16_t ttag, uint32_t datao, std::span<const uint8_t> data, bool last) {
    nv::H2CData h{cccid, ttag, datao, uint32_t(data.size()), last};
    auto p = nv::EncodeH2CData(h, peer_.tx);
    return p.ok() && peer_.SendPdu(*p, data);
  }
  std::optional<nv::Cqe> Command(nv::Sqe sqe, std::span<uint8_t> in = {}, std::span<const uint8_t> out = {}) {
    sqe.cid = next_cid_++;
    if (!in.empty()) sqe.sgl1 = {0, uint32_t(in.size()), nv::kSglTransportData};
    const bool in_capsule = !out.empty() && out.size() <= 8192;
    if (!out.empty() && !in_capsule) sqe.sgl1 = {0, uint32_t(out.size()), nv::kSglTransportData};
    if (!SendCapsule(sqe, in_capsule ? out : std::span<const uint8_t>())) return std::nullopt;
    return Await(sqe.cid, in, out);
  }

  static std::array<uint8_t, nv::kConnectDataSize> ConnectData(uint16_t cntlid, const std::string& subnqn = kNqn,
                                                               const std::string& hostnqn = kHost) {
    nv::ConnectData d;
    d.hostid[0] = 0x42;
    d.cntlid = cntlid;
    d.subnqn = subnqn;
    d.hostnqn = hostnqn;
    return *nv::EncodeConnectData(d);
  }
  static nv::Sqe ConnectSqe(uint16_t qid, uint32_t kato_ms = 0) {
    nv::ConnectCommand c;
    c.qid = qid;
    c.queue_entries = qid == 0 ? 32 : 64;
    c.kato_ms = kato_ms;
    return *nv::MakeConnect(0, c, {});
  }
  // Admin bring-up: Connect, CC.EN, Number of Queues (1). The CNTLID, or 0.
  uint16_t BringUpAdmin() {
    const auto data = ConnectData(nv::kDynamicCntlid);
    auto c = Command(ConnectSqe(0), {}, data);
    if (!c || !nv::StatusOk(c->status)) return 0;
    const uint16_t cntlid = nv::ConnectResponseCntlid(*c);
    nv::Configuration cc;
    cc.enable = true;
    cc.iosqes = 6;
    cc.iocqes = 4;
    c = Command(nv::MakePropertySet(0, nv::kPropertyCc, nv::EncodeCc(cc), false));
    if (!c || !nv::StatusOk(c->status)) return 0;
    nv::FeatureCommand f;
    f.fid = nv::kFeatureNumberOfQueues;
    f.cdw11 = *nv::EncodeQueueCount({1, 1});
    c = Command(nv::MakeSetFeatures(0, f));
    if (!c || !nv::StatusOk(c->status)) return 0;
    return cntlid;
  }
  bool ConnectIo(uint16_t cntlid) {
    const auto data = ConnectData(cntlid);
    auto c = Command(ConnectSqe(1), {}, data);
    return c && nv::StatusOk(c->status);
  }

  static nv::Sqe Rw(uint8_t opcode, uint64_t slba, uint32_t blocks, uint32_t nsid = 1) {
    nv::BlockRange r;
    r.slba = slba;
    r.blocks = blocks;
    return *nv::MakeBlockCommand(opcode, 0, nsid, r, {});
  }

 private:
  NvmeTestPeer peer_;
  uint32_t maxh2cdata_ = 4096;
  uint16_t next_cid_ = 1;
};

// An admin and an I/O queue of one association, brought up by hand.
struct RawAssociation {
  explicit RawAssociation(uint16_t port, bool hd = false, bool dd = false) : admin(port), io(port) {
    ok = admin.ok() && io.ok() && admin.Initialize(hd, dd) && (cntlid = admin.BringUpAdmin()) != 0 &&
         io.Initialize(hd, dd) && io.ConnectIo(cntlid);
  }
  RawHost admin;
  RawHost io;
  uint16_t cntlid = 0;
  bool ok = false;
};

// The bytes of a PDU's common header.
std::vector<uint8_t> Common(uint8_t type, uint8_t flags, uint8_t hlen, uint8_t pdo, uint32_t plen) {
  std::vector<uint8_t> b(8);
  b[0] = type;
  b[1] = flags;
  b[2] = hlen;
  b[3] = pdo;
  StoreLe32(b.data() + 4, plen);
  return b;
}

std::vector<uint8_t> Cat(std::vector<uint8_t> a, std::span<const uint8_t> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A Keep Alive capsule's header (72 bytes) for poking at.
std::vector<uint8_t> KeepAliveCapsule(const nv::TxOptions& tx, uint16_t cid = 9) {
  nv::Sqe sqe;
  sqe.opcode = nv::kAdminKeepAlive;
  sqe.flags = nv::kPsdtSgl;
  sqe.cid = cid;
  auto p = nv::EncodeCapsuleCmd(sqe, 0, tx);
  return std::vector<uint8_t>(p->buf.begin(), p->buf.begin() + p->size);
}

class RawPduTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::alarm(180);
    target_ = std::make_unique<TargetThread>();
  }
  void TearDown() override {
    target_->Stop();
    target_.reset();
    ::alarm(0);
  }

  // Reads the C2HTermReq: type 0x03, hlen 24, plen 24..152, FES/FEI as expected, the error
  // data a prefix of `sent`; then the connection must close with nothing after it.
  void ExpectTermReq(RawHost& h, uint16_t fes, uint32_t fei, std::span<const uint8_t> sent) {
    auto common = h.peer().Recv(8);
    ASSERT_TRUE(common.has_value()) << "no TermReq: " << h.peer().error;
    EXPECT_EQ((*common)[0], nv::kPduC2HTermReq);
    EXPECT_EQ((*common)[1], 0);
    EXPECT_EQ((*common)[2], nv::kTermReqHlen);
    EXPECT_EQ((*common)[3], 0);
    const uint32_t plen = LoadLe32(common->data() + 4);
    ASSERT_GE(plen, 24u);
    ASSERT_LE(plen, 152u);
    auto rest = h.peer().Recv(plen - 8);
    ASSERT_TRUE(rest.has_value()) << h.peer().error;
    EXPECT_EQ(LoadLe16(rest->data()), fes) << "FES";
    EXPECT_EQ(LoadLe32(rest->data() + 2), fei) << "FEI";
    const size_t quoted = plen - 24;
    EXPECT_LE(quoted, sent.size());
    EXPECT_TRUE(std::equal(rest->begin() + 16, rest->end(), sent.begin())) << "the quote is not what was sent";
    NvmeTestPeer::Closed c = h.peer().WaitClosed();
    EXPECT_TRUE(c.closed) << "the connection stayed open after the TermReq";
    EXPECT_TRUE(c.extra.empty()) << c.extra.size() << " bytes after the TermReq";
  }
  // The connection closes without any answer.
  void ExpectSilentClose(RawHost& h) {
    NvmeTestPeer::Closed c = h.peer().WaitClosed();
    EXPECT_TRUE(c.closed) << "the connection stayed open";
    EXPECT_TRUE(c.extra.empty()) << c.extra.size() << " bytes were sent back (a TermReq is never answered)";
  }
  // A fresh connection is served: bring-up and one read of what the device holds.
  void ExpectHealthy() {
    std::vector<uint8_t> want(4096);
    for (size_t i = 0; i < want.size(); ++i) want[i] = uint8_t(i * 7 + ++healthy_);
    target_->Poke(64 * 1024, want);
    RawAssociation a(target_->port());
    ASSERT_TRUE(a.ok) << "bring-up failed after the case: " << a.admin.peer().error << " / " << a.io.peer().error;
    std::vector<uint8_t> got(4096);
    auto c = a.io.Command(RawHost::Rw(nv::kIoRead, 128, 8), got);
    ASSERT_TRUE(c.has_value()) << a.io.peer().error;
    EXPECT_TRUE(nv::StatusOk(c->status)) << nv::StatusToString(c->status);
    EXPECT_EQ(got, want);
  }
  // One case on a fresh connection: `init` (ICReq with digests), then `bytes`, then the
  // expected TermReq (fes != 0) or a silent close (fes == 0); then a healthy connection.
  void Case(const std::string& what, bool init, bool hd, bool dd, std::vector<uint8_t> bytes, uint16_t fes,
            uint32_t fei) {
    SCOPED_TRACE(what);
    RawHost h(target_->port());
    ASSERT_TRUE(h.ok());
    if (init) {
      ASSERT_TRUE(h.Initialize(hd, dd));
    }
    ASSERT_TRUE(h.peer().Send(bytes));
    if (fes != 0) {
      ASSERT_NO_FATAL_FAILURE(ExpectTermReq(h, fes, fei, bytes));
      EXPECT_TRUE(target_->LogHas(fmt::format("(FES {}, FEI {})", fes, fei)));
    } else {
      ASSERT_NO_FATAL_FAILURE(ExpectSilentClose(h));
    }
    ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
  }

  std::unique_ptr<TargetThread> target_;
  int healthy_ = 0;
};

TEST_F(RawPduTest, HealthyBringUpAndRead) {
  ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
  RawAssociation a(target_->port(), true, true);
  ASSERT_TRUE(a.ok);
  std::vector<uint8_t> data(20000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i ^ (i >> 8));
  data.resize(20480);
  auto c = a.io.Command(RawHost::Rw(nv::kIoWrite, 1000, 40), {}, data);  // by R2T, digests on
  ASSERT_TRUE(c.has_value()) << a.io.peer().error;
  EXPECT_TRUE(nv::StatusOk(c->status)) << nv::StatusToString(c->status);
  EXPECT_EQ(target_->Peek(1000 * 512, data.size()), data);
}

// ---- the common header ----------------------------------------------------------------------

TEST_F(RawPduTest, WrongHeaderLengthPerType) {
  Case("ICReq hlen 127", false, false, false, Common(nv::kPduICReq, 0, 127, 0, 128), 1, 2);
  Case("CapsuleCmd hlen 24", true, false, false, Common(nv::kPduCapsuleCmd, 0, 24, 0, 24), 1, 2);
  Case("CapsuleCmd hlen 73", true, false, false, Common(nv::kPduCapsuleCmd, 0, 73, 0, 73), 1, 2);
  Case("H2CData hlen 72", true, false, false, Common(nv::kPduH2CData, nv::kFlagLastPdu, 72, 72, 72 + 512), 1, 2);
  // A TermReq with a wrong hlen is not answered.
  Case("H2CTermReq hlen 23", true, false, false, Common(nv::kPduH2CTermReq, 0, 23, 0, 24), 0, 0);
}

TEST_F(RawPduTest, PlenBelowHeaderLength) {
  Case("ICReq plen 100", false, false, false, Common(nv::kPduICReq, 0, 128, 0, 100), 1, 4);
  Case("CapsuleCmd plen 40", true, false, false, Common(nv::kPduCapsuleCmd, 0, 72, 0, 40), 1, 4);
  Case("CapsuleCmd with digest, plen 72", true, true, false, Common(nv::kPduCapsuleCmd, nv::kFlagHdgst, 72, 0, 72), 1, 4);
  Case("H2CData plen = pdo", true, false, false, Common(nv::kPduH2CData, nv::kFlagLastPdu, 24, 24, 24), 1, 4);
}

TEST_F(RawPduTest, BadDataOffset) {
  Case("ICReq pdo 128", false, false, false, Common(nv::kPduICReq, 0, 128, 128, 128), 1, 3);
  Case("CapsuleCmd pdo inside the header", true, false, false, Common(nv::kPduCapsuleCmd, 0, 72, 8, 72 + 512), 1, 3);
  Case("CapsuleCmd pdo inside the header digest", true, true, false,
       Common(nv::kPduCapsuleCmd, nv::kFlagHdgst, 72, 72, 72 + 4 + 512), 1, 3);
  Case("H2CData without pdo", true, false, false, Common(nv::kPduH2CData, nv::kFlagLastPdu, 24, 0, 24 + 512), 1, 3);
}

TEST_F(RawPduTest, ControllerToHostTypesAndUnknownTypes) {
  Case("ICResp to the controller", false, false, false, Common(nv::kPduICResp, 0, 128, 0, 128), 1, 0);
  Case("CapsuleResp to the controller", true, false, false, Common(nv::kPduCapsuleResp, 0, 24, 0, 24), 1, 0);
  Case("C2HData to the controller", true, false, false, Common(nv::kPduC2HData, nv::kFlagLastPdu, 24, 24, 24 + 512), 1, 0);
  Case("R2T to the controller", true, false, false, Common(nv::kPduR2T, 0, 24, 0, 24), 1, 0);
  Case("unknown type 0x08", true, false, false, Common(0x08, 0, 24, 0, 24), 1, 0);
  Case("unknown type 0x7f", true, false, false, Common(0x7f, 0, 24, 0, 24), 1, 0);
  // A C2HTermReq sent to the controller is a TermReq all the same: never answered.
  Case("C2HTermReq to the controller", true, false, false, Common(nv::kPduC2HTermReq, 0, 24, 0, 24), 0, 0);
}

// The first 8 bytes of `b`: a refusal from the common header alone reads no more, so a case
// sends no more (bytes left unread when the target closes would reset the connection).
std::vector<uint8_t> First8(std::span<const uint8_t> b) { return std::vector<uint8_t>(b.begin(), b.begin() + 8); }

TEST_F(RawPduTest, ConnectionPhase) {
  nv::TxOptions plain;
  Case("CapsuleCmd before the ICReq", false, false, false, First8(KeepAliveCapsule(plain)), 2, 0);
  Case("H2CData before the ICReq", false, false, false, Common(nv::kPduH2CData, nv::kFlagLastPdu, 24, 24, 24 + 512), 2,
       0);
  Case("ICReq twice", true, false, false, First8(nv::EncodeICReq({}).bytes()), 2, 0);
  // A TermReq before anything: closed, not answered.
  Case("H2CTermReq first", false, false, false, Cat(Common(nv::kPduH2CTermReq, 0, 24, 0, 24), std::vector<uint8_t>(16, 0)),
       0, 0);
}

// ---- digests ----------------------------------------------------------------------------------

TEST_F(RawPduTest, HeaderDigestMismatch) {
  nv::TxOptions hd;
  hd.header_digest = true;
  std::vector<uint8_t> b = KeepAliveCapsule(hd);
  ASSERT_EQ(b.size(), 76u);
  const uint32_t wrong = LoadLe32(b.data() + 72) ^ 0x00010000u;
  StoreLe32(b.data() + 72, wrong);
  Case("CapsuleCmd with a wrong header digest", true, true, false, b, 3, wrong);
  // One flipped bit in the header itself.
  b = KeepAliveCapsule(hd);
  const uint32_t received = LoadLe32(b.data() + 72);
  b[40] ^= 0x01;
  Case("CapsuleCmd with a flipped header bit", true, true, true, b, 3, received);
}

TEST_F(RawPduTest, DigestFlagsThatDisagreeWithTheNegotiation) {
  Case("HDGSTF without header digests", true, false, false, Common(nv::kPduCapsuleCmd, nv::kFlagHdgst, 72, 0, 76), 1,
       1);
  Case("no HDGSTF with header digests", true, true, false, Common(nv::kPduCapsuleCmd, 0, 72, 0, 72), 1, 1);
  Case("DDGSTF without data digests", true, false, false,
       Common(nv::kPduCapsuleCmd, nv::kFlagDdgst, 72, 72, 72 + 1024 + 4), 1, 1);
  Case("no DDGSTF on data with data digests", true, false, true, Common(nv::kPduCapsuleCmd, 0, 72, 72, 72 + 1024), 1,
       1);
  Case("DDGSTF on a capsule without data", true, false, true, Common(nv::kPduCapsuleCmd, nv::kFlagDdgst, 72, 0, 72), 1,
       1);
  Case("H2CData HDGSTF without header digests", true, false, false,
       Common(nv::kPduH2CData, nv::kFlagHdgst | nv::kFlagLastPdu, 24, 28, 28 + 512), 1, 1);
  Case("a flag CapsuleCmd does not have (LAST_PDU)", true, false, false,
       Common(nv::kPduCapsuleCmd, nv::kFlagLastPdu, 72, 0, 72), 1, 1);
  Case("a flag on an ICReq", false, false, false, Common(nv::kPduICReq, nv::kFlagHdgst, 128, 0, 128), 1, 1);
}

// ---- sizes --------------------------------------------------------------------------------------

TEST_F(RawPduTest, InCapsuleDataAboveTheLimit) {
  // 8 KiB on the admin queue (and before Connect).
  Case("admin capsule with 8196 bytes", true, false, false, Common(nv::kPduCapsuleCmd, 0, 72, 72, 72 + 8196), 5, 0);
  // I/O queues: in_capsule_bytes (8 KiB by default): one block more is refused, the limit is not.
  RawAssociation a(target_->port());
  ASSERT_TRUE(a.ok);
  std::vector<uint8_t> limit(8192, 0x5A);
  ASSERT_TRUE(a.io.SendCapsule(RawHost::Rw(nv::kIoWrite, 0, 16), limit));
  auto c = a.io.Await(0);
  ASSERT_TRUE(c.has_value()) << a.io.peer().error;
  EXPECT_TRUE(nv::StatusOk(c->status)) << nv::StatusToString(c->status);
  const std::vector<uint8_t> over = Common(nv::kPduCapsuleCmd, 0, 72, 72, 72 + 8192 + 512);
  ASSERT_TRUE(a.io.peer().Send(over));
  ASSERT_NO_FATAL_FAILURE(ExpectTermReq(a.io, 5, 0, over));
  ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
}

TEST_F(RawPduTest, TermReqWithABadLengthIsNotAnswered) {
  Case("H2CTermReq plen 20", true, false, false, Common(nv::kPduH2CTermReq, 0, 24, 0, 20), 0, 0);
  Case("H2CTermReq plen 153", true, false, false, Common(nv::kPduH2CTermReq, 0, 24, 0, 153), 0, 0);
  Case("H2CTermReq plen 4096", true, false, false, Common(nv::kPduH2CTermReq, 0, 24, 0, 4096), 0, 0);
  Case("H2CTermReq with pdo", true, false, false, Common(nv::kPduH2CTermReq, 0, 24, 24, 48), 0, 0);
  // A well-formed one ends the connection too, without an answer.
  nv::TermReq t;
  t.fes = nv::kFesInvalidHeaderField;
  t.fei = 3;
  const nv::PduPrefix valid = nv::EncodeTermReq(nv::Role::kHost, t);
  Case("a valid H2CTermReq", true, false, false, std::vector<uint8_t>(valid.bytes().begin(), valid.bytes().end()), 0,
       0);
}

// ---- H2CData against the transfer the target asked for ------------------------------------------

// H2CData header only: the target refuses it before reading its data.
std::vector<uint8_t> H2CDataHeader(const nv::TxOptions& tx, uint16_t cccid, uint16_t ttag, uint32_t datao,
                                   uint32_t datal, bool last) {
  auto p = nv::EncodeH2CData(nv::H2CData{cccid, ttag, datao, datal, last}, tx);
  return std::vector<uint8_t>(p->buf.begin(), p->buf.begin() + p->size);
}

TEST_F(RawPduTest, H2CDataForAnUnknownTtag) {
  nv::TxOptions plain;
  Case("H2CData with no R2T at all", true, false, false, H2CDataHeader(plain, 3, 3, 0, 512, true), 1, 10);
  // With an R2T outstanding, another TTAG is unknown too.
  RawAssociation a(target_->port());
  ASSERT_TRUE(a.ok);
  nv::Sqe w = RawHost::Rw(nv::kIoWrite, 0, 32);
  w.cid = 21;
  w.sgl1 = {0, 16384, nv::kSglTransportData};
  ASSERT_TRUE(a.io.SendCapsule(w));
  auto r = a.io.peer().ReadPdu();
  ASSERT_TRUE(r.has_value()) << a.io.peer().error;
  const auto* r2t = std::get_if<nv::R2T>(&r->pdu);
  ASSERT_NE(r2t, nullptr);
  EXPECT_EQ(r2t->cccid, 21);
  EXPECT_EQ(r2t->r2to, 0u);
  EXPECT_EQ(r2t->r2tl, 16384u);
  const std::vector<uint8_t> bad = H2CDataHeader(plain, 21, uint16_t(r2t->ttag + 1), 0, 4096, false);
  ASSERT_TRUE(a.io.peer().Send(bad));
  ASSERT_NO_FATAL_FAILURE(ExpectTermReq(a.io, 1, 10, bad));
  ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
}

// A Write of 16 KiB by R2T on a fresh association; the R2T it got.
struct PendingWrite {
  std::unique_ptr<RawAssociation> a;
  nv::R2T r2t;
};

PendingWrite StartR2TWrite(uint16_t port, bool hd, uint16_t cid = 33) {
  PendingWrite p;
  p.a = std::make_unique<RawAssociation>(port, hd, false);
  EXPECT_TRUE(p.a->ok);
  if (!p.a->ok) return p;
  nv::Sqe w = RawHost::Rw(nv::kIoWrite, 2048, 32);
  w.cid = cid;
  w.sgl1 = {0, 16384, nv::kSglTransportData};
  EXPECT_TRUE(p.a->io.SendCapsule(w));
  auto r = p.a->io.peer().ReadPdu();
  EXPECT_TRUE(r.has_value()) << p.a->io.peer().error;
  if (r) {
    const auto* t = std::get_if<nv::R2T>(&r->pdu);
    EXPECT_NE(t, nullptr);
    if (t) p.r2t = *t;
  }
  return p;
}

TEST_F(RawPduTest, H2CDataBeyondTheR2T) {
  for (bool hd : {false, true}) {
    SCOPED_TRACE(hd ? "header digests" : "no digests");
    PendingWrite p = StartR2TWrite(target_->port(), hd);
    ASSERT_TRUE(p.a && p.a->ok && p.r2t.r2tl == 16384u);
    nv::TxOptions tx;
    tx.header_digest = hd;
    const std::vector<uint8_t> bad = H2CDataHeader(tx, 33, p.r2t.ttag, 0, 16384 + 512, true);
    ASSERT_TRUE(p.a->io.peer().Send(bad));
    ASSERT_NO_FATAL_FAILURE(ExpectTermReq(p.a->io, 4, 0, bad));
    ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
  }
  // The second piece runs past the end.
  PendingWrite p = StartR2TWrite(target_->port(), false);
  ASSERT_TRUE(p.a && p.a->ok);
  std::vector<uint8_t> piece(8192, 0x11);
  ASSERT_TRUE(p.a->io.SendH2CData(33, p.r2t.ttag, 0, piece, false));
  const std::vector<uint8_t> bad = H2CDataHeader({}, 33, p.r2t.ttag, 8192, 12288, true);
  ASSERT_TRUE(p.a->io.peer().Send(bad));
  ASSERT_NO_FATAL_FAILURE(ExpectTermReq(p.a->io, 4, 0, bad));
  ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
}

TEST_F(RawPduTest, H2CDataOutOfOrder) {
  PendingWrite p = StartR2TWrite(target_->port(), false);
  ASSERT_TRUE(p.a && p.a->ok);
  const std::vector<uint8_t> bad = H2CDataHeader({}, 33, p.r2t.ttag, 4096, 4096, false);  // skips 0..4095
  ASSERT_TRUE(p.a->io.peer().Send(bad));
  ASSERT_NO_FATAL_FAILURE(ExpectTermReq(p.a->io, 4, 0, bad));
  ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
  // A piece sent twice.
  p = StartR2TWrite(target_->port(), false);
  ASSERT_TRUE(p.a && p.a->ok);
  std::vector<uint8_t> piece(4096, 0x22);
  ASSERT_TRUE(p.a->io.SendH2CData(33, p.r2t.ttag, 0, piece, false));
  const std::vector<uint8_t> again = H2CDataHeader({}, 33, p.r2t.ttag, 0, 4096, false);
  ASSERT_TRUE(p.a->io.peer().Send(again));
  ASSERT_NO_FATAL_FAILURE(ExpectTermReq(p.a->io, 4, 0, again));
  ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
}

TEST_F(RawPduTest, LastH2CDataWithoutLastPduFlag) {
  PendingWrite p = StartR2TWrite(target_->port(), false);
  ASSERT_TRUE(p.a && p.a->ok);
  std::vector<uint8_t> all(16384, 0x33);
  auto pre = nv::EncodeH2CData(nv::H2CData{33, p.r2t.ttag, 0, 16384, false}, {});
  ASSERT_TRUE(pre.ok());
  ASSERT_TRUE(p.a->io.peer().SendPdu(*pre, all));
  ASSERT_NO_FATAL_FAILURE(ExpectTermReq(p.a->io, 2, 0, pre->bytes()));
  ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
}

// A Connect whose data comes by R2T (SGL 0x5A) instead of in the capsule is served; H2CData past
// its 1024 bytes is refused.
TEST_F(RawPduTest, ConnectDataByR2T) {
  RawHost h(target_->port());
  ASSERT_TRUE(h.Initialize());
  nv::Sqe sqe = RawHost::ConnectSqe(0);
  sqe.cid = 5;
  sqe.sgl1 = {0, nv::kConnectDataSize, nv::kSglTransportData};
  ASSERT_TRUE(h.SendCapsule(sqe));
  const auto data = RawHost::ConnectData(nv::kDynamicCntlid);
  auto cqe = h.Await(5, {}, data);
  ASSERT_TRUE(cqe.has_value()) << h.peer().error;
  EXPECT_TRUE(nv::StatusOk(cqe->status)) << nv::StatusToString(cqe->status, true);
  EXPECT_NE(nv::ConnectResponseCntlid(*cqe), 0);

  RawHost g(target_->port());
  ASSERT_TRUE(g.Initialize());
  sqe.cid = 6;
  ASSERT_TRUE(g.SendCapsule(sqe));
  auto r = g.peer().ReadPdu();
  ASSERT_TRUE(r.has_value()) << g.peer().error;
  const auto* r2t = std::get_if<nv::R2T>(&r->pdu);
  ASSERT_NE(r2t, nullptr);
  EXPECT_EQ(r2t->r2tl, nv::kConnectDataSize);
  const std::vector<uint8_t> bad = H2CDataHeader({}, 6, r2t->ttag, 0, 2048, true);
  ASSERT_TRUE(g.peer().Send(bad));
  ASSERT_NO_FATAL_FAILURE(ExpectTermReq(g, 4, 0, bad));
  ASSERT_NO_FATAL_FAILURE(ExpectHealthy());
}

// ---- commands with bad fields: CQE status, the connection lives on ------------------------------

void ExpectStatus(const std::optional<nv::Cqe>& c, nv::StatusCode want, const char* what) {
  ASSERT_TRUE(c.has_value()) << what << ": no answer";
  EXPECT_EQ(nv::StatusCodeOf(c->status), want) << what << ": " << nv::StatusToString(c->status);
  EXPECT_TRUE(nv::StatusDnr(c->status)) << what << ": " << nv::StatusToString(c->status);
}

TEST_F(RawPduTest, CommandsWithBadFieldsGetTheirStatus) {
  RawAssociation a(target_->port());
  ASSERT_TRUE(a.ok);
  std::vector<uint8_t> buf(4096);
  ExpectStatus(a.io.Command(RawHost::Rw(nv::kIoRead, kBlocks, 1), std::span<uint8_t>(buf.data(), 512)),
               nv::kScLbaOutOfRange, "read past the end");
  ExpectStatus(a.io.Command(RawHost::Rw(nv::kIoRead, kBlocks - 1, 2), std::span<uint8_t>(buf.data(), 1024)),
               nv::kScLbaOutOfRange, "read across the end");
  ExpectStatus(a.io.Command(RawHost::Rw(nv::kIoWrite, kBlocks - 4, 8), {}, buf), nv::kScLbaOutOfRange,
               "write across the end");
  ExpectStatus(a.io.Command(RawHost::Rw(nv::kIoRead, 0, 8, 2), buf), nv::kScInvalidNamespace, "nsid 2");
  ExpectStatus(a.io.Command(RawHost::Rw(nv::kIoRead, 0, 8, 0xFFFFFFFF), buf), nv::kScInvalidNamespace, "broadcast nsid");
  nv::Sqe bogus = RawHost::Rw(nv::kIoRead, 0, 1);
  bogus.opcode = 0x7E;
  ExpectStatus(a.io.Command(bogus), nv::kScInvalidOpcode, "opcode 0x7e");
  ExpectStatus(a.admin.Command([] {
                 nv::Sqe s;
                 s.opcode = 0x55;
                 s.flags = nv::kPsdtSgl;
                 return s;
               }()),
               nv::kScInvalidOpcode, "admin opcode 0x55");
  // The read's SGL says 2048 bytes for 8 blocks (4096).
  ExpectStatus(a.io.Command(RawHost::Rw(nv::kIoRead, 0, 8), std::span<uint8_t>(buf.data(), 2048)),
               nv::kScDataSglLengthInvalid, "read SGL shorter than the blocks");
  // In-capsule data whose SGL length differs from the data carried.
  {
    nv::Sqe w = RawHost::Rw(nv::kIoWrite, 0, 8);
    w.cid = 200;
    auto p = nv::EncodeCapsuleCmd(w, 4096, {});
    ASSERT_TRUE(p.ok());
    std::vector<uint8_t> b(p->buf.begin(), p->buf.begin() + p->size);
    // sgl1 at SQE byte 24 (PDU byte 32): address 0, length 2048, in-capsule.
    StoreLe32(b.data() + 8 + 32, 2048);
    b[8 + 39] = nv::kSglInCapsule;
    b.insert(b.end(), buf.begin(), buf.end());
    ASSERT_TRUE(a.io.peer().Send(b));
    ExpectStatus(a.io.Await(200), nv::kScDataSglLengthInvalid, "in-capsule SGL length");
  }
  // Nothing reached the device, and the queue still works.
  std::vector<uint8_t> want(4096, 0);
  auto ok = a.io.Command(RawHost::Rw(nv::kIoRead, 0, 8), buf);
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(nv::StatusOk(ok->status)) << nv::StatusToString(ok->status);
  EXPECT_EQ(buf, want);
}

TEST_F(RawPduTest, CommandIdConflict) {
  PendingWrite p = StartR2TWrite(target_->port(), false, 44);
  ASSERT_TRUE(p.a && p.a->ok && p.r2t.r2tl == 16384u);
  // CID 44 is busy (its data is awaited): a read with the same CID is refused ...
  nv::Sqe r = RawHost::Rw(nv::kIoRead, 0, 8);
  r.cid = 44;
  r.sgl1 = {0, 4096, nv::kSglTransportData};
  ASSERT_TRUE(p.a->io.SendCapsule(r));
  std::vector<uint8_t> unused(4096);
  ExpectStatus(p.a->io.Await(44, unused), nv::kScCommandIdConflict, "CID in use");
  // ... and the write with that CID still completes when its data comes.
  std::vector<uint8_t> data(16384);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 13);
  ASSERT_TRUE(p.a->io.SendH2CData(44, p.r2t.ttag, 0, data, true));
  auto c = p.a->io.Await(44);
  ASSERT_TRUE(c.has_value()) << p.a->io.peer().error;
  EXPECT_TRUE(nv::StatusOk(c->status)) << nv::StatusToString(c->status);
  EXPECT_EQ(target_->Peek(2048 * 512, data.size()), data);
}

TEST_F(RawPduTest, CommandsBeforeConnectAndConnectTwice) {
  RawHost h(target_->port());
  ASSERT_TRUE(h.Initialize());
  ExpectStatus(h.Command(nv::MakePropertyGet(0, nv::kPropertyCap, true)), nv::kScCommandSequenceError,
               "Property Get before Connect");
  const auto data = RawHost::ConnectData(nv::kDynamicCntlid);
  auto c = h.Command(RawHost::ConnectSqe(0), {}, data);
  ASSERT_TRUE(c.has_value() && nv::StatusOk(c->status));
  ExpectStatus(h.Command(RawHost::ConnectSqe(0), {}, data), nv::kScCommandSequenceError, "second Connect");
  // Identify before CC.EN.
  nv::IdentifyCommand id;
  id.cns = nv::kCnsController;
  std::vector<uint8_t> page(4096);
  ExpectStatus(h.Command(nv::MakeIdentify(0, id, {}), page), nv::kScCommandSequenceError, "Identify before CC.EN");
}

}  // namespace
}  // namespace meshraid::exports
