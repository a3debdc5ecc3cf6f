#include "testing/mem_copy.h"

#include <algorithm>
#include <span>
#include <utility>
#include <vector>

namespace meshraid::testing {

io::Task<Result<std::unique_ptr<io::MemDevice>>> CopyToMemDevice(io::BlockDevice& src,
                                                                 io::Executor& executor,
                                                                 std::string name) {
  const io::DeviceInfo& info = src.info();
  auto dst = std::make_unique<io::MemDevice>(
      executor, io::MemDevice::Options{.size_bytes = info.size_bytes,
                                       .logical_block_size = info.logical_block_size,
                                       .physical_block_size = info.physical_block_size,
                                       .name = std::move(name)});
  const uint64_t chunk = io::MemDevice::kChunkBytes;
  // A multiple of the chunk size, within max_io_bytes when that allows a whole chunk.
  const uint64_t step = std::max<uint64_t>(chunk, info.max_io_bytes / chunk * chunk);
  std::vector<uint8_t> buf;
  for (uint64_t at = 0; at < info.size_bytes; at += step) {
    buf.resize(std::min(step, info.size_bytes - at));
    Status s = co_await src.Read(at, buf);
    if (!s.ok()) co_return s.WithPrefix("copying to a MemDevice");
    for (uint64_t i = 0; i < buf.size(); i += chunk) {
      const std::span<const uint8_t> piece(buf.data() + i,
                                           std::min<uint64_t>(chunk, buf.size() - i));
      if (std::any_of(piece.begin(), piece.end(), [](uint8_t b) { return b != 0; })) {
        dst->Poke(at + i, piece);
      }
    }
  }
  co_return std::move(dst);
}

}  // namespace meshraid::testing
