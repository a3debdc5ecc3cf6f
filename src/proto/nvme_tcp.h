// NVMe/TCP transport PDUs (NVMe TCP Transport 1.0), pure codec, sending side: every constant of
// the PDU layer, one struct per PDU type, and encoders that write a PDU's header (plus header
// digest and padding when they apply) into a fixed 256-byte PduPrefix: no allocation. The
// caller sends the prefix, then the data from its own buffer, then DataDigest() over that data
// when prefix.data_digest is set. The receiving side (framing, validation, decoding) is
// nvme_tcp_parser.h; doc/nvme_tcp.md describes the wire format and the sources of each fact.
//
// Every PDU starts with the 8-byte common header: type u8, flags u8, hlen u8 (header length
// without digest), pdo u8 (offset of the data from the start of the PDU, 0 if none), plen u32
// LE (the whole PDU: header, header digest, padding, data, data digest). Digests are CRC32C,
// stored little-endian; the header digest covers the first hlen bytes, the data digest only the
// data.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include "proto/nvme_command.h"
#include "util/result.h"

namespace meshraid::proto::nvme {

// ---- PDU types (byte 0); bit 0 clear = host to controller, set = controller to host ----
inline constexpr uint8_t kPduICReq = 0x00;
inline constexpr uint8_t kPduICResp = 0x01;
inline constexpr uint8_t kPduH2CTermReq = 0x02;
inline constexpr uint8_t kPduC2HTermReq = 0x03;
inline constexpr uint8_t kPduCapsuleCmd = 0x04;
inline constexpr uint8_t kPduCapsuleResp = 0x05;
inline constexpr uint8_t kPduH2CData = 0x06;
inline constexpr uint8_t kPduC2HData = 0x07;
inline constexpr uint8_t kPduR2T = 0x09;
std::string_view PduTypeName(uint8_t type);  // "ICReq", ..., "unknown"

// ---- Flags (byte 1) ----
inline constexpr uint8_t kFlagHdgst = 1u << 0;    // a header digest follows the header
inline constexpr uint8_t kFlagDdgst = 1u << 1;    // a data digest follows the data
inline constexpr uint8_t kFlagLastPdu = 1u << 2;  // H2CData, C2HData: last PDU of the transfer
inline constexpr uint8_t kFlagSuccess = 1u << 3;  // C2HData: command succeeded, no CapsuleResp

// ---- Sizes ----
inline constexpr size_t kCommonHeaderSize = 8;
inline constexpr size_t kDigestSize = 4;
inline constexpr uint8_t kICReqHlen = 128;       // ICReq and ICResp: plen is 128 too
inline constexpr uint8_t kTermReqHlen = 24;      // H2CTermReq and C2HTermReq
inline constexpr uint8_t kCapsuleCmdHlen = 72;   // 8 + the 64-byte SQE
inline constexpr uint8_t kCapsuleRespHlen = 24;  // 8 + the 16-byte CQE
inline constexpr uint8_t kDataPduHlen = 24;      // H2CData, C2HData and R2T
inline constexpr size_t kMaxTermReqErrorData = 128;  // copy of the offending PDU's header
inline constexpr uint32_t kMaxTermReqPlen = kTermReqHlen + kMaxTermReqErrorData;  // 152
inline constexpr uint32_t kMinMaxH2CData = 4096;  // ICResp MAXH2CDATA: >= 4096, multiple of 4
inline constexpr uint8_t kMaxPda = 31;            // HPDA, CPDA: alignment (PDA + 1) × 4 bytes
// PDO is one byte, so everything before the data fits in 255 bytes.
inline constexpr size_t kMaxPduPrefix = 256;
inline constexpr uint16_t kNvmeTcpPort = 4420;
inline constexpr uint16_t kNvmeTcpDiscoveryPort = 8009;

// ---- ICReq / ICResp DGST byte ----
inline constexpr uint8_t kDigestHeader = 1u << 0;
inline constexpr uint8_t kDigestData = 1u << 1;

// ---- Fatal Error Status of a TermReq, and what its FEI holds ----
inline constexpr uint16_t kFesInvalidHeaderField = 0x01;  // FEI: byte offset of the bad field
inline constexpr uint16_t kFesPduSequenceError = 0x02;
inline constexpr uint16_t kFesHeaderDigestError = 0x03;   // FEI: the digest received
inline constexpr uint16_t kFesDataOutOfRange = 0x04;
inline constexpr uint16_t kFesDataLimitExceeded = 0x05;   // also "R2T limit exceeded"
inline constexpr uint16_t kFesUnsupportedParameter = 0x06;  // FEI: byte offset of the field
std::string_view FesName(uint16_t fes);  // "invalid PDU header field", ...

// Which end of the connection: decides the TermReq type we send and what we may receive.
enum class Role { kHost, kController };

// ---- The PDUs, as typed values (reserved bytes are sent as zero and ignored on receipt) ----
struct ICReq {  // host -> controller, first PDU on a connection
  uint16_t pfv = 0;            // bytes 8..9: PDU format version, 0
  uint8_t hpda = 0;            // byte 10: alignment the host wants for C2H data
  bool header_digest = false;  // byte 11 bit 0
  bool data_digest = false;    // byte 11 bit 1
  uint32_t maxr2t = 0;         // bytes 12..15: outstanding R2Ts per command, 0-based
  bool operator==(const ICReq&) const = default;
};

struct ICResp {  // controller -> host, answers the ICReq
  uint16_t pfv = 0;            // bytes 8..9
  uint8_t cpda = 0;            // byte 10: alignment the controller wants for H2C data
  bool header_digest = false;  // byte 11 bit 0: what is enabled from now on
  bool data_digest = false;    // byte 11 bit 1
  uint32_t maxh2cdata = 0;     // bytes 12..15: largest H2CData payload, >= 4096, multiple of 4
  bool operator==(const ICResp&) const = default;
};

struct TermReq {  // either direction; the sender closes the connection after it
  uint16_t fes = 0;  // bytes 8..9
  uint32_t fei = 0;  // bytes 10..13 (14..23 reserved)
  uint8_t error_data_length = 0;  // up to 128 bytes of the offending PDU's header, from byte 24
  std::array<uint8_t, kMaxTermReqErrorData> error_data{};
  std::span<const uint8_t> error_header() const { return {error_data.data(), error_data_length}; }
  bool operator==(const TermReq&) const = default;
};

struct CapsuleCmd {  // host -> controller: the SQE at bytes 8..71; in-capsule data at pdo
  Sqe sqe;
  bool operator==(const CapsuleCmd&) const = default;
};

struct CapsuleResp {  // controller -> host: the CQE at bytes 8..23
  Cqe cqe;
  bool operator==(const CapsuleResp&) const = default;
};

struct H2CData {  // host -> controller, answers an R2T
  uint16_t cccid = 0;  // bytes 8..9: command capsule CID
  uint16_t ttag = 0;   // bytes 10..11: the R2T's transfer tag, echoed
  uint32_t datao = 0;  // bytes 12..15: offset into the command's data
  uint32_t datal = 0;  // bytes 16..19: data bytes in this PDU (never 0)
  bool last = false;   // LAST_PDU
  bool operator==(const H2CData&) const = default;
};

struct C2HData {  // controller -> host: read data
  uint16_t cccid = 0;  // bytes 8..9 (10..11 reserved)
  uint32_t datao = 0;  // bytes 12..15
  uint32_t datal = 0;  // bytes 16..19 (never 0)
  bool last = false;     // LAST_PDU
  bool success = false;  // SUCCESS: the command completed, no CapsuleResp follows (needs last)
  bool operator==(const C2HData&) const = default;
};

struct R2T {  // controller -> host: "send me these bytes of the command's data"
  uint16_t cccid = 0;  // bytes 8..9
  uint16_t ttag = 0;   // bytes 10..11
  uint32_t r2to = 0;   // bytes 12..15: offset
  uint32_t r2tl = 0;   // bytes 16..19: length (split into H2CData PDUs of <= MAXH2CDATA)
  bool operator==(const R2T&) const = default;
};

using Pdu = std::variant<ICReq, ICResp, TermReq, CapsuleCmd, CapsuleResp, H2CData, C2HData, R2T>;
uint8_t PduTypeOf(const Pdu& pdu);  // the type byte it is sent with (TermReq: H2C form)

// ---- Sending ----
// What the connection negotiated, as the sender needs it. `pda` is the receiver's alignment
// wish: the CPDA of the ICResp when the host sends, the HPDA of the ICReq when the controller
// sends (data starts at a multiple of (pda + 1) × 4 bytes; padding is zero).
struct TxOptions {
  bool header_digest = false;
  bool data_digest = false;
  uint8_t pda = 0;
};

// Everything of one PDU that precedes its data: header, header digest, padding.
struct PduPrefix {
  std::array<uint8_t, kMaxPduPrefix> buf{};
  uint16_t size = 0;
  uint32_t plen = 0;          // of the whole PDU
  uint32_t data_length = 0;   // bytes of data the caller sends after the prefix
  bool data_digest = false;   // then 4 bytes of DataDigest(data)
  std::span<const uint8_t> bytes() const { return {buf.data(), size}; }
};

// ICReq and ICResp are never digested and carry no data (128 bytes).
PduPrefix EncodeICReq(const ICReq& r);
PduPrefix EncodeICResp(const ICResp& r);
// H2CTermReq from a host, C2HTermReq from a controller; 24 + error_data_length bytes.
PduPrefix EncodeTermReq(Role sender, const TermReq& t);
// `data_length` bytes of in-capsule data follow (0: none).
Result<PduPrefix> EncodeCapsuleCmd(const Sqe& sqe, uint32_t data_length, const TxOptions& o);
PduPrefix EncodeCapsuleResp(const Cqe& cqe, const TxOptions& o);
// kInvalidArgument if datal is 0 (C2HData: or SUCCESS without LAST).
Result<PduPrefix> EncodeH2CData(const H2CData& d, const TxOptions& o);
Result<PduPrefix> EncodeC2HData(const C2HData& d, const TxOptions& o);
PduPrefix EncodeR2T(const R2T& r, const TxOptions& o);

// ---- Digests ----
// The data digest of a PDU's data (CRC32C); for scattered data use Crc32cExtend piece by piece.
uint32_t DataDigest(std::span<const uint8_t> data);
std::array<uint8_t, kDigestSize> EncodeDigest(uint32_t digest);  // little-endian
uint32_t DecodeDigest(std::span<const uint8_t, kDigestSize> bytes);

}  // namespace meshraid::proto::nvme
