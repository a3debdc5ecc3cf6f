#include "raid/create.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "format/bitmap.h"
#include "raid/assemble.h"

namespace meshraid::raid {
namespace {

constexpr uint64_t kMiB = 2048;  // sectors
constexpr uint64_t kGiB = 1024 * kMiB;

CreateOptions Opts(int level, int n) {
  CreateOptions o;
  o.level = level;
  o.raid_devices = n;
  o.name = "t";
  o.homehost = "host";
  o.now_seconds = 1795593679;
  o.set_uuid[0] = 1;
  for (int i = 0; i < n; ++i) {
    format::Uuid u{};
    u[0] = uint8_t(0x10 + i);
    o.device_uuids.push_back(u);
  }
  return o;
}

uint64_t DirtyChunks(const std::vector<uint8_t>& area) {
  auto b = format::DecodeBitmapSuper(area);
  EXPECT_TRUE(b.ok());
  auto bits = format::BitmapBits::Decode(std::span(area).subspan(256), b->Chunks());
  EXPECT_TRUE(bits.ok());
  return bits->CountSet();
}

std::vector<CreateMember> Members(int n, uint64_t sectors) {
  std::vector<CreateMember> v;
  for (int i = 0; i < n; ++i) v.push_back({fmt::format("m{}", i), sectors});
  return v;
}

// mdadm's data offsets: 1 MiB on small devices, 17 MiB at 20 GiB, 129 MiB beyond 128 GiB.
TEST(DefaultDataOffset, MatchesMdadm) {
  EXPECT_EQ(DefaultDataOffset(64 * kMiB, 0), 2048u);
  EXPECT_EQ(DefaultDataOffset(64 * kMiB, 64), 2048u);
  EXPECT_EQ(DefaultDataOffset(20 * kGiB, 0), 34816u);
  EXPECT_EQ(DefaultDataOffset(200 * kGiB, 0), 264192u);
}

TEST(BitmapSpace, BySize) {
  EXPECT_EQ(BitmapSpaceSectors(32), 0u);
  EXPECT_EQ(BitmapSpaceSectors(64 * kMiB), 8u);
  EXPECT_EQ(BitmapSpaceSectors(20 * kGiB), 128u);
  EXPECT_EQ(BitmapSpaceSectors(300 * kGiB), 256u);
}

// The same choices real mdadm made for the golden r1-3-bitmap case (64 MiB members).
TEST(PlanCreate, Raid1LikeMdadmGolden) {
  CreateOptions o = Opts(1, 3);
  o.bitmap = BitmapChoice::kInternal;
  auto plan = PlanCreate(o, Members(3, 64 * kMiB));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  const format::Superblock& sb = plan->members[1].sb;
  EXPECT_EQ(sb.data_offset, 2048u);
  EXPECT_EQ(sb.data_size, 129024u);
  EXPECT_EQ(sb.size, 129024u);
  EXPECT_EQ(sb.super_offset, 8u);
  EXPECT_EQ(sb.bitmap_offset, 8);
  EXPECT_EQ(sb.bblog_offset, 16);
  EXPECT_EQ(sb.bblog_size, 8u);
  EXPECT_EQ(sb.max_dev, 128u);
  EXPECT_EQ(sb.feature_map, uint32_t{format::kFeatureBitmapOffset});
  EXPECT_EQ(sb.dev_number, 1u);
  EXPECT_EQ(sb.ThisRole(), 1u);
  EXPECT_EQ(sb.Name(), "host:t");
  EXPECT_EQ(sb.resync_offset, 0u);  // not --assume-clean: needs a resync
  EXPECT_EQ(plan->members[0].bitmap_sector, 16u);
  auto b = format::DecodeBitmapSuper(plan->members[0].bitmap_bytes);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->chunksize, 64u << 20);
  EXPECT_EQ(b->sync_size, 129024u);
  EXPECT_EQ(b->Chunks(), 1u);
  // Every chunk starts dirty, since the copies were never synced.
  EXPECT_EQ(DirtyChunks(plan->members[0].bitmap_bytes), 1u);
  // The reserved area is written whole, padded as mdadm does.
  EXPECT_EQ(plan->members[0].bitmap_bytes.size(), 4096u);
}

TEST(PlanCreate, AssumeCleanStartsClean) {
  CreateOptions o = Opts(1, 2);
  o.assume_clean = true;
  o.bitmap = BitmapChoice::kInternal;
  auto plan = PlanCreate(o, Members(2, 64 * kMiB));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->members[0].sb.resync_offset, format::kMaxSector);
  EXPECT_EQ(DirtyChunks(plan->members[0].bitmap_bytes), 0u);
}

