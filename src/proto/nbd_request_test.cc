// Transmission codec: request header bytes, the incremental decoder at every split point, and
// byte-exact reply headers.
#include "proto/nbd_request.h"

#include <gtest/gtest.h>

#include "proto/nbd_reply.h"
#include "proto/nbd_test_bytes.h"

namespace meshraid::proto {
namespace {

using testing::Bytes;
using V = std::vector<uint8_t>;

template <size_t N>
V Vec(const std::array<uint8_t, N>& a) { return V(a.begin(), a.end()); }

TEST(NbdRequestTest, HeaderBytes) {
  const Request r{kCmdFlagFua, kCmdWrite, 0x0102030405060708, 0x1000, 0x200};
  const V expected = {0x25, 0x60, 0x95, 0x13, 0x00, 0x01, 0x00, 0x01,  // magic, flags, type
                      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // cookie
                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,  // offset
                      0x00, 0x00, 0x02, 0x00};                         // length
  EXPECT_EQ(Vec(EncodeRequest(r)), expected);
  RequestDecoder d;
  FeedResult f = d.Feed(expected);
  EXPECT_EQ(f.consumed, 28u);
  EXPECT_EQ(f.state, DecodeState::kComplete);
  EXPECT_EQ(d.request(), r);
  EXPECT_EQ(d.request().payload_length(), 0x200u);
  EXPECT_TRUE(d.request().known_type());
  EXPECT_EQ(d.request().unknown_flags(), 0);
}

TEST(NbdRequestTest, Classification) {
  EXPECT_EQ((Request{0, kCmdRead, 0, 0, 4096}).payload_length(), 0u);
  EXPECT_EQ((Request{0, kCmdWriteZeroes, 0, 0, 4096}).payload_length(), 0u);
  EXPECT_FALSE((Request{0, kCmdResize, 0, 0, 0}).known_type());
  EXPECT_FALSE((Request{0, 0xffff, 0, 0, 0}).known_type());
  EXPECT_EQ((Request{0xffe1, kCmdRead, 0, 0, 0}).unknown_flags(), 0xffe0);
}

TEST(NbdRequestTest, EveryByteBoundaryOfThreeRequests) {
  const std::vector<Request> reqs = {{0, kCmdRead, 1, 0, 4096},
                                     {kCmdFlagFua, kCmdWrite, ~0ull, 1ull << 40, 512},
                                     {0, kCmdDisc, 3, 0, 0}};
  V stream;
  for (const Request& r : reqs) {
    const auto b = EncodeRequest(r);
    stream.insert(stream.end(), b.begin(), b.end());
  }
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    RequestDecoder d;
    std::vector<Request> got;
    for (std::span<const uint8_t> piece : {std::span<const uint8_t>(stream).first(cut),
                                           std::span<const uint8_t>(stream).subspan(cut)}) {
      while (!piece.empty()) {
        FeedResult r = d.Feed(piece);
        ASSERT_GT(r.consumed, 0u);
        ASSERT_LE(r.consumed, piece.size());
        piece = piece.subspan(r.consumed);
        if (r.state == DecodeState::kComplete) got.push_back(d.request());
      }
    }
    EXPECT_EQ(got, reqs) << "cut " << cut;
    EXPECT_TRUE(d.at_boundary());
  }
}

TEST(NbdRequestTest, NeededAndBoundary) {
  RequestDecoder d;
  EXPECT_TRUE(d.at_boundary());
  EXPECT_EQ(d.needed(), 28u);
  const auto b = EncodeRequest({0, kCmdFlush, 9, 0, 0});
  EXPECT_EQ(d.Feed(std::span<const uint8_t>(b).first(10)).state, DecodeState::kNeedMore);
  EXPECT_EQ(d.needed(), 18u);
  EXPECT_FALSE(d.at_boundary());  // EOF here = truncated request
  EXPECT_EQ(d.Feed(std::span<const uint8_t>(b).subspan(10)).state, DecodeState::kComplete);
  EXPECT_TRUE(d.at_boundary());
}

TEST(NbdRequestTest, BadMagicIsSticky) {
  for (uint32_t magic : {0x12560953u, 0x25609514u, kExtendedRequestMagic, 0u}) {
    V b = Vec(EncodeRequest({0, kCmdRead, 1, 0, 512}));
    b[0] = uint8_t(magic >> 24), b[1] = uint8_t(magic >> 16), b[2] = uint8_t(magic >> 8),
    b[3] = uint8_t(magic);
    RequestDecoder d;
    EXPECT_EQ(d.Feed(b).state, DecodeState::kBadMagic);
    EXPECT_EQ(d.Feed(Vec(EncodeRequest({}))).consumed, 0u);
  }
}

TEST(NbdReplyTest, SimpleReplyBytes) {
  const V expected = {0x67, 0x44, 0x66, 0x98, 0x00, 0x00, 0x00, 0x16,
                      0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x01};
  EXPECT_EQ(Vec(EncodeSimpleReply(0xdeadbeef00000001, kNbdEinval)), expected);
}

TEST(NbdReplyTest, OffsetDataHeaderBytes) {
  auto h = EncodeOffsetDataHeader(7, 0x10000, 4096, true);
  ASSERT_TRUE(h.ok());
  const V expected = {0x66, 0x8e, 0x33, 0xef, 0x00, 0x01, 0x00, 0x01,  // magic, DONE, type 1
                      0, 0, 0, 0, 0, 0, 0, 7,                          // cookie
                      0x00, 0x00, 0x10, 0x08,                          // 8 + 4096
                      0, 0, 0, 0, 0, 0x01, 0x00, 0x00};                // offset
  EXPECT_EQ(Vec(*h), expected);
  EXPECT_EQ(Vec(*EncodeOffsetDataHeader(7, 0, 1, false))[5], 0x00);  // no DONE
  EXPECT_FALSE(EncodeOffsetDataHeader(7, 0, 0, true).ok());
  EXPECT_FALSE(EncodeOffsetDataHeader(7, 0, 0xfffffff8u, true).ok());
  EXPECT_TRUE(EncodeOffsetDataHeader(7, 0, 0xfffffff7u, true).ok());
}

TEST(NbdReplyTest, NoneChunkBytes) {
  EXPECT_EQ(Vec(EncodeNoneChunk(0x1122334455667788)),
            Bytes().U32(0x668e33ef).U16(1).U16(0).U64(0x1122334455667788).U32(0).vec());
}

TEST(NbdReplyTest, ErrorChunks) {
  auto e = EncodeErrorChunk(5, kNbdEio, "bad", std::nullopt, true);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, Bytes().U32(0x668e33ef).U16(1).U16(0x8001).U64(5).U32(9).U32(5).U16(3).Str("bad")
                    .vec());
  auto o = EncodeErrorChunk(5, kNbdEio, "", 0x2000, false);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(*o, Bytes().U32(0x668e33ef).U16(0).U16(0x8002).U64(5).U32(14).U32(5).U16(0)
                    .U64(0x2000).vec());
  EXPECT_FALSE(EncodeErrorChunk(5, kNbdOk, "x", std::nullopt, true).ok());
  EXPECT_FALSE(EncodeErrorChunk(5, kNbdEio, std::string(4097, 'm'), std::nullopt, true).ok());
}

}  // namespace
}  // namespace meshraid::proto
