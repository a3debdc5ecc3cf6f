// NVMe command layer, pure codec: the 64-byte submission queue entry (SQE) and the 16-byte
// completion queue entry (CQE), the opcodes we use, the SGL descriptors NVMe/TCP carries, and
// the command-specific fields of the I/O commands (Read, Write, Write Zeroes, Dataset
// Management), Identify, Get/Set Features and Get Log Page. Counts in the structs below are
// natural (1-based); the encoders subtract one where the wire field is 0-based (NLB, NR, NSQR,
// NCQR, NUMD) and the decoders add it back. All integers little-endian. doc/nvme_tcp.md lists
// every offset and where it was checked. Status codes: nvme_status.h; Fabrics commands:
// nvme_fabrics.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace meshraid::proto::nvme {

inline constexpr size_t kSqeSize = 64;
inline constexpr size_t kCqeSize = 16;

// ---- Opcodes ----
// Admin command set.
inline constexpr uint8_t kAdminGetLogPage = 0x02;
inline constexpr uint8_t kAdminIdentify = 0x06;
inline constexpr uint8_t kAdminAbort = 0x08;
inline constexpr uint8_t kAdminSetFeatures = 0x09;
inline constexpr uint8_t kAdminGetFeatures = 0x0A;
inline constexpr uint8_t kAdminAsyncEventRequest = 0x0C;
inline constexpr uint8_t kAdminKeepAlive = 0x18;
inline constexpr uint8_t kFabricsOpcode = 0x7F;  // on admin and I/O queues; FCTYPE at byte 4
// NVM command set (I/O queues).
inline constexpr uint8_t kIoFlush = 0x00;
inline constexpr uint8_t kIoWrite = 0x01;
inline constexpr uint8_t kIoRead = 0x02;
inline constexpr uint8_t kIoWriteZeroes = 0x08;
inline constexpr uint8_t kIoDatasetManagement = 0x09;

// "Identify", "Read", "Fabrics", ...; "unknown" otherwise. Admin and I/O opcodes overlap, so
// the caller says which queue the command came from.
std::string_view AdminOpcodeName(uint8_t opcode);
std::string_view IoOpcodeName(uint8_t opcode);

// ---- SQE byte 1 ----
inline constexpr uint8_t kFuseMask = 0x03;        // bits 1:0: 00 normal, 01 first, 10 second
inline constexpr uint8_t kPsdtMask = 0xC0;        // bits 7:6: 00 PRP, 01 SGL (MPTR = buffer)...
inline constexpr uint8_t kPsdtSgl = 0x40;         // ...what NVMe over Fabrics uses

// ---- SGL descriptor (16 bytes; identifier byte = type << 4 | subtype) ----
inline constexpr uint8_t kSglTypeDataBlock = 0x0;
inline constexpr uint8_t kSglTypeTransportDataBlock = 0x5;
inline constexpr uint8_t kSglSubtypeAddress = 0x0;
inline constexpr uint8_t kSglSubtypeOffset = 0x1;
inline constexpr uint8_t kSglSubtypeTransport = 0xA;
// NVMe/TCP's two forms: data in the capsule (address = offset into it, ICDOFF is 0) and data
// moved by R2T/H2CData or C2HData (address 0).
inline constexpr uint8_t kSglInCapsule = 0x01;         // data block, offset subtype
inline constexpr uint8_t kSglTransportData = 0x5A;     // transport data block, transport subtype

struct SglDescriptor {
  uint64_t address = 0;
  uint32_t length = 0;
  uint8_t identifier = 0;  // bytes 12..14 are reserved and not kept
  uint8_t type() const { return identifier >> 4; }
  uint8_t subtype() const { return identifier & 0x0F; }
  bool operator==(const SglDescriptor&) const = default;
};

// The 64-byte submission queue entry. For Fabrics commands bytes 4..23 hold FCTYPE and reserved
// bytes, which land in nsid/cdw2/cdw3/mptr here (nvme_fabrics.h reads them from there).
struct Sqe {
  uint8_t opcode = 0;         // byte 0
  uint8_t flags = 0;          // byte 1: FUSE 1:0, PSDT 7:6
  uint16_t cid = 0;           // bytes 2..3
  uint32_t nsid = 0;          // bytes 4..7
  uint32_t cdw2 = 0;          // bytes 8..11
  uint32_t cdw3 = 0;          // bytes 12..15
  uint64_t mptr = 0;          // bytes 16..23
  SglDescriptor sgl1;         // bytes 24..39: address 24, length 32, identifier 39
  std::array<uint32_t, 6> cdw{};  // CDW10..CDW15 at bytes 40, 44, 48, 52, 56, 60
  uint32_t cdw10() const { return cdw[0]; }
  uint32_t cdw11() const { return cdw[1]; }
  uint32_t cdw12() const { return cdw[2]; }
  uint32_t cdw13() const { return cdw[3]; }
  uint32_t cdw14() const { return cdw[4]; }
  uint32_t cdw15() const { return cdw[5]; }
  uint8_t fuse() const { return flags & kFuseMask; }
  uint8_t psdt() const { return uint8_t(flags >> 6); }
  bool operator==(const Sqe&) const = default;
};

