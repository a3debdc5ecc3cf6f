#include "format/bitmap.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>

#include "format/raw_bytes.h"

namespace meshraid::format {
namespace {

using raw::Bytes;
using raw::Le32;
using raw::Le64;
using raw::Load;
using raw::Store;

// bitmap_super_t exactly as on disk (see doc/md_v1.2_format.md).
struct RawBitmapSuper {
  Le32 magic;
  Le32 version;
  Bytes<16> uuid;
  Le64 events;
  Le64 events_cleared;
  Le64 sync_size;
  Le32 state;
  Le32 chunksize;
  Le32 daemon_sleep;
  Le32 write_behind;
  Le32 sectors_reserved;
  Le32 nodes;
  Bytes<64> cluster_name;
  Bytes<120> pad;
};

static_assert(alignof(RawBitmapSuper) == 1);
static_assert(sizeof(RawBitmapSuper) == kBitmapHeaderSize);
static_assert(offsetof(RawBitmapSuper, magic) == 0);
static_assert(offsetof(RawBitmapSuper, version) == 4);
static_assert(offsetof(RawBitmapSuper, uuid) == 8);
static_assert(offsetof(RawBitmapSuper, events) == 24);
static_assert(offsetof(RawBitmapSuper, events_cleared) == 32);
static_assert(offsetof(RawBitmapSuper, sync_size) == 40);
static_assert(offsetof(RawBitmapSuper, state) == 48);
static_assert(offsetof(RawBitmapSuper, chunksize) == 52);
static_assert(offsetof(RawBitmapSuper, daemon_sleep) == 56);
static_assert(offsetof(RawBitmapSuper, write_behind) == 60);
static_assert(offsetof(RawBitmapSuper, sectors_reserved) == 64);
static_assert(offsetof(RawBitmapSuper, nodes) == 68);
static_assert(offsetof(RawBitmapSuper, cluster_name) == 72);
static_assert(offsetof(RawBitmapSuper, pad) == 136);

constexpr uint32_t kMaxWriteBehind = 16383;  // COUNTER_MAX: the in-memory counter width
constexpr uint32_t kMinDefaultChunk = 64u << 20;

Status CheckVersion(uint32_t version) {
  switch (version) {
    case 4:
      return Status::Ok();
    case 3:
      return Status::NotSupported("bitmap version 3 (host-endian) is not supported");
    case 5:
      return Status::NotSupported("bitmap version 5 (clustered) is not supported");
    case 6:
      return Status::NotSupported("bitmap version 6 (lockless llbitmap) is not supported");
    default:
      return Status::NotSupported(fmt::format("unknown bitmap version {}", version));
  }
}

}  // namespace

uint64_t BitmapSuper::Chunks() const {
  const uint64_t cs = ChunkSectors();
  if (cs == 0) return 0;
  return sync_size / cs + (sync_size % cs != 0 ? 1 : 0);
}

Result<BitmapSuper> DecodeBitmapSuper(std::span<const uint8_t> buf) {
  if (buf.size() < kBitmapHeaderSize) {
    return Status::InvalidArgument(fmt::format(
        "buffer too short: {} bytes, a bitmap superblock needs {}", buf.size(), kBitmapHeaderSize));
  }
  buf = buf.first(kBitmapHeaderSize);
  if (std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0; })) {
    return Status::NotFound("no bitmap superblock (block is all zero)");
  }
  RawBitmapSuper r;
  std::memcpy(&r, buf.data(), sizeof r);  // bytes into a struct of byte arrays
  BitmapSuper b;
  b.magic = Load(r.magic);
  b.version = Load(r.version);
  raw::LoadArray(r.uuid, b.uuid);
  b.events = Load(r.events);
  b.events_cleared = Load(r.events_cleared);
  b.sync_size = Load(r.sync_size);
  b.state = Load(r.state);
  b.chunksize = Load(r.chunksize);
  b.daemon_sleep = Load(r.daemon_sleep);
  b.write_behind = Load(r.write_behind);
  b.sectors_reserved = Load(r.sectors_reserved);
  b.nodes = Load(r.nodes);
  raw::LoadArray(r.cluster_name, b.cluster_name);
  raw::LoadArray(r.pad, b.pad);

  if (b.magic != kBitmapMagic) {
    return Status::Corruption(
        fmt::format("bad bitmap magic 0x{:08x} (expected 0x{:08x})", b.magic, kBitmapMagic));
  }
  MESHRAID_RETURN_IF_ERROR(CheckVersion(b.version));
  if (b.chunksize < 512 || !std::has_single_bit(b.chunksize)) {
    return Status::Corruption(fmt::format(
        "bitmap chunksize {} bytes is not a power of two >= 512", b.chunksize));
  }
  if (b.daemon_sleep == 0) {
    return Status::Corruption("bitmap daemon_sleep 0 is out of range (must be >= 1 second)");
  }
  if (b.write_behind > kMaxWriteBehind) {
    return Status::Corruption(fmt::format("bitmap write_behind {} exceeds the maximum {}",
                                          b.write_behind, kMaxWriteBehind));
  }
  if (size_t i = raw::FirstNonZero(r.pad); i != sizeof r.pad.b) {
    return Status::Corruption(fmt::format("non-zero bitmap pad at byte {} (0x{:02x})",
                                          offsetof(RawBitmapSuper, pad) + i, r.pad.b[i]));
  }
  return b;
}

