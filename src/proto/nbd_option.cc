// Handshake codec (see nbd_option.h).
#include "proto/nbd_option.h"

#include <algorithm>
#include <bit>
#include <string>

#include "util/endian.h"

namespace meshraid::proto {
namespace {

OptionKind KindOf(uint32_t code) {
  switch (code) {
    case kOptExportName: return OptionKind::kExportName;
    case kOptAbort: return OptionKind::kAbort;
    case kOptList: return OptionKind::kList;
    case kOptStartTls: return OptionKind::kStartTls;
    case kOptInfo: return OptionKind::kInfo;
    case kOptGo: return OptionKind::kGo;
    case kOptStructuredReply: return OptionKind::kStructuredReply;
  }
  return OptionKind::kUnknown;
}

std::string_view AsText(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void Reject(ParsedOption& p, uint32_t error, std::string reason) {
  p.verdict = OptionVerdict::kReplyError;
  p.error = error;
  p.reason = std::move(reason);
}

void Close(ParsedOption& p, std::string reason) {
  p.verdict = OptionVerdict::kHardClose;
  p.reason = std::move(reason);
}

// INFO/GO data: u32 name length N, N bytes name, u16 count K, K x u16 info type.
// The option length must be exactly 4 + N + 2 + 2K.
void ParseInfoRequest(const Option& opt, ParsedOption& p) {
  const std::span<const uint8_t> d(opt.data);
  if (d.size() < 6) {
    return Reject(p, kRepErrInvalid, "option data shorter than 6 bytes");
  }
  const uint32_t name_len = LoadBe32(d.data());
  if (name_len > d.size() - 6) {
    return Reject(p, kRepErrInvalid, "export name length overruns the option");
  }
  const size_t count_at = 4 + size_t{name_len};
  const uint16_t count = LoadBe16(d.data() + count_at);
  if (d.size() != count_at + 2 + 2 * size_t{count}) {
    return Reject(p, kRepErrInvalid, "option length does not match the info request count");
  }
  const std::string_view name = AsText(d.subspan(4, name_len));
  if (Status s = CheckWireString(name, "export name"); !s.ok()) {
    return Reject(p, kRepErrInvalid, s.message());
  }
  p.export_name = std::string(name);
  p.info_requests.reserve(count);
  for (size_t i = 0; i < count; ++i) p.info_requests.push_back(LoadBe16(d.data() + count_at + 2 + 2 * i));
}

std::vector<uint8_t> InfoReply(uint32_t option, uint16_t type, std::span<const uint8_t> body) {
  std::vector<uint8_t> payload(2 + body.size());
  StoreBe16(payload.data(), type);
  std::copy(body.begin(), body.end(), payload.begin() + 2);
  return EncodeOptionReply(option, kRepInfo, payload);
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::array<uint8_t, kGreetingSize> EncodeServerGreeting() {
  std::array<uint8_t, kGreetingSize> g{};
  StoreBe64(g.data(), kNbdMagic);
  StoreBe64(g.data() + 8, kIHaveOpt);
  StoreBe16(g.data() + 16, kServerHandshakeFlags);
  return g;
}

Result<ClientFlags> DecodeClientFlags(std::span<const uint8_t> bytes) {
  if (bytes.size() != kClientFlagsSize) {
    return Status::InvalidArgument("client flags must be 4 bytes, got " +
                                   std::to_string(bytes.size()));
  }
  const uint32_t raw = LoadBe32(bytes.data());
  // Both client bits mirror handshake bits we offer; anything else must drop the connection.
  const uint32_t known = kClientFlagFixedNewstyle | kClientFlagNoZeroes;
  if ((raw & ~known) != 0) {
    return Status::InvalidArgument("client flags carry unknown bits " + std::to_string(raw & ~known));
  }
  return ClientFlags{(raw & kClientFlagFixedNewstyle) != 0, (raw & kClientFlagNoZeroes) != 0};
}

FeedResult OptionDecoder::Feed(std::span<const uint8_t> input) {
  if (state_ == DecodeState::kBadMagic || state_ == DecodeState::kTooLong) return {0, state_};
  if (state_ == DecodeState::kComplete) {
    header_have_ = 0;
    data_length_ = 0;
    option_ = Option{};
    state_ = DecodeState::kNeedMore;
  }
  size_t pos = 0;
  if (header_have_ < kOptionHeaderSize) {
    const size_t n = std::min(kOptionHeaderSize - header_have_, input.size());
    std::copy_n(input.begin(), n, header_.begin() + static_cast<ptrdiff_t>(header_have_));
    header_have_ += n;
    pos = n;
    if (header_have_ < kOptionHeaderSize) return {pos, state_};
    if (LoadBe64(header_.data()) != kIHaveOpt) return {pos, state_ = DecodeState::kBadMagic};
    option_.code = LoadBe32(header_.data() + 8);
    data_length_ = LoadBe32(header_.data() + 12);
    if (data_length_ > max_length_) return {pos, state_ = DecodeState::kTooLong};
    option_.data.reserve(data_length_);
  }
  const size_t take = std::min(size_t{data_length_} - option_.data.size(), input.size() - pos);
  option_.data.insert(option_.data.end(), input.begin() + static_cast<ptrdiff_t>(pos),
                      input.begin() + static_cast<ptrdiff_t>(pos + take));
  pos += take;
  if (option_.data.size() == data_length_) {
    ++decoded_;
    state_ = DecodeState::kComplete;
  }
  return {pos, state_};
}

size_t OptionDecoder::needed() const {
  if (state_ != DecodeState::kNeedMore) return 0;
  if (header_have_ < kOptionHeaderSize) return kOptionHeaderSize - header_have_;
  return data_length_ - option_.data.size();
}

bool ParsedOption::WantsInfo(uint16_t type) const {
  return std::find(info_requests.begin(), info_requests.end(), type) != info_requests.end();
}

ParsedOption ParseOption(const Option& opt, const NegotiationState& state) {
  ParsedOption p;
  p.code = opt.code;
  p.kind = KindOf(opt.code);
  if (state.shutting_down && p.kind != OptionKind::kAbort) {
    if (p.kind == OptionKind::kExportName) Close(p, "server is shutting down");
    else Reject(p, kRepErrShutdown, "server is shutting down");
    return p;
  }
  if (!state.fixed_newstyle && p.kind != OptionKind::kExportName &&
      p.kind != OptionKind::kAbort) {
    Reject(p, kRepErrInvalid, "only NBD_OPT_EXPORT_NAME is valid without fixed newstyle");
    return p;
  }
  switch (p.kind) {
    case OptionKind::kExportName: {
      const std::string_view name = AsText(opt.data);
      if (Status s = CheckWireString(name, "export name"); !s.ok()) Close(p, s.message());
      else p.export_name = std::string(name);
      break;
    }
    case OptionKind::kAbort:  // "SHOULD ignore any data"
      break;
    case OptionKind::kList:
    case OptionKind::kStartTls:
    case OptionKind::kStructuredReply:
      if (!opt.data.empty()) {
        Reject(p, kRepErrInvalid, std::string(OptionName(opt.code)) + " takes no data");
      } else if (p.kind == OptionKind::kStartTls) {
        Reject(p, kRepErrPolicy, "TLS is not enabled on this server");
      } else if (p.kind == OptionKind::kStructuredReply && state.structured_replies) {
        Reject(p, kRepErrInvalid, "structured replies already negotiated");
      }
      break;
    case OptionKind::kInfo:
    case OptionKind::kGo:
      ParseInfoRequest(opt, p);
      break;
    case OptionKind::kUnknown:
      Reject(p, kRepErrUnsup, "option " + std::to_string(opt.code) + " (" +
                                  std::string(OptionName(opt.code)) + ") is not supported");
      break;
  }
  return p;
}

std::vector<uint8_t> EncodeOptionReply(uint32_t option, uint32_t reply_type,
                                       std::span<const uint8_t> payload) {
  std::vector<uint8_t> out(kOptionReplyHeaderSize + payload.size());
  StoreBe64(out.data(), kOptionReplyMagic);
  StoreBe32(out.data() + 8, option);
  StoreBe32(out.data() + 12, reply_type);
  StoreBe32(out.data() + 16, static_cast<uint32_t>(payload.size()));
  std::copy(payload.begin(), payload.end(), out.begin() + kOptionReplyHeaderSize);
  return out;
}

std::vector<uint8_t> EncodeAck(uint32_t option) { return EncodeOptionReply(option, kRepAck, {}); }

Result<std::vector<uint8_t>> EncodeServerReply(std::string_view name,
                                               std::string_view description) {
  MESHRAID_RETURN_IF_ERROR(CheckWireString(name, "export name"));
  MESHRAID_RETURN_IF_ERROR(CheckWireString(description, "export description"));
  std::vector<uint8_t> payload(4 + name.size() + description.size());
  StoreBe32(payload.data(), static_cast<uint32_t>(name.size()));
  std::copy(name.begin(), name.end(), payload.begin() + 4);
  std::copy(description.begin(), description.end(),
            payload.begin() + 4 + static_cast<ptrdiff_t>(name.size()));
  return EncodeOptionReply(kOptList, kRepServer, payload);
}

std::vector<uint8_t> EncodeInfoExport(uint32_t option, uint64_t size, uint16_t tx_flags) {
  std::array<uint8_t, 10> body{};
  StoreBe64(body.data(), size);
  StoreBe16(body.data() + 8, static_cast<uint16_t>(tx_flags | kTxHasFlags));
  return InfoReply(option, kInfoExport, body);
}

Result<std::vector<uint8_t>> EncodeInfoName(uint32_t option, std::string_view name) {
  MESHRAID_RETURN_IF_ERROR(CheckWireString(name, "export name"));
  return InfoReply(option, kInfoName, Bytes(name));
}

Result<std::vector<uint8_t>> EncodeInfoDescription(uint32_t option, std::string_view text) {
  MESHRAID_RETURN_IF_ERROR(CheckWireString(text, "export description"));
  return InfoReply(option, kInfoDescription, Bytes(text));
}

Status ValidateBlockSize(const BlockSize& bs) {
  if (!std::has_single_bit(bs.minimum) || bs.minimum > 65536) {
    return Status::InvalidArgument("minimum block size must be a power of 2 up to 65536");
  }
  if (!std::has_single_bit(bs.preferred) || bs.preferred < std::max<uint32_t>(bs.minimum, 512)) {
    return Status::InvalidArgument("preferred block size must be a power of 2 >= max(min, 512)");
  }
  if (bs.maximum < bs.preferred) {
    return Status::InvalidArgument("maximum payload must be >= the preferred block size");
  }
  if (bs.maximum != 0xffffffffu && bs.maximum % bs.minimum != 0) {
    return Status::InvalidArgument("maximum payload must be a multiple of the minimum");
  }
  return Status();
}

Result<std::vector<uint8_t>> EncodeInfoBlockSize(uint32_t option, const BlockSize& bs) {
  MESHRAID_RETURN_IF_ERROR(ValidateBlockSize(bs));
  std::array<uint8_t, 12> body{};
  StoreBe32(body.data(), bs.minimum);
  StoreBe32(body.data() + 4, bs.preferred);
  StoreBe32(body.data() + 8, bs.maximum);
  return InfoReply(option, kInfoBlockSize, body);
}

Result<std::vector<uint8_t>> EncodeOptionError(uint32_t option, uint32_t error,
                                               std::string_view message) {
  if ((error & kRepErrorBit) == 0) {
    return Status::InvalidArgument("option error reply type lacks bit 31");
  }
  MESHRAID_RETURN_IF_ERROR(CheckWireString(message, "error message"));
  return EncodeOptionReply(option, error, Bytes(message));
}

std::vector<uint8_t> EncodeExportNameReply(uint64_t size, uint16_t tx_flags, bool no_zeroes) {
  std::vector<uint8_t> out(kExportNameReplySize + (no_zeroes ? 0 : kExportNamePadding), 0);
  StoreBe64(out.data(), size);
  StoreBe16(out.data() + 8, static_cast<uint16_t>(tx_flags | kTxHasFlags));
  return out;
}

}  // namespace meshraid::proto
