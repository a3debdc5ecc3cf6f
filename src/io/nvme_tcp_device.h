// NvmeTcpDevice: a BlockDevice whose member is one namespace of an NVMe over Fabrics
// subsystem reached over TCP (the kernel's nvmet-tcp, SPDK, or another meshraid's target),
// through our own host on the reactor (NvmeTcpQueue: no kernel module, no threads).
//
// URI: nvme_tcp_uri.h. Bring-up (NVMe-oF 1.1): admin queue (ICReq, Fabrics Connect with the
// host NQN and ID, KATO), CAP, CC.EN, CSTS.RDY, Identify Controller, Number of Queues, Identify
// Namespace (size and LBA size from its current format), then `queues` I/O queues of `depth`
// (capped by CAP.MQES) connected with the controller's CNTLID, and a Keep Alive every KATO/2.
//
// I/O: Read/Write split at min(MDTS, 128 KiB) and spread over the I/O queues; writes that fit
// the queue's in-capsule size go in the capsule, the rest on R2T; FUA as the command's FUA bit;
// Flush; Write Zeroes (DEAC for kDeallocate) and Dataset Management (discard) when ONCS has
// them, zero buffers and kNotSupported otherwise.
//
// Failure model (as NbdDevice's, so the RAID layer needs no new rule): a CQE error status on an
// I/O is that command's error (kIoError, range scope); a transport failure on any queue — lost
// connection, command or keep-alive timeout, TermReq, digest error — kills every queue, fails
// everything in flight and everything later with a device-scoped error. The device never
// reconnects by itself: `manage --re-add` opens a new one.
//
// Single reactor thread. Close() (normal shutdown: CC.SHN, then the sockets) must be awaited
// before destruction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/block_device.h"
#include "io/gate.h"
#include "io/nvme_tcp_queue.h"
#include "io/nvme_tcp_uri.h"
#include "io/reactor.h"
#include "io/task.h"
#include "proto/nvme_identify.h"
#include "util/result.h"

namespace meshraid::io {

class NvmeTcpDevice : public BlockDevice {
 public:
  struct Options {
    uint64_t connect_timeout_ns = 10'000'000'000;  // each queue's connect, and controller ready
    uint64_t command_timeout_ns = 10'000'000'000;  // per command
    uint32_t kato_ms = 10'000;                     // keep alive timeout we ask for
    uint32_t max_io_bytes = 128u << 10;            // cap on one command's data (MDTS may cap more)
    // Queue deaths, one line each (may be empty).
    std::function<void(std::string_view)> log;
  };

  // Errors: kInvalidArgument (bad URI), the connect error, kNotFound (namespace not active),
  // kFailedPrecondition (the subsystem refused our host NQN, or is not an NVM subsystem), ...
  // each naming the URI.
  static Task<Result<std::unique_ptr<NvmeTcpDevice>>> Connect(Reactor& reactor, std::string uri,
                                                              Options options);
  static Task<Result<std::unique_ptr<NvmeTcpDevice>>> Connect(Reactor& reactor, std::string uri) {
    return Connect(reactor, std::move(uri), Options{});
  }
  ~NvmeTcpDevice() override;

  const DeviceInfo& info() const override { return info_; }
  Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override;
  Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                     WriteFlags flags = WriteFlags::kNone) override;
  Task<Status> Flush() override;
  Task<Status> Discard(uint64_t offset, uint64_t length) override;
  Task<Status> WriteZeroes(uint64_t offset, uint64_t length,
                           ZeroFlags flags = ZeroFlags::kNone) override;
  Task<Status> Close() override;

  const NvmeTcpUri& uri() const { return uri_; }
  uint16_t cntlid() const { return cntlid_; }
  const proto::nvme::ControllerIdentity& controller() const { return ctrl_; }
  const proto::nvme::NamespaceIdentity& ns() const { return ns_; }
  size_t io_queues() const { return io_.size(); }
  bool connected() const;

 private:
  NvmeTcpDevice(Reactor& reactor, NvmeTcpUri uri, Options options);
  Task<Status> BringUp();
  Task<Status> ConnectQueue(uint16_t qid, uint16_t entries, uint32_t kato_ms,
                            std::unique_ptr<NvmeTcpQueue>* out);
  // Admin command; a non-success CQE is an error naming `what`.
  Task<Result<proto::nvme::Cqe>> Admin(proto::nvme::Sqe sqe, std::string_view what,
                                       std::span<uint8_t> in = {}, std::span<const uint8_t> out = {});
  Task<Result<uint64_t>> PropertyGet(uint32_t offset, bool eight_bytes);
  Task<Status> PropertySet(uint32_t offset, uint64_t value);
  Task<void> KeepAlive();
  // One I/O command on the least busy I/O queue; CQE errors become Statuses naming the range.
  Task<Status> Io(proto::nvme::Sqe sqe, const char* op, uint64_t offset, uint64_t length,
                  std::span<uint8_t> in = {}, std::span<const uint8_t> out = {});
  Task<Status> Pieces(const char* op, uint8_t opcode, uint64_t offset, uint64_t length, uint8_t* in,
                      const uint8_t* out, bool fua, bool deac, uint64_t piece_bytes);
  Task<Status> ZeroBuffers(uint64_t offset, uint64_t length);
  void KillAll(const Status& why);
  Status Check(const char* op, uint64_t offset, uint64_t length) const;
  std::string Where(const char* op, uint64_t offset, uint64_t length) const;

  Reactor& reactor_;
  NvmeTcpUri uri_;
  Options options_;
  DeviceInfo info_;
  std::string name_;
  std::unique_ptr<NvmeTcpQueue> admin_;
  std::vector<std::unique_ptr<NvmeTcpQueue>> io_;
  proto::nvme::ControllerIdentity ctrl_;
  proto::nvme::NamespaceIdentity ns_;
  uint16_t cntlid_ = 0;
  uint32_t lba_shift_ = 9;
  uint64_t max_cmd_bytes_ = 128u << 10;
  Gate gate_;  // the keep-alive loop
  CancelSlot ka_sleep_;
  bool closed_ = false;
};

}  // namespace meshraid::io
