// libFuzzer target for the bad-block log codec: a decoded log re-encodes to a log that decodes
// to the same entries. The first input byte is the shift, the rest is the log.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "format/badblocks.h"

using meshraid::format::DecodeBadBlocks;
using meshraid::format::EncodeBadBlocks;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t shift = data[0] % 72;  // mostly valid, sometimes > 63
  const std::span<const uint8_t> log(data + 1, std::min<size_t>(size - 1, 4096));
  auto bb = DecodeBadBlocks(log, shift);
  if (!bb.ok()) return 0;
  if (shift > 63) abort();
  auto enc = EncodeBadBlocks(*bb, shift, 8);
  if (!enc.ok()) abort();
  auto again = DecodeBadBlocks(*enc, shift);
  if (!again.ok() || *again != *bb) abort();
  return 0;
}
