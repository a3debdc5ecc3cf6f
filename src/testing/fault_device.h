// FaultDevice: injects failures by rule — fail with an errno, hang until released, or corrupt
// data — per op type and byte range, for the first N matching ops (after skipping some) or with
// a seeded probability; rules can be switched on and off while I/O runs, or tied to a trigger
// file (active only while the file exists) so an end-to-end test can break a member of a
// running process from outside. Errors are built with Status::FromErrno, the single errno
// conversion, so the layer above sees exactly what a real device error would give.
#pragma once

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/block_device.h"
#include "io/task.h"
#include "testing/latency.h"
#include "testing/op.h"
#include "util/status.h"

namespace meshraid::testing {

enum class FaultAction : uint8_t {
  kFail,       // complete with `error` without reaching the target
  kHang,       // hold the op before the target until ReleaseHung()
  kHangAfter,  // run the op on the target, then hold its completion until ReleaseHung()
  kCorrupt,    // reads: return the data with every byte in the rule's range inverted;
               // writes: store it inverted; the op succeeds. Other op types: no effect.
};

// One rule. A rule matches an op when it is enabled, the op type is in `ops`, the op's byte
// range overlaps [offset, offset + length) — flush has no range and matches only rules whose
// range is the whole device (offset 0, length kToEnd) — and, with a trigger file, that file
// exists. Of the matching ops, the first `skip` pass; after that each one fires with
// `probability` until the rule fired `count` times (0: no limit).
struct FaultRule {
  Op ops = Op::kAll;
  FaultAction action = FaultAction::kFail;
  uint64_t offset = 0;
  uint64_t length = ByteRange::kToEnd;
  int error = EIO;                // kFail: the errno (0 is taken as EIO)
  uint64_t count = 0;             // fire at most this many times; 0 = unlimited
  uint64_t skip = 0;              // matching ops that pass before the rule starts firing
  double probability = 1.0;       // drawn from the device's seeded generator when < 1
  std::string trigger_file = {};  // non-empty: active only while this path exists (checked per op)
  bool enabled = true;
};

class FaultDevice : public io::BlockDeviceWrapper {
 public:
  using RuleId = uint64_t;

  // `executor` resumes released ops; it must outlive the device.
  FaultDevice(std::unique_ptr<io::BlockDevice> target, io::Executor& executor, uint64_t seed = 1);
  // Hung ops must have been released before destruction.
  ~FaultDevice() override;

  // Adds a rule after the existing ones. For each op the rules are tried in order and the
  // first that fires decides; later rules are not consulted (their skip/count do not move).
  RuleId Inject(FaultRule rule);
  // Switches one rule; returns false for an unknown id.
  bool Enable(RuleId id, bool enabled);
  bool Remove(RuleId id);
  void Clear();
  // A master switch: while off, no rule matches (hung ops stay hung).
  void set_enabled(bool enabled) { enabled_ = enabled; }
  bool enabled() const { return enabled_; }
  // How often the rule fired (0 for an unknown id).
  uint64_t hits(RuleId id) const;
  // Restarts the generator used for probabilities.
  void Reseed(uint64_t seed) { rng_.seed(seed); }

  // Ops currently held by kHang / kHangAfter rules.
  size_t hung() const { return hung_.size(); }
  // Lets every held op go on, in the order they were held; they resume through the executor.
  // With `error` == 0 a kHang op proceeds to the target and a kHangAfter op completes with
  // the target's result; otherwise they complete with that errno. Returns how many.
  size_t ReleaseHung(int error = 0);

  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override;
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                         io::WriteFlags flags) override;
  io::Task<Status> Flush() override;
  io::Task<Status> Discard(uint64_t offset, uint64_t length) override;
  io::Task<Status> WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) override;

 private:
  struct Entry {
    RuleId id;
    FaultRule rule;
    uint64_t matched = 0;
    uint64_t fired = 0;
  };
  struct HungOp {
    std::coroutine_handle<> handle;
    int error = 0;
  };
  // What a fired rule does to one op (copied: rules may change while the op is held).
  struct Fault {
    FaultAction action;
    int error;
    ByteRange range;
  };
  class HangAwaiter;
  // The fault of the first rule that fires for this op, if any. Updates the rules' counters.
  std::optional<Fault> Decide(Op op, uint64_t offset, uint64_t length);
  Status Injected(Op op, uint64_t offset, uint64_t length, int error) const;
  // Runs `inner` under `fault` (kCorrupt is left to the caller).
  io::Task<Status> Apply(std::optional<Fault> fault, Op op, uint64_t offset, uint64_t length,
                         io::Task<Status> inner);

  io::Executor& executor_;
  Rng rng_;
  std::vector<Entry> rules_;
  RuleId next_id_ = 1;
  bool enabled_ = true;
  std::vector<HungOp*> hung_;
};

}  // namespace meshraid::testing
