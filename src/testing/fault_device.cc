#include "testing/fault_device.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace meshraid::testing {

namespace {
// Inverts every byte of `buf` (which holds [offset, offset + size)) inside `range`.
void Invert(std::span<uint8_t> buf, uint64_t offset, ByteRange range) {
  const ByteRange hit = ByteRange{offset, buf.size()}.Intersect(range);
  for (uint64_t i = 0; i < hit.length; ++i) buf[hit.offset - offset + i] ^= 0xff;
}
}  // namespace

// Suspends an op in the device's hung list until ReleaseHung(); yields the release errno.
class FaultDevice::HangAwaiter {
 public:
  explicit HangAwaiter(FaultDevice& dev) : dev_(dev) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    op_.handle = h;
    dev_.hung_.push_back(&op_);
  }
  int await_resume() const noexcept { return op_.error; }

 private:
  FaultDevice& dev_;
  HungOp op_;
};

FaultDevice::FaultDevice(std::unique_ptr<io::BlockDevice> target, io::Executor& executor,
                         uint64_t seed)
    : BlockDeviceWrapper(std::move(target)), executor_(executor), rng_(seed) {}

FaultDevice::~FaultDevice() {
  if (!hung_.empty()) {
    std::fprintf(stderr, "FaultDevice destroyed with %zu hung ops\n", hung_.size());
    std::abort();
  }
}

FaultDevice::RuleId FaultDevice::Inject(FaultRule rule) {
  if (rule.error == 0) rule.error = EIO;
  const RuleId id = next_id_++;
  rules_.push_back(Entry{.id = id, .rule = std::move(rule)});
  return id;
}

bool FaultDevice::Enable(RuleId id, bool enabled) {
  for (Entry& e : rules_) {
    if (e.id == id) {
      e.rule.enabled = enabled;
      return true;
    }
  }
  return false;
}

bool FaultDevice::Remove(RuleId id) {
  auto it = std::find_if(rules_.begin(), rules_.end(), [id](const Entry& e) { return e.id == id; });
  if (it == rules_.end()) return false;
  rules_.erase(it);
  return true;
}

void FaultDevice::Clear() { rules_.clear(); }

uint64_t FaultDevice::hits(RuleId id) const {
  for (const Entry& e : rules_) {
    if (e.id == id) return e.fired;
  }
  return 0;
}

size_t FaultDevice::ReleaseHung(int error) {
  std::vector<HungOp*> ops;
  ops.swap(hung_);
  for (HungOp* op : ops) {
    op->error = error;
    executor_.Schedule(op->handle);
  }
  return ops.size();
}

std::optional<FaultDevice::Fault> FaultDevice::Decide(Op op, uint64_t offset, uint64_t length) {
  if (!enabled_) return std::nullopt;
  for (Entry& e : rules_) {
    const FaultRule& r = e.rule;
    if (!r.enabled || !Contains(r.ops, op)) continue;
    const ByteRange range{r.offset, r.length};
    if (op == Op::kFlush) {
      if (r.offset != 0 || r.length != ByteRange::kToEnd) continue;
    } else if (!range.Overlaps(ByteRange{offset, length})) {
      continue;
    }
    if (!r.trigger_file.empty() && ::access(r.trigger_file.c_str(), F_OK) != 0) continue;
    if (++e.matched <= r.skip) continue;
    if (r.count != 0 && e.fired >= r.count) continue;
    if (r.probability < 1.0 && !(UniformUnit(rng_) < r.probability)) continue;
    ++e.fired;
    return Fault{r.action, r.error, range};
  }
  return std::nullopt;
}

Status FaultDevice::Injected(Op op, uint64_t offset, uint64_t length, int error) const {
  return Status::FromErrno(error, fmt::format("{}: injected fault on {} at {} length {}",
                                              info().name, OpName(op), offset, length));
}

io::Task<Status> FaultDevice::Apply(std::optional<Fault> fault, Op op, uint64_t offset,
                                    uint64_t length, io::Task<Status> inner) {
  if (!fault) co_return co_await std::move(inner);
  switch (fault->action) {
    case FaultAction::kFail:
      co_return Injected(op, offset, length, fault->error);
    case FaultAction::kHang: {
      const int err = co_await HangAwaiter(*this);
      if (err != 0) co_return Injected(op, offset, length, err);
      co_return co_await std::move(inner);
    }
    case FaultAction::kHangAfter: {
      Status s = co_await std::move(inner);
      const int err = co_await HangAwaiter(*this);
      if (err != 0) co_return Injected(op, offset, length, err);
      co_return s;
    }
    case FaultAction::kCorrupt:
      break;
  }
  co_return co_await std::move(inner);
}

io::Task<Status> FaultDevice::Read(uint64_t offset, std::span<uint8_t> buf) {
  const std::optional<Fault> fault = Decide(Op::kRead, offset, buf.size());
  Status s = co_await Apply(fault, Op::kRead, offset, buf.size(), target().Read(offset, buf));
  if (s.ok() && fault && fault->action == FaultAction::kCorrupt) Invert(buf, offset, fault->range);
  co_return s;
}

io::Task<Status> FaultDevice::Write(uint64_t offset, std::span<const uint8_t> buf,
                                    io::WriteFlags flags) {
  const std::optional<Fault> fault = Decide(Op::kWrite, offset, buf.size());
  if (fault && fault->action == FaultAction::kCorrupt) {
    std::vector<uint8_t> copy(buf.begin(), buf.end());
    Invert(copy, offset, fault->range);
    co_return co_await target().Write(offset, copy, flags);
  }
  co_return co_await Apply(fault, Op::kWrite, offset, buf.size(),
                           target().Write(offset, buf, flags));
}

io::Task<Status> FaultDevice::Flush() {
  co_return co_await Apply(Decide(Op::kFlush, 0, 0), Op::kFlush, 0, 0, target().Flush());
}

io::Task<Status> FaultDevice::Discard(uint64_t offset, uint64_t length) {
  co_return co_await Apply(Decide(Op::kDiscard, offset, length), Op::kDiscard, offset, length,
                           target().Discard(offset, length));
}

io::Task<Status> FaultDevice::WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) {
  co_return co_await Apply(Decide(Op::kWriteZeroes, offset, length), Op::kWriteZeroes, offset,
                           length, target().WriteZeroes(offset, length, flags));
}

}  // namespace meshraid::testing
