// Decodes the superblock, bitmap and bad-block log of every golden member written by real
// Linux MD + mdadm and compares them with the case's manifest.json. The inputs are the first
// 64 KiB of each member, checked in as testdata/<case>-member<N>.head (made with
// `xz -dc member<N>.img.xz | head -c 65536`); manifests come from MESHRAID_GOLDEN_DIR.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "format/badblocks.h"
#include "format/bitmap.h"
#include "format/superblock.h"

namespace meshraid::format {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kDeviceSectors = 64 * 1024 * 1024 / 512;  // golden members are 64 MiB

fs::path TestdataDir() { return fs::path(__FILE__).parent_path() / "testdata"; }
fs::path GoldenDir() { return fs::path(MESHRAID_GOLDEN_DIR); }

struct Member {
  std::string case_name;
  int n = 0;
  std::string Head() const { return case_name + "-member" + std::to_string(n) + ".head"; }
};

void PrintTo(const Member& m, std::ostream* os) { *os << m.Head(); }

// "<prefix>member<N><suffix>" → N, or -1. (No std::regex: GCC 12 + ASan warns inside it.)
int MemberNumber(std::string_view name, std::string_view suffix) {
  const size_t at = name.rfind("member");
  if (at == std::string_view::npos || !name.ends_with(suffix)) return -1;
  const std::string_view digits =
      name.substr(at + 6, name.size() - suffix.size() - (at + 6));
  if (digits.empty() || digits.size() > 4 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return isdigit(c) != 0; })) {
    return -1;
  }
  return std::stoi(std::string(digits));
}

std::vector<Member> Fixtures() {
  std::vector<Member> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(TestdataDir(), ec)) {
    const std::string name = e.path().filename().string();
    const int n = MemberNumber(name, ".head");
    const size_t dash = name.rfind("-member");
    if (n >= 0 && dash != std::string::npos) out.push_back({name.substr(0, dash), n});
  }
  std::sort(out.begin(), out.end(),
            [](const Member& a, const Member& b) { return a.Head() < b.Head(); });
  return out;
}

std::vector<uint8_t> ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

uint16_t RoleFromJson(const json& j) {
  if (j.is_number()) return j.get<uint16_t>();
  const std::string s = j.get<std::string>();
  if (s == "spare") return kRoleSpare;
  if (s == "faulty") return kRoleFaulty;
  if (s == "journal") return kRoleJournal;
  ADD_FAILURE() << "unknown role " << s;
  return 0;
}

// Numeric superblock fields, by manifest key.
const std::map<std::string, std::function<int64_t(const Superblock&)>>& SbFields() {
  static const auto* m = new std::map<std::string, std::function<int64_t(const Superblock&)>>{
      {"major_version", [](const Superblock& s) { return int64_t(s.major_version); }},
      {"feature_map", [](const Superblock& s) { return int64_t(s.feature_map); }},
      {"level", [](const Superblock& s) { return int64_t(s.level); }},
      {"layout", [](const Superblock& s) { return int64_t(s.layout); }},
      {"size", [](const Superblock& s) { return int64_t(s.size); }},
      {"chunksize", [](const Superblock& s) { return int64_t(s.chunksize); }},
      {"raid_disks", [](const Superblock& s) { return int64_t(s.raid_disks); }},
      {"bitmap_offset", [](const Superblock& s) { return int64_t(s.bitmap_offset); }},
      {"new_level", [](const Superblock& s) { return int64_t(s.new_level); }},
      {"reshape_position", [](const Superblock& s) { return int64_t(s.reshape_position); }},
      {"delta_disks", [](const Superblock& s) { return int64_t(s.delta_disks); }},
      {"new_layout", [](const Superblock& s) { return int64_t(s.new_layout); }},
      {"new_chunk", [](const Superblock& s) { return int64_t(s.new_chunk); }},
      {"new_offset", [](const Superblock& s) { return int64_t(s.new_offset); }},
      {"data_offset", [](const Superblock& s) { return int64_t(s.data_offset); }},
      {"data_size", [](const Superblock& s) { return int64_t(s.data_size); }},
      {"super_offset", [](const Superblock& s) { return int64_t(s.super_offset); }},
      {"recovery_offset", [](const Superblock& s) { return int64_t(s.recovery_offset); }},
      {"dev_number", [](const Superblock& s) { return int64_t(s.dev_number); }},
      {"cnt_corrected_read", [](const Superblock& s) { return int64_t(s.cnt_corrected_read); }},
      {"devflags", [](const Superblock& s) { return int64_t(s.devflags); }},
      {"bblog_shift", [](const Superblock& s) { return int64_t(s.bblog_shift); }},
      {"bblog_size", [](const Superblock& s) { return int64_t(s.bblog_size); }},
      {"bblog_offset", [](const Superblock& s) { return int64_t(s.bblog_offset); }},
      {"events", [](const Superblock& s) { return int64_t(s.events); }},
      {"max_dev", [](const Superblock& s) { return int64_t(s.max_dev); }},
      {"this_role", [](const Superblock& s) { return int64_t(s.ThisRole()); }},
  };
  return *m;
}

