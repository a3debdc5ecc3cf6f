// OfflineReader: reads an assembled array's logical contents through the geometry layer from
// its in-sync members, synchronously. Used by `meshraid cat` and the golden tests.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "io/sync_file.h"
#include "raid/assemble.h"

namespace meshraid::raid {

class OfflineReader {
 public:
  // `files[i]` belongs to input i of `plan` (whose member plans say where its data starts).
  OfflineReader(const AssemblyPlan& plan, const std::vector<io::SyncFile>& files)
      : plan_(plan), files_(files) {}

  // During a reshape: the old size (the array grows when the reshape completes).
  uint64_t ArraySectors() const {
    return plan_.reshape ? plan_.reshape->geometry.MoveSectors() : plan_.geometry.ArraySectors();
  }

  // Reads buf.size() bytes (a multiple of 512) from array sector `sector`; each run comes from
  // the first in-sync copy in MD's slot order.
  Status Read(uint64_t sector, std::span<uint8_t> buf) const;

 private:
  const AssemblyPlan& plan_;
  const std::vector<io::SyncFile>& files_;
};

}  // namespace meshraid::raid
