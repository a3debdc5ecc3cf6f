// NVMe over Fabrics commands, pure codec: the Fabrics opcode 0x7F with FCTYPE at SQE byte 4 —
// Connect (with its 1024-byte data and its response), Property Get and Property Set — and the
// controller properties a host reads and writes through them (CAP, VS, CC, CSTS), as structs.
// Field offsets are SQE byte offsets; doc/nvme_tcp.md says where each was checked.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "proto/nvme_command.h"
#include "util/result.h"

namespace meshraid::proto::nvme {

// ---- FCTYPE (SQE byte 4) ----
inline constexpr uint8_t kFctypePropertySet = 0x00;
inline constexpr uint8_t kFctypeConnect = 0x01;
inline constexpr uint8_t kFctypePropertyGet = 0x04;
inline constexpr uint8_t kFctypeAuthSend = 0x05;
inline constexpr uint8_t kFctypeAuthReceive = 0x06;
inline constexpr uint8_t kFctypeDisconnect = 0x08;

inline uint8_t FabricsType(const Sqe& s) { return uint8_t(s.nsid & 0xFF); }
std::string_view FabricsTypeName(uint8_t fctype);  // "Connect", ...; "unknown"

// ---- Connect (RECFMT u16 @40, QID u16 @42, SQSIZE u16 @44 0-based, CATTR u8 @46, KATO u32 @48) ----
inline constexpr size_t kConnectDataSize = 1024;
inline constexpr size_t kNqnFieldSize = 256;
inline constexpr size_t kMaxNqnLength = 223;     // the NQN itself (the field is NUL padded)
inline constexpr uint16_t kDynamicCntlid = 0xFFFF;  // Connect data CNTLID on the admin queue
inline constexpr uint8_t kCattrDisableSqFlowControl = 1u << 2;
inline constexpr uint32_t kAdminQueueInCapsuleBytes = 8192;  // ICD on the admin queue

struct ConnectCommand {
  uint16_t recfmt = 0;
  uint16_t qid = 0;             // 0 = admin queue
  uint32_t queue_entries = 32;  // SQSIZE + 1: 1..65536
  uint8_t cattr = 0;
  uint32_t kato_ms = 0;         // keep alive timeout (admin queue only)
  bool operator==(const ConnectCommand&) const = default;
};

// PSDT = SGL; `sgl` describes the 1024-byte Connect data (in-capsule on NVMe/TCP).
Result<Sqe> MakeConnect(uint16_t cid, const ConnectCommand& c, const SglDescriptor& sgl);
ConnectCommand DecodeConnect(const Sqe& s);

struct ConnectData {
  std::array<uint8_t, 16> hostid{};  // bytes 0..15
  uint16_t cntlid = kDynamicCntlid;  // bytes 16..17
  std::string subnqn;                // bytes 256..511, NUL terminated
  std::string hostnqn;               // bytes 512..767, NUL terminated
  bool operator==(const ConnectData&) const = default;
};

// kInvalidArgument if an NQN is empty, longer than 223 bytes or holds a NUL.
Result<std::array<uint8_t, kConnectDataSize>> EncodeConnectData(const ConnectData& d);
// kInvalidArgument if data is shorter than 1024 bytes or an NQN field has no NUL.
Result<ConnectData> DecodeConnectData(std::span<const uint8_t> data);

// The success response: DW0 15:0 CNTLID (31:16 AUTHREQ stays 0: we do no authentication).
Cqe MakeConnectResponse(uint16_t cid, uint16_t sqhd, uint16_t cntlid);
inline uint16_t ConnectResponseCntlid(const Cqe& c) { return uint16_t(c.dw0 & 0xFFFF); }
// The DW0 of a Connect Invalid Parameters answer: IPO (byte offset of the bad field) in 15:0,
// IATTR bit 0 in 23:16 (1: the offset is into the Connect data, 0: into the SQE).
inline uint32_t ConnectInvalidParameterDw0(uint16_t offset, bool in_data) {
  return uint32_t(offset) | (in_data ? 1u << 16 : 0);
}

// ---- Property Get / Set (ATTRIB u8 @40: 0 = 4 bytes, 1 = 8 bytes; OFST u32 @44; VALUE u64 @48) ----
inline constexpr uint32_t kPropertyCap = 0x00;   // 8 bytes
inline constexpr uint32_t kPropertyVs = 0x08;    // 4 bytes
inline constexpr uint32_t kPropertyCc = 0x14;    // 4 bytes
inline constexpr uint32_t kPropertyCsts = 0x1C;  // 4 bytes
inline constexpr uint32_t kPropertyNssr = 0x20;  // 4 bytes, optional

struct PropertyCommand {
  bool eight_bytes = false;  // ATTRIB size
  uint32_t offset = 0;
  uint64_t value = 0;        // Set only (4-byte sets use the low half)
  bool operator==(const PropertyCommand&) const = default;
};
Sqe MakePropertyGet(uint16_t cid, uint32_t offset, bool eight_bytes);
Sqe MakePropertySet(uint16_t cid, uint32_t offset, uint64_t value, bool eight_bytes);
// kInvalidArgument if ATTRIB's size field is neither 0 nor 1.
Result<PropertyCommand> DecodeProperty(const Sqe& s);
// Property Get answers its value in DW0 (low) and DW1 (high).
inline uint64_t PropertyValue(const Cqe& c) { return uint64_t(c.dw0) | (uint64_t(c.dw1) << 32); }

// ---- CAP (8 bytes): MQES 15:0 (0-based), CQR 16, AMS 18:17, TO 31:24 (500 ms units),
// DSTRD 35:32, NSSRS 36, CSS 44:37 (bit 37 NVM), BPS 45, MPSMIN 51:48, MPSMAX 55:52 ----
struct Capabilities {
  uint32_t max_queue_entries = 1024;  // MQES + 1: 2..65536
  bool contiguous_queues = true;      // CQR
  uint8_t ams = 0;
  uint8_t timeout_500ms = 0;          // TO: worst-case time to ready, in 500 ms units
  uint8_t dstrd = 0;
  bool nssrs = false;
  uint8_t css = 0x01;                 // bit 0 (CAP bit 37): NVM command set
  bool bps = false;
  uint8_t mpsmin = 0;                 // memory page size 2^(12 + MPSMIN)
  uint8_t mpsmax = 0;
  bool operator==(const Capabilities&) const = default;
};
uint64_t EncodeCap(const Capabilities& c);
Capabilities DecodeCap(uint64_t cap);

// ---- VS (4 bytes): MJR 31:16, MNR 15:8, TER 7:0 ----
constexpr uint32_t MakeVersion(uint16_t major, uint8_t minor, uint8_t tertiary = 0) {
  return (uint32_t(major) << 16) | (uint32_t(minor) << 8) | tertiary;
}
inline constexpr uint32_t kVersion1_4 = MakeVersion(1, 4);  // 0x00010400
inline constexpr uint32_t kVersion2_0 = MakeVersion(2, 0);  // 0x00020000

// ---- CC (4 bytes): EN 0, CSS 6:4, MPS 10:7, AMS 13:11, SHN 15:14, IOSQES 19:16, IOCQES 23:20 ----
inline constexpr uint8_t kShutdownNone = 0;
inline constexpr uint8_t kShutdownNormal = 1;
inline constexpr uint8_t kShutdownAbrupt = 2;
struct Configuration {
  bool enable = false;
  uint8_t css = 0;
  uint8_t mps = 0;
  uint8_t ams = 0;
  uint8_t shn = kShutdownNone;
  uint8_t iosqes = 0;  // 2^n bytes: 6 for 64-byte SQEs
  uint8_t iocqes = 0;  // 4 for 16-byte CQEs
  bool operator==(const Configuration&) const = default;
};
uint32_t EncodeCc(const Configuration& c);
Configuration DecodeCc(uint32_t cc);

// ---- CSTS (4 bytes): RDY 0, CFS 1, SHST 3:2 (0 normal, 1 occurring, 2 complete) ----
inline constexpr uint8_t kShutdownStatusNormal = 0;
inline constexpr uint8_t kShutdownStatusOccurring = 1;
inline constexpr uint8_t kShutdownStatusComplete = 2;
struct ControllerStatus {
  bool ready = false;
  bool fatal = false;
  uint8_t shst = kShutdownStatusNormal;
  bool operator==(const ControllerStatus&) const = default;
};
uint32_t EncodeCsts(const ControllerStatus& s);
ControllerStatus DecodeCsts(uint32_t csts);

}  // namespace meshraid::proto::nvme
