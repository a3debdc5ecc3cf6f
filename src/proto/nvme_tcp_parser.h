// NVMe/TCP receive side, pure: a two-step parser shaped for a socket reader.
//
//   1. Read 8 bytes. FramePdu(those 8 bytes, ctx) says how the rest of the PDU is laid out —
//      header bytes still to read, padding to skip, data length, whether a data digest follows —
//      or refuses the PDU with the FES/FEI to put in a TermReq.
//   2. Read frame.remaining_header() more bytes. DecodePduHeader(all header bytes, ctx) checks
//      the header digest and the type-specific fields and returns the typed PDU (nvme_tcp.h).
//   3. The caller reads frame.padding bytes (discarded), frame.data_length bytes of data into its
//      own buffer, and with frame.data_digest 4 more: compare DataDigest(data) itself (a data
//      digest error is not a transport error; doc/nvme_tcp.md says what the peers do).
//
// Checks follow the header's field order, so the FEI of an invalid field is the lowest
// offending offset. A refusal with send_term_req set is answered with EncodeTermReq(our role,
// MakeTermReq(error, bytes received)) and the connection is closed; a malformed TermReq is
// never answered (the connection is just closed). No allocation.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "proto/nvme_tcp.h"
#include "util/status.h"

namespace meshraid::proto::nvme {

// What the receiving end knows about its connection.
struct ReceiveContext {
  Role receiver = Role::kController;
  // ICReq/ICResp are done. Before that only ICReq (controller) or ICResp (host) and TermReqs
  // are accepted, after it ICReq/ICResp are sequence errors.
  bool initialized = false;
  // The digests in force. A host that has sent its ICReq but not yet read the ICResp sets these
  // to what it requested: an ICResp enabling more is refused.
  bool header_digest = false;
  bool data_digest = false;
  // The alignment we asked of the peer's data (HPDA we sent / CPDA we answered): pdo must be a
  // multiple of (pda + 1) × 4. We ask for 0 (no padding) but accept padding.
  uint8_t pda = 0;
  // Controller: largest in-capsule data in a CapsuleCmd (8192 on the admin queue; IOCCSZ × 16
  // - 64 on I/O queues).
  uint32_t max_in_capsule_data = 8192;
  // Controller: the MAXH2CDATA it advertised. Host: the largest C2HData payload it takes.
  uint32_t max_data_per_pdu = 1u << 20;
};

// Why a PDU was refused.
struct PduError {
  uint16_t fes = kFesInvalidHeaderField;
  uint32_t fei = 0;  // FES 1 and 6: byte offset of the field; FES 3: the received digest
  bool send_term_req = true;  // false: close without answering (the PDU was a TermReq)
  std::string_view message;   // one line for the logs, e.g. "C2HData: SUCCESS flag without LAST_PDU"
  bool operator==(const PduError&) const = default;
  // kCorruption "NVMe/TCP: <message> (FES n, FEI m)".
  Status ToStatus() const;
};

// Either a value or a PduError (Result<T> only carries a Status).
template <typename T>
class [[nodiscard]] PduResult {
 public:
  PduResult(T value) : value_(std::move(value)), ok_(true) {}  // NOLINT: implicit by design
  PduResult(PduError error) : error_(error) {}                 // NOLINT: implicit by design
  bool ok() const { return ok_; }
  const T& value() const { return value_; }
  const T& operator*() const { return value_; }
  const T* operator->() const { return &value_; }
  const PduError& error() const { return error_; }

 private:
  T value_{};
  PduError error_;
  bool ok_ = false;
};

// Layout of the PDU being received, from its common header.
struct PduFrame {
  uint8_t type = 0;
  uint8_t flags = 0;
  uint8_t hlen = 0;
  uint8_t pdo = 0;
  uint32_t plen = 0;
  // Header bytes DecodePduHeader wants: hlen, + 4 with a header digest; a TermReq's whole plen
  // (its copy of the offending header is part of what it says).
  uint32_t header_size = 0;
  uint32_t padding = 0;      // bytes between the header (and digest) and the data
  uint32_t data_length = 0;  // PDU data bytes, 0 if none
  bool data_digest = false;  // 4 bytes of data digest follow the data
  uint32_t remaining_header() const { return header_size - uint32_t(kCommonHeaderSize); }
  bool operator==(const PduFrame&) const = default;
};

// Step 1: validates type, flags, hlen, pdo and plen against the context (in that order).
PduResult<PduFrame> FramePdu(std::span<const uint8_t, kCommonHeaderSize> common,
                             const ReceiveContext& ctx);

// Step 2: `header` holds frame.header_size bytes starting with the common header. Re-frames
// them (so the two steps cannot disagree), checks the header digest (FES 3) and the
// type-specific fields, and decodes.
PduResult<Pdu> DecodePduHeader(std::span<const uint8_t> header, const ReceiveContext& ctx);

// The TermReq that answers `error`, quoting up to 128 bytes of what was received of the bad PDU.
TermReq MakeTermReq(const PduError& error, std::span<const uint8_t> received);

}  // namespace meshraid::proto::nvme
