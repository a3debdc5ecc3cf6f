// Identify data builders and parsers (see nvme_identify.h).
#include "proto/nvme_identify.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "util/endian.h"

namespace meshraid::proto::nvme {
namespace {

constexpr size_t kMaxNqn = 223;

Status CheckSize(std::span<const uint8_t> page, size_t need, std::string_view what) {
  if (page.size() < need) {
    return Status::InvalidArgument(fmt::format("{}: {} bytes, need {}", what, page.size(), need));
  }
  return Status::Ok();
}

}  // namespace

Status PutAscii(std::span<uint8_t> field, std::string_view s, std::string_view what) {
  if (s.size() > field.size()) {
    return Status::InvalidArgument(fmt::format("{} longer than {} bytes", what, field.size()));
  }
  for (char ch : s) {
    if (ch < 0x20 || ch > 0x7E) return Status::InvalidArgument(fmt::format("{} is not printable ASCII", what));
  }
  std::fill(field.begin(), field.end(), uint8_t{' '});
  std::memcpy(field.data(), s.data(), s.size());
  return Status::Ok();
}

Status PutNulPadded(std::span<uint8_t> field, std::string_view s, std::string_view what) {
  if (s.size() > field.size()) {
    return Status::InvalidArgument(fmt::format("{} longer than {} bytes", what, field.size()));
  }
  if (s.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(fmt::format("{} holds a NUL", what));
  }
  std::fill(field.begin(), field.end(), uint8_t{0});
  std::memcpy(field.data(), s.data(), s.size());
  return Status::Ok();
}

std::string GetTrimmed(std::span<const uint8_t> field) {
  // A NUL ends the string (C-style fields); trailing spaces pad ASCII fields.
  const auto nul = std::find(field.begin(), field.end(), uint8_t{0});
  size_t n = size_t(nul - field.begin());
  while (n > 0 && field[n - 1] == ' ') --n;
  return std::string(field.begin(), field.begin() + ptrdiff_t(n));
}

Result<IdentifyPage> BuildIdentifyController(const ControllerIdentity& c) {
  IdentifyPage page{};
  uint8_t* p = page.data();
  StoreLe16(p + 0, c.vid);
  StoreLe16(p + 2, c.ssvid);
  MESHRAID_RETURN_IF_ERROR(PutAscii({p + 4, 20}, c.serial, "serial number"));
  MESHRAID_RETURN_IF_ERROR(PutAscii({p + 24, 40}, c.model, "model number"));
  MESHRAID_RETURN_IF_ERROR(PutAscii({p + 64, 8}, c.firmware, "firmware revision"));
  p[72] = c.rab;
  std::memcpy(p + 73, c.ieee.data(), 3);
  p[76] = c.cmic;
  p[77] = c.mdts;
  StoreLe16(p + 78, c.cntlid);
  StoreLe32(p + 80, c.version);
  StoreLe32(p + 92, c.oaes);
  StoreLe32(p + 96, c.ctratt);
  p[111] = c.cntrltype;
  StoreLe16(p + 256, c.oacs);
  p[258] = c.acl;
  p[259] = c.aerl;
  p[260] = c.frmw;
  p[261] = c.lpa;
  p[262] = c.elpe;
  p[263] = c.npss;
  StoreLe16(p + 320, c.kas);
  p[512] = c.sqes;
  p[513] = c.cqes;
  StoreLe16(p + 514, c.maxcmd);
  StoreLe32(p + 516, c.nn);
  StoreLe16(p + 520, c.oncs);
  StoreLe16(p + 522, c.fuses);
  p[524] = c.fna;
  p[525] = c.vwc;
  StoreLe16(p + 526, c.awun);
  StoreLe16(p + 528, c.awupf);
  StoreLe32(p + 536, c.sgls);
  if (c.subnqn.size() > kMaxNqn) return Status::InvalidArgument("SUBNQN longer than 223 bytes");
  MESHRAID_RETURN_IF_ERROR(PutNulPadded({p + 768, 256}, c.subnqn, "SUBNQN"));
  StoreLe32(p + 1792, c.ioccsz);
  StoreLe32(p + 1796, c.iorcsz);
  StoreLe16(p + 1800, c.icdoff);
  p[1802] = c.fcatt;
  p[1803] = c.msdbd;
  StoreLe16(p + 1804, c.ofcs);
  return page;
}

Result<ControllerIdentity> ParseIdentifyController(std::span<const uint8_t> page) {
  MESHRAID_RETURN_IF_ERROR(CheckSize(page, kIdentifySize, "Identify Controller"));
  const uint8_t* p = page.data();
  ControllerIdentity c;
  c.vid = LoadLe16(p + 0);
  c.ssvid = LoadLe16(p + 2);
  c.serial = GetTrimmed(page.subspan(4, 20));
  c.model = GetTrimmed(page.subspan(24, 40));
  c.firmware = GetTrimmed(page.subspan(64, 8));
  c.rab = p[72];
  std::memcpy(c.ieee.data(), p + 73, 3);
  c.cmic = p[76];
  c.mdts = p[77];
  c.cntlid = LoadLe16(p + 78);
  c.version = LoadLe32(p + 80);
  c.oaes = LoadLe32(p + 92);
  c.ctratt = LoadLe32(p + 96);
  c.cntrltype = p[111];
  c.oacs = LoadLe16(p + 256);
  c.acl = p[258];
  c.aerl = p[259];
  c.frmw = p[260];
  c.lpa = p[261];
  c.elpe = p[262];
  c.npss = p[263];
  c.kas = LoadLe16(p + 320);
  c.sqes = p[512];
  c.cqes = p[513];
  c.maxcmd = LoadLe16(p + 514);
  c.nn = LoadLe32(p + 516);
  c.oncs = LoadLe16(p + 520);
  c.fuses = LoadLe16(p + 522);
  c.fna = p[524];
  c.vwc = p[525];
  c.awun = LoadLe16(p + 526);
  c.awupf = LoadLe16(p + 528);
  c.sgls = LoadLe32(p + 536);
  if (std::find(p + 768, p + 1024, uint8_t{0}) == p + 1024) {
    return Status::InvalidArgument("Identify Controller: SUBNQN is not NUL terminated");
  }
  c.subnqn = GetTrimmed(page.subspan(768, 256));
  c.ioccsz = LoadLe32(p + 1792);
  c.iorcsz = LoadLe32(p + 1796);
  c.icdoff = LoadLe16(p + 1800);
  c.fcatt = p[1802];
  c.msdbd = p[1803];
  c.ofcs = LoadLe16(p + 1804);
  return c;
}

Result<IdentifyPage> BuildIdentifyNamespace(const NamespaceIdentity& ns) {
  if (ns.lba_formats.empty() || ns.lba_formats.size() > kMaxLbaFormats) {
    return Status::InvalidArgument("a namespace has 1..64 LBA formats");
  }
  if (ns.format_index() >= ns.lba_formats.size()) {
    return Status::InvalidArgument("FLBAS names an LBA format that is not listed");
  }
  IdentifyPage page{};
  uint8_t* p = page.data();
  StoreLe64(p + 0, ns.nsze);
  StoreLe64(p + 8, ns.ncap);
  StoreLe64(p + 16, ns.nuse);
  p[24] = ns.nsfeat;
  p[25] = uint8_t(ns.lba_formats.size() - 1);
  p[26] = ns.flbas;
  p[30] = ns.nmic;
  p[33] = ns.dlfeat;
  StoreLe16(p + 46, ns.noiob);
  std::memcpy(p + 104, ns.nguid.data(), 16);
  std::memcpy(p + 120, ns.eui64.data(), 8);
  for (size_t i = 0; i < ns.lba_formats.size(); ++i) {
    const LbaFormat& f = ns.lba_formats[i];
    StoreLe32(p + 128 + 4 * i, uint32_t(f.metadata_size) | (uint32_t(f.lbads) << 16) |
                                   (uint32_t(f.relative_performance & 0x3) << 24));
  }
  return page;
}

Result<NamespaceIdentity> ParseIdentifyNamespace(std::span<const uint8_t> page) {
  MESHRAID_RETURN_IF_ERROR(CheckSize(page, kIdentifySize, "Identify Namespace"));
  const uint8_t* p = page.data();
  NamespaceIdentity ns;
  ns.nsze = LoadLe64(p + 0);
  ns.ncap = LoadLe64(p + 8);
  ns.nuse = LoadLe64(p + 16);
  ns.nsfeat = p[24];
  const size_t nlbaf = size_t(p[25]) + 1;
  ns.flbas = p[26];
  ns.nmic = p[30];
  ns.dlfeat = p[33];
  ns.noiob = LoadLe16(p + 46);
  std::memcpy(ns.nguid.data(), p + 104, 16);
  std::memcpy(ns.eui64.data(), p + 120, 8);
  if (nlbaf > kMaxLbaFormats) return Status::Corruption("Identify Namespace: NLBAF above 63");
  ns.lba_formats.resize(nlbaf);
  for (size_t i = 0; i < nlbaf; ++i) {
    const uint32_t v = LoadLe32(p + 128 + 4 * i);
    ns.lba_formats[i] = LbaFormat{uint16_t(v & 0xFFFF), uint8_t((v >> 16) & 0xFF),
                                  uint8_t((v >> 24) & 0x3)};
  }
  if (ns.format_index() >= nlbaf) {
    return Status::Corruption("Identify Namespace: FLBAS names a format above NLBAF");
  }
  const uint8_t lbads = ns.lba_formats[ns.format_index()].lbads;
  if (lbads < 9 || lbads > 31) {
    return Status::Corruption(fmt::format("Identify Namespace: LBADS {} is outside 9..31", lbads));
  }
  return ns;
}

uint32_t LbaSize(const NamespaceIdentity& ns) {
  const size_t i = ns.format_index();
  if (i >= ns.lba_formats.size() || ns.lba_formats[i].lbads > 31) return 0;
  return uint32_t{1} << ns.lba_formats[i].lbads;
}

bool IsInactiveNamespace(std::span<const uint8_t> page) {
  return std::all_of(page.begin(), page.end(), [](uint8_t b) { return b == 0; });
}

Result<IdentifyPage> BuildActiveNamespaceList(std::span<const uint32_t> active, uint32_t after) {
  IdentifyPage page{};
  uint32_t prev = 0;
  size_t n = 0;
  for (uint32_t id : active) {
    if (id == 0 || id >= 0xFFFFFFFE || id <= prev) {
      return Status::InvalidArgument("active NSIDs must be ascending and in 1..0xFFFFFFFD");
    }
    prev = id;
    if (id > after && n < kMaxNamespaceIds) StoreLe32(page.data() + 4 * n++, id);
  }
  return page;
}

Result<std::vector<uint32_t>> ParseActiveNamespaceList(std::span<const uint8_t> page) {
  MESHRAID_RETURN_IF_ERROR(CheckSize(page, kIdentifySize, "active namespace list"));
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < kMaxNamespaceIds; ++i) {
    const uint32_t id = LoadLe32(page.data() + 4 * i);
    if (id == 0) break;
    if (!ids.empty() && id <= ids.back()) {
      return Status::Corruption("active namespace list is not ascending");
    }
    ids.push_back(id);
  }
  return ids;
}

