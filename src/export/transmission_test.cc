// The transmission phase against a live server: commands, replies (simple and structured)
// and each request rule of nbd-io.md §2 (items 13-29) that needs a session.
#include <gtest/gtest.h>

#include "export/nbd_test_harness.h"
#include "export/raw_nbd_client.h"

namespace meshraid::exports::testing {
namespace {

using namespace proto;

class TransmissionTest : public ::testing::Test {
 protected:
  void Open(bool structured, HarnessOptions o = {}) {
    h_ = std::make_unique<ServerHarness>(o);
    c_ = std::make_unique<RawClient>(h_->Connect());
    ASSERT_TRUE(c_->Connect(structured));
  }
  // Sends a request and reads a simple reply; returns its error (or -1 if none arrived).
  int64_t Simple(uint16_t type, uint64_t offset, uint32_t length, uint16_t flags = 0,
                 std::span<const uint8_t> payload = {}) {
    const uint64_t cookie = ++cookie_;
    if (!c_->SendRequest(type, cookie, offset, length, flags, payload)) return -1;
    auto r = c_->ReadSimpleReply();
    if (!r || r->cookie != cookie) return -1;
    return r->error;
  }
  std::unique_ptr<ServerHarness> h_;
  std::unique_ptr<RawClient> c_;
  uint64_t cookie_ = 0x1000;
};

TEST_F(TransmissionTest, WriteThenSimpleReadRoundTrip) {
  Open(/*structured=*/false);
  const auto data = Pattern(64 * 1024, 1);
  EXPECT_EQ(Simple(kCmdWrite, 8192, uint32_t(data.size()), 0, data), 0);
  EXPECT_EQ(h_->Peek(8192, data.size()), data);
  ASSERT_TRUE(c_->SendRequest(kCmdRead, 77, 8192, uint32_t(data.size())));
  auto r = c_->ReadSimpleRead(uint32_t(data.size()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first.cookie, 77u);
  EXPECT_EQ(r->first.error, 0u);
  EXPECT_EQ(r->second, data);
}

TEST_F(TransmissionTest, StructuredReadIsOneOffsetDataChunkWithDone) {
  Open(/*structured=*/true);
  const auto data = Pattern(4096, 2);
  EXPECT_EQ(Simple(kCmdWrite, 4096, 4096, 0, data), 0);  // non-READ replies stay simple
  ASSERT_TRUE(c_->SendRequest(kCmdRead, 9, 4096, 4096, kCmdFlagDf));
  auto ch = c_->ReadChunk();
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->cookie, 9u);
  EXPECT_EQ(ch->type, kReplyTypeOffsetData);
  EXPECT_EQ(ch->flags, kReplyFlagDone);
  ASSERT_EQ(ch->payload.size(), 8u + 4096);
  EXPECT_EQ(LoadBe64(ch->payload.data()), 4096u);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), ch->payload.begin() + 8));
}

TEST_F(TransmissionTest, StructuredReadErrorsAreErrorChunksNeverSimpleReplies) {
  Open(/*structured=*/true);
  ASSERT_TRUE(c_->SendRequest(kCmdRead, 3, 16u << 20, 512));  // past the end
  auto ch = c_->ReadChunk();
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->type, kReplyTypeError);
  EXPECT_EQ(ch->flags, kReplyFlagDone);
  EXPECT_EQ(ch->error(), kNbdEinval);
  ASSERT_TRUE(c_->SendRequest(kCmdRead, 4, 0, 0));  // zero length: a NONE chunk
  ch = c_->ReadChunk();
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->type, kReplyTypeNone);
  EXPECT_EQ(ch->flags, kReplyFlagDone);
}

