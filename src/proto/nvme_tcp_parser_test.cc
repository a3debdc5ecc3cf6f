// The two-step receive parser: every PDU type round-trips through the encoders at every digest
// and padding setting; every kind of malformed header is refused with the FES and FEI it must
// report; a flipped bit in a digested header is FES 3; TermReqs are never answered.
#include "proto/nvme_tcp_parser.h"

#include <gtest/gtest.h>

#include "proto/nvme_test_bytes.h"

namespace meshraid::proto::nvme {
namespace {

using testing::LeBytes;
using testing::PokeLe;
using V = std::vector<uint8_t>;

ReceiveContext Controller(bool hd = false, bool dd = false) {
  ReceiveContext c;
  c.receiver = Role::kController;
  c.initialized = true;
  c.header_digest = hd;
  c.data_digest = dd;
  c.max_in_capsule_data = 16384;
  c.max_data_per_pdu = 65536;
  return c;
}

ReceiveContext Host(bool hd = false, bool dd = false) {
  ReceiveContext c = Controller(hd, dd);
  c.receiver = Role::kHost;
  return c;
}

std::span<const uint8_t, 8> Common(const V& v) { return std::span<const uint8_t, 8>(v.data(), 8); }

// The header bytes of an encoded prefix (without padding).
V HeaderOf(const PduPrefix& p, const PduFrame& f) {
  return V(p.buf.begin(), p.buf.begin() + f.header_size);
}

// Frames and decodes an encoded PDU; fails the test on refusal.
Pdu Receive(const PduPrefix& p, const ReceiveContext& ctx, PduFrame* frame_out = nullptr) {
  const V bytes(p.bytes().begin(), p.bytes().end());
  const PduResult<PduFrame> f = FramePdu(Common(bytes), ctx);
  EXPECT_TRUE(f.ok()) << f.error().message;
  if (!f.ok()) return Pdu{};
  EXPECT_EQ(f->header_size + f->padding, p.size);
  EXPECT_EQ(f->data_length, p.data_length);
  EXPECT_EQ(f->data_digest, p.data_digest);
  EXPECT_EQ(f->plen, p.plen);
  if (frame_out) *frame_out = *f;
  const PduResult<Pdu> d = DecodePduHeader(HeaderOf(p, *f), ctx);
  EXPECT_TRUE(d.ok()) << d.error().message;
  return d.ok() ? *d : Pdu{};
}

TEST(NvmeTcpParserTest, EveryPduRoundTripsAtEveryDigestAndPadding) {
  Sqe sqe;
  sqe.opcode = kIoWrite;
  sqe.flags = kPsdtSgl;
  sqe.cid = 77;
  sqe.sgl1 = {0, 512, kSglInCapsule};
  const Cqe cqe{1, 2, 3, 4, 77, 0x8101};
  for (int hd = 0; hd < 2; ++hd) {
    for (int dd = 0; dd < 2; ++dd) {
      for (uint8_t pda : {0, 1, 7, 31}) {
        SCOPED_TRACE(::testing::Message() << "hd " << hd << " dd " << dd << " pda " << int(pda));
        const TxOptions o{hd != 0, dd != 0, pda};
        ReceiveContext c = Controller(hd, dd), h = Host(hd, dd);
        c.pda = h.pda = pda;

        auto cmd = EncodeCapsuleCmd(sqe, 512, o);
        ASSERT_TRUE(cmd.ok());
        PduFrame f;
        EXPECT_EQ(Receive(*cmd, c, &f), Pdu(CapsuleCmd{sqe}));
        EXPECT_EQ(f.data_length, 512u);
        EXPECT_EQ(f.pdo % ((pda + 1) * 4), 0);
        auto bare = EncodeCapsuleCmd(sqe, 0, o);
        ASSERT_TRUE(bare.ok());
        EXPECT_EQ(Receive(*bare, c, &f), Pdu(CapsuleCmd{sqe}));
        EXPECT_EQ(f.data_length, 0u);
        EXPECT_EQ(f.pdo, 0);

        const H2CData h2c{77, 9, 4096, 8192, true};
        auto h2c_p = EncodeH2CData(h2c, o);
        ASSERT_TRUE(h2c_p.ok());
        EXPECT_EQ(Receive(*h2c_p, c), Pdu(h2c));

        EXPECT_EQ(Receive(EncodeCapsuleResp(cqe, o), h), Pdu(CapsuleResp{cqe}));
        const C2HData c2h{77, 0, 65536, true, true};
        auto c2h_p = EncodeC2HData(c2h, o);
        ASSERT_TRUE(c2h_p.ok());
        EXPECT_EQ(Receive(*c2h_p, h), Pdu(c2h));
        const R2T r2t{77, 9, 0, 1u << 20};
        EXPECT_EQ(Receive(EncodeR2T(r2t, o), h), Pdu(r2t));
      }
    }
  }
}

TEST(NvmeTcpParserTest, InitializationPdus) {
  ReceiveContext c;  // controller, not initialized
  const ICReq req{0, 0, true, false, 0};
  EXPECT_EQ(Receive(EncodeICReq(req), c), Pdu(req));
  ReceiveContext h;
  h.receiver = Role::kHost;
  h.header_digest = true;  // what the host asked for
  const ICResp resp{0, 0, true, false, 4096};
  EXPECT_EQ(Receive(EncodeICResp(resp), h), Pdu(resp));
  // A subset of what was requested is accepted.
  h.data_digest = true;
  EXPECT_EQ(Receive(EncodeICResp(resp), h), Pdu(resp));
}

TEST(NvmeTcpParserTest, TermReqIsDecodedWithItsErrorHeader) {
  TermReq t;
  t.fes = kFesHeaderDigestError;
  t.fei = 0xDEADBEEF;
  t.error_data_length = 24;
  for (size_t i = 0; i < 24; ++i) t.error_data[i] = uint8_t(i);
  ReceiveContext h = Host();
  h.initialized = false;  // a controller refusing our ICReq answers before initialization
  PduFrame f;
  EXPECT_EQ(Receive(EncodeTermReq(Role::kController, t), h, &f), Pdu(t));
  EXPECT_EQ(f.header_size, 48u);  // the whole TermReq is header
  EXPECT_EQ(Receive(EncodeTermReq(Role::kHost, t), Controller()), Pdu(t));
}

struct Bad {
  const char* name;
  V header;  // at least the 8-byte common header
  ReceiveContext ctx;
  uint16_t fes;
  uint32_t fei;
  bool term_req = true;
};

V CommonHeader(uint8_t type, uint8_t flags, uint8_t hlen, uint8_t pdo, uint32_t plen) {
  return LeBytes().U8(type).U8(flags).U8(hlen).U8(pdo).U32(plen);
}

TEST(NvmeTcpParserTest, FramingRefusals) {
  ReceiveContext fresh;  // controller before ICReq
  ReceiveContext fresh_host;
  fresh_host.receiver = Role::kHost;
  ReceiveContext small = Controller();
  small.max_in_capsule_data = 4096;
  small.max_data_per_pdu = 8192;
  ReceiveContext aligned = Controller();
  aligned.pda = 1;  // 8-byte alignment
  const std::vector<Bad> cases = {
      {"unknown type 0x08", CommonHeader(0x08, 0, 24, 0, 24), Controller(), 1, 0},
      {"unknown type 0xFF", CommonHeader(0xFF, 0, 24, 0, 24), Host(), 1, 0},
      {"C2H type at a controller", CommonHeader(kPduCapsuleResp, 0, 24, 0, 24), Controller(), 1, 0},
      {"H2C type at a host", CommonHeader(kPduCapsuleCmd, 0, 72, 0, 72), Host(), 1, 0},
      {"R2T at a controller", CommonHeader(kPduR2T, 0, 24, 0, 24), Controller(), 1, 0},
      {"H2CData at a host", CommonHeader(kPduH2CData, 4, 24, 24, 28), Host(), 1, 0},
      {"C2HTermReq at a controller", CommonHeader(kPduC2HTermReq, 0, 24, 0, 24), Controller(), 1,
       0, false},
      {"capsule before ICReq", CommonHeader(kPduCapsuleCmd, 0, 72, 0, 72), fresh, 2, 0},
      {"response before ICResp", CommonHeader(kPduCapsuleResp, 0, 24, 0, 24), fresh_host, 2, 0},
      {"second ICReq", CommonHeader(kPduICReq, 0, 128, 0, 128), Controller(), 2, 0},
      {"ICResp after init", CommonHeader(kPduICResp, 0, 128, 0, 128), Host(), 2, 0},
      {"ICReq with HDGSTF", CommonHeader(kPduICReq, 1, 128, 0, 128), fresh, 1, 1},
      {"LAST_PDU on a capsule", CommonHeader(kPduCapsuleCmd, 4, 72, 0, 72), Controller(), 1, 1},
      {"SUCCESS on H2CData", CommonHeader(kPduH2CData, 0xC, 24, 24, 28), Controller(), 1, 1},
      {"undefined flag bit 4", CommonHeader(kPduC2HData, 0x14, 24, 24, 28), Host(), 1, 1},
      {"DDGSTF on R2T", CommonHeader(kPduR2T, 2, 24, 0, 28), Host(false, true), 1, 1},
      {"HDGSTF not negotiated", CommonHeader(kPduCapsuleCmd, 1, 72, 0, 76), Controller(), 1, 1},
      {"HDGSTF missing", CommonHeader(kPduCapsuleCmd, 0, 72, 0, 72), Controller(true), 1, 1},
      {"DDGSTF not negotiated", CommonHeader(kPduH2CData, 6, 24, 24, 32), Controller(), 1, 1},
      {"DDGSTF missing on data", CommonHeader(kPduH2CData, 4, 24, 24, 28), Controller(false, true),
       1, 1},
      {"DDGSTF without data", CommonHeader(kPduCapsuleCmd, 2, 72, 0, 76), Controller(false, true),
       1, 1},
      {"C2HData SUCCESS without LAST", CommonHeader(kPduC2HData, 8, 24, 24, 28), Host(), 1, 1},
      {"capsule hlen 71", CommonHeader(kPduCapsuleCmd, 0, 71, 0, 71), Controller(), 1, 2},
      {"ICReq hlen 127", CommonHeader(kPduICReq, 0, 127, 0, 128), fresh, 1, 2},
      {"R2T hlen 28", CommonHeader(kPduR2T, 0, 28, 0, 28), Host(), 1, 2},
      {"ICReq pdo 1", CommonHeader(kPduICReq, 0, 128, 1, 128), fresh, 1, 3},
      {"CapsuleResp pdo 24", CommonHeader(kPduCapsuleResp, 0, 24, 24, 28), Host(), 1, 3},
      {"H2CData pdo 0", CommonHeader(kPduH2CData, 4, 24, 0, 28), Controller(), 1, 3},
      {"pdo inside the header", CommonHeader(kPduCapsuleCmd, 0, 72, 40, 100), Controller(), 1, 3},
      {"pdo inside the header digest", CommonHeader(kPduCapsuleCmd, 1, 72, 72, 100),
       Controller(true), 1, 3},
      {"pdo not aligned to PDA", CommonHeader(kPduCapsuleCmd, 0, 72, 76, 100), aligned, 1, 3},
      {"ICReq plen 129", CommonHeader(kPduICReq, 0, 128, 0, 129), fresh, 1, 4},
      {"capsule without data, plen too long", CommonHeader(kPduCapsuleCmd, 0, 72, 0, 100),
       Controller(), 1, 4},
      {"capsule plen below hlen", CommonHeader(kPduCapsuleCmd, 0, 72, 0, 8), Controller(), 1, 4},
      {"CapsuleResp plen 28", CommonHeader(kPduCapsuleResp, 0, 24, 0, 28), Host(), 1, 4},
      {"data offset at plen", CommonHeader(kPduH2CData, 4, 24, 24, 24), Controller(), 1, 4},
      {"only a data digest after pdo", CommonHeader(kPduC2HData, 6, 24, 24, 28), Host(false, true),
       1, 4},
      {"in-capsule data above the limit", CommonHeader(kPduCapsuleCmd, 0, 72, 72, 72 + 4097),
       small, 5, 0},
      {"H2CData above MAXH2CDATA", CommonHeader(kPduH2CData, 4, 24, 24, 24 + 8193), small, 5, 0},
      {"C2HData above the host's limit", CommonHeader(kPduC2HData, 4, 24, 24, 24 + (1u << 20)),
       Host(), 5, 0},
      {"TermReq plen 23", CommonHeader(kPduH2CTermReq, 0, 24, 0, 23), Controller(), 1, 4, false},
      {"TermReq plen 153", CommonHeader(kPduC2HTermReq, 0, 24, 0, 153), Host(), 1, 4, false},
      {"TermReq with a flag", CommonHeader(kPduC2HTermReq, 1, 24, 0, 24), Host(), 1, 1, false},
      {"TermReq hlen 28", CommonHeader(kPduH2CTermReq, 0, 28, 0, 28), Controller(), 1, 2, false},
      {"TermReq pdo 24", CommonHeader(kPduH2CTermReq, 0, 24, 24, 30), Controller(), 1, 3, false},
  };
  for (const Bad& b : cases) {
    SCOPED_TRACE(b.name);
    const PduResult<PduFrame> f = FramePdu(Common(b.header), b.ctx);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.error().fes, b.fes);
    EXPECT_EQ(f.error().fei, b.fei);
    EXPECT_EQ(f.error().send_term_req, b.term_req);
    EXPECT_FALSE(f.error().message.empty());
    // Step 2 refuses the same header the same way.
    const PduResult<Pdu> d = DecodePduHeader(b.header, b.ctx);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error(), f.error());
  }
}

