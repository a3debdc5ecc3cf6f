// Our NVMe/TCP host (io::NvmeTcpDevice, io::NvmeTcpQueue) against our NVMe/TCP target
// (NvmeTarget over a MemDevice or a temp file), on one reactor over a real loopback TCP
// listener (port 0). What the host sees (identity, size, LBA size, data, errors) and what
// reaches the namespace device (a recording wrapper: every op with its range and flags) are
// both checked. Every test is bounded by alarm(): a hang kills the binary instead of the run.
#include "export/nvme_target.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "io/clock.h"
#include "io/file_device.h"
#include "io/mem_device.h"
#include "io/nvme_tcp_device.h"
#include "io/nvme_tcp_queue.h"
#include "io/nvme_tcp_uri.h"
#include "io/reactor.h"
#include "io/when_all.h"
#include "proto/nvme_command.h"
#include "proto/nvme_fabrics.h"
#include "proto/nvme_log.h"
#include "proto/nvme_status.h"

namespace meshraid::exports {
namespace {

namespace nv = proto::nvme;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kMsNs = 1'000'000;
constexpr char kNqn[] = "nqn.2026-01.io.meshraid:target-test";
constexpr char kHost[] = "nqn.2014-08.org.nvmexpress:uuid:0f0e0d0c-0b0a-4908-8706-050403020100";
constexpr char kOtherHost[] = "nqn.2014-08.org.nvmexpress:uuid:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t((i * 131 + seed * 7 + (i >> 9) + (i >> 17)) & 0xff);
  return v;
}

bool AllZero(std::span<const uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

// Records what reaches the namespace device; optionally holds every read for `read_delay_ns`
// (a reactor timer) before it reaches the target.
class Recorder : public io::BlockDeviceWrapper {
 public:
  struct Op {
    char kind = 0;  // 'r', 'w', 'f', 'd' (discard), 'z' (write zeroes)
    uint64_t offset = 0;
    uint64_t length = 0;
    uint32_t flags = 0;  // WriteFlags or ZeroFlags bits
  };
  Recorder(io::Reactor& r, std::unique_ptr<io::BlockDevice> target)
      : BlockDeviceWrapper(std::move(target)), reactor_(r) {}

  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override {
    Enter({'r', offset, buf.size(), 0});
    if (read_delay_ns != 0) (void)co_await reactor_.Sleep(read_delay_ns);
    Status s = co_await target().Read(offset, buf);
    --in_flight;
    co_return s;
  }
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf, io::WriteFlags flags) override {
    Enter({'w', offset, buf.size(), uint32_t(flags)});
    if (write_delay_ns != 0) (void)co_await reactor_.Sleep(write_delay_ns);
    Status s = co_await target().Write(offset, buf, flags);
    --in_flight;
    co_return s;
  }
  io::Task<Status> Flush() override {
    Enter({'f', 0, 0, 0});
    Status s = co_await target().Flush();
    --in_flight;
    co_return s;
  }
  io::Task<Status> Discard(uint64_t offset, uint64_t length) override {
    Enter({'d', offset, length, 0});
    Status s = co_await target().Discard(offset, length);
    --in_flight;
    co_return s;
  }
  io::Task<Status> WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) override {
    Enter({'z', offset, length, uint32_t(flags)});
    Status s = co_await target().WriteZeroes(offset, length, flags);
    --in_flight;
    co_return s;
  }

  std::vector<Op> Of(char kind) const {
    std::vector<Op> out;
    for (const Op& o : ops) {
      if (o.kind == kind) out.push_back(o);
    }
    return out;
  }

  std::vector<Op> ops;
  uint64_t in_flight = 0;
  uint64_t max_in_flight = 0;
  uint64_t read_delay_ns = 0;
  uint64_t write_delay_ns = 0;

 private:
  void Enter(Op o) {
    ops.push_back(o);
    max_in_flight = std::max(max_in_flight, ++in_flight);
  }
  io::Reactor& reactor_;
};

uint64_t NowNs() { return io::SystemClock::Get().NowNs(); }

// Polls `pred` every 5 ms on the reactor; false if it is still false after `bound_ns`.
io::Task<bool> WaitFor(io::Reactor& r, std::function<bool()> pred, uint64_t bound_ns) {
  const uint64_t until = NowNs() + bound_ns;
  while (!pred()) {
    if (NowNs() > until) co_return false;
    (void)co_await r.Sleep(5 * kMsNs);
  }
  co_return true;
}

class NvmeTargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::alarm(180);
    auto r = io::Reactor::Create();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reactor_ = std::move(r).value();
  }
  void TearDown() override {
    for (auto& d : devices_) {
      if (d) (void)Run(d->Close());
    }
    devices_.clear();
    if (target_) Run(target_->Stop());
    target_.reset();
    if (device_) (void)Run(device_->Close());
    device_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    ::alarm(0);
  }

  template <typename T>
  T Run(io::Task<T> t) {
    return reactor_->RunUntilComplete(std::move(t));
  }

  // A MemDevice namespace of `size` bytes under the recorder.
  void UseMemDevice(uint64_t size = 64 * kMiB) {
    auto mem = std::make_unique<io::MemDevice>(*reactor_, io::MemDevice::Options{size, 512, 4096, "mem"});
    mem_ = mem.get();
    auto rec = std::make_unique<Recorder>(*reactor_, std::move(mem));
    rec_ = rec.get();
    device_ = std::move(rec);
  }

  // Binds the target on 127.0.0.1, port 0, and starts it.
  void StartTarget(uint32_t lba_bytes = 512, NvmeLimits limits = {}, std::vector<std::string> allowed = {}) {
    if (!device_) UseMemDevice();
    NvmeSubsystem sub;
    sub.nqn = kNqn;
    sub.device = device_.get();
    sub.lba_bytes = lba_bytes;
    sub.serial = "MRTEST0001";
    sub.firmware = "test";
    for (size_t i = 0; i < 16; ++i) sub.nguid[i] = uint8_t(0xA0 + i);
    sub.allow_any_host = allowed.empty();
    sub.allowed_hosts = std::move(allowed);
    NvmeTarget::Options o;
    o.listen.kind = ListenAddress::Kind::kTcp;
    o.listen.host = "127.0.0.1";
    o.listen.port = 0;
    o.limits = limits;
    o.log = [this](std::string_view l) { log_.emplace_back(l); };
    auto t = NvmeTarget::Create(*reactor_, std::move(sub), std::move(o));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    target_ = std::move(t).value();
    target_->Start();
    const std::string& a = target_->address();
    port_ = a.substr(a.rfind(':') + 1);
    ASSERT_NE(port_, "0");
  }

  std::string Uri(const std::string& query = "", const std::string& nqn = kNqn,
                  const std::string& host = kHost) const {
    std::string u = fmt::format("nvme+tcp://127.0.0.1:{}/{}?hostnqn={}", port_, nqn, host);
    if (!query.empty()) u += "&" + query;
    return u;
  }

  Result<std::unique_ptr<io::NvmeTcpDevice>> Connect(const std::string& uri, io::NvmeTcpDevice::Options o = {}) {
    o.log = [this](std::string_view l) { host_log_.emplace_back(l); };
    return Run(io::NvmeTcpDevice::Connect(*reactor_, uri, std::move(o)));
  }
  // Connects and keeps the device for TearDown's Close().
  io::NvmeTcpDevice* ConnectOk(const std::string& uri, io::NvmeTcpDevice::Options o = {}) {
    auto d = Connect(uri, std::move(o));
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (!d.ok()) return nullptr;
    devices_.push_back(std::move(d).value());
    return devices_.back().get();
  }
  void CloseAll() {
    for (auto& d : devices_) {
      Status s = Run(d->Close());
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    devices_.clear();
  }
  // The target has no session and no controller left (the host's sockets are gone).
  bool TargetIdle() {
    return Run(WaitFor(*reactor_, [this] { return target_->live_sessions() == 0 && target_->controllers() == 0; },
                       20'000 * kMsNs));
  }
  bool LogHas(const std::string& needle) const {
    return std::any_of(log_.begin(), log_.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }
  std::string Log() const {
    std::string s;
    for (const std::string& l : log_) s += "  target: " + l + "\n";
    for (const std::string& l : host_log_) s += "  host: " + l + "\n";
    return s;
  }

  std::unique_ptr<io::Reactor> reactor_;
  std::unique_ptr<io::BlockDevice> device_;
  io::MemDevice* mem_ = nullptr;
  Recorder* rec_ = nullptr;
  std::unique_ptr<NvmeTarget> target_;
  std::string port_;
  std::vector<std::unique_ptr<io::NvmeTcpDevice>> devices_;
  std::vector<std::string> log_;
  std::vector<std::string> host_log_;
  std::string dir_;
};

// ---- identity -------------------------------------------------------------------------------

TEST_F(NvmeTargetTest, IdentifySizeAndLba512) {
  ASSERT_NO_FATAL_FAILURE(UseMemDevice(48 * kMiB));
  ASSERT_NO_FATAL_FAILURE(StartTarget(512));
  io::NvmeTcpDevice* d = ConnectOk(Uri());
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->info().size_bytes, 48 * kMiB);
  EXPECT_EQ(d->info().logical_block_size, 512u);
  EXPECT_TRUE(d->info().can_fua && d->info().can_flush && d->info().can_discard && d->info().can_write_zeroes);
  EXPECT_EQ(d->ns().nsze, 48 * kMiB / 512);
  EXPECT_EQ(nv::LbaSize(d->ns()), 512u);
  const nv::ControllerIdentity& c = d->controller();
  EXPECT_EQ(c.subnqn, kNqn);
  EXPECT_EQ(c.serial, "MRTEST0001");
  EXPECT_EQ(c.model, "meshraid");
  EXPECT_EQ(c.cntrltype, nv::kControllerTypeIo);
  EXPECT_EQ(c.cntlid, d->cntlid());
  EXPECT_EQ(c.nn, 1u);
  EXPECT_NE(c.oncs & nv::kOncsDsm, 0);
  EXPECT_NE(c.oncs & nv::kOncsWriteZeroes, 0);
  EXPECT_EQ(c.mdts, 5);  // 128 KiB = 2^5 × 4 KiB
  EXPECT_EQ(d->ns().nguid[0], 0xA0);
  EXPECT_EQ(d->io_queues(), 1u);
  EXPECT_TRUE(d->connected());
  EXPECT_EQ(target_->controllers(), 1u);
  EXPECT_TRUE(LogHas("admin queue 0 of controller")) << Log();
  CloseAll();
  EXPECT_TRUE(TargetIdle());
  // The host's normal shutdown (CC.SHN) flushed the namespace.
  EXPECT_FALSE(rec_->Of('f').empty());
}

TEST_F(NvmeTargetTest, IdentifySizeAndLba4096) {
  ASSERT_NO_FATAL_FAILURE(UseMemDevice(40 * kMiB));
  ASSERT_NO_FATAL_FAILURE(StartTarget(4096));
  io::NvmeTcpDevice* d = ConnectOk(Uri());
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->info().size_bytes, 40 * kMiB);
  EXPECT_EQ(d->info().logical_block_size, 4096u);
  EXPECT_EQ(d->ns().nsze, 40 * kMiB / 4096);
  EXPECT_EQ(nv::LbaSize(d->ns()), 4096u);
  // 512-byte I/O is refused by the host before it reaches the wire.
  std::vector<uint8_t> small(512);
  EXPECT_EQ(Run(d->Read(0, small)).code(), Code::kInvalidArgument);
  EXPECT_EQ(Run(d->Read(512, std::span<uint8_t>(small.data(), 512))).code(), Code::kInvalidArgument);
  const std::vector<uint8_t> data = Pattern(3 * 4096, 9);
  ASSERT_TRUE(Run(d->Write(40 * kMiB - 3 * 4096, data)).ok());
  std::vector<uint8_t> back(data.size());
  ASSERT_TRUE(Run(d->Read(40 * kMiB - 3 * 4096, back)).ok());
  EXPECT_EQ(back, data);
  EXPECT_EQ(mem_->Peek(40 * kMiB - 3 * 4096, data.size()), data);
  // Past the end: refused by the host's range check.
  EXPECT_EQ(Run(d->Read(40 * kMiB, std::span<uint8_t>(back.data(), 4096))).code(), Code::kInvalidArgument);
}

TEST_F(NvmeTargetTest, TempFileNamespace) {
  char tmpl[] = "/tmp/meshraid-nvmet-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  const std::string path = dir_ + "/ns.img";
  {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(::ftruncate(fileno(f), 16 * kMiB), 0);
    std::fclose(f);
  }
  io::FileDevice::Options fo;
  fo.direct = false;
  auto file = io::FileDevice::Open(*reactor_, path, fo);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  device_ = std::move(file).value();
  ASSERT_NO_FATAL_FAILURE(StartTarget(4096));
  io::NvmeTcpDevice* d = ConnectOk(Uri("digest=header,data"));
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->info().size_bytes, 16 * kMiB);
  const std::vector<uint8_t> data = Pattern(300 * kKiB, 4);
  ASSERT_TRUE(Run(d->Write(1 * kMiB, data, io::WriteFlags::kFua)).ok());
  ASSERT_TRUE(Run(d->Flush()).ok());
  CloseAll();
  ASSERT_TRUE(TargetIdle());
  std::vector<uint8_t> on_disk(data.size());
  FILE* f = std::fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fseek(f, long(1 * kMiB), SEEK_SET), 0);
  ASSERT_EQ(std::fread(on_disk.data(), 1, on_disk.size(), f), on_disk.size());
  std::fclose(f);
  EXPECT_EQ(on_disk, data);
}