// Manifest keys checked outside SbFields (or that describe the probe, not a field).
const std::set<std::string> kOtherSbKeys = {
    "magic_ok", "super_offset_sectors_probe", "features", "set_uuid", "set_name", "ctime",
    "utime", "device_uuid", "resync_offset", "sb_csum", "sb_csum_calc", "sb_csum_ok",
    "dev_roles", "bitmap", "layout_decoded"};

uint32_t HexField(const json& j) { return uint32_t(std::stoul(j.get<std::string>(), nullptr, 16)); }

class GoldenMemberTest : public ::testing::TestWithParam<Member> {
 protected:
  void SetUp() override {
    const Member& m = GetParam();
    const fs::path manifest = GoldenDir() / m.case_name / "manifest.json";
    if (!fs::exists(manifest)) GTEST_SKIP() << "no golden manifest at " << manifest;
    std::ifstream f(manifest);
    const json doc = json::parse(f);
    const std::string file = "member" + std::to_string(m.n) + ".img.xz";
    for (const json& mem : doc.at("members")) {
      if (mem.at("file") == file) member_ = mem;
    }
    ASSERT_FALSE(member_.is_null()) << file << " not in " << manifest;
    head_ = ReadFile(TestdataDir() / m.Head());
    ASSERT_EQ(head_.size(), 65536u);
    const uint64_t probe = member_.at("superblock").at("super_offset_sectors_probe");
    sb_bytes_ = std::span<const uint8_t>(head_).subspan(probe * 512, kSbReadSize);
  }

  json member_;
  std::vector<uint8_t> head_;
  std::span<const uint8_t> sb_bytes_;
};

