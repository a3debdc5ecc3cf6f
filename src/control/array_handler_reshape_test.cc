// ArrayHandler's reshape (grow onto more members) over a real raid::Array on memory members in
// a ManualLoop: the request, its refusals, and what status, detail and mdstat show meanwhile.
#include "control/array_handler.h"

#include <gtest/gtest.h>

#include "control/detail.h"
#include "control/handler_fixture_test.h"
#include "control/mdstat.h"

namespace meshraid::control {
namespace {

class ArrayHandlerReshapeTest : public ArrayHandlerTest {
 protected:
  Result<std::string> Reshape(int raid_disks, uint64_t chunk_sectors = 0) {
    std::optional<Result<std::string>> got;
    handler_->Reshape(raid_disks, chunk_sectors, [&](Result<std::string> r) { got = r; });
    EXPECT_TRUE(loop_.RunUntil([&] { return got.has_value(); }));
    return got ? *got : Result<std::string>(Status::Aborted("no answer"));
  }
  // Waits for the reshape and the resync of the new space that follows it.
  void WaitReshapeAndResync() {
    for (int i = 0; i < 10 && (array_->reshaping() || array_->sync_progress().action !=
                                                          raid::SyncAction::kIdle);
         ++i) {
      WaitSyncIdle();
    }
  }
  std::vector<uint8_t> Pattern(size_t bytes, uint8_t seed) {
    std::vector<uint8_t> b(bytes);
    for (size_t i = 0; i < bytes; ++i) b[i] = uint8_t(seed + i * 7 + i / 4096);
    return b;
  }
};

TEST_F(ArrayHandlerReshapeTest, GrowsTwoToFourWithTheSparesAddedBefore) {
  Build(10, 2);
  const uint64_t old_sectors = array_->info().size_bytes / 512;
  std::vector<uint8_t> data = Pattern(size_t(old_sectors) * 512, 3);
  ASSERT_TRUE(loop_.RunUntilComplete(array_->Write(0, data)).ok());
  EXPECT_EQ(Manage("add", "/tmp/w/new0").value(), "/tmp/w/new0 added as a spare");
  EXPECT_EQ(Manage("add", "/tmp/w/new1").value(), "/tmp/w/new1 added as a spare");

  // Frozen, the reshape is recorded but does not move yet: what status shows at position 0.
  array_->SetSyncFrozen(true);
  Result<std::string> r = Reshape(4);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value(), fmt::format("raid devices: 2 -> 4, reshape started ({} sectors to move)",
                                   old_sectors));
  ArrayStatus s = *handler_->GetStatus();
  ASSERT_TRUE(s.reshape.has_value());
  EXPECT_EQ(s.reshape->delta_disks, 2);
  EXPECT_EQ(s.reshape->old_raid_disks, 2);
  EXPECT_EQ(s.reshape->new_raid_disks, 4);
  EXPECT_EQ(s.reshape->new_level, 10);
  EXPECT_EQ(s.reshape->new_layout, 0x102u);
  EXPECT_EQ(s.reshape->new_chunk_sectors, 128u);
  EXPECT_EQ(s.reshape->reshape_position, 0u);
  EXPECT_EQ(s.reshape->checkpoint, 0u);
  EXPECT_EQ(s.raid_disks, 4);
  EXPECT_EQ(s.layout, 0x102u);
  EXPECT_EQ(s.array_sectors, old_sectors);  // the size grows when the move is done
  EXPECT_EQ(Member(s, "/tmp/w/new0")->slot, 2);
  EXPECT_EQ(Member(s, "/tmp/w/new1")->slot, 3);
  std::string d = FormatDetail(s);
  EXPECT_NE(d.find("     Delta Devices : 2, (2->4)\n"), std::string::npos) << d;
  EXPECT_NE(d.find("    Reshape Status : 0% complete\n"), std::string::npos) << d;
  EXPECT_NE(d.find(", reshaping \n"), std::string::npos) << d;
  EXPECT_NE(PersonalityStatus(s).find(" 64K chunks 2 near-copies [4/4] [UUUU]"), std::string::npos)
      << PersonalityStatus(s);
  // A second request while one is in progress is refused in one line.
  Result<std::string> again = Reshape(4);
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(again.status().message().find('\n'), std::string::npos);
  EXPECT_NE(again.status().message().find("already in progress"), std::string::npos)
      << again.status().message();