// ---- data: sizes × digests × LBA size -------------------------------------------------------

struct IoCase {
  bool header_digest;
  bool data_digest;
  uint32_t lba;
};

class NvmeTargetIoTest : public NvmeTargetTest, public ::testing::WithParamInterface<IoCase> {
 protected:
  std::string Query() const {
    const IoCase& p = GetParam();
    if (p.header_digest && p.data_digest) return "digest=header,data";
    if (p.header_digest) return "digest=header";
    if (p.data_digest) return "digest=data";
    return "";
  }
};

// MDTS 32 KiB and MAXH2CDATA 8 KiB, so that a transfer can be in the capsule (<= 8 KiB), one
// R2T answered by several H2CData PDUs, or split by the host into several commands.
NvmeLimits SmallLimits() {
  NvmeLimits l;
  l.max_transfer_bytes = 32 * kKiB;
  l.max_h2c_data = 8 * kKiB;
  l.in_capsule_bytes = 8 * kKiB;
  return l;
}

TEST_P(NvmeTargetIoTest, ReadsAndWritesOfManySizes) {
  const uint32_t lba = GetParam().lba;
  ASSERT_NO_FATAL_FAILURE(StartTarget(lba, SmallLimits()));
  io::NvmeTcpDevice* d = ConnectOk(Uri(Query()));
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->info().logical_block_size, lba);
  constexpr uint64_t kMdts = 32 * kKiB;
  const std::vector<uint64_t> sizes = {
      lba,                        // one block, in the capsule
      4 * kKiB,                   // in the capsule
      8 * kKiB,                   // exactly the in-capsule limit
      8 * kKiB + lba,             // just above: R2T, two H2CData PDUs
      24 * kKiB,                  // R2T, three H2CData PDUs
      kMdts,                      // exactly MDTS: one command
      kMdts + lba,                // one block past: split into two commands
      100 * kKiB + 3 * lba,       // not a multiple of MDTS
      1 * kMiB + 5 * lba,         // many commands at once
  };
  uint64_t offset = 7 * uint64_t(lba);  // never aligned to MDTS
  uint32_t seed = 1;
  for (uint64_t size : sizes) {
    SCOPED_TRACE(fmt::format("{} bytes at {}", size, offset));
    rec_->ops.clear();
    const std::vector<uint8_t> data = Pattern(size, seed++);
    Status s = Run(d->Write(offset, data));
    ASSERT_TRUE(s.ok()) << s.ToString() << "\n" << Log();
    // The host split at MDTS: ceil(size / MDTS) commands, none above it, covering the range.
    const std::vector<Recorder::Op> writes = rec_->Of('w');
    EXPECT_EQ(writes.size(), (size + kMdts - 1) / kMdts);
    uint64_t total = 0;
    for (const Recorder::Op& w : writes) {
      EXPECT_LE(w.length, kMdts);
      EXPECT_EQ(w.flags, uint32_t(io::WriteFlags::kNone));
      EXPECT_GE(w.offset, offset);
      EXPECT_LE(w.offset + w.length, offset + size);
      total += w.length;
    }
    EXPECT_EQ(total, size);
    EXPECT_TRUE(mem_->Peek(offset, size) == data) << "the namespace does not hold what was written";
    std::vector<uint8_t> back(size, 0xEE);
    s = Run(d->Read(offset, back));
    ASSERT_TRUE(s.ok()) << s.ToString() << "\n" << Log();
    EXPECT_TRUE(back == data) << "read back differs";
    EXPECT_EQ(rec_->Of('r').size(), (size + kMdts - 1) / kMdts);
    offset += size + 3 * uint64_t(lba);
  }
  EXPECT_TRUE(d->connected());
  EXPECT_TRUE(host_log_.empty()) << Log();
}

