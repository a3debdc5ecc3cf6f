// The target's I/O commands over a BlockDevice (see nvme_io.h).
#include "export/nvme_io.h"

#include <bit>

namespace meshraid::exports {

namespace nv = proto::nvme;

namespace {

uint16_t St(nv::StatusCode c, bool dnr = true) { return nv::MakeStatus(c, dnr); }

// Media errors for what the device failed; a device that is gone is not a medium problem.
uint16_t DeviceError(const Status& s, bool write) {
  if (s.code() == Code::kInvalidArgument) return St(nv::kScLbaOutOfRange);
  if (s.code() == Code::kUnavailable || s.scope() == Scope::kDevice) return St(nv::kScNamespaceNotReady, false);
  return St(write ? nv::kScWriteFault : nv::kScUnrecoveredReadError);
}

}  // namespace

uint32_t NvmeIoDataOut(const nv::Sqe& sqe) {
  if (sqe.opcode == nv::kIoWrite || sqe.opcode == nv::kIoDatasetManagement) return sqe.sgl1.length;
  return 0;
}

io::Task<NvmeIoResult> ExecuteNvmeIo(const NvmeSubsystem& subsys, const NvmeLimits& limits,
                                     const nv::Sqe& sqe, std::span<const uint8_t> data_out) {
  NvmeIoResult r;
  io::BlockDevice& dev = *subsys.device;
  const uint32_t shift = uint32_t(std::countr_zero(subsys.lba_bytes));
  const uint64_t blocks_total = dev.info().size_bytes >> shift;
  if (sqe.nsid != 1) {
    r.status = St(nv::kScInvalidNamespace);
    co_return r;
  }
  switch (sqe.opcode) {
    case nv::kIoRead:
    case nv::kIoWrite:
    case nv::kIoWriteZeroes: {
      const nv::BlockRange br = nv::DecodeBlockRange(sqe);
      if (br.slba >= blocks_total || br.blocks > blocks_total - br.slba) {
        r.status = St(nv::kScLbaOutOfRange);
        co_return r;
      }
      const uint64_t offset = br.slba << shift;
      const uint64_t bytes = uint64_t(br.blocks) << shift;
      if (sqe.opcode == nv::kIoWriteZeroes) {
        uint32_t f = br.deac ? uint32_t(io::ZeroFlags::kDeallocate) : uint32_t(io::ZeroFlags::kNoHole);
        if (br.fua) f |= uint32_t(io::ZeroFlags::kFua);
        Status s = co_await dev.WriteZeroes(offset, bytes, io::ZeroFlags(f));
        if (!s.ok()) r.status = DeviceError(s, true);
        co_return r;
      }
      if (bytes > limits.max_transfer_bytes) {
        r.status = St(nv::kScInvalidField);
        co_return r;
      }
      if (sqe.sgl1.length != bytes) {
        r.status = St(nv::kScDataSglLengthInvalid);
        co_return r;
      }
      if (sqe.opcode == nv::kIoRead) {
        r.data.resize(bytes);
        Status s = co_await dev.Read(offset, r.data);
        if (!s.ok()) {
          r.data.clear();
          r.status = DeviceError(s, false);
        }
        co_return r;
      }
      Status s = co_await dev.Write(offset, data_out, br.fua ? io::WriteFlags::kFua : io::WriteFlags::kNone);
      if (!s.ok()) r.status = DeviceError(s, true);
      co_return r;
    }
    case nv::kIoFlush: {
      Status s = co_await dev.Flush();
      if (!s.ok()) r.status = DeviceError(s, true);
      co_return r;
    }
    case nv::kIoDatasetManagement: {
      const nv::DsmCommand d = nv::DecodeDatasetManagement(sqe);
      Result<std::vector<nv::DsmRange>> ranges = nv::DecodeDsmRanges(data_out, d.ranges);
      if (!ranges.ok()) {
        r.status = St(nv::kScDataSglLengthInvalid);
        co_return r;
      }
      if (!d.deallocate()) co_return r;  // integral read/write hints only: nothing to do
      for (const nv::DsmRange& range : *ranges) {
        if (range.slba >= blocks_total || range.blocks > blocks_total - range.slba) {
          r.status = St(nv::kScLbaOutOfRange);
          co_return r;
        }
        if (range.blocks == 0) continue;
        Status s = co_await dev.Discard(range.slba << shift, uint64_t(range.blocks) << shift);
        if (!s.ok() && s.code() != Code::kNotSupported) {  // deallocate is advisory
          r.status = DeviceError(s, true);
          co_return r;
        }
      }
      co_return r;
    }
    default:
      r.status = St(nv::kScInvalidOpcode);
      co_return r;
  }
}

}  // namespace meshraid::exports
