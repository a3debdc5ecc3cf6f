// One controller of our NVMe/TCP target: state and the admin command set (see nvme_controller.h).
#include "export/nvme_controller.h"

#include <algorithm>
#include <bit>

#include "proto/nvme_fabrics.h"
#include "proto/nvme_identify.h"
#include "proto/nvme_status.h"

namespace meshraid::exports {

namespace nv = proto::nvme;

namespace {

constexpr uint8_t kReadyTimeout500ms = 15;  // CAP.TO: 7.5 s
constexpr uint16_t kAdminQueueEntries = 32;

std::vector<uint8_t> Trim(std::span<const uint8_t> page, uint32_t length) {
  std::vector<uint8_t> out(length, 0);
  std::copy_n(page.begin(), std::min<size_t>(page.size(), length), out.begin());
  return out;
}

}  // namespace

NvmeController::NvmeController(uint16_t cntlid, const NvmeSubsystem& subsys, const NvmeLimits& limits,
                               bool discovery, std::string hostnqn, std::array<uint8_t, 16> hostid,
                               uint32_t kato_ms, uint64_t now_ns)
    : cntlid_(cntlid), subsys_(subsys), limits_(limits), discovery_(discovery),
      hostnqn_(std::move(hostnqn)), hostid_(hostid), kato_ms_(kato_ms), last_keep_alive_ns_(now_ns) {}

NvmeController::Reply NvmeController::Refusal(const nv::Sqe& sqe, nv::StatusCode sc, bool dnr) const {
  Reply r;
  r.cqe.cid = sqe.cid;
  r.cqe.status = nv::MakeStatus(sc, dnr);
  return r;
}

uint64_t NvmeController::NamespaceBlocks() const {
  return subsys_.device->info().size_bytes / subsys_.lba_bytes;
}

io::Task<NvmeController::Reply> NvmeController::Admin(const nv::Sqe& sqe, std::span<const uint8_t> in,
                                                      uint64_t now_ns) {
  (void)in;
  if (sqe.opcode == nv::kFabricsOpcode) co_return co_await Property(sqe);
  if (!enabled_) co_return Refusal(sqe, nv::kScCommandSequenceError);
  Reply ok;
  ok.cqe.cid = sqe.cid;
  switch (sqe.opcode) {
    case nv::kAdminIdentify:
      co_return Identify(sqe);
    case nv::kAdminGetFeatures:
    case nv::kAdminSetFeatures:
      co_return Features(sqe);
    case nv::kAdminGetLogPage:
      co_return LogPage(sqe);
    case nv::kAdminKeepAlive:
      last_keep_alive_ns_ = now_ns;
      co_return ok;
    case nv::kAdminAbort:
      ok.cqe.dw0 = 1;  // bit 0 set: the command was not aborted
      co_return ok;
    case nv::kAdminAsyncEventRequest:
      if (held_aers_ >= limits_.async_event_limit) {
        co_return Refusal(sqe, nv::kScAsyncEventLimitExceeded);
      }
      ++held_aers_;
      ok.hold = true;
      co_return ok;
    default:
      co_return Refusal(sqe, nv::kScInvalidOpcode);
  }
}

io::Task<NvmeController::Reply> NvmeController::Property(const nv::Sqe& sqe) {
  const uint8_t fctype = nv::FabricsType(sqe);
  if (fctype != nv::kFctypePropertyGet && fctype != nv::kFctypePropertySet) {
    co_return Refusal(sqe, nv::kScInvalidOpcode);  // Connect was handled by the target
  }
  Result<nv::PropertyCommand> p = nv::DecodeProperty(sqe);
  if (!p.ok()) co_return Refusal(sqe, nv::kScInvalidField);
  Reply r;
  r.cqe.cid = sqe.cid;
  if (fctype == nv::kFctypePropertyGet) {
    uint64_t v = 0;
    switch (p->offset) {
      case nv::kPropertyCap: {
        nv::Capabilities cap;
        cap.max_queue_entries = limits_.max_queue_entries;  // discovery too: nvme-cli asks for 128
        cap.contiguous_queues = true;
        cap.timeout_500ms = kReadyTimeout500ms;
        cap.css = 0x01;
        v = nv::EncodeCap(cap);
        break;
      }
      case nv::kPropertyVs:
        v = nv::kVersion1_4;
        break;
      case nv::kPropertyCc:
        v = cc_;
        break;
      case nv::kPropertyCsts: {
        nv::ControllerStatus st;
        st.ready = enabled_;
        st.shst = shst_;
        v = nv::EncodeCsts(st);
        break;
      }
      default:
        co_return Refusal(sqe, nv::kScInvalidField);
    }
    r.cqe.dw0 = uint32_t(v);
    r.cqe.dw1 = p->eight_bytes ? uint32_t(v >> 32) : 0;
    co_return r;
  }
  if (p->offset != nv::kPropertyCc) co_return Refusal(sqe, nv::kScInvalidField);
  const nv::Configuration cc = nv::DecodeCc(uint32_t(p->value));
  if (cc.enable && (cc.iosqes != 6 || cc.iocqes != 4) && !discovery_) {
    co_return Refusal(sqe, nv::kScInvalidField);
  }
  cc_ = uint32_t(p->value);
  enabled_ = cc.enable;
  if (cc.shn != nv::kShutdownNone) {
    // A normal or abrupt shutdown: what was written must be durable before SHST says done.
    shst_ = nv::kShutdownStatusOccurring;
    if (!discovery_ && subsys_.device != nullptr) (void)co_await subsys_.device->Flush();
    shst_ = nv::kShutdownStatusComplete;
  } else {
    shst_ = nv::kShutdownStatusNormal;
  }
  co_return r;
}

NvmeController::Reply NvmeController::Identify(const nv::Sqe& sqe) {
  const nv::IdentifyCommand id = nv::DecodeIdentify(sqe);
  const uint32_t length = sqe.sgl1.length;
  if (length == 0 || length > nv::kIdentifySize) return Refusal(sqe, nv::kScDataSglLengthInvalid);
  Reply r;
  r.cqe.cid = sqe.cid;
  switch (id.cns) {
    case nv::kCnsController: {
      nv::ControllerIdentity c;
      c.serial = discovery_ ? std::string("meshraid-discovery") : subsys_.serial;
      c.model = subsys_.model;
      c.firmware = subsys_.firmware;
      c.rab = 6;
      c.cmic = 1u << 1;  // more than one controller may connect to the subsystem
      c.mdts = uint8_t(std::countr_zero(limits_.max_transfer_bytes / 4096));
      c.cntlid = cntlid_;
      c.version = nv::kVersion1_4;
      c.ctratt = nv::kCtrattHostId128;
      c.cntrltype = discovery_ ? nv::kControllerTypeDiscovery : nv::kControllerTypeIo;
      c.acl = 3;
      c.aerl = uint8_t(limits_.async_event_limit - 1);
      c.frmw = 1u << 1 | 1u << 0;  // one slot, read only
      c.lpa = nv::kLpaExtendedData;
      c.kas = 1;  // 100 ms granularity
      c.sqes = 0x66;
      c.cqes = 0x44;
      c.maxcmd = discovery_ ? kAdminQueueEntries : limits_.max_queue_entries;
      c.nn = discovery_ ? 0 : 1;
      c.oncs = discovery_ ? 0 : uint16_t(nv::kOncsDsm | nv::kOncsWriteZeroes);
      c.vwc = discovery_ ? 0 : nv::kVwcPresent;
      c.sgls = nv::kSglsSupported | nv::kSglsOffset;
      c.subnqn = discovery_ ? std::string(nv::kDiscoveryNqn) : subsys_.nqn;
      c.ioccsz = (limits_.in_capsule_bytes + 64) / 16;
      c.iorcsz = 1;
      c.icdoff = 0;
      c.msdbd = 1;
      Result<nv::IdentifyPage> page = nv::BuildIdentifyController(c);
      if (!page.ok()) return Refusal(sqe, nv::kScInternalError);
      r.data = Trim(*page, length);
      return r;
    }
    case nv::kCnsNamespace: {
      if (discovery_ || id.nsid != 1) {  // inactive (or the broadcast NSID): all zero
        if (id.nsid == 0) return Refusal(sqe, nv::kScInvalidNamespace);
        r.data.assign(length, 0);
        return r;
      }
      nv::NamespaceIdentity ns;
      ns.nsze = ns.ncap = ns.nuse = NamespaceBlocks();
      ns.dlfeat = nv::kDlfeatReadsZeroes | nv::kDlfeatWriteZeroesDeallocates;
      ns.nguid = subsys_.nguid;
      ns.lba_formats = {nv::LbaFormat{0, uint8_t(std::countr_zero(subsys_.lba_bytes)), 0}};
      ns.flbas = 0;
      Result<nv::IdentifyPage> page = nv::BuildIdentifyNamespace(ns);
      if (!page.ok()) return Refusal(sqe, nv::kScInternalError);
      r.data = Trim(*page, length);
      return r;
    }
    case nv::kCnsActiveNamespaces: {
      const uint32_t active[] = {1};
      Result<nv::IdentifyPage> page =
          nv::BuildActiveNamespaceList(discovery_ ? std::span<const uint32_t>() : std::span<const uint32_t>(active), id.nsid);
      if (!page.ok()) return Refusal(sqe, nv::kScInvalidField);
      r.data = Trim(*page, length);
      return r;
    }
    case nv::kCnsNamespaceDescriptors: {
      if (discovery_ || id.nsid != 1) return Refusal(sqe, nv::kScInvalidNamespace);
      nv::NamespaceIds ids;
      ids.nguid = subsys_.nguid;
      ids.uuid = subsys_.nguid;
      ids.csi = 0;
      r.data = Trim(nv::BuildNamespaceDescriptors(ids), length);
      return r;
    }
    default:
      return Refusal(sqe, nv::kScInvalidField);
  }
}

NvmeController::Reply NvmeController::Features(const nv::Sqe& sqe) {
  const nv::FeatureCommand f = nv::DecodeFeatures(sqe);
  const bool set = sqe.opcode == nv::kAdminSetFeatures;
  if (set && f.save) return Refusal(sqe, nv::kScFeatureNotSaveable);
  Reply r;
  r.cqe.cid = sqe.cid;
  switch (f.fid) {
    case nv::kFeatureNumberOfQueues: {
      if (set) {
        if (io_queues_ != 0) return Refusal(sqe, nv::kScCommandSequenceError);  // once per association
        const nv::QueueCount want = nv::DecodeQueueCount(f.cdw11);
        io_queues_ = uint16_t(std::min<uint32_t>({want.submission, want.completion, limits_.max_io_queues}));
      }
      const uint32_t n = discovery_ ? 1 : (io_queues_ != 0 ? io_queues_ : limits_.max_io_queues);
      Result<uint32_t> dw = nv::EncodeQueueCount({n, n});
      r.cqe.dw0 = dw.ok() ? *dw : 0;
      return r;
    }
    case nv::kFeatureAsyncEventConfig:
      if (set) async_config_ = f.cdw11;
      r.cqe.dw0 = async_config_;
      return r;
    case nv::kFeatureKeepAliveTimer:
      if (set) kato_ms_ = f.cdw11;
      r.cqe.dw0 = kato_ms_;
      return r;
    case nv::kFeatureVolatileWriteCache:
      if (discovery_) return Refusal(sqe, nv::kScInvalidField);
      if (set) wce_ = (f.cdw11 & nv::kVolatileWriteCacheEnable) != 0;
      r.cqe.dw0 = wce_ ? nv::kVolatileWriteCacheEnable : 0;
      return r;
    case nv::kFeatureTemperatureThreshold:
      if (set) temperature_threshold_ = f.cdw11 & 0xFFFF;
      r.cqe.dw0 = temperature_threshold_;
      return r;
    default:
      return Refusal(sqe, nv::kScInvalidField);
  }
}

NvmeController::Reply NvmeController::LogPage(const nv::Sqe& sqe) {
  const nv::GetLogPageCommand g = nv::DecodeGetLogPage(sqe);
  if (g.length != sqe.sgl1.length || g.length > (16u << 20)) return Refusal(sqe, nv::kScDataSglLengthInvalid);
  std::vector<uint8_t> page;
  switch (g.lid) {
    case nv::kLogErrorInformation:
      page = nv::BuildErrorLog({});
      break;
    case nv::kLogSmartHealth: {
      nv::SmartLog s;
      s.temperature_kelvin = 300;
      s.data_units_read = nv::DataUnits(bytes_read);
      s.data_units_written = nv::DataUnits(bytes_written);
      s.host_read_commands = read_commands;
      s.host_write_commands = write_commands;
      const auto b = nv::BuildSmartLog(s);
      page.assign(b.begin(), b.end());
      break;
    }
    case nv::kLogFirmwareSlot: {
      nv::FirmwareSlotLog fw;
      fw.slots[0] = subsys_.firmware;
      auto b = nv::BuildFirmwareSlotLog(fw);
      if (!b.ok()) return Refusal(sqe, nv::kScInternalError);
      page.assign(b->begin(), b->end());
      break;
    }
    case nv::kLogDiscovery: {
      if (!discovery_) return Refusal(sqe, nv::kScInvalidLogPage);
      auto b = nv::BuildDiscoveryLog(discovery_log);
      if (!b.ok()) return Refusal(sqe, nv::kScInternalError);
      page = std::move(*b);
      break;
    }
    default:
      return Refusal(sqe, nv::kScInvalidLogPage);
  }
  Reply r;
  r.cqe.cid = sqe.cid;
  r.data.assign(g.length, 0);
  if (!nv::CopyLogPage(page, g.offset, r.data).ok()) return Refusal(sqe, nv::kScInvalidField);
  return r;
}

}  // namespace meshraid::exports
