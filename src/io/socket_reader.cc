// Buffered socket reads for one connection (see socket_reader.h).
#include "io/socket_reader.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace meshraid::io {

SocketReader::SocketReader(Reactor& reactor, int fd)
    : reactor_(reactor), fd_(fd), buf_(std::make_unique<uint8_t[]>(kBufferBytes)) {}

void SocketReader::Cancel() {
  cancelled_ = true;
  reactor_.Cancel(slot_);
}

Task<Result<size_t>> SocketReader::RecvOnce(std::span<uint8_t> into, int flags) {
  if (cancelled_) co_return Status::Aborted("connection reader cancelled");
  for (;;) {
    io::OpResult r = co_await reactor_.Recv(fd_, into, flags, &slot_);
    if (r.ok()) co_return size_t(r.value());
    if (r.err() == EINTR) continue;
    if (r.err() == ECANCELED) co_return Status::Aborted("connection reader cancelled");
    co_return r.ToStatus("recv from the peer");
  }
}

Task<Result<size_t>> SocketReader::ReadFull(std::span<uint8_t> out) {
  size_t have = std::min(out.size(), buffered());
  std::memcpy(out.data(), buf_.get() + begin_, have);
  begin_ += have;
  while (have < out.size()) {
    const size_t want = out.size() - have;
    if (want >= kBufferBytes) {  // large payload: straight into the caller's buffer
      Result<size_t> n = co_await RecvOnce(out.subspan(have), MSG_WAITALL);
      if (!n.ok()) co_return n.status();
      if (*n == 0) break;
      have += *n;
      continue;
    }
    begin_ = end_ = 0;
    Result<size_t> n = co_await RecvOnce({buf_.get(), kBufferBytes}, 0);
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    end_ = *n;
    const size_t take = std::min(want, end_);
    std::memcpy(out.data() + have, buf_.get(), take);
    begin_ = take;
    have += take;
  }
  co_return have;
}

Task<Result<uint64_t>> SocketReader::Skip(uint64_t n) {
  uint64_t done = std::min<uint64_t>(n, buffered());
  begin_ += done;
  while (done < n) {
    begin_ = end_ = 0;
    const size_t want = size_t(std::min<uint64_t>(n - done, kBufferBytes));
    Result<size_t> got = co_await RecvOnce({buf_.get(), want}, 0);
    if (!got.ok()) co_return got.status();
    if (*got == 0) break;
    done += *got;
  }
  co_return done;
}

}  // namespace meshraid::io
