// SQE/CQE layout byte by byte, round trips, and the command-specific fields of the I/O, Identify,
// Features and Get Log Page commands against hand-built images.
#include "proto/nvme_command.h"

#include <gtest/gtest.h>

#include <random>

#include "proto/nvme_test_bytes.h"

namespace meshraid::proto::nvme {
namespace {

using testing::LeAt;
using testing::LeBytes;
using testing::Vec;

TEST(NvmeCommandTest, ReadSqeBytes) {
  // A 4 KiB read of LBA 0x123456789 (8 blocks of 512) as a host sends it over NVMe/TCP: SGL,
  // transport data block (data comes back in C2HData), FUA set.
  auto sqe = MakeBlockCommand(kIoRead, 0x0A0B, 1, {0x123456789, 8, true, false},
                              {0, 4096, kSglTransportData});
  ASSERT_TRUE(sqe.ok());
  const std::vector<uint8_t> expected = LeBytes()
                                            .U8(0x02).U8(0x40).U16(0x0A0B)  // opc, PSDT=01, CID
                                            .U32(1)                         // NSID
                                            .Zeros(8)                       // CDW2, CDW3
                                            .U64(0)                         // MPTR
                                            .U64(0).U32(4096).Zeros(3).U8(0x5A)  // SGL1
                                            .U32(0x23456789).U32(0x1)       // SLBA
                                            .U32(7 | (1u << 30))            // NLB 0-based, FUA
                                            .Zeros(12);
  EXPECT_EQ(Vec(EncodeSqe(*sqe)), expected);
  const Sqe back = DecodeSqe(std::span<const uint8_t, kSqeSize>(expected.data(), kSqeSize));
  EXPECT_EQ(back, *sqe);
  EXPECT_EQ(DecodeBlockRange(back), (BlockRange{0x123456789, 8, true, false}));
  EXPECT_EQ(back.psdt(), 1);
  EXPECT_EQ(back.fuse(), 0);
  EXPECT_EQ(back.sgl1.type(), kSglTypeTransportDataBlock);
  EXPECT_EQ(back.sgl1.subtype(), kSglSubtypeTransport);
}

TEST(NvmeCommandTest, SglIdentifiers) {
  EXPECT_EQ(kSglInCapsule, (kSglTypeDataBlock << 4) | kSglSubtypeOffset);
  EXPECT_EQ(kSglTransportData, (kSglTypeTransportDataBlock << 4) | kSglSubtypeTransport);
  EXPECT_EQ(kSglInCapsule, 0x01);
  EXPECT_EQ(kSglTransportData, 0x5A);
}

TEST(NvmeCommandTest, SqeAndCqeRoundTripRandom) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 200; ++i) {
    Sqe s;
    s.opcode = uint8_t(rng());
    s.flags = uint8_t(rng());
    s.cid = uint16_t(rng());
    s.nsid = uint32_t(rng());
    s.cdw2 = uint32_t(rng());
    s.cdw3 = uint32_t(rng());
    s.mptr = rng();
    s.sgl1 = {rng(), uint32_t(rng()), uint8_t(rng())};
    for (auto& d : s.cdw) d = uint32_t(rng());
    const auto b = EncodeSqe(s);
    EXPECT_EQ(DecodeSqe(b), s);
    EXPECT_EQ(b[36] | b[37] | b[38], 0);  // SGL reserved bytes are sent as zero
    const Cqe c{uint32_t(rng()), uint32_t(rng()), uint16_t(rng()), uint16_t(rng()),
                uint16_t(rng()), uint16_t(rng())};
    EXPECT_EQ(DecodeCqe(EncodeCqe(c)), c);
  }
}

TEST(NvmeCommandTest, CqeBytes) {
  const Cqe c{0x11223344, 0x55667788, 0x0102, 0x0003, 0xBEEF, 0x8101};
  const std::vector<uint8_t> expected =
      LeBytes().U32(0x11223344).U32(0x55667788).U16(0x0102).U16(3).U16(0xBEEF).U16(0x8101);
  EXPECT_EQ(Vec(EncodeCqe(c)), expected);
}

