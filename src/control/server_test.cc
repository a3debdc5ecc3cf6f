// The control server and client over a temporary run dir, with a fake handler.
#include "control/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "control/client.h"
#include "control/protocol.h"
#include "control/run_dir.h"
#include "control/unix_socket.h"

namespace meshraid::control {
namespace {

class FakeHandler : public ControlHandler {
 public:
  Result<ArrayStatus> GetStatus() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    thread_ = std::this_thread::get_id();
    ArrayStatus a;
    a.name = "arr";
    a.raid_disks = 2;
    a.read_policy = policy_;
    return a;
  }
  Result<std::string> Set(const std::string& key, const std::string& value) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (key != "read-policy") return Status::InvalidArgument("unknown setting '" + key + "'");
    policy_ = value;
    return "read-policy: " + value;
  }
  Result<std::string> Action(const std::string& action) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_;
    if (action == "bogus") return Status::InvalidArgument("sync action 'bogus'");
    return "sync_action: idle -> " + action;
  }
  // Answers through `defer` when set (the test decides when), at once otherwise.
  void Manage(const ManageRequest& r, Reply done) override {
    std::function<void(std::function<void()>)> defer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_;
      defer = defer_;
    }
    Result<std::string> answer = r.member == "/dev/missing"
                                     ? Result<std::string>(Status::NotFound(r.member + ": not a member"))
                                     : Result<std::string>(r.op + " " + r.member + " " + r.with);
    if (!defer) return done(answer);
    defer([done, answer] { done(answer); });
  }
  void set_defer(std::function<void(std::function<void()>)> d) {
    std::lock_guard<std::mutex> lock(mu_);
    defer_ = std::move(d);
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::thread::id thread() {
    std::lock_guard<std::mutex> lock(mu_);
    return thread_;
  }

 private:
  std::mutex mu_;
  int calls_ = 0;
  std::string policy_ = "latency";
  std::thread::id thread_;
  std::function<void(std::function<void()>)> defer_;
};

// Stands in for the reactor: runs posted functions, in order, on its own thread.
class FakeReactor {
 public:
  FakeReactor() : thread_([this] { Loop(); }) {}
  ~FakeReactor() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(fn));
    }
    cv_.notify_all();
  }
  std::thread::id id() const { return thread_.get_id(); }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return done_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool done_ = false;
  std::thread thread_;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/meshraid-ctl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    client_.run_dir = dir_;
    client_.timeout_ms = 2000;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<ControlServer> Serve(const std::string& name, ServerOptions o = {}) {
    o.run_dir = dir_;
    o.log = [this](const std::string& l) {
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(l);
    };
    Result<std::unique_ptr<ControlServer>> s = ControlServer::Start(name, handler_, std::move(o));
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  // A socket file that nobody listens on, as a killed server leaves behind.
  void MakeStaleSocket(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(fd);
  }
  // One raw request line and its raw answer line on `fd`.
  nlohmann::json Raw(int fd, const std::string& line) {
    EXPECT_TRUE(WriteAll(fd, line + "\n", NowMs() + 2000).ok());
    Result<std::string> r = ReadLine(fd, NowMs() + 2000, kMaxLineBytes);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? nlohmann::json::parse(*r) : nlohmann::json();
  }

  std::string dir_;
  ClientOptions client_;
  FakeHandler handler_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(ServerTest, StatusAndSetRoundTrip) {
  auto server = Serve("arr");
  ASSERT_TRUE(server);
  EXPECT_EQ(server->path(), dir_ + "/arr.ctl");
  Result<ArrayStatus> s = QueryStatus("arr", client_);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->name, "arr");
  EXPECT_EQ(s->read_policy, "latency");
  Result<std::string> m = SetValue("arr", "read-policy", "md", client_);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(*m, "read-policy: md");
  EXPECT_EQ(QueryStatus("arr", client_)->read_policy, "md");
  Result<std::string> bad = SetValue("arr", "colour", "blue", client_);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "unknown setting 'colour'");
  // By socket path as well as by name.
  EXPECT_TRUE(QueryStatus(server->path(), client_).ok());
}

