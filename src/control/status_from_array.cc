#include "control/status_from_array.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "format/superblock.h"

namespace meshraid::control {
namespace {

// The device numbers of a block device member; 0:0 for files and anything else.
void DeviceNumbers(const std::string& path, MemberStatus* m) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
    m->major = ::major(st.st_rdev);
    m->minor = ::minor(st.st_rdev);
  }
}

// MD keeps one 16-bit counter per bitmap chunk, 2048 to a 4 KiB page, and allocates a page
// when a chunk in it is first written. Pages in use are the bitmap runtime's to report; until
// it exists none are.
BitmapStatus BitmapFrom(const format::BitmapSuper& b) {
  BitmapStatus s;
  s.chunk_bytes = b.chunksize;
  s.pages_total = (b.Chunks() + 2047) / 2048;
  return s;
}

}  // namespace

std::string ShortArrayName(const std::string& set_name) {
  auto c = set_name.find(':');
  return c == std::string::npos ? set_name : set_name.substr(c + 1);
}

ArrayStatus StatusFromArray(const raid::Array& array) {
  ArrayStatus a;
  const layout::Geometry& g = array.geometry();
  a.set_name = array.info().name;
  a.name = ShortArrayName(a.set_name);
  a.level = g.level();
  a.layout = g.level() == 10 ? g.raid10().Word() : 0;
  a.chunk_sectors = g.level() == 10 ? g.chunk_sectors() : 0;
  a.raid_disks = g.raid_disks();
  a.array_sectors = g.ArraySectors();
  a.dev_sectors = g.dev_sectors();
  a.active = array.active();
  a.broken = array.broken();
  a.degraded = array.degraded();
  a.events = array.events();
  const format::Superblock& sb = array.superblock();
  a.uuid = format::UuidMdadm(sb.set_uuid);
  a.ctime = sb.ctime & ((uint64_t{1} << 40) - 1);
  a.utime = sb.utime & ((uint64_t{1} << 40) - 1);
  a.read_policy = std::string(raid::ReadPolicyName(array.read_policy()));
  for (size_t i = 0; i < array.member_count(); ++i) {
    MemberStatus m;
    m.path = array.member_name(i);
    m.state = std::string(raid::MemberStateName(array.member_state(i)));
    const raid::MemberStats& st = array.member_stats(i);
    m.pending = st.pending;
    m.reads = st.reads;
    m.read_bytes = st.read_bytes;
    m.writes = st.writes;
    m.write_bytes = st.write_bytes;
    m.read_errors = st.read_errors;
    m.corrected_errors = st.corrected_errors;
    m.slot = array.member_slot(i);
    const raid::MemberMetadata& md = array.member_metadata(i);
    m.dev_number = md.sb.dev_number;
    m.write_mostly = (md.sb.devflags & format::kDevFlagWriteMostly) != 0;
    m.latency_ewma_ns = array.member_latency_ewma_ns(i);
    m.read_p50_ns = st.read_latency.Percentile(0.50);
    m.read_p99_ns = st.read_latency.Percentile(0.99);
    if (md.bitmap && !a.bitmap) a.bitmap = BitmapFrom(md.bitmap->super);
    DeviceNumbers(m.path, &m);
    a.members.push_back(std::move(m));
  }
  return a;
}

}  // namespace meshraid::control
