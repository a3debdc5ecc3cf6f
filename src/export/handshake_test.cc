// The negotiation phase against a live server over a socketpair: each handshake rule of
// nbd-io.md §2 (items 1-12) that needs a session.
#include <gtest/gtest.h>

#include "export/nbd_test_harness.h"
#include "export/raw_nbd_client.h"

namespace meshraid::exports::testing {
namespace {

using namespace proto;

std::string Text(const std::vector<uint8_t>& v, size_t from = 0) {
  return std::string(v.begin() + long(from), v.end());
}

TEST(HandshakeTest, GoAdvertisesSizeFlagsAndBlockSizes) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  ASSERT_TRUE(c.SendOption(kOptStructuredReply, {}));
  ASSERT_EQ(c.ReadOptionReply()->type, kRepAck);
  ASSERT_TRUE(c.SendOption(kOptGo, RawClient::InfoData("disk", {kInfoName, kInfoDescription, 999})));
  Negotiated n;
  std::vector<OptionReply> all;
  ASSERT_EQ(c.ReadInfoReplies(&n, &all), kRepAck);
  EXPECT_EQ(n.size, 16u << 20);
  EXPECT_EQ(n.flags, kTxHasFlags | kTxSendFlush | kTxSendFua | kTxSendTrim | kTxSendWriteZeroes |
                         kTxSendDf | kTxCanMultiConn | kTxSendCache | kTxSendFastZero);
  EXPECT_EQ(n.min_block, 512u);
  EXPECT_EQ(n.preferred_block, 4096u);
  EXPECT_EQ(n.max_block, 32u << 20);
  ASSERT_GE(all.size(), 4u);
  EXPECT_EQ(LoadBe16(all[0].payload.data()), kInfoExport);  // INFO_EXPORT comes first
  bool name = false, description = false;
  for (const OptionReply& r : all) {
    if (r.type != kRepInfo) continue;
    if (LoadBe16(r.payload.data()) == kInfoName) name = Text(r.payload, 2) == "disk";
    if (LoadBe16(r.payload.data()) == kInfoDescription) description = Text(r.payload, 2) == "test disk";
  }
  EXPECT_TRUE(name);
  EXPECT_TRUE(description);
}

TEST(HandshakeTest, WithoutStructuredRepliesNoDfAndReadOnlyDropsWrites) {
  HarnessOptions o;
  o.read_only = true;
  ServerHarness h(o);
  RawClient c(h.Connect());
  auto n = c.Connect(/*structured=*/false);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->flags, kTxHasFlags | kTxReadOnly | kTxSendFlush | kTxSendFua | kTxCanMultiConn |
                          kTxSendCache);
}

TEST(HandshakeTest, UnknownClientFlagBitClosesTheConnection) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(0x7));
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HandshakeTest, BadOptionMagicClosesTheConnection) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  ASSERT_TRUE(c.SendOption(kOptList, {}, /*magic=*/0x1122334455667788));
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HandshakeTest, OverlongOptionClosesTheConnection) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  ASSERT_TRUE(c.Send(Bytes().U64(kIHaveOpt).U32(kOptGo).U32(1u << 30).vec()));
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HandshakeTest, UnknownOptionsAndMetaContextAreUnsupportedAndNegotiationGoesOn) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  for (uint32_t code : {uint32_t{42}, kOptSetMetaContext, kOptExtendedHeaders}) {
    ASSERT_TRUE(c.SendOption(code, Bytes().U32(7).vec()));
    auto r = c.ReadOptionReply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->option, code);
    EXPECT_EQ(r->type, kRepErrUnsup);
  }
  ASSERT_TRUE(c.SendOption(kOptGo, RawClient::InfoData("", {})));
  Negotiated n;
  EXPECT_EQ(c.ReadInfoReplies(&n), kRepAck);
  EXPECT_EQ(n.size, 16u << 20);
}

TEST(HandshakeTest, StartTlsIsRefusedByPolicyAndDataOnNoDataOptionsIsInvalid) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  ASSERT_TRUE(c.SendOption(kOptStartTls, {}));
  EXPECT_EQ(c.ReadOptionReply()->type, kRepErrPolicy);
  ASSERT_TRUE(c.SendOption(kOptList, Bytes().U8(1).vec()));
  EXPECT_EQ(c.ReadOptionReply()->type, kRepErrInvalid);
  ASSERT_TRUE(c.SendOption(kOptStructuredReply, {}));
  EXPECT_EQ(c.ReadOptionReply()->type, kRepAck);
  ASSERT_TRUE(c.SendOption(kOptStructuredReply, {}));  // a second time
  EXPECT_EQ(c.ReadOptionReply()->type, kRepErrInvalid);
}

