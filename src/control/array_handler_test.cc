// StatusFromArray and ArrayHandler (status, settings, sync actions) over a real raid::Array on
// memory members in a ManualLoop.
#include "control/array_handler.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "control/handler_fixture_test.h"
#include "control/mdstat.h"
#include "control/status_from_array.h"
#include "format/superblock.h"

namespace meshraid::control {
namespace {

TEST_F(ArrayHandlerTest, StatusOfARaid1) {
  Build(1, 2);
  std::vector<uint8_t> buf(8192);
  ASSERT_TRUE(loop_.RunUntilComplete(array_->Read(0, buf)).ok());
  ArrayStatus s = StatusFromArray(*array_);
  EXPECT_EQ(s.name, "data");
  EXPECT_EQ(s.set_name, "node1:data");
  EXPECT_EQ(s.level, 1);
  EXPECT_EQ(s.raid_disks, 2);
  EXPECT_EQ(s.array_sectors, array_->geometry().ArraySectors());
  EXPECT_EQ(s.dev_sectors, array_->geometry().dev_sectors());
  EXPECT_EQ(s.State(), "clean");
  EXPECT_EQ(s.events, array_->events());
  ASSERT_EQ(s.members.size(), 2u);
  EXPECT_EQ(s.members[0].path, "/tmp/w/m0");
  EXPECT_EQ(s.members[1].state, "in_sync");
  EXPECT_EQ(s.members[0].reads + s.members[1].reads, 1u);
  EXPECT_EQ(s.members[0].read_bytes + s.members[1].read_bytes, 8192u);
}

TEST_F(ArrayHandlerTest, IdentityAndSlotsComeFromTheSuperblocks) {
  Build(1, 2);
  ArrayStatus s = StatusFromArray(*array_);
  EXPECT_EQ(s.uuid, format::UuidMdadm(array_->superblock().set_uuid));
  EXPECT_EQ(s.uuid.size(), 35u);
  EXPECT_EQ(s.ctime, 1000u);
  EXPECT_FALSE(s.bitmap.has_value());
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(s.members[i].slot, int(i));
    EXPECT_EQ(s.members[i].dev_number, uint32_t(i));
    EXPECT_FALSE(s.members[i].write_mostly);
  }
  EXPECT_EQ(FormatMdstatArray(s), fmt::format("data : active raid1 m1[1] m0[0]\n"
                                              "      {} blocks super 1.2 [2/2] [UU]\n"
                                              "      \n",
                                              s.array_sectors / 2));
}

TEST_F(ArrayHandlerTest, StatusOfADegradedRaid10) {
  Build(10, 4);
  ASSERT_TRUE(loop_.RunUntilComplete(array_->FailMember(2, "test")).ok());
  ArrayStatus s = StatusFromArray(*array_);
  EXPECT_EQ(s.level, 10);
  EXPECT_EQ(s.chunk_sectors, 128u);
  EXPECT_EQ(s.layout, 0x102u);
  EXPECT_EQ(s.degraded, 1);
  EXPECT_EQ(s.State(), "degraded");
  EXPECT_EQ(s.members[2].state, "faulty");
  EXPECT_GT(s.events, 0u);
  EXPECT_EQ(PersonalityStatus(s), " 64K chunks 2 near-copies [4/3] [UU_U]");
}

TEST_F(ArrayHandlerTest, SetSwitchesTheReadPolicy) {
  Build(1, 2);
  ArrayHandler& h = *handler_;
  EXPECT_EQ(h.GetStatus()->read_policy, "latency");
  Result<std::string> r = h.Set("read-policy", "md");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "read-policy: latency -> md");
  EXPECT_EQ(array_->read_policy(), raid::ReadPolicy::kMd);
  EXPECT_EQ(h.GetStatus()->read_policy, "md");
  ASSERT_TRUE(h.Set("read-policy", "round-robin").ok());
  EXPECT_EQ(array_->read_policy(), raid::ReadPolicy::kRoundRobin);
}

TEST_F(ArrayHandlerTest, SetRefusesUnknownKeysAndValues) {
  Build(1, 2);
  ArrayHandler& h = *handler_;
  Result<std::string> bad_value = h.Set("read-policy", "fastest");
  EXPECT_EQ(bad_value.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad_value.status().message(), "read-policy=fastest: use latency, md or round-robin");
  EXPECT_EQ(h.Set("readpolicy", "md").status().message(),
            "unknown setting 'readpolicy' (settable: read-policy, sync-speed-min, sync-speed-max)");
  EXPECT_EQ(array_->read_policy(), raid::ReadPolicy::kLatency);
}

TEST_F(ArrayHandlerTest, LatencyEwmaIsReported) {
  Build(1, 2);
  std::vector<uint8_t> buf(4096);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(loop_.RunUntilComplete(array_->Read(uint64_t(i) * 4096, buf)).ok());
  }
  ArrayStatus s = StatusFromArray(*array_);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(s.members[i].latency_ewma_ns, array_->member_latency_ewma_ns(i));
  }
}

