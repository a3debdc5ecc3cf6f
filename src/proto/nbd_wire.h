// NBD wire constants: every magic, flag, code and fixed size the server side of the protocol
// uses (NetworkBlockDevice/nbd doc/proto.md; our summary is doc/nbd_protocol.md). All wire
// integers are big-endian. Also: names of codes for logs, and the string rules shared by the
// option and reply codecs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "util/status.h"

namespace meshraid::proto {

// ---- Magics ----
inline constexpr uint64_t kNbdMagic = 0x4e42444d41474943;          // "NBDMAGIC"
inline constexpr uint64_t kIHaveOpt = 0x49484156454f5054;          // "IHAVEOPT"
inline constexpr uint64_t kOptionReplyMagic = 0x0003e889045565a9;  // 64-bit field
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;
inline constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;
inline constexpr uint32_t kExtendedRequestMagic = 0x21e41c71;  // experimental, not served
inline constexpr uint32_t kExtendedReplyMagic = 0x6e8a278c;    // experimental, not served

// ---- Handshake flags (16 bit, server -> client) ----
inline constexpr uint16_t kFlagFixedNewstyle = 1u << 0;
inline constexpr uint16_t kFlagNoZeroes = 1u << 1;
// What our greeting offers (the only two bits the spec allows).
inline constexpr uint16_t kServerHandshakeFlags = kFlagFixedNewstyle | kFlagNoZeroes;

// ---- Client flags (32 bit, client -> server) ----
inline constexpr uint32_t kClientFlagFixedNewstyle = 1u << 0;
inline constexpr uint32_t kClientFlagNoZeroes = 1u << 1;

// ---- Option codes ----
inline constexpr uint32_t kOptExportName = 1;
inline constexpr uint32_t kOptAbort = 2;
inline constexpr uint32_t kOptList = 3;
inline constexpr uint32_t kOptPeekExport = 4;  // withdrawn
inline constexpr uint32_t kOptStartTls = 5;
inline constexpr uint32_t kOptInfo = 6;
inline constexpr uint32_t kOptGo = 7;
inline constexpr uint32_t kOptStructuredReply = 8;
inline constexpr uint32_t kOptListMetaContext = 9;
inline constexpr uint32_t kOptSetMetaContext = 10;
inline constexpr uint32_t kOptExtendedHeaders = 11;  // experimental

// ---- Option reply types; errors have bit 31 set ----
inline constexpr uint32_t kRepAck = 1;
inline constexpr uint32_t kRepServer = 2;
inline constexpr uint32_t kRepInfo = 3;
inline constexpr uint32_t kRepMetaContext = 4;
inline constexpr uint32_t kRepErrorBit = 1u << 31;
inline constexpr uint32_t kRepErrUnsup = kRepErrorBit + 1;
inline constexpr uint32_t kRepErrPolicy = kRepErrorBit + 2;
inline constexpr uint32_t kRepErrInvalid = kRepErrorBit + 3;
inline constexpr uint32_t kRepErrPlatform = kRepErrorBit + 4;
inline constexpr uint32_t kRepErrTlsReqd = kRepErrorBit + 5;
inline constexpr uint32_t kRepErrUnknown = kRepErrorBit + 6;
inline constexpr uint32_t kRepErrShutdown = kRepErrorBit + 7;
inline constexpr uint32_t kRepErrBlockSizeReqd = kRepErrorBit + 8;
inline constexpr uint32_t kRepErrTooBig = kRepErrorBit + 9;
inline constexpr uint32_t kRepErrExtHeaderReqd = kRepErrorBit + 10;  // experimental

// ---- Info types (inside NBD_REP_INFO) ----
inline constexpr uint16_t kInfoExport = 0;
inline constexpr uint16_t kInfoName = 1;
inline constexpr uint16_t kInfoDescription = 2;
inline constexpr uint16_t kInfoBlockSize = 3;

// ---- Transmission flags (16 bit) ----
inline constexpr uint16_t kTxHasFlags = 1u << 0;  // MUST always be set
inline constexpr uint16_t kTxReadOnly = 1u << 1;
inline constexpr uint16_t kTxSendFlush = 1u << 2;
inline constexpr uint16_t kTxSendFua = 1u << 3;
inline constexpr uint16_t kTxRotational = 1u << 4;
inline constexpr uint16_t kTxSendTrim = 1u << 5;
inline constexpr uint16_t kTxSendWriteZeroes = 1u << 6;
inline constexpr uint16_t kTxSendDf = 1u << 7;
inline constexpr uint16_t kTxCanMultiConn = 1u << 8;
inline constexpr uint16_t kTxSendResize = 1u << 9;  // experimental
inline constexpr uint16_t kTxSendCache = 1u << 10;
inline constexpr uint16_t kTxSendFastZero = 1u << 11;
inline constexpr uint16_t kTxBlockStatusPayload = 1u << 12;  // experimental

// ---- Command types (16 bit) ----
inline constexpr uint16_t kCmdRead = 0;
inline constexpr uint16_t kCmdWrite = 1;
inline constexpr uint16_t kCmdDisc = 2;
inline constexpr uint16_t kCmdFlush = 3;
inline constexpr uint16_t kCmdTrim = 4;
inline constexpr uint16_t kCmdCache = 5;
inline constexpr uint16_t kCmdWriteZeroes = 6;
inline constexpr uint16_t kCmdBlockStatus = 7;
inline constexpr uint16_t kCmdResize = 8;  // experimental, never advertised by us

// ---- Command flags (16 bit) ----
inline constexpr uint16_t kCmdFlagFua = 1u << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1u << 1;
inline constexpr uint16_t kCmdFlagDf = 1u << 2;
inline constexpr uint16_t kCmdFlagReqOne = 1u << 3;
inline constexpr uint16_t kCmdFlagFastZero = 1u << 4;
inline constexpr uint16_t kCmdFlagPayloadLen = 1u << 5;  // extended headers only
// Flags a compact-header request may carry at all; anything else is an unknown bit.
inline constexpr uint16_t kCmdFlagsKnown =
    kCmdFlagFua | kCmdFlagNoHole | kCmdFlagDf | kCmdFlagReqOne | kCmdFlagFastZero;

// ---- Structured reply flags and chunk types ----
inline constexpr uint16_t kReplyFlagDone = 1u << 0;
inline constexpr uint16_t kReplyTypeNone = 0;
inline constexpr uint16_t kReplyTypeOffsetData = 1;
inline constexpr uint16_t kReplyTypeOffsetHole = 2;
inline constexpr uint16_t kReplyTypeBlockStatus = 5;
inline constexpr uint16_t kReplyTypeBlockStatusExt = 6;  // experimental
inline constexpr uint16_t kReplyTypeErrorBit = 1u << 15;
inline constexpr uint16_t kReplyTypeError = kReplyTypeErrorBit + 1;
inline constexpr uint16_t kReplyTypeErrorOffset = kReplyTypeErrorBit + 2;

// ---- Transmission error values (NBD's own numbering, not the host errno) ----
inline constexpr uint32_t kNbdOk = 0;
inline constexpr uint32_t kNbdEperm = 1;
inline constexpr uint32_t kNbdEio = 5;
inline constexpr uint32_t kNbdEnomem = 12;
inline constexpr uint32_t kNbdEinval = 22;
inline constexpr uint32_t kNbdEnospc = 28;
inline constexpr uint32_t kNbdEoverflow = 75;
inline constexpr uint32_t kNbdEnotsup = 95;
inline constexpr uint32_t kNbdEshutdown = 108;

// ---- base:allocation block status flags ----
inline constexpr uint32_t kStateHole = 1u << 0;
inline constexpr uint32_t kStateZero = 1u << 1;

// ---- Fixed sizes on the wire (bytes) ----
inline constexpr size_t kGreetingSize = 18;           // NBDMAGIC, IHAVEOPT, handshake flags
inline constexpr size_t kClientFlagsSize = 4;
inline constexpr size_t kOptionHeaderSize = 16;       // IHAVEOPT, option, length
inline constexpr size_t kOptionReplyHeaderSize = 20;  // magic, option, type, length
inline constexpr size_t kExportNameReplySize = 10;    // size, transmission flags
inline constexpr size_t kExportNamePadding = 124;     // zeroes unless NO_ZEROES
inline constexpr size_t kRequestHeaderSize = 28;
inline constexpr size_t kSimpleReplySize = 16;
inline constexpr size_t kStructuredHeaderSize = 20;

// ---- Limits ----
inline constexpr size_t kMaxStringLength = 4096;        // names, messages: spec MUST
inline constexpr uint32_t kDosSafeLength = 1u << 25;    // 32 MiB: never a DoS by the spec
inline constexpr uint32_t kDefaultMaxOptionLength = 64 * 1024;

// Names for logs ("NBD_OPT_GO", "NBD_CMD_READ", "NBD_EINVAL", "NBD_REP_ERR_UNSUP"); unknown
// values give "unknown".
std::string_view OptionName(uint32_t option);
std::string_view CommandName(uint16_t type);
std::string_view ErrorName(uint32_t nbd_error);
std::string_view ReplyTypeName(uint32_t reply_type);

// The spec's rule for strings (export names, messages, descriptions): no NUL, at most 4096
// bytes. kInvalidArgument naming `what` otherwise.
Status CheckWireString(std::string_view s, std::string_view what);

}  // namespace meshraid::proto
