// Identify pages: every field we fill lands at its documented byte offset, builders and parsers
// round-trip, and malformed pages are refused.
#include "proto/nvme_identify.h"

#include <gtest/gtest.h>

#include "proto/nvme_test_bytes.h"

namespace meshraid::proto::nvme {
namespace {

using testing::LeAt;
using testing::PokeLe;

std::string At(const IdentifyPage& p, size_t offset, size_t n) {
  return std::string(reinterpret_cast<const char*>(p.data() + offset), n);
}

// What our target says about itself (the values are distinct so a misplaced field shows).
ControllerIdentity Sample() {
  ControllerIdentity c;
  c.vid = 0x1B36;
  c.ssvid = 0x1AF4;
  c.serial = "MR0001";
  c.model = "meshraid RAID1";
  c.firmware = "0.1";
  c.rab = 6;
  c.ieee = {0x11, 0x22, 0x33};
  c.cmic = 0x03;
  c.mdts = 5;
  c.cntlid = 0x0102;
  c.version = 0x00010400;
  c.oaes = kOaesNamespaceAttributes;
  c.ctratt = kCtrattHostId128;
  c.cntrltype = kControllerTypeIo;
  c.oacs = 0x0004;
  c.acl = 3;
  c.aerl = 3;
  c.frmw = 0x03;
  c.lpa = kLpaExtendedData;
  c.elpe = 63;
  c.npss = 0;
  c.kas = 10;
  c.sqes = 0x66;
  c.cqes = 0x44;
  c.maxcmd = 128;
  c.nn = 1;
  c.oncs = kOncsDsm | kOncsWriteZeroes;
  c.fuses = 0;
  c.fna = 0x04;
  c.vwc = kVwcPresent | 0x6;
  c.awun = 7;
  c.awupf = 8;
  c.sgls = kSglsSupported | kSglsOffset;
  c.subnqn = "nqn.2026-12.io.meshraid:vol0";
  c.ioccsz = 1028;  // 16 KiB in-capsule data + 64
  c.iorcsz = 1;
  c.icdoff = 0;
  c.fcatt = 0;
  c.msdbd = 1;
  c.ofcs = 1;
  return c;
}

TEST(NvmeIdentifyTest, ControllerOffsets) {
  auto page = BuildIdentifyController(Sample());
  ASSERT_TRUE(page.ok());
  const IdentifyPage& p = *page;
  EXPECT_EQ(LeAt(p, 0, 2), 0x1B36u);
  EXPECT_EQ(LeAt(p, 2, 2), 0x1AF4u);
  EXPECT_EQ(At(p, 4, 20), "MR0001              ");
  EXPECT_EQ(At(p, 24, 40), "meshraid RAID1                          ");
  EXPECT_EQ(At(p, 64, 8), "0.1     ");
  EXPECT_EQ(p[72], 6);
  EXPECT_EQ(p[73], 0x11);
  EXPECT_EQ(p[75], 0x33);
  EXPECT_EQ(p[76], 0x03);
  EXPECT_EQ(p[77], 5);
  EXPECT_EQ(LeAt(p, 78, 2), 0x0102u);
  EXPECT_EQ(LeAt(p, 80, 4), 0x00010400u);
  EXPECT_EQ(LeAt(p, 92, 4), 0x100u);
  EXPECT_EQ(LeAt(p, 96, 4), 1u);
  EXPECT_EQ(p[111], 1);
  EXPECT_EQ(LeAt(p, 256, 2), 4u);
  EXPECT_EQ(p[258], 3);
  EXPECT_EQ(p[259], 3);
  EXPECT_EQ(p[260], 3);
  EXPECT_EQ(p[261], 4);
  EXPECT_EQ(p[262], 63);
  EXPECT_EQ(LeAt(p, 320, 2), 10u);
  EXPECT_EQ(p[512], 0x66);
  EXPECT_EQ(p[513], 0x44);
  EXPECT_EQ(LeAt(p, 514, 2), 128u);
  EXPECT_EQ(LeAt(p, 516, 4), 1u);
  EXPECT_EQ(LeAt(p, 520, 2), 0x0Cu);
  EXPECT_EQ(p[524], 0x04);
  EXPECT_EQ(p[525], 0x07);
  EXPECT_EQ(LeAt(p, 526, 2), 7u);
  EXPECT_EQ(LeAt(p, 528, 2), 8u);
  EXPECT_EQ(LeAt(p, 536, 4), 0x100001u);
  EXPECT_EQ(At(p, 768, 28), "nqn.2026-12.io.meshraid:vol0");
  EXPECT_EQ(p[768 + 28], 0);
  EXPECT_EQ(LeAt(p, 1792, 4), 1028u);
  EXPECT_EQ(LeAt(p, 1796, 4), 1u);
  EXPECT_EQ(LeAt(p, 1800, 2), 0u);
  EXPECT_EQ(p[1803], 1);
  EXPECT_EQ(LeAt(p, 1804, 2), 1u);
  // Nothing else is written.
  size_t nonzero = 0;
  for (uint8_t b : p) nonzero += b != 0;
  EXPECT_LT(nonzero, 200u);
  EXPECT_EQ(LeAt(p, 2048, 8), 0u);  // power state descriptors stay zero
}

TEST(NvmeIdentifyTest, ControllerRoundTrip) {
  const ControllerIdentity c = Sample();
  auto page = BuildIdentifyController(c);
  ASSERT_TRUE(page.ok());
  auto back = ParseIdentifyController(*page);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c);
  EXPECT_EQ(back->in_capsule_data_bytes(), 16384u);
  ControllerIdentity d;
  EXPECT_EQ(d.in_capsule_data_bytes(), 0u);
}

TEST(NvmeIdentifyTest, ControllerRefusals) {
  ControllerIdentity c = Sample();
  c.serial = std::string(21, 'x');
  EXPECT_FALSE(BuildIdentifyController(c).ok());
  c = Sample();
  c.model = "tab\there";
  EXPECT_FALSE(BuildIdentifyController(c).ok());
  c = Sample();
  c.subnqn = std::string(224, 'n');
  EXPECT_FALSE(BuildIdentifyController(c).ok());
  auto page = BuildIdentifyController(Sample());
  ASSERT_TRUE(page.ok());
  EXPECT_FALSE(ParseIdentifyController(std::span<const uint8_t>(page->data(), 4095)).ok());
  IdentifyPage no_nul = *page;
  std::fill(no_nul.begin() + 768, no_nul.begin() + 1024, uint8_t{'q'});
  EXPECT_FALSE(ParseIdentifyController(no_nul).ok());
}

TEST(NvmeIdentifyTest, NamespaceOffsetsAndLbaSize) {
  NamespaceIdentity ns;
  ns.nsze = 0x200000;
  ns.ncap = 0x200000;
  ns.nuse = 0x100000;
  ns.nsfeat = kNsfeatThinProvisioning;
  ns.flbas = 1;
  ns.nmic = kNmicShared;
  ns.dlfeat = kDlfeatReadsZeroes | kDlfeatWriteZeroesDeallocates;
  ns.noiob = 256;
  for (size_t i = 0; i < 16; ++i) ns.nguid[i] = uint8_t(0x40 + i);
  for (size_t i = 0; i < 8; ++i) ns.eui64[i] = uint8_t(0x80 + i);
  ns.lba_formats = {{0, 9, 2}, {0, 12, 0}, {8, 12, 1}};
  auto page = BuildIdentifyNamespace(ns);
  ASSERT_TRUE(page.ok());
  const IdentifyPage& p = *page;
  EXPECT_EQ(LeAt(p, 0, 8), 0x200000u);
  EXPECT_EQ(LeAt(p, 8, 8), 0x200000u);
  EXPECT_EQ(LeAt(p, 16, 8), 0x100000u);
  EXPECT_EQ(p[24], 1);
  EXPECT_EQ(p[25], 2);  // NLBAF, 0-based
  EXPECT_EQ(p[26], 1);  // FLBAS
  EXPECT_EQ(p[30], 1);
  EXPECT_EQ(p[33], 0x09);
  EXPECT_EQ(LeAt(p, 46, 2), 256u);
  EXPECT_EQ(p[104], 0x40);
  EXPECT_EQ(p[119], 0x4F);
  EXPECT_EQ(p[120], 0x80);
  EXPECT_EQ(p[127], 0x87);
  EXPECT_EQ(LeAt(p, 128, 4), 0x02090000u);  // RP 2, LBADS 9, MS 0
  EXPECT_EQ(LeAt(p, 132, 4), 0x000C0000u);
  EXPECT_EQ(LeAt(p, 136, 4), 0x010C0008u);
  EXPECT_EQ(LeAt(p, 140, 4), 0u);
  auto back = ParseIdentifyNamespace(p);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, ns);
  EXPECT_EQ(LbaSize(*back), 4096u);
  EXPECT_FALSE(IsInactiveNamespace(p));
  EXPECT_TRUE(IsInactiveNamespace(IdentifyPage{}));
}

