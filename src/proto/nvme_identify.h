// NVMe Identify data, pure codec: builders (a plain struct of what a controller says -> the
// 4096-byte page) and parsers (a page -> a plain struct of what a host needs) for Identify
// Controller (CNS 0x01), Identify Namespace (CNS 0x00), the active namespace ID list (CNS 0x02)
// and the namespace identification descriptor list (CNS 0x03). Fields we do not model are sent
// as zero and ignored on receipt. Byte offsets are in the comments and in doc/nvme_tcp.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "proto/nvme_command.h"
#include "util/result.h"

namespace meshraid::proto::nvme {

using IdentifyPage = std::array<uint8_t, kIdentifySize>;

// ---- Identify Controller (CNS 0x01) ----
inline constexpr uint8_t kControllerTypeIo = 1;         // CNTRLTYPE
inline constexpr uint8_t kControllerTypeDiscovery = 2;
inline constexpr uint16_t kOncsCompare = 1u << 0;
inline constexpr uint16_t kOncsWriteUncorrectable = 1u << 1;
inline constexpr uint16_t kOncsDsm = 1u << 2;
inline constexpr uint16_t kOncsWriteZeroes = 1u << 3;
inline constexpr uint8_t kVwcPresent = 1u << 0;
inline constexpr uint8_t kLpaExtendedData = 1u << 2;  // LPO and NUMDU honoured in Get Log Page
inline constexpr uint32_t kCtrattHostId128 = 1u << 0;
inline constexpr uint32_t kSglsSupported = 0x1;        // bits 1:0 = 01b: byte-aligned SGLs
inline constexpr uint32_t kSglsOffset = 1u << 20;      // address may be an offset (in-capsule)
inline constexpr uint32_t kOaesNamespaceAttributes = 1u << 8;
inline constexpr uint32_t kOaesDiscoveryLogChange = 1u << 31;

struct ControllerIdentity {
  uint16_t vid = 0;          // 0
  uint16_t ssvid = 0;        // 2
  std::string serial;        // 4, 20 ASCII, space padded
  std::string model;         // 24, 40 ASCII
  std::string firmware;      // 64, 8 ASCII
  uint8_t rab = 0;           // 72
  std::array<uint8_t, 3> ieee{};  // 73, OUI, least significant byte first
  uint8_t cmic = 0;          // 76
  uint8_t mdts = 0;          // 77: max transfer 2^mdts × CAP.MPSMIN page; 0 = no limit
  uint16_t cntlid = 0;       // 78
  uint32_t version = 0;      // 80 VER
  uint32_t oaes = 0;         // 92
  uint32_t ctratt = 0;       // 96
  uint8_t cntrltype = kControllerTypeIo;  // 111
  uint16_t oacs = 0;         // 256
  uint8_t acl = 0;           // 258, 0-based
  uint8_t aerl = 0;          // 259, 0-based
  uint8_t frmw = 0;          // 260
  uint8_t lpa = 0;           // 261
  uint8_t elpe = 0;          // 262, 0-based
  uint8_t npss = 0;          // 263, 0-based
  uint16_t kas = 0;          // 320: keep alive granularity in 100 ms units (0 = none)
  uint8_t sqes = 0x66;       // 512: max 7:4, required 3:0 (2^n bytes)
  uint8_t cqes = 0x44;       // 513
  uint16_t maxcmd = 0;       // 514
  uint32_t nn = 0;           // 516: number of namespaces (highest NSID)
  uint16_t oncs = 0;         // 520
  uint16_t fuses = 0;        // 522
  uint8_t fna = 0;           // 524
  uint8_t vwc = 0;           // 525
  uint16_t awun = 0;         // 526, 0-based
  uint16_t awupf = 0;        // 528, 0-based
  uint32_t sgls = 0;         // 536
  std::string subnqn;        // 768, 256 bytes NUL padded
  uint32_t ioccsz = 0;       // 1792: I/O command capsule size in 16-byte units (>= 4)
  uint32_t iorcsz = 0;       // 1796: response capsule size in 16-byte units (>= 1)
  uint16_t icdoff = 0;       // 1800: in-capsule data offset in 16-byte units (TCP: 0)
  uint8_t fcatt = 0;         // 1802: bit 0 = static controller model
  uint8_t msdbd = 0;         // 1803: max SGL data block descriptors (0 = no limit)
  uint16_t ofcs = 0;         // 1804: optional fabrics commands (bit 0 Disconnect)
  bool operator==(const ControllerIdentity&) const = default;

