#include "raid/read_balancer.h"

#include <gtest/gtest.h>

namespace meshraid::raid {
namespace {

std::vector<ReadState> States(int n) {
  std::vector<ReadState> s(static_cast<size_t>(n));
  for (auto& m : s) {
    m.readable = true;
    m.head_position = 1000000;
    m.next_seq_sect = 1000000;
  }
  return s;
}

const std::vector<int> kAll3 = {0, 1, 2};

TEST(ReadBalancer, LeastPendingLowestIndexOnTies) {
  ReadBalancer b;
  auto s = States(3);
  ReadRequest r{.sector = 0, .sectors = 8};
  EXPECT_EQ(b.Choose(r, kAll3, s), 0);
  s[0].pending = 2;
  s[1].pending = 1;
  s[2].pending = 1;
  EXPECT_EQ(b.Choose(r, kAll3, s), 1);
}

TEST(ReadBalancer, SequentialReadStaysOnItsMember) {
  ReadBalancer b;
  auto s = States(2);
  s[1].pending = 5;
  ReadBalancer::OnIssue(s[1], 100, 8);
  ReadRequest r{.sector = 108, .sectors = 8};
  EXPECT_EQ(b.Choose(r, std::vector<int>{0, 1}, s), 1);
  r.sequential_rule = false;  // RAID10 has no sequential rule
  EXPECT_EQ(b.Choose(r, std::vector<int>{0, 1}, s), 0);
}

TEST(ReadBalancer, OnIssueTracksRuns) {
  ReadState m;
  ReadBalancer::OnIssue(m, 100, 8);
  EXPECT_EQ(m.seq_start, 100u);
  ReadBalancer::OnIssue(m, 108, 8);
  EXPECT_EQ(m.seq_start, 100u);
  EXPECT_EQ(m.next_seq_sect, 116u);
}

TEST(ReadBalancer, SkipsUnreadableAndUsesWriteMostlyLast) {
  ReadBalancer b;
  auto s = States(3);
  s[0].readable = false;
  s[1].write_mostly = true;
  s[2].pending = 9;
  ReadRequest r{.sector = 0, .sectors = 8};
  EXPECT_EQ(b.Choose(r, kAll3, s), 2);
  s[2].readable = false;
  EXPECT_EQ(b.Choose(r, kAll3, s), 1);
  s[1].readable = false;
  EXPECT_EQ(b.Choose(r, kAll3, s), -1);
}

TEST(ReadBalancer, ReadFirstTakesTheFirstReadableCopy) {
  ReadBalancer b;
  auto s = States(3);
  s[0].readable = false;
  s[1].pending = 10;
  ReadRequest r{.sector = 0, .sectors = 8, .read_first = true};
  EXPECT_EQ(b.Choose(r, kAll3, s), 1);
}

TEST(ReadBalancer, CandidatesMapToMemberSlots) {
  ReadBalancer b;
  auto s = States(4);
  s[2].pending = 3;
  s[3].pending = 1;
  ReadRequest r{.sector = 0, .sectors = 8};
  EXPECT_EQ(b.Choose(r, std::vector<int>{2, 3}, s), 1);  // index into candidates
}

}  // namespace
}  // namespace meshraid::raid
