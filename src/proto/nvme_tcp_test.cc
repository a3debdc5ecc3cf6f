// NVMe/TCP encoders against hand-built PDUs: one of each type, byte for byte (the ICReq exactly
// as the Linux host sends it, the ICResp as nvmet answers), digests checked with a bitwise
// CRC32C written here independently of util/crc32c, and the pdo/padding rules.
#include "proto/nvme_tcp.h"

#include <gtest/gtest.h>

#include "proto/nvme_test_bytes.h"

namespace meshraid::proto::nvme {
namespace {

using testing::LeAt;
using testing::LeBytes;
using V = std::vector<uint8_t>;

V Bytes(const PduPrefix& p) { return V(p.bytes().begin(), p.bytes().end()); }

// Bit-at-a-time CRC32C (reflected 0x82F63B78), the reference for the digests below.
uint32_t ReferenceCrc32c(std::span<const uint8_t> data) {
  uint32_t c = 0xFFFFFFFF;
  for (uint8_t b : data) {
    c ^= b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ (0x82F63B78 & (0u - (c & 1)));
  }
  return ~c;
}

TEST(NvmeTcpTest, ReferenceCrcMatchesCheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(ReferenceCrc32c({reinterpret_cast<const uint8_t*>(s.data()), s.size()}), 0xE3069283u);
}

TEST(NvmeTcpTest, ICReqAsTheLinuxHostSendsIt) {
  // pfv 0, hpda 0 (no alignment), both digests requested, maxr2t 0 (one R2T per command).
  const V expected = LeBytes()
                         .U8(0x00).U8(0x00).U8(128).U8(0)  // type, flags, hlen, pdo
                         .U32(128)                          // plen
                         .U16(0).U8(0).U8(0x03)             // pfv, hpda, digest
                         .U32(0)                            // maxr2t
                         .Zeros(112);
  const PduPrefix p = EncodeICReq({0, 0, true, true, 0});
  EXPECT_EQ(Bytes(p), expected);
  EXPECT_EQ(p.plen, 128u);
  EXPECT_EQ(p.data_length, 0u);
  EXPECT_FALSE(p.data_digest);
  // Without digests only byte 11 changes.
  V plain = expected;
  plain[11] = 0;
  EXPECT_EQ(Bytes(EncodeICReq({})), plain);
}

TEST(NvmeTcpTest, ICRespAsNvmetAnswers) {
  // cpda 0, the requested digests echoed, MAXH2CDATA 4 MiB.
  const V expected = LeBytes()
                         .U8(0x01).U8(0x00).U8(128).U8(0).U32(128)
                         .U16(0).U8(0).U8(0x01).U32(0x400000)
                         .Zeros(112);
  EXPECT_EQ(Bytes(EncodeICResp({0, 0, true, false, 0x400000})), expected);
}

TEST(NvmeTcpTest, CapsuleCmdWithoutData) {
  Sqe sqe;
  sqe.opcode = kAdminKeepAlive;
  sqe.flags = kPsdtSgl;
  sqe.cid = 0x1234;
  auto p = EncodeCapsuleCmd(sqe, 0, {});
  ASSERT_TRUE(p.ok());
  const V expected = LeBytes()
                         .U8(0x04).U8(0x00).U8(72).U8(0).U32(72)
                         .Append(EncodeSqe(sqe));
  EXPECT_EQ(Bytes(*p), expected);
}

TEST(NvmeTcpTest, CapsuleCmdWithInCapsuleDataAndDigests) {
  Sqe sqe;
  sqe.opcode = kIoWrite;
  sqe.flags = kPsdtSgl;
  sqe.sgl1 = {0, 4096, kSglInCapsule};
  auto p = EncodeCapsuleCmd(sqe, 4096, {true, true, 0});
  ASSERT_TRUE(p.ok());
  // HDGSTF|DDGSTF, pdo = 72 + 4 (header digest), plen = 76 + 4096 + 4.
  V expected = LeBytes().U8(0x04).U8(0x03).U8(72).U8(76).U32(76 + 4096 + 4).Append(EncodeSqe(sqe));
  const uint32_t hdgst = ReferenceCrc32c(expected);
  expected = LeBytes().Append(expected).U32(hdgst);
  EXPECT_EQ(Bytes(*p), expected);
  EXPECT_EQ(p->plen, 4176u);
  EXPECT_EQ(p->data_length, 4096u);
  EXPECT_TRUE(p->data_digest);
}

TEST(NvmeTcpTest, DataDigestIsCrc32cLittleEndian) {
  V data(4096);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  const uint32_t d = DataDigest(data);
  EXPECT_EQ(d, ReferenceCrc32c(data));
  const auto b = EncodeDigest(d);
  EXPECT_EQ(LeAt(b, 0, 4), d);
  EXPECT_EQ(DecodeDigest(b), d);
}

TEST(NvmeTcpTest, PaddingFollowsThePeersPda) {
  Sqe sqe;
  // CPDA 3: data on a 16-byte boundary; 72 + 4 = 76 rounds up to 80, zero padding.
  auto p = EncodeCapsuleCmd(sqe, 100, {true, false, 3});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->buf[3], 80);
  EXPECT_EQ(p->size, 80);
  EXPECT_EQ(p->plen, 180u);
  for (size_t i = 76; i < 80; ++i) EXPECT_EQ(p->buf[i], 0) << i;
  // The largest PDA (31): 128-byte alignment.
  auto big = EncodeH2CData({1, 2, 0, 10, true}, {false, true, 31});
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->buf[3], 128);
  EXPECT_EQ(big->plen, 128u + 10 + 4);
  // No data: no padding and pdo 0, whatever the PDA.
  EXPECT_EQ(EncodeCapsuleResp({}, {false, false, 31}).buf[3], 0);
}

