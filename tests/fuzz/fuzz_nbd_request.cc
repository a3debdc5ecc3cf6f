// libFuzzer target for the NBD request decoder and validation. Input: 4 bytes choosing the
// chunk sizes the stream is fed in (cycled, 1..64 bytes each), 1 byte choosing the negotiated
// context, then the client's byte stream. WRITE payloads are skipped as the server would
// drain them. Invariants: consumed <= provided, progress or a terminal state, a decoded
// request re-encodes to the same request, and a served request is inside the export.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "proto/nbd_request.h"

using namespace meshraid::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const std::array<size_t, 4> chunks = {size_t(data[0] % 64) + 1, size_t(data[1] % 64) + 1,
                                        size_t(data[2] % 64) + 1, size_t(data[3] % 64) + 1};
  const uint8_t c = data[4];
  TransmissionContext ctx;
  ctx.export_size = (c & 1) ? (1u << 20) : 0x7fffffffffffffffull;
  ctx.tx_flags = (c & 2) ? uint16_t(0xded | kTxReadOnly) : uint16_t(0xded);
  ctx.structured_replies = (c & 4) != 0;
  ctx.block_status_context = (c & 8) != 0;
  ctx.block_size = (c & 16) ? BlockSize{512, 4096, 1u << 16} : BlockSize{1, 4096, 1u << 25};
  ctx.max_write_drain = 1u << 26;

  std::span<const uint8_t> stream(data + 5, size - 5);
  RequestDecoder d;
  uint64_t drain = 0;
  for (size_t i = 0; !stream.empty(); ++i) {
    std::span<const uint8_t> piece = stream.first(std::min(chunks[i % 4], stream.size()));
    if (drain > 0) {  // skip a WRITE payload, as the server does even when it answers an error
      const size_t n = size_t(std::min<uint64_t>(drain, piece.size()));
      drain -= n;
      stream = stream.subspan(n);
      continue;
    }
    const FeedResult r = d.Feed(piece);
    if (r.consumed > piece.size()) abort();
    if (r.state == DecodeState::kBadMagic) return 0;
    if (r.consumed == 0) abort();  // no progress on a live decoder
    stream = stream.subspan(r.consumed);
    if (r.state != DecodeState::kComplete) continue;

    const Request req = d.request();
    RequestDecoder again;
    const auto bytes = EncodeRequest(req);
    const FeedResult r2 = again.Feed(bytes);
    if (r2.state != DecodeState::kComplete || r2.consumed != bytes.size()) abort();
    if (!(again.request() == req)) abort();

    const RequestVerdict v = ValidateRequest(req, ctx);
    if (v.action == RequestAction::kHardClose || v.action == RequestAction::kDisconnect) return 0;
    if (v.action == RequestAction::kReplyError && v.error == kNbdOk) abort();
    if (v.action == RequestAction::kServe && req.type != kCmdFlush) {
      if (req.offset > ctx.export_size || req.length > ctx.export_size - req.offset) abort();
      if (req.offset % ctx.block_size.minimum || req.length % ctx.block_size.minimum) abort();
      if (req.unknown_flags() != 0 || !req.known_type()) abort();
    }
    drain = req.payload_length();
  }
  return 0;
}
