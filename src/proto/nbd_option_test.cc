// Handshake codec: byte-exact greeting and option replies, client flags, the incremental option
// decoder at every split point, and option payload parsing.
#include "proto/nbd_option.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "proto/nbd_test_bytes.h"

namespace meshraid::proto {
namespace {

using testing::Bytes;
using V = std::vector<uint8_t>;

TEST(NbdHandshakeTest, GreetingBytes) {
  const V expected = {'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',
                      'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T', 0x00, 0x03};
  const auto g = EncodeServerGreeting();
  EXPECT_EQ(V(g.begin(), g.end()), expected);
}

TEST(NbdHandshakeTest, ClientFlags) {
  auto f = DecodeClientFlags(V{0, 0, 0, 3});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, (ClientFlags{true, true}));
  EXPECT_EQ(*DecodeClientFlags(V{0, 0, 0, 1}), (ClientFlags{true, false}));
  EXPECT_EQ(*DecodeClientFlags(V{0, 0, 0, 0}), (ClientFlags{false, false}));
  EXPECT_FALSE(DecodeClientFlags(V{0, 0, 0, 4}).ok());
  EXPECT_FALSE(DecodeClientFlags(V{0x80, 0, 0, 3}).ok());
  EXPECT_FALSE(DecodeClientFlags(V{0, 0, 3}).ok());
}

V OptionBytes(uint32_t code, const V& data) {
  return Bytes().Str("IHAVEOPT").U32(code).U32(uint32_t(data.size())).Append(data);
}

// Feeds `stream` in two pieces split at `cut`, collecting every completed option.
std::vector<Option> FeedSplit(const V& stream, size_t cut, OptionDecoder& d) {
  std::vector<Option> got;
  for (std::span<const uint8_t> piece : {std::span<const uint8_t>(stream).first(cut),
                                         std::span<const uint8_t>(stream).subspan(cut)}) {
    while (!piece.empty()) {
      FeedResult r = d.Feed(piece);
      EXPECT_LE(r.consumed, piece.size());
      EXPECT_TRUE(r.consumed > 0 || r.state != DecodeState::kNeedMore);
      piece = piece.subspan(r.consumed);
      if (r.state == DecodeState::kComplete) got.push_back(d.option());
      if (r.state == DecodeState::kBadMagic || r.state == DecodeState::kTooLong) return got;
    }
  }
  return got;
}

TEST(NbdOptionDecoderTest, EveryByteBoundary) {
  const Option go{kOptGo, Bytes().U32(3).Str("foo").U16(1).U16(kInfoBlockSize)};
  const Option sr{kOptStructuredReply, {}};
  const Option unknown{0x12345678, V(40, 0xab)};
  V stream = OptionBytes(sr.code, sr.data);
  for (const Option* o : {&go, &unknown}) {
    V b = OptionBytes(o->code, o->data);
    stream.insert(stream.end(), b.begin(), b.end());
  }
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    OptionDecoder d;
    EXPECT_EQ(FeedSplit(stream, cut, d), (std::vector<Option>{sr, go, unknown})) << cut;
    EXPECT_EQ(d.options_decoded(), 3u);
  }
}

TEST(NbdOptionDecoderTest, OneByteAtATimeReportsNeeded) {
  const V b = OptionBytes(kOptList, V{1, 2, 3});
  OptionDecoder d;
  EXPECT_EQ(d.needed(), 16u);
  for (size_t i = 0; i < b.size(); ++i) {
    FeedResult r = d.Feed(std::span<const uint8_t>(b).subspan(i, 1));
    EXPECT_EQ(r.consumed, 1u);
    if (i + 1 < b.size()) {
      EXPECT_EQ(r.state, DecodeState::kNeedMore);
      // The header comes first: until it is in, needed() counts only header bytes.
      EXPECT_EQ(d.needed(), i + 1 < kOptionHeaderSize ? kOptionHeaderSize - i - 1 : b.size() - i - 1);
    } else {
      EXPECT_EQ(r.state, DecodeState::kComplete);
    }
  }
  EXPECT_EQ(d.option(), (Option{kOptList, {1, 2, 3}}));
}

TEST(NbdOptionDecoderTest, BadMagicAndTooLongAreSticky) {
  OptionDecoder d;
  V bad = OptionBytes(kOptGo, {});
  bad[0] = 'J';
  EXPECT_EQ(d.Feed(bad).state, DecodeState::kBadMagic);
  EXPECT_EQ(d.Feed(OptionBytes(kOptGo, {})).state, DecodeState::kBadMagic);
  OptionDecoder small(8);
  FeedResult r = small.Feed(OptionBytes(kOptGo, V(9, 0)));
  EXPECT_EQ(r.state, DecodeState::kTooLong);
  EXPECT_EQ(r.consumed, kOptionHeaderSize);
  EXPECT_EQ(small.Feed(V{1}).consumed, 0u);
}

ParsedOption Parse(uint32_t code, const V& data, NegotiationState st = {}) {
  return ParseOption(Option{code, data}, st);
}

TEST(NbdParseOptionTest, GoWithRequests) {
  ParsedOption p = Parse(kOptGo, Bytes().U32(4).Str("disk").U16(3).U16(3).U16(1).U16(77));
  ASSERT_EQ(p.verdict, OptionVerdict::kProcess) << p.reason;
  EXPECT_EQ(p.kind, OptionKind::kGo);
  EXPECT_EQ(p.export_name, "disk");
  EXPECT_EQ(p.info_requests, (std::vector<uint16_t>{3, 1, 77}));
  EXPECT_TRUE(p.WantsInfo(kInfoBlockSize));
  EXPECT_FALSE(p.WantsInfo(kInfoDescription));
}

