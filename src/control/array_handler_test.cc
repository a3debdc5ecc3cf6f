// StatusFromArray and ArrayHandler over a real raid::Array on memory members in a ManualLoop.
#include "control/array_handler.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "control/mdstat.h"
#include "control/status_from_array.h"
#include "format/superblock.h"
#include "io/mem_device.h"
#include "raid/create.h"
#include "testing/borrowed_device.h"
#include "testing/manual_loop.h"

namespace meshraid::control {
namespace {

constexpr uint64_t kMemberBytes = 16 << 20;

class ArrayHandlerTest : public ::testing::Test {
 protected:
  ~ArrayHandlerTest() override {
    if (array_) (void)loop_.RunUntilComplete(array_->Close());
  }

  void Build(int level, int n) {
    raid::CreateOptions o;
    o.level = level;
    o.raid_devices = n;
    o.assume_clean = true;
    o.bitmap = raid::BitmapChoice::kNone;
    o.name = "data";
    o.homehost = "node1";
    o.now_seconds = 1000;
    if (level == 10) o.chunk_sectors = 128;
    std::vector<raid::CreateMember> cm;
    for (int i = 0; i < n; ++i) cm.push_back({"/tmp/w/m" + std::to_string(i), kMemberBytes / 512});
    auto plan = raid::PlanCreate(o, cm);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    std::vector<raid::MemberMetadata> md;
    std::vector<raid::ArrayMember> am;
    for (int i = 0; i < n; ++i) {
      mems_.push_back(std::make_unique<io::MemDevice>(
          loop_.executor(), io::MemDevice::Options{kMemberBytes, 512, 4096, cm[size_t(i)].name}));
      mems_.back()->Poke(8 * 512, plan->members[size_t(i)].sb_bytes);
      raid::MemberMetadata m;
      m.path = cm[size_t(i)].name;
      m.device_sectors = kMemberBytes / 512;
      m.sb_sector = 8;
      m.sb = plan->members[size_t(i)].sb;
      md.push_back(m);
      am.push_back({std::make_unique<testing::BorrowedDevice>(*mems_.back()), m});
    }
    auto ap = raid::PlanAssembly(md);
    ASSERT_TRUE(ap.ok()) << ap.status().message();
    raid::ArrayOptions ao;
    ao.wall_seconds = [] { return uint64_t(2000); };
    raid::SleepFn sleep = [this](uint64_t ns) -> io::Task<void> {
      return [](testing::ManualTimers& t, uint64_t d) -> io::Task<void> {
        co_await t.SleepFor(d);
      }(loop_.timers(), ns);
    };
    auto a = raid::Array::Create(loop_.executor(), loop_.clock(), sleep, *ap, std::move(am), ao);
    ASSERT_TRUE(a.ok()) << a.status().message();
    array_ = std::move(a).value();
  }

  testing::ManualLoop loop_;
  std::vector<std::unique_ptr<io::MemDevice>> mems_;
  std::unique_ptr<raid::Array> array_;
};

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
  ArrayHandler h(*array_);
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
  ArrayHandler h(*array_);
  Result<std::string> bad_value = h.Set("read-policy", "fastest");
  EXPECT_EQ(bad_value.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad_value.status().message(), "read-policy=fastest: use latency, md or round-robin");
  EXPECT_EQ(h.Set("readpolicy", "md").status().message(),
            "unknown setting 'readpolicy' (settable: read-policy)");
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

}  // namespace
}  // namespace meshraid::control