TEST(NvmeTcpParserTest, MessagesNameTheProblem) {
  const PduResult<PduFrame> f = FramePdu(Common(CommonHeader(kPduC2HData, 8, 24, 24, 28)), Host());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().message, "C2HData: SUCCESS flag without LAST_PDU");
  EXPECT_EQ(f.error().ToStatus().message(),
            "NVMe/TCP: C2HData: SUCCESS flag without LAST_PDU (FES 1, FEI 1)");
  EXPECT_EQ(f.error().ToStatus().code(), Code::kCorruption);
}

// A PDU header built from the encoder with one field poked.
V Poked(const PduPrefix& p, size_t at, uint64_t v, int n) {
  V b(p.buf.begin(), p.buf.begin() + p.size);
  PokeLe(b, at, v, n);
  return b;
}

TEST(NvmeTcpParserTest, HeaderFieldRefusals) {
  ReceiveContext fresh;  // controller before ICReq
  ReceiveContext fresh_host;
  fresh_host.receiver = Role::kHost;
  const PduPrefix icreq = EncodeICReq({});
  const PduPrefix icresp = EncodeICResp({0, 0, false, false, 8192});
  const PduPrefix h2c = *EncodeH2CData({1, 2, 0, 100, true}, {});
  const PduPrefix c2h = *EncodeC2HData({1, 0, 100, true, false}, {});
  const PduPrefix r2t = EncodeR2T({1, 2, 0, 100}, {});
  const std::vector<Bad> cases = {
      {"ICReq PFV 1", Poked(icreq, 8, 1, 2), fresh, 6, 8},
      {"ICReq HPDA 32", Poked(icreq, 10, 32, 1), fresh, 1, 10},
      {"ICReq reserved digest bit", Poked(icreq, 11, 0x04, 1), fresh, 1, 11},
      {"ICResp PFV 1", Poked(icresp, 8, 1, 2), fresh_host, 6, 8},
      {"ICResp CPDA 255", Poked(icresp, 10, 255, 1), fresh_host, 1, 10},
      {"ICResp digest not requested", Poked(icresp, 11, 0x01, 1), fresh_host, 6, 11},
      {"ICResp MAXH2CDATA 4095", Poked(icresp, 12, 4095, 4), fresh_host, 1, 12},
      {"ICResp MAXH2CDATA 4098", Poked(icresp, 12, 4098, 4), fresh_host, 1, 12},
      {"ICResp MAXH2CDATA 0", Poked(icresp, 12, 0, 4), fresh_host, 1, 12},
      {"H2CData DATAL 0", Poked(h2c, 16, 0, 4), Controller(), 1, 16},
      {"H2CData DATAL beyond plen", Poked(h2c, 16, 101, 4), Controller(), 1, 16},
      {"C2HData DATAL short of plen", Poked(c2h, 16, 99, 4), Host(), 1, 16},
      {"C2HData offset overflows", Poked(c2h, 12, 0xFFFFFFF0, 4), Host(), 4, 0},
      {"R2T R2TL 0", Poked(r2t, 16, 0, 4), Host(), 1, 16},
      {"R2T offset overflows", Poked(r2t, 12, 0xFFFFFFFF, 4), Host(), 4, 0},
  };
  for (const Bad& b : cases) {
    SCOPED_TRACE(b.name);
    const PduResult<PduFrame> f = FramePdu(Common(b.header), b.ctx);
    ASSERT_TRUE(f.ok()) << f.error().message;  // the common header is fine
    const PduResult<Pdu> d = DecodePduHeader(V(b.header.begin(), b.header.begin() + f->header_size),
                                             b.ctx);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().fes, b.fes);
    EXPECT_EQ(d.error().fei, b.fei);
    EXPECT_TRUE(d.error().send_term_req);
  }
  // A header of the wrong size is refused, not read past.
  const PduResult<Pdu> short_hdr = DecodePduHeader(V(h2c.buf.begin(), h2c.buf.begin() + 20), Controller());
  ASSERT_FALSE(short_hdr.ok());
  EXPECT_EQ(short_hdr.error().fes, kFesInvalidHeaderField);
  EXPECT_FALSE(DecodePduHeader(V(4, 0), Controller()).ok());
}

