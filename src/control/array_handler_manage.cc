// ArrayHandler's member management (mdadm --manage): add, fail, remove, re-add, replace.
// Errors are one line naming the member.
#include <filesystem>

#include <fmt/format.h>

#include "control/array_handler.h"

namespace meshraid::control {
namespace {

// The error, prefixed with the member's name unless it already says it.
Status Named(const Status& s, const std::string& name) {
  if (s.ok() || s.message().find(name) != std::string::npos) return s;
  return s.WithPrefix(name);
}

}  // namespace

// The member named `name` as given to run, or the same file under another spelling of its path.
int ArrayHandler::Find(const std::string& name) const {
  for (size_t i = array_.member_count(); i-- > 0;) {
    if (!array_.member_removed(i) && array_.member_name(i) == name) return int(i);
  }
  std::error_code ec;
  std::filesystem::path want = std::filesystem::canonical(name, ec);
  if (ec) return -1;
  for (size_t i = array_.member_count(); i-- > 0;) {
    if (array_.member_removed(i)) continue;
    std::filesystem::path p = std::filesystem::canonical(array_.member_name(i), ec);
    if (!ec && p == want) return int(i);
  }
  return -1;
}

io::Task<Result<std::unique_ptr<io::BlockDevice>>> ArrayHandler::Open(std::string name) {
  if (!opener_) co_return Status::NotSupported(name + ": this array cannot open new members");
  Result<std::unique_ptr<io::BlockDevice>> dev = co_await opener_(name);
  if (!dev.ok()) co_return Named(dev.status(), name);
  co_return dev;
}

io::Task<Result<std::string>> ArrayHandler::RunManage(ManageRequest r) {
  co_await one_at_a_time_.Acquire();
  Result<std::string> out = Status::InvalidArgument(fmt::format(
      "manage {}: unknown operation (use add, fail, remove, re-add or replace)", r.op));
  int input = Find(r.member);
  bool known = r.op == "fail" || r.op == "remove" || r.op == "re-add" || r.op == "replace";
  if (r.op == "add") {
    if (input >= 0) {
      out = Status::InvalidArgument(r.member + ": already a member of this array");
    } else {
      out = co_await Add(r.member, -1);
    }
  } else if (known && input < 0) {
    out = Status::NotFound(r.member + ": not a member of this array");
  } else if (r.op == "fail") {
    out = co_await Fail(size_t(input));
  } else if (r.op == "remove") {
    Status s = co_await array_.RemoveMember(size_t(input));
    out = s.ok() ? Result<std::string>(r.member + " removed") : Named(s, r.member);
  } else if (r.op == "re-add") {
    out = co_await ReAdd(size_t(input));
  } else if (r.op == "replace") {
    if (r.with.empty()) {
      out = Status::InvalidArgument(r.member + ": replace needs the new member (with)");
    } else if (Find(r.with) >= 0) {
      out = Status::InvalidArgument(r.with + ": already a member of this array");
    } else if (array_.member_state(size_t(input)) != raid::MemberState::kInSync) {
      out = Status::FailedPrecondition(fmt::format(
          "{}: only an in-sync member can be replaced (it is {})", r.member,
          raid::MemberStateName(array_.member_state(size_t(input)))));
    } else {
      out = co_await Add(r.with, input);
    }
  }
  one_at_a_time_.Release();
  co_return out;
}

// A new member: a spare, rebuilt at once into a free slot, or a replacement of `replaces`.
io::Task<Result<std::string>> ArrayHandler::Add(std::string name, int replaces) {
  if (array_.broken()) co_return Status::FailedPrecondition(name + ": the array is broken");
  Result<std::unique_ptr<io::BlockDevice>> dev = co_await Open(name);
  if (!dev.ok()) co_return dev.status();
  // A refused device is closed by the array.
  Result<size_t> input = co_await array_.AddMember(std::move(dev).value(), name, replaces);
  if (!input.ok()) co_return Named(input.status(), name);
  raid::MemberState st = array_.member_state(*input);
  if (replaces >= 0) {
    co_return fmt::format("{} added as a replacement of {} (rebuilding slot {})", name,
                          array_.member_name(size_t(replaces)), array_.member_slot(*input));
  }
  if (st == raid::MemberState::kRecovering) {
    co_return fmt::format("{} added (rebuilding slot {})", name, array_.member_slot(*input));
  }
  co_return fmt::format("{} added as a spare", name);
}

// MD fails the last copy too and marks the array broken; meshraid refuses instead.
io::Task<Result<std::string>> ArrayHandler::Fail(size_t input) {
  const std::string name = array_.member_name(input);
  raid::MemberState st = array_.member_state(input);
  if (st == raid::MemberState::kFaulty) co_return name + " is already faulty";
  if (st != raid::MemberState::kInSync && st != raid::MemberState::kRecovering) {
    co_return Status::FailedPrecondition(fmt::format(
        "{}: is {}, not active: remove it instead", name, raid::MemberStateName(st)));
  }
  if (st == raid::MemberState::kInSync) {
    std::vector<bool> in_sync(size_t(array_.geometry().raid_disks()), false);
    for (size_t i = 0; i < array_.member_count(); ++i) {
      int slot = array_.member_slot(i);
      if (i != input && slot >= 0 && size_t(slot) < in_sync.size() &&
          array_.member_state(i) == raid::MemberState::kInSync) {
        in_sync[size_t(slot)] = true;
      }
    }
    if (!array_.geometry().Enough(in_sync)) {
      co_return Status::FailedPrecondition(
          name + ": holds the last in-sync copy of some data; not failed");
    }
  }
  Status s = co_await array_.FailMember(input, "failed on request");
  if (!s.ok()) co_return Named(s, name);
  co_return name + " failed";
}

// A failed or stale member back into its slot, reopened by its name.
io::Task<Result<std::string>> ArrayHandler::ReAdd(size_t input) {
  const std::string name = array_.member_name(input);
  raid::MemberState st = array_.member_state(input);
  if (st != raid::MemberState::kFaulty && st != raid::MemberState::kStale &&
      st != raid::MemberState::kMissing) {
    co_return Status::FailedPrecondition(fmt::format("{}: cannot re-add a member that is {}", name,
                                                     raid::MemberStateName(st)));
  }
  // The array keeps a failed member's device open (and locked): let it go first.
  Status released = co_await array_.ReleaseMember(input);
  if (!released.ok()) co_return Named(released, name);
  Result<std::unique_ptr<io::BlockDevice>> dev = co_await Open(name);
  if (!dev.ok()) co_return dev.status();
  Status s = co_await array_.ReAddMember(input, std::move(dev).value());
  if (!s.ok()) co_return Named(s, name);
  co_return fmt::format("{} re-added to slot {}", name, array_.member_slot(input));
}

}  // namespace meshraid::control
