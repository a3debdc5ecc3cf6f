// libFuzzer target for the bitmap superblock and bit-array codecs: whatever DecodeBitmapSuper
// accepts must encode back to the same 256 bytes and decode to the same struct; the bit array
// that follows must count consistently.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "format/bitmap.h"

using meshraid::format::BitmapBits;
using meshraid::format::DecodeBitmapSuper;
using meshraid::format::EncodeBitmapSuper;
using meshraid::format::kBitmapHeaderSize;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  auto b = DecodeBitmapSuper(in);
  if (!b.ok()) return 0;
  const auto enc = EncodeBitmapSuper(*b);
  if (enc.size() != kBitmapHeaderSize || !std::equal(enc.begin(), enc.end(), data)) abort();
  auto again = DecodeBitmapSuper(enc);
  if (!again.ok() || !(*again == *b)) abort();
  if (b->ChunkSectors() == 0) abort();

  // The bits: as many chunks as the input holds (Chunks() may be astronomically large).
  const auto rest = in.subspan(kBitmapHeaderSize);
  const uint64_t chunks = std::min<uint64_t>(b->Chunks(), uint64_t{rest.size()} * 8);
  auto bits = BitmapBits::Decode(rest, chunks);
  if (!bits.ok()) abort();
  const uint64_t n = bits->CountSet();
  const auto list = bits->SetChunks();
  if (n > chunks || list.size() != n) abort();
  for (uint64_t c : list) {
    if (c >= chunks || !bits->Test(c)) abort();
  }
  if (chunks < rest.size() * 8 && !BitmapBits::Decode(rest, chunks + 1).ok()) abort();
  return 0;
}