TEST(NvmeCommandTest, BlockCommandFields) {
  auto wz = MakeBlockCommand(kIoWriteZeroes, 1, 2, {100, 65536, false, true});
  ASSERT_TRUE(wz.ok());
  EXPECT_EQ(wz->cdw12(), 0xFFFFu | (1u << 25));  // NLB 65535 (0-based), DEAC bit 25
  EXPECT_EQ(DecodeBlockRange(*wz), (BlockRange{100, 65536, false, true}));
  auto w = MakeBlockCommand(kIoWrite, 1, 2, {0, 1, false, false}, {0, 512, kSglInCapsule});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->cdw12(), 0u);
  // DEAC on a Write is meaningless and a write's bit 25 is not DEAC when decoded.
  EXPECT_FALSE(MakeBlockCommand(kIoWrite, 1, 2, {0, 1, false, true}).ok());
  Sqe raw = *w;
  raw.cdw[2] |= kCdw12Deac;
  EXPECT_FALSE(DecodeBlockRange(raw).deac);
  EXPECT_FALSE(MakeBlockCommand(kIoRead, 1, 2, {0, 0, false, false}).ok());
  EXPECT_FALSE(MakeBlockCommand(kIoRead, 1, 2, {0, 65537, false, false}).ok());
  EXPECT_FALSE(MakeBlockCommand(kIoFlush, 1, 2, {0, 1, false, false}).ok());
}

TEST(NvmeCommandTest, DatasetManagement) {
  auto s = MakeDatasetManagement(9, 1, {3, kDsmDeallocate}, {0, 48, kSglInCapsule});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->opcode, 0x09);
  EXPECT_EQ(s->cdw10(), 2u);   // NR 0-based
  EXPECT_EQ(s->cdw11(), 4u);   // AD bit 2
  const DsmCommand d = DecodeDatasetManagement(*s);
  EXPECT_EQ(d.ranges, 3u);
  EXPECT_TRUE(d.deallocate());
  EXPECT_FALSE(MakeDatasetManagement(9, 1, {0, 0}, {}).ok());
  EXPECT_FALSE(MakeDatasetManagement(9, 1, {257, 0}, {}).ok());

  const std::vector<DsmRange> ranges = {{0, 8, 0x1000}, {0x01020304, 0xFFFFFFFF, ~0ull}};
  auto bytes = EncodeDsmRanges(ranges);
  ASSERT_TRUE(bytes.ok());
  const std::vector<uint8_t> expected =
      LeBytes().U32(0).U32(8).U64(0x1000).U32(0x01020304).U32(0xFFFFFFFF).U64(~0ull);
  EXPECT_EQ(*bytes, expected);
  auto back = DecodeDsmRanges(*bytes, 2);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, ranges);
  EXPECT_FALSE(DecodeDsmRanges(*bytes, 3).ok());
  EXPECT_FALSE(EncodeDsmRanges({}).ok());
}

TEST(NvmeCommandTest, Identify) {
  const Sqe s = MakeIdentify(5, {kCnsController, 0x1234, 0, 0}, {0, 4096, kSglTransportData});
  const auto b = EncodeSqe(s);
  EXPECT_EQ(b[0], 0x06);
  EXPECT_EQ(LeAt(b, 40, 1), 0x01u);    // CNS
  EXPECT_EQ(LeAt(b, 42, 2), 0x1234u);  // CNTID
  const IdentifyCommand id = DecodeIdentify(MakeIdentify(5, {kCnsNamespace, 0, 0, 7}, {}));
  EXPECT_EQ(id.cns, 0);
  EXPECT_EQ(id.nsid, 7u);
  EXPECT_EQ(DecodeIdentify(MakeIdentify(5, {kCnsActiveNamespaces, 0, 2, 0}, {})).csi, 2);
}

