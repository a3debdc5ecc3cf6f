#include "testing/manual_loop.h"

namespace meshraid::testing {

void ManualLoop::AdvanceTo(uint64_t t_ns) {
  queue_.RunReady();
  for (auto d = timers_.next_deadline(); d && *d <= t_ns; d = timers_.next_deadline()) {
    timers_.AdvanceTo(*d);
    queue_.RunReady();
  }
  clock_.SetNs(t_ns);
}

bool ManualLoop::RunUntil(const std::function<bool()>& pred) {
  for (;;) {
    queue_.RunReady();
    if (pred()) return true;
    if (!timers_.AdvanceToNext()) return false;
  }
}

}  // namespace meshraid::testing