IdentifyPage BuildNamespaceDescriptors(const NamespaceIds& ids) {
  IdentifyPage page{};
  size_t at = 0;
  auto put = [&](uint8_t type, const uint8_t* id, uint8_t len) {
    page[at] = type;
    page[at + 1] = len;
    std::memcpy(page.data() + at + 4, id, len);
    at += 4 + len;
  };
  if (ids.eui64) put(kNidtEui64, ids.eui64->data(), 8);
  if (ids.nguid) put(kNidtNguid, ids.nguid->data(), 16);
  if (ids.uuid) put(kNidtUuid, ids.uuid->data(), 16);
  if (ids.csi) put(kNidtCsi, &*ids.csi, 1);
  return page;
}

Result<NamespaceIds> ParseNamespaceDescriptors(std::span<const uint8_t> page) {
  NamespaceIds ids;
  size_t at = 0;
  while (at + 4 <= page.size() && page[at] != 0) {
    const uint8_t type = page[at];
    const uint8_t len = page[at + 1];
    if (at + 4 + len > page.size()) {
      return Status::Corruption("namespace descriptor runs past the end of the list");
    }
    const uint8_t* id = page.data() + at + 4;
    auto want = [&](uint8_t expected) -> Status {
      if (len == expected) return Status::Ok();
      return Status::Corruption(fmt::format("namespace descriptor type {} has length {}, not {}",
                                            type, len, expected));
    };
    switch (type) {
      case kNidtEui64:
        MESHRAID_RETURN_IF_ERROR(want(8));
        ids.eui64.emplace();
        std::memcpy(ids.eui64->data(), id, 8);
        break;
      case kNidtNguid:
        MESHRAID_RETURN_IF_ERROR(want(16));
        ids.nguid.emplace();
        std::memcpy(ids.nguid->data(), id, 16);
        break;
      case kNidtUuid:
        MESHRAID_RETURN_IF_ERROR(want(16));
        ids.uuid.emplace();
        std::memcpy(ids.uuid->data(), id, 16);
        break;
      case kNidtCsi:
        MESHRAID_RETURN_IF_ERROR(want(1));
        ids.csi = id[0];
        break;
      default:
        break;  // a type we do not know: skip it
    }
    at += 4 + len;
  }
  return ids;
}

}  // namespace meshraid::proto::nvme
