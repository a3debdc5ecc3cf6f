// FileDevice on a real file system: ext4 (/tmp here, O_DIRECT-capable) and tmpfs (/dev/shm,
// which reports no DIO alignment, so the device falls back to buffered I/O).
#include "io/file_device.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "io/reactor.h"
#include "io/when_all.h"

namespace meshraid::io {
namespace {

constexpr uint64_t kFileBytes = 16u << 20;

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBuf = std::unique_ptr<uint8_t[], FreeDeleter>;

AlignedBuf Aligned(size_t n, uint8_t fill) {
  AlignedBuf b(static_cast<uint8_t*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096)));
  std::memset(b.get(), fill, n);
  return b;
}

bool KernelReportsDioAlign(const std::string& path) {
  struct statx stx {};
  return ::statx(AT_FDCWD, path.c_str(), 0, STATX_DIOALIGN, &stx) == 0 &&
         (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0;
}

class FileDeviceTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(GetParam()) + "/meshraid-io-test-XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    ASSERT_GE(fd, 0) << "cannot create a file in " << GetParam();
    ASSERT_EQ(::ftruncate(fd, kFileBytes), 0);
    ::close(fd);
    path_ = tmpl;
    auto r = Reactor::Create();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reactor_ = std::move(r).value();
    dev_ = OpenOk();
  }
  void TearDown() override {
    if (dev_) {
      EXPECT_TRUE(Run(dev_->Close()).ok());
    }
    dev_.reset();
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  std::unique_ptr<FileDevice> OpenOk(FileDevice::Options o = {}) {
    auto d = FileDevice::Open(*reactor_, path_, o);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? std::move(d).value() : nullptr;
  }
  Status Run(Task<Status> t) { return reactor_->RunUntilComplete(std::move(t)); }
  // Reads the file behind the device's back.
  std::vector<uint8_t> Pread(uint64_t off, size_t n) {
    std::vector<uint8_t> v(n);
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(::pread(fd, v.data(), n, off_t(off)), ssize_t(n));
    ::close(fd);
    return v;
  }

  std::string path_;
  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<FileDevice> dev_;
};

TEST_P(FileDeviceTest, ReportsSizeAndIoMode) {
  ASSERT_TRUE(dev_);
  EXPECT_EQ(dev_->info().size_bytes, kFileBytes);
  EXPECT_EQ(dev_->info().name, path_);
  EXPECT_TRUE(dev_->info().can_discard);
  EXPECT_FALSE(dev_->is_block_device());
  const bool direct = KernelReportsDioAlign(path_);
  EXPECT_EQ(dev_->io_mode(), direct ? FileDevice::IoMode::kDirect : FileDevice::IoMode::kBuffered)
      << dev_->io_mode_name();
  if (std::string(GetParam()) == "/dev/shm") {
    EXPECT_EQ(dev_->io_mode_name(), "buffered");
  }
}

TEST_P(FileDeviceTest, WriteThenReadBack) {
  ASSERT_TRUE(dev_);
  auto data = Aligned(65536, 0x5a);
  for (size_t i = 0; i < 65536; ++i) data[i] = uint8_t(i * 13);
  ASSERT_TRUE(Run(dev_->Write(1 << 20, std::span<const uint8_t>(data.get(), 65536))).ok());
  auto back = Aligned(65536, 0);
  ASSERT_TRUE(Run(dev_->Read(1 << 20, std::span<uint8_t>(back.get(), 65536))).ok());
  EXPECT_EQ(std::memcmp(back.get(), data.get(), 65536), 0);
  auto outside = Pread(1 << 20, 65536);
  EXPECT_EQ(std::memcmp(outside.data(), data.get(), 65536), 0);
  EXPECT_EQ(dev_->bounced_ios(), 0u);
}

TEST_P(FileDeviceTest, FuaWriteAndFlush) {
  ASSERT_TRUE(dev_);
  auto data = Aligned(4096, 0xc3);
  ASSERT_TRUE(
      Run(dev_->Write(8192, std::span<const uint8_t>(data.get(), 4096), WriteFlags::kFua)).ok());
  ASSERT_TRUE(Run(dev_->Flush()).ok());
  EXPECT_EQ(Pread(8192, 4096), std::vector<uint8_t>(4096, 0xc3));
}

TEST_P(FileDeviceTest, UnalignedBuffersAreBounced) {
  ASSERT_TRUE(dev_);
  auto raw = Aligned(4096 + 512, 0);
  std::span<uint8_t> odd(raw.get() + 1, 4096);  // misaligned for O_DIRECT
  std::memset(odd.data(), 0x77, odd.size());
  ASSERT_TRUE(Run(dev_->Write(4096, odd)).ok());
  std::memset(odd.data(), 0, odd.size());
  ASSERT_TRUE(Run(dev_->Read(4096, odd)).ok());
  EXPECT_EQ(std::vector<uint8_t>(odd.begin(), odd.end()), std::vector<uint8_t>(4096, 0x77));
  EXPECT_EQ(dev_->bounced_ios(), dev_->io_mode() == FileDevice::IoMode::kDirect ? 2u : 0u);
}