TEST_P(NvmeTargetIoTest, FuaFlushWriteZeroesAndDiscard) {
  const uint32_t lba = GetParam().lba;
  ASSERT_NO_FATAL_FAILURE(StartTarget(lba, SmallLimits()));
  io::NvmeTcpDevice* d = ConnectOk(Uri(Query()));
  ASSERT_NE(d, nullptr);
  const std::vector<uint8_t> data = Pattern(64 * kKiB, 77);
  const uint64_t at = 2 * kMiB;

  // FUA rides on every command of the write.
  rec_->ops.clear();
  ASSERT_TRUE(Run(d->Write(at, data, io::WriteFlags::kFua)).ok());
  ASSERT_EQ(rec_->Of('w').size(), 2u);
  for (const Recorder::Op& w : rec_->Of('w')) EXPECT_EQ(w.flags, uint32_t(io::WriteFlags::kFua));
  EXPECT_TRUE(rec_->Of('f').empty());

  rec_->ops.clear();
  ASSERT_TRUE(Run(d->Flush()).ok());
  EXPECT_EQ(rec_->Of('f').size(), 1u);

  // Write Zeroes without deallocate: the range must stay allocated (kNoHole).
  rec_->ops.clear();
  ASSERT_TRUE(Run(d->WriteZeroes(at, 8 * lba)).ok());
  ASSERT_EQ(rec_->Of('z').size(), 1u);
  EXPECT_EQ(rec_->Of('z')[0].offset, at);
  EXPECT_EQ(rec_->Of('z')[0].length, 8u * lba);
  EXPECT_EQ(rec_->Of('z')[0].flags, uint32_t(io::ZeroFlags::kNoHole));
  EXPECT_TRUE(AllZero(mem_->Peek(at, 8 * lba)));
  EXPECT_TRUE(mem_->Peek(at + 8 * lba, 4096) == std::vector<uint8_t>(data.begin() + 8 * lba, data.begin() + 8 * lba + 4096));

  // With deallocate (DEAC): kDeallocate reaches the device.
  rec_->ops.clear();
  ASSERT_TRUE(Run(d->WriteZeroes(at + 16 * kKiB, 16 * kKiB, io::ZeroFlags::kDeallocate)).ok());
  ASSERT_EQ(rec_->Of('z').size(), 1u);
  EXPECT_EQ(rec_->Of('z')[0].offset, at + 16 * kKiB);
  EXPECT_EQ(rec_->Of('z')[0].length, 16 * kKiB);
  EXPECT_EQ(rec_->Of('z')[0].flags, uint32_t(io::ZeroFlags::kDeallocate));
  // kNoHole wins over kDeallocate; FUA is passed on.
  rec_->ops.clear();
  ASSERT_TRUE(Run(d->WriteZeroes(at + 40 * kKiB, 4 * kKiB,
                                 io::ZeroFlags(uint32_t(io::ZeroFlags::kDeallocate) | uint32_t(io::ZeroFlags::kNoHole) |
                                               uint32_t(io::ZeroFlags::kFua))))
                  .ok());
  ASSERT_EQ(rec_->Of('z').size(), 1u);
  EXPECT_EQ(rec_->Of('z')[0].flags, uint32_t(io::ZeroFlags::kNoHole) | uint32_t(io::ZeroFlags::kFua));
  std::vector<uint8_t> back(data.size());
  ASSERT_TRUE(Run(d->Read(at, back)).ok());
  for (uint64_t i = 0; i < back.size(); ++i) {
    const bool zeroed = i < 8 * lba || (i >= 16 * kKiB && i < 32 * kKiB) || (i >= 40 * kKiB && i < 44 * kKiB);
    if (back[i] != (zeroed ? 0 : data[i])) {
      ADD_FAILURE() << "byte " << i << " is " << int(back[i]);
      break;
    }
  }

  // Discard (Dataset Management, deallocate): the range reaches the device as one discard.
  rec_->ops.clear();
  ASSERT_TRUE(Run(d->Discard(at, 64 * kKiB)).ok());
  ASSERT_EQ(rec_->Of('d').size(), 1u);
  EXPECT_EQ(rec_->Of('d')[0].offset, at);
  EXPECT_EQ(rec_->Of('d')[0].length, 64 * kKiB);
  ASSERT_TRUE(Run(d->Read(at, back)).ok());
  EXPECT_TRUE(AllZero(back));  // MemDevice zeroes what is discarded
  EXPECT_TRUE(host_log_.empty()) << Log();
}

