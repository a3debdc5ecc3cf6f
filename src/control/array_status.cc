#include "control/array_status.h"

#include <fmt/format.h>

namespace meshraid::control {
namespace {

using nlohmann::json;

// Reads j[key] into *out when present; a value of the wrong type throws json::type_error.
template <typename T>
void Take(const json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) *out = it->get<T>();
}

MemberStatus MemberFromJson(const json& j) {
  MemberStatus m;
  Take(j, "path", &m.path);
  Take(j, "slot", &m.slot);
  Take(j, "dev_number", &m.dev_number);
  Take(j, "state", &m.state);
  Take(j, "write_mostly", &m.write_mostly);
  Take(j, "major", &m.major);
  Take(j, "minor", &m.minor);
  Take(j, "latency_ewma_ns", &m.latency_ewma_ns);
  Take(j, "pending", &m.pending);
  Take(j, "reads", &m.reads);
  Take(j, "read_bytes", &m.read_bytes);
  Take(j, "writes", &m.writes);
  Take(j, "write_bytes", &m.write_bytes);
  Take(j, "read_errors", &m.read_errors);
  Take(j, "corrected_errors", &m.corrected_errors);
  Take(j, "read_p50_ns", &m.read_p50_ns);
  Take(j, "read_p99_ns", &m.read_p99_ns);
  Take(j, "recovery_offset", &m.recovery_offset);
  return m;
}

}  // namespace

std::string ArrayStatus::State() const {
  if (broken) return "broken";
  if (degraded > 0) return "degraded";
  return active ? "active" : "clean";
}

std::string ArrayStatus::LevelName() const { return fmt::format("raid{}", level); }

json ToJson(const MemberStatus& m) {
  return json{{"path", m.path},
              {"slot", m.slot},
              {"dev_number", m.dev_number},
              {"state", m.state},
              {"write_mostly", m.write_mostly},
              {"major", m.major},
              {"minor", m.minor},
              {"latency_ewma_ns", m.latency_ewma_ns},
              {"pending", m.pending},
              {"reads", m.reads},
              {"read_bytes", m.read_bytes},
              {"writes", m.writes},
              {"write_bytes", m.write_bytes},
              {"read_errors", m.read_errors},
              {"corrected_errors", m.corrected_errors},
              {"read_p50_ns", m.read_p50_ns},
              {"read_p99_ns", m.read_p99_ns},
              {"recovery_offset", m.recovery_offset}};
}

json ToJson(const ArrayStatus& a) {
  json j{{"name", a.name},
         {"set_name", a.set_name},
         {"uuid", a.uuid},
         {"metadata_version", a.metadata_version},
         {"level", a.level},
         {"level_name", a.LevelName()},
         {"layout", a.layout},
         {"chunk_sectors", a.chunk_sectors},
         {"raid_disks", a.raid_disks},
         {"array_sectors", a.array_sectors},
         {"dev_sectors", a.dev_sectors},
         {"state", a.State()},
         {"active", a.active},
         {"broken", a.broken},
         {"degraded", a.degraded},
         {"events", a.events},
         {"ctime", a.ctime},
         {"utime", a.utime},
         {"read_policy", a.read_policy},
         {"sync_action", a.sync_action},
         {"mismatch_cnt", a.mismatch_cnt},
         {"sync_speed_min", a.sync_speed_min},
         {"sync_speed_max", a.sync_speed_max},
         {"copied_sectors", a.copied_sectors},
         {"skipped_sectors", a.skipped_sectors},
         {"bitmap", nullptr},
         {"sync", nullptr},
         {"reshape", nullptr},
         {"members", json::array()}};
  if (a.bitmap) {
    j["bitmap"] = json{{"pages_used", a.bitmap->pages_used},
                       {"pages_total", a.bitmap->pages_total},
                       {"chunk_bytes", a.bitmap->chunk_bytes},
                       {"dirty_chunks", a.bitmap->dirty_chunks}};
  }
  if (a.sync) {
    j["sync"] = json{{"action", a.sync->action},
                     {"waiting", a.sync->waiting},
                     {"done_sectors", a.sync->done_sectors},
                     {"total_sectors", a.sync->total_sectors},
                     {"speed_kib_s", a.sync->speed_kib_s},
                     {"finish_seconds", a.sync->finish_seconds}};
  }
  if (a.reshape) {
    const ReshapeStatus& r = *a.reshape;
    j["reshape"] = json{{"reshape_position", r.reshape_position},
                        {"checkpoint", r.checkpoint},
                        {"delta_disks", r.delta_disks},
                        {"old_raid_disks", r.old_raid_disks},
                        {"new_raid_disks", r.new_raid_disks},
                        {"new_level", r.new_level},
                        {"new_layout", r.new_layout},
                        {"new_chunk_sectors", r.new_chunk_sectors}};
  }
  for (const MemberStatus& m : a.members) j["members"].push_back(ToJson(m));
  return j;
}