TEST_P(FileDeviceTest, RangeAndAlignmentErrors) {
  ASSERT_TRUE(dev_);
  auto buf = Aligned(4096, 0);
  std::span<uint8_t> s(buf.get(), 4096);
  Status past = Run(dev_->Read(kFileBytes - 512, s));
  EXPECT_EQ(past.code(), Code::kInvalidArgument);
  EXPECT_NE(past.message().find("beyond the end"), std::string::npos) << past.message();
  EXPECT_EQ(Run(dev_->Read(100, s)).code(), Code::kInvalidArgument);
  EXPECT_EQ(Run(dev_->Write(0, std::span<const uint8_t>(buf.get(), 100))).code(),
            Code::kInvalidArgument);
}

TEST_P(FileDeviceTest, FileShrunkBehindOurBackIsAnIoError) {
  ASSERT_TRUE(dev_);
  ASSERT_EQ(::truncate(path_.c_str(), kFileBytes / 2), 0);
  auto buf = Aligned(4096, 0);
  Status s = Run(dev_->Read(kFileBytes - 4096, std::span<uint8_t>(buf.get(), 4096)));
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_NE(s.message().find("unexpected end of file"), std::string::npos) << s.message();
}

TEST_P(FileDeviceTest, DiscardAndWriteZeroesReadBackZero) {
  ASSERT_TRUE(dev_);
  auto data = Aligned(1 << 20, 0xee);
  ASSERT_TRUE(Run(dev_->Write(0, std::span<const uint8_t>(data.get(), 1 << 20))).ok());
  ASSERT_TRUE(Run(dev_->Discard(65536, 65536)).ok());
  ASSERT_TRUE(Run(dev_->WriteZeroes(262144, 4096)).ok());
  ASSERT_TRUE(Run(dev_->WriteZeroes(524288, 8192, ZeroFlags::kNoHole)).ok());
  ASSERT_TRUE(Run(dev_->WriteZeroes(786432, 512, ZeroFlags::kFua)).ok());
  auto now = Pread(0, 1 << 20);
  auto expect = std::vector<uint8_t>(1 << 20, 0xee);
  std::memset(expect.data() + 65536, 0, 65536);
  std::memset(expect.data() + 262144, 0, 4096);
  std::memset(expect.data() + 524288, 0, 8192);
  std::memset(expect.data() + 786432, 0, 512);
  EXPECT_EQ(now, expect);
  // Through the device too (O_DIRECT path, after fallocate invalidated the page cache).
  auto back = Aligned(65536, 1);
  ASSERT_TRUE(Run(dev_->Read(65536, std::span<uint8_t>(back.get(), 65536))).ok());
  EXPECT_EQ(std::vector<uint8_t>(back.get(), back.get() + 65536), std::vector<uint8_t>(65536, 0));
}

TEST_P(FileDeviceTest, DeallocatingZeroesPunchAHole) {
  ASSERT_TRUE(dev_);
  auto data = Aligned(1 << 20, 0x5a);
  ASSERT_TRUE(Run(dev_->Write(0, std::span<const uint8_t>(data.get(), 1 << 20))).ok());
  ASSERT_TRUE(Run(dev_->Flush()).ok());
  struct stat before {};
  ASSERT_EQ(::stat(path_.c_str(), &before), 0);
  ASSERT_TRUE(Run(dev_->WriteZeroes(0, 512 * 1024, ZeroFlags::kDeallocate)).ok());
  struct stat after {};
  ASSERT_EQ(::stat(path_.c_str(), &after), 0);
  // 512 KiB released (st_blocks counts 512-byte units), and the range reads back zeroes.
  EXPECT_LE(after.st_blocks, before.st_blocks - 1024) << before.st_blocks << " -> " << after.st_blocks;
  auto expect = std::vector<uint8_t>(1 << 20, 0x5a);
  std::memset(expect.data(), 0, 512 * 1024);
  EXPECT_EQ(Pread(0, 1 << 20), expect);
}