TEST_F(ArrayHandlerTest, SyncSpeedIsSettable) {
  Build(1, 2);
  ArrayHandler& h = *handler_;
  EXPECT_EQ(h.Set("sync-speed-max", "5000").value(), "sync-speed-max: 200000 -> 5000 KiB/s");
  EXPECT_EQ(h.Set("sync-speed-min", "100").value(), "sync-speed-min: 1000 -> 100 KiB/s");
  ArrayStatus s = *h.GetStatus();
  EXPECT_EQ(s.sync_speed_min, 100u);
  EXPECT_EQ(s.sync_speed_max, 5000u);
  EXPECT_EQ(h.Set("sync-speed-max", "system").value(), "sync-speed-max: 5000 -> 200000 KiB/s");
  EXPECT_EQ(h.Set("sync-speed-min", "0").status().message(),
            "sync-speed-min=0: give KiB/s as a positive integer, or system");
  EXPECT_EQ(h.Set("sync-speed-max", "fast").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(array_->sync_options().speed_max_kib, 200000u);
}

TEST_F(ArrayHandlerTest, CheckCountsMismatchesAndRepairFixesThem) {
  Build(1, 2);
  const uint64_t data = array_->member_metadata(1).sb.data_offset * 512;
  std::vector<uint8_t> junk(4096, 0xA5);
  mems_[1]->Poke(data + (3 << 20), junk);
  ArrayHandler& h = *handler_;
  EXPECT_EQ(h.Action("check").value(), "sync_action: idle -> check");
  ArrayStatus running = *h.GetStatus();
  EXPECT_EQ(running.sync_action, "check");
  ASSERT_TRUE(running.sync.has_value());
  EXPECT_EQ(running.sync->action, "check");
  EXPECT_EQ(running.sync->total_sectors, array_->geometry().ArraySectors());
  WaitSyncIdle();
  ArrayStatus checked = *h.GetStatus();
  EXPECT_EQ(checked.sync_action, "idle");
  EXPECT_FALSE(checked.sync.has_value());
  EXPECT_GT(checked.mismatch_cnt, 0u);
  EXPECT_EQ(checked.copied_sectors, 0u);  // check writes nothing
  ASSERT_TRUE(h.Action("repair").ok());
  WaitSyncIdle();
  EXPECT_GT(h.GetStatus()->copied_sectors, 0u);
  ASSERT_TRUE(h.Action("check").ok());
  WaitSyncIdle();
  EXPECT_EQ(h.GetStatus()->mismatch_cnt, 0u);
  EXPECT_EQ(mems_[1]->Peek(data, 8 << 20), mems_[0]->Peek(data, 8 << 20));
}

TEST_F(ArrayHandlerTest, ProgressOfASlowCheckAndFreezing) {
  raid::SyncOptions so;
  so.speed_max_kib = 2048;  // 16 MiB take ~8 s
  Build(1, 2, false, so);
  ArrayHandler& h = *handler_;
  ASSERT_TRUE(h.Action("check").ok());
  loop_.AdvanceBy(3'000'000'000);
  ArrayStatus s = *h.GetStatus();
  ASSERT_TRUE(s.sync.has_value());
  EXPECT_EQ(s.sync->action, "check");
  EXPECT_GT(s.sync->done_sectors, 0u);
  EXPECT_LT(s.sync->done_sectors, s.sync->total_sectors);
  EXPECT_GT(s.sync->speed_kib_s, 0u);
  EXPECT_GT(s.sync->finish_seconds, 0u);
  EXPECT_NE(FormatMdstatArray(s).find("  check = "), std::string::npos) << FormatMdstatArray(s);
  EXPECT_EQ(h.Action("repair").status().code(), Code::kFailedPrecondition);  // check runs
  EXPECT_EQ(h.Action("frozen").value(), "sync_action: check -> frozen");
  WaitSyncIdle();
  s = *h.GetStatus();
  EXPECT_EQ(s.sync_action, "frozen");
  EXPECT_FALSE(s.sync.has_value());
  EXPECT_EQ(h.Action("check").status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(h.Action("idle").value(), "sync_action: frozen -> idle");
  EXPECT_EQ(h.GetStatus()->sync_action, "idle");
  EXPECT_EQ(h.Action("scrub").status().message(),
            "sync action 'scrub': use idle, frozen, resync, recover, check or repair");
}

TEST_F(ArrayHandlerTest, BitmapPagesFollowDirtyChunks) {
  Build(1, 2, /*bitmap=*/true);
  ArrayStatus s = *handler_->GetStatus();
  ASSERT_TRUE(s.bitmap.has_value());
  EXPECT_EQ(s.bitmap->pages_total, 1u);
  EXPECT_EQ(s.bitmap->pages_used, 0u);
  EXPECT_EQ(s.bitmap->chunk_bytes, array_->write_intent()->chunk_sectors() * 512);
  std::vector<uint8_t> buf(4096, 7);
  ASSERT_TRUE(loop_.RunUntilComplete(array_->Write(0, buf)).ok());
  s = *handler_->GetStatus();
  EXPECT_EQ(s.bitmap->pages_used, 1u);
  EXPECT_EQ(s.bitmap->dirty_chunks, 1u);
  EXPECT_NE(FormatMdstatArray(s).find("bitmap: 1/1 pages [4KB]"), std::string::npos);
}

}  // namespace
}  // namespace meshraid::control
