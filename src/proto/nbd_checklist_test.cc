// The bad-input checklist of nbd-io.md §2 as tables: each row is the input bytes (or the
// request) and the outcome the codec must report. Row names carry the checklist item number.
// Items that are server behaviour rather than codec output (6 unknown export, 11 padding is in
// nbd_option_test, 23-28, 30-31) are for the session tests.
#include <gtest/gtest.h>

#include <string>

#include "proto/nbd_option.h"
#include "proto/nbd_request.h"
#include "proto/nbd_test_bytes.h"

namespace meshraid::proto {
namespace {

using testing::Bytes;
using V = std::vector<uint8_t>;

TEST(NbdChecklistTest, Item1ClientFlags) {
  struct Row { uint32_t flags; bool accepted; };
  for (Row row : {Row{0x3, true}, Row{0x1, true}, Row{0x0, true}, Row{0x4, false},
                  Row{0x80000003, false}, Row{0xffffffff, false}}) {
    EXPECT_EQ(DecodeClientFlags(Bytes().U32(row.flags).vec()).ok(), row.accepted) << row.flags;
  }
}

enum class Out { kProcess, kReplyError, kHardClose, kBadMagic, kTooLong };

struct OptionRow {
  std::string name;
  V stream;  // full option bytes as the client sends them
  NegotiationState state;
  Out out;
  uint32_t error = 0;
};

V Opt(uint32_t code, const V& data) {
  return Bytes().Str("IHAVEOPT").U32(code).U32(uint32_t(data.size())).Append(data);
}
V InfoData(std::string_view name, std::vector<uint16_t> reqs) {
  Bytes b;
  b.U32(uint32_t(name.size())).Str(name).U16(uint16_t(reqs.size()));
  for (uint16_t r : reqs) b.U16(r);
  return b;
}

TEST(NbdChecklistTest, HandshakeTable) {
  const NegotiationState fresh, sr{true, true, false}, down{true, false, true},
      nonfixed{false, false, false};
  V bad_magic = Opt(kOptGo, InfoData("", {}));
  bad_magic[7] = 'X';
  const std::string name4096(4096, 'n'), name4097(4097, 'n');
  const std::vector<OptionRow> rows = {
      {"2 option magic != IHAVEOPT", bad_magic, fresh, Out::kBadMagic},
      {"2 option length above bound", Bytes().Str("IHAVEOPT").U32(kOptGo).U32(65537), fresh,
       Out::kTooLong},
      {"3 unknown option with data", Opt(42, V(100, 1)), fresh, Out::kReplyError, kRepErrUnsup},
      {"3 withdrawn PEEK_EXPORT", Opt(kOptPeekExport, {}), fresh, Out::kReplyError, kRepErrUnsup},
      {"3 LIST_META_CONTEXT unsupported", Opt(kOptListMetaContext, Bytes().U32(0).U32(0)), fresh,
       Out::kReplyError, kRepErrUnsup},
      {"3 EXTENDED_HEADERS unsupported", Opt(kOptExtendedHeaders, {}), fresh, Out::kReplyError,
       kRepErrUnsup},
      {"4 LIST with data", Opt(kOptList, V{0}), fresh, Out::kReplyError, kRepErrInvalid},
      {"4 STARTTLS with data", Opt(kOptStartTls, V{0}), fresh, Out::kReplyError, kRepErrInvalid},
      {"4 STRUCTURED_REPLY with data", Opt(kOptStructuredReply, V{0, 0, 0, 0}), fresh,
       Out::kReplyError, kRepErrInvalid},
      {"4 ABORT with data is still acked", Opt(kOptAbort, V{1, 2}), fresh, Out::kProcess},
      {"4 LIST empty", Opt(kOptList, {}), fresh, Out::kProcess},
      {"5 GO shorter than 6 bytes", Opt(kOptGo, V{0, 0, 0, 0, 0}), fresh, Out::kReplyError,
       kRepErrInvalid},
      {"5 GO name length overruns", Opt(kOptGo, Bytes().U32(3).Str("ab").U16(0)), fresh,
       Out::kReplyError, kRepErrInvalid},
      {"5 GO name length = optlen-6 exactly", Opt(kOptGo, InfoData("abc", {})), fresh,
       Out::kProcess},
      {"5 GO count exceeds data", Opt(kOptGo, Bytes().U32(0).U16(2).U16(3)), fresh,
       Out::kReplyError, kRepErrInvalid},
      {"5 GO trailing bytes after requests", Opt(kOptGo, Bytes().U32(0).U16(1).U16(3).U8(0)),
       fresh, Out::kReplyError, kRepErrInvalid},
      {"5 INFO odd trailing byte", Opt(kOptInfo, Bytes().U32(0).U16(0).U8(9)), fresh,
       Out::kReplyError, kRepErrInvalid},
      {"5 INFO name with NUL", Opt(kOptInfo, InfoData(std::string("a\0b", 3), {})), fresh,
       Out::kReplyError, kRepErrInvalid},
      {"5 INFO name of 4097 bytes", Opt(kOptInfo, InfoData(name4097, {})), fresh,
       Out::kReplyError, kRepErrInvalid},
      {"5 INFO name of 4096 bytes", Opt(kOptInfo, InfoData(name4096, {})), fresh, Out::kProcess},
      {"6 EXPORT_NAME with NUL", Opt(kOptExportName, V{'a', 0}), fresh, Out::kHardClose},
      {"6 EXPORT_NAME of 4097 bytes", Opt(kOptExportName, Bytes().Str(name4097)), fresh,
       Out::kHardClose},
      {"7 unknown info types ignored", Opt(kOptGo, InfoData("", {99, 0xffff, 3})), fresh,
       Out::kProcess},
      {"8 SET_META_CONTEXT (no meta contexts served)",
       Opt(kOptSetMetaContext, Bytes().U32(0).U32(0)), fresh, Out::kReplyError, kRepErrUnsup},
      {"9 second STRUCTURED_REPLY", Opt(kOptStructuredReply, {}), sr, Out::kReplyError,
       kRepErrInvalid},
      {"10 STARTTLS on a NOTLS server", Opt(kOptStartTls, {}), fresh, Out::kReplyError,
       kRepErrPolicy},
      {"12 shutdown: GO", Opt(kOptGo, InfoData("", {})), down, Out::kReplyError, kRepErrShutdown},
      {"12 shutdown: unknown option", Opt(77, {}), down, Out::kReplyError, kRepErrShutdown},
      {"12 shutdown: ABORT still acked", Opt(kOptAbort, {}), down, Out::kProcess},
      {"12 shutdown: EXPORT_NAME closes", Opt(kOptExportName, {}), down, Out::kHardClose},
      {"non-fixed client: GO", Opt(kOptGo, InfoData("", {})), nonfixed, Out::kReplyError,
       kRepErrInvalid},
      {"non-fixed client: EXPORT_NAME", Opt(kOptExportName, {}), nonfixed, Out::kProcess},
  };
  for (const OptionRow& row : rows) {
    SCOPED_TRACE(row.name);
    OptionDecoder d;
    FeedResult f = d.Feed(row.stream);
    EXPECT_LE(f.consumed, row.stream.size());
    if (row.out == Out::kBadMagic || row.out == Out::kTooLong) {
      EXPECT_EQ(f.state, row.out == Out::kBadMagic ? DecodeState::kBadMagic : DecodeState::kTooLong);
      continue;
    }
    ASSERT_EQ(f.state, DecodeState::kComplete);
    EXPECT_EQ(f.consumed, row.stream.size());
    ParsedOption p = ParseOption(d.option(), row.state);
    switch (row.out) {
      case Out::kProcess: EXPECT_EQ(p.verdict, OptionVerdict::kProcess) << p.reason; break;
      case Out::kHardClose: EXPECT_EQ(p.verdict, OptionVerdict::kHardClose); break;
      default:
        EXPECT_EQ(p.verdict, OptionVerdict::kReplyError);
        EXPECT_EQ(ReplyTypeName(p.error), ReplyTypeName(row.error));
        EXPECT_FALSE(p.reason.empty());
    }
  }
}

constexpr uint16_t kAllTx = kTxHasFlags | kTxSendFlush | kTxSendFua | kTxSendTrim |
                            kTxSendWriteZeroes | kTxSendDf | kTxCanMultiConn | kTxSendCache |
                            kTxSendFastZero;

TransmissionContext Ctx(uint16_t tx = kAllTx, bool structured = true) {
  TransmissionContext c;
  c.export_size = 1ull << 30;
  c.tx_flags = tx;
  c.structured_replies = structured;
  c.block_status_context = structured;
  c.block_size = {512, 4096, 32u << 20};
  return c;
}

struct RequestRow {
  std::string name;
  Request req;
  TransmissionContext ctx;
  RequestAction action;
  uint32_t error = kNbdOk;
};

TEST(NbdChecklistTest, TransmissionTable) {
  const auto ro = Ctx(kAllTx | kTxReadOnly), plain = Ctx(kTxHasFlags), simple = Ctx(kAllTx, false);
  const auto nofua = Ctx(kAllTx & ~kTxSendFua), nofz = Ctx(kAllTx & ~kTxSendFastZero),
             nodf = Ctx(kAllTx & ~kTxSendDf);
  auto nocontext = Ctx();
  nocontext.block_status_context = false;
  const uint64_t end = 1ull << 30;
  const uint32_t kMiB = 1u << 20;
  using A = RequestAction;
  const std::vector<RequestRow> rows = {
      {"14 unknown command 9", {0, 9, 1, 0, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"14 RESIZE not served", {0, kCmdResize, 1, 0, 0}, Ctx(), A::kReplyError, kNbdEinval},
      {"15 unknown flag 0x20", {0x20, kCmdRead, 1, 0, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"15 unknown flag 0x8000", {0x8000, kCmdWrite, 1, 0, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"15 FUA without SEND_FUA", {kCmdFlagFua, kCmdWrite, 1, 0, 512}, nofua, A::kReplyError, kNbdEinval},
      {"15 FUA on READ accepted", {kCmdFlagFua, kCmdRead, 1, 0, 512}, Ctx(), A::kServe},
      {"15 FUA on FLUSH accepted", {kCmdFlagFua, kCmdFlush, 1, 0, 0}, Ctx(), A::kServe},
      {"15 NO_HOLE on WRITE", {kCmdFlagNoHole, kCmdWrite, 1, 0, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"15 NO_HOLE on WRITE_ZEROES", {kCmdFlagNoHole, kCmdWriteZeroes, 1, 0, 512}, Ctx(), A::kServe},
      {"15 FAST_ZERO on TRIM", {kCmdFlagFastZero, kCmdTrim, 1, 0, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"15 FAST_ZERO not negotiated", {kCmdFlagFastZero, kCmdWriteZeroes, 1, 0, 512}, nofz, A::kReplyError, kNbdEinval},
      {"15 DF on WRITE", {kCmdFlagDf, kCmdWrite, 1, 0, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"15 DF without structured replies", {kCmdFlagDf, kCmdRead, 1, 0, 512}, simple, A::kReplyError, kNbdEinval},
      {"15 DF without SEND_DF", {kCmdFlagDf, kCmdRead, 1, 0, 512}, nodf, A::kReplyError, kNbdEinval},
      {"15 DF on READ", {kCmdFlagDf, kCmdRead, 1, 0, 512}, Ctx(), A::kServe},
      {"15 REQ_ONE on READ", {kCmdFlagReqOne, kCmdRead, 1, 0, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"15 REQ_ONE on BLOCK_STATUS", {kCmdFlagReqOne, kCmdBlockStatus, 1, 0, 512}, Ctx(), A::kServe},
      {"16 FLUSH not advertised", {0, kCmdFlush, 1, 0, 0}, plain, A::kReplyError, kNbdEinval},
      {"16 TRIM not advertised", {0, kCmdTrim, 1, 0, 512}, plain, A::kReplyError, kNbdEinval},
      {"16 WRITE_ZEROES not advertised", {0, kCmdWriteZeroes, 1, 0, 512}, plain, A::kReplyError, kNbdEinval},
      {"16 CACHE not advertised", {0, kCmdCache, 1, 0, 512}, plain, A::kReplyError, kNbdEinval},
      {"16 BLOCK_STATUS without structured", {0, kCmdBlockStatus, 1, 0, 512}, simple, A::kReplyError, kNbdEinval},
      {"16 BLOCK_STATUS without context", {0, kCmdBlockStatus, 1, 0, 512}, nocontext, A::kReplyError, kNbdEinval},
      {"17 READ past end", {0, kCmdRead, 1, end - 512, 1024}, Ctx(), A::kReplyError, kNbdEinval},
      {"17 TRIM past end", {0, kCmdTrim, 1, end, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"17 CACHE past end", {0, kCmdCache, 1, end, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"17 BLOCK_STATUS past end", {0, kCmdBlockStatus, 1, end, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"17 WRITE past end", {0, kCmdWrite, 1, end - 512, 1024}, Ctx(), A::kReplyError, kNbdEnospc},
      {"17 WRITE_ZEROES past end", {0, kCmdWriteZeroes, 1, end, 512}, Ctx(), A::kReplyError, kNbdEnospc},
      {"17 WRITE offset+length wraps 64 bits", {0, kCmdWrite, 1, ~0ull - 511, 1024}, Ctx(), A::kReplyError, kNbdEnospc},
      {"17 READ ending exactly at the end", {0, kCmdRead, 1, end - 512, 512}, Ctx(), A::kServe},
      {"17 READ of 0 bytes at the end", {0, kCmdRead, 1, end, 0}, Ctx(), A::kServe},
      {"18 READ offset misaligned", {0, kCmdRead, 1, 100, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"18 WRITE length misaligned", {0, kCmdWrite, 1, 0, 100}, Ctx(), A::kReplyError, kNbdEinval},
      {"19 WRITE on read-only", {0, kCmdWrite, 1, 0, 512}, ro, A::kReplyError, kNbdEperm},
      {"19 TRIM on read-only", {0, kCmdTrim, 1, 0, 512}, ro, A::kReplyError, kNbdEperm},
      {"19 WRITE_ZEROES on read-only", {0, kCmdWriteZeroes, 1, 0, 512}, ro, A::kReplyError, kNbdEperm},
      {"19 READ on read-only", {0, kCmdRead, 1, 0, 512}, ro, A::kServe},
      {"19 FLUSH on read-only", {0, kCmdFlush, 1, 0, 0}, ro, A::kServe},
      {"20 WRITE above the drain bound", {0, kCmdWrite, 1, 0, 129 * kMiB}, Ctx(), A::kHardClose},
      {"20 WRITE above max payload", {0, kCmdWrite, 1, 0, 33 * kMiB}, Ctx(), A::kReplyError, kNbdEinval},
      {"20 READ above max payload", {0, kCmdRead, 1, 0, 33 * kMiB}, Ctx(), A::kReplyError, kNbdEoverflow},
      {"20 TRIM above max payload is fine", {0, kCmdTrim, 1, 0, 64 * kMiB}, Ctx(), A::kServe},
      {"20 WRITE of 32 MiB", {0, kCmdWrite, 1, 0, 32 * kMiB}, Ctx(), A::kServe},
      {"21 zero-length READ", {0, kCmdRead, 1, 0, 0}, Ctx(), A::kServe},
      {"21 zero-length WRITE", {0, kCmdWrite, 1, 0, 0}, Ctx(), A::kServe},
      {"21 zero-length TRIM", {0, kCmdTrim, 1, 0, 0}, Ctx(), A::kServe},
      {"21 zero-length WRITE_ZEROES", {0, kCmdWriteZeroes, 1, 0, 0}, Ctx(), A::kServe},
      {"21 zero-length BLOCK_STATUS", {0, kCmdBlockStatus, 1, 0, 0}, Ctx(), A::kServe},
      {"22 FLUSH with offset", {0, kCmdFlush, 1, 512, 0}, Ctx(), A::kReplyError, kNbdEinval},
      {"22 FLUSH with length", {0, kCmdFlush, 1, 0, 512}, Ctx(), A::kReplyError, kNbdEinval},
      {"22 DISC with fields set", {0xffff, kCmdDisc, 1, 7, 9}, Ctx(), A::kDisconnect},
      {"29 FAST_ZERO negotiated", {kCmdFlagFastZero, kCmdWriteZeroes, 1, 0, 512}, Ctx(), A::kServe},
  };
  for (const RequestRow& row : rows) {
    SCOPED_TRACE(row.name);
    // Through the wire: encode, decode, then judge.
    const auto bytes = EncodeRequest(row.req);
    RequestDecoder d;
    ASSERT_EQ(d.Feed(bytes).state, DecodeState::kComplete);
    ASSERT_EQ(d.request(), row.req);
    const RequestVerdict v = ValidateRequest(d.request(), row.ctx);
    EXPECT_EQ(int(v.action), int(row.action)) << v.reason;
    EXPECT_EQ(ErrorName(v.error), ErrorName(row.error)) << v.reason;
    // Item 20: the WRITE payload length is known whatever the verdict, so it can be drained.
    EXPECT_EQ(d.request().payload_length(), row.req.type == kCmdWrite ? row.req.length : 0u);
  }
}

TEST(NbdChecklistTest, Item13BadRequestMagic) {
  for (uint32_t magic : {kSimpleReplyMagic, kStructuredReplyMagic, kExtendedRequestMagic, 0u}) {
    V b = Bytes().U32(magic).U16(0).U16(kCmdRead).U64(1).U64(0).U32(512);
    RequestDecoder d;
    EXPECT_EQ(d.Feed(b).state, DecodeState::kBadMagic) << magic;
  }
}

}  // namespace
}  // namespace meshraid::proto
