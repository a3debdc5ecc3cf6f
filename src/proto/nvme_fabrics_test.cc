// Fabrics commands against hand-built SQE images (Connect as the Linux host sends it, Property
// Get/Set), the Connect data layout, and the CAP/CC/CSTS property fields.
#include "proto/nvme_fabrics.h"

#include <gtest/gtest.h>

#include "proto/nvme_test_bytes.h"

namespace meshraid::proto::nvme {
namespace {

using testing::LeAt;
using testing::LeBytes;
using testing::Vec;

TEST(NvmeFabricsTest, ConnectAdminQueueBytes) {
  // The admin Connect of the Linux host: QID 0, SQSIZE 31 (32 entries), KATO 5000 ms, the
  // 1024-byte data in the capsule.
  auto s = MakeConnect(0x0001, {0, 0, 32, 0, 5000}, {0, 1024, kSglInCapsule});
  ASSERT_TRUE(s.ok());
  const std::vector<uint8_t> expected = LeBytes()
                                            .U8(0x7F).U8(0x40).U16(1)  // OPC, PSDT SGL, CID
                                            .U8(0x01).Zeros(19)        // FCTYPE Connect
                                            .U64(0).U32(1024).Zeros(3).U8(0x01)  // SGL1
                                            .U16(0).U16(0)             // RECFMT, QID
                                            .U16(31).U8(0).U8(0)       // SQSIZE, CATTR
                                            .U32(5000)                 // KATO
                                            .Zeros(12);
  EXPECT_EQ(Vec(EncodeSqe(*s)), expected);
  EXPECT_EQ(FabricsType(*s), kFctypeConnect);
  EXPECT_EQ(DecodeConnect(*s), (ConnectCommand{0, 0, 32, 0, 5000}));
  auto io = MakeConnect(7, {0, 3, 128, kCattrDisableSqFlowControl, 0}, {});
  ASSERT_TRUE(io.ok());
  const auto b = EncodeSqe(*io);
  EXPECT_EQ(LeAt(b, 42, 2), 3u);    // QID
  EXPECT_EQ(LeAt(b, 44, 2), 127u);  // SQSIZE
  EXPECT_EQ(b[46], 0x04);           // CATTR
  EXPECT_FALSE(MakeConnect(7, {0, 3, 0, 0, 0}, {}).ok());
  EXPECT_FALSE(MakeConnect(7, {0, 3, 65537, 0, 0}, {}).ok());
}

TEST(NvmeFabricsTest, ConnectData) {
  ConnectData d;
  for (size_t i = 0; i < 16; ++i) d.hostid[i] = uint8_t(0xA0 + i);
  d.cntlid = 0x0005;
  d.subnqn = "nqn.2026-12.io.meshraid:member1";
  d.hostnqn = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001";
  auto b = EncodeConnectData(d);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)[0], 0xA0);
  EXPECT_EQ((*b)[15], 0xAF);
  EXPECT_EQ(LeAt(*b, 16, 2), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b->data() + 256)), d.subnqn);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b->data() + 512)), d.hostnqn);
  EXPECT_EQ((*b)[256 + d.subnqn.size()], 0);
  auto back = DecodeConnectData(*b);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, d);

  // A SUBNQN field without NUL, a short buffer and bad NQNs are refused.
  auto bad = *b;
  std::fill(bad.begin() + 256, bad.begin() + 512, uint8_t{'a'});
  EXPECT_FALSE(DecodeConnectData(bad).ok());
  EXPECT_FALSE(DecodeConnectData(std::span<const uint8_t>(b->data(), 1023)).ok());
  ConnectData long_nqn = d;
  long_nqn.subnqn = std::string(224, 'x');
  EXPECT_FALSE(EncodeConnectData(long_nqn).ok());
  ConnectData empty = d;
  empty.hostnqn.clear();
  EXPECT_FALSE(EncodeConnectData(empty).ok());
}

TEST(NvmeFabricsTest, ConnectResponse) {
  const Cqe c = MakeConnectResponse(1, 2, 0x0042);
  EXPECT_EQ(c.dw0, 0x42u);
  EXPECT_EQ(ConnectResponseCntlid(c), 0x42);
  EXPECT_EQ(c.status, 0);
  EXPECT_EQ(ConnectInvalidParameterDw0(16, true), 0x00010010u);  // CNTLID in the data
  EXPECT_EQ(ConnectInvalidParameterDw0(42, false), 42u);         // QID in the SQE
}

