// One NVMe/TCP queue pair of our host (see nvme_tcp_queue.h).
#include "io/nvme_tcp_queue.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "io/clock.h"
#include "io/when_all.h"
#include "proto/nvme_status.h"
#include "util/crc32c.h"

namespace meshraid::io {

namespace nv = proto::nvme;

namespace {

constexpr uint64_t kWatchdogTickNs = 250'000'000;

// Shuts `fd` down when `ns` pass before Disarm(): bounds a connect and handshake. The timer's
// state is shared with its coroutine, which may be reaped after the Deadline is gone.
class Deadline {
 public:
  Deadline(Reactor& r, Gate& g, int fd, uint64_t ns) : reactor_(r), state_(std::make_shared<State>()) {
    if (ns != 0) Spawn(g, Run(r, state_, fd, ns));
  }
  void Disarm() {
    state_->disarmed = true;
    reactor_.Cancel(state_->slot);
  }
  bool expired() const { return state_->expired; }

 private:
  struct State {
    CancelSlot slot;
    bool disarmed = false;
    bool expired = false;
  };
  static Task<void> Run(Reactor& r, std::shared_ptr<State> st, int fd, uint64_t ns) {
    const bool passed = co_await r.Sleep(ns, &st->slot);
    if (passed && !st->disarmed) {
      st->expired = true;
      ::shutdown(fd, SHUT_RDWR);
    }
  }
  Reactor& reactor_;
  std::shared_ptr<State> state_;
};

}  // namespace

NvmeTcpQueue::NvmeTcpQueue(Reactor& reactor, int fd, Options options)
    : reactor_(reactor), fd_(fd), options_(std::move(options)), reader_(reactor, fd),
      writer_(reactor, fd), permits_(reactor, options_.depth > 1 ? options_.depth - 1 : 1),
      gate_(reactor), senders_(reactor), writer_done_(reactor), loops_done_(reactor) {
  for (uint16_t i = 0; i < options_.depth; ++i) slots_.push_back(std::make_unique<Slot>(reactor));
  for (uint16_t i = options_.depth; i > 0; --i) free_.push_back(uint16_t(i - 1));
  tx_.header_digest = options_.header_digest;
  tx_.data_digest = options_.data_digest;
  rx_.receiver = nv::Role::kHost;
  rx_.header_digest = options_.header_digest;
  rx_.data_digest = options_.data_digest;
  rx_.max_data_per_pdu = 16u << 20;
}

NvmeTcpQueue::~NvmeTcpQueue() {
  if (fd_ >= 0) ::close(fd_);
}

Task<Result<std::unique_ptr<NvmeTcpQueue>>> NvmeTcpQueue::Connect(Reactor& reactor, const sockaddr* addr,
                                                                  socklen_t addr_len, Options options) {
  const int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return Status::FromErrno(errno, options.name + ": socket");
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::unique_ptr<NvmeTcpQueue> q(new NvmeTcpQueue(reactor, fd, std::move(options)));
  Status s = co_await q->Handshake(addr, addr_len);
  if (!s.ok()) {
    q->Kill(s);
    co_await q->Close();
    co_return s;
  }
  q->Start();
  co_return q;
}

Task<Status> NvmeTcpQueue::Handshake(const sockaddr* addr, socklen_t addr_len) {
  Deadline deadline(reactor_, gate_, fd_, options_.connect_timeout_ns);
  const std::string& name = options_.name;
  Status result;
  OpResult c = co_await reactor_.Connect(fd_, addr, addr_len);
  if (!c.ok()) {
    result = deadline.expired() ? Status::TimedOut(name + ": connect timed out")
                                : c.ToStatus(name + ": connect");
  } else {
    nv::ICReq req;
    req.header_digest = options_.header_digest;
    req.data_digest = options_.data_digest;
    const nv::PduPrefix p = nv::EncodeICReq(req);
    OpResult w = co_await reactor_.Send(fd_, p.bytes());
    std::array<uint8_t, nv::kICReqHlen> resp{};
    Result<size_t> n = size_t(0);  // (a Result of an OK Status asserts)
    if (!w.ok() || w.value() != p.size) {
      result = w.ok() ? Status::IoError(name + ": short send of the ICReq") : w.ToStatus(name + ": send ICReq");
    } else {
      n = co_await reader_.ReadFull(resp);
      if (!n.ok() || *n != resp.size()) {
        result = deadline.expired() ? Status::TimedOut(name + ": no ICResp within the connect timeout")
                 : !n.ok()          ? n.status().WithPrefix(name + ": reading the ICResp")
                                    : Status::Unavailable(name + ": the controller closed the connection before its ICResp");
      }
    }
    if (result.ok()) {
      auto frame = nv::FramePdu(std::span<const uint8_t, nv::kCommonHeaderSize>(resp.data(), nv::kCommonHeaderSize), rx_);
      nv::PduResult<nv::Pdu> pdu = frame.ok() ? nv::DecodePduHeader(resp, rx_) : nv::PduResult<nv::Pdu>(frame.error());
      if (!pdu.ok()) {
        result = pdu.error().ToStatus().WithPrefix(name + ": ICResp");
        if (pdu.error().send_term_req) {  // best effort, as for any PDU refused later
          const nv::PduPrefix t = nv::EncodeTermReq(nv::Role::kHost, nv::MakeTermReq(pdu.error(), resp));
          (void)co_await reactor_.Send(fd_, t.bytes());
        }
      } else if (const auto* tr = std::get_if<nv::TermReq>(&*pdu)) {
        result = Status::Unavailable(fmt::format("{}: the controller refused the connection: {} (FES {}, FEI {})",
                                                 name, nv::FesName(tr->fes), tr->fes, tr->fei));
      } else if (const auto* ic = std::get_if<nv::ICResp>(&*pdu)) {
        if (ic->header_digest != options_.header_digest || ic->data_digest != options_.data_digest) {
          result = Status::NotSupported(fmt::format(
              "{}: the controller enabled header digest {}, data digest {}; we asked for {}, {}", name,
              ic->header_digest ? "on" : "off", ic->data_digest ? "on" : "off",
              options_.header_digest ? "on" : "off", options_.data_digest ? "on" : "off"));
        } else {
          max_h2c_data_ = ic->maxh2cdata;
          tx_.pda = ic->cpda;
          rx_.initialized = true;
        }
      } else {
        result = Status::Corruption(name + ": the controller answered the ICReq with another PDU");
      }
    }
  }
  deadline.Disarm();
  co_return result;
}

void NvmeTcpQueue::Start() {
  started_ = true;
  Spawn(gate_, ReaderLoop());
  Spawn(gate_, WriterLoop());
  if (options_.command_timeout_ns != 0) Spawn(gate_, Watchdog());
}

Status NvmeTcpQueue::Dead(std::string_view why) const {
  return Status::FromErrno(ENOTCONN, fmt::format("{}: {}", options_.name, why));
}

void NvmeTcpQueue::Kill(Status why) {
  if (dead_) return;
  dead_ = true;
  // A dead queue is the whole device's failure, whatever killed it (a timeout, a protocol
  // violation, a digest error): never a range error the RAID layer would retry elsewhere.
  death_ = why.ok() ? Dead("closed") : why.scope() == Scope::kDevice ? why : Status::FromErrno(ENOTCONN, why.message());
  if (options_.log && !closed_) options_.log(death_.message());
  ::shutdown(fd_, SHUT_RDWR);
  reader_.Cancel();
  writer_.Close();
  reactor_.Cancel(watchdog_sleep_);
  if (!started_) loops_done_.Set();
}

Task<void> NvmeTcpQueue::Close() {
  closed_ = true;
  Kill(Dead("closed"));
  co_await loops_done_.Wait();
  co_await gate_.Close();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

NvmeTcpQueue::Slot* NvmeTcpQueue::Busy(uint16_t cid) {
  if (cid >= slots_.size() || !slots_[cid]->busy || slots_[cid]->result) return nullptr;
  return slots_[cid].get();
}

void NvmeTcpQueue::Finish(Slot& s, Result<nv::Cqe> r) {
  s.result = std::move(r);
  s.done.Set();
}

void NvmeTcpQueue::FailAll() {
  for (auto& s : slots_) {
    if (s->busy && !s->result) Finish(*s, death_);
  }
}

Task<Result<nv::Cqe>> NvmeTcpQueue::Submit(nv::Sqe sqe, std::span<uint8_t> data_in,
                                           std::span<const uint8_t> data_out) {
  if (dead_) co_return death_;
  co_await permits_.Acquire();
  if (dead_) {
    permits_.Release();
    co_return death_;
  }
  const uint16_t cid = free_.back();
  free_.pop_back();
  Slot& s = *slots_[cid];
  s.busy = true;
  s.in = data_in;
  s.out = data_out;
  s.received = 0;
  s.r2t_end = 0;
  s.h2c_sent = 0;
  s.early.reset();
  s.started_ns = SystemClock::Get().NowNs();
  s.result.reset();
  s.done.Reset();
  sqe.cid = cid;
  sqe.flags = uint8_t((sqe.flags & ~nv::kPsdtMask) | nv::kPsdtSgl);
  const bool in_capsule = !data_out.empty() && data_out.size() <= in_capsule_limit_;
  if (!data_out.empty()) {
    sqe.sgl1 = {0, uint32_t(data_out.size()), in_capsule ? nv::kSglInCapsule : nv::kSglTransportData};
  } else if (!data_in.empty()) {
    sqe.sgl1 = {0, uint32_t(data_in.size()), nv::kSglTransportData};
  }
  Result<nv::PduPrefix> prefix = nv::EncodeCapsuleCmd(sqe, in_capsule ? uint32_t(data_out.size()) : 0, tx_);
  if (!prefix.ok()) {
    Finish(s, prefix.status().WithPrefix(options_.name));
  } else {
    std::array<uint8_t, nv::kDigestSize> ddgst{};
    std::array<iovec, 3> iov{};
    size_t n = 0;
    iov[n++] = {prefix->buf.data(), prefix->size};
    if (in_capsule) {
      iov[n++] = {const_cast<uint8_t*>(data_out.data()), data_out.size()};
      if (prefix->data_digest) {
        ddgst = nv::EncodeDigest(nv::DataDigest(data_out));
        iov[n++] = {ddgst.data(), ddgst.size()};
      }
    }
    Status sent = co_await writer_.Send(std::span<const iovec>(iov.data(), n));
    if (!sent.ok()) Kill(Dead("send: " + sent.message()));
  }
  co_await s.done.Wait();
  Result<nv::Cqe> r = std::move(*s.result);
  s.busy = false;
  s.in = {};
  s.out = {};
  s.result.reset();
  free_.push_back(cid);
  permits_.Release();
  co_return r;
}

Task<void> NvmeTcpQueue::WriterLoop() {
  co_await writer_.Run();
  writer_done_.Set();
}

Task<void> NvmeTcpQueue::Watchdog() {
  while (!dead_) {
    (void)co_await reactor_.Sleep(kWatchdogTickNs, &watchdog_sleep_);
    if (dead_) break;
    const uint64_t now = SystemClock::Get().NowNs();
    for (size_t cid = 0; cid < slots_.size(); ++cid) {
      const Slot& s = *slots_[cid];
      if (s.busy && !s.result && now - s.started_ns > options_.command_timeout_ns) {
        Kill(Status::FromErrno(ETIMEDOUT, fmt::format("{}: command {} got no answer within {} ms", options_.name,
                                                      cid, options_.command_timeout_ns / 1'000'000)));
        break;
      }
    }
  }
}

Task<void> NvmeTcpQueue::Refuse(const nv::PduError& e, std::span<const uint8_t> received) {
  Status why = e.ToStatus().WithPrefix(options_.name + ": the controller broke the protocol");
  if (e.send_term_req && !dead_) {
    const nv::PduPrefix t = nv::EncodeTermReq(nv::Role::kHost, nv::MakeTermReq(e, received));
    const iovec iov{const_cast<uint8_t*>(t.buf.data()), t.size};
    (void)co_await writer_.Send(std::span<const iovec>(&iov, 1));
  }
  Kill(why);
}

Task<void> NvmeTcpQueue::ReaderLoop() {
  std::array<uint8_t, nv::kMaxPduPrefix> hdr{};
  while (!dead_) {
    Result<size_t> n = co_await reader_.ReadFull(std::span<uint8_t>(hdr.data(), nv::kCommonHeaderSize));
    if (!n.ok() || *n != nv::kCommonHeaderSize) {
      if (!dead_) {
        Kill(!n.ok() ? Dead(n.status().message())
             : *n == 0 ? Dead("the controller closed the connection")
                       : Dead("the connection ended inside a PDU header"));
      }
      break;
    }
    nv::PduResult<nv::PduFrame> frame =
        nv::FramePdu(std::span<const uint8_t, nv::kCommonHeaderSize>(hdr.data(), nv::kCommonHeaderSize), rx_);
    if (!frame.ok()) {
      co_await Refuse(frame.error(), std::span<const uint8_t>(hdr.data(), nv::kCommonHeaderSize));
      break;
    }
    if (frame->header_size > hdr.size()) {
      Kill(Status::Corruption(options_.name + ": PDU header too long"));
      break;
    }
    n = co_await reader_.ReadFull(std::span<uint8_t>(hdr.data() + nv::kCommonHeaderSize, frame->remaining_header()));
    if (!n.ok() || *n != frame->remaining_header()) {
      if (!dead_) Kill(Dead("the connection ended inside a PDU header"));
      break;
    }
    const std::span<const uint8_t> header(hdr.data(), frame->header_size);
    nv::PduResult<nv::Pdu> pdu = nv::DecodePduHeader(header, rx_);
    if (!pdu.ok()) {
      co_await Refuse(pdu.error(), header);
      break;
    }
    if (frame->padding != 0) {
      Result<uint64_t> skipped = co_await reader_.Skip(frame->padding);
      if (!skipped.ok() || *skipped != frame->padding) {
        if (!dead_) Kill(Dead("the connection ended inside a PDU"));
        break;
      }
    }
    bool go_on = true;
    if (const auto* d = std::get_if<nv::C2HData>(&*pdu)) {
      go_on = co_await OnC2HData(*d, *frame, header);
    } else if (const auto* r = std::get_if<nv::R2T>(&*pdu)) {
      go_on = OnR2T(*r);
      if (!go_on) co_await Refuse({nv::kFesInvalidHeaderField, 8, true, "R2T: CCCID or range does not fit a write in flight"}, header);
    } else if (const auto* c = std::get_if<nv::CapsuleResp>(&*pdu)) {
      go_on = OnCapsuleResp(*c);
      if (!go_on) co_await Refuse({nv::kFesInvalidHeaderField, 20, true, "CapsuleResp: CID not in flight"}, header);
    } else if (const auto* t = std::get_if<nv::TermReq>(&*pdu)) {
      Kill(Dead(fmt::format("the controller terminated the connection: {} (FES {}, FEI {})",
                            nv::FesName(t->fes), t->fes, t->fei)));
      go_on = false;
    } else {
      co_await Refuse({nv::kFesPduSequenceError, 0, true, "unexpected PDU"}, header);
      go_on = false;
    }
    if (!go_on) break;
  }
  // Nothing touches a caller's buffer once the writer and the H2CData senders are done.
  co_await writer_done_.Wait();
  co_await senders_.Close();
  FailAll();
  loops_done_.Set();
}

Task<bool> NvmeTcpQueue::OnC2HData(const nv::C2HData& d, const nv::PduFrame& frame,
                                   std::span<const uint8_t> header) {
  Slot* s = Busy(d.cccid);
  const uint64_t end = uint64_t(d.datao) + d.datal;
  if (s == nullptr || s->in.empty()) {
    co_await Refuse({nv::kFesInvalidHeaderField, 8, true, "C2HData: CCCID is not a read in flight"}, header);
    co_return false;
  }
  if (d.datao != s->received || end > s->in.size() || frame.data_length != d.datal) {
    co_await Refuse({nv::kFesDataOutOfRange, 0, true, "C2HData: data out of order or past the command's buffer"},
                    header);
    co_return false;
  }
  const std::span<uint8_t> into = s->in.subspan(d.datao, d.datal);
  Result<size_t> n = co_await reader_.ReadFull(into);
  if (!n.ok() || *n != into.size()) {
    if (!dead_) Kill(Dead("the connection ended inside C2HData"));
    co_return false;
  }
  if (frame.data_digest) {
    std::array<uint8_t, nv::kDigestSize> got{};
    n = co_await reader_.ReadFull(got);
    if (!n.ok() || *n != got.size()) {
      if (!dead_) Kill(Dead("the connection ended inside C2HData"));
      co_return false;
    }
    const uint32_t want = nv::DataDigest(into);
    if (nv::DecodeDigest(got) != want) {
      Kill(Status::FromErrno(EIO, fmt::format("{}: data digest error in C2HData for command {} (got 0x{:08x}, "
                                              "computed 0x{:08x})", options_.name, d.cccid,
                                              nv::DecodeDigest(got), want)));
      co_return false;
    }
  }
  s->received = uint32_t(end);
  if (d.success) {
    if (s->received != s->in.size()) {
      co_await Refuse({nv::kFesDataOutOfRange, 0, true, "C2HData: SUCCESS before all the data"}, header);
      co_return false;
    }
    nv::Cqe ok;
    ok.cid = d.cccid;
    Finish(*s, ok);
  }
  co_return true;
}

bool NvmeTcpQueue::OnR2T(const nv::R2T& r) {
  Slot* s = Busy(r.cccid);
  if (s == nullptr || s->out.empty() || s->out.size() <= in_capsule_limit_ || r.r2to != s->r2t_end ||
      uint64_t(r.r2to) + r.r2tl > s->out.size() || r.r2tl == 0) {
    return false;
  }
  s->r2t_end = r.r2to + r.r2tl;
  Spawn(senders_, SendH2CData(*s, r.cccid, r.ttag, r.r2to, s->out.subspan(r.r2to, r.r2tl)));
  return true;
}

Task<void> NvmeTcpQueue::SendH2CData(Slot& s, uint16_t cccid, uint16_t ttag, uint32_t offset,
                                     std::span<const uint8_t> data) {
  const uint32_t chunk = std::max<uint32_t>(max_h2c_data_, 4096);
  for (uint32_t done = 0; done < data.size() && !dead_;) {
    const uint32_t len = std::min<uint32_t>(chunk, uint32_t(data.size()) - done);
    nv::H2CData h;
    h.cccid = cccid;
    h.ttag = ttag;
    h.datao = offset + done;
    h.datal = len;
    h.last = done + len == data.size();
    Result<nv::PduPrefix> p = nv::EncodeH2CData(h, tx_);
    if (!p.ok()) {
      Kill(p.status().WithPrefix(options_.name));
      co_return;
    }
    const std::span<const uint8_t> piece = data.subspan(done, len);
    std::array<uint8_t, nv::kDigestSize> ddgst{};
    std::array<iovec, 3> iov{};
    size_t n = 0;
    iov[n++] = {p->buf.data(), p->size};
    iov[n++] = {const_cast<uint8_t*>(piece.data()), piece.size()};
    if (p->data_digest) {
      ddgst = nv::EncodeDigest(nv::DataDigest(piece));
      iov[n++] = {ddgst.data(), ddgst.size()};
    }
    Status sent = co_await writer_.Send(std::span<const iovec>(iov.data(), n));
    if (!sent.ok()) {
      Kill(Dead("send: " + sent.message()));
      co_return;
    }
    done += len;
    // The slot is still ours: it is finished only once every byte asked for is sent (a
    // CapsuleResp that comes earlier waits in `early`), or by FailAll after this returned.
    s.h2c_sent += len;
    if (s.early && s.h2c_sent == s.r2t_end) {
      const nv::Cqe cqe = *s.early;
      Finish(s, cqe);
      co_return;
    }
  }
}

bool NvmeTcpQueue::OnCapsuleResp(const nv::CapsuleResp& r) {
  Slot* s = Busy(r.cqe.cid);
  if (s == nullptr) return false;
  if (nv::StatusOk(r.cqe.status) && !s->in.empty() && s->received != s->in.size()) {
    Finish(*s, Status::FromErrno(EIO, fmt::format("{}: command {} succeeded with {} of {} bytes of data",
                                                  options_.name, r.cqe.cid, s->received, s->in.size())));
    return true;
  }
  if (s->h2c_sent != s->r2t_end) {  // H2CData of ours still on its way: its buffer is in use
    s->early = r.cqe;
    return true;
  }
  Finish(*s, r.cqe);
  return true;
}

}  // namespace meshraid::io
