// NVMe completion status, pure: the 16-bit status field of a CQE (byte 14: phase bit 0, SC 8:1,
// SCT 11:9, CRD 13:12, More 14, DNR 15), the status codes we send or expect by name, and a
// readable form for logs ("generic: LBA out of range (sct 0 sc 0x80, dnr)"). Over Fabrics the
// phase bit is not used: MakeStatus leaves it 0 and the accessors ignore it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace meshraid::proto::nvme {

// Status Code Type.
inline constexpr uint8_t kSctGeneric = 0;
inline constexpr uint8_t kSctCommandSpecific = 1;
inline constexpr uint8_t kSctMediaError = 2;
inline constexpr uint8_t kSctPath = 3;
inline constexpr uint8_t kSctVendor = 7;

struct StatusCode {
  uint8_t sct = 0;
  uint8_t sc = 0;
  constexpr bool operator==(const StatusCode&) const = default;
};

// ---- Generic command status (SCT 0) ----
inline constexpr StatusCode kScSuccess{kSctGeneric, 0x00};
inline constexpr StatusCode kScInvalidOpcode{kSctGeneric, 0x01};
inline constexpr StatusCode kScInvalidField{kSctGeneric, 0x02};
inline constexpr StatusCode kScCommandIdConflict{kSctGeneric, 0x03};
inline constexpr StatusCode kScDataTransferError{kSctGeneric, 0x04};
inline constexpr StatusCode kScPowerLoss{kSctGeneric, 0x05};
inline constexpr StatusCode kScInternalError{kSctGeneric, 0x06};
inline constexpr StatusCode kScAbortRequested{kSctGeneric, 0x07};
inline constexpr StatusCode kScAbortSqDeleted{kSctGeneric, 0x08};
inline constexpr StatusCode kScInvalidNamespace{kSctGeneric, 0x0B};  // or format
inline constexpr StatusCode kScCommandSequenceError{kSctGeneric, 0x0C};
inline constexpr StatusCode kScInvalidSglSegmentDescriptor{kSctGeneric, 0x0D};
inline constexpr StatusCode kScInvalidSglCount{kSctGeneric, 0x0E};
inline constexpr StatusCode kScDataSglLengthInvalid{kSctGeneric, 0x0F};
inline constexpr StatusCode kScMetadataSglLengthInvalid{kSctGeneric, 0x10};
inline constexpr StatusCode kScSglDescriptorTypeInvalid{kSctGeneric, 0x11};
inline constexpr StatusCode kScSglOffsetInvalid{kSctGeneric, 0x16};
inline constexpr StatusCode kScHostIdInconsistentFormat{kSctGeneric, 0x18};
inline constexpr StatusCode kScKeepAliveExpired{kSctGeneric, 0x19};
inline constexpr StatusCode kScKeepAliveInvalid{kSctGeneric, 0x1A};
inline constexpr StatusCode kScNamespaceWriteProtected{kSctGeneric, 0x20};
inline constexpr StatusCode kScCommandInterrupted{kSctGeneric, 0x21};
inline constexpr StatusCode kScTransientTransportError{kSctGeneric, 0x22};
// Generic, NVM command set (0x80..).
inline constexpr StatusCode kScLbaOutOfRange{kSctGeneric, 0x80};
inline constexpr StatusCode kScCapacityExceeded{kSctGeneric, 0x81};
inline constexpr StatusCode kScNamespaceNotReady{kSctGeneric, 0x82};
inline constexpr StatusCode kScReservationConflict{kSctGeneric, 0x83};

// ---- Command specific status (SCT 1) ----
inline constexpr StatusCode kScInvalidQueueIdentifier{kSctCommandSpecific, 0x01};
inline constexpr StatusCode kScInvalidQueueSize{kSctCommandSpecific, 0x02};
inline constexpr StatusCode kScAbortCommandLimitExceeded{kSctCommandSpecific, 0x03};
inline constexpr StatusCode kScAsyncEventLimitExceeded{kSctCommandSpecific, 0x05};
inline constexpr StatusCode kScInvalidLogPage{kSctCommandSpecific, 0x09};
inline constexpr StatusCode kScFeatureNotSaveable{kSctCommandSpecific, 0x0D};
inline constexpr StatusCode kScFeatureNotChangeable{kSctCommandSpecific, 0x0E};
// Fabrics command specific (Connect and friends), same SCT 1 numbers 0x80.. as the NVM command
// set's, told apart by the command they answer.
inline constexpr StatusCode kScConnectIncompatibleFormat{kSctCommandSpecific, 0x80};
inline constexpr StatusCode kScConnectControllerBusy{kSctCommandSpecific, 0x81};
inline constexpr StatusCode kScConnectInvalidParameters{kSctCommandSpecific, 0x82};
inline constexpr StatusCode kScConnectRestartDiscovery{kSctCommandSpecific, 0x83};
inline constexpr StatusCode kScConnectInvalidHost{kSctCommandSpecific, 0x84};
// NVM command set specific.
inline constexpr StatusCode kScConflictingAttributes{kSctCommandSpecific, 0x80};
inline constexpr StatusCode kScInvalidProtectionInformation{kSctCommandSpecific, 0x81};
inline constexpr StatusCode kScWriteToReadOnlyRange{kSctCommandSpecific, 0x82};

// ---- Media and data integrity errors (SCT 2) ----
inline constexpr StatusCode kScWriteFault{kSctMediaError, 0x80};
inline constexpr StatusCode kScUnrecoveredReadError{kSctMediaError, 0x81};

// ---- The status field ----
inline constexpr uint16_t kStatusPhase = 1u << 0;
inline constexpr uint16_t kStatusMore = 1u << 14;
inline constexpr uint16_t kStatusDnr = 1u << 15;

// The 16-bit field (phase 0). crd is the Command Retry Delay index 0..3.
constexpr uint16_t MakeStatus(StatusCode c, bool dnr = false, bool more = false, uint8_t crd = 0) {
  return uint16_t((uint16_t(c.sc) << 1) | (uint16_t(c.sct & 0x7) << 9) |
                  (uint16_t(crd & 0x3) << 12) | (more ? kStatusMore : 0) | (dnr ? kStatusDnr : 0));
}
constexpr StatusCode StatusCodeOf(uint16_t status) {
  return StatusCode{uint8_t((status >> 9) & 0x7), uint8_t((status >> 1) & 0xFF)};
}
constexpr bool StatusOk(uint16_t status) { return (status & 0x0FFE) == 0; }  // SCT 0, SC 0
constexpr bool StatusDnr(uint16_t status) { return (status & kStatusDnr) != 0; }
constexpr bool StatusMore(uint16_t status) { return (status & kStatusMore) != 0; }
constexpr uint8_t StatusCrd(uint16_t status) { return uint8_t((status >> 12) & 0x3); }

// "generic", "command specific", "media error", "path", "vendor specific", "reserved".
std::string_view SctName(uint8_t sct);
// The spec's name of a code ("LBA out of range"); "unknown" if we do not know it. SCT 1 codes
// 0x80.. mean different things for Fabrics commands and NVM I/O commands: `fabrics` picks.
std::string_view StatusCodeName(StatusCode c, bool fabrics = false);
// "generic: LBA out of range (sct 0 sc 0x80, dnr)"; "success" for success. Flags listed: dnr,
// more, crd N.
std::string StatusToString(uint16_t status, bool fabrics = false);

}  // namespace meshraid::proto::nvme
