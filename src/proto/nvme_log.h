// NVMe log pages, pure codec: builders and parsers for Error Information (LID 0x01), SMART /
// Health Information (0x02), Firmware Slot Information (0x03) and the NVMe over Fabrics
// Discovery log (0x70), and CopyLogPage, which serves one Get Log Page command's piece of a
// page (hosts read long pages in pieces: the 1024-byte discovery header first, then all of
// it). The Get Log Page command fields are in nvme_command.h. Offsets: doc/nvme_tcp.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "util/result.h"

namespace meshraid::proto::nvme {

// The piece [offset, offset + out.size()) of `page`, zero-filled past the page's end.
// kInvalidArgument (answer "invalid field in command") if offset is not a multiple of 4 or lies
// beyond the end of the page.
Status CopyLogPage(std::span<const uint8_t> page, uint64_t offset, std::span<uint8_t> out);

// ---- Error Information (0x01): 64-byte entries, newest first; an empty log is all zero ----
inline constexpr size_t kErrorLogEntrySize = 64;
struct ErrorLogEntry {
  uint64_t error_count = 0;   // 0: the entry is unused
  uint16_t sqid = 0;          // 8
  uint16_t cid = 0;           // 10
  uint16_t status = 0;        // 12: the CQE status field (phase in bit 0)
  uint16_t parameter_error_location = 0;  // 14: byte 7:0, bit 10:8 of the bad field
  uint64_t lba = 0;           // 16
  uint32_t nsid = 0;          // 24
  uint64_t command_specific = 0;  // 32
  bool operator==(const ErrorLogEntry&) const = default;
};
std::vector<uint8_t> BuildErrorLog(std::span<const ErrorLogEntry> entries);
// Entries up to the first one with error count 0 (whole 64-byte entries only).
std::vector<ErrorLogEntry> ParseErrorLog(std::span<const uint8_t> data);

// ---- SMART / Health Information (0x02): 512 bytes ----
inline constexpr size_t kSmartLogSize = 512;
struct SmartLog {
  uint8_t critical_warning = 0;        // 0
  uint16_t temperature_kelvin = 0;     // 1..2: composite temperature
  uint8_t available_spare = 100;       // 3: percent
  uint8_t available_spare_threshold = 10;  // 4
  uint8_t percentage_used = 0;         // 5
  // 128-bit little-endian counters on the wire (we keep 64 bits; parsing saturates).
  uint64_t data_units_read = 0;        // 32: units of 1000 × 512 bytes, rounded up
  uint64_t data_units_written = 0;     // 48
  uint64_t host_read_commands = 0;     // 64
  uint64_t host_write_commands = 0;    // 80
  uint64_t controller_busy_minutes = 0;  // 96
  uint64_t power_cycles = 0;           // 112
  uint64_t power_on_hours = 0;         // 128
  uint64_t unsafe_shutdowns = 0;       // 144
  uint64_t media_errors = 0;           // 160
  uint64_t error_log_entries = 0;      // 176
  bool operator==(const SmartLog&) const = default;
};
// Bytes to SMART data units: ceil(bytes / 512000).
constexpr uint64_t DataUnits(uint64_t bytes) { return bytes / 512000 + (bytes % 512000 != 0); }
std::array<uint8_t, kSmartLogSize> BuildSmartLog(const SmartLog& s);
Result<SmartLog> ParseSmartLog(std::span<const uint8_t> data);  // needs 512 bytes

// ---- Firmware Slot Information (0x03): 512 bytes ----
inline constexpr size_t kFirmwareSlotLogSize = 512;
struct FirmwareSlotLog {
  uint8_t afi = 1;  // 0: bits 2:0 active slot, 6:4 slot activated at the next reset
  std::array<std::string, 7> slots;  // FRS1..FRS7 at 8, 16, ..., 8 ASCII each ("" = empty)
  bool operator==(const FirmwareSlotLog&) const = default;
};
Result<std::array<uint8_t, kFirmwareSlotLogSize>> BuildFirmwareSlotLog(const FirmwareSlotLog& f);
Result<FirmwareSlotLog> ParseFirmwareSlotLog(std::span<const uint8_t> data);

// ---- Discovery (0x70): 1024-byte header then 1024-byte entries ----
inline constexpr size_t kDiscoveryRecordSize = 1024;
inline constexpr char kDiscoveryNqn[] = "nqn.2014-08.org.nvmexpress.discovery";
inline constexpr uint8_t kTrtypeTcp = 3;
inline constexpr uint8_t kAdrfamIpv4 = 1;
inline constexpr uint8_t kAdrfamIpv6 = 2;
inline constexpr uint8_t kSubtypeReferral = 1;          // another discovery subsystem
inline constexpr uint8_t kSubtypeNvm = 2;               // an NVM subsystem
inline constexpr uint8_t kSubtypeCurrentDiscovery = 3;  // this discovery subsystem
inline constexpr uint8_t kTreqNotSpecified = 0;         // TREQ 1:0: secure channel
inline constexpr uint8_t kTreqNotRequired = 2;
inline constexpr uint8_t kTreqDisableSqFlow = 1u << 2;  // SQ flow control may be disabled
inline constexpr uint8_t kSectypeNone = 0;              // TSAS byte 0 for TCP
inline constexpr uint16_t kEflagsDuplicateReturned = 1u << 0;
inline constexpr uint16_t kEflagsExplicitPersistent = 1u << 1;

struct DiscoveryEntry {
  uint8_t trtype = kTrtypeTcp;   // 0
  uint8_t adrfam = kAdrfamIpv4;  // 1
  uint8_t subtype = kSubtypeNvm; // 2
  uint8_t treq = kTreqNotSpecified;  // 3
  uint16_t portid = 0;           // 4
  uint16_t cntlid = 0xFFFF;      // 6: 0xFFFF dynamic controller model
  uint16_t asqsz = 32;           // 8: admin submission queue size
  uint16_t eflags = 0;           // 10
  std::string trsvcid;           // 32, 32 bytes: the port, e.g. "4420"
  std::string subnqn;            // 256, 256 bytes
  std::string traddr;            // 512, 256 bytes: e.g. "127.0.0.1"
  uint8_t sectype = kSectypeNone;  // 768 (TSAS, 256 bytes)
  bool operator==(const DiscoveryEntry&) const = default;
};

struct DiscoveryLog {
  uint64_t genctr = 0;  // 0: changes whenever the log does
  uint16_t recfmt = 0;  // 16 (NUMREC at 8 is entries.size())
  std::vector<DiscoveryEntry> entries;
  bool operator==(const DiscoveryLog&) const = default;
};

// 1024 × (1 + entries) bytes; strings NUL padded. kInvalidArgument if a string is too long.
Result<std::vector<uint8_t>> BuildDiscoveryLog(const DiscoveryLog& log);

struct DiscoveryHeader {
  uint64_t genctr = 0;
  uint64_t numrec = 0;
  uint16_t recfmt = 0;
  // Bytes of the whole log: what to ask for after reading the header.
  uint64_t log_size() const { return kDiscoveryRecordSize * (1 + numrec); }
};
Result<DiscoveryHeader> ParseDiscoveryHeader(std::span<const uint8_t> data);  // >= 1024 bytes
// kInvalidArgument if data is shorter than the header says; trailing spaces and NULs are
// trimmed from the strings.
Result<DiscoveryLog> ParseDiscoveryLog(std::span<const uint8_t> data);

}  // namespace meshraid::proto::nvme