Result<ArrayStatus> ArrayStatusFromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("array status: not a JSON object");
  ArrayStatus a;
  try {
    Take(j, "name", &a.name);
    Take(j, "set_name", &a.set_name);
    Take(j, "uuid", &a.uuid);
    Take(j, "metadata_version", &a.metadata_version);
    Take(j, "level", &a.level);
    Take(j, "layout", &a.layout);
    Take(j, "chunk_sectors", &a.chunk_sectors);
    Take(j, "raid_disks", &a.raid_disks);
    Take(j, "array_sectors", &a.array_sectors);
    Take(j, "dev_sectors", &a.dev_sectors);
    Take(j, "active", &a.active);
    Take(j, "broken", &a.broken);
    Take(j, "degraded", &a.degraded);
    Take(j, "events", &a.events);
    Take(j, "ctime", &a.ctime);
    Take(j, "utime", &a.utime);
    Take(j, "read_policy", &a.read_policy);
    Take(j, "sync_action", &a.sync_action);
    Take(j, "mismatch_cnt", &a.mismatch_cnt);
    Take(j, "sync_speed_min", &a.sync_speed_min);
    Take(j, "sync_speed_max", &a.sync_speed_max);
    Take(j, "copied_sectors", &a.copied_sectors);
    Take(j, "skipped_sectors", &a.skipped_sectors);
    if (auto it = j.find("bitmap"); it != j.end() && it->is_object()) {
      BitmapStatus b;
      Take(*it, "pages_used", &b.pages_used);
      Take(*it, "pages_total", &b.pages_total);
      Take(*it, "chunk_bytes", &b.chunk_bytes);
      Take(*it, "dirty_chunks", &b.dirty_chunks);
      a.bitmap = b;
    }
    if (auto it = j.find("sync"); it != j.end() && it->is_object()) {
      SyncStatus s;
      Take(*it, "action", &s.action);
      Take(*it, "waiting", &s.waiting);
      Take(*it, "done_sectors", &s.done_sectors);
      Take(*it, "total_sectors", &s.total_sectors);
      Take(*it, "speed_kib_s", &s.speed_kib_s);
      Take(*it, "finish_seconds", &s.finish_seconds);
      a.sync = s;
    }
    if (auto it = j.find("reshape"); it != j.end() && it->is_object()) {
      ReshapeStatus r;
      Take(*it, "reshape_position", &r.reshape_position);
      Take(*it, "checkpoint", &r.checkpoint);
      Take(*it, "delta_disks", &r.delta_disks);
      Take(*it, "old_raid_disks", &r.old_raid_disks);
      Take(*it, "new_raid_disks", &r.new_raid_disks);
      Take(*it, "new_level", &r.new_level);
      Take(*it, "new_layout", &r.new_layout);
      Take(*it, "new_chunk_sectors", &r.new_chunk_sectors);
      a.reshape = r;
    }
    if (auto it = j.find("members"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) return Status::InvalidArgument("array status: members is not a list");
      for (const json& m : *it) a.members.push_back(MemberFromJson(m));
    }
  } catch (const json::exception& e) {
    return Status::InvalidArgument(fmt::format("array status: {}", e.what()));
  }
  return a;
}

}  // namespace meshraid::control
