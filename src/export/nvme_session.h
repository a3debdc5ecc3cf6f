// NvmeSession: one TCP connection to our NVMe/TCP target, i.e. one queue (admin or I/O) of one
// controller once its Fabrics Connect succeeded.
//
// ICReq within limits.icreq_timeout_ns, else the connection is closed; the ICResp echoes the
// digests asked for (the Linux host demands it), CPDA 0, MAXH2CDATA from the limits. Then each
// CapsuleCmd runs in its own coroutine: host data comes in the capsule or after one R2T for the
// whole transfer (its H2CData PDUs are routed here by TTAG = CID), the answer is C2HData (if
// any) and a CapsuleResp, sent together in completion order. A PDU the spec forbids gets a
// C2HTermReq with its FES/FEI and closes this connection only; a data digest error in host
// data completes that command with Transient Transport Error.
//
// Reactor thread only. The target owns sessions and runs them until Run() returns.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "export/nvme_controller.h"
#include "export/nvme_subsystem.h"
#include "io/gate.h"
#include "io/reactor.h"
#include "io/socket_reader.h"
#include "io/socket_writer.h"
#include "io/sync.h"
#include "io/task.h"
#include "proto/nvme_command.h"
#include "proto/nvme_tcp.h"
#include "proto/nvme_tcp_parser.h"

namespace meshraid::exports {

class NvmeTarget;

class NvmeSession {
 public:
  NvmeSession(NvmeTarget& target, io::Reactor& reactor, int fd, std::string peer);
  ~NvmeSession();

  io::Task<void> Run();
  // Stops reading; the commands in flight finish, then the connection closes. `hard`: close
  // the socket at once as well (the association is gone or its host went silent).
  void RequestStop(bool hard);

  const std::string& peer() const { return peer_; }
  NvmeController* controller() const { return controller_; }
  uint16_t qid() const { return qid_; }
  uint64_t commands() const { return commands_; }

 private:
  struct Transfer {  // host data of one command being fetched by R2T
    explicit Transfer(io::Executor& ex) : done(ex) {}
    std::vector<uint8_t> data;
    uint32_t received = 0;
    bool active = false;
    bool digest_error = false;
    io::Event done;
  };

  io::Task<bool> Initialize();
  io::Task<void> ReadLoop();
  io::Task<bool> OnCapsule(const proto::nvme::Sqe& sqe, const proto::nvme::PduFrame& frame);
  io::Task<bool> OnH2CData(const proto::nvme::H2CData& d, const proto::nvme::PduFrame& frame,
                           std::span<const uint8_t> header);
  io::Task<void> Execute(proto::nvme::Sqe sqe, std::vector<uint8_t> data, bool digest_error);
  io::Task<void> Answer(const proto::nvme::Cqe& cqe, std::span<const uint8_t> data);
  // Runs a command that needs host data sent by R2T, then answers it.
  io::Task<void> FetchAndExecute(proto::nvme::Sqe sqe, uint32_t length);
  io::Task<NvmeController::Reply> Connect(const proto::nvme::Sqe& sqe, std::span<const uint8_t> data);
  io::Task<void> Refuse(const proto::nvme::PduError& e, std::span<const uint8_t> received);
  io::Task<void> StopDeadline();
  void Log(const std::string& line) const;

  NvmeTarget& target_;
  io::Reactor& reactor_;
  int fd_;
  std::string peer_;
  io::SocketReader reader_;
  io::SocketWriter writer_;
  proto::nvme::TxOptions tx_;
  proto::nvme::ReceiveContext rx_;
  io::Gate commands_gate_;
  std::vector<std::unique_ptr<Transfer>> transfers_;  // by CID (= TTAG)
  std::vector<bool> cid_busy_;
  NvmeController* controller_ = nullptr;
  uint16_t qid_ = 0;
  uint32_t queue_entries_ = 32;
  uint16_t sqhd_ = 0;
  uint64_t commands_ = 0;
  bool stopping_ = false;
  bool hard_ = false;
  io::Event stop_requested_;
  io::CancelSlot deadline_slot_;
  bool main_done_ = false;
  bool terminated_ = false;  // a TermReq went out: nothing more is sent on this connection
  std::string why_closed_;
};

}  // namespace meshraid::exports