TEST(NvmeCommandTest, Features) {
  auto q = EncodeQueueCount({4, 4});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 0x00030003u);  // NSQR, NCQR 0-based
  const Sqe set = MakeSetFeatures(3, {kFeatureNumberOfQueues, 0, false, *q});
  EXPECT_EQ(set.opcode, 0x09);
  EXPECT_EQ(set.cdw10(), 0x07u);
  EXPECT_EQ(set.cdw11(), 0x00030003u);
  EXPECT_EQ(DecodeQueueCount(0x0001000F), (QueueCount{16, 2}));
  EXPECT_FALSE(EncodeQueueCount({0, 1}).ok());
  EXPECT_FALSE(EncodeQueueCount({1, 65536}).ok());

  const Sqe kato = MakeSetFeatures(3, {kFeatureKeepAliveTimer, 0, true, 15000});
  EXPECT_EQ(kato.cdw10(), 0x8000000Fu);  // SV bit 31, FID 0x0F
  const FeatureCommand f = DecodeFeatures(kato);
  EXPECT_TRUE(f.save);
  EXPECT_EQ(f.cdw11, 15000u);
  const Sqe get = MakeGetFeatures(3, {kFeatureVolatileWriteCache, 3, false, 0});
  EXPECT_EQ(get.opcode, 0x0A);
  EXPECT_EQ(get.cdw10(), 0x306u);  // SEL 3 (capabilities) in 10:8
  EXPECT_EQ(DecodeFeatures(get).select, 3);
  EXPECT_EQ(kFeatureAsyncEventConfig, 0x0B);
  EXPECT_EQ(kFeatureTemperatureThreshold, 0x04);
}

TEST(NvmeCommandTest, GetLogPageSplitsNumdAndOffset) {
  // NUMD 0x12345 (0x12346 dwords): NUMDL = 0x2345, NUMDU = 0x0001.
  const GetLogPageCommand g{kLogDiscovery, 0x05, true, 0x0102, 0, 0, 0x100000400ull,
                            (0x12345ull + 1) * 4};
  auto s = MakeGetLogPage(2, g, {0, 0, kSglTransportData});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->cdw10(), 0x70u | (0x05u << 8) | (1u << 15) | (0x2345u << 16));
  EXPECT_EQ(s->cdw11(), 0x0001u | (0x0102u << 16));
  EXPECT_EQ(s->cdw12(), 0x400u);
  EXPECT_EQ(s->cdw13(), 0x1u);
  EXPECT_EQ(DecodeGetLogPage(*s), g);
  // A 1024-byte read at offset 0 is NUMD 255.
  auto h = MakeGetLogPage(2, {kLogDiscovery, 0, false, 0, 0, 0, 0, 1024}, {});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->cdw10() >> 16, 255u);
  EXPECT_FALSE(MakeGetLogPage(2, {kLogSmartHealth, 0, false, 0, 0, 0, 0, 0}, {}).ok());
  EXPECT_FALSE(MakeGetLogPage(2, {kLogSmartHealth, 0, false, 0, 0, 0, 0, 510}, {}).ok());
  EXPECT_FALSE(MakeGetLogPage(2, {kLogSmartHealth, 0, false, 0, 0, 0, 2, 512}, {}).ok());
  // The largest NUMD decodes to 2^34 bytes.
  Sqe max;
  max.cdw[0] = 0xFFFF0000u;
  max.cdw[1] = 0xFFFF;
  EXPECT_EQ(DecodeGetLogPage(max).length, uint64_t{1} << 34);
}

TEST(NvmeCommandTest, OpcodeValuesAndNames) {
  EXPECT_EQ(kAdminGetLogPage, 0x02);
  EXPECT_EQ(kAdminIdentify, 0x06);
  EXPECT_EQ(kAdminAbort, 0x08);
  EXPECT_EQ(kAdminSetFeatures, 0x09);
  EXPECT_EQ(kAdminGetFeatures, 0x0A);
  EXPECT_EQ(kAdminAsyncEventRequest, 0x0C);
  EXPECT_EQ(kAdminKeepAlive, 0x18);
  EXPECT_EQ(kFabricsOpcode, 0x7F);
  EXPECT_EQ(kIoFlush, 0x00);
  EXPECT_EQ(kIoWrite, 0x01);
  EXPECT_EQ(kIoRead, 0x02);
  EXPECT_EQ(kIoWriteZeroes, 0x08);
  EXPECT_EQ(kIoDatasetManagement, 0x09);
  EXPECT_EQ(AdminOpcodeName(0x18), "Keep Alive");
  EXPECT_EQ(IoOpcodeName(0x02), "Read");
  EXPECT_EQ(IoOpcodeName(0x55), "unknown");
  EXPECT_EQ(kLogErrorInformation, 0x01);
  EXPECT_EQ(kLogSmartHealth, 0x02);
  EXPECT_EQ(kLogFirmwareSlot, 0x03);
  EXPECT_EQ(kLogDiscovery, 0x70);
}

}  // namespace
}  // namespace meshraid::proto::nvme
