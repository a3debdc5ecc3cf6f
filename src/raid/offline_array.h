// OfflineArray: open members read-only, read their metadata, decide the array (PlanAssembly)
// and read it through the geometry. The offline counterpart of the running array.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "raid/assemble.h"
#include "raid/offline_reader.h"

namespace meshraid::raid {

class OfflineArray {
 public:
  // Fails with the first member that cannot be opened or read, or with the assembly error.
  static Result<OfflineArray> Open(const std::vector<std::string>& paths);

  const AssemblyPlan& plan() const { return *plan_; }
  const std::vector<MemberMetadata>& metadata() const { return *metadata_; }
  const OfflineReader& reader() const { return *reader_; }
  // One line per member left out of the array (stale, faulty, spare) and for a dirty array.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  OfflineArray() = default;

  // Heap-held so that the reader's references stay valid when the object moves.
  std::unique_ptr<std::vector<io::SyncFile>> files_;
  std::unique_ptr<std::vector<MemberMetadata>> metadata_;
  std::unique_ptr<AssemblyPlan> plan_;
  std::unique_ptr<OfflineReader> reader_;
  std::vector<std::string> warnings_;
};

}  // namespace meshraid::raid