TEST(NvmeFabricsTest, PropertyGetSetBytes) {
  const Sqe get = MakePropertyGet(9, kPropertyCap, true);
  const std::vector<uint8_t> expected = LeBytes()
                                            .U8(0x7F).U8(0x40).U16(9).U8(0x04).Zeros(35)
                                            .U8(1).Zeros(3)  // ATTRIB: 8 bytes
                                            .U32(0x00)       // OFST
                                            .Zeros(16);
  EXPECT_EQ(Vec(EncodeSqe(get)), expected);
  auto p = DecodeProperty(get);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (PropertyCommand{true, 0, 0}));

  const Sqe set = MakePropertySet(10, kPropertyCc, 0x00460001, false);
  const auto b = EncodeSqe(set);
  EXPECT_EQ(b[4], 0x00);  // FCTYPE Property Set
  EXPECT_EQ(b[40], 0x00);
  EXPECT_EQ(LeAt(b, 44, 4), 0x14u);
  EXPECT_EQ(LeAt(b, 48, 8), 0x00460001u);
  auto ps = DecodeProperty(set);
  ASSERT_TRUE(ps.ok());
  EXPECT_EQ(*ps, (PropertyCommand{false, 0x14, 0x00460001}));

  Sqe bad = get;
  bad.cdw[0] = 2;
  EXPECT_FALSE(DecodeProperty(bad).ok());
  Cqe value;
  value.dw0 = 0x0F0103FF;
  value.dw1 = 0x00000020;
  EXPECT_EQ(PropertyValue(value), 0x000000200F0103FFull);
}

TEST(NvmeFabricsTest, Properties) {
  EXPECT_EQ(kPropertyCap, 0x00u);
  EXPECT_EQ(kPropertyVs, 0x08u);
  EXPECT_EQ(kPropertyCc, 0x14u);
  EXPECT_EQ(kPropertyCsts, 0x1Cu);
  // CAP: MQES 1023 (1024 entries), CQR, TO 15 (7.5 s), CSS bit 37 (NVM).
  const Capabilities cap{1024, true, 0, 15, 0, false, 0x01, false, 0, 0};
  const uint64_t v = EncodeCap(cap);
  EXPECT_EQ(v, 0x3FFull | (1ull << 16) | (15ull << 24) | (1ull << 37));
  EXPECT_EQ(DecodeCap(v), cap);
  const Capabilities wide{65536, false, 3, 255, 15, true, 0xC1, true, 4, 9};
  EXPECT_EQ(DecodeCap(EncodeCap(wide)), wide);
  EXPECT_EQ(EncodeCap(wide) & 0xFFFF, 0xFFFFu);
  EXPECT_EQ((EncodeCap(wide) >> 48) & 0xF, 4u);
  EXPECT_EQ((EncodeCap(wide) >> 52) & 0xF, 9u);

  // CC as the Linux host enables it: EN, IOSQES 6, IOCQES 4.
  const Configuration cc{true, 0, 0, 0, kShutdownNone, 6, 4};
  EXPECT_EQ(EncodeCc(cc), 0x00460001u);
  EXPECT_EQ(DecodeCc(0x00460001u), cc);
  const Configuration shutdown{true, 7, 15, 7, kShutdownNormal, 15, 15};
  EXPECT_EQ(EncodeCc(shutdown) & 0xC000, 0x4000u);  // SHN 15:14
  EXPECT_EQ(DecodeCc(EncodeCc(shutdown)), shutdown);

  EXPECT_EQ(EncodeCsts({true, false, kShutdownStatusComplete}), 0x9u);
  EXPECT_EQ(DecodeCsts(0x3), (ControllerStatus{true, true, 0}));
  EXPECT_EQ(kVersion1_4, 0x00010400u);
  EXPECT_EQ(kVersion2_0, 0x00020000u);
  EXPECT_EQ(MakeVersion(1, 3, 1), 0x00010301u);
}

TEST(NvmeFabricsTest, EveryBuilderSetsPsdtAsNvmetRequires) {
  // nvmet_req_init refuses any command whose PSDT is not 01b or with FUSE bits set.
  std::vector<Sqe> all = {MakePropertyGet(1, kPropertyCap, true),
                          MakePropertySet(1, kPropertyCc, 1, false),
                          *MakeConnect(1, {}, {}),
                          MakeIdentify(1, {}, {}),
                          MakeGetFeatures(1, {}),
                          MakeSetFeatures(1, {}),
                          *MakeGetLogPage(1, {}, {}),
                          *MakeBlockCommand(kIoRead, 1, 1, {0, 1, false, false}),
                          *MakeDatasetManagement(1, 1, {1, kDsmDeallocate}, {})};
  for (const Sqe& s : all) EXPECT_TRUE(FabricsFlagsValid(s)) << int(s.opcode);
  Sqe fused = all[0];
  fused.flags |= 0x01;
  EXPECT_FALSE(FabricsFlagsValid(fused));
  Sqe prp = all[0];
  prp.flags = 0;
  EXPECT_FALSE(FabricsFlagsValid(prp));
}

TEST(NvmeFabricsTest, Names) {
  EXPECT_EQ(FabricsTypeName(kFctypeConnect), "Connect");
  EXPECT_EQ(FabricsTypeName(kFctypePropertyGet), "Property Get");
  EXPECT_EQ(FabricsTypeName(0x33), "unknown");
  EXPECT_EQ(kFctypePropertySet, 0x00);
  EXPECT_EQ(kFctypeConnect, 0x01);
  EXPECT_EQ(kFctypePropertyGet, 0x04);
}

}  // namespace
}  // namespace meshraid::proto::nvme