TEST_P(FileDeviceTest, SecondOpenIsRefusedWithThePath) {
  ASSERT_TRUE(dev_);
  auto second = FileDevice::Open(*reactor_, path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_EQ(second.status().message(), path_ + ": in use by another meshraid process (lock held)");
  auto ro = FileDevice::Open(*reactor_, path_, {.read_only = true});
  EXPECT_EQ(ro.status().code(), Code::kBusy);  // shared lock vs exclusive
  ASSERT_TRUE(Run(dev_->Close()).ok());
  dev_ = OpenOk();  // released on close
  EXPECT_TRUE(dev_ != nullptr);
}

TEST_P(FileDeviceTest, ReadOnlyOpensShareTheLock) {
  ASSERT_TRUE(Run(dev_->Close()).ok());
  dev_.reset();
  auto a = OpenOk({.read_only = true});
  auto b = OpenOk({.read_only = true});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(FileDevice::Open(*reactor_, path_).status().code(), Code::kBusy);
  auto buf = Aligned(512, 1);
  EXPECT_FALSE(Run(a->Write(0, std::span<const uint8_t>(buf.get(), 512))).ok());
  EXPECT_TRUE(Run(a->Close()).ok());
  EXPECT_TRUE(Run(b->Close()).ok());
}

TEST_P(FileDeviceTest, ManyConcurrentWritesAndReads) {
  ASSERT_TRUE(dev_);
  constexpr int kOps = 256;
  auto data = Aligned(size_t(kOps) * 4096, 0);
  for (int i = 0; i < kOps; ++i) std::memset(data.get() + i * 4096, i, 4096);
  std::vector<Task<Status>> writes;
  for (int i = 0; i < kOps; ++i) {
    writes.push_back(
        dev_->Write(uint64_t(i) * 4096, std::span<const uint8_t>(data.get() + i * 4096, 4096)));
  }
  ASSERT_TRUE(reactor_->RunUntilComplete(WhenAllOk(std::move(writes))).ok());
  EXPECT_EQ(reactor_->in_flight(), 0u);
  auto back = Aligned(size_t(kOps) * 4096, 0xff);
  std::vector<Task<Status>> reads;
  for (int i = kOps - 1; i >= 0; --i) {
    reads.push_back(
        dev_->Read(uint64_t(i) * 4096, std::span<uint8_t>(back.get() + i * 4096, 4096)));
  }
  ASSERT_TRUE(reactor_->RunUntilComplete(WhenAllOk(std::move(reads))).ok());
  EXPECT_EQ(std::memcmp(back.get(), data.get(), size_t(kOps) * 4096), 0);
}

TEST(FileDeviceOpenTest, MissingPathAndDirectory) {
  auto r = Reactor::Create();
  ASSERT_TRUE(r.ok());
  auto missing = FileDevice::Open(**r, "/nonexistent/meshraid-member");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/meshraid-member"), std::string::npos);
  EXPECT_EQ(FileDevice::Open(**r, "/tmp").status().code(), Code::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(FileSystems, FileDeviceTest, ::testing::Values("/tmp", "/dev/shm"),
                         [](const auto& info) {
                           return std::string(info.param) == "/tmp" ? "Tmp" : "DevShm";
                         });

// Needs a scratch block device whose contents may be destroyed, e.g. a loop device:
//   MESHRAID_TEST_BLOCK_DEVICE=/dev/loop7 meshraid_io_test --gtest_filter='*BlockDevice*'
TEST(FileDeviceBlockTest, BlockDeviceReadWriteDiscardZeroes) {
  const char* path = std::getenv("MESHRAID_TEST_BLOCK_DEVICE");
  if (path == nullptr) {
    // scripts/test always provides a loop device; there a skip would hide a missing test.
    ASSERT_EQ(std::getenv("MESHRAID_REQUIRE_E2E"), nullptr)
        << "MESHRAID_TEST_BLOCK_DEVICE is not set although scripts/test requires this test";
    GTEST_SKIP() << "set MESHRAID_TEST_BLOCK_DEVICE to a scratch device";
  }
  auto r = Reactor::Create();
  ASSERT_TRUE(r.ok());
  Reactor& reactor = **r;
  auto opened = FileDevice::Open(reactor, path);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto dev = std::move(opened).value();
  EXPECT_TRUE(dev->is_block_device());
  EXPECT_EQ(dev->io_mode(), FileDevice::IoMode::kDirect);
  EXPECT_GE(dev->info().logical_block_size, 512u);
  EXPECT_EQ(FileDevice::Open(reactor, path).status().code(), Code::kBusy);
  auto run = [&](Task<Status> t) { return reactor.RunUntilComplete(std::move(t)); };
  auto data = Aligned(65536, 0x42);
  ASSERT_TRUE(
      run(dev->Write(0, std::span<const uint8_t>(data.get(), 65536), WriteFlags::kFua)).ok());
  ASSERT_TRUE(run(dev->Flush()).ok());
  ASSERT_TRUE(run(dev->WriteZeroes(4096, 4096)).ok());
  ASSERT_TRUE(run(dev->WriteZeroes(32768, 8192, ZeroFlags::kDeallocate)).ok());
  if (dev->info().can_discard) {
    EXPECT_TRUE(run(dev->Discard(16384, 16384)).ok());
  }
  auto back = Aligned(65536, 0);
  ASSERT_TRUE(run(dev->Read(0, std::span<uint8_t>(back.get(), 65536))).ok());
  EXPECT_EQ(back[0], 0x42);
  EXPECT_EQ(back[4096], 0);
  EXPECT_EQ(back[8191], 0);
  EXPECT_EQ(back[8192], 0x42);
  EXPECT_EQ(back[32768], 0);
  EXPECT_EQ(back[40959], 0);
  EXPECT_EQ(back[40960], 0x42);
  EXPECT_TRUE(run(dev->Close()).ok());
}

}  // namespace
}  // namespace meshraid::io
