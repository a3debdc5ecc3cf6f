// CRC32C: published check values (the "123456789" check of the CRC catalogue, RFC 3720 B.4's
// 32-byte vectors), the portable and hardware paths against each other at every alignment and
// length 0..300 and on long buffers that take the three-lane path, and piecewise extension.
#include "util/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string_view>
#include <vector>

namespace meshraid {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<uint8_t> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

// Every implementation we have, by name, for the parameterised checks.
std::vector<std::pair<const char*, uint32_t (*)(uint32_t, std::span<const uint8_t>)>> Impls() {
  std::vector<std::pair<const char*, uint32_t (*)(uint32_t, std::span<const uint8_t>)>> v;
  v.emplace_back("dispatch", &Crc32cExtend);
  v.emplace_back("portable", &Crc32cExtendPortable);
  if (Crc32cHasHardware()) v.emplace_back("hardware", &Crc32cExtendHardware);
  return v;
}

TEST(Crc32cTest, KnownVectors) {
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF), up(32), down(32);
  for (size_t i = 0; i < 32; ++i) {
    up[i] = uint8_t(i);
    down[i] = uint8_t(31 - i);
  }
  for (const auto& [name, f] : Impls()) {
    SCOPED_TRACE(name);
    EXPECT_EQ(f(0, Bytes("123456789")), 0xE3069283u);
    EXPECT_EQ(f(0, zeros), 0x8A9136AAu);
    EXPECT_EQ(f(0, ones), 0x62A8AB43u);
    EXPECT_EQ(f(0, up), 0x46DD794Eu);
    EXPECT_EQ(f(0, down), 0x113FDB5Cu);
    EXPECT_EQ(f(0, {}), 0u);
  }
  EXPECT_EQ(Crc32c(Bytes("123456789")), 0xE3069283u);
}

TEST(Crc32cTest, MachineHasSse42) {
  // Not a requirement of the code (the portable path is complete), but the x86-64 machines we
  // build on all have SSE4.2; say so when the hardware path was not exercised.
  if (!Crc32cHasHardware()) GTEST_SKIP() << "no SSE4.2: only the portable path was tested";
}

TEST(Crc32cTest, PathsAgreeAtEveryAlignmentAndShortLength) {
  const std::vector<uint8_t> buf = Random(300 + 16, 1);
  for (size_t align = 0; align < 16; ++align) {
    for (size_t len = 0; len + align <= buf.size() && len <= 300; ++len) {
      std::span<const uint8_t> s(buf.data() + align, len);
      const uint32_t want = Crc32cExtendPortable(0, s);
      ASSERT_EQ(Crc32c(s), want) << "align " << align << " len " << len;
      if (Crc32cHasHardware()) {
        ASSERT_EQ(Crc32cExtendHardware(0, s), want) << "align " << align << " len " << len;
      }
    }
  }
}

TEST(Crc32cTest, PathsAgreeOnLongBuffers) {
  // Lengths around the lane thresholds (3 × 256 and 3 × 4096) and large I/O sizes.
  const std::vector<uint8_t> buf = Random((1 << 20) + 64, 2);
  std::mt19937 rng(3);
  std::vector<size_t> lengths = {767, 768, 769, 1023, 1024, 12287, 12288, 12289, 12295, 65536,
                                 131072, 1 << 20};
  for (int i = 0; i < 40; ++i) lengths.push_back(rng() % (1 << 20));
  for (size_t len : lengths) {
    for (size_t align : {0, 1, 3, 7, 8, 13}) {
      std::span<const uint8_t> s(buf.data() + align, len);
      const uint32_t want = Crc32cExtendPortable(0, s);
      ASSERT_EQ(Crc32c(s), want) << "len " << len << " align " << align;
      if (Crc32cHasHardware()) {
        ASSERT_EQ(Crc32cExtendHardware(0, s), want) << "len " << len;
      }
    }
  }
}

TEST(Crc32cTest, ExtendPiecewiseEqualsWhole) {
  const std::vector<uint8_t> buf = Random(20000, 4);
  const uint32_t whole = Crc32c(buf);
  std::mt19937 rng(5);
  for (const auto& [name, f] : Impls()) {
    SCOPED_TRACE(name);
    for (int trial = 0; trial < 50; ++trial) {
      uint32_t crc = 0;
      size_t at = 0;
      while (at < buf.size()) {
        const size_t n = std::min<size_t>(buf.size() - at, rng() % 5000);
        crc = f(crc, std::span<const uint8_t>(buf).subspan(at, n));
        at += n;
      }
      ASSERT_EQ(crc, whole);
    }
  }
  // Extending by nothing is the identity.
  EXPECT_EQ(Crc32cExtend(whole, {}), whole);
}

TEST(Crc32cTest, DetectsEveryFlippedBit) {
  std::vector<uint8_t> buf = Random(64, 6);
  const uint32_t good = Crc32c(buf);
  for (size_t bit = 0; bit < buf.size() * 8; ++bit) {
    buf[bit / 8] ^= uint8_t(1u << (bit % 8));
    ASSERT_NE(Crc32c(buf), good) << bit;
    buf[bit / 8] ^= uint8_t(1u << (bit % 8));
  }
}

TEST(Crc32cTest, Throughput) {
  // Informational (never asserted: machines differ); prints GB/s of each path on 128 KiB.
  const std::vector<uint8_t> buf = Random(128 << 10, 7);
  for (const auto& [name, f] : Impls()) {
    uint32_t sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const int rounds = 200;
    for (int i = 0; i < rounds; ++i) sink ^= f(sink, buf);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("crc32c %-8s %.2f GB/s (%08x)\n", name, double(buf.size()) * rounds / s / 1e9,
                sink);
  }
}

}  // namespace
}  // namespace meshraid
