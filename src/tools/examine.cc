// meshraid examine: what `mdadm --examine` shows for each member (same field names), plus the
// bitmap summary of `mdadm --examine-bitmap`. --json prints the same fields and the raw
// superblock values.
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "layout/geometry.h"
#include "raid/member_metadata.h"
#include "tools/verbs.h"
#include "util/size.h"

namespace meshraid::tools {
namespace {

using nlohmann::ordered_json;

std::string TimeText(uint64_t sb_time) {
  time_t t = time_t(format::SbTimeSeconds(sb_time));
  struct tm tm {};
  ::localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm);
  return buf;
}

std::string LevelName(int32_t level) {
  switch (level) {
    case 1: return "raid1";
    case 10: return "raid10";
    case 0: return "raid0";
    case 4: return "raid4";
    case 5: return "raid5";
    case 6: return "raid6";
    case -1: return "linear";
    case -4: return "multipath";
  }
  return fmt::format("level {}", level);
}

std::string RoleText(uint16_t role) {
  if (role == format::kRoleSpare) return "spare";
  if (role == format::kRoleFaulty) return "faulty";
  if (role == format::kRoleJournal) return "Journal";
  return fmt::format("Active device {}", role);
}

std::string ArrayStateText(const format::Superblock& sb) {
  std::string s(sb.raid_disks, '.');
  for (uint16_t r : sb.dev_roles) {
    if (r < sb.raid_disks) s[r] = 'A';
  }
  return s + " ('A' == active, '.' == missing, 'R' == replacing)";
}

std::string NameText(const format::Superblock& sb) {
  std::string name = sb.Name();
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  auto colon = name.find(':');
  if (colon != std::string::npos && name.substr(0, colon) == host) {
    return name + "  (local to host " + host + ")";
  }
  return name;
}

// The mdadm --examine fields, in mdadm's order, plus our raw values.
ordered_json Examine(const raid::MemberMetadata& m) {
  const format::Superblock& sb = m.sb;
  ordered_json f;
  f["Magic"] = fmt::format("{:08x}", sb.magic);
  f["Version"] = fmt::format("1.{}", int(m.version));
  f["Feature Map"] = fmt::format("{:#x}", sb.feature_map);
  f["Array UUID"] = format::UuidMdadm(sb.set_uuid);
  f["Name"] = NameText(sb);
  f["Creation Time"] = TimeText(sb.ctime);
  f["Raid Level"] = LevelName(sb.level);
  f["Raid Devices"] = std::to_string(sb.raid_disks);
  f["Avail Dev Size"] = fmt::format("{} sectors {}", sb.data_size, HumanSize(sb.data_size * 512));
  auto geo = layout::Geometry::FromSuperblock(sb.level, sb.layout, sb.chunksize, sb.raid_disks,
                                              sb.size);
  if (geo.ok()) {
    uint64_t kib = geo->ArraySectors() / 2;
    f["Array Size"] = fmt::format("{} KiB {}", kib, HumanSize(kib * 1024));
  }
  if (sb.size != sb.data_size) {
    f["Used Dev Size"] = fmt::format("{} sectors {}", sb.size, HumanSize(sb.size * 512));
  }
  f["Data Offset"] = fmt::format("{} sectors", sb.data_offset);
  if (sb.Has(format::kFeatureNewOffset)) {
    // Where the data moves during a reshape (data_offset + the signed new_offset).
    f["New Offset"] = fmt::format("{} sectors", int64_t(sb.data_offset) + sb.new_offset);
  }
  f["Super Offset"] = fmt::format("{} sectors", sb.super_offset);
  if (m.version != format::SbVersion::k1_0) {
    // What mdadm counts as used before the data: at least 72 sectors after the superblock
    // start (superblock, bitmap, bad-block log), or up to the end of the bad-block log.
    uint64_t reserved = sb.super_offset + 72;
    if (sb.bblog_offset > 0) {
      reserved = std::max<uint64_t>(reserved, sb.super_offset + uint64_t(sb.bblog_offset) +
                                                  sb.bblog_size);
    }
    uint64_t before = sb.data_offset > reserved ? sb.data_offset - reserved : 0;
    uint64_t after = sb.data_size > sb.size ? sb.data_size - sb.size : 0;
    f["Unused Space"] = fmt::format("before={} sectors, after={} sectors", before, after);
  }
  if (sb.Has(format::kFeatureRecoveryOffset)) {
    f["Recovery Offset"] = fmt::format("{} sectors", sb.recovery_offset);
  }
  f["State"] = sb.Clean() ? "clean" : "active";
  f["Device UUID"] = format::UuidMdadm(sb.device_uuid);
  if (sb.Has(format::kFeatureBitmapOffset)) {
    f["Internal Bitmap"] = fmt::format("{} sectors from superblock", sb.bitmap_offset);
  }
  if (sb.Has(format::kFeatureReshapeActive)) {
    f["Reshape pos'n"] = fmt::format("{} {}", sb.reshape_position / 2,
                                     HumanSize(sb.reshape_position * 512));
    if (sb.delta_disks) {
      f["Delta Devices"] = fmt::format("{} ({}->{})", sb.delta_disks,
                                       int64_t(sb.raid_disks) - sb.delta_disks, sb.raid_disks);
    }
    if (int32_t(sb.new_level) != sb.level) f["New Level"] = LevelName(int32_t(sb.new_level));
    if (sb.new_layout != sb.layout && sb.level == 10) {
      auto l = layout::Raid10Layout::FromWord(sb.new_layout);
      f["New Layout"] = l.ok() ? l->MdadmName() : fmt::format("{:#x}", sb.new_layout);
    }
    if (sb.new_chunk != sb.chunksize) f["New Chunksize"] = fmt::format("{}K", sb.new_chunk / 2);
  }
  f["Update Time"] = TimeText(sb.utime);
  if (sb.bblog_offset && sb.bblog_size) {
    f["Bad Block Log"] = fmt::format("{} entries available at offset {} sectors",
                                     uint32_t(sb.bblog_size) * 64, sb.bblog_offset);
    if (!m.bad_blocks.empty()) f["Bad Blocks Present"] = "Yes";
  }
  f["Checksum"] = fmt::format("{:x} - correct", sb.sb_csum);
  f["Events"] = std::to_string(sb.events);
  if (sb.level == 10 && geo.ok()) {
    f["Layout"] = geo->raid10().MdadmName();
    f["Chunk Size"] = fmt::format("{}K", sb.chunksize / 2);
  }
  f["Device Role"] = RoleText(sb.ThisRole());
  f["Array State"] = ArrayStateText(sb);
  return f;
}

ordered_json BitmapFields(const raid::MemberMetadata& m) {
  const format::BitmapSuper& b = m.bitmap->super;
  uint64_t chunks = b.Chunks();
  uint64_t dirty = m.bitmap->bits.CountSet();
  ordered_json f;
  f["Magic"] = fmt::format("{:08x}", b.magic);
  f["Version"] = std::to_string(b.version);
  f["UUID"] = format::UuidMdadm(b.uuid);
  f["Events"] = std::to_string(b.events);
  f["Events Cleared"] = std::to_string(b.events_cleared);
  f["State"] = (b.state & format::kBitmapStale) ? "Out of date" : "OK";
  uint64_t kib = b.chunksize / 1024;
  f["Chunksize"] = kib >= 1024 && kib % 1024 == 0 ? fmt::format("{} MB", kib / 1024)
                                                  : fmt::format("{} KB", kib);
  f["Daemon"] = fmt::format("{}s flush period", b.daemon_sleep);
  f["Write Mode"] = b.write_behind ? fmt::format("Allow write behind, max {}", b.write_behind)
                                   : "Normal";
  f["Sync Size"] = fmt::format("{} {}", b.sync_size / 2, HumanSize(b.sync_size * 512));
  f["Bitmap"] = fmt::format("{} bits (chunks), {} dirty ({:.1f}%)", chunks, dirty,
                            chunks ? 100.0 * double(dirty) / double(chunks) : 0.0);
  return f;
}

ordered_json RawFields(const raid::MemberMetadata& m) {
  const format::Superblock& sb = m.sb;
  ordered_json r;
  r["version"] = fmt::format("1.{}", int(m.version));
  r["feature_map"] = sb.feature_map;
  r["set_uuid"] = format::UuidSysfs(sb.set_uuid);
  r["set_name"] = sb.Name();
  r["ctime"] = format::SbTimeSeconds(sb.ctime);
  r["level"] = sb.level;
  r["layout"] = sb.layout;
  r["size"] = sb.size;
  r["chunksize"] = sb.chunksize;
  r["raid_disks"] = sb.raid_disks;
  r["bitmap_offset"] = sb.bitmap_offset;
  r["new_level"] = sb.new_level;
  r["reshape_position"] = sb.reshape_position;
  r["delta_disks"] = sb.delta_disks;
  r["new_layout"] = sb.new_layout;
  r["new_chunk"] = sb.new_chunk;
  r["new_offset"] = sb.new_offset;
  r["data_offset"] = sb.data_offset;
  r["data_size"] = sb.data_size;
  r["super_offset"] = sb.super_offset;
  r["recovery_offset"] = sb.recovery_offset;
  r["dev_number"] = sb.dev_number;
  r["cnt_corrected_read"] = sb.cnt_corrected_read;
  r["device_uuid"] = format::UuidSysfs(sb.device_uuid);
  r["devflags"] = sb.devflags;
  r["bblog_shift"] = sb.bblog_shift;
  r["bblog_size"] = sb.bblog_size;
  r["bblog_offset"] = sb.bblog_offset;
  r["utime"] = format::SbTimeSeconds(sb.utime);
  r["events"] = sb.events;
  r["resync_offset"] = sb.resync_offset;
  r["sb_csum"] = fmt::format("{:#010x}", sb.sb_csum);
  r["max_dev"] = sb.max_dev;
  r["logical_block_size"] = sb.logical_block_size;
  ordered_json roles = ordered_json::array();
  for (uint32_t i = 0; i < sb.max_dev; ++i) {
    uint16_t role = sb.dev_roles[i];
    if (role == format::kRoleSpare) continue;
    roles.push_back({{"dev_number", i}, {"role", role < format::kRoleMax ? ordered_json(role)
                                                                       : ordered_json(RoleText(role))}});
  }
  r["dev_roles"] = roles;
  r["this_role"] = sb.ThisRole();
  r["device_sectors"] = m.device_sectors;
  auto geo = layout::Geometry::FromSuperblock(sb.level, sb.layout, sb.chunksize, sb.raid_disks,
                                              sb.size);
  if (geo.ok()) r["array_sectors"] = geo->ArraySectors();
  if (m.bitmap) {
    const format::BitmapSuper& b = m.bitmap->super;
    r["bitmap"] = {{"sector", m.bitmap->sector},     {"version", b.version},
                   {"events", b.events},             {"events_cleared", b.events_cleared},
                   {"sync_size", b.sync_size},       {"state", b.state},
                   {"chunksize", b.chunksize},       {"daemon_sleep", b.daemon_sleep},
                   {"write_behind", b.write_behind}, {"chunks", b.Chunks()},
                   {"dirty_chunks", m.bitmap->bits.CountSet()}};
  }
  r["bad_blocks"] = ordered_json::array();
  for (const auto& bb : m.bad_blocks) r["bad_blocks"].push_back({bb.start, bb.length});
  return r;
}

void PrintText(const std::string& path, const ordered_json& fields, const ordered_json* bitmap) {
  fmt::print("{}:\n", path);
  bool raid10 = fields.contains("Layout");
  for (auto& [k, v] : fields.items()) {
    // Blank lines and indentation where mdadm puts them.
    bool gap = k == "Avail Dev Size" || k == "Internal Bitmap" || k == "Layout" ||
               (k == "Update Time" &&
                (!fields.contains("Internal Bitmap") || fields.contains("Reshape pos'n")));
    if (gap) fmt::print("\n");
    if (k == "Device Role") fmt::print("{}", raid10 ? "\n" : "\n\n");
    bool narrow = k == "Device Role" || k == "Array State";
    fmt::print("{:>{}} : {}\n", k, narrow ? 14 : 15, v.get<std::string>());
  }
  if (bitmap) {
    fmt::print("\n  Bitmap (as mdadm --examine-bitmap):\n");
    for (auto& [k, v] : bitmap->items()) fmt::print("{:>16} : {}\n", k, v.get<std::string>());
  }
}

Status RunExamine(const std::vector<std::string>& paths, bool json) {
  size_t failed = 0;
  ordered_json out = ordered_json::array();
  for (const std::string& p : paths) {
    auto m = raid::ReadMemberMetadata(p);
    if (!m.ok()) {
      // Report and go on with the other members; the exit code says something failed.
      fmt::print(stderr, "meshraid examine: {}\n", m.status().message());
      if (json) out.push_back({{"path", p}, {"error", m.status().message()}});
      ++failed;
      continue;
    }
    ordered_json fields = Examine(*m);
    ordered_json bitmap = m->bitmap ? BitmapFields(*m) : ordered_json();
    if (json) {
      ordered_json e = {{"path", p}, {"examine", fields}};
      if (m->bitmap) e["examine_bitmap"] = bitmap;
      e["superblock"] = RawFields(*m);
      out.push_back(std::move(e));
    } else {
      PrintText(p, fields, m->bitmap ? &bitmap : nullptr);
    }
  }
  if (json) fmt::print("{}\n", out.dump(1));
  if (failed) {
    return Status::Corruption(
        fmt::format("{} of {} member(s) could not be examined", failed, paths.size()));
  }
  return Status::Ok();
}

}  // namespace

Runner AddExamine(CLI::App& app) {
  struct Args {
    std::vector<std::string> paths;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = app.add_subcommand("examine", "Show each member's MD superblock, like mdadm --examine");
  c->add_flag("--json", a->json, "Print JSON");
  c->add_option("members", a->paths, "Member files or block devices")->required();
  return [a] { return RunExamine(a->paths, a->json); };
}

}  // namespace meshraid::tools
