// One NBD connection (see session.h).
#include "export/session.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "export/handshake.h"
#include "io/gate.h"
#include "io/when_all.h"
#include "proto/nbd_reply.h"

namespace meshraid::exports {

using namespace proto;

namespace {

constexpr uint32_t kMaxWriteDrain = 128u << 20;  // larger WRITE payloads: hard close
constexpr uint64_t kLingerPollNs = 5'000'000;     // Linger: how often the send queue is checked

}  // namespace

NbdSession::NbdSession(io::Reactor& reactor, int fd, const Export& e, const ExportParams& params,
                       SessionOptions options, std::string peer, LogFn log)
    : reactor_(reactor), fd_(fd), export_(e), params_(params), options_(options),
      peer_(std::move(peer)), log_(std::move(log)), reader_(reactor, fd), writer_(reactor, fd),
      executor_(e), permits_(reactor, options.max_in_flight), stop_requested_(reactor) {}

NbdSession::~NbdSession() {
  if (fd_ >= 0) ::close(fd_);
}

void NbdSession::RequestStop() {
  if (stopping_) return;
  stopping_ = true;
  // Mid-payload reads are left to finish (that request is then served); anything else waits
  // for the client and is cancelled.
  if (!in_transmission_ || awaiting_header_) reader_.Cancel();
  stop_requested_.Set();
}

io::Task<void> NbdSession::StopDeadline() {
  co_await stop_requested_.Wait();
  if (main_done_ || options_.stop_grace_ns == 0) co_return;
  const bool expired = co_await reactor_.Sleep(options_.stop_grace_ns, &deadline_slot_);
  if (!expired || main_done_) co_return;
  deadline_hit_ = true;
  if (log_) {
    log_(fmt::format("nbd: connection {} still busy {} ms after the server's stop: closing it",
                     peer_, options_.stop_grace_ns / 1'000'000));
  }
  HardClose();
}

void NbdSession::HardClose() {
  hard_closed_ = true;
  ::shutdown(fd_, SHUT_RDWR);  // fails pending and later sends; the fd stays ours until Run ends
}

io::Task<void> NbdSession::Run() {
  if (log_) log_(fmt::format("nbd: connection {} opened", peer_));
  std::vector<io::Task<void>> all;
  all.push_back(writer_.Run());
  all.push_back(Main());
  all.push_back(StopDeadline());
  co_await io::WhenAll(std::move(all));
  co_await Linger();
  ::close(fd_);
  fd_ = -1;
}

io::Task<void> NbdSession::Linger() {
  int domain = 0;
  socklen_t len = sizeof(domain);
  if (options_.linger_ns == 0 || hard_closed_ ||
      ::getsockopt(fd_, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain == AF_UNIX) {
    co_return;  // a Unix socket's replies are in the peer's queue already: a close loses none
  }
  ::shutdown(fd_, SHUT_WR);  // FIN after the last reply
  std::array<uint8_t, 16384> sink{};
  for (uint64_t waited = 0;; waited += kLingerPollNs) {
    for (;;) {  // drop what the client still sends, without waiting for it
      const ssize_t n = ::recv(fd_, sink.data(), sink.size(), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        co_return;  // the client closed (or the connection is gone)
      }
      if (n < 0 && errno != EINTR) break;
    }
    int unacked = 0;
    if (::ioctl(fd_, SIOCOUTQ, &unacked) != 0 || unacked == 0) co_return;  // all delivered
    if (waited >= options_.linger_ns) co_return;
    (void)co_await reactor_.Sleep(kLingerPollNs);
  }
}

io::Task<void> NbdSession::Main() {
  Handshake handshake(reader_, writer_, export_, params_, stopping_, options_.max_options);
  HandshakeResult h = co_await handshake.Run();
  std::string why = h.how;
  if (h.transmission) {
    structured_ = h.structured_replies;
    in_transmission_ = true;
    why = co_await Transmit(h.structured_replies);
  }  // (a failed negotiation has no send pending: closing the socket is the hard close)
  writer_.Close();
  main_done_ = true;  // every reply is on the socket (or the connection is broken)
  stop_requested_.Set();
  reactor_.Cancel(deadline_slot_);
  if (deadline_hit_) why = "server shutting down, connection still busy after the stop grace period (hard close)";
  if (log_) {
    log_(fmt::format("nbd: connection {} closed ({}): {} requests, {} errors, {} bytes read, "
                     "{} bytes written",
                     peer_, why, stats_.requests, stats_.errors, stats_.bytes_read,
                     stats_.bytes_written));
  }
}

io::Task<std::string> NbdSession::Transmit(bool structured_replies) {
  TransmissionContext ctx;
  ctx.export_size = params_.size;
  ctx.tx_flags = ClientTxFlags(params_, structured_replies);
  ctx.structured_replies = structured_replies;
  ctx.block_size = params_.block_size;
  ctx.max_write_drain = kMaxWriteDrain;

  io::Gate commands(reactor_);
  RequestDecoder decoder;
  std::array<uint8_t, kRequestHeaderSize> header{};
  std::string why;
  for (;;) {
    co_await permits_.Acquire();  // held by the command until its reply is sent
    if (stopping_) {
      permits_.Release();
      why = "server shutting down";
      break;
    }
    awaiting_header_ = true;
    Result<size_t> n = co_await reader_.ReadFull(header);
    awaiting_header_ = false;
    if (!n.ok() || *n < header.size()) {
      permits_.Release();
      if (!n.ok()) why = stopping_ ? "server shutting down" : n.status().message();
      else why = *n == 0 ? "client closed" : "client closed in the middle of a request header";
      break;
    }
    if (decoder.Feed(header).state != DecodeState::kComplete) {
      permits_.Release();
      why = "bad request magic (hard close)";
      HardClose();
      break;
    }
    const Request r = decoder.request();
    const RequestVerdict v = ValidateRequest(r, ctx);
    if (v.action == RequestAction::kDisconnect || v.action == RequestAction::kHardClose) {
      permits_.Release();
      why = v.action == RequestAction::kDisconnect ? "NBD_CMD_DISC" : std::string(v.reason) + " (hard close)";
      if (v.action == RequestAction::kHardClose) HardClose();
      break;
    }
    Buffer buf(nullptr, &std::free);
    Outcome early;
    const bool has_data = v.action == RequestAction::kServe &&
                          (r.type == kCmdRead || r.type == kCmdWrite) && r.length > 0;
    if (has_data) {
      buf.reset(static_cast<uint8_t*>(std::aligned_alloc(4096, (r.length + 4095) / 4096 * 4096)));
      if (!buf) {
        early = {kNbdEnomem, "out of memory for the request buffer"};
      }
    }
    if (v.action == RequestAction::kReplyError) early = {v.error, std::string(v.reason)};
    // Consume the WRITE payload before anything else, even when answering an error.
    if (r.payload_length() > 0) {
      Result<uint64_t> got = uint64_t{0};
      if (buf) {
        Result<size_t> g = co_await reader_.ReadFull({buf.get(), r.length});
        got = g.ok() ? Result<uint64_t>(uint64_t(*g)) : Result<uint64_t>(g.status());
      } else {
        got = co_await reader_.Skip(r.payload_length());
      }
      if (!got.ok() || *got < r.payload_length()) {
        permits_.Release();
        why = got.ok() ? "client closed in the middle of a write payload" : got.status().message();
        break;
      }
    }
    io::Spawn(commands, Serve(r, std::move(buf), std::move(early)));
  }
  co_await commands.Close();
  co_return why;
}

io::Task<void> NbdSession::Serve(Request r, Buffer buf, Outcome early) {
  std::span<uint8_t> data;
  if (buf) data = {buf.get(), r.length};
  // (No co_await inside ?: : GCC 12 miscompiles the temporaries of such expressions.)
  Outcome o = std::move(early);
  if (o.error == kNbdOk) o = co_await executor_.Run(r, data);
  ++stats_.requests;
  if (o.error != kNbdOk) ++stats_.errors;
  else if (r.type == kCmdRead) stats_.bytes_read += r.length;
  else if (r.type == kCmdWrite) stats_.bytes_written += r.length;
  co_await SendReply(r, o, data);
  permits_.Release();
}

io::Task<void> NbdSession::SendReply(const Request& r, const Outcome& o, std::span<uint8_t> data) {
  std::array<iovec, 2> iov{};
  size_t parts = 1;
  std::array<uint8_t, kOffsetDataHeaderSize> head{};
  std::vector<uint8_t> chunk;
  const bool ok = o.error == kNbdOk;
  if (r.type == kCmdRead && structured_) {
    // Structured replies: a READ is always answered with chunks, errors included.
    if (!ok) {
      std::string_view msg(o.message);
      Result<std::vector<uint8_t>> e = EncodeErrorChunk(r.cookie, o.error, msg.substr(0, 1024),
                                                       std::nullopt, /*done=*/true);
      if (!e.ok()) e = EncodeErrorChunk(r.cookie, o.error, "", std::nullopt, true);
      chunk = std::move(*e);
      iov[0] = {chunk.data(), chunk.size()};
    } else if (data.empty()) {
      const auto none = EncodeNoneChunk(r.cookie);
      std::copy(none.begin(), none.end(), head.begin());
      iov[0] = {head.data(), none.size()};
    } else {
      const auto h = EncodeOffsetDataHeader(r.cookie, r.offset, uint32_t(data.size()), true);
      head = *h;  // data.size() is within (0, 32 MiB]: always encodable
      iov[0] = {head.data(), head.size()};
      iov[1] = {data.data(), data.size()};
      parts = 2;
    }
  } else {
    const auto simple = EncodeSimpleReply(r.cookie, o.error);
    std::copy(simple.begin(), simple.end(), head.begin());
    iov[0] = {head.data(), simple.size()};
    if (ok && r.type == kCmdRead && !data.empty()) {  // the data is all in hand already
      iov[1] = {data.data(), data.size()};
      parts = 2;
    }
  }
  (void)co_await writer_.Send({iov.data(), parts});  // a failed send broke the connection
}

}  // namespace meshraid::exports
