// A namespace over NVMe/TCP as a BlockDevice (see nvme_tcp_device.h).
#include "io/nvme_tcp_device.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "io/clock.h"
#include "io/when_all.h"
#include "proto/nvme_fabrics.h"
#include "proto/nvme_status.h"

namespace meshraid::io {

namespace nv = proto::nvme;

namespace {

constexpr uint16_t kAdminEntries = 32;
constexpr uint64_t kReadyPollNs = 10'000'000;
constexpr uint64_t kShutdownWaitNs = 2'000'000'000;
constexpr uint64_t kZeroChunkBytes = 1u << 20;
constexpr uint64_t kMaxDiscardBlocks = 1u << 30;

// Errors a path or a controller reset produces: the whole device is gone, not one range.
bool DeviceScoped(uint16_t status) {
  const nv::StatusCode c = nv::StatusCodeOf(status);
  return c.sct == nv::kSctPath || c == nv::kScNamespaceNotReady || c == nv::kScAbortSqDeleted ||
         c == nv::kScTransientTransportError || c == nv::kScInvalidNamespace;
}

}  // namespace

NvmeTcpDevice::NvmeTcpDevice(Reactor& reactor, NvmeTcpUri uri, Options options)
    : reactor_(reactor), uri_(std::move(uri)), options_(std::move(options)), gate_(reactor) {}

NvmeTcpDevice::~NvmeTcpDevice() {
  if (!closed_ && (admin_ || !io_.empty())) {
    std::fprintf(stderr, "meshraid: NvmeTcpDevice %s destroyed without Close()\n", name_.c_str());
    std::abort();
  }
}

Task<Result<std::unique_ptr<NvmeTcpDevice>>> NvmeTcpDevice::Connect(Reactor& reactor, std::string uri,
                                                                    Options options) {
  Result<NvmeTcpUri> parsed = ParseNvmeTcpUri(uri);
  if (!parsed.ok()) co_return parsed.status();
  if (parsed->hostnqn.empty()) {
    const HostIdentity h = DefaultHostIdentity();
    parsed->hostnqn = h.nqn;
    if (parsed->hostid == std::array<uint8_t, 16>{}) parsed->hostid = h.id;
  }
  std::unique_ptr<NvmeTcpDevice> dev(new NvmeTcpDevice(reactor, std::move(parsed).value(), std::move(options)));
  dev->name_ = uri;
  dev->info_.name = uri;
  Status s = co_await dev->BringUp();
  if (!s.ok()) {
    (void)co_await dev->Close();
    co_return s.message().find(uri) == std::string::npos ? s.WithPrefix(uri) : s;
  }
  co_return dev;
}

Task<Status> NvmeTcpDevice::ConnectQueue(uint16_t qid, uint16_t entries, uint32_t kato_ms,
                                         std::unique_ptr<NvmeTcpQueue>* out) {
  NvmeTcpQueue::Options qo;
  qo.name = qid == 0 ? name_ + ": admin queue" : fmt::format("{}: I/O queue {}", name_, qid);
  qo.depth = entries;
  qo.header_digest = uri_.header_digest;
  qo.data_digest = uri_.data_digest;
  qo.connect_timeout_ns = options_.connect_timeout_ns;
  qo.command_timeout_ns = options_.command_timeout_ns;
  qo.log = options_.log;
  auto q = co_await NvmeTcpQueue::Connect(reactor_, reinterpret_cast<const sockaddr*>(&uri_.addr),
                                          uri_.addr_len, std::move(qo));
  if (!q.ok()) co_return q.status();
  *out = std::move(q).value();
  nv::ConnectCommand c;
  c.qid = qid;
  c.queue_entries = entries;
  c.kato_ms = kato_ms;
  nv::ConnectData d;
  d.hostid = uri_.hostid;
  d.cntlid = qid == 0 ? nv::kDynamicCntlid : cntlid_;
  d.subnqn = uri_.subnqn;
  d.hostnqn = uri_.hostnqn;
  Result<std::array<uint8_t, nv::kConnectDataSize>> data = nv::EncodeConnectData(d);
  if (!data.ok()) co_return data.status();
  Result<nv::Sqe> sqe = nv::MakeConnect(0, c, {});
  if (!sqe.ok()) co_return sqe.status();
  Result<nv::Cqe> cqe = co_await (*out)->Submit(*sqe, {}, *data);
  if (!cqe.ok()) co_return cqe.status();
  const nv::StatusCode sc = nv::StatusCodeOf(cqe->status);
  if (sc == nv::kScConnectInvalidHost) {
    co_return Status::FailedPrecondition(fmt::format(
        "{}: the subsystem does not allow host {} (allow it on the target: nvmet's allowed_hosts or "
        "attr_allow_any_host, meshraid's --allow-host)", name_, uri_.hostnqn));
  }
  if (sc == nv::kScConnectInvalidParameters) {
    co_return Status::FailedPrecondition(fmt::format(
        "{}: Connect refused: invalid parameter at {} offset {} (no subsystem {} here?)", name_,
        (cqe->dw0 >> 16) & 1 ? "data" : "command", cqe->dw0 & 0xFFFF, uri_.subnqn));
  }
  if (!nv::StatusOk(cqe->status)) {
    co_return Status::FailedPrecondition(fmt::format("{}: Connect on queue {} refused: {}", name_, qid,
                                                     nv::StatusToString(cqe->status, true)));
  }
  if (qid == 0) cntlid_ = nv::ConnectResponseCntlid(*cqe);
  co_return Status::Ok();
}

Task<Result<nv::Cqe>> NvmeTcpDevice::Admin(nv::Sqe sqe, std::string_view what, std::span<uint8_t> in,
                                           std::span<const uint8_t> out) {
  if (!admin_) co_return Status::FromErrno(ENOTCONN, name_ + ": not connected");
  Result<nv::Cqe> cqe = co_await admin_->Submit(sqe, in, out);
  if (!cqe.ok()) co_return cqe.status();
  if (!nv::StatusOk(cqe->status)) {
    co_return Status::FromErrno(EIO, fmt::format("{}: {}: {}", name_, what,
                                                 nv::StatusToString(cqe->status, sqe.opcode == nv::kFabricsOpcode)));
  }
  co_return cqe;
}

Task<Result<uint64_t>> NvmeTcpDevice::PropertyGet(uint32_t offset, bool eight_bytes) {
  Result<nv::Cqe> c = co_await Admin(nv::MakePropertyGet(0, offset, eight_bytes),
                                     fmt::format("Property Get 0x{:x}", offset));
  if (!c.ok()) co_return c.status();
  co_return nv::PropertyValue(*c);
}

Task<Status> NvmeTcpDevice::PropertySet(uint32_t offset, uint64_t value) {
  Result<nv::Cqe> c = co_await Admin(nv::MakePropertySet(0, offset, value, false),
                                     fmt::format("Property Set 0x{:x}", offset));
  co_return c.status();
}

Task<Status> NvmeTcpDevice::BringUp() {
  MESHRAID_CO_RETURN_IF_ERROR(co_await ConnectQueue(0, kAdminEntries, options_.kato_ms, &admin_));
  Result<uint64_t> cap_raw = co_await PropertyGet(nv::kPropertyCap, true);
  if (!cap_raw.ok()) co_return cap_raw.status();
  const nv::Capabilities cap = nv::DecodeCap(*cap_raw);
  if ((cap.css & 0x01) == 0) co_return Status::NotSupported(name_ + ": the controller has no NVM command set");
  nv::Configuration cc;
  cc.enable = true;
  cc.iosqes = 6;
  cc.iocqes = 4;
  MESHRAID_CO_RETURN_IF_ERROR(co_await PropertySet(nv::kPropertyCc, nv::EncodeCc(cc)));
  const uint64_t ready_ns = std::max<uint64_t>(uint64_t(cap.timeout_500ms) * 500'000'000, 1'000'000'000);
  const uint64_t until = SystemClock::Get().NowNs() + std::min(ready_ns, std::max<uint64_t>(options_.connect_timeout_ns, 1'000'000'000));
  for (;;) {
    Result<uint64_t> csts = co_await PropertyGet(nv::kPropertyCsts, false);
    if (!csts.ok()) co_return csts.status();
    const nv::ControllerStatus st = nv::DecodeCsts(uint32_t(*csts));
    if (st.fatal) co_return Status::Unavailable(name_ + ": the controller reports a fatal status (CSTS.CFS)");
    if (st.ready) break;
    if (SystemClock::Get().NowNs() > until) {
      co_return Status::TimedOut(name_ + ": the controller did not become ready (CSTS.RDY) in time");
    }
    (void)co_await reactor_.Sleep(kReadyPollNs);
  }

  nv::IdentifyPage page{};
  nv::IdentifyCommand id;
  id.cns = nv::kCnsController;
  Result<nv::Cqe> c = co_await Admin(nv::MakeIdentify(0, id, {}), "Identify Controller", page);
  if (!c.ok()) co_return c.status();
  Result<nv::ControllerIdentity> ctrl = nv::ParseIdentifyController(page);
  if (!ctrl.ok()) co_return ctrl.status().WithPrefix(name_ + ": Identify Controller");
  ctrl_ = *ctrl;
  if (ctrl_.cntrltype == nv::kControllerTypeDiscovery) {
    co_return Status::FailedPrecondition(name_ + ": this is a discovery controller, not an NVM subsystem");
  }
  if (ctrl_.mdts != 0) {
    const uint64_t mdts_bytes = (uint64_t(4096) << cap.mpsmin) << ctrl_.mdts;
    max_cmd_bytes_ = std::min<uint64_t>(options_.max_io_bytes, mdts_bytes);
  } else {
    max_cmd_bytes_ = options_.max_io_bytes;
  }

  uint32_t want = uri_.queues;
  nv::FeatureCommand f;
  f.fid = nv::kFeatureNumberOfQueues;
  Result<uint32_t> qc = nv::EncodeQueueCount({want, want});
  if (!qc.ok()) co_return qc.status();
  f.cdw11 = *qc;
  c = co_await Admin(nv::MakeSetFeatures(0, f), "Set Features (Number of Queues)");
  if (!c.ok()) co_return c.status();
  const nv::QueueCount got = nv::DecodeQueueCount(c->dw0);
  const uint32_t queues = std::min({want, got.submission, got.completion});

  id = {};
  id.cns = nv::kCnsNamespace;
  id.nsid = uri_.nsid;
  page = {};
  c = co_await Admin(nv::MakeIdentify(0, id, {}), fmt::format("Identify Namespace {}", uri_.nsid), page);
  if (!c.ok()) co_return c.status();
  if (nv::IsInactiveNamespace(page)) {
    co_return Status::NotFound(fmt::format("{}: namespace {} is not active in {}", name_, uri_.nsid, uri_.subnqn));
  }
  Result<nv::NamespaceIdentity> ns = nv::ParseIdentifyNamespace(page);
  if (!ns.ok()) co_return ns.status().WithPrefix(name_ + ": Identify Namespace");
  ns_ = *ns;
  const uint32_t lbs = nv::LbaSize(ns_);
  const nv::LbaFormat& fmt_now = ns_.lba_formats[ns_.format_index()];
  if (fmt_now.metadata_size != 0) {
    co_return Status::NotSupported(fmt::format("{}: namespace {} has {} bytes of metadata per block; "
                                               "only formats without metadata are supported", name_,
                                               uri_.nsid, fmt_now.metadata_size));
  }
  if (lbs < 512 || lbs > 65536) {
    co_return Status::NotSupported(fmt::format("{}: LBA size {} is not supported", name_, lbs));
  }
  lba_shift_ = uint32_t(__builtin_ctz(lbs));
  if (max_cmd_bytes_ < lbs) max_cmd_bytes_ = lbs;
  max_cmd_bytes_ = max_cmd_bytes_ / lbs * lbs;

  const uint16_t entries = uint16_t(std::min<uint32_t>({uri_.depth, cap.max_queue_entries, 1024}));
  for (uint32_t q = 1; q <= queues; ++q) {
    std::unique_ptr<NvmeTcpQueue> ioq;
    Status s = co_await ConnectQueue(uint16_t(q), entries, 0, &ioq);
    if (ioq) io_.push_back(std::move(ioq));
    if (!s.ok()) co_return s;
    io_.back()->set_in_capsule_limit(ctrl_.in_capsule_data_bytes());
  }

  info_.size_bytes = ns_.nsze << lba_shift_;
  info_.logical_block_size = lbs;
  info_.physical_block_size = std::max<uint32_t>(lbs, 4096);
  info_.max_io_bytes = 32u << 20;  // split here into commands of max_cmd_bytes_
  info_.can_fua = true;
  info_.can_flush = true;
  info_.can_discard = (ctrl_.oncs & nv::kOncsDsm) != 0;
  info_.can_write_zeroes = true;
  if (options_.kato_ms != 0) Spawn(gate_, KeepAlive());
  co_return Status::Ok();
}

Task<void> NvmeTcpDevice::KeepAlive() {
  while (!closed_) {
    (void)co_await reactor_.Sleep(uint64_t(options_.kato_ms) * 500'000, &ka_sleep_);
    if (closed_ || !admin_ || !admin_->alive()) break;
    nv::Sqe sqe;
    sqe.opcode = nv::kAdminKeepAlive;
    Result<nv::Cqe> c = co_await Admin(sqe, "Keep Alive");
    if (!c.ok() && !closed_) {
      KillAll(Status::FromErrno(ENOTCONN, fmt::format("{}: keep alive failed: {}", name_, c.status().message())));
      break;
    }
  }
}

void NvmeTcpDevice::KillAll(const Status& why) {
  if (admin_) admin_->Kill(why);
  for (auto& q : io_) q->Kill(why);
}

bool NvmeTcpDevice::connected() const {
  if (!admin_ || !admin_->alive()) return false;
  for (const auto& q : io_) {
    if (!q->alive()) return false;
  }
  return !io_.empty();
}

std::string NvmeTcpDevice::Where(const char* op, uint64_t offset, uint64_t length) const {
  return fmt::format("{}: {} of {} bytes at {}", name_, op, length, offset);
}

Status NvmeTcpDevice::Check(const char* op, uint64_t offset, uint64_t length) const {
  if (closed_) return Status::FailedPrecondition(name_ + ": device is closed");
  return CheckRange(info_, op, offset, length);
}

Task<Status> NvmeTcpDevice::Io(nv::Sqe sqe, const char* op, uint64_t offset, uint64_t length,
                               std::span<uint8_t> in, std::span<const uint8_t> out) {
  NvmeTcpQueue* q = nullptr;
  for (auto& c : io_) {
    if (!c->alive()) {
      // One queue gone means the controller's association is broken: take every queue down.
      const Status why = c->death();
      KillAll(why);
      co_return why;
    }
    if (q == nullptr || c->in_flight() < q->in_flight()) q = c.get();
  }
  if (q == nullptr) co_return Status::FromErrno(ENOTCONN, name_ + ": no I/O queue");
  Result<nv::Cqe> cqe = co_await q->Submit(sqe, in, out);
  if (!cqe.ok()) {
    KillAll(cqe.status());
    co_return cqe.status();
  }
  if (nv::StatusOk(cqe->status)) co_return Status::Ok();
  const std::string msg = fmt::format("{}: {}", Where(op, offset, length), nv::StatusToString(cqe->status));
  if (DeviceScoped(cqe->status)) co_return Status::FromErrno(ENODEV, msg);
  co_return Status::FromErrno(EIO, msg);
}

Task<Status> NvmeTcpDevice::Pieces(const char* op, uint8_t opcode, uint64_t offset, uint64_t length,
                                   uint8_t* in, const uint8_t* out, bool fua, bool deac,
                                   uint64_t piece_bytes) {
  std::vector<Task<Status>> parts;
  for (uint64_t done = 0; done < length; done += piece_bytes) {
    const uint64_t n = std::min(piece_bytes, length - done);
    nv::BlockRange r;
    r.slba = (offset + done) >> lba_shift_;
    r.blocks = uint32_t(n >> lba_shift_);
    r.fua = fua;
    r.deac = deac;
    const bool data = opcode != nv::kIoWriteZeroes;
    Result<nv::Sqe> sqe = nv::MakeBlockCommand(opcode, 0, uri_.nsid, r, {});
    if (!sqe.ok()) co_return sqe.status().WithPrefix(Where(op, offset, length));
    std::span<uint8_t> pin = in && data ? std::span<uint8_t>(in + done, n) : std::span<uint8_t>();
    std::span<const uint8_t> pout = out && data ? std::span<const uint8_t>(out + done, n) : std::span<const uint8_t>();
    parts.push_back(Io(*sqe, op, offset + done, n, pin, pout));
  }
  co_return co_await WhenAllOk(std::move(parts));
}

Task<Status> NvmeTcpDevice::Read(uint64_t offset, std::span<uint8_t> buf) {
  MESHRAID_CO_RETURN_IF_ERROR(Check("read", offset, buf.size()));
  if (buf.empty()) co_return Status::Ok();
  co_return co_await Pieces("read", nv::kIoRead, offset, buf.size(), buf.data(), nullptr, false, false,
                            max_cmd_bytes_);
}

Task<Status> NvmeTcpDevice::Write(uint64_t offset, std::span<const uint8_t> buf, WriteFlags flags) {
  MESHRAID_CO_RETURN_IF_ERROR(Check("write", offset, buf.size()));
  if (buf.empty()) co_return Status::Ok();
  co_return co_await Pieces("write", nv::kIoWrite, offset, buf.size(), nullptr, buf.data(),
                            flags == WriteFlags::kFua, false, max_cmd_bytes_);
}

Task<Status> NvmeTcpDevice::Flush() {
  MESHRAID_CO_RETURN_IF_ERROR(Check("flush", 0, 0));
  nv::Sqe sqe;
  sqe.opcode = nv::kIoFlush;
  sqe.nsid = uri_.nsid;
  co_return co_await Io(sqe, "flush", 0, 0);
}

Task<Status> NvmeTcpDevice::ZeroBuffers(uint64_t offset, uint64_t length) {
  std::vector<uint8_t> zeroes(std::min(length, kZeroChunkBytes), 0);
  for (uint64_t done = 0; done < length; done += zeroes.size()) {
    const uint64_t n = std::min<uint64_t>(zeroes.size(), length - done);
    MESHRAID_CO_RETURN_IF_ERROR(co_await Write(offset + done, std::span<const uint8_t>(zeroes.data(), n)));
  }
  co_return Status::Ok();
}

Task<Status> NvmeTcpDevice::WriteZeroes(uint64_t offset, uint64_t length, ZeroFlags flags) {
  MESHRAID_CO_RETURN_IF_ERROR(Check("write zeroes", offset, length));
  if (length == 0) co_return Status::Ok();
  const uint32_t bits = uint32_t(flags);
  const bool fua = (bits & uint32_t(ZeroFlags::kFua)) != 0;
  const bool deac = (bits & uint32_t(ZeroFlags::kDeallocate)) != 0 && (bits & uint32_t(ZeroFlags::kNoHole)) == 0;
  if ((ctrl_.oncs & nv::kOncsWriteZeroes) == 0) {
    MESHRAID_CO_RETURN_IF_ERROR(co_await ZeroBuffers(offset, length));
    if (fua) co_return co_await Flush();
    co_return Status::Ok();
  }
  const uint64_t piece = uint64_t(nv::kMaxBlocksPerCommand) << lba_shift_;
  co_return co_await Pieces("write zeroes", nv::kIoWriteZeroes, offset, length, nullptr, nullptr, fua, deac,
                            piece);
}

Task<Status> NvmeTcpDevice::Discard(uint64_t offset, uint64_t length) {
  MESHRAID_CO_RETURN_IF_ERROR(Check("discard", offset, length));
  if (length == 0) co_return Status::Ok();
  if (!info_.can_discard) {
    co_return Status::NotSupported(name_ + ": the controller has no Dataset Management (deallocate)");
  }
  for (uint64_t done = 0; done < length;) {
    const uint64_t blocks = std::min<uint64_t>((length - done) >> lba_shift_, kMaxDiscardBlocks);
    const nv::DsmRange range{0, uint32_t(blocks), (offset + done) >> lba_shift_};
    Result<std::vector<uint8_t>> data = nv::EncodeDsmRanges(std::span<const nv::DsmRange>(&range, 1));
    if (!data.ok()) co_return data.status();
    nv::DsmCommand d;
    d.ranges = 1;
    d.attributes = nv::kDsmDeallocate;
    Result<nv::Sqe> sqe = nv::MakeDatasetManagement(0, uri_.nsid, d, {});
    if (!sqe.ok()) co_return sqe.status();
    MESHRAID_CO_RETURN_IF_ERROR(co_await Io(*sqe, "discard", offset + done, blocks << lba_shift_, {}, *data));
    done += blocks << lba_shift_;
  }
  co_return Status::Ok();
}

Task<Status> NvmeTcpDevice::Close() {
  if (closed_) co_return Status::Ok();
  closed_ = true;
  reactor_.Cancel(ka_sleep_);
  if (admin_ && admin_->alive() && !io_.empty()) {
    // Normal shutdown (CC.SHN), then wait a little for CSTS.SHST = complete.
    nv::Configuration cc;
    cc.enable = true;
    cc.iosqes = 6;
    cc.iocqes = 4;
    cc.shn = nv::kShutdownNormal;
    if (nv::Sqe set = nv::MakePropertySet(0, nv::kPropertyCc, nv::EncodeCc(cc), false); true) {
      Result<nv::Cqe> r = co_await admin_->Submit(set);
      const uint64_t until = SystemClock::Get().NowNs() + kShutdownWaitNs;
      while (r.ok() && admin_->alive() && SystemClock::Get().NowNs() < until) {
        Result<nv::Cqe> g = co_await admin_->Submit(nv::MakePropertyGet(0, nv::kPropertyCsts, false));
        if (!g.ok() || !nv::StatusOk(g->status)) break;
        if (nv::DecodeCsts(g->dw0).shst == nv::kShutdownStatusComplete) break;
        (void)co_await reactor_.Sleep(kReadyPollNs);
      }
    }
  }
  for (auto& q : io_) co_await q->Close();
  if (admin_) co_await admin_->Close();
  co_await gate_.Close();
  io_.clear();
  admin_.reset();
  co_return Status::Ok();
}

}  // namespace meshraid::io
