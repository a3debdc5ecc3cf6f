// Test helper (header only, used by the NVMe/TCP host and target tests): one end of an NVMe/TCP
// connection on a blocking socket, either role, built on the pure codec. It sends exactly the
// bytes a test gives it (well- or ill-formed) and reads whole PDUs with the two-step parser.
// Every read has a timeout, so a peer that fails to answer fails the test instead of hanging it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "proto/nvme_tcp.h"
#include "proto/nvme_tcp_parser.h"
#include "util/endian.h"

namespace meshraid::io::testing {

// A TCP connection to 127.0.0.1:port (blocking); -1 on failure.
inline int ConnectLoopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

class NvmeTestPeer {
 public:
  // `role`: what this end is (kHost reads C2H PDUs, kController H2C ones).
  NvmeTestPeer(int fd, proto::nvme::Role role, int timeout_ms = 10000) : fd_(fd), timeout_ms_(timeout_ms) {
    rx.receiver = role;
    rx.max_data_per_pdu = 64u << 20;
    rx.max_in_capsule_data = 1u << 20;
  }
  ~NvmeTestPeer() {
    if (fd_ >= 0) ::close(fd_);
  }
  NvmeTestPeer(const NvmeTestPeer&) = delete;
  NvmeTestPeer& operator=(const NvmeTestPeer&) = delete;

  int fd() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(std::span<const uint8_t> b) {
    size_t done = 0;
    while (done < b.size()) {
      const ssize_t n = ::send(fd_, b.data() + done, b.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += size_t(n);
    }
    return true;
  }
  // A PDU from its prefix, then `data` and (when the prefix says so) its data digest; a
  // `bad_data_digest` sends the digest with its bits flipped.
  bool SendPdu(const proto::nvme::PduPrefix& p, std::span<const uint8_t> data = {}, bool bad_data_digest = false) {
    std::vector<uint8_t> b(p.buf.begin(), p.buf.begin() + p.size);
    b.insert(b.end(), data.begin(), data.end());
    if (p.data_digest) {
      const auto d = proto::nvme::EncodeDigest(proto::nvme::DataDigest(data) ^ (bad_data_digest ? 0xFFFFFFFFu : 0));
      b.insert(b.end(), d.begin(), d.end());
    }
    return Send(b);
  }

  // Exactly n bytes; nullopt on EOF, error or timeout.
  std::optional<std::vector<uint8_t>> Recv(size_t n) {
    std::vector<uint8_t> out(n);
    size_t done = 0;
    while (done < n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms_) != 1) {
        error = "timed out";
        return std::nullopt;
      }
      const ssize_t got = ::recv(fd_, out.data() + done, n - done, 0);
      if (got <= 0) {
        error = got == 0 ? "EOF" : "recv failed";
        return std::nullopt;
      }
      done += size_t(got);
    }
    return out;
  }

  // Waits until the other end closes (EOF or reset); `extra` is whatever arrived first.
  struct Closed {
    bool closed = false;
    std::vector<uint8_t> extra;
  };
  Closed WaitClosed() {
    Closed c;
    uint8_t buf[4096];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms_) != 1) return c;
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) {
        c.closed = true;
        return c;
      }
      c.extra.insert(c.extra.end(), buf, buf + n);
    }
  }

  struct Received {
    uint8_t type = 0;
    proto::nvme::Pdu pdu;
    std::vector<uint8_t> header;  // the header bytes (with digest; a TermReq's whole PDU)
    std::vector<uint8_t> data;
    bool data_digest_ok = true;
  };
  // One PDU; nullopt (and `error`) on EOF, timeout or a PDU the parser refuses.
  std::optional<Received> ReadPdu() {
    namespace nv = proto::nvme;
    auto common = Recv(nv::kCommonHeaderSize);
    if (!common) return std::nullopt;
    auto frame = nv::FramePdu(std::span<const uint8_t, nv::kCommonHeaderSize>(common->data(), nv::kCommonHeaderSize), rx);
    if (!frame.ok()) {
      error = std::string(frame.error().message);
      return std::nullopt;
    }
    Received r;
    r.type = (*common)[0];
    r.header = *common;
    if (frame->remaining_header() > 0) {
      auto rest = Recv(frame->remaining_header());
      if (!rest) return std::nullopt;
      r.header.insert(r.header.end(), rest->begin(), rest->end());
    }
    auto pdu = nv::DecodePduHeader(r.header, rx);
    if (!pdu.ok()) {
      error = std::string(pdu.error().message);
      return std::nullopt;
    }
    r.pdu = *pdu;
    if (frame->padding != 0 && !Recv(frame->padding)) return std::nullopt;
    if (frame->data_length != 0) {
      auto d = Recv(frame->data_length);
      if (!d) return std::nullopt;
      r.data = std::move(*d);
      if (frame->data_digest) {
        auto g = Recv(nv::kDigestSize);
        if (!g) return std::nullopt;
        r.data_digest_ok = LoadLe32(g->data()) == nv::DataDigest(r.data);
      }
    }
    return r;
  }

  // What this end sends with and expects: set once the ICReq/ICResp are exchanged.
  proto::nvme::TxOptions tx;
  proto::nvme::ReceiveContext rx;
  std::string error;  // why the last read failed

 private:
  int fd_;
  int timeout_ms_;
};

}  // namespace meshraid::io::testing
