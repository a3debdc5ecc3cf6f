// Every RAID10 layout on small arrays, every array sector and every member sector, against
// the brute-force reference built from the layout's definition (reference_layout.h).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "layout/geometry.h"
#include "layout/reference_layout.h"

namespace meshraid::layout {
namespace {

struct Config {
  int disks;
  int near;
  int far;
  bool offset;
  int mode;
};

std::string Name(const ::testing::TestParamInfo<Config>& info) {
  const Config& c = info.param;
  // fmt, not `"d" + std::to_string(...)`: GCC 12 at -O3 warns -Wrestrict in that (falsely).
  return fmt::format("d{}_n{}_{}{}_m{}", c.disks, c.near, c.offset ? 'o' : 'f', c.far, c.mode);
}

std::vector<Config> AllConfigs(int max_disks) {
  std::vector<Config> out;
  for (int n = 2; n <= max_disks; ++n) {
    for (int near = 1; near <= n; ++near) {
      for (int far = 1; near * far <= n; ++far) {
        if (near * far < 2) continue;
        for (int offset = 0; offset < (far > 1 ? 2 : 1); ++offset) {
          for (int mode = 0; mode < (far > 1 ? 3 : 1); ++mode) {
            out.push_back({n, near, far, offset == 1, mode});
          }
        }
      }
    }
  }
  return out;
}

Raid10Layout LayoutOf(const Config& c) {
  Raid10Layout l;
  l.near = c.near;
  l.far = c.far;
  l.offset = c.offset;
  l.far_set_mode = c.mode;
  return l;
}

// MD's far-set step tests "past the last set's start" after adding near (doc: unsafe
// layouts); with near >= 2 and several sets of unequal size that sends a member of the
// second-to-last set into the last set.
bool MdLastSetQuirk(const Config& c) {
  if (c.mode == 0 || c.far < 2 || c.near < 2) return false;
  const int size = c.mode == 1 ? c.disks / c.far : c.near * c.far;
  return c.disks / size >= 2 && c.disks % size != 0;
}

// MD moves a wrapped near copy one chunk down, which in an offset layout is the rotated-copy
// stripe of the same group.
bool MdOffsetWrapQuirk(const Config& c) { return c.offset && c.far >= 2 && c.disks % c.near != 0; }

// A second, literal model of MD's __raid10_find_phys (md-facts F.2, plus MD's exact far-set
// step: "past the last set's start" is tested after adding near). Written for the test.
std::vector<Copy> MdModel(const Config& c, uint64_t chunk, uint64_t stride, uint64_t v) {
  const int fss = c.mode == 0 ? c.disks : c.mode == 1 ? c.disks / c.far : c.near * c.far;
  const int last_start = (c.disks / fss - 1) * fss;
  const int last_size = fss + c.disks % fss;
  const uint64_t cprime = v / chunk * static_cast<uint64_t>(c.near);
  int dev = static_cast<int>(cprime % static_cast<uint64_t>(c.disks));
  uint64_t stripe = cprime / static_cast<uint64_t>(c.disks);
  if (c.offset) stripe *= static_cast<uint64_t>(c.far);
  uint64_t base = v % chunk + stripe * chunk;
  std::vector<Copy> out;
  for (int n = 0; n < c.near; ++n) {
    int d = dev;
    uint64_t s = base;
    out.push_back({d, s});
    for (int f = 1; f < c.far; ++f) {
      const int set = d / fss;
      d += c.near;
      if (c.disks % fss != 0 && d > last_start) {
        d = last_start + (d - last_start) % last_size;
      } else {
        d = d % fss + fss * set;
      }
      s += stride;
      out.push_back({d, s});
    }
    if (++dev == c.disks) {
      dev = 0;
      base += chunk;
    }
  }
  return out;
}

// True if the MD model puts two copies of a sector on one member or two sectors on one
// member sector, on an array of `dev_chunks` chunks per member.
bool MdModelUnsafe(const Config& c, uint64_t dev_chunks) {
  const uint64_t chunk = 8, fc = c.far, n = c.disks, nc = c.near;
  const uint64_t array_chunks = dev_chunks / fc * n / nc;
  const uint64_t used_chunks = (array_chunks * nc * fc + n - 1) / n;
  const uint64_t stride = c.offset ? chunk : used_chunks / fc * chunk;
  std::vector<std::vector<int>> uses(c.disks, std::vector<int>(dev_chunks * chunk, 0));
  for (uint64_t v = 0; v < array_chunks * chunk; v += chunk) {
    std::vector<bool> seen(c.disks, false);
    for (const Copy& copy : MdModel(c, chunk, stride, v)) {
      if (seen[copy.disk] || uses[copy.disk][copy.sector]++ > 0) return true;
      seen[copy.disk] = true;
    }
  }
  return false;
}

class ExhaustiveTest : public ::testing::TestWithParam<Config> {};

void CheckOne(const Config& c, uint64_t chunk, uint64_t dev_sectors) {
  SCOPED_TRACE("chunk " + std::to_string(chunk) + " dev_sectors " + std::to_string(dev_sectors));
  const testing::RefLayout ref =
      testing::BuildReference(c.disks, c.near, c.far, c.offset, c.mode, dev_sectors / chunk);
  auto g = Geometry::Raid10(c.disks, LayoutOf(c), chunk, dev_sectors);
  // Whether the definition is safe, judged on an array big enough to use every member.
  const testing::RefLayout big = testing::BuildReference(
      c.disks, c.near, c.far, c.offset, c.mode, static_cast<uint64_t>(2 * c.far * c.disks));
  const uint64_t big_chunks = static_cast<uint64_t>(2 * c.far * c.disks);
  if (!big.valid || MdLastSetQuirk(c) || MdOffsetWrapQuirk(c)) {
    EXPECT_EQ(g.status().code(), Code::kNotSupported) << big.problem;
    EXPECT_TRUE(MdModelUnsafe(c, big_chunks)) << "refused, yet MD's mapping looks safe";
    return;
  }
  EXPECT_FALSE(MdModelUnsafe(c, big_chunks));
  ASSERT_TRUE(ref.valid) << ref.problem;
  ASSERT_TRUE(g.ok()) << g.status().ToString();

  // Sizes: md-facts F.3 and the reference.
  const uint64_t nc = c.near, fc = c.far, n = c.disks;
  const uint64_t array_chunks = dev_sectors / chunk / fc * n / nc;
  EXPECT_EQ(g->ArraySectors(), array_chunks * chunk);
  EXPECT_EQ(g->ArraySectors(), ref.array_chunks * chunk);
  EXPECT_EQ(g->DeviceSectorsUsed(), (array_chunks * nc * fc + n - 1) / n * chunk);
  EXPECT_EQ(g->DeviceSectorsUsed(), dev_sectors / chunk / fc * fc * chunk);  // whole regions
  EXPECT_LE(g->DeviceSectorsUsed(), dev_sectors);

  // Map: every array sector against the reference; no member sector used twice.
  std::vector<std::vector<int>> uses(c.disks, std::vector<int>(dev_sectors, 0));
  for (uint64_t v = 0; v < g->ArraySectors(); ++v) {
    const std::vector<Copy> got = g->Map(v);
    ASSERT_EQ(got, MdModel(c, chunk,
                           c.offset ? chunk
                                    : g->DeviceSectorsUsed() / chunk /
                                          static_cast<uint64_t>(c.far) * chunk,
                           v))
        << "v=" << v;
    const auto& want = ref.copies[v / chunk];
    ASSERT_EQ(got.size(), want.size()) << "v=" << v;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].disk, want[i].disk) << "v=" << v << " copy " << i;
      ASSERT_EQ(got[i].sector, want[i].dev_chunk * chunk + v % chunk) << "v=" << v;
      ASSERT_LT(got[i].sector, g->DeviceSectorsUsed());
      ASSERT_EQ(++uses[got[i].disk][got[i].sector], 1) << "v=" << v;
      ASSERT_EQ(g->Unmap(got[i].disk, got[i].sector).value(), v);
    }
    // ContiguousSectors: each copy advances one sector per array sector for that long.
    const uint64_t run = g->ContiguousSectors(v);
    ASSERT_GE(run, 1u);
    ASSERT_LE(v + run, g->ArraySectors());
    if (run > 1) {
      const std::vector<Copy> next = g->Map(v + 1);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(next[i].disk, got[i].disk);
        ASSERT_EQ(next[i].sector, got[i].sector + 1);
      }
    }
  }

  // Unmap: every member sector (and a chunk past the end) is data or kNotFound.
  for (int d = 0; d < c.disks; ++d) {
    for (uint64_t s = 0; s < dev_sectors + chunk; ++s) {
      const uint64_t dev_chunk = s / chunk;
      const int64_t owner = dev_chunk < ref.owner[d].size() ? ref.owner[d][dev_chunk] : -1;
      auto v = g->Unmap(d, s);
      if (owner < 0) {
        ASSERT_EQ(v.status().code(), Code::kNotFound) << "disk " << d << " sector " << s;
      } else {
        ASSERT_TRUE(v.ok()) << "disk " << d << " sector " << s;
        ASSERT_EQ(*v, static_cast<uint64_t>(owner) * chunk + s % chunk);
      }
    }
  }
}

TEST_P(ExhaustiveTest, MatchesReference) {
  const Config& c = GetParam();
  for (uint64_t chunk : {8u, 16u}) {
    const uint64_t per_set = chunk * static_cast<uint64_t>(c.far);
    for (uint64_t dev : {chunk - 1, per_set * 3, per_set * 3 + chunk - 1, chunk * 7 + 3,
                         per_set * static_cast<uint64_t>(c.disks) + chunk + 5}) {
      CheckOne(c, chunk, dev);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(UpToTenMembers, ExhaustiveTest, ::testing::ValuesIn(AllConfigs(10)), Name);

}  // namespace
}  // namespace meshraid::layout
