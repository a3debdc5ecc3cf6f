// One-send-in-flight reply queue (see reply_writer.h).
#include "io/socket_writer.h"

#include <sys/socket.h>

#include <cerrno>
#include <vector>

namespace meshraid::io {

SocketWriter::SocketWriter(Reactor& reactor, int fd) : reactor_(reactor), fd_(fd), wake_(reactor) {}

void SocketWriter::Push(Pending* p) {
  p->next = nullptr;
  (tail_ ? tail_->next : head_) = p;
  tail_ = p;
  wake_.Set();
}

SocketWriter::Pending* SocketWriter::Pop() {
  Pending* p = head_;
  if (p) {
    head_ = p->next;
    if (!head_) tail_ = nullptr;
  }
  return p;
}

void SocketWriter::Complete(Pending* p, Status s) {
  p->result = std::move(s);
  reactor_.Schedule(p->waiter);
}

Status SocketWriter::Refusal() const {
  return status_.ok() ? Status::Unavailable("NBD reply writer closed") : status_;
}

void SocketWriter::Close() {
  closing_ = true;
  wake_.Set();
}

Task<Status> SocketWriter::SendAll(std::span<iovec> iov) {
  size_t i = 0;
  while (i < iov.size()) {
    if (iov[i].iov_len == 0) {
      ++i;
      continue;
    }
    msghdr msg{};
    msg.msg_iov = &iov[i];
    msg.msg_iovlen = iov.size() - i;
    ++sendmsg_calls_;
    io::OpResult r = co_await reactor_.SendMsg(fd_, &msg);
    if (!r.ok()) {
      if (r.err() == EINTR || r.err() == EAGAIN) continue;
      co_return r.ToStatus("send to the peer");
    }
    if (r.value() == 0) co_return Status::Unavailable("send to the peer: connection closed");
    // A short send is normal (liburing #1337): advance past what went out and resubmit.
    size_t n = r.value();
    bytes_sent_ += n;
    while (n > 0) {
      if (n >= iov[i].iov_len) {
        n -= iov[i].iov_len;
        ++i;
      } else {
        iov[i].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + n;
        iov[i].iov_len -= n;
        n = 0;
      }
    }
  }
  co_return Status::Ok();
}

Task<void> SocketWriter::Run() {
  std::vector<iovec> iov;
  std::vector<Pending*> batch;
  while (status_.ok()) {
    if (head_ == nullptr) {
      if (closing_) break;
      wake_.Reset();
      co_await wake_.Wait();
      continue;
    }
    iov.clear();
    batch.clear();
    // Gather whole sequences while they fit (a single sequence is always taken).
    while (head_ && (batch.empty() || iov.size() + head_->parts.size() <= kMaxIov)) {
      Pending* p = Pop();
      iov.insert(iov.end(), p->parts.begin(), p->parts.end());
      batch.push_back(p);
    }
    Status s = co_await SendAll(iov);
    if (!s.ok()) status_ = s;
    for (Pending* p : batch) Complete(p, s);
  }
  // Broken connection: fail whatever is still queued; later Sends fail at once.
  while (Pending* p = Pop()) Complete(p, status_);
  finished_ = true;
}

}  // namespace meshraid::io