TEST_P(GoldenMemberTest, SuperblockMatchesManifest) {
  auto r = Decode(sb_bytes_, {.version = SbVersion::k1_2, .device_sectors = kDeviceSectors});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Superblock& sb = *r;
  const json& js = member_.at("superblock");
  for (const auto& [key, value] : js.items()) {
    if (auto it = SbFields().find(key); it != SbFields().end()) {
      EXPECT_EQ(it->second(sb), value.get<int64_t>()) << key;
    } else {
      EXPECT_TRUE(kOtherSbKeys.count(key)) << "manifest key not checked: " << key;
    }
  }
  EXPECT_TRUE(js.at("magic_ok").get<bool>());
  EXPECT_EQ(sb.resync_offset, js.at("resync_offset").get<uint64_t>());
  EXPECT_EQ(sb.Name(), js.at("set_name").get<std::string>());
  EXPECT_EQ(UuidSysfs(sb.set_uuid), js.at("set_uuid").get<std::string>());
  EXPECT_EQ(UuidSysfs(sb.device_uuid), js.at("device_uuid").get<std::string>());
  EXPECT_EQ(SbTimeSeconds(sb.ctime), js.at("ctime").at("seconds").get<uint64_t>());
  EXPECT_EQ(sb.ctime >> 40, js.at("ctime").at("usec").get<uint64_t>());
  EXPECT_EQ(SbTimeSeconds(sb.utime), js.at("utime").at("seconds").get<uint64_t>());
  EXPECT_EQ(sb.utime >> 40, js.at("utime").at("usec").get<uint64_t>());
  EXPECT_EQ(sb.sb_csum, HexField(js.at("sb_csum")));
  EXPECT_EQ(ComputeChecksum(sb_bytes_), HexField(js.at("sb_csum_calc")));
  std::string names;
  for (const json& f : js.at("features")) {
    if (!names.empty()) names += ',';
    names += f.get<std::string>();  // (not `"," + string`: GCC 12 -O3 warns -Wrestrict there)
  }
  EXPECT_EQ(FeatureNames(sb.feature_map), names);
  // dev_roles: the manifest lists the leading entries; the rest of max_dev must be spare.
  const json& roles = js.at("dev_roles");
  ASSERT_EQ(sb.dev_roles.size(), sb.max_dev);
  for (size_t i = 0; i < sb.dev_roles.size(); ++i) {
    const uint16_t want = i < roles.size() ? RoleFromJson(roles[i]) : kRoleSpare;
    EXPECT_EQ(sb.dev_roles[i], want) << "dev_roles[" << i << "]";
  }
  // RAID10 layout word (md-facts F.1); geometry itself is the layout layer's business.
  if (js.contains("layout_decoded")) {
    const json& ld = js.at("layout_decoded");
    EXPECT_EQ(sb.layout & 0xFF, ld.at("near_copies").get<uint32_t>());
    EXPECT_EQ((sb.layout >> 8) & 0xFF, ld.at("far_copies").get<uint32_t>());
    EXPECT_EQ(((sb.layout >> 16) & 1) != 0, ld.at("offset").get<bool>());
    EXPECT_EQ(((sb.layout >> 17) & 3) != 0, ld.at("use_far_sets").get<bool>());
  }
  // Per-member summary fields and mdadm --examine agree too.
  EXPECT_EQ(sb.events, member_.at("events").get<uint64_t>());
  EXPECT_EQ(sb.data_offset, member_.at("data_offset_sectors").get<uint64_t>());
  EXPECT_EQ(sb.data_size, member_.at("data_size_sectors").get<uint64_t>());
  const json& ex = member_.at("examine");
  EXPECT_EQ(UuidMdadm(sb.set_uuid), ex.at("Array UUID").get<std::string>());
  // mdadm prints the checksum without zero padding ("9d254f7 - correct").
  EXPECT_EQ(fmt::format("{:x} - correct", sb.sb_csum), ex.at("Checksum").get<std::string>());
}

