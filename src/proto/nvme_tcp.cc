// NVMe/TCP PDU encoders (see nvme_tcp.h).
#include "proto/nvme_tcp.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "util/crc32c.h"
#include "util/endian.h"

namespace meshraid::proto::nvme {
namespace {

// Room left in a 32-bit plen for data after the largest prefix and a data digest.
constexpr uint32_t kMaxDataLength = 0xFFFFFFFFu - kMaxPduPrefix - kDigestSize;

// Lays out a PDU: common header, zeroed type-specific header, room for the header digest and
// padding. The caller fills bytes 8..hlen and calls Seal.
PduPrefix Start(uint8_t type, uint8_t flags, uint8_t hlen, uint32_t data_length,
                const TxOptions& o, bool digestible) {
  PduPrefix p;
  const bool hdgst = digestible && o.header_digest;
  const bool ddgst = digestible && o.data_digest && data_length > 0;
  const uint32_t header = hlen + (hdgst ? kDigestSize : 0);
  uint32_t pdo = 0;
  if (data_length > 0) {
    const uint32_t align = (uint32_t(std::min(o.pda, kMaxPda)) + 1) * 4;
    pdo = (header + align - 1) / align * align;
  }
  p.size = uint16_t(data_length > 0 ? pdo : header);
  p.data_length = data_length;
  p.data_digest = ddgst;
  p.plen = p.size + data_length + (ddgst ? kDigestSize : 0);
  p.buf[0] = type;
  p.buf[1] = uint8_t(flags | (hdgst ? kFlagHdgst : 0) | (ddgst ? kFlagDdgst : 0));
  p.buf[2] = hlen;
  p.buf[3] = uint8_t(pdo);
  StoreLe32(p.buf.data() + 4, p.plen);
  return p;
}

// Writes the header digest after the header when the flags say so.
void Seal(PduPrefix& p) {
  const uint8_t hlen = p.buf[2];
  if (p.buf[1] & kFlagHdgst) {
    StoreLe32(p.buf.data() + hlen, Crc32c(std::span<const uint8_t>(p.buf.data(), hlen)));
  }
}

PduPrefix EncodeIC(uint8_t type, uint16_t pfv, uint8_t pda, bool hd, bool dd, uint32_t value) {
  PduPrefix p = Start(type, 0, kICReqHlen, 0, {}, false);
  uint8_t* b = p.buf.data();
  StoreLe16(b + 8, pfv);
  b[10] = pda;
  b[11] = uint8_t((hd ? kDigestHeader : 0) | (dd ? kDigestData : 0));
  StoreLe32(b + 12, value);
  return p;
}

Status CheckDataLength(uint32_t n, std::string_view what) {
  if (n > kMaxDataLength) return Status::InvalidArgument(fmt::format("{}: data too long", what));
  return Status::Ok();
}

}  // namespace

std::string_view PduTypeName(uint8_t type) {
  switch (type) {
    case kPduICReq: return "ICReq";
    case kPduICResp: return "ICResp";
    case kPduH2CTermReq: return "H2CTermReq";
    case kPduC2HTermReq: return "C2HTermReq";
    case kPduCapsuleCmd: return "CapsuleCmd";
    case kPduCapsuleResp: return "CapsuleResp";
    case kPduH2CData: return "H2CData";
    case kPduC2HData: return "C2HData";
    case kPduR2T: return "R2T";
    default: return "unknown";
  }
}

std::string_view FesName(uint16_t fes) {
  switch (fes) {
    case kFesInvalidHeaderField: return "invalid PDU header field";
    case kFesPduSequenceError: return "PDU sequence error";
    case kFesHeaderDigestError: return "header digest error";
    case kFesDataOutOfRange: return "data transfer out of range";
    case kFesDataLimitExceeded: return "data transfer limit exceeded";
    case kFesUnsupportedParameter: return "unsupported parameter";
    default: return "unknown";
  }
}

uint8_t PduTypeOf(const Pdu& pdu) {
  static constexpr uint8_t kTypes[] = {kPduICReq,       kPduICResp,  kPduH2CTermReq,
                                       kPduCapsuleCmd,  kPduCapsuleResp, kPduH2CData,
                                       kPduC2HData,     kPduR2T};
  return kTypes[pdu.index()];
}

PduPrefix EncodeICReq(const ICReq& r) {
  return EncodeIC(kPduICReq, r.pfv, r.hpda, r.header_digest, r.data_digest, r.maxr2t);
}

PduPrefix EncodeICResp(const ICResp& r) {
  return EncodeIC(kPduICResp, r.pfv, r.cpda, r.header_digest, r.data_digest, r.maxh2cdata);
}

PduPrefix EncodeTermReq(Role sender, const TermReq& t) {
  const uint8_t type = sender == Role::kHost ? kPduH2CTermReq : kPduC2HTermReq;
  const size_t n = std::min<size_t>(t.error_data_length, kMaxTermReqErrorData);
  PduPrefix p = Start(type, 0, kTermReqHlen, 0, {}, false);
  StoreLe16(p.buf.data() + 8, t.fes);
  StoreLe32(p.buf.data() + 10, t.fei);
  std::memcpy(p.buf.data() + kTermReqHlen, t.error_data.data(), n);
  p.size = uint16_t(kTermReqHlen + n);
  p.plen = p.size;
  StoreLe32(p.buf.data() + 4, p.plen);
  return p;
}

Result<PduPrefix> EncodeCapsuleCmd(const Sqe& sqe, uint32_t data_length, const TxOptions& o) {
  MESHRAID_RETURN_IF_ERROR(CheckDataLength(data_length, "CapsuleCmd"));
  PduPrefix p = Start(kPduCapsuleCmd, 0, kCapsuleCmdHlen, data_length, o, true);
  EncodeSqe(sqe, std::span<uint8_t, kSqeSize>(p.buf.data() + 8, kSqeSize));
  Seal(p);
  return p;
}

PduPrefix EncodeCapsuleResp(const Cqe& cqe, const TxOptions& o) {
  PduPrefix p = Start(kPduCapsuleResp, 0, kCapsuleRespHlen, 0, o, true);
  EncodeCqe(cqe, std::span<uint8_t, kCqeSize>(p.buf.data() + 8, kCqeSize));
  Seal(p);
  return p;
}

Result<PduPrefix> EncodeH2CData(const H2CData& d, const TxOptions& o) {
  if (d.datal == 0) return Status::InvalidArgument("H2CData: DATAL must not be 0");
  MESHRAID_RETURN_IF_ERROR(CheckDataLength(d.datal, "H2CData"));
  PduPrefix p = Start(kPduH2CData, d.last ? kFlagLastPdu : 0, kDataPduHlen, d.datal, o, true);
  uint8_t* b = p.buf.data();
  StoreLe16(b + 8, d.cccid);
  StoreLe16(b + 10, d.ttag);
  StoreLe32(b + 12, d.datao);
  StoreLe32(b + 16, d.datal);
  Seal(p);
  return p;
}

Result<PduPrefix> EncodeC2HData(const C2HData& d, const TxOptions& o) {
  if (d.datal == 0) return Status::InvalidArgument("C2HData: DATAL must not be 0");
  if (d.success && !d.last) return Status::InvalidArgument("C2HData: SUCCESS needs LAST_PDU");
  MESHRAID_RETURN_IF_ERROR(CheckDataLength(d.datal, "C2HData"));
  const uint8_t flags = uint8_t((d.last ? kFlagLastPdu : 0) | (d.success ? kFlagSuccess : 0));
  PduPrefix p = Start(kPduC2HData, flags, kDataPduHlen, d.datal, o, true);
  uint8_t* b = p.buf.data();
  StoreLe16(b + 8, d.cccid);
  StoreLe32(b + 12, d.datao);
  StoreLe32(b + 16, d.datal);
  Seal(p);
  return p;
}

PduPrefix EncodeR2T(const R2T& r, const TxOptions& o) {
  PduPrefix p = Start(kPduR2T, 0, kDataPduHlen, 0, o, true);
  uint8_t* b = p.buf.data();
  StoreLe16(b + 8, r.cccid);
  StoreLe16(b + 10, r.ttag);
  StoreLe32(b + 12, r.r2to);
  StoreLe32(b + 16, r.r2tl);
  Seal(p);
  return p;
}

uint32_t DataDigest(std::span<const uint8_t> data) { return Crc32c(data); }

std::array<uint8_t, kDigestSize> EncodeDigest(uint32_t digest) {
  std::array<uint8_t, kDigestSize> b{};
  StoreLe32(b.data(), digest);
  return b;
}

uint32_t DecodeDigest(std::span<const uint8_t, kDigestSize> bytes) { return LoadLe32(bytes.data()); }

}  // namespace meshraid::proto::nvme
