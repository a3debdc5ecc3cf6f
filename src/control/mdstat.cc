#include "control/mdstat.h"

#include <fmt/format.h>

#include "layout/geometry.h"

namespace meshraid::control {
namespace {

// Members MD would list for a running array: those it holds, faulty ones until removed.
bool Listed(const MemberStatus& m) {
  return m.state == "in_sync" || m.state == "recovering" || m.state == "spare" ||
         m.state == "faulty";
}

std::string BitmapLine(const BitmapStatus& b) {
  std::string chunk = b.chunk_bytes >= 1024 ? fmt::format("{}KB", b.chunk_bytes >> 10)
                                            : fmt::format("{}B", b.chunk_bytes);
  return fmt::format("bitmap: {}/{} pages [{}KB], {} chunk", b.pages_used, b.pages_total,
                     b.pages_used * 4, chunk);
}

}  // namespace

std::string MemberShortName(const std::string& path) {
  if (path.find("://") != std::string::npos) return path;
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string PersonalityStatus(const ArrayStatus& a) {
  std::string out;
  if (a.level == 10) {
    auto l = layout::Raid10Layout::FromWord(a.layout);
    if (l.ok()) {
      if (l->near < a.raid_disks) out += fmt::format(" {}K chunks", a.chunk_sectors / 2);
      if (l->near > 1) out += fmt::format(" {} near-copies", l->near);
      if (l->far > 1) {
        out += fmt::format(" {} {}-copies", l->far, l->offset ? "offset" : "far");
        int set = l->FarSetSize(a.raid_disks);
        if (set != a.raid_disks) out += fmt::format(" {} devices per set", set);
      }
    }
  }
  std::string slots(size_t(std::max(a.raid_disks, 0)), '_');
  for (const MemberStatus& m : a.members) {
    if (m.state == "in_sync" && m.slot >= 0 && m.slot < a.raid_disks) slots[size_t(m.slot)] = 'U';
  }
  out += fmt::format(" [{}/{}] [{}]", a.raid_disks, a.raid_disks - a.degraded, slots);
  return out;
}

std::string ProgressLine(const SyncStatus& s) {
  if (!s.waiting.empty()) return "resync=" + s.waiting;
  uint64_t per_mille = 0;
  if (s.total_sectors > 0) {
    per_mille = uint64_t((unsigned __int128)std::min(s.done_sectors, s.total_sectors) * 1000 /
                         s.total_sectors);
  }
  size_t bar = size_t(per_mille / 50);
  std::string action = s.action == "repair" ? "resync" : s.action;  // MD shows repair as resync
  return fmt::format("[{}>{}]  {} ={:3}.{}% ({}/{}) finish={}.{}min speed={}K/sec",
                     std::string(bar, '='), std::string(20 - bar, '.'), action, per_mille / 10,
                     per_mille % 10, s.done_sectors / 2, s.total_sectors / 2,
                     s.finish_seconds / 60, s.finish_seconds % 60 / 6, s.speed_kib_s);
}

std::string FormatMdstatArray(const ArrayStatus& a) {
  std::string out = fmt::format("{} : {} {}", a.name, a.broken ? "broken" : "active", a.LevelName());
  // MD lists the most recently added member first.
  for (auto it = a.members.rbegin(); it != a.members.rend(); ++it) {
    const MemberStatus& m = *it;
    if (!Listed(m)) continue;
    out += fmt::format(" {}[{}]", MemberShortName(m.path), m.dev_number);
    if (m.write_mostly) out += "(W)";
    if (m.state == "faulty") {
      out += "(F)";
    } else if (m.slot < 0) {
      out += "(S)";
    }
  }
  out += fmt::format("\n      {} blocks super {}{}\n      ", a.array_sectors / 2,
                     a.metadata_version, PersonalityStatus(a));
  if (a.sync) out += ProgressLine(*a.sync) + "\n      ";
  if (a.bitmap) out += BitmapLine(*a.bitmap) + "\n";
  out += "\n";
  return out;
}

std::string FormatMdstat(const std::vector<ArrayStatus>& arrays, const MdstatOptions& options) {
  std::string out = "Personalities : ";
  for (const std::string& p : options.personalities) out += "[" + p + "] ";
  out += "\n";
  for (const ArrayStatus& a : arrays) out += FormatMdstatArray(a);
  out += "unused devices: <none>\n";
  return out;
}

}  // namespace meshraid::control
