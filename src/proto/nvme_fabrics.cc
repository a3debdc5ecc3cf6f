// Fabrics commands and controller properties (see nvme_fabrics.h).
#include "proto/nvme_fabrics.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "util/endian.h"

namespace meshraid::proto::nvme {
namespace {

Sqe FabricsSqe(uint16_t cid, uint8_t fctype) {
  Sqe s;
  s.opcode = kFabricsOpcode;
  s.flags = kPsdtSgl;  // the Linux target refuses any command whose PSDT is not 01b
  s.cid = cid;
  s.nsid = fctype;  // byte 4; bytes 5..7 reserved
  return s;
}

Status CheckNqn(const std::string& nqn, std::string_view what) {
  if (nqn.empty() || nqn.size() > kMaxNqnLength || nqn.find('\0') != std::string::npos) {
    return Status::InvalidArgument(fmt::format("{} must be 1..223 bytes without NUL", what));
  }
  return Status::Ok();
}

Result<std::string> NulTerminated(std::span<const uint8_t> field, std::string_view what) {
  const auto nul = std::find(field.begin(), field.end(), uint8_t{0});
  if (nul == field.end()) return Status::InvalidArgument(fmt::format("{} is not NUL terminated", what));
  return std::string(field.begin(), nul);
}

}  // namespace

std::string_view FabricsTypeName(uint8_t fctype) {
  switch (fctype) {
    case kFctypePropertySet: return "Property Set";
    case kFctypeConnect: return "Connect";
    case kFctypePropertyGet: return "Property Get";
    case kFctypeAuthSend: return "Authentication Send";
    case kFctypeAuthReceive: return "Authentication Receive";
    case kFctypeDisconnect: return "Disconnect";
    default: return "unknown";
  }
}

Result<Sqe> MakeConnect(uint16_t cid, const ConnectCommand& c, const SglDescriptor& sgl) {
  if (c.queue_entries == 0 || c.queue_entries > 65536) {
    return Status::InvalidArgument("Connect queue size must be 1..65536 entries");
  }
  Sqe s = FabricsSqe(cid, kFctypeConnect);
  s.sgl1 = sgl;
  s.cdw[0] = uint32_t(c.recfmt) | (uint32_t(c.qid) << 16);
  s.cdw[1] = (c.queue_entries - 1) | (uint32_t(c.cattr) << 16);
  s.cdw[2] = c.kato_ms;
  return s;
}

ConnectCommand DecodeConnect(const Sqe& s) {
  ConnectCommand c;
  c.recfmt = uint16_t(s.cdw10() & 0xFFFF);
  c.qid = uint16_t(s.cdw10() >> 16);
  c.queue_entries = (s.cdw11() & 0xFFFF) + 1;
  c.cattr = uint8_t((s.cdw11() >> 16) & 0xFF);
  c.kato_ms = s.cdw12();
  return c;
}

Result<std::array<uint8_t, kConnectDataSize>> EncodeConnectData(const ConnectData& d) {
  MESHRAID_RETURN_IF_ERROR(CheckNqn(d.subnqn, "SUBNQN"));
  MESHRAID_RETURN_IF_ERROR(CheckNqn(d.hostnqn, "HOSTNQN"));
  std::array<uint8_t, kConnectDataSize> b{};
  std::memcpy(b.data(), d.hostid.data(), d.hostid.size());
  StoreLe16(b.data() + 16, d.cntlid);
  std::memcpy(b.data() + 256, d.subnqn.data(), d.subnqn.size());
  std::memcpy(b.data() + 512, d.hostnqn.data(), d.hostnqn.size());
  return b;
}

Result<ConnectData> DecodeConnectData(std::span<const uint8_t> data) {
  if (data.size() < kConnectDataSize) {
    return Status::InvalidArgument("Connect data shorter than 1024 bytes");
  }
  ConnectData d;
  std::copy_n(data.begin(), 16, d.hostid.begin());
  d.cntlid = LoadLe16(data.data() + 16);
  MESHRAID_ASSIGN_OR_RETURN(d.subnqn, NulTerminated(data.subspan(256, kNqnFieldSize), "SUBNQN"));
  MESHRAID_ASSIGN_OR_RETURN(d.hostnqn, NulTerminated(data.subspan(512, kNqnFieldSize), "HOSTNQN"));
  return d;
}

Cqe MakeConnectResponse(uint16_t cid, uint16_t sqhd, uint16_t cntlid) {
  Cqe c;
  c.dw0 = cntlid;
  c.sqhd = sqhd;
  c.cid = cid;
  return c;
}

Sqe MakePropertyGet(uint16_t cid, uint32_t offset, bool eight_bytes) {
  Sqe s = FabricsSqe(cid, kFctypePropertyGet);
  s.cdw[0] = eight_bytes ? 1 : 0;
  s.cdw[1] = offset;
  return s;
}

Sqe MakePropertySet(uint16_t cid, uint32_t offset, uint64_t value, bool eight_bytes) {
  Sqe s = FabricsSqe(cid, kFctypePropertySet);
  s.cdw[0] = eight_bytes ? 1 : 0;
  s.cdw[1] = offset;
  s.cdw[2] = uint32_t(value);
  s.cdw[3] = eight_bytes ? uint32_t(value >> 32) : 0;
  return s;
}

Result<PropertyCommand> DecodeProperty(const Sqe& s) {
  const uint8_t size = uint8_t(s.cdw10() & 0x7);  // ATTRIB bits 2:0
  if (size > 1) return Status::InvalidArgument("property ATTRIB size is neither 4 nor 8 bytes");
  PropertyCommand p;
  p.eight_bytes = size == 1;
  p.offset = s.cdw11();
  if (FabricsType(s) == kFctypePropertySet) {
    p.value = uint64_t(s.cdw12()) | (p.eight_bytes ? uint64_t(s.cdw13()) << 32 : 0);
  }
  return p;
}

uint64_t EncodeCap(const Capabilities& c) {
  return uint64_t((c.max_queue_entries - 1) & 0xFFFF) | (uint64_t(c.contiguous_queues) << 16) |
         (uint64_t(c.ams & 0x3) << 17) | (uint64_t(c.timeout_500ms) << 24) |
         (uint64_t(c.dstrd & 0xF) << 32) | (uint64_t(c.nssrs) << 36) | (uint64_t(c.css) << 37) |
         (uint64_t(c.bps) << 45) | (uint64_t(c.mpsmin & 0xF) << 48) |
         (uint64_t(c.mpsmax & 0xF) << 52);
}

Capabilities DecodeCap(uint64_t cap) {
  Capabilities c;
  c.max_queue_entries = uint32_t(cap & 0xFFFF) + 1;
  c.contiguous_queues = (cap >> 16) & 1;
  c.ams = uint8_t((cap >> 17) & 0x3);
  c.timeout_500ms = uint8_t((cap >> 24) & 0xFF);
  c.dstrd = uint8_t((cap >> 32) & 0xF);
  c.nssrs = (cap >> 36) & 1;
  c.css = uint8_t((cap >> 37) & 0xFF);
  c.bps = (cap >> 45) & 1;
  c.mpsmin = uint8_t((cap >> 48) & 0xF);
  c.mpsmax = uint8_t((cap >> 52) & 0xF);
  return c;
}

uint32_t EncodeCc(const Configuration& c) {
  return uint32_t(c.enable) | (uint32_t(c.css & 0x7) << 4) | (uint32_t(c.mps & 0xF) << 7) |
         (uint32_t(c.ams & 0x7) << 11) | (uint32_t(c.shn & 0x3) << 14) |
         (uint32_t(c.iosqes & 0xF) << 16) | (uint32_t(c.iocqes & 0xF) << 20);
}

Configuration DecodeCc(uint32_t cc) {
  Configuration c;
  c.enable = cc & 1;
  c.css = uint8_t((cc >> 4) & 0x7);
  c.mps = uint8_t((cc >> 7) & 0xF);
  c.ams = uint8_t((cc >> 11) & 0x7);
  c.shn = uint8_t((cc >> 14) & 0x3);
  c.iosqes = uint8_t((cc >> 16) & 0xF);
  c.iocqes = uint8_t((cc >> 20) & 0xF);
  return c;
}

uint32_t EncodeCsts(const ControllerStatus& s) {
  return uint32_t(s.ready) | (uint32_t(s.fatal) << 1) | (uint32_t(s.shst & 0x3) << 2);
}

ControllerStatus DecodeCsts(uint32_t csts) {
  return ControllerStatus{(csts & 1) != 0, (csts & 2) != 0, uint8_t((csts >> 2) & 0x3)};
}

}  // namespace meshraid::proto::nvme
