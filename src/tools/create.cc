// meshraid create: mdadm --create for RAID1/RAID10 with v1.2 metadata.
#include <unistd.h>

#include <ctime>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "raid/create.h"
#include "tools/verbs.h"
#include "util/size.h"

namespace meshraid::tools {
namespace {

struct CreateArgs {
  std::string level;
  std::string layout;
  std::string chunk;
  int raid_devices = 0;
  std::string bitmap;
  std::string name = "meshraid";
  std::string homehost;
  bool assume_clean = false;
  bool force = false;
  std::vector<std::string> members;
};

format::Uuid RandomUuid(std::random_device& rd) {
  format::Uuid u;
  for (auto& b : u) b = uint8_t(rd());
  return u;
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

Status RunCreate(const CreateArgs& a) {
  raid::CreateOptions o;
  if (a.level == "1" || a.level == "raid1" || a.level == "mirror") {
    o.level = 1;
  } else if (a.level == "10" || a.level == "raid10") {
    o.level = 10;
  } else {
    return Status::InvalidArgument(fmt::format("--level={}: only 1 and 10 are supported", a.level));
  }
  if (!a.layout.empty()) {
    if (o.level != 10) return Status::InvalidArgument("--layout applies to RAID10 only");
    MESHRAID_ASSIGN_OR_RETURN(o.raid10_layout, layout::Raid10Layout::Parse(a.layout));
  }
  if (!a.chunk.empty()) {
    MESHRAID_ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(a.chunk, 1024));
    if (bytes % 512 != 0) return Status::InvalidArgument("--chunk must be a multiple of 512 bytes");
    o.chunk_sectors = bytes / 512;
  }
  o.raid_devices = a.raid_devices;
  if (a.members.size() != size_t(a.raid_devices)) {
    return Status::InvalidArgument(fmt::format("--raid-devices={} but {} members given",
                                               a.raid_devices, a.members.size()));
  }
  if (a.bitmap == "internal") o.bitmap = raid::BitmapChoice::kInternal;
  else if (a.bitmap == "none") o.bitmap = raid::BitmapChoice::kNone;
  else if (!a.bitmap.empty()) {
    return Status::InvalidArgument(fmt::format("--bitmap={}: use internal or none", a.bitmap));
  }
  o.name = a.name;
  o.homehost = a.homehost.empty() ? HostName() : a.homehost;
  o.assume_clean = a.assume_clean;
  o.force = a.force;
  o.now_seconds = uint64_t(std::time(nullptr));
  std::random_device rd;
  o.set_uuid = RandomUuid(rd);
  for (size_t i = 0; i < a.members.size(); ++i) o.device_uuids.push_back(RandomUuid(rd));

  MESHRAID_ASSIGN_OR_RETURN(raid::CreatePlan plan, raid::CreateArray(o, a.members));
  const layout::Geometry& g = plan.geometry;
  std::string geo = o.level == 1
                        ? fmt::format("raid1, {} mirrors", g.raid_disks())
                        : fmt::format("raid10 {}, {} devices, {}K chunk", g.raid10().MdadmName(),
                                      g.raid_disks(), g.chunk_sectors() / 2);
  fmt::print("meshraid: created array {} (UUID {}): {}, {} KiB, data offset {} sectors{}{}\n",
             plan.members[0].sb.Name(), format::UuidMdadm(o.set_uuid), geo, g.ArraySectors() / 2,
             plan.data_offset, plan.bitmap ? ", internal bitmap" : "",
             o.assume_clean ? ", assumed clean" : ", needs initial resync");
  return Status::Ok();
}

}  // namespace

Runner AddCreate(CLI::App& app) {
  auto a = std::make_shared<CreateArgs>();
  CLI::App* c = app.add_subcommand("create", "Create a new RAID1/RAID10 array on members");
  c->add_option("-l,--level", a->level, "RAID level: 1 or 10")->required();
  c->add_option("-p,--layout", a->layout, "RAID10 layout: n2, f2, o2, nK, fK, oK (default n2)");
  c->add_option("-c,--chunk", a->chunk, "RAID10 chunk size (KiB, or with K/M suffix; default 512K)");
  c->add_option("-n,--raid-devices", a->raid_devices, "Number of members")->required();
  c->add_option("-b,--bitmap", a->bitmap, "internal or none (default: internal from 100 GiB)");
  c->add_option("-N,--name", a->name, "Array name (set_name is homehost:name)");
  c->add_option("--homehost", a->homehost, "Home host (default: this host's name)");
  c->add_flag("--assume-clean", a->assume_clean, "Mark the array in sync without a resync");
  c->add_flag("-f,--force", a->force, "Overwrite members that already hold an MD superblock");
  c->add_option("members", a->members, "Member files or block devices")->required();
  return [a] { return RunCreate(*a); };
}

}  // namespace meshraid::tools
