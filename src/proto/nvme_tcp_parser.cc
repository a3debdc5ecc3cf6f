// NVMe/TCP receive-side framing and decoding (see nvme_tcp_parser.h). The checks and the FES/FEI
// each one reports are tabled in doc/nvme_tcp.md.
#include "proto/nvme_tcp_parser.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "util/crc32c.h"
#include "util/endian.h"

namespace meshraid::proto::nvme {
namespace {

// Byte offsets of the common header's fields: the FEI of an invalid one.
constexpr uint32_t kFeiType = 0;
constexpr uint32_t kFeiFlags = 1;
constexpr uint32_t kFeiHlen = 2;
constexpr uint32_t kFeiPdo = 3;
constexpr uint32_t kFeiPlen = 4;

struct TypeInfo {
  uint8_t hlen = 0;
  uint8_t allowed_flags = 0;
  bool host_to_controller = false;
  bool digestible = false;     // HDGSTF/DDGSTF follow the negotiation
  bool may_carry_data = false;
  bool needs_data = false;     // H2CData/C2HData: DATAL is never 0
};

const TypeInfo* Lookup(uint8_t type) {
  static constexpr TypeInfo kICReq{kICReqHlen, 0, true, false, false, false};
  static constexpr TypeInfo kICResp{kICReqHlen, 0, false, false, false, false};
  static constexpr TypeInfo kH2CTerm{kTermReqHlen, 0, true, false, false, false};
  static constexpr TypeInfo kC2HTerm{kTermReqHlen, 0, false, false, false, false};
  static constexpr TypeInfo kCmd{kCapsuleCmdHlen, kFlagHdgst | kFlagDdgst, true, true, true, false};
  static constexpr TypeInfo kResp{kCapsuleRespHlen, kFlagHdgst, false, true, false, false};
  static constexpr TypeInfo kH2C{kDataPduHlen, kFlagHdgst | kFlagDdgst | kFlagLastPdu, true,
                                 true, true, true};
  static constexpr TypeInfo kC2H{kDataPduHlen,
                                 kFlagHdgst | kFlagDdgst | kFlagLastPdu | kFlagSuccess, false,
                                 true, true, true};
  static constexpr TypeInfo kR2T{kDataPduHlen, kFlagHdgst, false, true, false, false};
  switch (type) {
    case kPduICReq: return &kICReq;
    case kPduICResp: return &kICResp;
    case kPduH2CTermReq: return &kH2CTerm;
    case kPduC2HTermReq: return &kC2HTerm;
    case kPduCapsuleCmd: return &kCmd;
    case kPduCapsuleResp: return &kResp;
    case kPduH2CData: return &kH2C;
    case kPduC2HData: return &kC2H;
    case kPduR2T: return &kR2T;
    default: return nullptr;
  }
}

bool IsTermReq(uint8_t type) { return type == kPduH2CTermReq || type == kPduC2HTermReq; }
bool IsIC(uint8_t type) { return type == kPduICReq || type == kPduICResp; }

PduError Err(uint16_t fes, uint32_t fei, std::string_view message) {
  return PduError{fes, fei, true, message};
}

// After the type is known: everything about a TermReq is answered by closing.
PduError Refuse(uint8_t type, uint16_t fes, uint32_t fei, std::string_view message) {
  PduError e = Err(fes, fei, message);
  e.send_term_req = !IsTermReq(type);
  return e;
}

PduResult<Pdu> DecodeIC(std::span<const uint8_t> h, const ReceiveContext& ctx) {
  const uint8_t type = h[0];
  const uint16_t pfv = LoadLe16(h.data() + 8);
  const uint8_t pda = h[10];
  const uint8_t dgst = h[11];
  const uint32_t value = LoadLe32(h.data() + 12);
  const bool ic_req = type == kPduICReq;
  if (pfv != 0) {
    return Err(kFesUnsupportedParameter, 8,
               ic_req ? "ICReq: unsupported PDU format version" : "ICResp: unsupported PDU format version");
  }
  if (pda > kMaxPda) {
    return Err(kFesInvalidHeaderField, 10, ic_req ? "ICReq: HPDA above 31" : "ICResp: CPDA above 31");
  }
  if (dgst & ~(kDigestHeader | kDigestData)) {
    return Err(kFesInvalidHeaderField, 11,
               ic_req ? "ICReq: reserved digest bits set" : "ICResp: reserved digest bits set");
  }
  const bool hd = (dgst & kDigestHeader) != 0, dd = (dgst & kDigestData) != 0;
  if (ic_req) return Pdu(ICReq{pfv, pda, hd, dd, value});
  if ((hd && !ctx.header_digest) || (dd && !ctx.data_digest)) {
    return Err(kFesUnsupportedParameter, 11, "ICResp: enables a digest the host did not request");
  }
  if (value < kMinMaxH2CData || value % 4 != 0) {
    return Err(kFesInvalidHeaderField, 12, "ICResp: MAXH2CDATA below 4096 or not a multiple of 4");
  }
  return Pdu(ICResp{pfv, pda, hd, dd, value});
}

// DATAL / R2TL at byte 16 against what plen carries, and offset + length inside 32 bits.
PduError CheckTransfer(uint8_t type, uint32_t offset, uint32_t length, uint32_t carried) {
  const bool r2t = type == kPduR2T;
  const bool h2c = type == kPduH2CData;
  if (length == 0) {
    return Err(kFesInvalidHeaderField, 16,
               r2t ? "R2T: R2TL is 0" : (h2c ? "H2CData: DATAL is 0" : "C2HData: DATAL is 0"));
  }
  if (!r2t && length != carried) {
    return Err(kFesInvalidHeaderField, 16,
               h2c ? "H2CData: DATAL does not match the PDU length"
                   : "C2HData: DATAL does not match the PDU length");
  }
  if (uint64_t(offset) + length > 0xFFFFFFFFull) {
    return Err(kFesDataOutOfRange, 0,
               r2t ? "R2T: R2TO + R2TL overflows" : "data PDU: DATAO + DATAL overflows");
  }
  return PduError{0, 0, false, {}};
}

}  // namespace

Status PduError::ToStatus() const {
  return Status::Corruption(fmt::format("NVMe/TCP: {} (FES {}, FEI {})", message, fes, fei));
}

PduResult<PduFrame> FramePdu(std::span<const uint8_t, kCommonHeaderSize> c,
                             const ReceiveContext& ctx) {
  PduFrame f;
  f.type = c[0];
  f.flags = c[1];
  f.hlen = c[2];
  f.pdo = c[3];
  f.plen = LoadLe32(c.data() + 4);
  const uint8_t t = f.type;

  // Byte 0: type, direction, connection phase.
  const TypeInfo* info = Lookup(t);
  if (info == nullptr) return Err(kFesInvalidHeaderField, kFeiType, "unknown PDU type");
  if (info->host_to_controller != (ctx.receiver == Role::kController)) {
    return Refuse(t, kFesInvalidHeaderField, kFeiType,
                  ctx.receiver == Role::kController ? "controller-to-host PDU sent to a controller"
                                                    : "host-to-controller PDU sent to a host");
  }
  if (!ctx.initialized && !IsIC(t) && !IsTermReq(t)) {
    return Err(kFesPduSequenceError, kFeiType, "PDU before ICReq/ICResp");
  }
  if (ctx.initialized && IsIC(t)) {
    return Err(kFesPduSequenceError, kFeiType, "ICReq/ICResp on an initialized connection");
  }

  // Byte 1: flags.
  if ((f.flags & ~info->allowed_flags) != 0) {
    return Refuse(t, kFesInvalidHeaderField, kFeiFlags, "flag not defined for this PDU type");
  }
  const bool hdgst = (f.flags & kFlagHdgst) != 0;
  const bool ddgst = (f.flags & kFlagDdgst) != 0;
  if (info->digestible) {
    if (hdgst != ctx.header_digest) {
      return Err(kFesInvalidHeaderField, kFeiFlags,
                 hdgst ? "header digest flag set but not negotiated"
                       : "header digest negotiated but flag clear");
    }
    if (ddgst && !ctx.data_digest) {
      return Err(kFesInvalidHeaderField, kFeiFlags, "data digest flag set but not negotiated");
    }
  }
  if (t == kPduC2HData && (f.flags & kFlagSuccess) && !(f.flags & kFlagLastPdu)) {
    return Err(kFesInvalidHeaderField, kFeiFlags, "C2HData: SUCCESS flag without LAST_PDU");
  }

  // Byte 2: hlen.
  if (f.hlen != info->hlen) {
    return Refuse(t, kFesInvalidHeaderField, kFeiHlen, "header length wrong for the PDU type");
  }
  const uint32_t header = f.hlen + (hdgst ? uint32_t(kDigestSize) : 0);

  // Byte 3: pdo.
  if (!info->may_carry_data) {
    if (f.pdo != 0) {
      return Refuse(t, kFesInvalidHeaderField, kFeiPdo, "data offset set on a PDU without data");
    }
  } else if (f.pdo == 0) {
    if (info->needs_data) return Err(kFesInvalidHeaderField, kFeiPdo, "data PDU without data offset");
  } else {
    if (f.pdo < header) return Err(kFesInvalidHeaderField, kFeiPdo, "data offset inside the header");
    const uint32_t align = (uint32_t(std::min(ctx.pda, kMaxPda)) + 1) * 4;
    if (ctx.pda != 0 && f.pdo % align != 0) {
      return Err(kFesInvalidHeaderField, kFeiPdo, "data offset not aligned to the negotiated PDA");
    }
  }

  // Bytes 4..7: plen.
  if (IsIC(t)) {
    if (f.plen != kICReqHlen) return Err(kFesInvalidHeaderField, kFeiPlen, "ICReq/ICResp length is not 128");
    f.header_size = kICReqHlen;
    return f;
  }
  if (IsTermReq(t)) {
    if (f.plen < kTermReqHlen || f.plen > kMaxTermReqPlen) {
      return Refuse(t, kFesInvalidHeaderField, kFeiPlen, "TermReq length outside 24..152");
    }
    f.header_size = f.plen;
    return f;
  }
  if (f.pdo == 0) {  // no data
    if (ddgst) return Err(kFesInvalidHeaderField, kFeiFlags, "data digest flag on a PDU without data");
    if (f.plen != header) {
      return Err(kFesInvalidHeaderField, kFeiPlen, "PDU length does not match its header");
    }
    f.header_size = header;
    return f;
  }
  const uint32_t digest = ddgst ? uint32_t(kDigestSize) : 0;
  if (f.plen <= uint64_t(f.pdo) + digest) {
    return Err(kFesInvalidHeaderField, kFeiPlen, "PDU length leaves no data after the data offset");
  }
  if (ctx.data_digest && !ddgst) {
    return Err(kFesInvalidHeaderField, kFeiFlags, "data digest negotiated but flag clear");
  }
  f.header_size = header;
  f.padding = f.pdo - header;
  f.data_length = f.plen - f.pdo - digest;
  f.data_digest = ddgst;
  if (t == kPduCapsuleCmd && f.data_length > ctx.max_in_capsule_data) {
    return Err(kFesDataLimitExceeded, 0, "CapsuleCmd: in-capsule data above the negotiated size");
  }
  if (t != kPduCapsuleCmd && f.data_length > ctx.max_data_per_pdu) {
    return Err(kFesDataLimitExceeded, 0,
               t == kPduH2CData ? "H2CData: data above MAXH2CDATA" : "C2HData: data above our limit");
  }
  return f;
}

PduResult<Pdu> DecodePduHeader(std::span<const uint8_t> h, const ReceiveContext& ctx) {
  if (h.size() < kCommonHeaderSize) {
    return Err(kFesInvalidHeaderField, kFeiPlen, "header shorter than the common header");
  }
  const PduResult<PduFrame> framed = FramePdu(h.first<kCommonHeaderSize>(), ctx);
  if (!framed.ok()) return framed.error();
  const PduFrame& f = *framed;
  if (h.size() != f.header_size) {
    return Refuse(f.type, kFesInvalidHeaderField, kFeiPlen, "header bytes do not match the frame");
  }
  if (f.flags & kFlagHdgst) {
    const uint32_t received = LoadLe32(h.data() + f.hlen);
    if (Crc32c(h.first(f.hlen)) != received) {
      return Err(kFesHeaderDigestError, received, "header digest mismatch");
    }
  }
  const uint8_t* b = h.data();
  switch (f.type) {
    case kPduICReq:
    case kPduICResp:
      return DecodeIC(h, ctx);
    case kPduH2CTermReq:
    case kPduC2HTermReq: {
      TermReq t;
      t.fes = LoadLe16(b + 8);
      t.fei = LoadLe32(b + 10);
      t.error_data_length = uint8_t(f.plen - kTermReqHlen);
      std::memcpy(t.error_data.data(), b + kTermReqHlen, t.error_data_length);
      return Pdu(t);
    }
    case kPduCapsuleCmd:
      return Pdu(CapsuleCmd{DecodeSqe(h.subspan<8, kSqeSize>())});
    case kPduCapsuleResp:
      return Pdu(CapsuleResp{DecodeCqe(h.subspan<8, kCqeSize>())});
    case kPduH2CData: {
      const H2CData d{LoadLe16(b + 8), LoadLe16(b + 10), LoadLe32(b + 12), LoadLe32(b + 16),
                      (f.flags & kFlagLastPdu) != 0};
      if (PduError e = CheckTransfer(f.type, d.datao, d.datal, f.data_length); e.fes != 0) return e;
      return Pdu(d);
    }
    case kPduC2HData: {
      const C2HData d{LoadLe16(b + 8), LoadLe32(b + 12), LoadLe32(b + 16),
                      (f.flags & kFlagLastPdu) != 0, (f.flags & kFlagSuccess) != 0};
      if (PduError e = CheckTransfer(f.type, d.datao, d.datal, f.data_length); e.fes != 0) return e;
      return Pdu(d);
    }
    case kPduR2T: {
      const R2T r{LoadLe16(b + 8), LoadLe16(b + 10), LoadLe32(b + 12), LoadLe32(b + 16)};
      if (PduError e = CheckTransfer(f.type, r.r2to, r.r2tl, 0); e.fes != 0) return e;
      return Pdu(r);
    }
    default:
      return Err(kFesInvalidHeaderField, kFeiType, "unknown PDU type");  // FramePdu refused it
  }
}

TermReq MakeTermReq(const PduError& error, std::span<const uint8_t> received) {
  TermReq t;
  t.fes = error.fes;
  t.fei = error.fei;
  t.error_data_length = uint8_t(std::min(received.size(), kMaxTermReqErrorData));
  if (t.error_data_length != 0) std::memcpy(t.error_data.data(), received.data(), t.error_data_length);
  return t;
}

}  // namespace meshraid::proto::nvme