std::vector<uint8_t> EncodeBitmapSuper(const BitmapSuper& b) {
  RawBitmapSuper r;
  Store(r.magic, b.magic);
  Store(r.version, b.version);
  raw::StoreArray(r.uuid, b.uuid);
  Store(r.events, b.events);
  Store(r.events_cleared, b.events_cleared);
  Store(r.sync_size, b.sync_size);
  Store(r.state, b.state);
  Store(r.chunksize, b.chunksize);
  Store(r.daemon_sleep, b.daemon_sleep);
  Store(r.write_behind, b.write_behind);
  Store(r.sectors_reserved, b.sectors_reserved);
  Store(r.nodes, b.nodes);
  raw::StoreArray(r.cluster_name, b.cluster_name);
  raw::StoreArray(r.pad, b.pad);
  std::vector<uint8_t> out(kBitmapHeaderSize);
  std::memcpy(out.data(), &r, sizeof r);
  return out;
}

Status CheckBitmapBelongs(const BitmapSuper& b, const Superblock& sb) {
  if (b.uuid != sb.set_uuid) {
    return Status::Corruption(fmt::format("bitmap uuid {} differs from the array uuid {}",
                                          UuidMdadm(b.uuid), UuidMdadm(sb.set_uuid)));
  }
  return Status::Ok();
}

uint32_t DefaultBitmapChunk(uint64_t sync_size_sectors, uint64_t max_bits) {
  const uint64_t bytes = sync_size_sectors * 512;
  uint64_t chunk = 4096;
  // Grow until ceil(bytes / chunk) <= max_bits; stop at 2^31, the largest u32 power of two.
  while (chunk < (uint64_t{1} << 31) && bytes / chunk + (bytes % chunk != 0) > max_bits) {
    chunk <<= 1;
  }
  return std::max(static_cast<uint32_t>(chunk), kMinDefaultChunk);
}

Result<BitmapBits> BitmapBits::Decode(std::span<const uint8_t> buf, uint64_t chunks) {
  const uint64_t need = chunks / 8 + (chunks % 8 != 0);
  if (buf.size() < need) {
    return Status::InvalidArgument(fmt::format(
        "bitmap bits too short: {} bytes for {} chunks, need {}", buf.size(), chunks, need));
  }
  BitmapBits bits(chunks);
  std::copy_n(buf.begin(), need, bits.bytes_.begin());
  return bits;
}

uint64_t BitmapBits::CountSet() const {
  uint64_t n = 0;
  for (uint64_t i = 0; i < chunks_ / 8; ++i) n += static_cast<uint64_t>(std::popcount(bytes_[i]));
  for (uint64_t c = chunks_ / 8 * 8; c < chunks_; ++c) n += Test(c) ? 1 : 0;
  return n;
}

std::vector<uint64_t> BitmapBits::SetChunks() const {
  std::vector<uint64_t> out;
  for (uint64_t c = 0; c < chunks_; ++c) {
    if (bytes_[c / 8] == 0) {
      c |= 7;  // skip the rest of an all-clear byte
      continue;
    }
    if (Test(c)) out.push_back(c);
  }
  return out;
}

Result<std::vector<uint8_t>> EncodeBitmapArea(const BitmapSuper& b, const BitmapBits& bits,
                                              uint64_t area_bytes) {
  if (bits.chunks() != b.Chunks()) {
    return Status::InvalidArgument(fmt::format("bitmap of {} chunks given {} bits", b.Chunks(),
                                               bits.chunks()));
  }
  if (b.TotalBytes() > area_bytes) {
    return Status::InvalidArgument(fmt::format(
        "bitmap needs {} bytes, its area holds {}", b.TotalBytes(), area_bytes));
  }
  std::vector<uint8_t> out = EncodeBitmapSuper(b);
  out.insert(out.end(), bits.bytes().begin(), bits.bytes().end());
  if (const uint64_t used = bits.chunks() % 8; used != 0) {
    out.back() |= static_cast<uint8_t>(0xFF << used);  // padding bits read as set, like MD's
  }
  out.resize(area_bytes, kBitmapFillByte);
  return out;
}

}  // namespace meshraid::format