TEST(NvmeIdentifyTest, FlbasUpperIndexBits) {
  NamespaceIdentity ns;
  ns.lba_formats.assign(20, LbaFormat{0, 9, 0});
  ns.lba_formats[17].lbads = 13;
  ns.flbas = 0x21;  // index bits 5:4 in FLBAS 6:5 -> 0x10 | 1 = 17
  EXPECT_EQ(ns.format_index(), 17);
  auto page = BuildIdentifyNamespace(ns);
  ASSERT_TRUE(page.ok());
  auto back = ParseIdentifyNamespace(*page);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(LbaSize(*back), 8192u);
}

TEST(NvmeIdentifyTest, NamespaceRefusals) {
  NamespaceIdentity ns;
  ns.flbas = 1;  // only one format
  EXPECT_FALSE(BuildIdentifyNamespace(ns).ok());
  ns.flbas = 0;
  ns.lba_formats.clear();
  EXPECT_FALSE(BuildIdentifyNamespace(ns).ok());

  IdentifyPage p{};
  p[25] = 0;  // one format
  PokeLe(p, 128, uint32_t(8) << 16, 4);  // LBADS 8: 256-byte blocks are not allowed
  EXPECT_FALSE(ParseIdentifyNamespace(p).ok());
  PokeLe(p, 128, uint32_t(9) << 16, 4);
  EXPECT_TRUE(ParseIdentifyNamespace(p).ok());
  p[26] = 1;  // FLBAS beyond NLBAF
  EXPECT_FALSE(ParseIdentifyNamespace(p).ok());
  p[26] = 0;
  p[25] = 64;  // NLBAF 64 = 65 formats
  EXPECT_FALSE(ParseIdentifyNamespace(p).ok());
  EXPECT_FALSE(ParseIdentifyNamespace(std::span<const uint8_t>(p.data(), 100)).ok());
}