TEST_F(ServerTest, RequestsRunOnThePostedThread) {
  FakeReactor reactor;
  ServerOptions o;
  o.post = [&reactor](std::function<void()> fn) { reactor.Post(std::move(fn)); };
  auto server = Serve("arr", std::move(o));
  ASSERT_TRUE(QueryStatus("arr", client_).ok());
  EXPECT_EQ(handler_.thread(), reactor.id());
  server->Stop();
}

TEST_F(ServerTest, SocketIsPrivateAndRemovedOnStop) {
  auto server = Serve("arr");
  struct stat st {};
  ASSERT_EQ(::lstat(server->path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  server->Stop();
  server->Stop();  // idempotent
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/arr.ctl"));
  Result<ArrayStatus> s = QueryStatus("arr", client_);
  EXPECT_EQ(s.status().code(), Code::kNotFound);
  EXPECT_EQ(s.status().message(), "no array named arr is running (no socket in " + dir_ + ")");
}

TEST_F(ServerTest, CreatesTheRunDir) {
  std::string nested = dir_ + "/run/meshraid";
  ServerOptions o;
  o.run_dir = nested;
  auto s = ControlServer::Start("arr", handler_, o);
  ASSERT_TRUE(s.ok()) << s.status().message();
  struct stat st {};
  ASSERT_EQ(::stat(nested.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(ServerTest, StaleSocketIsReplaced) {
  MakeStaleSocket(dir_ + "/arr.ctl");
  Result<ArrayStatus> before = QueryStatus("arr", client_);
  EXPECT_EQ(before.status().code(), Code::kUnavailable);
  EXPECT_NE(before.status().message().find("is not running (stale socket"), std::string::npos)
      << before.status().message();
  auto server = Serve("arr");
  ASSERT_TRUE(server);
  EXPECT_TRUE(QueryStatus("arr", client_).ok());
  std::lock_guard<std::mutex> lock(log_mu_);
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("replaced stale control socket"), std::string::npos);
}

TEST_F(ServerTest, LiveSocketIsRefused) {
  auto first = Serve("arr");
  ServerOptions o;
  o.run_dir = dir_;
  auto second = ControlServer::Start("arr", handler_, o);
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find("already running"), std::string::npos);
  EXPECT_TRUE(QueryStatus("arr", client_).ok());  // the first one is untouched
}

TEST_F(ServerTest, OtherFilesAreNeverRemoved) {
  std::ofstream(dir_ + "/arr.ctl") << "not a socket";
  ServerOptions o;
  o.run_dir = dir_;
  auto s = ControlServer::Start("arr", handler_, o);
  EXPECT_EQ(s.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ + "/arr.ctl"));
  EXPECT_EQ(ControlServer::Start("a/b", handler_, o).status().code(), Code::kInvalidArgument);
}

TEST_F(ServerTest, ClientTimesOutOnASilentServer) {
  // Listening but never accepting: connect succeeds (backlog), no answer ever comes.
  dev_t dev;
  ino_t ino;
  Result<Fd> silent = ListenUnix(dir_ + "/mute.ctl", 0600, &dev, &ino, nullptr);
  ASSERT_TRUE(silent.ok());
  client_.timeout_ms = 200;
  uint64_t start = NowMs();
  Result<ArrayStatus> s = QueryStatus("mute", client_);
  EXPECT_EQ(s.status().code(), Code::kTimedOut);
  EXPECT_EQ(s.status().message(), "array mute did not answer within 200 ms");
  EXPECT_GE(NowMs() - start, 200u);
  EXPECT_LT(NowMs() - start, 2000u);
}

TEST_F(ServerTest, UnansweredRequestTimesOutAndIsNeverRunLater) {
  std::vector<std::function<void()>> parked;  // a reactor that never runs
  std::mutex parked_mu;
  ServerOptions o;
  o.post = [&](std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(parked_mu);
    parked.push_back(std::move(fn));
  };
  o.request_timeout_ms = 100;
  auto server = Serve("arr", std::move(o));
  Result<ArrayStatus> s = QueryStatus("arr", client_);
  EXPECT_EQ(s.status().code(), Code::kTimedOut);
  EXPECT_NE(s.status().message().find("did not answer within 100 ms"), std::string::npos);
  server->Stop();
  server.reset();
  for (auto& fn : parked) fn();  // the reactor catches up after the server stopped
  EXPECT_EQ(handler_.calls(), 0);
}

TEST_F(ServerTest, BadRequestsGetErrorsAndTheConnectionStaysUsable) {
  auto server = Serve("arr");
  Result<Fd> fd = ConnectUnix(server->path());
  ASSERT_TRUE(fd.ok());
  nlohmann::json r = Raw(fd->get(), "this is not json");
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"], "request is not valid JSON");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"format-everything"})")["error"],
            "unknown command 'format-everything' (known: ping, status, set, action, manage, grow)");
  EXPECT_EQ(Raw(fd->get(), R"({"nocmd":1})")["error"], "request has no \"cmd\"");
  EXPECT_EQ(Raw(fd->get(), R"([1,2])")["error"], "request is not a JSON object");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"set","key":"read-policy"})")["error"], "set read-policy: no value");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"ping"})")["ok"], true);
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"status"})")["status"]["name"], "arr");
}

