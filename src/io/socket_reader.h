// SocketReader: the receiving half of one stream socket (an NBD or NVMe/TCP connection).
// Exactly one Recv is in flight at a time (nbd-io.md §4.3), so only one coroutine may read.
// Small messages (headers, options) are served from a read-ahead buffer; large payloads are
// received straight into the caller's buffer with MSG_WAITALL. The pending Recv can be
// cancelled (server shutdown).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "io/reactor.h"
#include "io/task.h"
#include "util/result.h"

namespace meshraid::io {

class SocketReader {
 public:
  static constexpr size_t kBufferBytes = 64 * 1024;

  SocketReader(Reactor& reactor, int fd);
  SocketReader(const SocketReader&) = delete;
  SocketReader& operator=(const SocketReader&) = delete;

  // Fills `out`. Returns out.size(), or fewer bytes if the peer closed first (0: EOF before
  // the first byte), or the socket error (kAborted after Cancel()).
  Task<Result<size_t>> ReadFull(std::span<uint8_t> out);
  // Receives and discards `n` bytes (draining a payload); same results as ReadFull.
  Task<Result<uint64_t>> Skip(uint64_t n);
  // Bytes received but not yet consumed.
  size_t buffered() const { return end_ - begin_; }
  // Cancels the pending Recv, if any; the reader then returns kAborted.
  void Cancel();

 private:
  // One Recv into `into`; returns bytes (0 = EOF) or the error.
  Task<Result<size_t>> RecvOnce(std::span<uint8_t> into, int flags);

  Reactor& reactor_;
  int fd_;
  std::unique_ptr<uint8_t[]> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  CancelSlot slot_;
  bool cancelled_ = false;
};

}  // namespace meshraid::io
