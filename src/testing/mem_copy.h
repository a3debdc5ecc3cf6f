// CopyToMemDevice: snapshots any BlockDevice into a fresh MemDevice, e.g. the image that
// survived CrashDevice::Crash(), to reassemble an array from it in a new stack.
#pragma once

#include <memory>
#include <string>

#include "io/block_device.h"
#include "io/mem_device.h"
#include "io/task.h"
#include "util/result.h"

namespace meshraid::testing {

// Reads all of `src` (in pieces of at most its max_io_bytes) into a new MemDevice of the same
// size and block sizes whose completions run on `executor`. All-zero 64 KiB chunks stay
// unallocated, so sparse sources stay sparse. `src` must not change during the copy.
io::Task<Result<std::unique_ptr<io::MemDevice>>> CopyToMemDevice(io::BlockDevice& src,
                                                                 io::Executor& executor,
                                                                 std::string name = "copy");

}  // namespace meshraid::testing
