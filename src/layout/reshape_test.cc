#include "layout/reshape.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <utility>
#include <vector>

namespace meshraid::layout {
namespace {

Geometry Near(int disks, int near, uint64_t chunk, uint64_t dev_sectors) {
  Raid10Layout l;
  l.near = near;
  Result<Geometry> g = Geometry::Raid10(disks, l, chunk, dev_sectors);
  EXPECT_TRUE(g.ok()) << g.status().message();
  return *g;
}

TEST(PlanGrow, TwoToFourKeepsChunkAndDevSectors) {
  Geometry old_geo = Near(2, 2, 128, 129024);
  Result<ReshapeGeometry> r = PlanGrow(old_geo, 4, 0, 2048, 80);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->new_geo.raid_disks(), 4);
  EXPECT_EQ(r->new_geo.chunk_sectors(), 128u);
  EXPECT_EQ(r->new_geo.dev_sectors(), 129024u);
  EXPECT_EQ(r->new_geo.ArraySectors(), 258048u);  // the golden r10-n2-4 array size
  EXPECT_EQ(r->offset_change, 128u);
  EXPECT_EQ(r->MoveSectors(), 129024u);
}

TEST(PlanGrow, Refusals) {
  const Geometry n2 = Near(2, 2, 128, 4096);
  EXPECT_EQ(PlanGrow(*Geometry::Raid1(2, 4096), 4, 0, 2048, 80).status().message(),
            "reshape to 4 members: only RAID10 near layouts can grow (this array is raid1); "
            "take a RAID1 over to RAID10 first (grow --level=10)");
  Raid10Layout far;
  far.near = 1;
  far.far = 2;
  EXPECT_EQ(PlanGrow(*Geometry::Raid10(4, far, 128, 4096), 6, 0, 2048, 80).status().code(),
            Code::kNotSupported);
  EXPECT_EQ(PlanGrow(n2, 2, 0, 2048, 80).status().message(),
            "reshape to 2 members: the array has 2 members; only growing is supported");
  EXPECT_EQ(PlanGrow(n2, 256, 0, 2048, 80).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PlanGrow(n2, 4, 12, 2048, 80).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PlanGrow(n2, 4, 0, 200, 80).status().message(),
            "reshape to 4 members: no room to move the data offset down by 128 sectors (data "
            "offset 200, lowest allowed 80)");
  // 4096 sectors of array are not a multiple of a 8192-sector chunk... (the layout refuses a
  // chunk larger than the member first).
  EXPECT_FALSE(PlanGrow(n2, 4, 8192, 100000, 80).ok());
  EXPECT_EQ(PlanGrow(Near(2, 2, 128, 128 * 33), 4, 256, 4096, 80).status().code(),
            Code::kInvalidArgument);
}

TEST(SafeEnd, DoublesFromTheStartForTwoToFour) {
  ReshapeGeometry r = *PlanGrow(Near(2, 2, 128, 1 << 20), 4, 0, 4096, 80);
  EXPECT_EQ(r.SafeEnd(0), 2u * 128);
  EXPECT_EQ(r.SafeEnd(2 * 128), 6u * 128);
  EXPECT_EQ(r.SafeEnd(6 * 128), 14u * 128);
  EXPECT_EQ(r.SafeEnd(r.MoveSectors()), r.MoveSectors());
}

// A model of the members at 8-sector granularity: what each unit holds (array unit + 1, or 0).
class Members {
 public:
  Members(const ReshapeGeometry& r) : r_(r) {
    for (uint64_t v = 0; v < r.MoveSectors(); v += 8) {
      for (const Copy& c : r.old_geo.Map(v)) Put(c.disk, r.offset_change + c.sector, v);
    }
  }
  void Put(int disk, uint64_t abs_sector, uint64_t v) { unit_[{disk, abs_sector}] = v + 1; }
  uint64_t Get(int disk, uint64_t abs_sector) const {
    auto it = unit_.find({disk, abs_sector});
    return it == unit_.end() ? 0 : it->second;
  }
  // Every sector readable, with all its copies, as a restart from `position` maps it.
  ::testing::AssertionResult Consistent(uint64_t position) const {
    for (uint64_t v = 0; v < r_.MoveSectors(); v += 8) {
      const bool moved = v < position;
      const Geometry& g = moved ? r_.new_geo : r_.old_geo;
      for (const Copy& c : g.Map(v)) {
        uint64_t abs = c.sector + (moved ? 0 : r_.offset_change);
        if (Get(c.disk, abs) != v + 1) {
          return ::testing::AssertionFailure()
                 << "array sector " << v << " (" << (moved ? "new" : "old") << " layout) lost on disk "
                 << c.disk << " at " << abs << " with position " << position;
        }
      }
    }
    return ::testing::AssertionSuccess();
  }

 private:
  const ReshapeGeometry& r_;
  std::map<std::pair<int, uint64_t>, uint64_t> unit_;
};

// Moves the array section by section (one new chunk each), checkpointing only when SafeEnd
// demands it; after every single unit written, a crash (restart from the checkpoint) and the
// running array (position = sections done) both find every copy of every sector.
TEST(SafeEnd, RandomGrowsNeverOverwriteDataARestartNeeds) {
  std::mt19937_64 rng(20261125);
  const uint64_t chunks[] = {8, 16, 32};
  int plans = 0;
  for (int round = 0; round < 300; ++round) {
    const int old_disks = 2 + int(rng() % 5);
    const int near = 2 + int(rng() % uint64_t(old_disks - 1));
    const int new_disks = old_disks + 1 + int(rng() % 4);
    const uint64_t old_chunk = chunks[rng() % 3];
    const uint64_t new_chunk = chunks[rng() % 3];
    const uint64_t dev = (4 + rng() % 20) * 32;
    Raid10Layout l;
    l.near = near;
    Result<Geometry> old_geo = Geometry::Raid10(old_disks, l, old_chunk, dev);
    if (!old_geo.ok()) continue;
    Result<ReshapeGeometry> r = PlanGrow(*old_geo, new_disks, new_chunk, 1 << 20, 80);
    if (!r.ok()) continue;  // e.g. the array size is not a multiple of the new chunk
    ++plans;
    Members m(*r);
    uint64_t checkpoint = 0;
    for (uint64_t pos = 0; pos < r->MoveSectors(); pos += new_chunk) {
      const uint64_t end = pos + new_chunk;
      if (end > r->SafeEnd(checkpoint)) {
        checkpoint = pos;
        ASSERT_LE(end, r->SafeEnd(checkpoint)) << "no progress at " << pos;
      }
      for (uint64_t v = pos; v < end; v += 8) {
        for (const Copy& c : r->new_geo.Map(v)) {
          m.Put(c.disk, c.sector, v);
          ASSERT_TRUE(m.Consistent(checkpoint)) << "round " << round << " crash";
        }
      }
      ASSERT_TRUE(m.Consistent(end)) << "round " << round << " running";
    }
  }
  EXPECT_GT(plans, 100);
}

}  // namespace
}  // namespace meshraid::layout