TEST_P(GoldenMemberTest, EncodeReproducesTheBytes) {
  auto r = Decode(sb_bytes_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<uint8_t> enc = Encode(*r);
  ASSERT_GE(enc.size(), r->ByteSize());
  EXPECT_TRUE(std::equal(enc.begin(), enc.end(), sb_bytes_.begin()))
      << "Encode(Decode(golden)) differs from the golden superblock";
}

TEST_P(GoldenMemberTest, BitmapMatchesManifest) {
  auto r = Decode(sb_bytes_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const json& js = member_.at("superblock");
  if (!r->Has(kFeatureBitmapOffset)) {
    EXPECT_FALSE(js.contains("bitmap"));
    return;
  }
  ASSERT_TRUE(js.contains("bitmap"));
  const json& jb = js.at("bitmap");
  const int64_t loc = int64_t(r->super_offset) + r->bitmap_offset;
  ASSERT_EQ(loc, jb.at("location_sector").get<int64_t>());
  const auto area = std::span<const uint8_t>(head_).subspan(size_t(loc) * 512);
  auto b = DecodeBitmapSuper(area);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(jb.at("magic_ok").get<bool>());
  EXPECT_EQ(b->version, jb.at("version").get<uint32_t>());
  EXPECT_EQ(UuidSysfs(b->uuid), jb.at("uuid").get<std::string>());
  EXPECT_EQ(b->events, jb.at("events").get<uint64_t>());
  EXPECT_EQ(b->events_cleared, jb.at("events_cleared").get<uint64_t>());
  EXPECT_EQ(b->sync_size, jb.at("sync_size").get<uint64_t>());
  EXPECT_EQ(b->state, jb.at("state").get<uint32_t>());
  EXPECT_EQ(b->chunksize, jb.at("chunksize").get<uint32_t>());
  EXPECT_EQ(b->daemon_sleep, jb.at("daemon_sleep").get<uint32_t>());
  EXPECT_EQ(b->write_behind, jb.at("write_behind").get<uint32_t>());
  EXPECT_EQ(b->sectors_reserved, jb.at("sectors_reserved").get<uint32_t>());
  EXPECT_EQ(b->nodes, jb.at("nodes").get<uint32_t>());
  EXPECT_EQ(b->Chunks(), jb.at("chunks").get<uint64_t>());
  EXPECT_TRUE(CheckBitmapBelongs(*b, *r).ok());
  EXPECT_FALSE(BitmapStale(*b, *r));
  EXPECT_EQ(EncodeBitmapSuper(*b), std::vector<uint8_t>(area.begin(), area.begin() + 256));
  auto bits = BitmapBits::Decode(area.subspan(kBitmapHeaderSize), b->Chunks());
  ASSERT_TRUE(bits.ok()) << bits.status().ToString();
  EXPECT_EQ(bits->CountSet(), jb.at("dirty_chunks").get<uint64_t>());
  EXPECT_EQ(bits->SetChunks(), jb.at("dirty_chunk_list").get<std::vector<uint64_t>>());
  // The whole area up to the bad-block log (mdadm's bitmap space) is reproduced exactly.
  const uint64_t area_bytes = uint64_t(r->bblog_offset - r->bitmap_offset) * 512;
  auto whole = EncodeBitmapArea(*b, *bits, area_bytes);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(*whole, std::vector<uint8_t>(area.begin(), area.begin() + area_bytes));
}

TEST_P(GoldenMemberTest, BadBlockLogIsEmpty) {
  auto r = Decode(sb_bytes_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const json& js = member_.at("superblock");
  ASSERT_NE(r->bblog_offset, 0);
  const size_t at = size_t(int64_t(r->super_offset) + r->bblog_offset) * 512;
  const auto log = std::span<const uint8_t>(head_).subspan(at, size_t{r->bblog_size} * 512);
  auto bb = DecodeBadBlockLog(*r, log);
  ASSERT_TRUE(bb.ok()) << bb.status().ToString();
  EXPECT_TRUE(bb->empty());
  // What an empty log looks like on disk after mdadm --create.
  EXPECT_EQ(std::vector<uint8_t>(log.begin(), log.end()), EncodeEmptyBadBlockLog(r->bblog_size));
  // mdadm --examine: "512 entries available at offset 16 sectors".
  EXPECT_EQ(member_.at("examine").at("Bad Block Log").get<std::string>(),
            fmt::format("{} entries available at offset {} sectors", r->bblog_size * 512 / 8,
                        r->bblog_offset));
  EXPECT_EQ(r->bblog_offset, js.at("bblog_offset").get<int32_t>());
}

std::string ParamName(const ::testing::TestParamInfo<Member>& info) {
  std::string s = info.param.case_name + "_member" + std::to_string(info.param.n);
  for (char& c : s) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenMemberTest, ::testing::ValuesIn(Fixtures()), ParamName);

// Every golden member must have its fixture (cases are discovered, not listed).
TEST(GoldenFixturesTest, EveryGoldenMemberHasAHeadFixture) {
  if (!fs::exists(GoldenDir())) GTEST_SKIP() << "no golden dir " << GoldenDir();
  int seen = 0;
  for (const auto& dir : fs::directory_iterator(GoldenDir())) {
    if (!dir.is_directory()) continue;
    for (const auto& e : fs::directory_iterator(dir.path())) {
      const std::string name = e.path().filename().string();
      const int n = name.starts_with("member") ? MemberNumber(name, ".img.xz") : -1;
      if (n < 0) continue;
      ++seen;
      const Member mem{dir.path().filename().string(), n};
      EXPECT_TRUE(fs::exists(TestdataDir() / mem.Head()))
          << "missing fixture; create it with: xz -dc " << e.path().string()
          << " | head -c 65536 > " << (TestdataDir() / mem.Head()).string();
    }
  }
  EXPECT_GT(seen, 0);
}

}  // namespace
}  // namespace meshraid::format