TEST(NvmeIdentifyTest, ActiveNamespaceList) {
  const std::vector<uint32_t> active = {1, 2, 5, 100};
  auto all = BuildActiveNamespaceList(active, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(LeAt(*all, 0, 4), 1u);
  EXPECT_EQ(LeAt(*all, 12, 4), 100u);
  EXPECT_EQ(LeAt(*all, 16, 4), 0u);
  auto parsed = ParseActiveNamespaceList(*all);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, active);
  auto after = BuildActiveNamespaceList(active, 2);  // the NSID field: list only above it
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*ParseActiveNamespaceList(*after), (std::vector<uint32_t>{5, 100}));
  std::vector<uint32_t> many(2000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = uint32_t(i + 1);
  auto capped = BuildActiveNamespaceList(many, 0);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(ParseActiveNamespaceList(*capped)->size(), 1024u);
  EXPECT_FALSE(BuildActiveNamespaceList(std::vector<uint32_t>{2, 1}, 0).ok());
  EXPECT_FALSE(BuildActiveNamespaceList(std::vector<uint32_t>{0}, 0).ok());
  EXPECT_FALSE(BuildActiveNamespaceList(std::vector<uint32_t>{0xFFFFFFFF}, 0).ok());
  IdentifyPage bad{};
  PokeLe(bad, 0, 5, 4);
  PokeLe(bad, 4, 3, 4);
  EXPECT_FALSE(ParseActiveNamespaceList(bad).ok());
}

TEST(NvmeIdentifyTest, NamespaceDescriptors) {
  NamespaceIds ids;
  ids.nguid.emplace();
  for (size_t i = 0; i < 16; ++i) (*ids.nguid)[i] = uint8_t(i + 1);
  ids.uuid.emplace();
  (*ids.uuid)[15] = 0xAB;
  ids.csi = 0;
  const IdentifyPage p = BuildNamespaceDescriptors(ids);
  EXPECT_EQ(p[0], kNidtNguid);
  EXPECT_EQ(p[1], 16);
  EXPECT_EQ(p[4], 1);
  EXPECT_EQ(p[19], 16);
  EXPECT_EQ(p[20], kNidtUuid);
  EXPECT_EQ(p[21], 16);
  EXPECT_EQ(p[39], 0xAB);
  EXPECT_EQ(p[40], kNidtCsi);
  EXPECT_EQ(p[41], 1);
  EXPECT_EQ(p[44], 0);
  EXPECT_EQ(p[45], 0);  // end of list
  auto back = ParseNamespaceDescriptors(p);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, ids);

  NamespaceIds eui;
  eui.eui64 = std::array<uint8_t, 8>{1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(*ParseNamespaceDescriptors(BuildNamespaceDescriptors(eui)), eui);

  IdentifyPage bad{};
  bad[0] = kNidtNguid;
  bad[1] = 8;  // an NGUID is 16 bytes
  EXPECT_FALSE(ParseNamespaceDescriptors(bad).ok());
  IdentifyPage unknown{};
  unknown[0] = 0x7F;  // a type we do not know is skipped
  unknown[1] = 3;
  unknown[7] = kNidtCsi;
  unknown[8] = 1;
  unknown[11] = 2;
  auto skipped = ParseNamespaceDescriptors(unknown);
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->csi, 2);
  const uint8_t past_end[] = {kNidtUuid, 16, 0, 0, 1, 2};
  EXPECT_FALSE(ParseNamespaceDescriptors(past_end).ok());
}

}  // namespace
}  // namespace meshraid::proto::nvme
