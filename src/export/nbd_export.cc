// Export advertisement and error mapping (see nbd_export.h).
#include "export/nbd_export.h"

#include <algorithm>

namespace meshraid::exports {

using namespace proto;

ExportParams DescribeExport(const Export& e) {
  const io::DeviceInfo& info = e.device->info();
  ExportParams p;
  const uint32_t min = std::max<uint32_t>(info.logical_block_size, 1);
  p.block_size.minimum = min;
  p.block_size.preferred = std::max(kPreferredBlockSize, min);
  p.block_size.maximum = kMaxPayload;
  p.size = info.size_bytes / min * min;

  uint16_t f = kTxHasFlags | kTxSendCache;
  if (e.read_only) f |= kTxReadOnly;
  if (info.can_flush) f |= kTxSendFlush;
  if (info.can_fua || info.can_flush) f |= kTxSendFua;
  if (info.rotational) f |= kTxRotational;
  if (!e.read_only) {
    if (info.can_discard) f |= kTxSendTrim;
    f |= kTxSendWriteZeroes | kTxSendFastZero;
  }
  if (info.can_flush || e.read_only) f |= kTxCanMultiConn;
  p.tx_flags = f;
  return p;
}

uint16_t ClientTxFlags(const ExportParams& p, bool structured_replies) {
  return structured_replies ? uint16_t(p.tx_flags | kTxSendDf) : p.tx_flags;
}

bool MatchesExport(const Export& e, const std::string& requested) {
  return requested.empty() || requested == e.name;
}

uint32_t NbdErrorFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return kNbdOk;
    case Code::kNoSpace: return kNbdEnospc;
    case Code::kInvalidArgument: return kNbdEinval;
    case Code::kFailedPrecondition: return kNbdEperm;
    default: return kNbdEio;
  }
}

}  // namespace meshraid::exports
