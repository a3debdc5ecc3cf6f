// NBD transmission replies, server side: the simple reply and the structured reply chunks we
// send. Only headers (and short error payloads) are built here; READ data is sent by the
// server from its own buffer right after the OFFSET_DATA header, with no copy.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "proto/nbd_wire.h"
#include "util/result.h"

namespace meshraid::proto {

// 16 bytes: magic, error (0 = success), cookie. A successful READ without structured replies
// is followed by exactly `length` data bytes; everything else has no payload.
std::array<uint8_t, kSimpleReplySize> EncodeSimpleReply(uint64_t cookie, uint32_t error);

// A 20-byte structured chunk header: magic, flags, type, cookie, payload length.
std::array<uint8_t, kStructuredHeaderSize> EncodeChunkHeader(uint64_t cookie, uint16_t flags,
                                                             uint16_t type, uint32_t length);

inline constexpr size_t kOffsetDataHeaderSize = kStructuredHeaderSize + 8;

// OFFSET_DATA chunk header plus its 8-byte offset (28 bytes); `data_length` bytes of data must
// follow. `done` sets NBD_REPLY_FLAG_DONE. kInvalidArgument if data_length is 0 (the chunk
// needs at least one byte) or 8 + data_length does not fit in 32 bits.
Result<std::array<uint8_t, kOffsetDataHeaderSize>> EncodeOffsetDataHeader(
    uint64_t cookie, uint64_t offset, uint32_t data_length, bool done);

// The NONE chunk (length 0, DONE always set): closes a reply whose other chunks lacked DONE.
std::array<uint8_t, kStructuredHeaderSize> EncodeNoneChunk(uint64_t cookie);

// ERROR chunk (or ERROR_OFFSET when `offset` is given): header, u32 error, u16 message
// length, message, [u64 offset]. kInvalidArgument if `error` is 0 or the message breaks the
// string rules (NUL, > 4096 bytes).
Result<std::vector<uint8_t>> EncodeErrorChunk(uint64_t cookie, uint32_t error,
                                              std::string_view message,
                                              std::optional<uint64_t> offset, bool done);

}  // namespace meshraid::proto
