#include "io/mem_device.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace meshraid::io {

MemDevice::MemDevice(Executor& executor, Options options) : executor_(executor) {
  info_.name = std::move(options.name);
  info_.size_bytes = options.size_bytes;
  info_.logical_block_size = options.logical_block_size;
  info_.physical_block_size = options.physical_block_size;
  info_.can_fua = true;
  info_.can_flush = true;
  info_.can_discard = true;
  info_.can_write_zeroes = true;
  info_.rotational = false;
}

Status MemDevice::Check(const char* op, uint64_t offset, uint64_t length) const {
  if (closed_) return Status::FailedPrecondition(info_.name + ": " + op + " after close");
  return CheckRange(info_, op, offset, length);
}

void MemDevice::CopyOut(uint64_t offset, std::span<uint8_t> out) const {
  uint64_t done = 0;
  while (done < out.size()) {
    const uint64_t pos = offset + done;
    const uint64_t in_chunk = pos % kChunkBytes;
    const uint64_t n = std::min<uint64_t>(kChunkBytes - in_chunk, out.size() - done);
    auto it = chunks_.find(pos / kChunkBytes);
    if (it == chunks_.end()) {
      std::memset(out.data() + done, 0, n);
    } else {
      std::memcpy(out.data() + done, it->second.get() + in_chunk, n);
    }
    done += n;
  }
}

void MemDevice::CopyIn(uint64_t offset, std::span<const uint8_t> in) {
  uint64_t done = 0;
  while (done < in.size()) {
    const uint64_t pos = offset + done;
    const uint64_t in_chunk = pos % kChunkBytes;
    const uint64_t n = std::min<uint64_t>(kChunkBytes - in_chunk, in.size() - done);
    std::unique_ptr<uint8_t[]>& chunk = chunks_[pos / kChunkBytes];
    if (!chunk) chunk = std::make_unique<uint8_t[]>(kChunkBytes);  // value-initialised: zeroes
    std::memcpy(chunk.get() + in_chunk, in.data() + done, n);
    done += n;
  }
}

void MemDevice::Zero(uint64_t offset, uint64_t length) {
  uint64_t done = 0;
  while (done < length) {
    const uint64_t pos = offset + done;
    const uint64_t in_chunk = pos % kChunkBytes;
    const uint64_t n = std::min<uint64_t>(kChunkBytes - in_chunk, length - done);
    auto it = chunks_.find(pos / kChunkBytes);
    if (it != chunks_.end()) {
      if (n == kChunkBytes) {
        chunks_.erase(it);
      } else {
        std::memset(it->second.get() + in_chunk, 0, n);
      }
    }
    done += n;
  }
}

Task<Status> MemDevice::Read(uint64_t offset, std::span<uint8_t> buf) {
  co_await Yield(executor_);
  Status s = Check("read", offset, buf.size());
  if (!s.ok()) co_return s;
  ++counters_.reads;
  CopyOut(offset, buf);
  co_return Status::Ok();
}

Task<Status> MemDevice::Write(uint64_t offset, std::span<const uint8_t> buf, WriteFlags flags) {
  co_await Yield(executor_);
  Status s = Check("write", offset, buf.size());
  if (!s.ok()) co_return s;
  ++counters_.writes;
  if (flags == WriteFlags::kFua) ++counters_.fua_writes;
  CopyIn(offset, buf);
  co_return Status::Ok();
}

Task<Status> MemDevice::Flush() {
  co_await Yield(executor_);
  Status s = Check("flush", 0, 0);
  if (!s.ok()) co_return s;
  ++counters_.flushes;
  co_return Status::Ok();
}

Task<Status> MemDevice::Discard(uint64_t offset, uint64_t length) {
  co_await Yield(executor_);
  Status s = Check("discard", offset, length);
  if (!s.ok()) co_return s;
  ++counters_.discards;
  Zero(offset, length);
  co_return Status::Ok();
}

Task<Status> MemDevice::WriteZeroes(uint64_t offset, uint64_t length, ZeroFlags /*flags*/) {
  co_await Yield(executor_);
  Status s = Check("write zeroes", offset, length);
  if (!s.ok()) co_return s;
  ++counters_.write_zeroes;
  Zero(offset, length);
  co_return Status::Ok();
}

Task<Status> MemDevice::Close() {
  co_await Yield(executor_);
  closed_ = true;
  co_return Status::Ok();
}

std::vector<uint8_t> MemDevice::Peek(uint64_t offset, uint64_t length) const {
  std::vector<uint8_t> out(length, 0);
  if (offset < info_.size_bytes) {
    const uint64_t n = std::min(length, info_.size_bytes - offset);
    CopyOut(offset, std::span<uint8_t>(out.data(), n));
  }
  return out;
}

void MemDevice::Poke(uint64_t offset, std::span<const uint8_t> data) { CopyIn(offset, data); }

}  // namespace meshraid::io