// Over Fabrics every command, Fabrics commands included, has PSDT 01b and no FUSE bits: the
// Linux target answers anything else with "invalid field in command" (DNR). Every Make*
// function here sets byte 1 to kPsdtSgl.
inline bool FabricsFlagsValid(const Sqe& s) { return (s.flags & (kPsdtMask | kFuseMask)) == kPsdtSgl; }

void EncodeSqe(const Sqe& sqe, std::span<uint8_t, kSqeSize> out);
std::array<uint8_t, kSqeSize> EncodeSqe(const Sqe& sqe);
Sqe DecodeSqe(std::span<const uint8_t, kSqeSize> in);

// The 16-byte completion queue entry. `status` is the raw 16-bit field at byte 14 (phase bit 0,
// SC 8:1, SCT 11:9, CRD 13:12, More 14, DNR 15); nvme_status.h builds and names it.
struct Cqe {
  uint32_t dw0 = 0;   // command specific (Connect: CNTLID; Property Get: value low)
  uint32_t dw1 = 0;   // command specific (Property Get: value high)
  uint16_t sqhd = 0;  // byte 8
  uint16_t sqid = 0;  // byte 10
  uint16_t cid = 0;   // byte 12
  uint16_t status = 0;  // byte 14
  bool operator==(const Cqe&) const = default;
};

void EncodeCqe(const Cqe& cqe, std::span<uint8_t, kCqeSize> out);
std::array<uint8_t, kCqeSize> EncodeCqe(const Cqe& cqe);
Cqe DecodeCqe(std::span<const uint8_t, kCqeSize> in);

// ---- Read / Write / Write Zeroes (CDW10-11 SLBA, CDW12 15:0 NLB 0-based) ----
inline constexpr uint32_t kMaxBlocksPerCommand = 65536;  // NLB is 16 bits, 0-based
inline constexpr uint32_t kCdw12Fua = 1u << 30;
inline constexpr uint32_t kCdw12Deac = 1u << 25;     // Write Zeroes: deallocate
inline constexpr uint32_t kCdw12LimitedRetry = 1u << 31;

struct BlockRange {
  uint64_t slba = 0;
  uint32_t blocks = 0;   // 1..65536
  bool fua = false;      // Read, Write, Write Zeroes
  bool deac = false;     // Write Zeroes only
  bool operator==(const BlockRange&) const = default;
};

// A Read, Write or Write Zeroes SQE: PSDT = SGL, sgl1 as given (zero for Write Zeroes).
// kInvalidArgument when blocks is 0 or above 65536, or deac is set on Read/Write.
Result<Sqe> MakeBlockCommand(uint8_t opcode, uint16_t cid, uint32_t nsid, const BlockRange& r,
                             const SglDescriptor& sgl = {});
// The range of a Read, Write or Write Zeroes SQE (deac only read for Write Zeroes).
BlockRange DecodeBlockRange(const Sqe& sqe);

// ---- Dataset Management (CDW10 7:0 NR 0-based, CDW11 attributes; 16-byte ranges) ----
inline constexpr uint32_t kDsmIntegralRead = 1u << 0;
inline constexpr uint32_t kDsmIntegralWrite = 1u << 1;
inline constexpr uint32_t kDsmDeallocate = 1u << 2;  // AD
inline constexpr size_t kDsmRangeSize = 16;
inline constexpr uint32_t kMaxDsmRanges = 256;

struct DsmRange {
  uint32_t context_attributes = 0;  // bytes 0..3
  uint32_t blocks = 0;              // bytes 4..7, length in logical blocks (not 0-based)
  uint64_t slba = 0;                // bytes 8..15
  bool operator==(const DsmRange&) const = default;
};

struct DsmCommand {
  uint32_t ranges = 0;      // 1..256 (NR + 1)
  uint32_t attributes = 0;  // CDW11: kDsmDeallocate | kDsmIntegralRead | kDsmIntegralWrite
  bool deallocate() const { return (attributes & kDsmDeallocate) != 0; }
};