INSTANTIATE_TEST_SUITE_P(DigestsAndLba, NvmeTargetIoTest,
                         ::testing::Values(IoCase{false, false, 512}, IoCase{true, false, 512},
                                           IoCase{false, true, 512}, IoCase{true, true, 512},
                                           IoCase{false, false, 4096}, IoCase{true, true, 4096}),
                         [](const ::testing::TestParamInfo<IoCase>& i) {
                           return fmt::format("{}{}Lba{}", i.param.header_digest ? "Hdgst" : "NoHdgst",
                                              i.param.data_digest ? "Ddgst" : "NoDdgst", i.param.lba);
                         });

// Default limits (MDTS 128 KiB, MAXH2CDATA 128 KiB): a large write and read.
TEST_F(NvmeTargetTest, DefaultLimitsLargeTransfer) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  io::NvmeTcpDevice* d = ConnectOk(Uri("digest=data"));
  ASSERT_NE(d, nullptr);
  const std::vector<uint8_t> data = Pattern(3 * kMiB + 4096, 5);
  ASSERT_TRUE(Run(d->Write(512, data)).ok());
  EXPECT_EQ(rec_->Of('w').size(), (data.size() + 128 * kKiB - 1) / (128 * kKiB));
  std::vector<uint8_t> back(data.size());
  ASSERT_TRUE(Run(d->Read(512, back)).ok());
  EXPECT_TRUE(back == data);
}

// ---- queues and concurrency -----------------------------------------------------------------

io::Task<Status> WriteThenCount(io::NvmeTcpDevice& d, uint64_t off, std::span<const uint8_t> b, int* n) {
  Status s = co_await d.Write(off, b);
  ++*n;
  co_return s;
}

io::Task<Status> ReadThenCount(io::NvmeTcpDevice& d, uint64_t off, std::span<uint8_t> b, int* n) {
  Status s = co_await d.Read(off, b);
  ++*n;
  co_return s;
}

TEST_F(NvmeTargetTest, TwoQueuesConcurrentIoAtDepth) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  rec_->read_delay_ns = 2 * kMsNs;  // keeps commands in the device so that they overlap
  rec_->write_delay_ns = 2 * kMsNs;
  io::NvmeTcpDevice* d = ConnectOk(Uri("queues=2&depth=32&digest=header,data"));
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->io_queues(), 2u);
  EXPECT_TRUE(LogHas("I/O queue 1 of controller")) << Log();
  EXPECT_TRUE(LogHas("I/O queue 2 of controller")) << Log();

  constexpr int kOps = 96;  // more than both queues' depth together: some wait for a CID
  std::vector<std::vector<uint8_t>> data;
  std::vector<uint64_t> offsets;
  uint64_t off = 0;
  for (int i = 0; i < kOps; ++i) {
    const uint64_t size = 512 * uint64_t(1 + (i * 37) % 300);  // 512 B .. 150 KiB
    data.push_back(Pattern(size, uint32_t(100 + i)));
    offsets.push_back(off);
    off += size + 4096;
  }
  int done = 0;
  std::vector<io::Task<Status>> writes;
  for (int i = 0; i < kOps; ++i) writes.push_back(WriteThenCount(*d, offsets[i], data[i], &done));
  std::vector<Status> ws = Run(io::WhenAll(std::move(writes)));
  EXPECT_EQ(done, kOps);
  for (int i = 0; i < kOps; ++i) EXPECT_TRUE(ws[i].ok()) << i << ": " << ws[i].ToString();
  EXPECT_GT(rec_->max_in_flight, 1u) << "the writes never overlapped at the target";

  rec_->max_in_flight = 0;
  std::vector<std::vector<uint8_t>> back(kOps);
  std::vector<io::Task<Status>> reads;
  done = 0;
  for (int i = 0; i < kOps; ++i) {
    back[i].assign(data[i].size(), 0);
    reads.push_back(ReadThenCount(*d, offsets[i], back[i], &done));
  }
  std::vector<Status> rs = Run(io::WhenAll(std::move(reads)));
  EXPECT_EQ(done, kOps);
  for (int i = 0; i < kOps; ++i) {
    EXPECT_TRUE(rs[i].ok()) << i << ": " << rs[i].ToString();
    EXPECT_TRUE(back[i] == data[i]) << "read " << i << " differs";
    EXPECT_TRUE(mem_->Peek(offsets[i], data[i].size()) == data[i]) << "write " << i << " not on the device";
  }
  EXPECT_GT(rec_->max_in_flight, 1u) << "the reads never overlapped at the target";
  CloseAll();
  ASSERT_TRUE(TargetIdle());
  // Both I/O queues carried commands: "queue N closed (...): K commands".
  const std::regex closed("queue ([12]) closed \\(.*\\): ([0-9]+) commands");
  uint64_t per_queue[3] = {0, 0, 0};
  for (const std::string& l : log_) {
    std::smatch m;
    if (std::regex_search(l, m, closed)) per_queue[std::stoi(m[1])] = std::stoull(m[2]);
  }
  EXPECT_GT(per_queue[1], 0u) << Log();
  EXPECT_GT(per_queue[2], 0u) << Log();
}

