#include "io/clock.h"

#include <time.h>

namespace meshraid::io {

uint64_t SystemClock::NowNs() const {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
}

SystemClock& SystemClock::Get() {
  static SystemClock clock;
  return clock;
}

}  // namespace meshraid::io
