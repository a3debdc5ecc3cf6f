// NBD commands on a BlockDevice (see request_executor.h).
#include "export/request_executor.h"

#include <algorithm>
#include <cstdlib>

namespace meshraid::exports {

using namespace proto;

namespace {

constexpr uint64_t kZeroBufferBytes = 1u << 20;

// A 1 MiB block of zeroes, aligned for O_DIRECT, shared by every emulated WRITE_ZEROES.
std::span<const uint8_t> ZeroBuffer() {
  static const uint8_t* zeroes = [] {
    auto* p = static_cast<uint8_t*>(std::aligned_alloc(4096, kZeroBufferBytes));
    std::fill_n(p, kZeroBufferBytes, uint8_t{0});
    return p;
  }();
  return {zeroes, kZeroBufferBytes};
}

bool Has(uint16_t flags, uint16_t bit) { return (flags & bit) != 0; }

}  // namespace

uint64_t RequestExecutor::MaxIo() const {
  const io::DeviceInfo& info = device_.info();
  const uint64_t lbs = std::max<uint32_t>(info.logical_block_size, 1);
  return std::max<uint64_t>(info.max_io_bytes / lbs * lbs, lbs);
}

io::Task<Status> RequestExecutor::Read(uint64_t offset, std::span<uint8_t> buf) {
  const uint64_t step = MaxIo();
  for (uint64_t done = 0; done < buf.size(); done += step) {
    const size_t n = size_t(std::min<uint64_t>(step, buf.size() - done));
    MESHRAID_CO_RETURN_IF_ERROR(co_await device_.Read(offset + done, buf.subspan(done, n)));
  }
  co_return Status::Ok();
}

io::Task<Status> RequestExecutor::Write(uint64_t offset, std::span<const uint8_t> buf, bool fua) {
  const bool native_fua = fua && device_.info().can_fua;
  const uint64_t step = MaxIo();
  for (uint64_t done = 0; done < buf.size(); done += step) {
    const size_t n = size_t(std::min<uint64_t>(step, buf.size() - done));
    MESHRAID_CO_RETURN_IF_ERROR(co_await device_.Write(
        offset + done, buf.subspan(done, n), native_fua ? io::WriteFlags::kFua : io::WriteFlags::kNone));
  }
  if (fua && !native_fua) co_return co_await device_.Flush();
  co_return Status::Ok();
}

io::Task<Status> RequestExecutor::WriteZeroBuffers(uint64_t offset, uint64_t length) {
  const std::span<const uint8_t> zeroes = ZeroBuffer();
  const uint64_t step = std::min<uint64_t>(MaxIo(), zeroes.size());
  for (uint64_t done = 0; done < length; done += step) {
    const size_t n = size_t(std::min<uint64_t>(step, length - done));
    MESHRAID_CO_RETURN_IF_ERROR(co_await device_.Write(offset + done, zeroes.first(n)));
  }
  co_return Status::Ok();
}

io::Task<Status> RequestExecutor::Zero(uint64_t offset, uint64_t length, bool no_hole, bool fua) {
  const io::DeviceInfo& info = device_.info();
  if (info.can_write_zeroes) {
    uint32_t f = uint32_t(no_hole ? io::ZeroFlags::kNoHole : io::ZeroFlags::kNone);
    if (fua && info.can_fua) f |= uint32_t(io::ZeroFlags::kFua);
    MESHRAID_CO_RETURN_IF_ERROR(co_await device_.WriteZeroes(offset, length, io::ZeroFlags(f)));
    if (fua && !info.can_fua) co_return co_await device_.Flush();
    co_return Status::Ok();
  }
  MESHRAID_CO_RETURN_IF_ERROR(co_await WriteZeroBuffers(offset, length));  // allocates: NO_HOLE holds
  if (fua) co_return co_await device_.Flush();
  co_return Status::Ok();
}

io::Task<Status> RequestExecutor::Trim(uint64_t offset, uint64_t length, bool fua) {
  Status s = co_await device_.Discard(offset, length);
  // TRIM is a hint: a device that cannot discard this range simply keeps the data.
  if (s.code() == Code::kNotSupported) s = Status::Ok();
  if (s.ok() && fua) s = co_await device_.Flush();
  co_return s;
}

io::Task<Outcome> RequestExecutor::Run(const Request& r, std::span<uint8_t> data) {
  const bool fua = Has(r.flags, kCmdFlagFua);
  Status s;
  switch (r.type) {
    case kCmdRead:
      if (r.length > 0) s = co_await Read(r.offset, data);
      break;
    case kCmdWrite:
      if (r.length > 0) s = co_await Write(r.offset, data, fua);
      break;
    case kCmdFlush:
      s = co_await device_.Flush();
      break;
    case kCmdTrim:
      if (r.length > 0) s = co_await Trim(r.offset, r.length, fua);
      break;
    case kCmdWriteZeroes:
      if (Has(r.flags, kCmdFlagFastZero) && !(export_.zeroes_fast && device_.info().can_write_zeroes)) {
        co_return Outcome{kNbdEnotsup, "fast zeroing is not available on this export"};
      }
      if (r.length > 0) s = co_await Zero(r.offset, r.length, Has(r.flags, kCmdFlagNoHole), fua);
      break;
    case kCmdCache:  // advisory prefetch: nothing to gain from reading ahead here
      break;
    default:
      co_return Outcome{kNbdEinval, "command not supported by this server"};
  }
  if (s.ok()) co_return Outcome{};
  co_return Outcome{NbdErrorFor(s), s.message()};
}

}  // namespace meshraid::exports
