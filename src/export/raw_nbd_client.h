// Test helper (header only, used by the export tests): a blocking NBD client that writes raw
// bytes, so tests can send exactly the well- or ill-formed messages they mean to. Every read
// has a timeout, so a server that fails to answer fails the test instead of hanging it.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/test_pattern.h"
#include "proto/nbd_request.h"
#include "proto/nbd_test_bytes.h"
#include "proto/nbd_wire.h"
#include "util/endian.h"

namespace meshraid::exports::testing {

using proto::testing::Bytes;

struct OptionReply {
  uint32_t option = 0;
  uint32_t type = 0;
  std::vector<uint8_t> payload;
};

struct SimpleReply {
  uint32_t error = 0;
  uint64_t cookie = 0;
};

struct Chunk {
  uint16_t flags = 0;
  uint16_t type = 0;
  uint64_t cookie = 0;
  std::vector<uint8_t> payload;
  uint32_t error() const { return payload.size() >= 4 ? LoadBe32(payload.data()) : 0; }
};

struct Negotiated {
  uint64_t size = 0;
  uint16_t flags = 0;
  uint32_t min_block = 0, preferred_block = 0, max_block = 0;
};

class RawClient {
 public:
  explicit RawClient(int fd, int timeout_ms = 10000) : fd_(fd), timeout_ms_(timeout_ms) {}
  ~RawClient() { if (fd_ >= 0) ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  int fd() const { return fd_; }
  void Close() { ::close(fd_); fd_ = -1; }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  bool Send(std::span<const uint8_t> b) {
    size_t done = 0;
    while (done < b.size()) {
      ssize_t n = ::send(fd_, b.data() + done, b.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += size_t(n);
    }
    return true;
  }
  // Reads exactly n bytes; nullopt on EOF, error or timeout.
  std::optional<std::vector<uint8_t>> Recv(size_t n) {
    std::vector<uint8_t> out(n);
    size_t done = 0;
    while (done < n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms_) != 1) return std::nullopt;
      ssize_t got = ::recv(fd_, out.data() + done, n - done, 0);
      if (got <= 0) return std::nullopt;
      done += size_t(got);
    }
    return out;
  }
  // True if the server closed the connection (EOF or reset) within the timeout; any bytes
  // still arriving before that are discarded.
  bool WaitClosed() {
    uint8_t buf[4096];
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms_) != 1) return false;
      if (::recv(fd_, buf, sizeof(buf), 0) <= 0) return true;
    }
  }

  // --- Handshake ------------------------------------------------------------------------
  bool ReadGreeting() {
    auto g = Recv(proto::kGreetingSize);
    return g && LoadBe64(g->data()) == proto::kNbdMagic && LoadBe64(g->data() + 8) == proto::kIHaveOpt &&
           LoadBe16(g->data() + 16) == proto::kServerHandshakeFlags;
  }
  bool SendClientFlags(uint32_t flags) { return Send(Bytes().U32(flags).vec()); }
  bool SendOption(uint32_t code, std::span<const uint8_t> data, uint64_t magic = proto::kIHaveOpt) {
    Bytes b;
    b.U64(magic).U32(code).U32(uint32_t(data.size()));
    std::vector<uint8_t> v = b;
    v.insert(v.end(), data.begin(), data.end());
    return Send(v);
  }
  std::optional<OptionReply> ReadOptionReply() {
    auto h = Recv(proto::kOptionReplyHeaderSize);
    if (!h || LoadBe64(h->data()) != proto::kOptionReplyMagic) return std::nullopt;
    OptionReply r{LoadBe32(h->data() + 8), LoadBe32(h->data() + 12), {}};
    const uint32_t len = LoadBe32(h->data() + 16);
    if (len > 0) {
      auto p = Recv(len);
      if (!p) return std::nullopt;
      r.payload = std::move(*p);
    }
    return r;
  }
  static std::vector<uint8_t> InfoData(std::string_view name, std::vector<uint16_t> infos) {
    Bytes b;
    b.U32(uint32_t(name.size())).Str(name).U16(uint16_t(infos.size()));
    for (uint16_t i : infos) b.U16(i);
    return b;
  }
  // Reads INFO replies up to the final one (ACK or error), filling `n`; returns the final
  // reply type.
  uint32_t ReadInfoReplies(Negotiated* n, std::vector<OptionReply>* all = nullptr) {
    for (;;) {
      auto r = ReadOptionReply();
      if (!r) return 0;
      if (all) all->push_back(*r);
      if (r->type != proto::kRepInfo) return r->type;
      const uint8_t* p = r->payload.data();
      const uint16_t info = LoadBe16(p);
      if (info == proto::kInfoExport && r->payload.size() == 12) {
        n->size = LoadBe64(p + 2);
        n->flags = LoadBe16(p + 10);
      } else if (info == proto::kInfoBlockSize && r->payload.size() == 14) {
        n->min_block = LoadBe32(p + 2);
        n->preferred_block = LoadBe32(p + 6);
        n->max_block = LoadBe32(p + 10);
      }
    }
  }
  // Greeting, flags 0x3, optionally STRUCTURED_REPLY, then GO for `name`. nullopt on failure.
  std::optional<Negotiated> Connect(bool structured = true, std::string_view name = "") {
    if (!ReadGreeting() || !SendClientFlags(3)) return std::nullopt;
    if (structured) {
      if (!SendOption(proto::kOptStructuredReply, {})) return std::nullopt;
      auto r = ReadOptionReply();
      if (!r || r->type != proto::kRepAck) return std::nullopt;
    }
    Negotiated n;
    if (!SendOption(proto::kOptGo, InfoData(name, {proto::kInfoBlockSize}))) return std::nullopt;
    if (ReadInfoReplies(&n) != proto::kRepAck) return std::nullopt;
    return n;
  }

  // --- Transmission ---------------------------------------------------------------------
  bool SendRequest(uint16_t type, uint64_t cookie, uint64_t offset, uint32_t length,
                   uint16_t flags = 0, std::span<const uint8_t> payload = {}) {
    const auto h = proto::EncodeRequest({flags, type, cookie, offset, length});
    std::vector<uint8_t> v(h.begin(), h.end());
    v.insert(v.end(), payload.begin(), payload.end());
    return Send(v);
  }
  std::optional<SimpleReply> ReadSimpleReply() {
    auto h = Recv(proto::kSimpleReplySize);
    if (!h || LoadBe32(h->data()) != proto::kSimpleReplyMagic) return std::nullopt;
    return SimpleReply{LoadBe32(h->data() + 4), LoadBe64(h->data() + 8)};
  }
  std::optional<Chunk> ReadChunk() {
    auto h = Recv(proto::kStructuredHeaderSize);
    if (!h || LoadBe32(h->data()) != proto::kStructuredReplyMagic) return std::nullopt;
    Chunk c{LoadBe16(h->data() + 4), LoadBe16(h->data() + 6), LoadBe64(h->data() + 8), {}};
    const uint32_t len = LoadBe32(h->data() + 16);
    if (len > 0) {
      auto p = Recv(len);
      if (!p) return std::nullopt;
      c.payload = std::move(*p);
    }
    return c;
  }
  // A 16-byte simple reply whose cookie/error are checked by the caller, plus `data_len`
  // bytes of READ data when the reply is a success.
  std::optional<std::pair<SimpleReply, std::vector<uint8_t>>> ReadSimpleRead(uint32_t data_len) {
    auto r = ReadSimpleReply();
    if (!r) return std::nullopt;
    if (r->error != 0 || data_len == 0) return std::make_pair(*r, std::vector<uint8_t>{});
    auto d = Recv(data_len);
    if (!d) return std::nullopt;
    return std::make_pair(*r, std::move(*d));
  }

 private:
  int fd_;
  int timeout_ms_;
};

using io::testing::Pattern;

}  // namespace meshraid::exports::testing