// ---- refusals -------------------------------------------------------------------------------

TEST_F(NvmeTargetTest, HostNotAllowedIsRefusedByName) {
  ASSERT_NO_FATAL_FAILURE(StartTarget(512, {}, {kHost}));
  auto d = Connect(Uri("", kNqn, kOtherHost));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("does not allow host"), std::string::npos) << d.status().ToString();
  EXPECT_NE(d.status().message().find(kOtherHost), std::string::npos) << d.status().ToString();
  EXPECT_TRUE(LogHas(fmt::format("Connect of host {} to {} refused", kOtherHost, kNqn))) << Log();
  ASSERT_TRUE(TargetIdle());
  // The allowed host gets in.
  io::NvmeTcpDevice* ok = ConnectOk(Uri("", kNqn, kHost));
  ASSERT_NE(ok, nullptr);
  std::vector<uint8_t> b(4096);
  EXPECT_TRUE(Run(ok->Read(0, b)).ok());
}

TEST_F(NvmeTargetTest, WrongSubsystemNqnIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  const std::string wrong = "nqn.2026-01.io.meshraid:no-such-subsystem";
  auto d = Connect(Uri("", wrong));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("no subsystem " + wrong + " here"), std::string::npos) << d.status().ToString();
  EXPECT_NE(d.status().message().find("data offset 256"), std::string::npos) << d.status().ToString();
  EXPECT_TRUE(TargetIdle());
}

TEST_F(NvmeTargetTest, InactiveNamespaceIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  auto d = Connect(Uri("nsid=2"));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kNotFound);
  EXPECT_NE(d.status().message().find("namespace 2 is not active"), std::string::npos) << d.status().ToString();
  EXPECT_TRUE(TargetIdle());
}

TEST_F(NvmeTargetTest, DiscoveryNqnIsNotAMember) {
  ASSERT_NO_FATAL_FAILURE(StartTarget(512, {}, {kHost}));
  auto d = Connect(Uri("", nv::kDiscoveryNqn));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("not an NVM subsystem"), std::string::npos) << d.status().ToString();
  EXPECT_TRUE(TargetIdle());
}

// ---- discovery and keep-alive through a bare admin queue --------------------------------------

class AdminQueue {
 public:
  AdminQueue(io::Reactor& r, std::unique_ptr<io::NvmeTcpQueue> q) : reactor_(r), q_(std::move(q)) {}
  io::NvmeTcpQueue& q() { return *q_; }

  // Fabrics Connect of the admin queue; the CNTLID, or the CQE's status as an error.
  io::Task<Result<uint16_t>> ConnectAdmin(const std::string& subnqn, const std::string& hostnqn, uint32_t kato_ms) {
    nv::ConnectCommand c;
    c.qid = 0;
    c.queue_entries = 32;
    c.kato_ms = kato_ms;
    nv::ConnectData d;
    d.cntlid = nv::kDynamicCntlid;
    d.subnqn = subnqn;
    d.hostnqn = hostnqn;
    auto data = nv::EncodeConnectData(d);
    if (!data.ok()) co_return data.status();
    auto sqe = nv::MakeConnect(0, c, {});
    if (!sqe.ok()) co_return sqe.status();
    Result<nv::Cqe> cqe = co_await q_->Submit(*sqe, {}, *data);
    if (!cqe.ok()) co_return cqe.status();
    if (!nv::StatusOk(cqe->status)) co_return Status::IoError(nv::StatusToString(cqe->status, true));
    co_return nv::ConnectResponseCntlid(*cqe);
  }
  io::Task<Status> Enable() {
    nv::Configuration cc;
    cc.enable = true;
    cc.iosqes = 6;
    cc.iocqes = 4;
    Result<nv::Cqe> cqe = co_await q_->Submit(nv::MakePropertySet(0, nv::kPropertyCc, nv::EncodeCc(cc), false));
    if (!cqe.ok()) co_return cqe.status();
    if (!nv::StatusOk(cqe->status)) co_return Status::IoError(nv::StatusToString(cqe->status, true));
    co_return Status::Ok();
  }
  // Get Log Page: the CQE status (0 = success) or the transport error.
  io::Task<Result<uint16_t>> GetLog(uint8_t lid, uint64_t offset, std::span<uint8_t> out) {
    nv::GetLogPageCommand g;
    g.lid = lid;
    g.offset = offset;
    g.length = out.size();
    auto sqe = nv::MakeGetLogPage(0, g, {});
    if (!sqe.ok()) co_return sqe.status();
    Result<nv::Cqe> cqe = co_await q_->Submit(*sqe, out);
    if (!cqe.ok()) co_return cqe.status();
    co_return cqe->status;
  }
  io::Task<void> Close() { co_await q_->Close(); }

 private:
  io::Reactor& reactor_;
  std::unique_ptr<io::NvmeTcpQueue> q_;
};

