// NBD server: listener, accept loop and session tracking (see nbd_server.h).
#include "export/nbd_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <fmt/format.h>

#include "proto/nbd_wire.h"

namespace meshraid::exports {

namespace {

Status CheckExport(const Export& e) {
  if (e.device == nullptr) return Status::InvalidArgument("export without a device");
  MESHRAID_RETURN_IF_ERROR(proto::CheckWireString(e.name, "export name"));
  MESHRAID_RETURN_IF_ERROR(proto::CheckWireString(e.description, "export description"));
  const ExportParams p = DescribeExport(e);
  MESHRAID_RETURN_IF_ERROR(proto::ValidateBlockSize(p.block_size));
  return Status::Ok();
}

}  // namespace

NbdServer::NbdServer(io::Reactor& reactor, Export e, SessionOptions session, LogFn log)
    : reactor_(reactor), export_(std::move(e)), params_(DescribeExport(export_)),
      session_options_(session), log_(std::move(log)), gate_(reactor) {}

Result<std::unique_ptr<NbdServer>> NbdServer::CreateUnbound(io::Reactor& reactor, Export e,
                                                            SessionOptions options, LogFn log) {
  MESHRAID_RETURN_IF_ERROR(CheckExport(e));
  return std::unique_ptr<NbdServer>(new NbdServer(reactor, std::move(e), options, std::move(log)));
}

Result<std::unique_ptr<NbdServer>> NbdServer::Create(io::Reactor& reactor, Export e,
                                                     ServerOptions options) {
  MESHRAID_ASSIGN_OR_RETURN(std::unique_ptr<NbdServer> server,
                            CreateUnbound(reactor, std::move(e), options.session,
                                          std::move(options.log)));
  MESHRAID_ASSIGN_OR_RETURN(server->listener_, OpenListener(options.listen));
  return server;
}

NbdServer::~NbdServer() { CloseListener(listener_); }

void NbdServer::Log(std::string_view line) const {
  if (log_) log_(line);
  else std::fprintf(stderr, "meshraid: %.*s\n", int(line.size()), line.data());
}

void NbdServer::Start() {
  if (started_ || stopping_ || listener_.fd < 0) return;
  started_ = true;
  Log(fmt::format("nbd: serving export '{}' ({} bytes) on {}", export_.name, params_.size,
                  listener_.address));
  io::Spawn(gate_, AcceptLoop());
}

bool NbdServer::Adopt(int fd, std::string peer) {
  if (stopping_) {
    ::close(fd);
    return false;
  }
  ++connections_;
  // Described per connection: the device may have grown (an array after a reshape).
  auto s = std::make_unique<NbdSession>(reactor_, fd, export_, DescribeExport(export_),
                                        session_options_, std::move(peer),
                                        [this](std::string_view l) { Log(l); });
  return io::Spawn(gate_, RunSession(std::move(s)));
}

io::Task<void> NbdServer::RunSession(std::unique_ptr<NbdSession> s) {
  sessions_.insert(s.get());
  if (stopping_) s->RequestStop();
  co_await s->Run();
  sessions_.erase(s.get());
}

io::Task<void> NbdServer::AcceptLoop() {
  // Named first: lambdas inside a co_await operand are destroyed twice by GCC 12 (io/task.h).
  io::Task<void> loop = exports::AcceptLoop(
      reactor_, listener_, accept_slot_, stopping_,
      [this](int fd, std::string peer) {
        Adopt(fd, fmt::format("#{} from {} on {}", connections_ + 1, peer, listener_.address));
      },
      [this](std::string_view l) { Log(fmt::format("nbd: {}", l)); });
  co_await std::move(loop);
}

io::Task<void> NbdServer::Stop() {
  if (!stopping_) {
    stopping_ = true;
    reactor_.Cancel(accept_slot_);
    for (NbdSession* s : sessions_) s->RequestStop();
  }
  co_await gate_.Close();
  if (listener_.fd >= 0) {
    Log(fmt::format("nbd: stopped serving on {}", listener_.address));
    CloseListener(listener_);
  }
}

}  // namespace meshraid::exports
