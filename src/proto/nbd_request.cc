// Request header decoding and validation (see nbd_request.h).
#include "proto/nbd_request.h"

#include <algorithm>

#include "util/endian.h"

namespace meshraid::proto {
namespace {

RequestVerdict Error(uint32_t error, std::string_view reason) {
  return {RequestAction::kReplyError, error, reason};
}

bool Has(uint16_t bits, uint16_t flag) { return (bits & flag) != 0; }

// Step 3 of ValidateRequest: the flag bits.
RequestVerdict CheckFlags(const Request& r, const TransmissionContext& ctx) {
  const uint16_t f = r.flags;
  if (r.unknown_flags() != 0) return Error(kNbdEinval, "unknown command flags");
  // FUA is accepted on every command once advertised: clients set it on non-writes too.
  if (Has(f, kCmdFlagFua) && !Has(ctx.tx_flags, kTxSendFua)) {
    return Error(kNbdEinval, "FUA flag not negotiated");
  }
  if (Has(f, kCmdFlagNoHole) && r.type != kCmdWriteZeroes) {
    return Error(kNbdEinval, "NO_HOLE flag is only valid on WRITE_ZEROES");
  }
  if (Has(f, kCmdFlagFastZero)) {
    if (r.type != kCmdWriteZeroes) return Error(kNbdEinval, "FAST_ZERO flag is only valid on WRITE_ZEROES");
    if (!Has(ctx.tx_flags, kTxSendFastZero)) return Error(kNbdEinval, "FAST_ZERO flag not negotiated");
  }
  if (Has(f, kCmdFlagDf)) {
    if (r.type != kCmdRead) return Error(kNbdEinval, "DF flag is only valid on READ");
    if (!ctx.structured_replies || !Has(ctx.tx_flags, kTxSendDf)) {
      return Error(kNbdEinval, "DF flag not negotiated");
    }
  }
  if (Has(f, kCmdFlagReqOne) && r.type != kCmdBlockStatus) {
    return Error(kNbdEinval, "REQ_ONE flag is only valid on BLOCK_STATUS");
  }
  return {};
}

// Step 4: commands the client may only send when we advertised them.
RequestVerdict CheckAdvertised(const Request& r, const TransmissionContext& ctx) {
  switch (r.type) {
    case kCmdFlush:
      if (!Has(ctx.tx_flags, kTxSendFlush)) return Error(kNbdEinval, "FLUSH not negotiated");
      break;
    case kCmdTrim:
      if (!Has(ctx.tx_flags, kTxSendTrim)) return Error(kNbdEinval, "TRIM not negotiated");
      break;
    case kCmdWriteZeroes:
      if (!Has(ctx.tx_flags, kTxSendWriteZeroes)) return Error(kNbdEinval, "WRITE_ZEROES not negotiated");
      break;
    case kCmdCache:
      if (!Has(ctx.tx_flags, kTxSendCache)) return Error(kNbdEinval, "CACHE not negotiated");
      break;
    case kCmdBlockStatus:
      if (!ctx.structured_replies || !ctx.block_status_context) {
        return Error(kNbdEinval, "BLOCK_STATUS needs structured replies and a meta context");
      }
      break;
    default:
      break;
  }
  return {};
}

}  // namespace

std::array<uint8_t, kRequestHeaderSize> EncodeRequest(const Request& r) {
  std::array<uint8_t, kRequestHeaderSize> b{};
  StoreBe32(b.data(), kRequestMagic);
  StoreBe16(b.data() + 4, r.flags);
  StoreBe16(b.data() + 6, r.type);
  StoreBe64(b.data() + 8, r.cookie);
  StoreBe64(b.data() + 16, r.offset);
  StoreBe32(b.data() + 24, r.length);
  return b;
}

FeedResult RequestDecoder::Feed(std::span<const uint8_t> input) {
  if (state_ == DecodeState::kBadMagic) return {0, state_};
  if (state_ == DecodeState::kComplete) {
    have_ = 0;
    state_ = DecodeState::kNeedMore;
  }
  const size_t n = std::min(kRequestHeaderSize - have_, input.size());
  std::copy_n(input.begin(), n, buf_.begin() + static_cast<ptrdiff_t>(have_));
  have_ += n;
  if (have_ < kRequestHeaderSize) return {n, state_};
  if (LoadBe32(buf_.data()) != kRequestMagic) return {n, state_ = DecodeState::kBadMagic};
  request_.flags = LoadBe16(buf_.data() + 4);
  request_.type = LoadBe16(buf_.data() + 6);
  request_.cookie = LoadBe64(buf_.data() + 8);
  request_.offset = LoadBe64(buf_.data() + 16);
  request_.length = LoadBe32(buf_.data() + 24);
  return {n, state_ = DecodeState::kComplete};
}

RequestVerdict ValidateRequest(const Request& r, const TransmissionContext& ctx) {
  if (!r.known_type()) return Error(kNbdEinval, "unknown command");
  if (r.type == kCmdDisc) return {RequestAction::kDisconnect, kNbdOk, "client disconnect"};
  if (r.type == kCmdWrite && r.length > ctx.max_write_drain) {
    return {RequestAction::kHardClose, kNbdOk, "write payload too large to drain"};
  }
  if (RequestVerdict v = CheckFlags(r, ctx); v.action != RequestAction::kServe) return v;
  if (RequestVerdict v = CheckAdvertised(r, ctx); v.action != RequestAction::kServe) return v;

  const bool modifies = r.type == kCmdWrite || r.type == kCmdTrim || r.type == kCmdWriteZeroes;
  if (modifies && Has(ctx.tx_flags, kTxReadOnly)) return Error(kNbdEperm, "export is read-only");
  if (r.type == kCmdFlush) {
    if (r.offset != 0 || r.length != 0) return Error(kNbdEinval, "FLUSH with nonzero offset or length");
    return {};
  }
  // Every remaining command addresses [offset, offset + length).
  const uint32_t min = std::max<uint32_t>(ctx.block_size.minimum, 1);
  if (r.offset % min != 0 || r.length % min != 0) {
    return Error(kNbdEinval, "request not aligned to the minimum block size");
  }
  if (r.length > ctx.block_size.maximum) {
    if (r.type == kCmdRead) return Error(kNbdEoverflow, "read longer than the maximum payload");
    if (r.type == kCmdWrite) return Error(kNbdEinval, "write longer than the maximum payload");
  }
  if (r.offset > ctx.export_size || r.length > ctx.export_size - r.offset) {
    const bool writes = r.type == kCmdWrite || r.type == kCmdWriteZeroes;
    return writes ? Error(kNbdEnospc, "write past the end of the export")
                  : Error(kNbdEinval, "request past the end of the export");
  }
  return {};
}

}  // namespace meshraid::proto
