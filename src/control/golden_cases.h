// Test helper: the golden arrays written by real Linux MD (tests/golden), each as the
// ArrayStatus meshraid would report for it in its final state, with the /proc/mdstat and
// `mdadm --detail` text MD printed for that state. Header-only; used by the formatting tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/array_status.h"

namespace meshraid::control::golden {

struct Case {
  std::string name;
  ArrayStatus status;
  std::string mdstat;  // record/final.mdstat
  std::string detail;  // record/final.detail
};

inline std::string ReadText(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The array in the state of the freshest superblock: members whose role there is a slot and
// whose events match it, named like the guest's devices (vda = 254:0, vdb = 254:16, ...;
// loop3 = 7:3).
inline ArrayStatus StatusFromManifest(const nlohmann::json& m) {
  const nlohmann::json* fresh = nullptr;
  for (const auto& mem : m["members"]) {
    if (!fresh || mem["events"].get<uint64_t>() > (*fresh)["events"].get<uint64_t>()) fresh = &mem;
  }
  const nlohmann::json& sb = (*fresh)["superblock"];
  const nlohmann::json& arr = m["array"];
  ArrayStatus a;
  a.name = "md0";
  a.set_name = sb["set_name"].get<std::string>();
  a.uuid = arr["uuid"].get<std::string>();
  a.level = sb["level"].get<int>();
  a.layout = sb["layout"].get<uint32_t>();
  a.chunk_sectors = sb["chunksize"].get<uint64_t>();
  a.raid_disks = sb["raid_disks"].get<int>();
  a.array_sectors = arr["array_size_sectors"].get<uint64_t>();
  a.dev_sectors = sb["size"].get<uint64_t>();
  a.events = sb["events"].get<uint64_t>();
  a.ctime = sb["ctime"]["seconds"].get<uint64_t>();
  a.utime = sb["utime"]["seconds"].get<uint64_t>();
  if (sb["feature_map"].get<uint32_t>() & 1) {
    a.bitmap = BitmapStatus{1, 1, std::stoull(arr["sysfs"]["bitmap/chunksize"].get<std::string>())};
  }
  const nlohmann::json& roles = sb["dev_roles"];
  int in_sync = 0;
  for (const auto& mem : m["members"]) {
    uint32_t dev = mem["dev_number"].get<uint32_t>();
    if (mem["events"] != sb["events"] || dev >= roles.size() || !roles[dev].is_number()) continue;
    MemberStatus ms;
    ms.path = mem["guest_device"].get<std::string>();
    ms.slot = roles[dev].get<int>();
    ms.dev_number = dev;
    ms.state = "in_sync";
    if (ms.path.starts_with("/dev/loop")) {  // cases made by tests/kernel (loop devices)
      ms.major = 7;
      ms.minor = uint32_t(std::stoul(ms.path.substr(9)));
    } else {  // virtio disks
      ms.major = 254;
      ms.minor = uint32_t(ms.path.back() - 'a') * 16;
    }
    a.members.push_back(ms);
    ++in_sync;
  }
  a.degraded = a.raid_disks - in_sync;
  return a;
}

// Every case folder with a manifest and final records.
inline std::vector<Case> LoadCases() {
  namespace fs = std::filesystem;
  std::vector<Case> cases;
  fs::path root = MESHRAID_GOLDEN_DIR;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    fs::path dir = entry.path();
    if (!fs::exists(dir / "manifest.json") || !fs::exists(dir / "record/final.mdstat")) continue;
    Case c;
    c.name = dir.filename().string();
    c.status = StatusFromManifest(nlohmann::json::parse(ReadText(dir / "manifest.json")));
    c.mdstat = ReadText(dir / "record/final.mdstat");
    c.detail = ReadText(dir / "record/final.detail");
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace meshraid::control::golden