TEST(NvmeTcpTest, CapsuleRespBytesAndHeaderDigest) {
  const Cqe cqe{0x00010001, 0, 5, 0, 0x0007, 0};
  const V header = LeBytes().U8(0x05).U8(0x01).U8(24).U8(0).U32(28).Append(EncodeCqe(cqe));
  const PduPrefix p = EncodeCapsuleResp(cqe, {true, true, 0});  // no data: no DDGSTF
  EXPECT_EQ(Bytes(p), LeBytes().Append(header).U32(ReferenceCrc32c(header)).vec());
  EXPECT_FALSE(p.data_digest);
}

TEST(NvmeTcpTest, H2CDataBytes) {
  auto p = EncodeH2CData({0x0011, 0x0022, 0x1000, 0x2000, true}, {});
  ASSERT_TRUE(p.ok());
  const V expected = LeBytes()
                         .U8(0x06).U8(0x04).U8(24).U8(24).U32(24 + 0x2000)
                         .U16(0x0011).U16(0x0022).U32(0x1000).U32(0x2000).Zeros(4);
  EXPECT_EQ(Bytes(*p), expected);
  EXPECT_FALSE(EncodeH2CData({1, 2, 0, 0, true}, {}).ok());
}

TEST(NvmeTcpTest, C2HDataBytes) {
  auto p = EncodeC2HData({0x0033, 0, 512, true, true}, {false, true, 0});
  ASSERT_TRUE(p.ok());
  const V expected = LeBytes()
                         .U8(0x07).U8(0x0E).U8(24).U8(24).U32(24 + 512 + 4)  // DDGST|LAST|SUCCESS
                         .U16(0x0033).U16(0).U32(0).U32(512).Zeros(4);
  EXPECT_EQ(Bytes(*p), expected);
  EXPECT_FALSE(EncodeC2HData({1, 0, 512, false, true}, {}).ok());  // SUCCESS without LAST
  EXPECT_FALSE(EncodeC2HData({1, 0, 0, true, false}, {}).ok());
}

TEST(NvmeTcpTest, R2TBytes) {
  const V expected = LeBytes()
                         .U8(0x09).U8(0x00).U8(24).U8(0).U32(24)
                         .U16(0x0044).U16(0x0101).U32(0x4000).U32(0x10000).Zeros(4);
  EXPECT_EQ(Bytes(EncodeR2T({0x0044, 0x0101, 0x4000, 0x10000}, {})), expected);
}

TEST(NvmeTcpTest, TermReqBytes) {
  TermReq t;
  t.fes = kFesInvalidHeaderField;
  t.fei = 3;
  t.error_data_length = 8;
  for (size_t i = 0; i < 8; ++i) t.error_data[i] = uint8_t(0xF0 + i);
  const V expected = LeBytes()
                         .U8(0x03).U8(0).U8(24).U8(0).U32(32)
                         .U16(1).U32(3).Zeros(10)
                         .U8(0xF0).U8(0xF1).U8(0xF2).U8(0xF3).U8(0xF4).U8(0xF5).U8(0xF6).U8(0xF7);
  EXPECT_EQ(Bytes(EncodeTermReq(Role::kController, t)), expected);
  V from_host = expected;
  from_host[0] = 0x02;
  EXPECT_EQ(Bytes(EncodeTermReq(Role::kHost, t)), from_host);
  // The full 128-byte copy gives the largest TermReq, 152 bytes.
  t.error_data_length = 128;
  EXPECT_EQ(EncodeTermReq(Role::kHost, t).plen, 152u);
}

TEST(NvmeTcpTest, ConstantsAndNames) {
  EXPECT_EQ(kPduICReq, 0x00);
  EXPECT_EQ(kPduICResp, 0x01);
  EXPECT_EQ(kPduH2CTermReq, 0x02);
  EXPECT_EQ(kPduC2HTermReq, 0x03);
  EXPECT_EQ(kPduCapsuleCmd, 0x04);
  EXPECT_EQ(kPduCapsuleResp, 0x05);
  EXPECT_EQ(kPduH2CData, 0x06);
  EXPECT_EQ(kPduC2HData, 0x07);
  EXPECT_EQ(kPduR2T, 0x09);
  EXPECT_EQ(kFlagHdgst | kFlagDdgst | kFlagLastPdu | kFlagSuccess, 0x0F);
  EXPECT_EQ(kFesInvalidHeaderField, 1);
  EXPECT_EQ(kFesPduSequenceError, 2);
  EXPECT_EQ(kFesHeaderDigestError, 3);
  EXPECT_EQ(kFesDataOutOfRange, 4);
  EXPECT_EQ(kFesDataLimitExceeded, 5);
  EXPECT_EQ(kFesUnsupportedParameter, 6);
  EXPECT_EQ(PduTypeName(kPduR2T), "R2T");
  EXPECT_EQ(PduTypeName(0x08), "unknown");
  EXPECT_EQ(FesName(3), "header digest error");
  EXPECT_EQ(PduTypeOf(Pdu(R2T{})), kPduR2T);
  EXPECT_EQ(PduTypeOf(Pdu(C2HData{})), kPduC2HData);
  EXPECT_EQ(PduTypeOf(Pdu(ICReq{})), kPduICReq);
}

}  // namespace
}  // namespace meshraid::proto::nvme
