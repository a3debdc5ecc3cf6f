// Enough(): MD's _enough rule against the brute-force definition (every array chunk keeps a
// copy on an in-sync member), for every subset of in-sync members of small arrays.
#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "layout/geometry.h"
#include "layout/reference_layout.h"

namespace meshraid::layout {
namespace {

bool BruteForceEnough(const testing::RefLayout& ref, const std::vector<bool>& in_sync) {
  for (const auto& copies : ref.copies) {
    bool readable = false;
    for (const auto& copy : copies) readable = readable || in_sync[copy.disk];
    if (!readable) return false;
  }
  return true;
}

struct Tally {
  int configs = 0;
  int subsets = 0;
  int md_stricter = 0;  // MD says not enough, every chunk still readable
  int md_looser = 0;    // MD says enough, some chunk unreadable
  std::string examples;
};

void CompareAll(int disks, const Raid10Layout& l, Tally* tally) {
  // Enough chunks that every starting member of a chunk occurs.
  const uint64_t dev_chunks = static_cast<uint64_t>(2 * l.far * disks);
  auto g = Geometry::Raid10(disks, l, 8, dev_chunks * 8);
  if (!g.ok()) return;  // unsafe in MD; refused (geometry_exhaustive_test)
  const testing::RefLayout ref =
      testing::BuildReference(disks, l.near, l.far, l.offset, l.far_set_mode, dev_chunks);
  ++tally->configs;
  for (uint32_t mask = 0; mask < (1u << disks); ++mask) {
    std::vector<bool> in_sync(disks);
    for (int d = 0; d < disks; ++d) in_sync[d] = (mask >> d) & 1;
    const bool md = g->Enough(in_sync);
    const bool brute = BruteForceEnough(ref, in_sync);
    ASSERT_EQ(g->AllChunksReadable(in_sync), brute)
        << disks << " members " << l.MdadmName() << " mode " << l.far_set_mode << " mask " << mask;
    ++tally->subsets;
    if (md == brute) continue;
    (md ? tally->md_looser : tally->md_stricter)++;
    if (l.far_set_mode == 0) {
      ADD_FAILURE() << disks << " members " << l.MdadmName() << " in_sync mask " << mask << ": MD "
                    << md << " brute force " << brute;
    } else if (tally->examples.size() < 300) {
      tally->examples += " [" + std::to_string(disks) + " members " + l.MdadmName() + " mode " +
                         std::to_string(l.far_set_mode) + " mask " + std::to_string(mask) +
                         (md ? " MD=enough]" : " MD=not-enough]");
    }
  }
}

void ForAllLayouts(int max_disks, int mode, Tally* tally) {
  for (int n = 2; n <= max_disks; ++n) {
    for (int near = 1; near <= n; ++near) {
      for (int far = 1; near * far <= n; ++far) {
        if (near * far < 2 || (mode != 0 && far == 1)) continue;
        for (int offset = 0; offset < (far > 1 ? 2 : 1); ++offset) {
          Raid10Layout l;
          l.near = near;
          l.far = far;
          l.offset = offset == 1;
          l.far_set_mode = mode;
          CompareAll(n, l, tally);
        }
      }
    }
  }
}

TEST(EnoughTest, MdRuleIsExactForOriginalLayouts) {
  Tally tally;
  ForAllLayouts(9, 0, &tally);
  EXPECT_GT(tally.configs, 50);
  EXPECT_EQ(tally.md_stricter + tally.md_looser, 0);
}

// With far sets the copies of a chunk are not consecutive members, so MD's windows of
// consecutive members only approximate the definition, in both directions. We keep MD's rule
// (it is what decides whether MD runs the array) and report the differences.
TEST(EnoughTest, MdRuleOnlyApproximatesFarSets) {
  for (int mode : {1, 2}) {
    Tally tally;
    ForAllLayouts(9, mode, &tally);
    std::cout << "[ enough   ] far-set mode " << mode << ": " << tally.configs << " layouts, "
              << tally.subsets << " subsets, MD stricter " << tally.md_stricter << ", MD looser "
              << tally.md_looser << "\n";
    EXPECT_GT(tally.md_stricter + tally.md_looser, 0);
  }
}

TEST(EnoughTest, MdRuleIsLooserOnFiveMemberFarSets) {
  // far=2, mode 2 on 5 members: far sets {0,1} and {2,3,4}. With members 0, 1 and 3 in sync
  // every pair of neighbours has an in-sync member (MD: enough), but the chunk on member 4
  // has its far copy on member 2: both are missing.
  Raid10Layout l;
  l.near = 1;
  l.far = 2;
  l.far_set_mode = 2;
  auto g = Geometry::Raid10(5, l, 8, 8 * 20).value();
  const std::vector<bool> in_sync = {true, true, false, true, false};
  EXPECT_TRUE(g.Enough(in_sync));
  EXPECT_FALSE(g.AllChunksReadable(in_sync));
  EXPECT_EQ(g.Map(4 * 8), (std::vector<Copy>{{4, 0}, {2, 80}}));  // far region at 10 chunks
}

}  // namespace
}  // namespace meshraid::layout
