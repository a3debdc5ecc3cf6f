// Server side of the NBD fixed-newstyle handshake as a pure codec: the greeting, the client
// flags, an incremental option decoder, option payload parsing with the spec's length rules,
// and the option reply encoders. No sockets: byte spans in, structs and bytes out.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/nbd_wire.h"
#include "util/result.h"

namespace meshraid::proto {

// The 18-byte greeting: NBDMAGIC, IHAVEOPT, handshake flags FIXED_NEWSTYLE|NO_ZEROES.
std::array<uint8_t, kGreetingSize> EncodeServerGreeting();

struct ClientFlags {
  bool fixed_newstyle = false;
  bool no_zeroes = false;
  bool operator==(const ClientFlags&) const = default;
};

// Decodes the client's 4-byte flags answer to our greeting. kInvalidArgument (the server must
// drop the connection) when `bytes` is not 4 bytes long or carries any bit we did not offer.
Result<ClientFlags> DecodeClientFlags(std::span<const uint8_t> bytes);

// One option as received: its code and its data (exactly the header's length).
struct Option {
  uint32_t code = 0;
  std::vector<uint8_t> data;
  bool operator==(const Option&) const = default;
};

enum class DecodeState {
  kNeedMore,   // feed more bytes (needed() says how many complete the current message)
  kComplete,   // a whole message is ready; the next Feed starts a new one
  kBadMagic,   // wrong magic: the stream cannot be resynchronised, hard close
  kTooLong,    // option data above the decoder's bound: hard close (DoS clause)
};

struct FeedResult {
  size_t consumed = 0;  // bytes of the input used; never past the end of the current message
  DecodeState state = DecodeState::kNeedMore;
};

// Incremental decoder of one option at a time (16-byte header + data). Feed it whatever
// arrived; it consumes only what belongs to the current option, so leftover bytes belong to
// the next message. After kBadMagic or kTooLong it stays in that state.
class OptionDecoder {
 public:
  explicit OptionDecoder(uint32_t max_length = kDefaultMaxOptionLength)
      : max_length_(max_length) {}

  FeedResult Feed(std::span<const uint8_t> input);

  // Bytes still missing to complete the current option (header first: 16 until it is in).
  size_t needed() const;
  // The decoded option; valid after kComplete until the next Feed.
  const Option& option() const { return option_; }
  // Options completed so far on this connection (for an option budget).
  uint64_t options_decoded() const { return decoded_; }

 private:
  uint32_t max_length_;
  std::array<uint8_t, kOptionHeaderSize> header_{};
  size_t header_have_ = 0;
  uint32_t data_length_ = 0;
  Option option_;
  DecodeState state_ = DecodeState::kNeedMore;
  uint64_t decoded_ = 0;
};

// What the server knows about the negotiation so far (NOTLS server).
struct NegotiationState {
  bool fixed_newstyle = true;       // client set C_FIXED_NEWSTYLE
  bool structured_replies = false;  // STRUCTURED_REPLY already acknowledged
  bool shutting_down = false;
};

enum class OptionKind {
  kExportName, kAbort, kList, kStartTls, kInfo, kGo, kStructuredReply,
  kUnknown,  // anything else, including meta-context and extended-header options
};

enum class OptionVerdict {
  kProcess,     // well-formed: act on it
  kReplyError,  // answer `error` (an NBD_REP_ERR_*) with `reason`, stay in negotiation
  kHardClose,   // close without a reply (bad EXPORT_NAME; it cannot carry an error)
};

struct ParsedOption {
  uint32_t code = 0;
  OptionKind kind = OptionKind::kUnknown;
  OptionVerdict verdict = OptionVerdict::kProcess;
  uint32_t error = 0;                   // with kReplyError
  std::string reason;                   // with kReplyError/kHardClose: why (for the message)
  std::string export_name;              // EXPORT_NAME, INFO, GO
  std::vector<uint16_t> info_requests;  // INFO, GO: as sent, unknown types included

  bool WantsInfo(uint16_t type) const;
};

// Parses an option's payload and judges it against `state`, in this order: shutdown
// (ERR_SHUTDOWN, EXPORT_NAME: hard close; ABORT always passes), non-fixed-newstyle client
// (anything but EXPORT_NAME: ERR_INVALID), unknown option (ERR_UNSUP), payload lengths
// (ERR_INVALID; INFO/GO need exactly 4+N+2+2K bytes), names (NUL or > 4096 bytes:
// ERR_INVALID, EXPORT_NAME: hard close), then policy: STARTTLS -> ERR_POLICY (NOTLS server),
// a second STRUCTURED_REPLY -> ERR_INVALID. ABORT ignores its data.
ParsedOption ParseOption(const Option& option, const NegotiationState& state);

// ---- Option replies (20-byte header + payload) ----

std::vector<uint8_t> EncodeOptionReply(uint32_t option, uint32_t reply_type,
                                       std::span<const uint8_t> payload);
std::vector<uint8_t> EncodeAck(uint32_t option);
// NBD_REP_SERVER for LIST: name length, name, then the optional description.
Result<std::vector<uint8_t>> EncodeServerReply(std::string_view name,
                                               std::string_view description = {});
// NBD_REP_INFO payloads. HAS_FLAGS is always set in the transmission flags.
std::vector<uint8_t> EncodeInfoExport(uint32_t option, uint64_t size, uint16_t tx_flags);
Result<std::vector<uint8_t>> EncodeInfoName(uint32_t option, std::string_view name);
Result<std::vector<uint8_t>> EncodeInfoDescription(uint32_t option, std::string_view text);

struct BlockSize {
  uint32_t minimum = 1;
  uint32_t preferred = 4096;
  uint32_t maximum = kDosSafeLength;
  bool operator==(const BlockSize&) const = default;
};
// kInvalidArgument unless: minimum a power of 2 in [1, 65536]; preferred a power of 2 and
// >= max(minimum, 512); maximum >= preferred and a multiple of minimum (or 0xffffffff).
// (libnbd silently ignores advertisements that break these.)
Status ValidateBlockSize(const BlockSize& bs);
Result<std::vector<uint8_t>> EncodeInfoBlockSize(uint32_t option, const BlockSize& bs);

// An error reply: `error` must have bit 31 set; `message` is the human-readable payload.
Result<std::vector<uint8_t>> EncodeOptionError(uint32_t option, uint32_t error,
                                               std::string_view message);

// The reply that ends EXPORT_NAME: size, transmission flags (HAS_FLAGS forced), then 124
// zero bytes unless NO_ZEROES was negotiated (10 or 134 bytes).
std::vector<uint8_t> EncodeExportNameReply(uint64_t size, uint16_t tx_flags, bool no_zeroes);

}  // namespace meshraid::proto