TEST(HandshakeTest, ListShowsTheExportThenAck) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  ASSERT_TRUE(c.SendOption(kOptList, {}));
  auto server = c.ReadOptionReply();
  ASSERT_TRUE(server);
  ASSERT_EQ(server->type, kRepServer);
  ASSERT_EQ(LoadBe32(server->payload.data()), 4u);
  EXPECT_EQ(Text(server->payload, 4), "disktest disk");
  EXPECT_EQ(c.ReadOptionReply()->type, kRepAck);
}

TEST(HandshakeTest, UnknownExportIsErrUnknownForInfoAndGoStaysInNegotiation) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  Negotiated n;
  ASSERT_TRUE(c.SendOption(kOptInfo, RawClient::InfoData("nope", {})));
  EXPECT_EQ(c.ReadInfoReplies(&n), kRepErrUnknown);
  ASSERT_TRUE(c.SendOption(kOptGo, RawClient::InfoData("nope", {})));
  EXPECT_EQ(c.ReadInfoReplies(&n), kRepErrUnknown);
  ASSERT_TRUE(c.SendOption(kOptInfo, RawClient::InfoData("disk", {})));
  EXPECT_EQ(c.ReadInfoReplies(&n), kRepAck);
  ASSERT_TRUE(c.SendOption(kOptGo, Bytes().U32(99).U16(0).vec()));  // name overruns
  EXPECT_EQ(c.ReadInfoReplies(&n), kRepErrInvalid);
  ASSERT_TRUE(c.SendOption(kOptGo, RawClient::InfoData("disk", {})));
  EXPECT_EQ(c.ReadInfoReplies(&n), kRepAck);
  EXPECT_EQ(n.size, 16u << 20);
}

TEST(HandshakeTest, ExportNamePadsUnlessNoZeroes) {
  for (uint32_t flags : {1u, 3u}) {
    ServerHarness h;
    RawClient c(h.Connect());
    ASSERT_TRUE(c.ReadGreeting());
    ASSERT_TRUE(c.SendClientFlags(flags));
    ASSERT_TRUE(c.SendOption(kOptExportName, Bytes().Str("disk").vec()));
    const size_t len = flags == 3 ? 10 : 134;
    auto reply = c.Recv(len);
    ASSERT_TRUE(reply);
    EXPECT_EQ(LoadBe64(reply->data()), 16u << 20);
    EXPECT_EQ(LoadBe16(reply->data() + 8) & kTxSendDf, 0);
    // Transmission follows at once: a FLUSH is answered.
    ASSERT_TRUE(c.SendRequest(kCmdFlush, 5, 0, 0));
    auto r = c.ReadSimpleReply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->cookie, 5u);
    EXPECT_EQ(r->error, 0u);
  }
}

TEST(HandshakeTest, ExportNameForAnUnknownExportClosesTheConnection) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  ASSERT_TRUE(c.SendOption(kOptExportName, Bytes().Str("other").vec()));
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HandshakeTest, AbortIsAckedThenClosed) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  ASSERT_TRUE(c.SendOption(kOptAbort, Bytes().U32(1).vec()));  // data is ignored
  auto r = c.ReadOptionReply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, kRepAck);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HandshakeTest, NonFixedNewstyleClientMayOnlyUseExportName) {
  ServerHarness h;
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(0));
  ASSERT_TRUE(c.SendOption(kOptList, {}));
  EXPECT_EQ(c.ReadOptionReply()->type, kRepErrInvalid);
  ASSERT_TRUE(c.SendOption(kOptExportName, {}));
  EXPECT_TRUE(c.Recv(134));
}

TEST(HandshakeTest, OptionBudgetEndsAnEndlessNegotiation) {
  HarnessOptions o;
  o.session.max_options = 5;
  ServerHarness h(o);
  RawClient c(h.Connect());
  ASSERT_TRUE(c.ReadGreeting());
  ASSERT_TRUE(c.SendClientFlags(3));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.SendOption(kOptList, {}));
    ASSERT_EQ(c.ReadOptionReply()->type, kRepServer);
    ASSERT_EQ(c.ReadOptionReply()->type, kRepAck);
  }
  c.SendOption(kOptList, {});
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HandshakeTest, EveryConnectionLogsOneLineOnOpenAndOneOnClose) {
  ServerHarness h;
  {
    RawClient c(h.Connect());
    ASSERT_TRUE(c.Connect());
  }
  h.Stop();
  const auto log = h.log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_NE(log[0].find("test#1 opened"), std::string::npos) << log[0];
  EXPECT_NE(log[1].find("test#1 closed (client closed)"), std::string::npos) << log[1];
}

}  // namespace
}  // namespace meshraid::exports::testing
