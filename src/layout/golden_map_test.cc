// Golden placements: for every array that real Linux MD wrote (MESHRAID_GOLDEN_DIR/<case>),
// every pattern sector found on a member must be one of Map()'s copies of its array sector.
// Cases are discovered, never listed; a missing or empty golden directory fails.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "layout/geometry.h"

namespace meshraid::layout {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<fs::path> DiscoverCases() {
  std::vector<fs::path> cases;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(MESHRAID_GOLDEN_DIR, ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / "manifest.json")) {
      cases.push_back(entry.path());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

int LevelOf(const json& level) {
  if (level.is_number_integer()) return level.get<int>();
  const std::string s = level.get<std::string>();
  return s.starts_with("raid") ? std::stoi(s.substr(4)) : -1;
}

// One "pat" run of a map file: `count` member sectors from `member_sector` hold array
// sectors lba_first...
struct Run {
  uint64_t member_sector = 0;
  uint64_t count = 0;
  uint64_t lba_first = 0;
};

std::vector<Run> ReadPatternRuns(const fs::path& path) {
  std::vector<Run> runs;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Run run;
    std::string kind, token;
    fields >> run.member_sector >> run.count >> kind;
    if (kind != "pat") continue;
    bool have_lba = false;
    while (fields >> token) {
      if (!token.starts_with("lba=")) continue;
      const std::string range = token.substr(4);
      const size_t dots = range.find("..");
      run.lba_first = std::stoull(range.substr(0, dots));
      const uint64_t last =
          dots == std::string::npos ? run.lba_first : std::stoull(range.substr(dots + 2));
      EXPECT_EQ(last - run.lba_first + 1, run.count) << path << ": " << line;
      have_lba = true;
    }
    EXPECT_TRUE(have_lba) << path << ": " << line;
    runs.push_back(run);
  }
  return runs;
}

// Checks one case; returns the number of array sectors (per member) verified.
uint64_t CheckCase(const fs::path& dir) {
  std::ifstream in(dir / "manifest.json");
  const json m = json::parse(in);
  const json& a = m.at("array");
  const int level = LevelOf(a.at("level"));
  auto g = Geometry::FromSuperblock(
      level, a.value("layout_numeric", 0u), a.value("chunk_sectors", 0u),
      a.at("raid_devices").get<uint32_t>(), a.at("component_size_sectors").get<uint64_t>());
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  if (!g.ok()) return 0;
  EXPECT_EQ(g->ArraySectors(), a.at("array_size_sectors").get<uint64_t>());

  uint64_t checked = 0;
  if (!fs::is_directory(dir / "layout")) {
    std::cout << "[ golden   ] " << dir.filename().string() << ": no layout/ maps\n";
    return checked;
  }
  for (const json& member : m.at("members")) {
    const json& sb = member.at("superblock");
    const std::string file = member.at("file").get<std::string>();
    SCOPED_TRACE(file);
    // The member's own superblock must describe the same geometry.
    auto own = Geometry::FromSuperblock(
        sb.at("level").get<int32_t>(), sb.at("layout").get<uint32_t>(),
        sb.at("chunksize").get<uint32_t>(), sb.at("raid_disks").get<uint32_t>(),
        sb.at("size").get<uint64_t>());
    EXPECT_TRUE(own.ok() && *own == *g);
    const json& role = sb.at("dev_roles").at(sb.at("dev_number").get<size_t>());
    if (!role.is_number_integer() || role.get<int>() >= g->raid_disks()) {
      ADD_FAILURE() << "member has no active slot (role " << role.dump() << ")";
      continue;
    }
    const int slot = role.get<int>();
    const uint64_t data_offset = member.at("data_offset_sectors").get<uint64_t>();
    std::string map = file.substr(0, file.find('.')) + ".map";
    if (member.contains("layout_map"))
      map = member["layout_map"].value("file", "layout/" + map);
    else
      map = "layout/" + map;

    // After a reshape, sectors past the component (data_offset + size) can still hold what
    // the old layout put there: leftovers, not copies.
    const uint64_t data_end = data_offset + sb.at("size").get<uint64_t>();
    const std::vector<Run> runs = ReadPatternRuns(dir / map);
    EXPECT_FALSE(runs.empty()) << map << " has no pattern runs";
    uint64_t leftovers = 0;
    for (const Run& run : runs) {
      EXPECT_GE(run.member_sector, data_offset) << "pattern before data_offset in " << map;
      if (run.member_sector < data_offset) continue;
      const uint64_t inside =
          run.member_sector >= data_end ? 0 : std::min(run.count, data_end - run.member_sector);
      leftovers += run.count - inside;
      for (uint64_t i = 0; i < inside; ++i) {
        const uint64_t lba = run.lba_first + i;
        const Copy want{slot, run.member_sector - data_offset + i};
        EXPECT_LT(lba, g->ArraySectors());
        if (lba >= g->ArraySectors()) break;
        const std::vector<Copy> copies = g->Map(lba);
        if (std::find(copies.begin(), copies.end(), want) == copies.end()) {
          ADD_FAILURE() << map << ": lba " << lba << " found at slot " << slot << " sector "
                        << want.sector << ", not among Map()'s copies";
          return checked;
        }
        auto back = g->Unmap(slot, want.sector);
        EXPECT_TRUE(back.ok() && *back == lba) << map << ": Unmap of lba " << lba;
        ++checked;
      }
    }
    if (leftovers > 0) {
      std::cout << "[ golden   ] " << file << ": " << leftovers
                << " pattern sectors past the component (left by a reshape)\n";
    }
  }
  return checked;
}

TEST(GoldenMapTest, EveryPatternSectorIsAMappedCopy) {
  const std::vector<fs::path> cases = DiscoverCases();
  ASSERT_FALSE(cases.empty()) << "no golden cases (folders with manifest.json) under "
                              << MESHRAID_GOLDEN_DIR;
  for (const fs::path& dir : cases) {
    SCOPED_TRACE(dir.filename().string());
    const uint64_t checked = CheckCase(dir);
    std::cout << "[ golden   ] " << dir.filename().string() << ": " << checked
              << " member sectors verified\n";
  }
}

}  // namespace
}  // namespace meshraid::layout
