// SQE/CQE codec and command fields (see nvme_command.h).
#include "proto/nvme_command.h"


#include "util/endian.h"

namespace meshraid::proto::nvme {

std::string_view AdminOpcodeName(uint8_t opcode) {
  switch (opcode) {
    case 0x00: return "Delete I/O Submission Queue";
    case 0x01: return "Create I/O Submission Queue";
    case kAdminGetLogPage: return "Get Log Page";
    case 0x04: return "Delete I/O Completion Queue";
    case 0x05: return "Create I/O Completion Queue";
    case kAdminIdentify: return "Identify";
    case kAdminAbort: return "Abort";
    case kAdminSetFeatures: return "Set Features";
    case kAdminGetFeatures: return "Get Features";
    case kAdminAsyncEventRequest: return "Asynchronous Event Request";
    case kAdminKeepAlive: return "Keep Alive";
    case kFabricsOpcode: return "Fabrics";
    default: return "unknown";
  }
}

std::string_view IoOpcodeName(uint8_t opcode) {
  switch (opcode) {
    case kIoFlush: return "Flush";
    case kIoWrite: return "Write";
    case kIoRead: return "Read";
    case kIoWriteZeroes: return "Write Zeroes";
    case kIoDatasetManagement: return "Dataset Management";
    case kFabricsOpcode: return "Fabrics";
    default: return "unknown";
  }
}

void EncodeSqe(const Sqe& s, std::span<uint8_t, kSqeSize> out) {
  uint8_t* p = out.data();
  p[0] = s.opcode;
  p[1] = s.flags;
  StoreLe16(p + 2, s.cid);
  StoreLe32(p + 4, s.nsid);
  StoreLe32(p + 8, s.cdw2);
  StoreLe32(p + 12, s.cdw3);
  StoreLe64(p + 16, s.mptr);
  StoreLe64(p + 24, s.sgl1.address);
  StoreLe32(p + 32, s.sgl1.length);
  p[36] = p[37] = p[38] = 0;
  p[39] = s.sgl1.identifier;
  for (size_t i = 0; i < 6; ++i) StoreLe32(p + 40 + 4 * i, s.cdw[i]);
}

std::array<uint8_t, kSqeSize> EncodeSqe(const Sqe& sqe) {
  std::array<uint8_t, kSqeSize> b{};
  EncodeSqe(sqe, b);
  return b;
}

Sqe DecodeSqe(std::span<const uint8_t, kSqeSize> in) {
  const uint8_t* p = in.data();
  Sqe s;
  s.opcode = p[0];
  s.flags = p[1];
  s.cid = LoadLe16(p + 2);
  s.nsid = LoadLe32(p + 4);
  s.cdw2 = LoadLe32(p + 8);
  s.cdw3 = LoadLe32(p + 12);
  s.mptr = LoadLe64(p + 16);
  s.sgl1.address = LoadLe64(p + 24);
  s.sgl1.length = LoadLe32(p + 32);
  s.sgl1.identifier = p[39];
  for (size_t i = 0; i < 6; ++i) s.cdw[i] = LoadLe32(p + 40 + 4 * i);
  return s;
}

void EncodeCqe(const Cqe& c, std::span<uint8_t, kCqeSize> out) {
  uint8_t* p = out.data();
  StoreLe32(p, c.dw0);
  StoreLe32(p + 4, c.dw1);
  StoreLe16(p + 8, c.sqhd);
  StoreLe16(p + 10, c.sqid);
  StoreLe16(p + 12, c.cid);
  StoreLe16(p + 14, c.status);
}

std::array<uint8_t, kCqeSize> EncodeCqe(const Cqe& cqe) {
  std::array<uint8_t, kCqeSize> b{};
  EncodeCqe(cqe, b);
  return b;
}

Cqe DecodeCqe(std::span<const uint8_t, kCqeSize> in) {
  const uint8_t* p = in.data();
  return Cqe{LoadLe32(p), LoadLe32(p + 4), LoadLe16(p + 8), LoadLe16(p + 10), LoadLe16(p + 12),
             LoadLe16(p + 14)};
}

Result<Sqe> MakeBlockCommand(uint8_t opcode, uint16_t cid, uint32_t nsid, const BlockRange& r,
                             const SglDescriptor& sgl) {
  if (opcode != kIoRead && opcode != kIoWrite && opcode != kIoWriteZeroes) {
    return Status::InvalidArgument("not a Read, Write or Write Zeroes opcode");
  }
  if (r.blocks == 0 || r.blocks > kMaxBlocksPerCommand) {
    return Status::InvalidArgument("block count must be 1..65536");
  }
  if (r.deac && opcode != kIoWriteZeroes) {
    return Status::InvalidArgument("DEAC is only defined for Write Zeroes");
  }
  Sqe s;
  s.opcode = opcode;
  s.flags = kPsdtSgl;
  s.cid = cid;
  s.nsid = nsid;
  s.sgl1 = sgl;
  s.cdw[0] = uint32_t(r.slba);
  s.cdw[1] = uint32_t(r.slba >> 32);
  s.cdw[2] = (r.blocks - 1) | (r.fua ? kCdw12Fua : 0) | (r.deac ? kCdw12Deac : 0);
  return s;
}

BlockRange DecodeBlockRange(const Sqe& s) {
  BlockRange r;
  r.slba = uint64_t(s.cdw10()) | (uint64_t(s.cdw11()) << 32);
  r.blocks = (s.cdw12() & 0xFFFF) + 1;
  r.fua = (s.cdw12() & kCdw12Fua) != 0;
  r.deac = s.opcode == kIoWriteZeroes && (s.cdw12() & kCdw12Deac) != 0;
  return r;
}

Result<Sqe> MakeDatasetManagement(uint16_t cid, uint32_t nsid, const DsmCommand& d,
                                  const SglDescriptor& sgl) {
  if (d.ranges == 0 || d.ranges > kMaxDsmRanges) {
    return Status::InvalidArgument("Dataset Management needs 1..256 ranges");
  }
  Sqe s;
  s.opcode = kIoDatasetManagement;
  s.flags = kPsdtSgl;
  s.cid = cid;
  s.nsid = nsid;
  s.sgl1 = sgl;
  s.cdw[0] = d.ranges - 1;
  s.cdw[1] = d.attributes;
  return s;
}

DsmCommand DecodeDatasetManagement(const Sqe& s) {
  return DsmCommand{(s.cdw10() & 0xFF) + 1, s.cdw11()};
}

Result<std::vector<uint8_t>> EncodeDsmRanges(std::span<const DsmRange> ranges) {
  if (ranges.empty() || ranges.size() > kMaxDsmRanges) {
    return Status::InvalidArgument("Dataset Management needs 1..256 ranges");
  }
  std::vector<uint8_t> out(ranges.size() * kDsmRangeSize);
  for (size_t i = 0; i < ranges.size(); ++i) {
    uint8_t* p = out.data() + i * kDsmRangeSize;
    StoreLe32(p, ranges[i].context_attributes);
    StoreLe32(p + 4, ranges[i].blocks);
    StoreLe64(p + 8, ranges[i].slba);
  }
  return out;
}

Result<std::vector<DsmRange>> DecodeDsmRanges(std::span<const uint8_t> data, uint32_t count) {
  if (count > kMaxDsmRanges || data.size() < size_t(count) * kDsmRangeSize) {
    return Status::InvalidArgument("Dataset Management range list shorter than NR says");
  }
  std::vector<DsmRange> out(count);
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* p = data.data() + i * kDsmRangeSize;
    out[i] = DsmRange{LoadLe32(p), LoadLe32(p + 4), LoadLe64(p + 8)};
  }
  return out;
}

