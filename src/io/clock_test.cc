#include "io/clock.h"

#include <gtest/gtest.h>

namespace meshraid::io {
namespace {

TEST(ClockTest, SystemClockIsMonotonic) {
  Clock& c = SystemClock::Get();
  uint64_t a = c.NowNs();
  uint64_t b = c.NowNs();
  EXPECT_LE(a, b);
  EXPECT_GT(a, 0u);
}

TEST(ClockTest, ManualClockMovesOnlyForward) {
  ManualClock c(100);
  EXPECT_EQ(c.NowNs(), 100u);
  c.AdvanceNs(50);
  EXPECT_EQ(c.NowNs(), 150u);
  c.SetNs(120);  // backwards: ignored
  EXPECT_EQ(c.NowNs(), 150u);
  c.SetNs(1000);
  EXPECT_EQ(c.NowNs(), 1000u);
}

}  // namespace
}  // namespace meshraid::io
