// Every NBD constant against the number written in the spec (nbd-io.md §1.1), plus names and
// the string rule.
#include "proto/nbd_wire.h"

#include <gtest/gtest.h>

#include <string>

namespace meshraid::proto {
namespace {

TEST(NbdWireTest, MagicsMatchSpec) {
  EXPECT_EQ(kNbdMagic, 0x4e42444d41474943u);
  EXPECT_EQ(kIHaveOpt, 0x49484156454F5054u);
  EXPECT_EQ(kOptionReplyMagic, 0x0003e889045565a9u);
  EXPECT_EQ(kRequestMagic, 0x25609513u);
  EXPECT_EQ(kSimpleReplyMagic, 0x67446698u);
  EXPECT_EQ(kStructuredReplyMagic, 0x668e33efu);
  EXPECT_EQ(kExtendedRequestMagic, 0x21e41c71u);
  EXPECT_EQ(kExtendedReplyMagic, 0x6e8a278cu);
  // The ASCII spelling of the two 8-byte magics.
  const std::string nbd = "NBDMAGIC", opt = "IHAVEOPT";
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(uint8_t(kNbdMagic >> (56 - 8 * i)), uint8_t(nbd[size_t(i)]));
    EXPECT_EQ(uint8_t(kIHaveOpt >> (56 - 8 * i)), uint8_t(opt[size_t(i)]));
  }
}

TEST(NbdWireTest, HandshakeAndClientFlags) {
  EXPECT_EQ(kFlagFixedNewstyle, 1);
  EXPECT_EQ(kFlagNoZeroes, 2);
  EXPECT_EQ(kServerHandshakeFlags, 0x0003);
  EXPECT_EQ(kClientFlagFixedNewstyle, 1u);
  EXPECT_EQ(kClientFlagNoZeroes, 2u);
}

TEST(NbdWireTest, OptionCodes) {
  EXPECT_EQ(kOptExportName, 1u);
  EXPECT_EQ(kOptAbort, 2u);
  EXPECT_EQ(kOptList, 3u);
  EXPECT_EQ(kOptPeekExport, 4u);
  EXPECT_EQ(kOptStartTls, 5u);
  EXPECT_EQ(kOptInfo, 6u);
  EXPECT_EQ(kOptGo, 7u);
  EXPECT_EQ(kOptStructuredReply, 8u);
  EXPECT_EQ(kOptListMetaContext, 9u);
  EXPECT_EQ(kOptSetMetaContext, 10u);
  EXPECT_EQ(kOptExtendedHeaders, 11u);
}

TEST(NbdWireTest, OptionReplyTypes) {
  EXPECT_EQ(kRepAck, 1u);
  EXPECT_EQ(kRepServer, 2u);
  EXPECT_EQ(kRepInfo, 3u);
  EXPECT_EQ(kRepMetaContext, 4u);
  const uint32_t base = 2147483648u;  // 2^31
  EXPECT_EQ(kRepErrUnsup, base + 1);
  EXPECT_EQ(kRepErrPolicy, base + 2);
  EXPECT_EQ(kRepErrInvalid, base + 3);
  EXPECT_EQ(kRepErrPlatform, base + 4);
  EXPECT_EQ(kRepErrTlsReqd, base + 5);
  EXPECT_EQ(kRepErrUnknown, base + 6);
  EXPECT_EQ(kRepErrShutdown, base + 7);
  EXPECT_EQ(kRepErrBlockSizeReqd, base + 8);
  EXPECT_EQ(kRepErrTooBig, base + 9);
  EXPECT_EQ(kRepErrExtHeaderReqd, base + 10);
}

TEST(NbdWireTest, InfoTypes) {
  EXPECT_EQ(kInfoExport, 0);
  EXPECT_EQ(kInfoName, 1);
  EXPECT_EQ(kInfoDescription, 2);
  EXPECT_EQ(kInfoBlockSize, 3);
}

TEST(NbdWireTest, TransmissionFlags) {
  const uint16_t expected[] = {kTxHasFlags,  kTxReadOnly,        kTxSendFlush,  kTxSendFua,
                               kTxRotational, kTxSendTrim,      kTxSendWriteZeroes,
                               kTxSendDf,    kTxCanMultiConn,    kTxSendResize, kTxSendCache,
                               kTxSendFastZero, kTxBlockStatusPayload};
  for (int bit = 0; bit < 13; ++bit) EXPECT_EQ(expected[bit], 1 << bit) << "bit " << bit;
  // nbdkit memory plugin's 0xded, as composed in nbd-io.md §1.1.
  EXPECT_EQ(kTxHasFlags | kTxSendFlush | kTxSendFua | kTxSendTrim | kTxSendWriteZeroes |
                kTxSendDf | kTxCanMultiConn | kTxSendCache | kTxSendFastZero,
            0xded);
}

TEST(NbdWireTest, CommandsAndFlags) {
  EXPECT_EQ(kCmdRead, 0);
  EXPECT_EQ(kCmdWrite, 1);
  EXPECT_EQ(kCmdDisc, 2);
  EXPECT_EQ(kCmdFlush, 3);
  EXPECT_EQ(kCmdTrim, 4);
  EXPECT_EQ(kCmdCache, 5);
  EXPECT_EQ(kCmdWriteZeroes, 6);
  EXPECT_EQ(kCmdBlockStatus, 7);
  EXPECT_EQ(kCmdResize, 8);
  EXPECT_EQ(kCmdFlagFua, 0x1);
  EXPECT_EQ(kCmdFlagNoHole, 0x2);
  EXPECT_EQ(kCmdFlagDf, 0x4);
  EXPECT_EQ(kCmdFlagReqOne, 0x8);
  EXPECT_EQ(kCmdFlagFastZero, 0x10);
  EXPECT_EQ(kCmdFlagPayloadLen, 0x20);
  EXPECT_EQ(kCmdFlagsKnown, 0x1f);
}

TEST(NbdWireTest, StructuredReplyTypes) {
  EXPECT_EQ(kReplyFlagDone, 1);
  EXPECT_EQ(kReplyTypeNone, 0);
  EXPECT_EQ(kReplyTypeOffsetData, 1);
  EXPECT_EQ(kReplyTypeOffsetHole, 2);
  EXPECT_EQ(kReplyTypeBlockStatus, 5);
  EXPECT_EQ(kReplyTypeBlockStatusExt, 6);
  EXPECT_EQ(kReplyTypeError, 32768 + 1);
  EXPECT_EQ(kReplyTypeErrorOffset, 32768 + 2);
  EXPECT_EQ(kReplyTypeError, 0x8001);
  EXPECT_EQ(kReplyTypeErrorOffset, 0x8002);
}

TEST(NbdWireTest, ErrorValuesAndStates) {
  EXPECT_EQ(kNbdEperm, 1u);
  EXPECT_EQ(kNbdEio, 5u);
  EXPECT_EQ(kNbdEnomem, 12u);
  EXPECT_EQ(kNbdEinval, 22u);
  EXPECT_EQ(kNbdEnospc, 28u);
  EXPECT_EQ(kNbdEoverflow, 75u);
  EXPECT_EQ(kNbdEnotsup, 95u);
  EXPECT_EQ(kNbdEshutdown, 108u);
  EXPECT_EQ(kStateHole, 1u);
  EXPECT_EQ(kStateZero, 2u);
}

TEST(NbdWireTest, SizesAndLimits) {
  EXPECT_EQ(kGreetingSize, 8u + 8u + 2u);
  EXPECT_EQ(kOptionHeaderSize, 8u + 4u + 4u);
  EXPECT_EQ(kOptionReplyHeaderSize, 8u + 4u + 4u + 4u);
  EXPECT_EQ(kExportNameReplySize + kExportNamePadding, 134u);
  EXPECT_EQ(kRequestHeaderSize, 4u + 2u + 2u + 8u + 8u + 4u);
  EXPECT_EQ(kSimpleReplySize, 4u + 4u + 8u);
  EXPECT_EQ(kStructuredHeaderSize, 4u + 2u + 2u + 8u + 4u);
  EXPECT_EQ(kDosSafeLength, 33554432u);
}

TEST(NbdWireTest, Names) {
  EXPECT_EQ(OptionName(kOptGo), "NBD_OPT_GO");
  EXPECT_EQ(OptionName(99), "unknown");
  EXPECT_EQ(CommandName(kCmdWriteZeroes), "NBD_CMD_WRITE_ZEROES");
  EXPECT_EQ(ErrorName(kNbdEoverflow), "NBD_EOVERFLOW");
  EXPECT_EQ(ReplyTypeName(kRepErrUnsup), "NBD_REP_ERR_UNSUP");
}

TEST(NbdWireTest, WireStrings) {
  EXPECT_TRUE(CheckWireString("", "name").ok());
  EXPECT_TRUE(CheckWireString(std::string(4096, 'a'), "name").ok());
  EXPECT_FALSE(CheckWireString(std::string(4097, 'a'), "name").ok());
  EXPECT_FALSE(CheckWireString(std::string("a\0b", 3), "name").ok());
}

}  // namespace
}  // namespace meshraid::proto
