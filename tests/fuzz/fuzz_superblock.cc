// libFuzzer target for the v1 superblock codec: whatever Decode accepts must survive
// Encode → Decode unchanged, and Encode must reproduce the accepted bytes exactly.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "format/superblock.h"

using meshraid::format::ComputeChecksum;
using meshraid::format::Decode;
using meshraid::format::DecodeContext;
using meshraid::format::Encode;
using meshraid::format::SbVersion;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  for (SbVersion v : {SbVersion::k1_0, SbVersion::k1_1, SbVersion::k1_2}) {
    for (uint64_t dev : {uint64_t{0}, uint64_t{24}, uint64_t{131072}, uint64_t{1} << 40}) {
      const DecodeContext ctx{.version = v, .device_sectors = dev};
      auto sb = Decode(in, ctx);
      if (!sb.ok()) continue;
      if (sb->dev_roles.size() != sb->max_dev) abort();
      const auto enc = Encode(*sb);
      if (enc.size() < sb->ByteSize() || enc.size() % 512 != 0) abort();
      for (size_t i = 0; i < sb->ByteSize(); ++i) {
        if (enc[i] != data[i]) abort();  // every byte up to ByteSize() is a field
      }
      if (ComputeChecksum(enc) != sb->sb_csum) abort();
      auto again = Decode(enc, ctx);
      if (!again.ok() || !(*again == *sb)) abort();
    }
  }
  return 0;
}