TEST_F(ServerTest, OverlongRequestIsRefusedAndClosed) {
  auto server = Serve("arr");
  Result<Fd> fd = ConnectUnix(server->path());
  ASSERT_TRUE(fd.ok());
  std::string junk(kMaxLineBytes + 8192, 'x');
  (void)WriteAll(fd->get(), junk, NowMs() + 2000);  // the server may close before all is sent
  Result<std::string> r = ReadLine(fd->get(), NowMs() + 2000, kMaxLineBytes);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_NE(r->find("request line too long"), std::string::npos);
  EXPECT_TRUE(QueryStatus("arr", client_).ok());
}

TEST_F(ServerTest, IdleConnectionsAreClosed) {
  ServerOptions o;
  o.idle_timeout_ms = 200;
  auto server = Serve("arr", std::move(o));
  Result<Fd> fd = ConnectUnix(server->path());
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"ping"})")["ok"], true);
  uint64_t start = NowMs();
  Result<std::string> r = ReadLine(fd->get(), start + 5000, kMaxLineBytes);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();  // closed
  EXPECT_GE(NowMs() - start, 200u);
}

TEST_F(ServerTest, ListAndDefaultArray) {
  EXPECT_EQ(DefaultArray(client_).status().message(),
            "no array is running (no socket in " + dir_ + ")");
  auto a = Serve("alpha");
  MakeStaleSocket(dir_ + "/ghost.ctl");
  std::ofstream(dir_ + "/notes.txt") << "x";
  Result<std::string> only = DefaultArray(client_);
  ASSERT_TRUE(only.ok()) << only.status().message();
  EXPECT_EQ(*only, "alpha");
  auto b = Serve("beta");
  EXPECT_EQ(ListArrays(client_).value(), (std::vector<std::string>{"alpha", "beta", "ghost"}));
  EXPECT_EQ(DefaultArray(client_).status().message(), "2 arrays are running (alpha, beta): name one");
}

TEST_F(ServerTest, MissingRunDirListsNothing) {
  client_.run_dir = dir_ + "/nowhere";
  Result<std::vector<std::string>> names = ListArrays(client_);
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
}

