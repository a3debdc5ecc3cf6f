#include "control/detail.h"

#include <ctime>
#include <vector>

#include <fmt/format.h>

#include "layout/geometry.h"
#include "util/size.h"

namespace meshraid::control {
namespace {

// "             State : clean " — labels right-aligned to the widest, "Consistency Policy".
std::string Field(std::string_view label, std::string_view value) {
  return fmt::format("{:>18} : {}\n", label, value);
}

std::string SizeField(uint64_t kib) {
  std::string human = HumanSize(kib * 1024);
  return human.empty() ? fmt::to_string(kib) : fmt::format("{} {}", kib, human);
}

// mdadm divides RAID10 near layouts whose copies tile the members into sets A, B, ...
std::string SetSuffix(const ArrayStatus& a, int slot) {
  if (a.level != 10 || slot < 0) return "";
  auto l = layout::Raid10Layout::FromWord(a.layout);
  if (!l.ok() || l->far != 1 || l->far_set_mode != 0) return "";
  int copies = l->Copies();
  if (copies > 26 || a.raid_disks % copies != 0) return "";
  return fmt::format(" set-{}", char('A' + slot % copies));
}

std::string MemberRow(const ArrayStatus& a, const MemberStatus& m) {
  std::string state = m.state == "faulty"                     ? "faulty"
                      : m.state == "recovering"               ? "spare rebuilding"
                      : m.state == "spare" || m.slot < 0      ? "spare"
                                                              : "active sync";
  if (m.state == "in_sync") state += SetSuffix(a, m.slot);
  if (m.write_mostly) state += " writemostly";
  std::string raid_device = m.slot >= 0 && m.state != "faulty" ? fmt::to_string(m.slot) : "-";
  return fmt::format("{:>8}{:>8}{:>9}{:>9}      {}   {}\n", m.dev_number, m.major, m.minor,
                     raid_device, state, m.path);
}

bool Listed(const MemberStatus& m) {
  return m.state == "in_sync" || m.state == "recovering" || m.state == "spare" ||
         m.state == "faulty";
}

std::string StateText(const ArrayStatus& a) {
  std::string s = a.broken ? "broken" : a.active ? "active" : "clean";
  if (a.degraded > 0) s += ", degraded";
  if (a.sync) {
    const std::string& act = a.sync->action;
    s += act == "recovery" ? ", recovering"
         : act == "check"  ? ", checking"
         : act == "reshape" ? ", reshaping"
                            : ", resyncing";
    if (!a.sync->waiting.empty()) s += " (" + a.sync->waiting + ")";
  }
  // A reshape that is not moving now (frozen) is still in progress.
  if (a.reshape && (!a.sync || a.sync->action != "reshape")) s += ", reshaping";
  return s + " ";
}

std::string SyncField(const SyncStatus& s) {
  std::string label = s.action == "recovery" ? "Rebuild Status"
                      : s.action == "check"  ? "Check Status"
                      : s.action == "reshape" ? "Reshape Status"
                                              : "Resync Status";
  uint64_t pct = s.total_sectors ? std::min(s.done_sectors, s.total_sectors) * 100 / s.total_sectors
                                 : 0;
  return Field(label, fmt::format("{}% complete", pct));
}

// mdadm --detail's reshape block: progress, then what changes ("Delta Devices : 2, (2->4)",
// "New Level", "New Layout", "New Chunksize" when they differ).
std::string ReshapeFields(const ArrayStatus& a) {
  const ReshapeStatus& r = *a.reshape;
  uint64_t done = r.reshape_position, total = a.array_sectors;
  if (a.sync && a.sync->action == "reshape" && a.sync->total_sectors > 0) {
    done = a.sync->done_sectors;
    total = a.sync->total_sectors;
  }
  uint64_t pct = total ? std::min(done, total) * 100 / total : 0;
  std::string out = Field("Reshape Status", fmt::format("{}% complete", pct));
  if (r.delta_disks != 0) {
    out += Field("Delta Devices",
                 fmt::format("{}, ({}->{})", r.delta_disks, r.old_raid_disks, r.new_raid_disks));
  }
  if (r.new_level != a.level) out += Field("New Level", fmt::format("raid{}", r.new_level));
  if (r.new_level == 10 && r.new_layout != a.layout) {
    auto l = layout::Raid10Layout::FromWord(r.new_layout);
    out += Field("New Layout", l.ok() ? fmt::format("near={}, {}={}", l->near,
                                                    l->offset ? "offset" : "far", l->far)
                                      : fmt::format("{:#x}", r.new_layout));
  }
  if (r.new_chunk_sectors != a.chunk_sectors) {
    out += Field("New Chunksize", fmt::format("{}K", r.new_chunk_sectors / 2));
  }
  return out;
}

// meshraid's sync lines (MD's sysfs sync attributes): the action, mismatch_cnt, the speed
// limits, what sync copied, and how far each recovering member is rebuilt.
std::string SyncLines(const ArrayStatus& a) {
  std::string out = Field("Sync Action", a.sync_action);
  out += Field("Mismatch Count", fmt::format("{} sectors", a.mismatch_cnt));
  out += Field("Sync Speed", fmt::format("min {}K/sec, max {}K/sec", a.sync_speed_min,
                                         a.sync_speed_max));
  out += Field("Sync Copied", fmt::format("{} sectors ({} skipped as clean)", a.copied_sectors,
                                          a.skipped_sectors));
  if (a.reshape) {
    out += Field("Reshape Position",
                 fmt::format("{} of {} sectors (checkpoint {})", a.reshape->reshape_position,
                             a.array_sectors, a.reshape->checkpoint));
  }
  for (const MemberStatus& m : a.members) {
    if (m.state != "recovering") continue;
    uint64_t pct = a.dev_sectors ? std::min(m.recovery_offset, a.dev_sectors) * 100 / a.dev_sectors : 0;
    out += Field("Recovery", fmt::format("{}% of {} ({} of {} sectors)", pct, m.path,
                                         m.recovery_offset, a.dev_sectors));
  }
  return out;
}

}  // namespace

std::string FormatTime(uint64_t unix_seconds) {
  std::time_t t = std::time_t(unix_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a %b %e %H:%M:%S %Y", &tm);
  return buf;
}

std::string FormatMemberStats(const ArrayStatus& a) {
  std::string out = fmt::format("{:>10}  {:<10} {:>15} {:>7} {:>12} {:>14} {:>11} {:>9} {:>10} {:>10}   {}\n",
                                "RaidDevice", "State", "latency_ewma_ns", "pending", "reads",
                                "read_bytes", "read_errors", "corrected", "p50_ns", "p99_ns",
                                "Device");
  for (const MemberStatus& m : a.members) {
    out += fmt::format("{:>10}  {:<10} {:>15} {:>7} {:>12} {:>14} {:>11} {:>9} {:>10} {:>10}   {}\n",
                       m.slot >= 0 ? fmt::to_string(m.slot) : "-", m.state, m.latency_ewma_ns,
                       m.pending, m.reads, m.read_bytes, m.read_errors, m.corrected_errors,
                       m.read_p50_ns, m.read_p99_ns, m.path);
  }
  return out;
}

std::string FormatDetail(const ArrayStatus& a, const DetailOptions& options) {
  int active = 0, spare = 0, failed = 0, total = 0;
  for (const MemberStatus& m : a.members) {
    if (!Listed(m)) continue;
    ++total;
    if (m.state == "faulty") ++failed;
    else if (m.state == "in_sync" && m.slot >= 0) ++active;
    else ++spare;
  }
  std::string out = (options.title.empty() ? a.name : options.title) + ":\n";
  out += Field("Version", a.metadata_version);
  out += Field("Creation Time", FormatTime(a.ctime));
  out += Field("Raid Level", a.LevelName());
  out += Field("Array Size", SizeField(a.array_sectors / 2));
  out += Field("Used Dev Size", SizeField(a.dev_sectors / 2));
  out += Field("Raid Devices", fmt::to_string(a.raid_disks));
  out += Field("Total Devices", fmt::to_string(total));
  out += Field("Persistence", "Superblock is persistent");
  out += "\n";
  if (a.bitmap) out += Field("Intent Bitmap", "Internal") + "\n";
  out += Field("Update Time", FormatTime(a.utime));
  out += Field("State", StateText(a));
  out += Field("Active Devices", fmt::to_string(active));
  out += Field("Working Devices", fmt::to_string(active + spare));
  out += Field("Failed Devices", fmt::to_string(failed));
  out += Field("Spare Devices", fmt::to_string(spare));
  out += "\n";
  if (a.level == 10) {
    auto l = layout::Raid10Layout::FromWord(a.layout);
    out += Field("Layout", l.ok() ? l->MdadmName() : fmt::format("{:#x}", a.layout));
    out += Field("Chunk Size", fmt::format("{}K", a.chunk_sectors / 2));
    out += "\n";
  }
  out += Field("Consistency Policy", a.bitmap ? "bitmap" : "resync");
  out += "\n";
  if (a.reshape) {
    out += ReshapeFields(a) + "\n";
  } else if (a.sync && a.sync->waiting.empty()) {
    out += SyncField(*a.sync) + "\n";
  }
  std::string name = a.set_name;
  auto colon = a.set_name.find(':');
  if (!options.local_host.empty() && colon != std::string::npos &&
      a.set_name.substr(0, colon) == options.local_host) {
    name += fmt::format("  (local to host {})", options.local_host);
  }
  out += Field("Name", name);
  out += Field("UUID", a.uuid);
  out += Field("Events", fmt::to_string(a.events));
  out += "\n";
  out += "    Number   Major   Minor   RaidDevice State\n";
  // Slots first, in order (an empty slot is "removed"), then members without a slot.
  std::vector<bool> shown(a.members.size());
  for (int slot = 0; slot < a.raid_disks; ++slot) {
    bool found = false;
    for (size_t i = 0; i < a.members.size() && !found; ++i) {
      const MemberStatus& m = a.members[i];
      if (m.slot != slot || (m.state != "in_sync" && m.state != "recovering")) continue;
      out += MemberRow(a, m);
      shown[i] = found = true;
    }
    if (!found) out += fmt::format("{:>8}{:>8}{:>9}{:>9}      removed\n", "-", 0, 0, slot);
  }
  for (size_t i = 0; i < a.members.size(); ++i) {
    if (!shown[i] && Listed(a.members[i])) out += MemberRow(a, a.members[i]);
  }
  if (options.member_stats) {
    out += "\n";
    out += Field("Read Policy", a.read_policy.empty() ? "-" : a.read_policy);
    out += "\n";
    out += SyncLines(a);
    out += "\n";
    out += FormatMemberStats(a);
  }
  return out;
}

}  // namespace meshraid::control