std::unique_ptr<AdminQueue> OpenAdmin(io::Reactor& r, const std::string& port, io::NvmeTcpQueue::Options o) {
  auto uri = io::ParseNvmeTcpUri(fmt::format("nvme+tcp://127.0.0.1:{}/x", port));
  EXPECT_TRUE(uri.ok());
  if (!uri.ok()) return nullptr;
  auto q = r.RunUntilComplete(io::NvmeTcpQueue::Connect(r, reinterpret_cast<const sockaddr*>(&uri->addr),
                                                        uri->addr_len, std::move(o)));
  EXPECT_TRUE(q.ok()) << q.status().ToString();
  if (!q.ok()) return nullptr;
  return std::make_unique<AdminQueue>(r, std::move(q).value());
}

TEST_F(NvmeTargetTest, DiscoveryLogListsTheSubsystemAndItself) {
  ASSERT_NO_FATAL_FAILURE(StartTarget(512, {}, {kHost}));
  io::NvmeTcpQueue::Options o;
  o.name = "discovery";
  o.header_digest = true;
  auto a = OpenAdmin(*reactor_, port_, o);
  ASSERT_NE(a, nullptr);
  // The discovery controller takes any host (nvme discover needs no allowed_hosts entry).
  Result<uint16_t> cntlid = Run(a->ConnectAdmin(nv::kDiscoveryNqn, kOtherHost, 0));
  ASSERT_TRUE(cntlid.ok()) << cntlid.status().ToString();
  ASSERT_TRUE(Run(a->Enable()).ok());

  // As nvme-cli reads it: the header first, then the whole log.
  std::vector<uint8_t> head(nv::kDiscoveryRecordSize);
  Result<uint16_t> st = Run(a->GetLog(nv::kLogDiscovery, 0, head));
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  ASSERT_EQ(*st, 0) << nv::StatusToString(*st);
  auto h = nv::ParseDiscoveryHeader(head);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->numrec, 2u);
  std::vector<uint8_t> all(h->log_size());
  st = Run(a->GetLog(nv::kLogDiscovery, 0, all));
  ASSERT_TRUE(st.ok() && *st == 0);
  auto log = nv::ParseDiscoveryLog(all);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_EQ(log->entries.size(), 2u);
  const nv::DiscoveryEntry& nvm = log->entries[0];
  EXPECT_EQ(nvm.subtype, nv::kSubtypeNvm);
  EXPECT_EQ(nvm.subnqn, kNqn);
  EXPECT_EQ(nvm.trtype, nv::kTrtypeTcp);
  EXPECT_EQ(nvm.adrfam, nv::kAdrfamIpv4);
  EXPECT_EQ(nvm.traddr, "127.0.0.1");
  EXPECT_EQ(nvm.trsvcid, port_);
  const nv::DiscoveryEntry& self = log->entries[1];
  EXPECT_EQ(self.subtype, nv::kSubtypeCurrentDiscovery);
  EXPECT_EQ(self.subnqn, nv::kDiscoveryNqn);
  EXPECT_EQ(self.traddr, "127.0.0.1");
  EXPECT_EQ(self.trsvcid, port_);

  // A piece at an offset: the second entry alone, as the whole log has it.
  std::vector<uint8_t> second(nv::kDiscoveryRecordSize);
  st = Run(a->GetLog(nv::kLogDiscovery, 2 * nv::kDiscoveryRecordSize, second));
  ASSERT_TRUE(st.ok() && *st == 0);
  EXPECT_TRUE(std::equal(second.begin(), second.end(), all.begin() + 2 * nv::kDiscoveryRecordSize));
  // Beyond the end: invalid field.
  st = Run(a->GetLog(nv::kLogDiscovery, 8 * nv::kDiscoveryRecordSize, second));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(nv::StatusCodeOf(*st), nv::kScInvalidField) << nv::StatusToString(*st);
  Run(a->Close());

  // An NVM controller has no discovery log.
  auto b = OpenAdmin(*reactor_, port_, {});
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(Run(b->ConnectAdmin(kNqn, kHost, 0)).ok());
  ASSERT_TRUE(Run(b->Enable()).ok());
  st = Run(b->GetLog(nv::kLogDiscovery, 0, head));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(nv::StatusCodeOf(*st), nv::kScInvalidLogPage) << nv::StatusToString(*st);
  Run(b->Close());
  EXPECT_TRUE(TargetIdle());
}

