// The fixture of the ArrayHandler tests: a real raid::Array over memory members in a
// ManualLoop, an ArrayHandler over it, and an opener that hands out memory disks.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/array_handler.h"
#include "io/mem_device.h"
#include "raid/create.h"
#include "testing/borrowed_device.h"
#include "testing/manual_loop.h"

namespace meshraid::control {

inline constexpr uint64_t kMemberBytes = 16 << 20;

// A MemDevice as a metadata source (assembly reads superblock and bitmap through it).
class MemSource : public raid::MetadataSource {
 public:
  MemSource(const io::MemDevice& d, std::string path) : d_(d), path_(std::move(path)) {}
  const std::string& path() const override { return path_; }
  uint64_t size_bytes() const override { return d_.info().size_bytes; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    std::vector<uint8_t> b = d_.Peek(offset, buf.size());
    std::copy(b.begin(), b.end(), buf.begin());
    return Status::Ok();
  }

 private:
  const io::MemDevice& d_;
  std::string path_;
};

class ArrayHandlerTest : public ::testing::Test {
 protected:
  ~ArrayHandlerTest() override {
    if (handler_) loop_.RunUntilComplete(handler_->Close());
    if (array_) (void)loop_.RunUntilComplete(array_->Close());
  }

  void Build(int level, int n, bool bitmap = false, raid::SyncOptions sync = {},
             uint64_t member_bytes = kMemberBytes) {
    member_bytes_ = member_bytes;
    raid::CreateOptions o;
    o.level = level;
    o.raid_devices = n;
    o.assume_clean = true;
    o.bitmap = bitmap ? raid::BitmapChoice::kInternal : raid::BitmapChoice::kNone;
    o.name = "data";
    o.homehost = "node1";
    o.now_seconds = 1000;
    if (level == 10) o.chunk_sectors = 128;
    std::vector<raid::CreateMember> cm;
    for (int i = 0; i < n; ++i) cm.push_back({"/tmp/w/m" + std::to_string(i), member_bytes / 512});
    auto plan = raid::PlanCreate(o, cm);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    std::vector<raid::MemberMetadata> md;
    std::vector<raid::ArrayMember> am;
    for (int i = 0; i < n; ++i) {
      mems_.push_back(std::make_unique<io::MemDevice>(
          loop_.executor(), io::MemDevice::Options{member_bytes, 512, 4096, cm[size_t(i)].name}));
      const raid::MemberWrite& w = plan->members[size_t(i)];
      mems_.back()->Poke(8 * 512, w.sb_bytes);
      if (w.bitmap_sector) mems_.back()->Poke(w.bitmap_sector * 512, w.bitmap_bytes);
      auto m = raid::ReadMemberMetadata(MemSource(*mems_.back(), cm[size_t(i)].name));
      ASSERT_TRUE(m.ok()) << m.status().message();
      md.push_back(*m);
      am.push_back({std::make_unique<testing::BorrowedDevice>(*mems_.back()), *m});
    }
    auto ap = raid::PlanAssembly(md);
    ASSERT_TRUE(ap.ok()) << ap.status().message();
    raid::ArrayOptions ao;
    ao.sync = sync;
    ao.log = [this](const std::string& l) { log_.push_back(l); };
    ao.wall_seconds = [] { return uint64_t(2000); };
    raid::SleepFn sleep = [this](uint64_t ns) -> io::Task<void> {
      return [](testing::ManualTimers& t, uint64_t d) -> io::Task<void> {
        co_await t.SleepFor(d);
      }(loop_.timers(), ns);
    };
    auto a = raid::Array::Create(loop_.executor(), loop_.clock(), sleep, *ap, std::move(am), ao);
    ASSERT_TRUE(a.ok()) << a.status().message();
    array_ = std::move(a).value();
    handler_ = std::make_unique<ArrayHandler>(*array_, loop_.executor(), Opener());
  }

  // Opens "/tmp/w/new<K>" as spare disk K (created on demand) and "/tmp/w/m<i>" as member i.
  DeviceOpener Opener() {
    return [this](const std::string& name) -> io::Task<Result<std::unique_ptr<io::BlockDevice>>> {
      return Open(this, name);
    };
  }
  static io::Task<Result<std::unique_ptr<io::BlockDevice>>> Open(ArrayHandlerTest* t,
                                                                 std::string name) {
    ++t->opened_;
    io::MemDevice* d = nullptr;
    if (name.rfind("/tmp/w/new", 0) == 0) {
      size_t k = std::stoul(name.substr(10));
      while (t->spares_.size() <= k) {
        t->spares_.push_back(std::make_unique<io::MemDevice>(
            t->loop_.executor(), io::MemDevice::Options{t->member_bytes_, 512, 4096, name}));
      }
      d = t->spares_[k].get();
    } else if (name.rfind("/tmp/w/m", 0) == 0) {
      d = t->mems_[std::stoul(name.substr(8))].get();
    } else {
      co_return Status::NotFound(name + ": no such file");
    }
    co_return std::unique_ptr<io::BlockDevice>(std::make_unique<testing::BorrowedDevice>(*d));
  }

  Result<std::string> Manage(std::string op, std::string member, std::string with = "") {
    std::optional<Result<std::string>> got;
    handler_->Manage(ManageRequest{op, member, with}, [&](Result<std::string> r) { got = r; });
    EXPECT_TRUE(loop_.RunUntil([&] { return got.has_value(); }));
    return got ? *got : Result<std::string>(Status::Aborted("no answer"));
  }
  void WaitSyncIdle() {
    loop_.RunUntilComplete(array_->WaitSyncIdle());
  }
  bool Logged(const std::string& what) const {
    for (const std::string& l : log_) {
      if (l.find(what) != std::string::npos) return true;
    }
    return false;
  }
  const MemberStatus* Member(const ArrayStatus& s, const std::string& path) {
    for (const MemberStatus& m : s.members) {
      if (m.path == path) return &m;
    }
    return nullptr;
  }

  testing::ManualLoop loop_;
  std::vector<std::unique_ptr<io::MemDevice>> mems_;
  std::unique_ptr<raid::Array> array_;
  std::unique_ptr<ArrayHandler> handler_;
  std::vector<std::unique_ptr<io::MemDevice>> spares_;
  std::vector<std::string> log_;
  int opened_ = 0;
  uint64_t member_bytes_ = kMemberBytes;
};

}  // namespace meshraid::control