  // In-capsule data bytes an I/O queue command may carry: IOCCSZ × 16 - 64 (0 if IOCCSZ < 4).
  uint32_t in_capsule_data_bytes() const { return ioccsz >= 4 ? ioccsz * 16 - 64 : 0; }
};

// kInvalidArgument if a string is too long for its field, not printable ASCII (serial, model,
// firmware), or the NQN is longer than 223 bytes.
Result<IdentifyPage> BuildIdentifyController(const ControllerIdentity& c);
// Trailing spaces (and NULs) are trimmed from the ASCII fields. kInvalidArgument if shorter
// than 4096 bytes or SUBNQN has no NUL.
Result<ControllerIdentity> ParseIdentifyController(std::span<const uint8_t> page);

// ---- Identify Namespace (CNS 0x00) ----
inline constexpr uint8_t kNsfeatThinProvisioning = 1u << 0;
inline constexpr uint8_t kNsfeatDeallocatedError = 1u << 2;  // DAE
inline constexpr uint8_t kNmicShared = 1u << 0;
inline constexpr uint8_t kDlfeatReadsZeroes = 0x01;          // bits 2:0 = 001b
inline constexpr uint8_t kDlfeatWriteZeroesDeallocates = 1u << 3;
inline constexpr size_t kMaxLbaFormats = 64;

struct LbaFormat {           // 4 bytes each, from byte 128
  uint16_t metadata_size = 0;  // bits 15:0
  uint8_t lbads = 9;           // bits 23:16: LBA size 2^lbads (9 = 512)
  uint8_t relative_performance = 0;  // bits 25:24
  bool operator==(const LbaFormat&) const = default;
};

struct NamespaceIdentity {
  uint64_t nsze = 0;   // 0: size in logical blocks
  uint64_t ncap = 0;   // 8
  uint64_t nuse = 0;   // 16
  uint8_t nsfeat = 0;  // 24
  // 25 NLBAF is lba_formats.size() - 1; 26 FLBAS: format index (bits 3:0, and 6:5 as index
  // bits 5:4 when there are more than 16 formats), bit 4 metadata at the end of the LBA.
  uint8_t flbas = 0;
  uint8_t nmic = 0;    // 30
  uint8_t dlfeat = 0;  // 33
  uint16_t noiob = 0;  // 46: optimal I/O boundary in blocks
  std::array<uint8_t, 16> nguid{};  // 104
  std::array<uint8_t, 8> eui64{};   // 120
  std::vector<LbaFormat> lba_formats = {LbaFormat{}};  // 128, 1..64 entries
  bool operator==(const NamespaceIdentity&) const = default;

  uint8_t format_index() const { return uint8_t((flbas & 0x0F) | ((flbas & 0x60) >> 1)); }
};

// kInvalidArgument unless 1..64 formats and the FLBAS index names one of them.
Result<IdentifyPage> BuildIdentifyNamespace(const NamespaceIdentity& ns);
// kCorruption if NLBAF > 63, the FLBAS index is above NLBAF or the current format's LBADS is
// outside 9..31.
Result<NamespaceIdentity> ParseIdentifyNamespace(std::span<const uint8_t> page);
// The current format's LBA size in bytes (2^LBADS); 0 if the index names no format.
uint32_t LbaSize(const NamespaceIdentity& ns);
// An all-zero page: what Identify Namespace returns for an inactive NSID.
bool IsInactiveNamespace(std::span<const uint8_t> page);

// ---- Active namespace ID list (CNS 0x02): up to 1024 u32 NSIDs, ascending, zero filled ----
inline constexpr size_t kMaxNamespaceIds = 1024;
// The NSIDs of `active` above `after` (the command's NSID), the first 1024. kInvalidArgument if
// `active` is not strictly ascending or holds 0 or an NSID >= 0xFFFFFFFE.
Result<IdentifyPage> BuildActiveNamespaceList(std::span<const uint32_t> active, uint32_t after);
// The NSIDs up to the first 0; kCorruption if they are not strictly ascending.
Result<std::vector<uint32_t>> ParseActiveNamespaceList(std::span<const uint8_t> page);

// ---- Namespace identification descriptors (CNS 0x03): {NIDT u8, NIDL u8, 2 reserved, NID} ----
inline constexpr uint8_t kNidtEui64 = 1;  // NIDL 8
inline constexpr uint8_t kNidtNguid = 2;  // NIDL 16
inline constexpr uint8_t kNidtUuid = 3;   // NIDL 16
inline constexpr uint8_t kNidtCsi = 4;    // NIDL 1

struct NamespaceIds {
  std::optional<std::array<uint8_t, 8>> eui64;
  std::optional<std::array<uint8_t, 16>> nguid;
  std::optional<std::array<uint8_t, 16>> uuid;
  std::optional<uint8_t> csi;  // command set: 0 = NVM
  bool operator==(const NamespaceIds&) const = default;
};
IdentifyPage BuildNamespaceDescriptors(const NamespaceIds& ids);
// Walks descriptors until NIDT 0 or the end of the page; unknown types are skipped. kCorruption
// if a known type has the wrong NIDL or a descriptor runs past the page.
Result<NamespaceIds> ParseNamespaceDescriptors(std::span<const uint8_t> page);

// ---- Field helpers shared with the log pages ----
// Copies `s` into `field`, padding with spaces (ASCII fields) or NULs; kInvalidArgument naming
// `what` if it does not fit (or, for ASCII, is not printable).
Status PutAscii(std::span<uint8_t> field, std::string_view s, std::string_view what);
Status PutNulPadded(std::span<uint8_t> field, std::string_view s, std::string_view what);
// The field without trailing spaces and NULs.
std::string GetTrimmed(std::span<const uint8_t> field);

}  // namespace meshraid::proto::nvme