Sqe MakeIdentify(uint16_t cid, const IdentifyCommand& id, const SglDescriptor& sgl) {
  Sqe s;
  s.opcode = kAdminIdentify;
  s.flags = kPsdtSgl;
  s.cid = cid;
  s.nsid = id.nsid;
  s.sgl1 = sgl;
  s.cdw[0] = uint32_t(id.cns) | (uint32_t(id.cntid) << 16);
  s.cdw[1] = uint32_t(id.csi) << 24;
  return s;
}

IdentifyCommand DecodeIdentify(const Sqe& s) {
  return IdentifyCommand{uint8_t(s.cdw10() & 0xFF), uint16_t(s.cdw10() >> 16),
                         uint8_t(s.cdw11() >> 24), s.nsid};
}

Sqe MakeGetFeatures(uint16_t cid, const FeatureCommand& f) {
  Sqe s;
  s.opcode = kAdminGetFeatures;
  s.flags = kPsdtSgl;
  s.cid = cid;
  s.cdw[0] = uint32_t(f.fid) | (uint32_t(f.select & 0x7) << 8);
  s.cdw[1] = f.cdw11;
  return s;
}

Sqe MakeSetFeatures(uint16_t cid, const FeatureCommand& f) {
  Sqe s;
  s.opcode = kAdminSetFeatures;
  s.flags = kPsdtSgl;
  s.cid = cid;
  s.cdw[0] = uint32_t(f.fid) | (f.save ? 1u << 31 : 0);
  s.cdw[1] = f.cdw11;
  return s;
}