  // `action reshape` continues it once unfrozen (MD's sync_action word).
  EXPECT_TRUE(handler_->Action("idle").ok());
  EXPECT_TRUE(handler_->Action("reshape").ok() || !array_->reshaping());
  WaitReshapeAndResync();
  s = *handler_->GetStatus();
  EXPECT_FALSE(s.reshape.has_value());
  EXPECT_EQ(s.array_sectors, 2 * old_sectors);
  EXPECT_EQ(s.raid_disks, 4);
  EXPECT_EQ(s.degraded, 0);
  EXPECT_EQ(FormatDetail(s).find("Reshape"), std::string::npos);
  std::vector<uint8_t> back(data.size());
  ASSERT_TRUE(loop_.RunUntilComplete(array_->Read(0, back)).ok());
  EXPECT_TRUE(back == data);
}

TEST_F(ArrayHandlerReshapeTest, ProgressWhileTheDataMoves) {
  raid::SyncOptions slow;
  slow.speed_max_kib = 1000;  // 16 MiB members: a few seconds of manual time
  Build(10, 2, /*bitmap=*/false, slow);
  ASSERT_TRUE(Manage("add", "/tmp/w/new0").ok());
  ASSERT_TRUE(Manage("add", "/tmp/w/new1").ok());
  ASSERT_TRUE(Reshape(4).ok());
  const uint64_t total = array_->info().size_bytes / 512;
  ASSERT_TRUE(loop_.RunUntil([&] { return array_->reshape_position() >= total / 4; }));
  ArrayStatus s = *handler_->GetStatus();
  ASSERT_TRUE(s.reshape.has_value());
  ASSERT_TRUE(s.sync.has_value());
  EXPECT_EQ(s.sync->action, "reshape");
  EXPECT_EQ(s.sync_action, "reshape");
  EXPECT_EQ(s.sync->total_sectors, total);
  EXPECT_EQ(s.reshape->reshape_position, s.sync->done_sectors);
  EXPECT_GT(s.reshape->reshape_position, 0u);
  EXPECT_LE(s.reshape->checkpoint, s.reshape->reshape_position);
  std::string line = ProgressLine(*s.sync);
  EXPECT_NE(line.find("]  reshape = "), std::string::npos) << line;
  std::string d = FormatDetail(s);
  EXPECT_NE(d.find("             State : clean, reshaping \n"), std::string::npos) << d;
  EXPECT_NE(d.find("    Reshape Status : "), std::string::npos) << d;
  WaitReshapeAndResync();
  EXPECT_EQ(handler_->GetStatus()->array_sectors, 2 * total);
}

TEST_F(ArrayHandlerReshapeTest, RefusalsAreOneLine) {
  Build(10, 2);
  // No spares: the engine says what is missing.
  Result<std::string> r = Reshape(4);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  EXPECT_NE(r.status().message().find("spare"), std::string::npos) << r.status().message();
  EXPECT_FALSE(array_->reshaping());
  EXPECT_FALSE(handler_->GetStatus()->reshape.has_value());
}

// A RAID1 is taken over first (grow --level=10).
TEST_F(ArrayHandlerReshapeTest, Raid1IsRefused) {
  Build(1, 2);
  ASSERT_TRUE(Manage("add", "/tmp/w/new0").ok());
  ASSERT_TRUE(Manage("add", "/tmp/w/new1").ok());
  Result<std::string> r = Reshape(4);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  EXPECT_FALSE(array_->reshaping());
}

TEST_F(ArrayHandlerReshapeTest, CloseRefusesAReshape) {
  Build(10, 2);
  loop_.RunUntilComplete(handler_->Close());
  EXPECT_EQ(Reshape(4).status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace meshraid::control