TEST_F(NvmeTargetTest, SilentHostIsDisconnectedAfterKeepAliveTimeout) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  // A host that keeps its association alive (Keep Alive every KATO / 2) ...
  io::NvmeTcpDevice::Options live;
  live.kato_ms = 3000;
  io::NvmeTcpDevice* d = ConnectOk(Uri(), live);
  ASSERT_NE(d, nullptr);
  // ... and one that connects with KATO 1000 ms and then goes silent.
  io::NvmeTcpQueue::Options o;
  o.name = "silent";
  o.command_timeout_ns = 0;
  auto a = OpenAdmin(*reactor_, port_, o);
  ASSERT_NE(a, nullptr);
  Result<uint16_t> cntlid = Run(a->ConnectAdmin(kNqn, kOtherHost, 1000));
  ASSERT_TRUE(cntlid.ok()) << cntlid.status().ToString();
  ASSERT_NE(*cntlid, d->cntlid());
  EXPECT_EQ(target_->controllers(), 2u);
  // The target closes the silent host's connection (bound: generous, not a timing check).
  ASSERT_TRUE(Run(WaitFor(*reactor_, [&] { return !a->q().alive(); }, 30'000 * kMsNs))) << Log();
  EXPECT_NE(a->q().death().message().find("closed the connection"), std::string::npos) << a->q().death().ToString();
  EXPECT_TRUE(LogHas(fmt::format("of host {}: no keep alive within 1000 ms", kOtherHost))) << Log();
  Run(a->Close());
  ASSERT_TRUE(Run(WaitFor(*reactor_, [&] { return target_->controllers() == 1; }, 20'000 * kMsNs)));
  // The other host was not touched.
  EXPECT_TRUE(d->connected());
  std::vector<uint8_t> b(4096);
  EXPECT_TRUE(Run(d->Read(0, b)).ok());
}

// ---- Stop with commands in flight -------------------------------------------------------------

struct Outcome {
  int completions = 0;
  Status status;
};

io::Task<void> ReadInto(io::NvmeTcpDevice& d, uint64_t off, std::span<uint8_t> b, Outcome* out) {
  out->status = co_await d.Read(off, b);
  ++out->completions;
}

io::Task<void> StopWhenBusy(io::Reactor& r, NvmeTarget& t, Recorder& rec, uint64_t want, bool* stopped) {
  (void)co_await WaitFor(r, [&] { return rec.in_flight >= want; }, 20'000 * kMsNs);
  co_await t.Stop();
  *stopped = true;
}

TEST_F(NvmeTargetTest, StopWithCommandsInFlightAnswersThemAndCloses) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  const std::vector<uint8_t> data = Pattern(1 * kMiB, 3);
  mem_->Poke(0, data);
  io::NvmeTcpDevice* d = ConnectOk(Uri("queues=2"));
  ASSERT_NE(d, nullptr);
  rec_->read_delay_ns = 300 * kMsNs;  // the reads are at the device when Stop() comes
  constexpr int kReads = 8;
  std::vector<Outcome> out(kReads);
  std::vector<std::vector<uint8_t>> back(kReads, std::vector<uint8_t>(64 * kKiB));
  bool stopped = false;
  std::vector<io::Task<void>> parts;
  for (int i = 0; i < kReads; ++i) parts.push_back(ReadInto(*d, uint64_t(i) * 64 * kKiB, back[i], &out[i]));
  parts.push_back(StopWhenBusy(*reactor_, *target_, *rec_, kReads, &stopped));
  Run(io::WhenAll(std::move(parts)));
  EXPECT_TRUE(stopped);
  for (int i = 0; i < kReads; ++i) {
    EXPECT_EQ(out[i].completions, 1);
    // They had reached the device: the target answered them before it closed.
    EXPECT_TRUE(out[i].status.ok()) << i << ": " << out[i].status.ToString() << "\n" << Log();
    EXPECT_TRUE(std::equal(back[i].begin(), back[i].end(), data.begin() + i * 64 * kKiB)) << i;
  }
  EXPECT_EQ(target_->live_sessions(), 0u);
  EXPECT_EQ(target_->controllers(), 0u);
  // The connections are gone: the next command fails with a device-scoped error, and Close()
  // returns.
  Status s = Run(WaitFor(*reactor_, [&] { return !d->connected(); }, 20'000 * kMsNs)) ? Status::Ok()
                                                                                         : Status::TimedOut("still connected");
  EXPECT_TRUE(s.ok()) << s.ToString();
  Status later = Run(d->Read(0, back[0]));
  EXPECT_FALSE(later.ok());
  EXPECT_EQ(later.scope(), Scope::kDevice) << later.ToString();
  CloseAll();
}

// A write waiting for its R2T data when the target stops: the host is answered or sees the
// connection close, never a hang.
io::Task<void> WriteFrom(io::NvmeTcpDevice& d, uint64_t off, std::span<const uint8_t> b, Outcome* out) {
  out->status = co_await d.Write(off, b);
  ++out->completions;
}

TEST_F(NvmeTargetTest, StopDuringWritesNeverHangs) {
  ASSERT_NO_FATAL_FAILURE(StartTarget());
  io::NvmeTcpDevice* d = ConnectOk(Uri("digest=header,data"));
  ASSERT_NE(d, nullptr);
  rec_->write_delay_ns = 100 * kMsNs;
  const std::vector<uint8_t> data = Pattern(4 * kMiB, 8);
  constexpr int kWrites = 6;
  std::vector<Outcome> out(kWrites);
  bool stopped = false;
  std::vector<io::Task<void>> parts;
  for (int i = 0; i < kWrites; ++i) {
    parts.push_back(WriteFrom(*d, uint64_t(i) * 4 * kMiB, data, &out[i]));
  }
  parts.push_back(StopWhenBusy(*reactor_, *target_, *rec_, 1, &stopped));
  Run(io::WhenAll(std::move(parts)));
  EXPECT_TRUE(stopped);
  for (int i = 0; i < kWrites; ++i) {
    EXPECT_EQ(out[i].completions, 1);
    if (!out[i].status.ok()) {
      EXPECT_EQ(out[i].status.scope(), Scope::kDevice) << out[i].status.ToString();
    }
  }
  CloseAll();
}

}  // namespace
}  // namespace meshraid::exports