FeatureCommand DecodeFeatures(const Sqe& s) {
  FeatureCommand f;
  f.fid = uint8_t(s.cdw10() & 0xFF);
  if (s.opcode == kAdminGetFeatures) f.select = uint8_t((s.cdw10() >> 8) & 0x7);
  if (s.opcode == kAdminSetFeatures) f.save = (s.cdw10() >> 31) != 0;
  f.cdw11 = s.cdw11();
  return f;
}

Result<uint32_t> EncodeQueueCount(const QueueCount& q) {
  if (q.submission == 0 || q.submission > 65535 || q.completion == 0 || q.completion > 65535) {
    return Status::InvalidArgument("queue counts must be 1..65535");
  }
  return (q.submission - 1) | ((q.completion - 1) << 16);
}

QueueCount DecodeQueueCount(uint32_t dword) {
  return QueueCount{(dword & 0xFFFF) + 1, (dword >> 16) + 1};
}

Result<Sqe> MakeGetLogPage(uint16_t cid, const GetLogPageCommand& g, const SglDescriptor& sgl) {
  if (g.length == 0 || g.length % 4 != 0 || g.length > (uint64_t{1} << 34)) {
    return Status::InvalidArgument("log page length must be 4..2^34 bytes in whole dwords");
  }
  if (g.offset % 4 != 0) return Status::InvalidArgument("log page offset must be dword aligned");
  const uint64_t numd = g.length / 4 - 1;
  Sqe s;
  s.opcode = kAdminGetLogPage;
  s.flags = kPsdtSgl;
  s.cid = cid;
  s.nsid = g.nsid;
  s.sgl1 = sgl;
  s.cdw[0] = uint32_t(g.lid) | (uint32_t(g.lsp & 0x7F) << 8) | (g.rae ? 1u << 15 : 0) |
             (uint32_t(numd & 0xFFFF) << 16);
  s.cdw[1] = uint32_t(numd >> 16) | (uint32_t(g.lsi) << 16);
  s.cdw[2] = uint32_t(g.offset);
  s.cdw[3] = uint32_t(g.offset >> 32);
  s.cdw[4] = uint32_t(g.csi) << 24;
  return s;
}

GetLogPageCommand DecodeGetLogPage(const Sqe& s) {
  GetLogPageCommand g;
  g.lid = uint8_t(s.cdw10() & 0xFF);
  g.lsp = uint8_t((s.cdw10() >> 8) & 0x7F);
  g.rae = (s.cdw10() & (1u << 15)) != 0;
  const uint64_t numd = uint64_t(s.cdw10() >> 16) | (uint64_t(s.cdw11() & 0xFFFF) << 16);
  g.length = (numd + 1) * 4;
  g.lsi = uint16_t(s.cdw11() >> 16);
  g.offset = uint64_t(s.cdw12()) | (uint64_t(s.cdw13()) << 32);
  g.csi = uint8_t(s.cdw14() >> 24);
  g.nsid = s.nsid;
  return g;
}

}  // namespace meshraid::proto::nvme
