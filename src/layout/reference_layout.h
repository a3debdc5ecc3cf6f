// Test-only: a brute-force RAID10 layout built cell by cell from the layout's prose
// definition (doc/raid10_geometry.md), sharing no code with geometry.cc. Chunk granularity.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "layout/geometry.h"

namespace meshraid::layout {

// Readable gtest output for Copy.
inline void PrintTo(const Copy& c, std::ostream* os) {
  *os << "{disk " << c.disk << ", sector " << c.sector << "}";
}

}  // namespace meshraid::layout

namespace meshraid::layout::testing {

struct RefCopy {
  int disk = 0;
  uint64_t dev_chunk = 0;  // chunk index on the member, relative to data_offset
};

struct RefLayout {
  // False when the definition itself puts two copies of a chunk on one member or two chunks
  // on one member chunk; `problem` says which.
  bool valid = true;
  std::string problem;
  uint64_t array_chunks = 0;
  std::vector<std::vector<RefCopy>> copies;  // [array chunk] -> copies in MD's slot order
  std::vector<std::vector<int64_t>> owner;   // [disk][dev chunk] -> array chunk, or -1
};

// `dev_chunks` whole chunks per member; far_set_mode 0, 1 or 2.
RefLayout BuildReference(int disks, int near, int far, bool offset, int far_set_mode,
                         uint64_t dev_chunks);

}  // namespace meshraid::layout::testing
