// Transmission reply encoders (see nbd_reply.h).
#include "proto/nbd_reply.h"

#include <algorithm>
#include <limits>

#include "util/endian.h"

namespace meshraid::proto {

std::array<uint8_t, kSimpleReplySize> EncodeSimpleReply(uint64_t cookie, uint32_t error) {
  std::array<uint8_t, kSimpleReplySize> b{};
  StoreBe32(b.data(), kSimpleReplyMagic);
  StoreBe32(b.data() + 4, error);
  StoreBe64(b.data() + 8, cookie);
  return b;
}

std::array<uint8_t, kStructuredHeaderSize> EncodeChunkHeader(uint64_t cookie, uint16_t flags,
                                                             uint16_t type, uint32_t length) {
  std::array<uint8_t, kStructuredHeaderSize> b{};
  StoreBe32(b.data(), kStructuredReplyMagic);
  StoreBe16(b.data() + 4, flags);
  StoreBe16(b.data() + 6, type);
  StoreBe64(b.data() + 8, cookie);
  StoreBe32(b.data() + 16, length);
  return b;
}

Result<std::array<uint8_t, kOffsetDataHeaderSize>> EncodeOffsetDataHeader(
    uint64_t cookie, uint64_t offset, uint32_t data_length, bool done) {
  if (data_length == 0) return Status::InvalidArgument("OFFSET_DATA chunk without data");
  if (data_length > std::numeric_limits<uint32_t>::max() - 8) {
    return Status::InvalidArgument("OFFSET_DATA chunk too long");
  }
  std::array<uint8_t, kOffsetDataHeaderSize> b{};
  const auto h = EncodeChunkHeader(cookie, done ? kReplyFlagDone : 0, kReplyTypeOffsetData,
                                   data_length + 8);
  std::copy(h.begin(), h.end(), b.begin());
  StoreBe64(b.data() + kStructuredHeaderSize, offset);
  return b;
}

std::array<uint8_t, kStructuredHeaderSize> EncodeNoneChunk(uint64_t cookie) {
  return EncodeChunkHeader(cookie, kReplyFlagDone, kReplyTypeNone, 0);
}

Result<std::vector<uint8_t>> EncodeErrorChunk(uint64_t cookie, uint32_t error,
                                              std::string_view message,
                                              std::optional<uint64_t> offset, bool done) {
  if (error == kNbdOk) return Status::InvalidArgument("error chunk with error 0");
  MESHRAID_RETURN_IF_ERROR(CheckWireString(message, "error message"));
  const size_t payload = 4 + 2 + message.size() + (offset ? 8 : 0);
  std::vector<uint8_t> out(kStructuredHeaderSize + payload);
  const auto h = EncodeChunkHeader(cookie, done ? kReplyFlagDone : 0,
                                   offset ? kReplyTypeErrorOffset : kReplyTypeError,
                                   static_cast<uint32_t>(payload));
  std::copy(h.begin(), h.end(), out.begin());
  uint8_t* p = out.data() + kStructuredHeaderSize;
  StoreBe32(p, error);
  StoreBe16(p + 4, static_cast<uint16_t>(message.size()));
  std::copy(message.begin(), message.end(), p + 6);
  if (offset) StoreBe64(p + 6 + message.size(), *offset);
  return out;
}

}  // namespace meshraid::proto