Result<Sqe> MakeDatasetManagement(uint16_t cid, uint32_t nsid, const DsmCommand& d,
                                  const SglDescriptor& sgl);
DsmCommand DecodeDatasetManagement(const Sqe& sqe);
// 16 bytes per range, in order; at most 256 ranges.
Result<std::vector<uint8_t>> EncodeDsmRanges(std::span<const DsmRange> ranges);
// The first `count` ranges of `data`; kInvalidArgument if data holds fewer.
Result<std::vector<DsmRange>> DecodeDsmRanges(std::span<const uint8_t> data, uint32_t count);

// ---- Identify (CDW10 7:0 CNS, 31:16 CNTID; CDW11 31:24 CSI) ----
inline constexpr uint8_t kCnsNamespace = 0x00;
inline constexpr uint8_t kCnsController = 0x01;
inline constexpr uint8_t kCnsActiveNamespaces = 0x02;
inline constexpr uint8_t kCnsNamespaceDescriptors = 0x03;
inline constexpr size_t kIdentifySize = 4096;

struct IdentifyCommand {
  uint8_t cns = 0;
  uint16_t cntid = 0;
  uint8_t csi = 0;
  uint32_t nsid = 0;  // SQE bytes 4..7
};
Sqe MakeIdentify(uint16_t cid, const IdentifyCommand& id, const SglDescriptor& sgl);
IdentifyCommand DecodeIdentify(const Sqe& sqe);

// ---- Get / Set Features (CDW10 7:0 FID; Get: 10:8 SEL; Set: bit 31 SV; value in CDW11) ----
inline constexpr uint8_t kFeatureTemperatureThreshold = 0x04;
inline constexpr uint8_t kFeatureVolatileWriteCache = 0x06;
inline constexpr uint8_t kFeatureNumberOfQueues = 0x07;
inline constexpr uint8_t kFeatureAsyncEventConfig = 0x0B;
inline constexpr uint8_t kFeatureKeepAliveTimer = 0x0F;
inline constexpr uint32_t kVolatileWriteCacheEnable = 1u << 0;  // WCE, CDW11 and DW0

struct FeatureCommand {
  uint8_t fid = 0;
  uint8_t select = 0;     // Get Features SEL: 0 current, 1 default, 2 saved, 3 capabilities
  bool save = false;      // Set Features SV
  uint32_t cdw11 = 0;     // the value (Set) or argument
};
Sqe MakeGetFeatures(uint16_t cid, const FeatureCommand& f);
Sqe MakeSetFeatures(uint16_t cid, const FeatureCommand& f);
FeatureCommand DecodeFeatures(const Sqe& sqe);  // Get or Set, by opcode

// Number of Queues (FID 0x07): CDW11 asks and DW0 answers; both fields 0-based on the wire
// (15:0 submission queues, 31:16 completion queues). Counts 1..65535 (65535 on the wire is
// reserved).
struct QueueCount {
  uint32_t submission = 1;
  uint32_t completion = 1;
  bool operator==(const QueueCount&) const = default;
};
Result<uint32_t> EncodeQueueCount(const QueueCount& q);
QueueCount DecodeQueueCount(uint32_t dword);

// ---- Get Log Page (CDW10: 7:0 LID, 14:8 LSP, 15 RAE, 31:16 NUMDL; CDW11: 15:0 NUMDU,
// 31:16 LSI; CDW12/13 LPOL/LPOU; CDW14 31:24 CSI) ----
inline constexpr uint8_t kLogErrorInformation = 0x01;
inline constexpr uint8_t kLogSmartHealth = 0x02;
inline constexpr uint8_t kLogFirmwareSlot = 0x03;
inline constexpr uint8_t kLogDiscovery = 0x70;

struct GetLogPageCommand {
  uint8_t lid = 0;
  uint8_t lsp = 0;        // 7 bits
  bool rae = false;       // retain asynchronous event
  uint16_t lsi = 0;
  uint8_t csi = 0;
  uint32_t nsid = 0;
  uint64_t offset = 0;    // bytes (LPOL/LPOU); must be a multiple of 4
  uint64_t length = 4;    // bytes: (NUMD + 1) × 4, so 4 .. 2^34 in steps of 4
  bool operator==(const GetLogPageCommand&) const = default;
};
// kInvalidArgument if length is 0, not a multiple of 4 or above 2^34, or offset is not a
// multiple of 4.
Result<Sqe> MakeGetLogPage(uint16_t cid, const GetLogPageCommand& g, const SglDescriptor& sgl);
GetLogPageCommand DecodeGetLogPage(const Sqe& sqe);

}  // namespace meshraid::proto::nvme