TEST_F(ServerTest, ActionAndManageRoundTrip) {
  auto server = Serve("arr");
  EXPECT_EQ(RequestAction("arr", "check", client_).value(), "sync_action: idle -> check");
  EXPECT_EQ(RequestAction("arr", "bogus", client_).status().message(), "sync action 'bogus'");
  EXPECT_EQ(ManageMember("arr", {"replace", "/dev/a", "/dev/b"}, client_).value(),
            "replace /dev/a /dev/b");
  Result<std::string> missing = ManageMember("arr", {"fail", "/dev/missing", ""}, client_);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "/dev/missing: not a member");
  Result<Fd> fd = ConnectUnix(server->path());
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"manage","member":"/dev/a"})")["error"], "manage: no op");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"manage","op":"add"})")["error"], "manage add: no member");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"action"})")["error"], "action: no action");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"grow"})")["error"], "grow: no level and no raid_disks");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"grow","level":10,"raid_disks":4})")["error"],
            "grow: give level (takeover) or raid_disks (reshape), not both");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"grow","raid_disks":"4"})")["error"],
            "grow: raid_disks is not a number");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"grow","raid_disks":0})")["error"],
            "grow: raid_disks 0 is out of range");
  EXPECT_EQ(Raw(fd->get(), ReshapeRequest(4, 0).dump())["error"],
            "reshape to 4 members is not supported here");
  EXPECT_EQ(Raw(fd->get(), R"({"cmd":"grow","level":10})")["error"],
            "takeover to raid10 is not supported here");
}

TEST_F(ServerTest, ManageIsAnsweredWhenItsIoIsDoneWithTheLongerTimeout) {
  FakeReactor reactor;
  ServerOptions o;
  o.post = [&reactor](std::function<void()> fn) { reactor.Post(std::move(fn)); };
  o.request_timeout_ms = 100;  // manage gets slow_request_timeout_ms instead
  auto server = Serve("arr", std::move(o));
  // The answer comes 300 ms later, from a later turn of the reactor.
  handler_.set_defer([&reactor](std::function<void()> answer) {
    reactor.Post([answer] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      answer();
    });
  });
  uint64_t start = NowMs();
  Result<std::string> r = ManageMember("arr", {"add", "/dev/c", ""}, client_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "add /dev/c ");
  EXPECT_GE(NowMs() - start, 300u);
  server->Stop();
}

TEST_F(ServerTest, ALateManageAnswerIsDroppedAndTheNextRequestGetsItsOwn) {
  std::vector<std::function<void()>> late;  // answers the test releases by hand
  std::mutex late_mu;
  handler_.set_defer([&](std::function<void()> answer) {
    std::lock_guard<std::mutex> lock(late_mu);
    late.push_back(std::move(answer));
  });
  ServerOptions o;
  o.slow_request_timeout_ms = 150;
  auto server = Serve("arr", std::move(o));
  Result<std::string> r = ManageMember("arr", {"add", "/dev/c", ""}, client_);
  EXPECT_EQ(r.status().code(), Code::kTimedOut);
  EXPECT_NE(r.status().message().find("within 150 ms"), std::string::npos) << r.status().message();
  {
    std::lock_guard<std::mutex> lock(late_mu);
    ASSERT_EQ(late.size(), 1u);
    late[0]();  // too late: nobody waits for it
  }
  Result<ArrayStatus> s = QueryStatus("arr", client_);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->name, "arr");
  server->Stop();
  std::lock_guard<std::mutex> lock(late_mu);
  late[0]();  // after Stop: dropped too
}

TEST(RunDirTest, EnvironmentOverridesTheDefault) {
  const char* old = std::getenv(kRunDirEnv);
  std::string saved = old ? old : "";
  unsetenv(kRunDirEnv);
  EXPECT_EQ(RunDir(), "/run/meshraid");
  setenv(kRunDirEnv, "/tmp/x", 1);
  EXPECT_EQ(RunDir(), "/tmp/x");
  EXPECT_EQ(RunDir("/explicit"), "/explicit");
  EXPECT_EQ(SocketPath("/tmp/x", "r1"), "/tmp/x/r1.ctl");
  if (old) setenv(kRunDirEnv, saved.c_str(), 1);
  else unsetenv(kRunDirEnv);
}

}  // namespace
}  // namespace meshraid::control
