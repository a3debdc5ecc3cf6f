// The RAID10 layout word: decode, encode, mdadm's names for it.
#include <charconv>
#include <string>
#include <string_view>

#include "layout/geometry.h"

namespace meshraid::layout {
namespace {

constexpr uint32_t kOffsetBit = 1u << 16;
constexpr int kFarSetShift = 17;

std::string ToHex(uint32_t v) {
  char buf[16];
  auto res = std::to_chars(buf, buf + sizeof(buf), v, 16);
  return std::string(buf, res.ptr);
}

bool ConsumePrefix(std::string_view* text, std::string_view prefix) {
  if (!text->starts_with(prefix)) return false;
  text->remove_prefix(prefix.size());
  return true;
}

}  // namespace

Result<Raid10Layout> Raid10Layout::FromWord(uint32_t word) {
  if (word >> 19) {
    return Status::InvalidArgument("raid10 layout 0x" + ToHex(word) + " has bits above 18 set");
  }
  Raid10Layout l;
  l.near = static_cast<int>(word & 0xff);
  l.far = static_cast<int>((word >> 8) & 0xff);
  l.offset = (word & kOffsetBit) != 0;
  l.far_set_mode = static_cast<int>(word >> kFarSetShift);
  if (l.far_set_mode == 3) {
    return Status::InvalidArgument("raid10 layout 0x" + ToHex(word) + " has far-set mode 3");
  }
  if (l.near == 0 || l.far == 0) {
    return Status::InvalidArgument("raid10 layout 0x" + ToHex(word) +
                                   " has zero near or far copies");
  }
  return l;
}

uint32_t Raid10Layout::Word() const {
  return static_cast<uint32_t>(near & 0xff) | (static_cast<uint32_t>(far & 0xff) << 8) |
         (offset ? kOffsetBit : 0) | (static_cast<uint32_t>(far_set_mode & 3) << kFarSetShift);
}

std::string Raid10Layout::MdadmName() const {
  // mdadm prints only the parts that are not 1 ("near=2", "far=2", "near=2,offset=2").
  std::string name;
  if (near != 1) name = "near=" + std::to_string(near);
  if (far != 1) {
    if (!name.empty()) name += ",";
    name += (offset ? "offset=" : "far=") + std::to_string(far);
  }
  if (name.empty()) name = "near=1";
  return name;
}

Result<Raid10Layout> Raid10Layout::Parse(std::string_view text) {
  std::string_view rest = text;
  Raid10Layout l;
  l.near = 1;
  int* field = nullptr;
  if (ConsumePrefix(&rest, "near") || ConsumePrefix(&rest, "n")) {
    field = &l.near;
  } else if (ConsumePrefix(&rest, "far") || ConsumePrefix(&rest, "f")) {
    field = &l.far;
  } else if (ConsumePrefix(&rest, "offset") || ConsumePrefix(&rest, "o")) {
    field = &l.far;
    l.offset = true;
  } else {
    return Status::InvalidArgument("raid10 layout '" + std::string(text) +
                                   "' must start with n, f or o");
  }
  ConsumePrefix(&rest, "=");
  int copies = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), copies);
  if (ec != std::errc() || end != rest.data() + rest.size() || copies < 1 || copies > 255) {
    return Status::InvalidArgument("raid10 layout '" + std::string(text) +
                                   "' needs a copy count of 1..255");
  }
  *field = copies;
  return l;
}

int Raid10Layout::FarSetSize(int raid_disks) const {
  switch (far_set_mode) {
    case 1:
      return raid_disks / far;
    case 2:
      return near * far;
    default:
      return raid_disks;
  }
}

}  // namespace meshraid::layout
