#include "raid/barrier.h"

#include <cassert>

namespace meshraid::raid {

size_t Barrier::BucketOf(uint64_t sector) {
  // hash_64(val, 10): the top 10 bits of val × GOLDEN_RATIO_64 (wrapping).
  uint64_t unit = sector >> 17;
  return size_t((unit * 0x61C8864680B583EBull) >> (64 - 10));
}

Barrier::Barrier(io::Executor& executor, BarrierMode mode)
    : executor_(executor), mode_(mode), buckets_(kBuckets) {}

uint64_t Barrier::pending() const {
  uint64_t n = 0;
  for (const Bucket& b : buckets_) n += b.pending;
  return n;
}

void Barrier::WakeAll() {
  // Take the whole list first: a resumed waiter that must wait again pushes itself anew.
  io::detail::WaitList list = std::move(waiters_);
  waiters_ = io::detail::WaitList();
  while (io::detail::WaitNode* n = list.Pop()) executor_.Schedule(n->handle);
}

io::Task<void> Barrier::EnterWrite(uint64_t sector) { return Enter(sector, /*read=*/false); }

io::Task<void> Barrier::EnterRead(uint64_t sector) { return Enter(sector, /*read=*/true); }

io::Task<void> Barrier::Enter(uint64_t sector, bool read) {
  Bucket& b = buckets_[Index(sector)];
  // A read ignores its bucket's barrier, except in global mode (stock RAID10: reads wait on the
  // barrier like writes). Counted as a read wait at once, so stats are right while it waits.
  const bool obeys_barrier = !read || mode_ == BarrierMode::kGlobal;
  if (!frozen_ && !(obeys_barrier && b.barrier != 0)) {
    ++b.pending;
    co_return;
  }
  ++(read ? stats_.read_waits : stats_.write_waits);
  ++b.waiting;
  while (frozen_ || (obeys_barrier && b.barrier != 0)) co_await Wait();
  --b.waiting;
  ++b.pending;
  // A raiser waits for this bucket's waiters to drain before it raises.
  if (b.waiting == 0) WakeAll();
}

void Barrier::Exit(uint64_t sector) {
  Bucket& b = buckets_[Index(sector)];
  assert(b.pending > 0);
  --b.pending;
  if (b.pending == 0 || frozen_) WakeAll();
}

io::Task<void> Barrier::Raise(uint64_t sector) {
  Bucket& b = buckets_[Index(sector)];
  // Waiting normal I/O goes first.
  while (b.waiting != 0) co_await Wait();
  ++b.barrier;
  ++stats_.raises;
  while (frozen_ || b.pending != 0) co_await Wait();
  ++sync_pending_;
}

void Barrier::Lower(uint64_t sector) {
  Bucket& b = buckets_[Index(sector)];
  assert(b.barrier > 0 && sync_pending_ > 0);
  --b.barrier;
  --sync_pending_;
  WakeAll();
}

bool Barrier::HasWaiters(uint64_t sector) const { return buckets_[Index(sector)].waiting != 0; }

io::Task<void> Barrier::Freeze() {
  assert(!frozen_ && "freezes do not nest");
  frozen_ = true;
  WakeAll();
  while (sync_pending_ != 0 || pending() != 0) co_await Wait();
}

void Barrier::Unfreeze() {
  frozen_ = false;
  WakeAll();
}

}  // namespace meshraid::raid
