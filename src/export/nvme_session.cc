// One connection of our NVMe/TCP target (see nvme_session.h).
#include "export/nvme_session.h"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include <fmt/format.h>

#include "export/nvme_io.h"
#include "export/nvme_target.h"
#include "io/clock.h"
#include "io/when_all.h"
#include "proto/nvme_fabrics.h"
#include "proto/nvme_status.h"

namespace meshraid::exports {

namespace nv = proto::nvme;

namespace {

constexpr uint32_t kAdminInCapsule = nv::kAdminQueueInCapsuleBytes;

uint16_t St(nv::StatusCode c, bool dnr = true) { return nv::MakeStatus(c, dnr); }

nv::Cqe Answered(uint16_t cid, uint16_t status) {
  nv::Cqe c;
  c.cid = cid;
  c.status = status;
  return c;
}

// Data the command carries from host to controller (opcode bits 1:0 = 01), by queue type.
uint32_t DataOut(const nv::Sqe& sqe, bool admin) {
  if (sqe.opcode == nv::kFabricsOpcode) {
    return nv::FabricsType(sqe) == nv::kFctypeConnect ? sqe.sgl1.length : 0;
  }
  if (!admin) return NvmeIoDataOut(sqe);
  return (sqe.opcode & 0x3) == 0x1 ? sqe.sgl1.length : 0;
}

}  // namespace

NvmeSession::NvmeSession(NvmeTarget& target, io::Reactor& reactor, int fd, std::string peer)
    : target_(target), reactor_(reactor), fd_(fd), peer_(std::move(peer)), reader_(reactor, fd),
      writer_(reactor, fd), commands_gate_(reactor), stop_requested_(reactor) {
  rx_.receiver = nv::Role::kController;
  rx_.max_in_capsule_data = kAdminInCapsule;
  rx_.max_data_per_pdu = target.limits().max_h2c_data;
}

NvmeSession::~NvmeSession() {
  if (fd_ >= 0) ::close(fd_);
}

void NvmeSession::Log(const std::string& line) const { target_.Log(fmt::format("nvme: {}: {}", peer_, line)); }

void NvmeSession::RequestStop(bool hard) {
  stopping_ = true;
  reader_.Cancel();
  if (hard && !hard_) {
    hard_ = true;
    ::shutdown(fd_, SHUT_RDWR);
  }
  stop_requested_.Set();
}

io::Task<void> NvmeSession::StopDeadline() {
  co_await stop_requested_.Wait();
  if (main_done_) co_return;
  const bool expired = co_await reactor_.Sleep(target_.limits().stop_grace_ns, &deadline_slot_);
  if (expired && !main_done_ && !hard_) {
    Log("still busy after the stop grace period: closing the connection");
    hard_ = true;
    ::shutdown(fd_, SHUT_RDWR);
  }
}

io::Task<void> NvmeSession::Run() {
  std::vector<io::Task<void>> parts;
  parts.push_back(writer_.Run());
  parts.push_back(StopDeadline());
  io::Task<void> main = [](NvmeSession* s) -> io::Task<void> {
    if (co_await s->Initialize()) co_await s->ReadLoop();
    s->stop_requested_.Set();            // held AERs end; the grace timer starts
    co_await s->commands_gate_.Close();  // every command answered (or its send failed)
    s->writer_.Close();
    s->main_done_ = true;
    s->reactor_.Cancel(s->deadline_slot_);
  }(this);
  parts.push_back(std::move(main));
  co_await io::WhenAll(std::move(parts));
  if (controller_ != nullptr || !why_closed_.empty()) {
    const char* why = stopping_ ? "by the target" : "host disconnected";  // stop, watchdog, association end
    Log(fmt::format("queue {} closed ({}): {} commands", qid_, why_closed_.empty() ? why : why_closed_,
                    commands_));
  }
  target_.Detach(this);
  ::close(fd_);
  fd_ = -1;
}

io::Task<bool> NvmeSession::Initialize() {
  std::array<uint8_t, nv::kICReqHlen + nv::kDigestSize> hdr{};
  io::CancelSlot timer;
  bool timed_out = false;
  io::Gate g(reactor_);
  io::Spawn(g, [](io::Reactor& r, io::CancelSlot& slot, bool& flag, int fd, uint64_t ns) -> io::Task<void> {
    if (co_await r.Sleep(ns, &slot)) {
      flag = true;
      ::shutdown(fd, SHUT_RDWR);
    }
  }(reactor_, timer, timed_out, fd_, target_.limits().icreq_timeout_ns));
  bool ok = false;
  Result<size_t> n = co_await reader_.ReadFull(std::span<uint8_t>(hdr.data(), nv::kCommonHeaderSize));
  if (n.ok() && *n == nv::kCommonHeaderSize) {
    auto frame = nv::FramePdu(std::span<const uint8_t, nv::kCommonHeaderSize>(hdr.data(), nv::kCommonHeaderSize), rx_);
    if (!frame.ok()) {
      reactor_.Cancel(timer);
      co_await g.Close();
      co_await Refuse(frame.error(), std::span<const uint8_t>(hdr.data(), nv::kCommonHeaderSize));
      co_return false;
    }
    if (frame->header_size <= hdr.size()) {
      n = co_await reader_.ReadFull(std::span<uint8_t>(hdr.data() + nv::kCommonHeaderSize, frame->remaining_header()));
      if (n.ok() && *n == frame->remaining_header()) {
        auto pdu = nv::DecodePduHeader(std::span<const uint8_t>(hdr.data(), frame->header_size), rx_);
        reactor_.Cancel(timer);
        co_await g.Close();
        if (!pdu.ok()) {
          co_await Refuse(pdu.error(), std::span<const uint8_t>(hdr.data(), frame->header_size));
          co_return false;
        }
        const auto* req = std::get_if<nv::ICReq>(&*pdu);
        if (req == nullptr) co_return false;  // a TermReq before anything: just close
        nv::ICResp resp;
        resp.header_digest = req->header_digest;
        resp.data_digest = req->data_digest;
        resp.maxh2cdata = target_.limits().max_h2c_data;
        const nv::PduPrefix p = nv::EncodeICResp(resp);
        const iovec iov{const_cast<uint8_t*>(p.buf.data()), p.size};
        if (!(co_await writer_.Send(std::span<const iovec>(&iov, 1))).ok()) co_return false;
        tx_.header_digest = rx_.header_digest = req->header_digest;
        tx_.data_digest = rx_.data_digest = req->data_digest;
        tx_.pda = req->hpda;
        rx_.initialized = true;
        ok = true;
        co_return ok;
      }
    }
  }
  reactor_.Cancel(timer);
  co_await g.Close();
  if (timed_out) Log("no ICReq in time: closing");
  co_return ok;
}

io::Task<void> NvmeSession::Refuse(const nv::PduError& e, std::span<const uint8_t> received) {
  why_closed_ = fmt::format("refused a PDU: {} (FES {}, FEI {})", e.message, e.fes, e.fei);
  Log(why_closed_);
  // The TermReq (if any) is the last PDU: commands still running are not answered.
  terminated_ = true;
  if (e.send_term_req) {
    const nv::PduPrefix t = nv::EncodeTermReq(nv::Role::kController, nv::MakeTermReq(e, received));
    const iovec iov{const_cast<uint8_t*>(t.buf.data()), t.size};
    (void)co_await writer_.Send(std::span<const iovec>(&iov, 1));
  }
}

io::Task<void> NvmeSession::ReadLoop() {
  std::array<uint8_t, nv::kMaxPduPrefix> hdr{};
  while (!stopping_) {
    Result<size_t> n = co_await reader_.ReadFull(std::span<uint8_t>(hdr.data(), nv::kCommonHeaderSize));
    if (!n.ok() || *n != nv::kCommonHeaderSize) {
      if (!n.ok() && !stopping_) why_closed_ = n.status().message();
      break;
    }
    auto frame = nv::FramePdu(std::span<const uint8_t, nv::kCommonHeaderSize>(hdr.data(), nv::kCommonHeaderSize), rx_);
    if (!frame.ok()) {
      co_await Refuse(frame.error(), std::span<const uint8_t>(hdr.data(), nv::kCommonHeaderSize));
      break;
    }
    if (frame->header_size > hdr.size()) break;
    n = co_await reader_.ReadFull(std::span<uint8_t>(hdr.data() + nv::kCommonHeaderSize, frame->remaining_header()));
    if (!n.ok() || *n != frame->remaining_header()) break;
    const std::span<const uint8_t> header(hdr.data(), frame->header_size);
    auto pdu = nv::DecodePduHeader(header, rx_);
    if (!pdu.ok()) {
      co_await Refuse(pdu.error(), header);
      break;
    }
    if (frame->padding != 0) {
      Result<uint64_t> skipped = co_await reader_.Skip(frame->padding);
      if (!skipped.ok() || *skipped != frame->padding) break;
    }
    bool go_on = false;
    if (const auto* c = std::get_if<nv::CapsuleCmd>(&*pdu)) {
      go_on = co_await OnCapsule(c->sqe, *frame);
    } else if (const auto* d = std::get_if<nv::H2CData>(&*pdu)) {
      go_on = co_await OnH2CData(*d, *frame, header);
    } else if (const auto* t = std::get_if<nv::TermReq>(&*pdu)) {
      why_closed_ = fmt::format("the host terminated the connection: {} (FES {}, FEI {})", nv::FesName(t->fes),
                                t->fes, t->fei);
    } else {
      co_await Refuse({nv::kFesPduSequenceError, 0, true, "unexpected PDU"}, header);
    }
    if (!go_on) break;
  }
  // Commands waiting for R2T data that will never come: release them.
  for (auto& t : transfers_) {
    if (t && t->active) {
      t->digest_error = true;
      t->done.Set();
    }
  }
}

io::Task<bool> NvmeSession::OnCapsule(const nv::Sqe& sqe, const nv::PduFrame& frame) {
  ++commands_;
  sqhd_ = uint16_t((sqhd_ + 1) % std::max<uint32_t>(queue_entries_, 1));
  const bool admin = qid_ == 0;
  const uint32_t out = DataOut(sqe, admin);
  std::vector<uint8_t> data(frame.data_length);
  bool digest_error = false;
  if (frame.data_length != 0) {
    Result<size_t> n = co_await reader_.ReadFull(data);
    if (!n.ok() || *n != data.size()) co_return false;
    if (frame.data_digest) {
      std::array<uint8_t, nv::kDigestSize> d{};
      n = co_await reader_.ReadFull(d);
      if (!n.ok() || *n != d.size()) co_return false;
      digest_error = nv::DecodeDigest(d) != nv::DataDigest(data);
    }
  }
  if (controller_ == nullptr && !(sqe.opcode == nv::kFabricsOpcode && nv::FabricsType(sqe) == nv::kFctypeConnect)) {
    co_await Answer(Answered(sqe.cid, St(nv::kScCommandSequenceError)), {});
    co_return true;
  }
  if (sqe.cid < cid_busy_.size() && cid_busy_[sqe.cid]) {
    co_await Answer(Answered(sqe.cid, St(nv::kScCommandIdConflict)), {});
    co_return true;
  }
  // SGL: data in the capsule (offset 0, the whole of it), or by R2T, or none.
  const nv::SglDescriptor& sgl = sqe.sgl1;
  if (frame.data_length != 0) {
    if (sgl.identifier != nv::kSglInCapsule || sgl.address != 0 || sgl.length != frame.data_length || out == 0) {
      co_await Answer(Answered(sqe.cid, St(nv::kScDataSglLengthInvalid)), {});
      co_return true;
    }
  } else if (sgl.length != 0 && sgl.identifier != nv::kSglTransportData) {
    co_await Answer(Answered(sqe.cid, St(nv::kScSglDescriptorTypeInvalid)), {});
    co_return true;
  }
  if (sqe.cid >= cid_busy_.size()) cid_busy_.resize(size_t(sqe.cid) + 1, false);
  cid_busy_[sqe.cid] = true;
  if (out != 0 && frame.data_length == 0) {
    if (out > target_.limits().max_transfer_bytes) {
      cid_busy_[sqe.cid] = false;
      co_await Answer(Answered(sqe.cid, St(nv::kScInvalidField)), {});
      co_return true;
    }
    io::Spawn(commands_gate_, FetchAndExecute(sqe, out));
  } else {
    io::Spawn(commands_gate_, Execute(sqe, std::move(data), digest_error));
  }
  co_return true;
}

io::Task<bool> NvmeSession::OnH2CData(const nv::H2CData& d, const nv::PduFrame& frame,
                                      std::span<const uint8_t> header) {
  Transfer* t = d.ttag < transfers_.size() ? transfers_[d.ttag].get() : nullptr;
  if (t == nullptr || !t->active || d.cccid != d.ttag) {
    co_await Refuse({nv::kFesInvalidHeaderField, 10, true, "H2CData: TTAG is not an R2T in flight"}, header);
    co_return false;
  }
  if (d.datao != t->received || uint64_t(d.datao) + d.datal > t->data.size() || d.datal != frame.data_length) {
    co_await Refuse({nv::kFesDataOutOfRange, 0, true, "H2CData: data out of order or beyond the R2T"}, header);
    co_return false;
  }
  std::span<uint8_t> into(t->data.data() + d.datao, d.datal);
  Result<size_t> n = co_await reader_.ReadFull(into);
  if (!n.ok() || *n != into.size()) co_return false;
  if (frame.data_digest) {
    std::array<uint8_t, nv::kDigestSize> g{};
    n = co_await reader_.ReadFull(g);
    if (!n.ok() || *n != g.size()) co_return false;
    if (nv::DecodeDigest(g) != nv::DataDigest(into)) t->digest_error = true;
  }
  t->received += d.datal;
  if (t->received == t->data.size()) {
    if (!d.last) {
      co_await Refuse({nv::kFesPduSequenceError, 0, true, "H2CData: the last PDU of an R2T lacks LAST_PDU"}, header);
      co_return false;
    }
    t->active = false;
    t->done.Set();
  }
  co_return true;
}

io::Task<void> NvmeSession::FetchAndExecute(nv::Sqe sqe, uint32_t length) {
  const uint16_t tag = sqe.cid;
  if (transfers_.size() <= tag) transfers_.resize(size_t(tag) + 1);
  if (!transfers_[tag]) transfers_[tag] = std::make_unique<Transfer>(reactor_);
  Transfer& t = *transfers_[tag];
  t.data.assign(length, 0);
  t.received = 0;
  t.active = true;
  t.digest_error = false;
  t.done.Reset();
  nv::R2T r2t;
  r2t.cccid = sqe.cid;
  r2t.ttag = tag;
  r2t.r2to = 0;
  r2t.r2tl = length;
  const nv::PduPrefix p = nv::EncodeR2T(r2t, tx_);
  const iovec iov{const_cast<uint8_t*>(p.buf.data()), p.size};
  if (!(co_await writer_.Send(std::span<const iovec>(&iov, 1))).ok()) {
    t.active = false;
    cid_busy_[sqe.cid] = false;
    co_return;
  }
  co_await t.done.Wait();
  if (t.received != length) {  // the connection went away mid-transfer: nobody to answer
    cid_busy_[sqe.cid] = false;
    co_return;
  }
  std::vector<uint8_t> data = std::move(t.data);
  co_await Execute(sqe, std::move(data), t.digest_error);
}

io::Task<NvmeController::Reply> NvmeSession::Connect(const nv::Sqe& sqe, std::span<const uint8_t> data) {
  NvmeController::Reply r;
  r.cqe.cid = sqe.cid;
  const nv::ConnectCommand c = nv::DecodeConnect(sqe);
  Result<nv::ConnectData> d = nv::DecodeConnectData(data);
  if (controller_ != nullptr) {
    r.cqe.status = St(nv::kScCommandSequenceError);
  } else if (!d.ok()) {
    r.cqe.status = St(nv::kScConnectInvalidParameters);
    r.cqe.dw0 = nv::ConnectInvalidParameterDw0(256, true);
  } else {
    const NvmeTarget::Attach a = target_.AttachQueue(this, c, *d);
    r.cqe.status = a.status;
    r.cqe.dw0 = a.dw0;
    if (a.status == 0) {
      controller_ = a.controller;
      qid_ = c.qid;
      queue_entries_ = c.queue_entries;
      rx_.max_in_capsule_data = qid_ == 0 ? kAdminInCapsule : target_.limits().in_capsule_bytes;
      Log(fmt::format("{} queue {} of controller {} connected for host {} ({} entries)", qid_ == 0 ? "admin" : "I/O",
                      qid_, controller_->cntlid(), d->hostnqn, queue_entries_));
    } else {
      Log(fmt::format("Connect of host {} to {} refused: {}", d->hostnqn, d->subnqn,
                      nv::StatusToString(a.status, true)));
    }
  }
  co_return r;
}

io::Task<void> NvmeSession::Execute(nv::Sqe sqe, std::vector<uint8_t> data, bool digest_error) {
  NvmeController::Reply reply;
  reply.cqe.cid = sqe.cid;
  if (digest_error) {
    reply.cqe.status = St(nv::kScTransientTransportError, false);
  } else if (sqe.opcode == nv::kFabricsOpcode && nv::FabricsType(sqe) == nv::kFctypeConnect) {
    reply = co_await Connect(sqe, data);
  } else if (qid_ == 0) {
    reply = co_await controller_->Admin(sqe, data, io::SystemClock::Get().NowNs());
  } else if (sqe.opcode == nv::kFabricsOpcode) {
    reply.cqe.status = St(nv::kScInvalidOpcode);
  } else {
    NvmeIoResult r = co_await ExecuteNvmeIo(target_.subsystem(), target_.limits(), sqe, data);
    reply.cqe.status = r.status;
    reply.data = std::move(r.data);
    if (controller_ != nullptr && nv::StatusOk(r.status)) {
      if (sqe.opcode == nv::kIoRead) {
        ++controller_->read_commands;
        controller_->bytes_read += reply.data.size();
      } else if (sqe.opcode == nv::kIoWrite) {
        ++controller_->write_commands;
        controller_->bytes_written += data.size();
      }
    }
  }
  if (reply.hold) {  // an AER: kept until the connection goes
    co_await stop_requested_.Wait();
    cid_busy_[sqe.cid] = false;
    co_return;
  }
  reply.cqe.cid = sqe.cid;
  cid_busy_[sqe.cid] = false;
  co_await Answer(reply.cqe, nv::StatusOk(reply.cqe.status) ? std::span<const uint8_t>(reply.data) : std::span<const uint8_t>());
}

io::Task<void> NvmeSession::Answer(const nv::Cqe& answer, std::span<const uint8_t> data) {
  if (terminated_) co_return;
  nv::Cqe cqe = answer;
  cqe.sqid = qid_;
  cqe.sqhd = sqhd_;
  std::array<iovec, 4> iov{};
  size_t n = 0;
  nv::PduPrefix c2h;
  std::array<uint8_t, nv::kDigestSize> ddgst{};
  if (!data.empty()) {
    nv::C2HData d;
    d.cccid = cqe.cid;
    d.datao = 0;
    d.datal = uint32_t(data.size());
    d.last = true;
    Result<nv::PduPrefix> p = nv::EncodeC2HData(d, tx_);
    if (p.ok()) {
      c2h = *p;
      iov[n++] = {c2h.buf.data(), c2h.size};
      iov[n++] = {const_cast<uint8_t*>(data.data()), data.size()};
      if (c2h.data_digest) {
        ddgst = nv::EncodeDigest(nv::DataDigest(data));
        iov[n++] = {ddgst.data(), ddgst.size()};
      }
    }
  }
  const nv::PduPrefix resp = nv::EncodeCapsuleResp(cqe, tx_);
  iov[n++] = {const_cast<uint8_t*>(resp.buf.data()), resp.size};
  (void)co_await writer_.Send(std::span<const iovec>(iov.data(), n));
}

}  // namespace meshraid::exports