TEST_F(TransmissionTest, OutOfRangeAndMisalignedGetTheRightErrno) {
  Open(/*structured=*/false);
  const uint64_t size = 16u << 20;
  EXPECT_EQ(Simple(kCmdRead, size - 512, 1024), kNbdEinval);
  EXPECT_EQ(Simple(kCmdTrim, size, 512), kNbdEinval);
  EXPECT_EQ(Simple(kCmdCache, ~0ull - 511, 1024), kNbdEinval);  // no 64-bit overflow
  EXPECT_EQ(Simple(kCmdWriteZeroes, size - 512, 4096), kNbdEnospc);
  const auto data = Pattern(1024, 3);
  EXPECT_EQ(Simple(kCmdWrite, size - 512, 1024, 0, data), kNbdEnospc);  // payload drained
  EXPECT_EQ(Simple(kCmdRead, 100, 512), kNbdEinval);
  EXPECT_EQ(Simple(kCmdWrite, 0, 100, 0, Pattern(100, 4)), kNbdEinval);
  EXPECT_EQ(Simple(kCmdRead, 0, (32u << 20) + 512), kNbdEoverflow);
  EXPECT_EQ(Simple(kCmdFlush, 0, 0), 0);  // the stream is still in sync
}

TEST_F(TransmissionTest, UnknownCommandsAndFlagsAreEinval) {
  Open(/*structured=*/false);
  EXPECT_EQ(Simple(42, 0, 0), kNbdEinval);
  EXPECT_EQ(Simple(kCmdBlockStatus, 0, 512), kNbdEinval);  // no meta context negotiated
  EXPECT_EQ(Simple(kCmdRead, 0, 512, 0x100), kNbdEinval);
  EXPECT_EQ(Simple(kCmdRead, 0, 512, kCmdFlagNoHole), kNbdEinval);
  EXPECT_EQ(Simple(kCmdRead, 0, 512, kCmdFlagDf), kNbdEinval);  // DF needs structured replies
  EXPECT_EQ(Simple(kCmdFlush, 0, 512), kNbdEinval);
  EXPECT_EQ(Simple(kCmdWrite, 0, 512, 0x40, Pattern(512, 5)), kNbdEinval);
  EXPECT_EQ(Simple(kCmdFlush, 0, 0, kCmdFlagFua), 0);  // FUA is accepted on anything
}

TEST_F(TransmissionTest, ReadOnlyExportRefusesWritesWithEpermAfterDrainingThePayload) {
  HarnessOptions o;
  o.read_only = true;
  Open(/*structured=*/false, o);
  EXPECT_EQ(Simple(kCmdWrite, 0, 4096, 0, Pattern(4096, 6)), kNbdEperm);
  EXPECT_EQ(Simple(kCmdTrim, 0, 4096), kNbdEinval);  // not advertised on a read-only export
  EXPECT_EQ(Simple(kCmdRead, 0, 0), 0);
  EXPECT_EQ(h_->counters().writes, 0u);
}

TEST_F(TransmissionTest, FlushFuaTrimZeroesAndCacheReachTheDevice) {
  Open(/*structured=*/false);
  const auto data = Pattern(8192, 7);
  EXPECT_EQ(Simple(kCmdWrite, 0, 8192, kCmdFlagFua, data), 0);
  EXPECT_EQ(Simple(kCmdFlush, 0, 0), 0);
  EXPECT_EQ(Simple(kCmdWriteZeroes, 0, 4096, kCmdFlagNoHole), 0);
  EXPECT_EQ(Simple(kCmdTrim, 4096, 4096), 0);
  EXPECT_EQ(Simple(kCmdCache, 0, 1u << 24), 0);
  const auto c = h_->counters();
  EXPECT_EQ(c.fua_writes, 1u);
  EXPECT_EQ(c.flushes, 1u);
  EXPECT_EQ(c.write_zeroes, 1u);
  EXPECT_EQ(c.discards, 1u);
  EXPECT_EQ(h_->Peek(0, 4096), std::vector<uint8_t>(4096, 0));
}

TEST_F(TransmissionTest, FastZeroIsRefusedQuicklyWithoutTouchingData) {
  Open(/*structured=*/false);
  const auto data = Pattern(4096, 8);
  EXPECT_EQ(Simple(kCmdWrite, 0, 4096, 0, data), 0);
  EXPECT_EQ(Simple(kCmdWriteZeroes, 0, 4096, kCmdFlagFastZero), kNbdEnotsup);
  EXPECT_EQ(h_->Peek(0, 4096), data);
  EXPECT_EQ(Simple(kCmdWriteZeroes, 0, 4096), 0);  // without the flag: never ENOTSUP
}