TEST(NvmeTcpParserTest, AnyFlippedBitInADigestedHeaderIsFes3) {
  Sqe sqe;
  sqe.opcode = kIoRead;
  sqe.flags = kPsdtSgl;
  sqe.nsid = 1;
  const PduPrefix p = *EncodeCapsuleCmd(sqe, 0, {true, false, 0});
  const ReceiveContext ctx = Controller(true);
  const V good(p.buf.begin(), p.buf.begin() + p.size);
  ASSERT_TRUE(DecodePduHeader(good, ctx).ok());
  // Every bit after the common header, digest included (a flip in the common header changes
  // the framing and is refused earlier).
  for (size_t bit = 8 * 8; bit < good.size() * 8; ++bit) {
    V bad = good;
    bad[bit / 8] ^= uint8_t(1u << (bit % 8));
    const PduResult<Pdu> d = DecodePduHeader(bad, ctx);
    ASSERT_FALSE(d.ok()) << bit;
    EXPECT_EQ(d.error().fes, kFesHeaderDigestError) << bit;
    EXPECT_EQ(d.error().fei, testing::LeAt(bad, 72, 4)) << bit;  // the digest we received
  }
  // Flips in the common header are refused too, with some FES.
  for (size_t bit = 0; bit < 64; ++bit) {
    V bad = good;
    bad[bit / 8] ^= uint8_t(1u << (bit % 8));
    EXPECT_FALSE(DecodePduHeader(bad, ctx).ok()) << bit;
  }
}

