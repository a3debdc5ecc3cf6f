// The brute-force RAID10 reference (reference_layout.h) and checks of it against layouts
// drawn by hand from the md(4) description.
#include "layout/reference_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace meshraid::layout::testing {
namespace {

// Far sets as member lists: consecutive groups of `size`; leftovers join the last group.
std::vector<std::vector<int>> FarSets(int disks, int size) {
  std::vector<std::vector<int>> sets;
  for (int d = 0; d < disks; ++d) {
    if (sets.empty() || (static_cast<int>(sets.back().size()) == size && disks - d >= size)) {
      sets.emplace_back();
    }
    sets.back().push_back(d);
  }
  return sets;
}

// The member holding far copy `f` of a cell on member `d`: f × near places further on,
// cyclically, inside d's far set.
int Rotate(const std::vector<std::vector<int>>& sets, int d, int f, int near) {
  for (const auto& set : sets) {
    auto it = std::find(set.begin(), set.end(), d);
    if (it == set.end()) continue;
    const size_t pos = static_cast<size_t>(it - set.begin());
    return set[(pos + static_cast<size_t>(f * near)) % set.size()];
  }
  return -1;
}

}  // namespace

RefLayout BuildReference(int disks, int near, int far, bool offset, int far_set_mode,
                         uint64_t dev_chunks) {
  RefLayout ref;
  int set_size = disks;
  if (far_set_mode == 1) set_size = disks / far;
  if (far_set_mode == 2) set_size = near * far;
  const auto sets = FarSets(disks, set_size);

  // Each member splits into `far` equal parts of whole chunks: far regions (far layout) or
  // groups of `far` consecutive chunks (offset layout). Region 0 / the first chunk of each
  // group form a RAID0-like grid of `rows` stripes; chunks take `near` cells each, in order.
  const uint64_t rows = dev_chunks / static_cast<uint64_t>(far);
  const uint64_t cells = rows * static_cast<uint64_t>(disks);
  ref.array_chunks = cells / static_cast<uint64_t>(near);
  ref.owner.assign(disks, std::vector<int64_t>(dev_chunks, -1));
  ref.copies.resize(ref.array_chunks);
  uint64_t next_cell = 0;
  for (uint64_t c = 0; c < ref.array_chunks; ++c) {
    for (int k = 0; k < near; ++k, ++next_cell) {
      const uint64_t stripe = next_cell / static_cast<uint64_t>(disks);
      const int dev = static_cast<int>(next_cell % static_cast<uint64_t>(disks));
      for (int f = 0; f < far; ++f) {
        RefCopy copy;
        copy.disk = Rotate(sets, dev, f, near);
        copy.dev_chunk = offset ? stripe * static_cast<uint64_t>(far) + f
                                : static_cast<uint64_t>(f) * rows + stripe;
        ref.copies[c].push_back(copy);
      }
    }
    for (const RefCopy& copy : ref.copies[c]) {
      int64_t& slot = ref.owner[copy.disk][copy.dev_chunk];
      if (slot == static_cast<int64_t>(c)) {
        ref.valid = false;
        ref.problem = "chunk " + std::to_string(c) + " has two copies on one member";
      } else if (slot >= 0) {
        ref.valid = false;
        ref.problem = "chunks " + std::to_string(slot) + " and " + std::to_string(c) +
                      " share member " + std::to_string(copy.disk);
      }
      slot = static_cast<int64_t>(c);
    }
    std::vector<int> members;
    for (const RefCopy& copy : ref.copies[c]) members.push_back(copy.disk);
    std::sort(members.begin(), members.end());
    if (std::adjacent_find(members.begin(), members.end()) != members.end()) {
      ref.valid = false;
      ref.problem = "chunk " + std::to_string(c) + " has two copies on one member";
    }
  }
  return ref;
}

namespace {

// Renders owner[][] as rows of letters (A = chunk 0), one row per member chunk.
std::string Draw(const RefLayout& ref) {
  std::string out;
  const size_t rows = ref.owner.empty() ? 0 : ref.owner[0].size();
  for (size_t r = 0; r < rows; ++r) {
    for (const auto& member : ref.owner) {
      out += member[r] < 0 ? '.' : static_cast<char>('A' + member[r]);
    }
    out += '\n';
  }
  return out;
}

TEST(ReferenceLayoutTest, Near2OnFourMembers) {
  EXPECT_EQ(Draw(BuildReference(4, 2, 1, false, 0, 3)), "AABB\nCCDD\nEEFF\n");
}

TEST(ReferenceLayoutTest, Near2OnThreeMembersWrapsStripes) {
  EXPECT_EQ(Draw(BuildReference(3, 2, 1, false, 0, 3)), "AAB\nBCC\nDD.\n");
}

TEST(ReferenceLayoutTest, Far2OnFourMembers) {
  EXPECT_EQ(Draw(BuildReference(4, 1, 2, false, 0, 4)), "ABCD\nEFGH\nDABC\nHEFG\n");
}

TEST(ReferenceLayoutTest, Offset2OnFourMembers) {
  EXPECT_EQ(Draw(BuildReference(4, 1, 2, true, 0, 4)), "ABCD\nDABC\nEFGH\nHEFG\n");
}

TEST(ReferenceLayoutTest, Far2OnOddMembersLeavesTail) {
  // 5 chunks per member: two far regions of 2 chunks; the fifth chunk holds nothing.
  EXPECT_EQ(Draw(BuildReference(3, 1, 2, false, 0, 5)), "ABC\nDEF\nCAB\nFDE\n...\n");
}

TEST(ReferenceLayoutTest, FarSetsRotateInsideTheirSet) {
  // Mode 2, far=2 on 5 members: sets {0,1} and {2,3,4}.
  EXPECT_EQ(Draw(BuildReference(5, 1, 2, false, 2, 2)), "ABCDE\nBAECD\n");
}

TEST(ReferenceLayoutTest, CopyOrderIsNearThenFar) {
  const RefLayout ref = BuildReference(4, 2, 2, false, 0, 2);
  ASSERT_EQ(ref.copies.size(), 2u);
  const std::vector<int> want = {0, 2, 1, 3};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(ref.copies[0][i].disk, want[i]);
}

TEST(ReferenceLayoutTest, SmallFarSetsAreFlagged) {
  // Mode 1 with near=2, far=2 on 4 members: sets of 2 members, rotating by 2 = no move.
  EXPECT_FALSE(BuildReference(4, 2, 2, false, 1, 4).valid);
}

}  // namespace
}  // namespace meshraid::layout::testing