TEST(NbdParseOptionTest, InfoDefaultExportNoRequests) {
  ParsedOption p = Parse(kOptInfo, Bytes().U32(0).U16(0));
  EXPECT_EQ(p.verdict, OptionVerdict::kProcess);
  EXPECT_EQ(p.kind, OptionKind::kInfo);
  EXPECT_EQ(p.export_name, "");
  EXPECT_TRUE(p.info_requests.empty());
}

TEST(NbdParseOptionTest, ExportNameAndAbort) {
  ParsedOption p = Parse(kOptExportName, Bytes().Str("vol0"));
  EXPECT_EQ(p.verdict, OptionVerdict::kProcess);
  EXPECT_EQ(p.export_name, "vol0");
  EXPECT_EQ(Parse(kOptAbort, V{1, 2, 3}).verdict, OptionVerdict::kProcess);
  EXPECT_EQ(Parse(kOptList, {}).verdict, OptionVerdict::kProcess);
  EXPECT_EQ(Parse(kOptStructuredReply, {}).verdict, OptionVerdict::kProcess);
}

TEST(NbdOptionReplyTest, AckBytes) {
  const V expected = Bytes().U64(0x0003e889045565a9).U32(7).U32(1).U32(0);
  EXPECT_EQ(EncodeAck(kOptGo), expected);
  EXPECT_EQ(expected[0], 0x00);
  EXPECT_EQ(expected[7], 0xa9);
}

TEST(NbdOptionReplyTest, ServerReplyBytes) {
  auto r = EncodeServerReply("md0", "mirror");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Bytes().U64(kOptionReplyMagic).U32(3).U32(2).U32(4 + 3 + 6).U32(3).Str("md0")
                    .Str("mirror").vec());
  EXPECT_FALSE(EncodeServerReply(std::string(5000, 'x')).ok());
}

TEST(NbdOptionReplyTest, InfoReplies) {
  EXPECT_EQ(EncodeInfoExport(kOptGo, 0x123456789a, kTxSendFlush),
            Bytes().U64(kOptionReplyMagic).U32(7).U32(3).U32(12).U16(0).U64(0x123456789a)
                .U16(0x0005).vec());
  EXPECT_EQ(*EncodeInfoName(kOptInfo, "a"),
            Bytes().U64(kOptionReplyMagic).U32(6).U32(3).U32(3).U16(1).Str("a").vec());
  EXPECT_EQ(*EncodeInfoDescription(kOptGo, ""),
            Bytes().U64(kOptionReplyMagic).U32(7).U32(3).U32(2).U16(2).vec());
  auto bs = EncodeInfoBlockSize(kOptGo, {512, 4096, 32u << 20});
  ASSERT_TRUE(bs.ok());
  EXPECT_EQ(*bs, Bytes().U64(kOptionReplyMagic).U32(7).U32(3).U32(14).U16(3).U32(512).U32(4096)
                     .U32(32u << 20).vec());
}

TEST(NbdOptionReplyTest, BlockSizeRules) {
  EXPECT_TRUE(ValidateBlockSize({1, 4096, kDosSafeLength}).ok());
  EXPECT_TRUE(ValidateBlockSize({4096, 4096, 0xffffffff}).ok());
  EXPECT_FALSE(ValidateBlockSize({0, 4096, 1 << 20}).ok());           // min 0
  EXPECT_FALSE(ValidateBlockSize({131072, 131072, 1 << 20}).ok());    // min > 64 KiB
  EXPECT_FALSE(ValidateBlockSize({512, 256, 1 << 20}).ok());          // pref < 512
  EXPECT_FALSE(ValidateBlockSize({4096, 2048, 1 << 20}).ok());        // pref < min
  EXPECT_FALSE(ValidateBlockSize({512, 3000, 1 << 20}).ok());         // pref not 2^n
  EXPECT_FALSE(ValidateBlockSize({512, 4096, 2048}).ok());            // max < pref
  EXPECT_FALSE(ValidateBlockSize({4096, 4096, 4096 * 3 + 512}).ok()); // max % min
  EXPECT_FALSE(EncodeInfoBlockSize(kOptGo, {3, 4096, 1 << 20}).ok());
}

TEST(NbdOptionReplyTest, ErrorReply) {
  auto r = EncodeOptionError(kOptGo, kRepErrUnknown, "no such export");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Bytes().U64(kOptionReplyMagic).U32(7).U32(0x80000006).U32(14)
                    .Str("no such export").vec());
  EXPECT_FALSE(EncodeOptionError(kOptGo, kRepAck, "x").ok());
}

TEST(NbdOptionReplyTest, ExportNameReply) {
  const V with = EncodeExportNameReply(1 << 20, kTxSendFlush, false);
  EXPECT_EQ(with, Bytes().U64(1 << 20).U16(0x0005).Zeros(124).vec());
  EXPECT_EQ(with.size(), 134u);
  const V without = EncodeExportNameReply(1 << 20, kTxSendFlush, true);
  EXPECT_EQ(without, Bytes().U64(1 << 20).U16(0x0005).vec());
}

}  // namespace
}  // namespace meshraid::proto
