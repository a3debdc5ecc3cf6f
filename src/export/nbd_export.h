// What the NBD server serves: one export (a BlockDevice with a name) and what it advertises
// for it (size, transmission flags, block sizes), plus the mapping from a device Status to
// the NBD error a client gets. Pure functions; the session applies them.
#pragma once

#include <cstdint>
#include <string>

#include "io/block_device.h"
#include "proto/nbd_option.h"
#include "util/status.h"

namespace meshraid::exports {

struct Export {
  std::string name;         // "" is a valid name; clients asking for "" also get this export
  std::string description;  // shown by NBD_OPT_LIST and NBD_INFO_DESCRIPTION; may be empty
  io::BlockDevice* device = nullptr;  // not owned; must outlive the server
  bool read_only = false;
  // The device zeroes a range without writing data (fallocate, unmap): WRITE_ZEROES with
  // FAST_ZERO is then passed through instead of being answered ENOTSUP at once.
  bool zeroes_fast = false;
};

// What one export advertises (the same to every client).
struct ExportParams {
  uint64_t size = 0;      // the device size rounded down to the minimum block size
  uint16_t tx_flags = 0;  // without SEND_DF, which depends on structured replies
  proto::BlockSize block_size;
};

inline constexpr uint32_t kPreferredBlockSize = 4096;
inline constexpr uint32_t kMaxPayload = proto::kDosSafeLength;  // 32 MiB

// Derives the advertisement from the device:
//  - block sizes: minimum = logical block size, preferred = max(4096, minimum), max 32 MiB;
//  - HAS_FLAGS always; READ_ONLY if read-only; SEND_FLUSH if the device can flush;
//    SEND_FUA if it can FUA or flush (FUA is then write + flush); SEND_CACHE (a no-op);
//  - writable exports only: SEND_TRIM if the device can discard; SEND_WRITE_ZEROES always
//    (emulated by writing zeroes when the device cannot); SEND_FAST_ZERO with it (answered
//    ENOTSUP unless zeroes_fast, so clients learn cheaply that zeroing is a full write);
//  - CAN_MULTI_CONN when flush is advertised or the export is read-only. The server keeps
//    no per-connection state between a write's reply and the device: a write is replied to
//    only after the device completed it, and the device's Flush() makes every write it
//    completed durable, whichever connection sent it. So a FLUSH (or FUA) reply on one
//    connection covers the replied writes of all connections, which is what multi-conn
//    requires (nbd-io.md §1.8).
ExportParams DescribeExport(const Export& e);

// The transmission flags sent to one client: the export's, plus SEND_DF once structured
// replies are negotiated (every READ is answered with one data chunk, so DF costs nothing).
uint16_t ClientTxFlags(const ExportParams& p, bool structured_replies);

// True if `requested` names `e` (its name, or "" for the default export).
bool MatchesExport(const Export& e, const std::string& requested);

// The NBD error for a failed device operation: kNoSpace -> ENOSPC, kInvalidArgument ->
// EINVAL, kFailedPrecondition (EPERM/EROFS/EACCES from the device) -> EPERM, anything else ->
// EIO. ENOTSUP is never produced here (it is reserved for FAST_ZERO).
uint32_t NbdErrorFor(const Status& s);

}  // namespace meshraid::exports
