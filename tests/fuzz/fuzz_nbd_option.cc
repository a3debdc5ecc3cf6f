// libFuzzer target for the NBD option decoder and option parsing. Input: 4 bytes choosing the
// chunk sizes (cycled, 1..64 bytes each), 1 byte choosing the negotiation state, then the
// client's option stream. Invariants: consumed <= provided, progress or a terminal state, a
// well-formed INFO/GO re-encodes to exactly its data, accepted names obey the string rules and
// can be echoed back, and every error verdict is an NBD_REP_ERR_* value.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "proto/nbd_option.h"
#include "util/endian.h"

using namespace meshraid::proto;

namespace {

std::vector<uint8_t> InfoData(const ParsedOption& p) {
  std::vector<uint8_t> b(4 + p.export_name.size() + 2 + 2 * p.info_requests.size());
  meshraid::StoreBe32(b.data(), uint32_t(p.export_name.size()));
  std::copy(p.export_name.begin(), p.export_name.end(), b.begin() + 4);
  uint8_t* q = b.data() + 4 + p.export_name.size();
  meshraid::StoreBe16(q, uint16_t(p.info_requests.size()));
  for (size_t i = 0; i < p.info_requests.size(); ++i) meshraid::StoreBe16(q + 2 + 2 * i, p.info_requests[i]);
  return b;
}

void Check(const Option& opt, const NegotiationState& st) {
  const ParsedOption p = ParseOption(opt, st);
  if (p.code != opt.code) abort();
  switch (p.verdict) {
    case OptionVerdict::kReplyError:
      if ((p.error & kRepErrorBit) == 0 || p.reason.empty()) abort();
      if (!EncodeOptionError(opt.code, p.error, p.reason).ok()) abort();
      return;
    case OptionVerdict::kHardClose:
      if (p.kind != OptionKind::kExportName) abort();
      return;
    case OptionVerdict::kProcess:
      break;
  }
  if (p.kind == OptionKind::kUnknown) abort();
  if (!CheckWireString(p.export_name, "name").ok()) abort();
  if (!EncodeInfoName(opt.code, p.export_name).ok()) abort();
  if ((p.kind == OptionKind::kInfo || p.kind == OptionKind::kGo) && InfoData(p) != opt.data) abort();
  if (p.kind == OptionKind::kExportName &&
      std::string_view(reinterpret_cast<const char*>(opt.data.data()), opt.data.size()) != p.export_name) {
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const std::array<size_t, 4> chunks = {size_t(data[0] % 64) + 1, size_t(data[1] % 64) + 1,
                                        size_t(data[2] % 64) + 1, size_t(data[3] % 64) + 1};
  const NegotiationState st{(data[4] & 1) == 0, (data[4] & 2) != 0, (data[4] & 4) != 0};
  std::span<const uint8_t> stream(data + 5, size - 5);
  OptionDecoder d(8192);
  for (size_t i = 0; !stream.empty(); ++i) {
    std::span<const uint8_t> piece = stream.first(std::min(chunks[i % 4], stream.size()));
    const FeedResult r = d.Feed(piece);
    if (r.consumed > piece.size()) abort();
    if (r.state == DecodeState::kBadMagic || r.state == DecodeState::kTooLong) return 0;
    if (r.consumed == 0) abort();
    if ((r.state == DecodeState::kComplete) != (d.needed() == 0)) abort();
    stream = stream.subspan(r.consumed);
    if (r.state == DecodeState::kComplete) Check(d.option(), st);
  }
  return 0;
}