TEST(NvmeTcpParserTest, MakeTermReqWithNothingReceivedQuotesNothing) {
  const PduError e{kFesDataOutOfRange, 0, true, "test"};
  const TermReq t = MakeTermReq(e, {});
  EXPECT_EQ(t.error_data_length, 0u);
  EXPECT_EQ(t.fes, kFesDataOutOfRange);
}

TEST(NvmeTcpParserTest, MakeTermReqQuotesAtMost128Bytes) {
  const PduError e{kFesInvalidHeaderField, 2, true, "header length wrong for the PDU type"};
  V received(200);
  for (size_t i = 0; i < received.size(); ++i) received[i] = uint8_t(i);
  const TermReq t = MakeTermReq(e, received);
  EXPECT_EQ(t.fes, 1);
  EXPECT_EQ(t.fei, 2u);
  EXPECT_EQ(t.error_data_length, 128);
  EXPECT_EQ(V(t.error_header().begin(), t.error_header().end()),
            V(received.begin(), received.begin() + 128));
  EXPECT_EQ(MakeTermReq(e, std::span<const uint8_t>(received).first(8)).error_data_length, 8);
  // What goes on the wire: a C2HTermReq of 24 + 128 bytes quoting the bad header.
  const PduPrefix p = EncodeTermReq(Role::kController, t);
  EXPECT_EQ(p.plen, 152u);
  EXPECT_EQ(p.buf[0], kPduC2HTermReq);
  EXPECT_EQ(p.buf[24], 0);
  EXPECT_EQ(p.buf[151], 127);
}

TEST(NvmeTcpParserTest, AcceptsPaddingBeyondTheAlignment) {
  // pdo 80 for a 72-byte header with PDA 0: 8 bytes of padding to skip.
  const V h = CommonHeader(kPduCapsuleCmd, 0, 72, 80, 80 + 16);
  const PduResult<PduFrame> f = FramePdu(Common(h), Controller());
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->header_size, 72u);
  EXPECT_EQ(f->padding, 8u);
  EXPECT_EQ(f->data_length, 16u);
  EXPECT_EQ(f->remaining_header(), 64u);
}

}  // namespace
}  // namespace meshraid::proto::nvme
