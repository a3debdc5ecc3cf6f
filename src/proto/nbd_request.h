// NBD transmission phase, server side: an incremental decoder of the 28-byte compact request
// header and the validation that picks the NBD error to answer (doc/nbd_protocol.md has the
// table). The WRITE payload is not buffered here: the server reads or drains payload_length()
// bytes itself, straight into its own buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/nbd_option.h"
#include "proto/nbd_wire.h"

namespace meshraid::proto {

struct Request {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t cookie = 0;  // opaque, echoed verbatim ("handle" in older texts)
  uint64_t offset = 0;
  uint32_t length = 0;
  bool operator==(const Request&) const = default;

  // Command types 0..7 (READ..BLOCK_STATUS); RESIZE and anything else are unknown to us.
  bool known_type() const { return type <= kCmdBlockStatus; }
  // Flag bits outside FUA|NO_HOLE|DF|REQ_ONE|FAST_ZERO.
  uint16_t unknown_flags() const { return flags & uint16_t(~kCmdFlagsKnown); }
  // Bytes that follow the header on the wire: `length` for WRITE, 0 otherwise. The server
  // must consume them even when it answers with an error, or the stream desynchronises.
  uint32_t payload_length() const { return type == kCmdWrite ? length : 0; }
};

// The 28-byte header of `r` (what a client sends); for tests and fuzzing.
std::array<uint8_t, kRequestHeaderSize> EncodeRequest(const Request& r);

// Incremental decoder of request headers (same contract as OptionDecoder: consumes at most
// the current header; after kBadMagic it stays there and the server must hard-close).
class RequestDecoder {
 public:
  FeedResult Feed(std::span<const uint8_t> input);
  size_t needed() const { return state_ == DecodeState::kNeedMore ? kRequestHeaderSize - have_ : 0; }
  // Valid after kComplete until the next Feed.
  const Request& request() const { return request_; }
  // True between requests: EOF here is a normal disconnect, elsewhere a truncated request.
  bool at_boundary() const { return have_ == 0 || state_ == DecodeState::kComplete; }

 private:
  std::array<uint8_t, kRequestHeaderSize> buf_{};
  size_t have_ = 0;
  Request request_;
  DecodeState state_ = DecodeState::kNeedMore;
};

// What the connection negotiated, as the validation needs it.
struct TransmissionContext {
  uint64_t export_size = 0;
  uint16_t tx_flags = kTxHasFlags;  // exactly as advertised to this client
  bool structured_replies = false;
  bool block_status_context = false;  // a meta context is selected for this export
  BlockSize block_size;               // minimum (alignment) and maximum (payload) enforced
  uint32_t max_write_drain = 128u << 20;  // WRITE payloads above this: hard close
};

enum class RequestAction {
  kServe,       // valid: perform it (zero-length requests included: reply success)
  kReplyError,  // drain payload_length() bytes, then answer `error`
  kDisconnect,  // NBD_CMD_DISC: finish in-flight requests, no reply, close
  kHardClose,   // payload too large to drain: close now
};

struct RequestVerdict {
  RequestAction action = RequestAction::kServe;
  uint32_t error = kNbdOk;    // with kReplyError: an NBD_E* value
  std::string_view reason;    // static text, usable as a structured ERROR message
  bool operator==(const RequestVerdict&) const = default;
};

// Decides what to do with a decoded request. Checks run in this order, first hit wins:
//  1. unknown type -> EINVAL;  DISC -> kDisconnect (fields ignored);
//  2. WRITE longer than max_write_drain -> kHardClose;
//  3. flags: unknown bits; FUA without SEND_FUA; NO_HOLE / FAST_ZERO off WRITE_ZEROES;
//     FAST_ZERO without SEND_FAST_ZERO; DF off READ or without structured replies + SEND_DF;
//     REQ_ONE off BLOCK_STATUS -> EINVAL;
//  4. command not advertised (FLUSH, TRIM, WRITE_ZEROES, CACHE without their flag;
//     BLOCK_STATUS without structured replies and a context) -> EINVAL;
//  5. WRITE / TRIM / WRITE_ZEROES on a read-only export -> EPERM;
//  6. FLUSH with nonzero offset or length -> EINVAL;
//  7. offset or length not a multiple of block_size.minimum -> EINVAL;
//  8. READ longer than block_size.maximum -> EOVERFLOW; WRITE longer -> EINVAL;
//  9. past the end (offset > size || length > size - offset): WRITE, WRITE_ZEROES -> ENOSPC,
//     READ, TRIM, CACHE, BLOCK_STATUS -> EINVAL.
RequestVerdict ValidateRequest(const Request& r, const TransmissionContext& ctx);

}  // namespace meshraid::proto