TEST_F(TransmissionTest, ZeroLengthRequestsSucceed) {
  Open(/*structured=*/false);
  EXPECT_EQ(Simple(kCmdWrite, 0, 0), 0);
  EXPECT_EQ(Simple(kCmdRead, 0, 0), 0);
  EXPECT_EQ(Simple(kCmdTrim, 0, 0), 0);
  EXPECT_EQ(Simple(kCmdWriteZeroes, 0, 0), 0);
}

TEST_F(TransmissionTest, BadRequestMagicIsAHardClose) {
  Open(/*structured=*/false);
  ASSERT_TRUE(c_->Send(Bytes().U32(0x25609514).U16(0).U16(0).U64(1).U64(0).U32(512).vec()));
  EXPECT_TRUE(c_->WaitClosed());
}

TEST_F(TransmissionTest, WriteTooLargeToDrainIsAHardClose) {
  Open(/*structured=*/false);
  ASSERT_TRUE(c_->SendRequest(kCmdWrite, 1, 0, (128u << 20) + 512));
  EXPECT_TRUE(c_->WaitClosed());
}

TEST_F(TransmissionTest, OversizedButDrainableWriteIsEinvalAndTheStreamStaysInSync) {
  Open(/*structured=*/false);
  const auto big = Pattern((33u << 20), 9);
  EXPECT_EQ(Simple(kCmdWrite, 0, uint32_t(big.size()), 0, big), kNbdEinval);
  EXPECT_EQ(Simple(kCmdFlush, 0, 0), 0);
}

TEST_F(TransmissionTest, DiscGetsNoReplyAndClosesAfterwards) {
  Open(/*structured=*/false);
  ASSERT_TRUE(c_->SendRequest(kCmdDisc, 1, 0, 0));
  // After DISC the server may already have closed, so this send may fail; either way the
  // request must not be executed.
  (void)c_->SendRequest(kCmdFlush, 2, 0, 0);
  EXPECT_TRUE(c_->WaitClosed());
  EXPECT_EQ(h_->counters().flushes, 0u);
}

TEST_F(TransmissionTest, EofMidPayloadDropsTheConnectionAndTheServerGoesOn) {
  Open(/*structured=*/false);
  ASSERT_TRUE(c_->SendRequest(kCmdWrite, 1, 0, 8192));
  ASSERT_TRUE(c_->Send(Pattern(1000, 10)));
  c_->ShutdownWrite();
  EXPECT_TRUE(c_->WaitClosed());
  EXPECT_EQ(h_->counters().writes, 0u);
  RawClient again(h_->Connect());
  ASSERT_TRUE(again.Connect(false));
  ASSERT_TRUE(again.SendRequest(kCmdFlush, 1, 0, 0));
  EXPECT_EQ(again.ReadSimpleReply()->error, 0u);
  h_->Stop();
  const auto log = h_->log();
  EXPECT_NE(log[1].find("in the middle of a write payload"), std::string::npos) << log[1];
}

TEST_F(TransmissionTest, EofMidHeaderAndEofAtABoundaryBothCloseQuietly) {
  Open(/*structured=*/false);
  ASSERT_TRUE(c_->Send(Bytes().U32(kRequestMagic).U16(0).vec()));
  c_->ShutdownWrite();
  EXPECT_TRUE(c_->WaitClosed());
  RawClient b(h_->Connect());
  ASSERT_TRUE(b.Connect(false));
  b.ShutdownWrite();
  EXPECT_TRUE(b.WaitClosed());
  h_->Stop();
  const auto log = h_->log();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_NE(log[1].find("middle of a request header"), std::string::npos) << log[1];
  EXPECT_NE(log[3].find("(client closed)"), std::string::npos) << log[3];
}

}  // namespace
}  // namespace meshraid::exports::testing
