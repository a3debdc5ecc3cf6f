#include "control/array_status.h"

#include <gtest/gtest.h>

namespace meshraid::control {
namespace {

ArrayStatus Full() {
  ArrayStatus a;
  a.name = "r10";
  a.set_name = "host:r10";
  a.uuid = "105b4b0d:9ecc16ef:ed8ecf24:9d513477";
  a.level = 10;
  a.layout = 0x102;
  a.chunk_sectors = 128;
  a.raid_disks = 4;
  a.array_sectors = 258048;
  a.dev_sectors = 129024;
  a.active = true;
  a.degraded = 1;
  a.events = 42;
  a.ctime = 1795593978;
  a.utime = 1795593992;
  a.read_policy = "md";
  a.bitmap = BitmapStatus{1, 2, 65536, 3};
  a.sync = SyncStatus{"recovery", "", 100, 200, 300, 400};
  a.sync_action = "recover";
  a.mismatch_cnt = 256;
  a.sync_speed_min = 1000;
  a.sync_speed_max = 5000;
  a.copied_sectors = 1024;
  a.skipped_sectors = 2048;
  a.reshape = ReshapeStatus{4096, 2048, 2, 2, 4, 10, 0x102, 256};
  for (int i = 0; i < 4; ++i) {
    MemberStatus m;
    m.path = "/dev/sd" + std::string(1, char('a' + i));
    m.slot = i == 3 ? -1 : i;
    m.dev_number = uint32_t(i);
    m.state = i == 3 ? "faulty" : "in_sync";
    m.write_mostly = i == 2;
    m.major = 8;
    m.minor = uint32_t(16 * i);
    m.latency_ewma_ns = 1000u + uint64_t(i);
    m.pending = uint32_t(i);
    m.reads = 10;
    m.read_bytes = 40960;
    m.writes = 5;
    m.write_bytes = 20480;
    m.read_errors = 2;
    m.corrected_errors = 8;
    m.read_p50_ns = 900;
    m.read_p99_ns = 5000;
    m.recovery_offset = i == 2 ? 100 : 0;
    a.members.push_back(m);
  }
  return a;
}

TEST(ArrayStatusTest, JsonRoundTrip) {
  ArrayStatus a = Full();
  nlohmann::json j = ToJson(a);
  Result<ArrayStatus> back = ArrayStatusFromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, a);
}

TEST(ArrayStatusTest, JsonRoundTripWithoutOptionalParts) {
  ArrayStatus a = Full();
  a.bitmap.reset();
  a.sync.reset();
  a.reshape.reset();
  a.members.clear();
  nlohmann::json j = ToJson(a);
  EXPECT_TRUE(j["reshape"].is_null());
  EXPECT_TRUE(j["bitmap"].is_null());
  EXPECT_TRUE(j["sync"].is_null());
  EXPECT_TRUE(j["members"].is_array());
  Result<ArrayStatus> back = ArrayStatusFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, a);
}

TEST(ArrayStatusTest, JsonKeysUseTheDocumentedNames) {
  nlohmann::json j = ToJson(Full());
  EXPECT_EQ(j["state"], "degraded");
  EXPECT_EQ(j["level_name"], "raid10");
  EXPECT_EQ(j["read_policy"], "md");
  // MD's sysfs names for the sync attributes.
  EXPECT_EQ(j["sync_action"], "recover");
  EXPECT_EQ(j["mismatch_cnt"], 256);
  EXPECT_EQ(j["sync_speed_min"], 1000);
  EXPECT_EQ(j["sync_speed_max"], 5000);
  EXPECT_EQ(j["copied_sectors"], 1024);
  EXPECT_EQ(j["skipped_sectors"], 2048);
  EXPECT_EQ(j["bitmap"]["dirty_chunks"], 3);
  EXPECT_EQ(j["sync"]["done_sectors"], 100);
  // MD's superblock/sysfs names for the reshape fields.
  EXPECT_EQ(j["reshape"]["reshape_position"], 4096);
  EXPECT_EQ(j["reshape"]["checkpoint"], 2048);
  EXPECT_EQ(j["reshape"]["delta_disks"], 2);
  EXPECT_EQ(j["reshape"]["old_raid_disks"], 2);
  EXPECT_EQ(j["reshape"]["new_raid_disks"], 4);
  EXPECT_EQ(j["reshape"]["new_layout"], 0x102);
  EXPECT_EQ(j["reshape"]["new_chunk_sectors"], 256);
  EXPECT_EQ(j["members"][2]["recovery_offset"], 100);
  const nlohmann::json& m = j["members"][0];
  for (const char* key : {"path", "slot", "state", "latency_ewma_ns", "pending", "reads",
                          "read_bytes", "read_errors", "corrected_errors", "read_p50_ns",
                          "read_p99_ns"}) {
    EXPECT_TRUE(m.contains(key)) << key;
  }
}

TEST(ArrayStatusTest, MissingKeysKeepDefaults) {
  Result<ArrayStatus> a = ArrayStatusFromJson(nlohmann::json{{"name", "x"}, {"members", {{}}}});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "x");
  EXPECT_EQ(a->level, 1);
  EXPECT_EQ(a->metadata_version, "1.2");
  ASSERT_EQ(a->members.size(), 1u);
  EXPECT_EQ(a->members[0].slot, -1);
  EXPECT_FALSE(a->bitmap.has_value());
  EXPECT_EQ(a->sync_action, "idle");
  EXPECT_EQ(a->mismatch_cnt, 0u);
}

TEST(ArrayStatusTest, WrongTypesAreErrors) {
  EXPECT_EQ(ArrayStatusFromJson(nlohmann::json::array()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ArrayStatusFromJson(nlohmann::json{{"events", "many"}}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(ArrayStatusFromJson(nlohmann::json{{"members", 3}}).status().code(),
            Code::kInvalidArgument);
  nlohmann::json bad_member = {{"members", nlohmann::json::array({{{"reads", "lots"}}})}};
  EXPECT_EQ(ArrayStatusFromJson(bad_member).status().code(), Code::kInvalidArgument);
}

TEST(ArrayStatusTest, StateWord) {
  ArrayStatus a;
  EXPECT_EQ(a.State(), "clean");
  a.active = true;
  EXPECT_EQ(a.State(), "active");
  a.degraded = 1;
  EXPECT_EQ(a.State(), "degraded");
  a.broken = true;
  EXPECT_EQ(a.State(), "broken");
}

}  // namespace
}  // namespace meshraid::control
