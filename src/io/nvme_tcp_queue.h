// NvmeTcpQueue: one NVMe/TCP queue pair (one TCP connection) of our host, on the reactor.
// NvmeTcpDevice builds the admin queue and the I/O queues out of it.
//
// Submit() sends one command capsule and completes with the CQE. Data: a read's C2HData PDUs
// land straight in the caller's buffer (in order, checked against its bounds, data digest
// checked when negotiated); a write's data goes in the capsule when it fits the queue's
// in-capsule size, otherwise in H2CData PDUs answering each R2T (at most MAXH2CDATA each).
// C2HData with SUCCESS completes the command without a CapsuleResp.
//
// Failure: anything the controller does that the spec forbids (a malformed PDU, a CID not in
// flight, data out of bounds) is answered with an H2CTermReq and kills the queue; so do a lost
// connection, a C2HTermReq, a data digest mismatch and a command older than the timeout. A dead
// queue completes every command in flight, and every later one at once, with the death status
// (device scope) — but only after its reader and writer have stopped touching buffers, so a
// caller's buffer is never used after its command completed. A CQE with an error status is
// not a transport failure: it is returned to the caller as the CQE.
//
// Single reactor thread. Close() must be awaited before destruction.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/gate.h"
#include "io/reactor.h"
#include "io/socket_reader.h"
#include "io/socket_writer.h"
#include "io/sync.h"
#include "io/task.h"
#include "proto/nvme_command.h"
#include "proto/nvme_tcp.h"
#include "proto/nvme_tcp_parser.h"
#include "util/result.h"

namespace meshraid::io {

class NvmeTcpQueue {
 public:
  struct Options {
    std::string name;           // for messages, e.g. "nvme+tcp://10.0.0.2:4420/nqn...: I/O queue 1"
    uint16_t depth = 32;        // commands in flight at most (CIDs 0..depth-1)
    bool header_digest = false;
    bool data_digest = false;
    uint64_t connect_timeout_ns = 10'000'000'000;  // TCP connect + ICReq/ICResp
    uint64_t command_timeout_ns = 10'000'000'000;  // 0: none
    // Why the queue died, once (may be empty).
    std::function<void(std::string_view)> log;
  };

  // Connects to `addr` and exchanges ICReq/ICResp (PFV 0, HPDA 0, MAXR2T 0: one R2T at a time,
  // as the Linux host asks). The controller must enable exactly the digests we asked for.
  static Task<Result<std::unique_ptr<NvmeTcpQueue>>> Connect(Reactor& reactor, const sockaddr* addr,
                                                             socklen_t addr_len, Options options);
  ~NvmeTcpQueue();

  // One command. The CID is assigned here; sgl1 is filled from the data buffers (a command
  // without data keeps what the caller put there, e.g. nothing). `data_in` (reads, Identify,
  // Get Log Page) and `data_out` (writes, Connect data, DSM ranges) must stay valid until this
  // completes; at most one of them is non-empty. Waits for a free CID when `depth` commands
  // are in flight.
  Task<Result<proto::nvme::Cqe>> Submit(proto::nvme::Sqe sqe, std::span<uint8_t> data_in = {},
                                        std::span<const uint8_t> data_out = {});

  // In-capsule data limit for writes: 8192 on the admin queue (the default), IOCCSZ × 16 − 64
  // on I/O queues once Identify Controller said it.
  void set_in_capsule_limit(uint32_t bytes) { in_capsule_limit_ = bytes; }
  uint32_t max_h2c_data() const { return max_h2c_data_; }
  uint16_t depth() const { return options_.depth; }
  size_t in_flight() const { return size_t(options_.depth) - free_.size(); }

  bool alive() const { return !dead_; }
  // OK while alive; otherwise why the queue died.
  const Status& death() const { return death_; }
  // Kills the queue (e.g. its controller's keep-alive failed). Idempotent.
  void Kill(Status why);
  // Kills the queue if it is alive and waits until everything in flight has completed and the
  // loops have stopped; then closes the socket. Idempotent.
  Task<void> Close();

 private:
  struct Slot {
    explicit Slot(Executor& ex) : done(ex) {}
    bool busy = false;
    std::span<uint8_t> in;
    std::span<const uint8_t> out;
    uint32_t received = 0;  // C2HData bytes so far
    uint32_t r2t_end = 0;   // data requested by R2Ts so far (they must come in order)
    uint32_t h2c_sent = 0;  // of that, on the socket
    std::optional<proto::nvme::Cqe> early;  // a CapsuleResp that came before our H2CData left
    uint64_t started_ns = 0;
    std::optional<Result<proto::nvme::Cqe>> result;
    Event done;
  };

  NvmeTcpQueue(Reactor& reactor, int fd, Options options);
  Task<Status> Handshake(const sockaddr* addr, socklen_t addr_len);
  void Start();
  Task<void> ReaderLoop();
  Task<void> WriterLoop();
  Task<void> Watchdog();
  // One received PDU after its header; false when the queue must die (already killed).
  Task<bool> OnC2HData(const proto::nvme::C2HData& d, const proto::nvme::PduFrame& frame,
                       std::span<const uint8_t> header);
  bool OnR2T(const proto::nvme::R2T& r);
  bool OnCapsuleResp(const proto::nvme::CapsuleResp& r);
  Task<void> SendH2CData(Slot& s, uint16_t cccid, uint16_t ttag, uint32_t offset,
                         std::span<const uint8_t> data);
  // Answers a protocol violation with an H2CTermReq (best effort) and kills the queue.
  Task<void> Refuse(const proto::nvme::PduError& e, std::span<const uint8_t> received);
  Slot* Busy(uint16_t cid);
  void Finish(Slot& s, Result<proto::nvme::Cqe> r);
  void FailAll();
  Status Dead(std::string_view why) const;

  Reactor& reactor_;
  int fd_;
  Options options_;
  SocketReader reader_;
  SocketWriter writer_;
  proto::nvme::TxOptions tx_;
  proto::nvme::ReceiveContext rx_;
  uint32_t in_capsule_limit_ = 8192;
  uint32_t max_h2c_data_ = 4096;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<uint16_t> free_;
  Semaphore permits_;
  Gate gate_;      // reader, writer, watchdog
  Gate senders_;   // H2CData senders
  Event writer_done_;
  Event loops_done_;
  CancelSlot watchdog_sleep_;
  bool started_ = false;
  bool dead_ = false;
  bool closed_ = false;
  Status death_;
};

}  // namespace meshraid::io
