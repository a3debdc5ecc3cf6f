#include "testing/crash_device.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <utility>

namespace meshraid::testing {

CrashDevice::CrashDevice(std::unique_ptr<io::BlockDevice> target, io::Executor& executor)
    : BlockDeviceWrapper(std::move(target)), executor_(executor), target_writes_(executor, 1) {}

CrashDevice::~CrashDevice() = default;

uint64_t CrashDevice::unflushed_bytes() const {
  uint64_t n = 0;
  for (const PiecePtr& p : cache_) n += p->length;
  return n;
}

Status CrashDevice::Down(const char* op) const {
  return Status::FromErrno(ENODEV,
                           fmt::format("{}: {} after a simulated power loss", info().name, op));
}

Status CrashDevice::CheckOp(const char* op, uint64_t offset, uint64_t length) const {
  if (crashed_) return Down(op);
  return io::CheckRange(info(), op, offset, length);
}

io::Task<Status> CrashDevice::Read(uint64_t offset, std::span<uint8_t> buf) {
  if (Status s = CheckOp("read", offset, buf.size()); !s.ok()) co_return s;
  // Taken before the target read: a piece that a flush writes through meanwhile is still
  // laid on top, so the read never sees the target's older data in its place.
  const ByteRange want{offset, buf.size()};
  std::vector<PiecePtr> overlay;
  for (const PiecePtr& p : cache_) {
    if (want.Overlaps(ByteRange{p->offset, p->length})) overlay.push_back(p);
  }
  Status s = co_await target().Read(offset, buf);
  if (!s.ok()) co_return s;
  if (crashed_) co_return Down("read");
  for (const PiecePtr& p : overlay) {
    const ByteRange hit = want.Intersect(ByteRange{p->offset, p->length});
    uint8_t* out = buf.data() + (hit.offset - offset);
    if (p->data) {
      std::memcpy(out, p->data->data() + p->data_offset + (hit.offset - p->offset), hit.length);
    } else {
      std::memset(out, 0, hit.length);
    }
  }
  co_return Status::Ok();
}

io::Task<Status> CrashDevice::Cache(const char* op, uint64_t offset, uint64_t length,
                                    std::shared_ptr<const std::vector<uint8_t>> data) {
  if (Status s = CheckOp(op, offset, length); !s.ok()) co_return s;
  co_await io::Yield(executor_);
  if (crashed_) co_return Down(op);
  if (length != 0) {
    cache_.push_back(std::make_shared<const Piece>(
        Piece{.seq = next_seq_++, .offset = offset, .length = length, .data = std::move(data)}));
  }
  co_return Status::Ok();
}

io::Task<Status> CrashDevice::Write(uint64_t offset, std::span<const uint8_t> buf,
                                    io::WriteFlags flags) {
  if (flags == io::WriteFlags::kFua) return WriteThrough(offset, buf.size(), buf);
  return Cache("write", offset, buf.size(),
               std::make_shared<const std::vector<uint8_t>>(buf.begin(), buf.end()));
}

io::Task<Status> CrashDevice::Discard(uint64_t offset, uint64_t length) {
  return Cache("discard", offset, length, nullptr);
}

io::Task<Status> CrashDevice::WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) {
  if ((uint32_t(flags) & uint32_t(io::ZeroFlags::kFua)) != 0) {
    return WriteThrough(offset, length, {});
  }
  return Cache("write zeroes", offset, length, nullptr);
}

io::Task<Status> CrashDevice::WriteThrough(uint64_t offset, uint64_t length,
                                           std::span<const uint8_t> data) {
  const char* op = data.empty() ? "write zeroes" : "write";
  if (Status s = CheckOp(op, offset, length); !s.ok()) co_return s;
  const uint64_t seq = next_seq_;  // cached writes completed before this one are older
  co_await target_writes_.Acquire();
  if (crashed_) {
    target_writes_.Release();
    co_return Down(op);
  }
  Status s;
  if (data.empty()) {
    const Piece zeroes{.seq = seq, .offset = offset, .length = length};
    s = co_await WritePiece(zeroes, offset, length);
  } else {
    s = co_await target().Write(offset, data, io::WriteFlags::kFua);
  }
  // Only now: until the FUA write completed, readers must still see the older cached data.
  if (s.ok()) Punch(offset, length, seq);
  target_writes_.Release();
  co_return s;
}

