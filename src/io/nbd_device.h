// NbdDevice: a BlockDevice whose member lives behind an NBD export, through libnbd's async API
// driven by the reactor (NbdConnection: no threads, no blocking calls on the data path).
//
// URIs: `nbd://HOST[:PORT]/EXPORT` (TCP) and `nbd+unix:///EXPORT?socket=PATH`; libnbd parses
// them. HOST must be a numeric address unless Options::allow_name_lookup: libnbd resolves
// names with a blocking getaddrinfo inside the state machine, which would stall the reactor.
//
// Failure model (what the RAID layer sees):
//  - A server error on one request comes back as that errno (EIO: kIoError, range scope).
//  - A request that gets no reply within Options::request_timeout_ns completes with kTimedOut,
//    device scope. The connection is then closed (there is no other way to get a buffer back
//    from libnbd), so every other request in flight fails too, with the same status.
//  - A lost connection (server killed, socket error) fails every request in flight with
//    kUnavailable, device scope; later requests fail at once with kUnavailable.
//  - The device never reconnects by itself. Reconnect() opens a fresh connection and bumps
//    generation(), so the RAID layer can tell that a member came back (and must not trust its
//    contents without a resync). Whether and when to reconnect is the RAID layer's decision.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "io/block_device.h"
#include "io/nbd_connection.h"
#include "io/reactor.h"
#include "io/task.h"
#include "util/result.h"

namespace meshraid::io {

class NbdDevice : public BlockDevice {
 public:
  struct Options {
    uint64_t connect_timeout_ns = 10'000'000'000;  // handshake bound; 0 = none
    uint64_t request_timeout_ns = 10'000'000'000;  // per request; 0 = none
    uint64_t close_timeout_ns = 2'000'000'000;     // Close(): wait for the server to hang up
    bool allow_name_lookup = false;                // allow host names (blocking getaddrinfo)
    // Connection deaths and reconnects, one line each; may be empty.
    std::function<void(std::string_view)> log;
  };

  // Connects to `uri` and reads size, block sizes and capabilities into info(). Runs on the
  // reactor's thread; `reactor` must outlive the device. Errors: kInvalidArgument (bad URI, a
  // host name without allow_name_lookup, a negative or unusable size), the connection error
  // (kUnavailable, kNotFound for a missing socket, ...), kTimedOut (handshake too slow).
  static Task<Result<std::unique_ptr<NbdDevice>>> Connect(Reactor& reactor, std::string uri,
                                                          Options options);
  static Task<Result<std::unique_ptr<NbdDevice>>> Connect(Reactor& reactor, std::string uri) {
    return Connect(reactor, std::move(uri), Options{});
  }
  // Precondition: Close() was awaited (aborts otherwise: libnbd may still own buffers and the
  // connection's coroutines would outlive the device).
  ~NbdDevice() override;

  // logical_block_size: the advertised minimum, at least 512. max_io_bytes: the advertised
  // maximum capped at 32 MiB (nbd-io §3.6). can_discard = trim, can_write_zeroes = zero.
  const DeviceInfo& info() const override { return info_; }
  // Requests larger than max_io_bytes are split and sent concurrently. Offsets and lengths are
  // checked with CheckRange.
  Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override;
  // kFua: NBD FUA if the server can, else the write followed by a flush.
  Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                     WriteFlags flags = WriteFlags::kNone) override;
  // NBD_CMD_FLUSH; OK without a round trip when the server does not advertise flush (it then
  // claims to have no volatile cache; info().can_flush is false).
  Task<Status> Flush() override;
  // NBD_CMD_TRIM; kNotSupported if the server cannot trim.
  Task<Status> Discard(uint64_t offset, uint64_t length) override;
  // NBD_CMD_WRITE_ZEROES (kNoHole: NO_HOLE) if the server can, else writes of a zero buffer.
  Task<Status> WriteZeroes(uint64_t offset, uint64_t length,
                           ZeroFlags flags = ZeroFlags::kNone) override;
  // Sends NBD_CMD_DISC, waits (at most close_timeout_ns) for the server to hang up, closes the
  // handle. No request may be pending. Idempotent; OK if the connection had already died.
  Task<Status> Close() override;

  // Drops the current connection (failing whatever is in flight with kUnavailable) and opens
  // a new one. The export must still have the same size and a compatible block size, else
  // kFailedPrecondition (a different disk). On success generation() is incremented. Not
  // allowed concurrently with itself (kBusy) or after Close (kFailedPrecondition).
  Task<Status> Reconnect();

  // 1 for the first connection, +1 for each successful Reconnect.
  uint64_t generation() const { return generation_; }
  bool connected() const { return conn_ != nullptr && conn_->alive(); }
  // OK while connected; otherwise why the connection ended.
  Status connection_status() const;
  bool read_only() const { return read_only_; }
  // Tests only, forwarded to the current connection (see NbdConnection).
  void InjectStaleReadWakeForTest() {
    if (conn_) conn_->InjectStaleReadWakeForTest();
  }
  uint64_t stale_read_wakes() const { return conn_ ? conn_->stale_read_wakes() : 0; }
  const std::string& uri() const { return uri_; }

 private:
  // What a fresh connection reports.
  struct Caps {
    DeviceInfo info;
    bool read_only = false;
    uint64_t export_bytes = 0;  // before rounding down to the logical block size
  };

  NbdDevice(Reactor& reactor, std::string uri, Options options);
  Result<Caps> ReadCapabilities(nbd_handle* h) const;
  Task<Result<std::shared_ptr<NbdConnection>>> OpenConnection();
  Status Check(const char* op, uint64_t offset, uint64_t length) const;
  enum class PieceOp { kRead, kWrite, kTrim, kZero };
  // One NBD command (`buf` for reads and writes only).
  static Task<Status> Piece(NbdConnection& c, PieceOp op, uint64_t offset, uint8_t* buf,
                            uint64_t length, uint32_t flags);
  // Splits into commands of at most max_io_bytes (reads, writes) or 1 GiB (trim, zero), sent
  // concurrently; the first error in range order wins.
  Task<Status> Pieces(NbdConnection& c, PieceOp op, uint64_t offset, uint8_t* buf,
                      uint64_t length, uint32_t flags);
  Task<Status> WriteZeroBuffers(NbdConnection& c, uint64_t offset, uint64_t length);

  Reactor& reactor_;
  std::string uri_;
  Options options_;
  DeviceInfo info_;
  bool read_only_ = false;
  uint64_t export_bytes_ = 0;
  // Shared: an operation keeps the connection it started on alive (and sticks to it, e.g. for
  // the flush after an emulated FUA write) even if Reconnect replaces conn_ meanwhile.
  std::shared_ptr<NbdConnection> conn_;
  uint64_t generation_ = 0;
  bool reconnecting_ = false;
  bool closed_ = false;
};

// OK if `uri` can be connected to without a name lookup (nbd+unix, nbd+vsock, or a numeric
// IPv4/IPv6 host); kInvalidArgument naming the host otherwise. Exposed for tests.
Status CheckNbdUriHostIsNumeric(std::string_view uri);

}  // namespace meshraid::io
