// ArrayHandler's member management (add, fail, remove, re-add, replace) and grow over a real
// raid::Array on memory members in a ManualLoop.
#include "control/array_handler.h"

#include <gtest/gtest.h>

#include "control/handler_fixture_test.h"

namespace meshraid::control {
namespace {

TEST_F(ArrayHandlerTest, FailRemoveAndAddASpareThatIsRebuilt) {
  Build(1, 2);
  EXPECT_EQ(Manage("fail", "/tmp/w/m1").value(), "/tmp/w/m1 failed");
  EXPECT_EQ(Manage("fail", "/tmp/w/m1").value(), "/tmp/w/m1 is already faulty");
  Result<std::string> last = Manage("fail", "/tmp/w/m0");
  EXPECT_EQ(last.status().message(), "/tmp/w/m0: holds the last in-sync copy of some data; not failed");
  EXPECT_FALSE(array_->broken());
  ArrayStatus s = *handler_->GetStatus();
  EXPECT_EQ(s.degraded, 1);
  EXPECT_EQ(Member(s, "/tmp/w/m1")->state, "faulty");
  EXPECT_EQ(Manage("remove", "/tmp/w/m1").value(), "/tmp/w/m1 removed");
  s = *handler_->GetStatus();
  EXPECT_EQ(s.members.size(), 1u);  // removed members are not listed
  EXPECT_EQ(Manage("remove", "/tmp/w/m1").status().message(), "/tmp/w/m1: not a member of this array");
  EXPECT_EQ(Manage("add", "/tmp/w/new0").value(), "/tmp/w/new0 added (rebuilding slot 1)");
  s = *handler_->GetStatus();
  EXPECT_EQ(Member(s, "/tmp/w/new0")->state, "recovering");
  WaitSyncIdle();
  s = *handler_->GetStatus();
  EXPECT_EQ(Member(s, "/tmp/w/new0")->state, "in_sync");
  EXPECT_EQ(Member(s, "/tmp/w/new0")->slot, 1);
  EXPECT_EQ(s.degraded, 0);
  EXPECT_EQ(s.copied_sectors, array_->geometry().DeviceSectorsUsed());
  const uint64_t data = array_->member_metadata(0).sb.data_offset * 512;
  EXPECT_EQ(spares_[0]->Peek(data, 4 << 20), mems_[0]->Peek(data, 4 << 20));
}

TEST_F(ArrayHandlerTest, ReplaceRebuildsTheNewMemberThenFailsTheOldOne) {
  Build(1, 2);
  EXPECT_EQ(Manage("replace", "/tmp/w/m0", "/tmp/w/new0").value(),
            "/tmp/w/new0 added as a replacement of /tmp/w/m0 (rebuilding slot 0)");
  ArrayStatus s = *handler_->GetStatus();
  EXPECT_EQ(Member(s, "/tmp/w/new0")->state, "recovering");
  EXPECT_EQ(s.sync_action, "recover");
  ASSERT_TRUE(s.sync.has_value());
  EXPECT_EQ(s.sync->action, "recovery");
  WaitSyncIdle();
  s = *handler_->GetStatus();
  EXPECT_EQ(Member(s, "/tmp/w/new0")->state, "in_sync");
  EXPECT_EQ(Member(s, "/tmp/w/m0")->state, "faulty");
  EXPECT_EQ(s.degraded, 0);
  EXPECT_EQ(Manage("remove", "/tmp/w/m0").value(), "/tmp/w/m0 removed");
}

TEST_F(ArrayHandlerTest, ReAddCopiesOnlyTheChunksTheBitmapMarks) {
  Build(1, 2, /*bitmap=*/true, {}, 256 << 20);  // several bitmap chunks
  ASSERT_GT(array_->write_intent()->chunks(), 1u);
  ASSERT_TRUE(Manage("fail", "/tmp/w/m1").ok());
  std::vector<uint8_t> buf(64 << 10, 9);
  ASSERT_TRUE(loop_.RunUntilComplete(array_->Write(0, buf)).ok());
  EXPECT_EQ(Manage("re-add", "/tmp/w/m1").value(), "/tmp/w/m1 re-added to slot 1");
  WaitSyncIdle();
  EXPECT_TRUE(Logged("bitmap-guided"));
  ArrayStatus s = *handler_->GetStatus();
  EXPECT_EQ(Member(s, "/tmp/w/m1")->state, "in_sync");
  EXPECT_GT(s.copied_sectors, 0u);
  EXPECT_LT(s.copied_sectors, array_->geometry().DeviceSectorsUsed());
  EXPECT_EQ(s.copied_sectors + s.skipped_sectors, array_->geometry().DeviceSectorsUsed());
  const uint64_t data = array_->member_metadata(0).sb.data_offset * 512;
  EXPECT_EQ(mems_[1]->Peek(data, 1 << 20), mems_[0]->Peek(data, 1 << 20));
}

TEST_F(ArrayHandlerTest, ManageErrorsNameTheMember) {
  Build(1, 2);
  EXPECT_EQ(Manage("fail", "/tmp/w/zz").status().message(), "/tmp/w/zz: not a member of this array");
  EXPECT_EQ(Manage("add", "/tmp/w/m0").status().message(), "/tmp/w/m0: already a member of this array");
  EXPECT_EQ(Manage("add", "/nope").status().message(), "/nope: no such file");
  EXPECT_EQ(Manage("re-add", "/tmp/w/m0").status().message(),
            "/tmp/w/m0: cannot re-add a member that is in_sync");
  EXPECT_EQ(Manage("replace", "/tmp/w/m0").status().message(),
            "/tmp/w/m0: replace needs the new member (with)");
  EXPECT_EQ(Manage("remove", "/tmp/w/m0").status().message(), "/tmp/w/m0 is in_sync: fail it first");
  EXPECT_EQ(Manage("explode", "/tmp/w/m0").status().message(),
            "manage explode: unknown operation (use add, fail, remove, re-add or replace)");
  EXPECT_EQ(opened_, 1);  // only "/nope" got as far as opening
}

TEST_F(ArrayHandlerTest, ARefusedDeviceIsClosedAndCloseStopsManagement) {
  Build(1, 2);
  // Too small: AddMember refuses (and drops) the device it was handed.
  spares_.push_back(std::make_unique<io::MemDevice>(
      loop_.executor(), io::MemDevice::Options{1 << 20, 512, 4096, "/tmp/w/new0"}));
  Result<std::string> r = Manage("add", "/tmp/w/new0");
  EXPECT_NE(r.status().message().find("/tmp/w/new0: too small"), std::string::npos)
      << r.status().message();
  loop_.RunUntilComplete(handler_->Close());
  EXPECT_EQ(Manage("add", "/tmp/w/new1").status().code(), Code::kUnavailable);
}

TEST_F(ArrayHandlerTest, GrowTakesARaid1OverAsRaid10) {
  Build(1, 2);
  std::optional<Result<std::string>> got;
  handler_->Grow(10, 0, [&](Result<std::string> r) { got = r; });
  ASSERT_TRUE(loop_.RunUntil([&] { return got.has_value(); }));
  ASSERT_TRUE(got->ok()) << got->status().message();
  EXPECT_EQ(got->value().rfind("level: raid1 -> raid10, chunk ", 0), 0u) << got->value();
  EXPECT_EQ(handler_->GetStatus()->level, 10);
}

}  // namespace
}  // namespace meshraid::control
