// libFuzzer target for the NVMe/TCP receive parser (src/proto/nvme_tcp_parser.h). Input: one byte
// choosing the receiving side and its starting state (bit 0 host, bit 1 initialized, bit 2
// header digest, bit 3 data digest, bits 5:4 our PDA 0/1/3/31), one byte choosing the data
// limits, then the byte stream the peer sends. PDUs are taken one after another as a socket
// reader would: 8 bytes, FramePdu, the rest of the header, DecodePduHeader, then padding, data
// and data digest skipped; an accepted ICReq/ICResp initializes the connection with the
// negotiated digests. Invariants: never crash; a refusal carries a FES 1..6 and a message and
// its TermReq encodes; an accepted header re-encodes, through the encoders, to the bytes
// received (reserved bytes aside) with the same data length, digest flags and - when the pdo
// is the one our encoder would choose - the same pdo and plen.
// Seeds (tests/fuzz/corpus/nvme_pdu): real PDU streams made with the encoders, named after what
// they hold.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <utility>
#include <vector>

#include "proto/nvme_tcp.h"
#include "proto/nvme_tcp_parser.h"
#include "util/crc32c.h"
#include "util/endian.h"

using namespace meshraid;
using namespace meshraid::proto::nvme;

namespace {

// Reserved byte ranges [from, to) inside each PDU type's header: sent as zero, ignored on
// receipt, so they are the only header bytes allowed to differ after a re-encode.
std::vector<std::pair<size_t, size_t>> Reserved(uint8_t type) {
  switch (type) {
    case kPduICReq:
    case kPduICResp: return {{16, 128}};
    case kPduH2CTermReq:
    case kPduC2HTermReq: return {{14, 24}};
    case kPduCapsuleCmd: return {{8 + 36, 8 + 39}};  // SGL1 bytes 12..14
    case kPduC2HData: return {{10, 12}, {20, 24}};
    case kPduH2CData:
    case kPduR2T: return {{20, 24}};
    default: return {};
  }
}

uint32_t Align(const ReceiveContext& ctx) { return (uint32_t(ctx.pda) + 1) * 4; }

PduPrefix Reencode(const Pdu& pdu, const PduFrame& f, const ReceiveContext& ctx) {
  const TxOptions o{(f.flags & kFlagHdgst) != 0, ctx.data_digest, ctx.pda};
  const Role sender = ctx.receiver == Role::kHost ? Role::kController : Role::kHost;
  if (auto* p = std::get_if<ICReq>(&pdu)) return EncodeICReq(*p);
  if (auto* p = std::get_if<ICResp>(&pdu)) return EncodeICResp(*p);
  if (auto* p = std::get_if<TermReq>(&pdu)) return EncodeTermReq(sender, *p);
  if (auto* p = std::get_if<CapsuleCmd>(&pdu)) {
    auto r = EncodeCapsuleCmd(p->sqe, f.data_length, o);
    if (!r.ok()) abort();
    return *r;
  }
  if (auto* p = std::get_if<CapsuleResp>(&pdu)) return EncodeCapsuleResp(p->cqe, o);
  if (auto* p = std::get_if<H2CData>(&pdu)) {
    auto r = EncodeH2CData(*p, o);
    if (!r.ok()) abort();
    return *r;
  }
  if (auto* p = std::get_if<C2HData>(&pdu)) {
    auto r = EncodeC2HData(*p, o);
    if (!r.ok()) abort();
    return *r;
  }
  return EncodeR2T(std::get<R2T>(pdu), o);
}

// Zeroes reserved bytes, sets pdo/plen, and recomputes the header digest.
std::vector<uint8_t> Canonical(std::span<const uint8_t> header, const PduFrame& f) {
  std::vector<uint8_t> b(header.begin(), header.end());
  for (auto [from, to] : Reserved(f.type)) {
    for (size_t i = from; i < to && i < b.size(); ++i) b[i] = 0;
  }
  b[3] = f.pdo;
  StoreLe32(b.data() + 4, f.plen);
  if (f.flags & kFlagHdgst) StoreLe32(b.data() + f.hlen, Crc32c({b.data(), f.hlen}));
  return b;
}

void CheckReencode(std::span<const uint8_t> header, const Pdu& pdu, const PduFrame& f,
                   const ReceiveContext& ctx) {
  const PduPrefix p = Reencode(pdu, f, ctx);
  if (p.data_length != f.data_length || p.data_digest != f.data_digest) abort();
  if (p.buf[0] != f.type || p.buf[1] != f.flags || p.buf[2] != f.hlen) abort();
  // The pdo our encoder picks for this PDA; a received pdo with more padding is accepted too.
  const uint32_t head = f.header_size;
  const bool canonical_pdo =
      f.data_length == 0 || f.pdo == (head + Align(ctx) - 1) / Align(ctx) * Align(ctx);
  if (canonical_pdo && (p.buf[3] != f.pdo || p.plen != f.plen)) abort();
  if (p.size < head) abort();
  const std::vector<uint8_t> want = Canonical(header, f);
  const std::vector<uint8_t> got = Canonical({p.buf.data(), head}, f);
  if (want != got) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ReceiveContext ctx;
  ctx.receiver = (data[0] & 1) ? Role::kHost : Role::kController;
  ctx.initialized = (data[0] & 2) != 0;
  ctx.header_digest = (data[0] & 4) != 0;
  ctx.data_digest = (data[0] & 8) != 0;
  static constexpr uint8_t kPdas[] = {0, 1, 3, 31};
  ctx.pda = kPdas[(data[0] >> 4) & 3];
  ctx.max_in_capsule_data = (data[1] & 1) ? 8192 : 16384;
  ctx.max_data_per_pdu = (data[1] & 2) ? 4096 : (1u << 20);

  std::span<const uint8_t> in(data + 2, size - 2);
  while (in.size() >= kCommonHeaderSize) {
    const PduResult<PduFrame> f = FramePdu(in.first<kCommonHeaderSize>(), ctx);
    if (!f.ok()) {
      const PduError& e = f.error();
      if (e.fes < 1 || e.fes > 6 || e.message.empty()) abort();
      const PduPrefix t = EncodeTermReq(ctx.receiver, MakeTermReq(e, in.first(kCommonHeaderSize)));
      if (t.plen != t.size || t.size > kMaxTermReqPlen) abort();
      return 0;
    }
    if (f->header_size < kCommonHeaderSize || f->header_size > kMaxPduPrefix) abort();
    if (in.size() < f->header_size) return 0;  // the peer has not sent the rest yet
    const std::span<const uint8_t> header = in.first(f->header_size);
    const PduResult<Pdu> d = DecodePduHeader(header, ctx);
    if (!d.ok()) {
      const PduError& e = d.error();
      if (e.fes < 1 || e.fes > 6 || e.message.empty()) abort();
      (void)EncodeTermReq(ctx.receiver, MakeTermReq(e, header));
      return 0;
    }
    if (PduTypeOf(*d) != f->type && !std::holds_alternative<TermReq>(*d)) abort();
    CheckReencode(header, *d, *f, ctx);
    if (std::holds_alternative<TermReq>(*d)) return 0;  // the peer closes after a TermReq
    if (auto* icreq = std::get_if<ICReq>(&*d)) {  // our target echoes what was asked
      ctx.initialized = true;
      ctx.header_digest = icreq->header_digest;
      ctx.data_digest = icreq->data_digest;
    } else if (auto* icresp = std::get_if<ICResp>(&*d)) {
      ctx.initialized = true;
      ctx.header_digest = icresp->header_digest;
      ctx.data_digest = icresp->data_digest;
    }
    // Padding, data and data digest: plen bytes in all.
    if (in.size() < f->plen) return 0;
    const std::span<const uint8_t> pdu_data = in.subspan(f->pdo, f->data_length);
    if (f->data_length != 0 && f->pdo + f->data_length + (f->data_digest ? 4 : 0) != f->plen) abort();
    if (f->data_digest) {
      const uint32_t want = DecodeDigest(in.subspan(f->plen - 4).first<4>());
      (void)(DataDigest(pdu_data) == want);  // a mismatch is the caller's decision
    }
    in = in.subspan(f->plen);
  }
  return 0;
}
