// Test helper (header only, used by the export tests): an NbdServer over a MemDevice running
// on its own reactor thread, fed connections through socketpairs, plus a decorator that
// delays chosen reads so tests can force out-of-order completion.
#pragma once

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "export/nbd_server.h"
#include "io/mem_device.h"
#include "io/reactor.h"
#include "io/sync.h"

namespace meshraid::exports::testing {

// Delays every Read whose offset is in [from, to) by `delay_ns` (reactor timer), and every
// other operation not at all.
class SlowReadDevice : public io::BlockDeviceWrapper {
 public:
  SlowReadDevice(io::Reactor& r, std::unique_ptr<io::BlockDevice> target, uint64_t from,
                 uint64_t to, uint64_t delay_ns)
      : BlockDeviceWrapper(std::move(target)), reactor_(r), from_(from), to_(to), delay_ns_(delay_ns) {}

  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override {
    if (offset >= from_ && offset < to_) (void)co_await reactor_.Sleep(delay_ns_);
    co_return co_await target().Read(offset, buf);
  }

 private:
  io::Reactor& reactor_;
  uint64_t from_, to_, delay_ns_;
};

struct HarnessOptions {
  uint64_t size = 16 << 20;
  uint32_t logical_block_size = 512;
  bool read_only = false;
  std::string name = "disk";
  std::string description = "test disk";
  SessionOptions session;
  // Reads in [slow_from, slow_to) take slow_ns longer.
  uint64_t slow_from = 0, slow_to = 0, slow_ns = 0;
  // Optional decorator around the device (after the slow-read one), built on the reactor.
  std::function<std::unique_ptr<io::BlockDevice>(io::Reactor&, std::unique_ptr<io::BlockDevice>)> wrap;
};

class ServerHarness {
 public:
  explicit ServerHarness(HarnessOptions o = {}) : options_(std::move(o)) {
    std::promise<void> ready;
    thread_ = std::thread([this, &ready] { Body(&ready); });
    ready.get_future().wait();
  }
  ~ServerHarness() { Stop(); }

  // A new connection: the server end is adopted by the server, the client end returned.
  int Connect() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    const int server_fd = sv[1];
    const std::string peer = "test#" + std::to_string(++connections_);
    OnReactor([this, server_fd, peer] { server_->Adopt(server_fd, peer); });
    return sv[0];
  }
  // The same over TCP on the loopback interface (accepted here, adopted by the server);
  // `client_rcvbuf` > 0 sets the client's SO_RCVBUF before it connects. -1 on failure.
  int ConnectTcp(int client_rcvbuf = 0) {
    const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(l, 1) != 0 ||
        ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      if (l >= 0) ::close(l);
      return -1;
    }
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client_rcvbuf > 0) ::setsockopt(c, SOL_SOCKET, SO_RCVBUF, &client_rcvbuf, sizeof(client_rcvbuf));
    const bool ok = ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    const int server_fd = ok ? ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC) : -1;
    ::close(l);
    if (server_fd < 0) {
      ::close(c);
      return -1;
    }
    const std::string peer = "test#" + std::to_string(++connections_);
    OnReactor([this, server_fd, peer] { server_->Adopt(server_fd, peer); });
    return c;
  }
  // Runs `fn` on the reactor thread and waits for it.
  void OnReactor(std::function<void()> fn) {
    std::promise<void> done;
    reactor_->Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  // Server::Stop() on the reactor, then the thread ends. Idempotent.
  void Stop() {
    if (!thread_.joinable()) return;
    reactor_->Post([this] { stop_->Set(); });
    thread_.join();
  }
  bool stopped() const { return !thread_.joinable(); }
  // Device contents (any thread: runs on the reactor while it lives).
  std::vector<uint8_t> Peek(uint64_t offset, uint64_t length) {
    std::vector<uint8_t> out;
    if (stopped()) return mem_->Peek(offset, length);
    OnReactor([&] { out = mem_->Peek(offset, length); });
    return out;
  }
  io::MemDevice::Counters counters() {
    io::MemDevice::Counters c;
    if (stopped()) return mem_->counters();
    OnReactor([&] { c = mem_->counters(); });
    return c;
  }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> l(log_mu_);
    return log_;
  }
  size_t live_sessions() {
    size_t n = 0;
    OnReactor([&] { n = server_->live_sessions(); });
    return n;
  }

 private:
  io::Task<void> Main() {
    co_await stop_->Wait();
    co_await server_->Stop();
  }
  void Body(std::promise<void>* ready) {
    auto r = io::Reactor::Create();
    if (!r.ok()) Die(r.status());
    reactor_ = std::move(*r);
    auto mem = std::make_unique<io::MemDevice>(
        *reactor_, io::MemDevice::Options{options_.size, options_.logical_block_size, 4096, "mem"});
    mem_ = mem.get();
    if (options_.slow_ns > 0) {
      device_ = std::make_unique<SlowReadDevice>(*reactor_, std::move(mem), options_.slow_from,
                                                 options_.slow_to, options_.slow_ns);
    } else {
      device_ = std::move(mem);
    }
    if (options_.wrap) device_ = options_.wrap(*reactor_, std::move(device_));
    Export e{options_.name, options_.description, device_.get(), options_.read_only, false};
    auto s = NbdServer::CreateUnbound(*reactor_, e, options_.session, [this](std::string_view l) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.emplace_back(l);
    });
    if (!s.ok()) Die(s.status());
    server_ = std::move(*s);
    stop_ = std::make_unique<io::Event>(*reactor_);
    ready->set_value();
    reactor_->RunUntilComplete(Main());
    // The ring belongs to this thread: tear down here. The MemDevice stays for Peek().
    server_.reset();
    stop_.reset();
    reactor_.reset();
  }
  [[noreturn]] static void Die(const Status& s) {
    std::fprintf(stderr, "test harness: %s\n", s.ToString().c_str());
    std::abort();
  }

  HarnessOptions options_;
  std::thread thread_;
  std::unique_ptr<io::Reactor> reactor_;
  io::MemDevice* mem_ = nullptr;
  std::unique_ptr<io::BlockDevice> device_;
  std::unique_ptr<NbdServer> server_;
  std::unique_ptr<io::Event> stop_;
  int connections_ = 0;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

}  // namespace meshraid::exports::testing