io::Task<Status> CrashDevice::WritePiece(const Piece& p, uint64_t offset, uint64_t length) {
  if (p.data) {
    const uint8_t* src = p.data->data() + p.data_offset + (offset - p.offset);
    co_return co_await target().Write(offset, std::span<const uint8_t>(src, length),
                                      io::WriteFlags::kNone);
  }
  if (info().can_write_zeroes) {
    co_return co_await target().WriteZeroes(offset, length, io::ZeroFlags::kNoHole);
  }
  const std::vector<uint8_t> zeroes(length, 0);
  co_return co_await target().Write(offset, zeroes, io::WriteFlags::kNone);
}

void CrashDevice::Punch(uint64_t offset, uint64_t length, uint64_t seq) {
  const ByteRange cut{offset, length};
  std::vector<PiecePtr> out;
  out.reserve(cache_.size() + 1);
  for (PiecePtr& p : cache_) {
    if (p->seq >= seq || !cut.Overlaps(ByteRange{p->offset, p->length})) {
      out.push_back(std::move(p));
      continue;
    }
    if (p->offset < cut.offset) {  // the part before the cut
      Piece left = *p;
      left.length = cut.offset - p->offset;
      out.push_back(std::make_shared<const Piece>(std::move(left)));
    }
    if (p->offset + p->length > cut.end()) {  // the part after the cut
      Piece right = *p;
      right.offset = cut.end();
      right.length = p->offset + p->length - cut.end();
      right.data_offset = p->data_offset + (cut.end() - p->offset);
      out.push_back(std::make_shared<const Piece>(std::move(right)));
    }
  }
  cache_ = std::move(out);
}

io::Task<Status> CrashDevice::Flush() {
  if (crashed_) co_return Down("flush");
  const uint64_t upto = next_seq_;  // writes cached before the flush was issued
  co_await target_writes_.Acquire();
  Status s;
  // The front piece stays cached while it is being written, so reads keep seeing it; only a
  // FUA write could change the cache's front, and it waits for target_writes_.
  while (s.ok() && !cache_.empty() && cache_.front()->seq < upto) {
    if (crashed_) break;
    const PiecePtr p = cache_.front();
    s = co_await WritePiece(*p, p->offset, p->length);
    if (s.ok()) cache_.erase(cache_.begin());
  }
  if (s.ok() && !crashed_) s = co_await target().Flush();
  target_writes_.Release();
  if (s.ok() && crashed_) s = Down("flush");
  co_return s;
}

io::Task<Status> CrashDevice::Survive(const Piece& p, const CrashOptions& options, Rng& rng) {
  if (!options.tear) {
    if (UniformUnit(rng) < options.keep_probability) {
      ++report_.writes_kept;
      report_.bytes_kept += p.length;
      co_return co_await WritePiece(p, p.offset, p.length);
    }
    ++report_.writes_dropped;
    report_.bytes_dropped += p.length;
    co_return Status::Ok();
  }
  const uint64_t block =
      options.tear_block_bytes != 0 ? options.tear_block_bytes : info().logical_block_size;
  uint64_t kept = 0;
  uint64_t run_start = p.offset;  // start of the current run of surviving blocks
  uint64_t run_len = 0;
  Status s;
  for (uint64_t at = p.offset; at < p.offset + p.length && s.ok();) {
    const uint64_t n = std::min(block - at % block, p.offset + p.length - at);
    if (UniformUnit(rng) < options.keep_probability) {
      if (run_len == 0) run_start = at;
      run_len += n;
      kept += n;
    } else if (run_len != 0) {
      s = co_await WritePiece(p, run_start, run_len);
      run_len = 0;
    }
    at += n;
  }
  if (s.ok() && run_len != 0) s = co_await WritePiece(p, run_start, run_len);
  if (kept == p.length) {
    ++report_.writes_kept;
  } else if (kept == 0) {
    ++report_.writes_dropped;
  } else {
    ++report_.writes_torn;
  }
  report_.bytes_kept += kept;
  report_.bytes_dropped += p.length - kept;
  co_return s;
}

io::Task<Status> CrashDevice::Crash(CrashOptions options) {
  assert(!crash_running_ && "Crash() while a crash is running");
  crashed_ = true;
  crash_running_ = true;
  report_ = {};
  co_await target_writes_.Acquire();  // a running flush stops after its current write
  Rng rng(options.seed);
  Status s;
  std::vector<PiecePtr> cache;
  cache.swap(cache_);
  for (const PiecePtr& p : cache) {
    s.Update(co_await Survive(*p, options, rng));
  }
  s.Update(co_await target().Flush());
  target_writes_.Release();
  crash_running_ = false;
  co_return s;
}

void CrashDevice::Restart() {
  assert(!crash_running_ && "Restart() before Crash() completed");
  crashed_ = false;
}

}  // namespace meshraid::testing
