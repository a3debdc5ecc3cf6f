#include "format/badblocks.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/endian.h"

namespace meshraid::format {
namespace {

constexpr unsigned kLenBits = 10;
constexpr uint64_t kLenMask = (uint64_t{1} << kLenBits) - 1;
constexpr uint64_t kMaxStartUnits = ~uint64_t{0} >> kLenBits;  // 54 bits

}  // namespace

Result<std::vector<BadBlock>> DecodeBadBlocks(std::span<const uint8_t> buf, uint8_t shift) {
  if (shift > 63) {
    return Status::Corruption(fmt::format("bad-block log shift {} is too large", shift));
  }
  std::vector<BadBlock> out;
  for (size_t off = 0; off + 8 <= buf.size(); off += 8) {
    const uint64_t e = LoadLe64(buf.data() + off);
    if (e == kBadBlockTerminator) break;
    const uint64_t units = e >> kLenBits;
    const uint64_t len = e & kLenMask;
    if (len == 0) {
      return Status::Corruption(fmt::format(
          "bad-block log entry {} (0x{:016x}) has length 0 and is not the terminator", off / 8,
          e));
    }
    const uint64_t limit = ~uint64_t{0} >> shift;
    if (units > limit || len > limit || (units << shift) > ~uint64_t{0} - (len << shift)) {
      return Status::Corruption(fmt::format(
          "bad-block log entry {} ({}+{} units) overflows 64 bits with shift {}", off / 8, units,
          len, shift));
    }
    out.push_back({units << shift, len << shift, true});
  }
  return out;
}

Result<std::vector<BadBlock>> DecodeBadBlockLog(const Superblock& sb,
                                                std::span<const uint8_t> log) {
  if (!sb.Has(kFeatureBadBlocks) || sb.bblog_offset == 0 || sb.bblog_size == 0) {
    return std::vector<BadBlock>{};
  }
  const size_t n = std::min<size_t>({size_t{sb.bblog_size} * 512, kBadBlockLogMaxBytes,
                                     log.size()});
  return DecodeBadBlocks(log.first(n), sb.bblog_shift);
}

std::vector<uint8_t> EncodeEmptyBadBlockLog(uint32_t sectors) {
  return std::vector<uint8_t>(size_t{sectors} * 512, 0);
}

Result<std::vector<uint8_t>> EncodeBadBlocks(std::span<const BadBlock> blocks, uint8_t shift,
                                             uint32_t sectors) {
  if (shift > 63) {
    return Status::InvalidArgument(fmt::format("bad-block log shift {} is too large", shift));
  }
  std::vector<uint8_t> out(size_t{sectors} * 512, 0xFF);
  const size_t cap = std::min<size_t>(out.size(), kBadBlockLogMaxBytes) / 8;
  // One slot stays free for the terminator unless the entries fill the area exactly; MD stops
  // at the end of the page either way, so only require that the entries fit.
  if (blocks.size() > cap) {
    return Status::InvalidArgument(
        fmt::format("{} bad blocks do not fit in a log of {} entries", blocks.size(), cap));
  }
  const uint64_t unit_mask = (uint64_t{1} << shift) - 1;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const BadBlock& b = blocks[i];
    if ((b.start & unit_mask) != 0 || (b.length & unit_mask) != 0) {
      return Status::InvalidArgument(fmt::format(
          "bad block {}+{} is not aligned to 2^{} sectors", b.start, b.length, shift));
    }
    const uint64_t units = b.start >> shift;
    const uint64_t len = b.length >> shift;
    if (len == 0 || len > kBadBlockMaxLen || units > kMaxStartUnits) {
      return Status::InvalidArgument(fmt::format(
          "bad block {}+{} cannot be encoded (length 1..{} units, start < 2^54 units)", b.start,
          b.length, kBadBlockMaxLen));
    }
    StoreLe64(out.data() + 8 * i, (units << kLenBits) | len);
  }
  return out;
}

}  // namespace meshraid::format