TEST(PlanCreate, Raid10DefaultsToN2With512KChunk) {
  auto plan = PlanCreate(Opts(10, 4), Members(4, 1 * kGiB));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  const format::Superblock& sb = plan->members[0].sb;
  EXPECT_EQ(sb.level, 10);
  EXPECT_EQ(sb.layout, 0x102u);
  EXPECT_EQ(sb.chunksize, 1024u);
  EXPECT_EQ(sb.size % 1024, 0u);
  EXPECT_EQ(plan->geometry.ArraySectors(), sb.size * 2);
  EXPECT_FALSE(plan->bitmap);  // below 100 GiB mdadm makes no bitmap by default
}

TEST(PlanCreate, DefaultBitmapFrom100GiB) {
  auto plan = PlanCreate(Opts(1, 2), Members(2, 120 * kGiB));
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->bitmap);
}

TEST(PlanCreate, SmallestMemberDecidesTheSize) {
  std::vector<CreateMember> m = {{"a", 64 * kMiB}, {"b", 80 * kMiB}};
  auto plan = PlanCreate(Opts(1, 2), m);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->component_sectors, 64 * kMiB - 2048);
  EXPECT_EQ(plan->members[1].sb.data_size, 80 * kMiB - 2048);
}

TEST(PlanCreate, RefusesTooSmallMemberByName) {
  std::vector<CreateMember> m = {{"big", 64 * kMiB}, {"tiny", 2100}};
  auto plan = PlanCreate(Opts(1, 2), m);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message().rfind("tiny: member is too small", 0), 0u)
      << plan.status().message();
}

TEST(PlanCreate, RefusesBadOptions) {
  EXPECT_FALSE(PlanCreate(Opts(5, 2), Members(2, 64 * kMiB)).ok());
  EXPECT_FALSE(PlanCreate(Opts(1, 2), Members(3, 64 * kMiB)).ok());
  CreateOptions o = Opts(1, 2);
  o.chunk_sectors = 128;
  EXPECT_FALSE(PlanCreate(o, Members(2, 64 * kMiB)).ok());
  CreateOptions r10 = Opts(10, 2);
  r10.chunk_sectors = 100;  // not a power of two
  EXPECT_FALSE(PlanCreate(r10, Members(2, 64 * kMiB)).ok());
}

// What create writes assembles back into the same geometry.
TEST(PlanCreate, RoundTripsThroughAssembly) {
  CreateOptions o = Opts(10, 3);
  o.raid10_layout = *layout::Raid10Layout::Parse("o2");
  o.chunk_sectors = 128;
  auto plan = PlanCreate(o, Members(3, 64 * kMiB));
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  std::vector<MemberMetadata> md;
  for (size_t i = 0; i < plan->members.size(); ++i) {
    auto sb = format::Decode(plan->members[i].sb_bytes, {.device_sectors = 64 * kMiB});
    ASSERT_TRUE(sb.ok()) << sb.status().message();
    MemberMetadata m;
    m.path = fmt::format("m{}", i);
    m.device_sectors = 64 * kMiB;
    m.sb = *sb;
    md.push_back(m);
  }
  auto a = PlanAssembly(md);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->geometry, plan->geometry);
  EXPECT_EQ(a->degraded, 0);
  EXPECT_TRUE(a->needs_resync);
}

}  // namespace
}  // namespace meshraid::raid
