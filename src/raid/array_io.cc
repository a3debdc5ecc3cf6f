// The array's data paths: splitting, reads with retry and repair, write fan-out, flush.
#include <algorithm>

#include <fmt/format.h>

#include "io/when_all.h"
#include "raid/array.h"

namespace meshraid::raid {

// Pieces never cross a 64 MiB barrier unit (each enters the barrier of its own bucket).
std::vector<Array::Piece> Array::Split(uint64_t sector, uint64_t sectors) const {
  std::vector<Piece> pieces;
  uint64_t done = 0;
  const uint64_t max_piece = info_.max_io_bytes / 512;
  while (done < sectors) {
    uint64_t v = sector + done;
    uint64_t n = std::min({sectors - done, PlacedRun(geometry_, reshape_, reshape_pos_, v),
                           max_piece, Barrier::ToUnitEnd(v)});
    pieces.push_back({v, n, size_t(done * 512)});
    done += n;
  }
  return pieces;
}

io::Task<Status> Array::Read(uint64_t offset, std::span<uint8_t> buf) {
  MESHRAID_CO_RETURN_IF_ERROR(io::CheckRange(info_, "read", offset, buf.size()));
  std::vector<Piece> pieces = Split(offset / 512, buf.size() / 512);
  Status s;
  if (pieces.size() == 1) {
    s = co_await ReadPiece(pieces[0], buf);
  } else {
    std::vector<io::Task<Status>> parts;
    for (const Piece& p : pieces) {
      parts.push_back(ReadPiece(p, buf.subspan(p.buf_offset, p.sectors * 512)));
    }
    s = co_await io::WhenAllOk(std::move(parts));
  }
  ++foreground_ios_;
  co_return s;
}

io::Task<Status> Array::ReadPiece(Piece p, std::span<uint8_t> buf) {
  co_await barrier_.EnterRead(p.sector);
  Status s = co_await ReadPieceLocked(p, buf);
  barrier_.Exit(p.sector);
  co_return s;
}

// Reads one piece from one copy; on error tries the other copies and, once one succeeds,
// rewrites the range on every copy that returned a range error (MD's fix_read_error).
// During a reshape the piece is mapped once, under the barrier entered by ReadPiece: the section
// holding it cannot move until the read exits, so an old-layout copy stays valid meanwhile.
io::Task<Status> Array::ReadPieceLocked(Piece p, std::span<uint8_t> buf) {
  const Placement place = Place(geometry_, reshape_, reshape_pos_, p.sector);
  const std::vector<layout::Copy>& copies = place.copies;
  std::vector<int> slots;
  for (const layout::Copy& c : copies) slots.push_back(c.disk);
  ReadRequest req{.sector = p.sector,
                  .sectors = p.sectors,
                  .read_first = resync_offset_ < p.sector + p.sectors,
                  .sequential_rule = geometry_.level() == 1};
  std::vector<bool> tried(copies.size(), false);
  struct BadCopy {
    size_t input;
    uint64_t sector;  // member sector of its copy
  };
  std::vector<BadCopy> bad;  // copies that returned a range error, to be rewritten
  Status last = Status::Unavailable(fmt::format("array sector {}: no readable copy", p.sector));
  for (;;) {
    // Copies already tried (or whose member failed meanwhile) are not candidates.
    std::vector<ReadState> view = read_state_;
    for (size_t i = 0; i < copies.size(); ++i) {
      if (tried[i]) view[size_t(slots[i])].readable = false;
    }
    req.now_ns = clock_.NowNs();
    int pick = balancer_.Choose(req, slots, view);
    if (pick < 0) break;
    tried[size_t(pick)] = true;
    int slot = slots[size_t(pick)];
    int input = SlotMember(slot);
    if (input < 0) continue;
    Member& m = members_[size_t(input)];
    ReadState& rs = read_state_[size_t(slot)];
    ReadBalancer::OnIssue(rs, p.sector, p.sectors, balancer_.last_choice_was_probe(), req.now_ns);
    ++rs.pending;
    ++m.stats.pending;
    Status s = co_await m.device->Read(
        MemberByteOffset(m, copies[size_t(pick)].sector, place.new_layout), buf);
    uint64_t done_ns = clock_.NowNs();
    --rs.pending;
    --m.stats.pending;
    rs.head_position = p.sector + p.sectors;
    // Only successful reads feed the latency average, so a fast failure never looks fast.
    balancer_.OnComplete(rs, done_ns - req.now_ns, s.ok(), done_ns);
    if (s.ok()) {
      ++m.stats.reads;
      m.stats.read_bytes += buf.size();
      m.stats.read_latency.Record(done_ns - req.now_ns);
      for (const BadCopy& b : bad) {
        Status r = co_await RepairRead(b.input, p, slot, copies[size_t(pick)].sector, b.sector,
                                       place.new_layout);
        if (!r.ok()) {
          Log(fmt::format("repair of {} failed: {}", members_[b.input].metadata.path, r.message()));
        }
      }
      co_return Status::Ok();
    }
    last = s;
    ++m.stats.read_errors;
    std::string why = fmt::format("read error at array sector {}: {}", p.sector, s.message());
    if (s.scope() == Scope::kDevice || m.stats.read_errors > options_.max_read_errors) {
      Status f = co_await FailMember(size_t(input), why);
      if (!f.ok()) Log(f.message());
    } else {
      bad.push_back({size_t(input), copies[size_t(pick)].sector});
    }
  }
  co_return last.WithPrefix(fmt::format("read of {} sectors at array sector {}", p.sectors, p.sector));
}

// Rewrites the piece on member `bad` with the data of the copy on `good_slot`. Done under the
// range lock, re-reading the good copy there, so that a concurrent write cannot be overwritten
// with older data.
io::Task<Status> Array::RepairRead(size_t bad, const Piece& p, int good_slot,
                                   uint64_t good_sector, uint64_t bad_sector, bool new_layout) {
  RangeLock::Guard guard = co_await range_lock_.Lock(p.sector, p.sectors);
  int good = SlotMember(good_slot);
  Member& b = members_[bad];
  if (good < 0 || b.state != MemberState::kInSync) co_return Status::Ok();
  std::vector<uint8_t> data(p.sectors * 512);
  Member& g = members_[size_t(good)];
  MESHRAID_CO_RETURN_IF_ERROR(
      co_await g.device->Read(MemberByteOffset(g, good_sector, new_layout), data));
  Status w = co_await b.device->Write(MemberByteOffset(b, bad_sector, new_layout), data);
  if (!w.ok()) {
    co_return co_await FailMember(bad, "rewrite after a read error failed: " + w.message());
  }
  b.stats.corrected_errors += p.sectors;
  Log(fmt::format("read error corrected ({} sectors at {} on {})", p.sectors, bad_sector,
                  b.metadata.path));
  co_return Status::Ok();
}

io::Task<Status> Array::Write(uint64_t offset, std::span<const uint8_t> buf,
                              io::WriteFlags flags) {
  MESHRAID_CO_RETURN_IF_ERROR(io::CheckRange(info_, "write", offset, buf.size()));
  // Named, not built inside the co_await operand (a GCC 12 bug, see io/task.h).
  MemberOp op = [buf, flags](io::BlockDevice& d, uint64_t at, const Piece& p) {
    return d.Write(at, buf.subspan(p.buf_offset, p.sectors * 512), flags);
  };
  co_return co_await FanOutWrite(offset, buf.size(), std::move(op));
}

io::Task<Status> Array::WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) {
  MESHRAID_CO_RETURN_IF_ERROR(io::CheckRange(info_, "write zeroes", offset, length));
  MemberOp op = [flags](io::BlockDevice& d, uint64_t at, const Piece& p) {
    return d.WriteZeroes(at, p.sectors * 512, flags);
  };
  co_return co_await FanOutWrite(offset, length, std::move(op));
}

// A discard on the array is a zeroing discard: every in-sync copy is zeroed with leave to
// release the space (a punched hole, an unmap), so the copies never differ afterwards and a
// check finds no mismatch where MD's plain discards could leave some.
io::Task<Status> Array::Discard(uint64_t offset, uint64_t length) {
  MESHRAID_CO_RETURN_IF_ERROR(io::CheckRange(info_, "discard", offset, length));
  MemberOp op = [](io::BlockDevice& d, uint64_t at, const Piece& p) {
    return d.WriteZeroes(at, p.sectors * 512, io::ZeroFlags::kDeallocate);
  };
  co_return co_await FanOutWrite(offset, length, std::move(op));
}

// The common write path: active superblocks first, the range lock, then every piece to every
// in-sync copy.
io::Task<Status> Array::FanOutWrite(uint64_t offset, uint64_t length, MemberOp op) {
  if (broken_) co_return Status::IoError("array is broken: writes are refused");
  ++pending_writes_;
  Status s = co_await EnsureActive();
  if (s.ok()) {
    RangeLock::Guard guard = co_await range_lock_.Lock(offset / 512, length / 512);
    std::vector<Piece> pieces = Split(offset / 512, length / 512);
    std::vector<io::Task<Status>> parts;
    for (const Piece& p : pieces) parts.push_back(WritePiece(p, op));
    s = co_await io::WhenAllOk(std::move(parts));
  }
  if (--pending_writes_ == 0) WritesIdle();
  ++foreground_ios_;
  co_return s;
}

// One piece: the barrier of its bucket, the bitmap bits on disk, then every copy.
io::Task<Status> Array::WritePiece(const Piece& p, const MemberOp& op) {
  co_await barrier_.EnterWrite(p.sector);
  if (bitmap_) {
    Status bs = co_await bitmap_->StartWrite(p.sector, p.sectors);
    if (!bs.ok()) {
      bitmap_->EndWrite(p.sector, p.sectors);
      barrier_.Exit(p.sector);
      co_return bs.WithPrefix("write-intent bitmap");
    }
    StartBitmapDaemon();
  }
  std::vector<io::Task<Status>> writes;
  std::vector<size_t> targets;
  const Placement place = Place(geometry_, reshape_, reshape_pos_, p.sector);
  for (const layout::Copy& c : place.copies) {
    for (size_t input : slot_writers_[size_t(c.disk)]) {
      targets.push_back(input);
      writes.push_back(MemberWrite(
          input, MemberByteOffset(members_[input], c.sector, place.new_layout), p, op));
    }
  }
  // Moved, but not yet covered by the reshape checkpoint: a restart would read the old
  // layout, so the old copies get the write too (they stay untouched until the checkpoint).
  const bool dual = reshape_ && place.new_layout && p.sector + p.sectors > reshape_->position;
  const size_t gen = dual_gen_ & 1;
  if (dual) {
    ++dual_in_flight_[gen];
    for (const layout::Copy& c : reshape_->geometry.old_geo.Map(p.sector)) {
      for (size_t input : slot_writers_[size_t(c.disk)]) {
        targets.push_back(input);
        writes.push_back(
            MemberWrite(input, MemberByteOffset(members_[input], c.sector, false), p, op));
      }
    }
  }
  std::vector<Status> results = co_await io::WhenAll(std::move(writes));
  if (dual && --dual_in_flight_[gen] == 0) dual_idle_.Set();
  // A member that failed the write is failed before the write is acknowledged (and before
  // the chunk's bit may be cleared); the write fails only if that member held the last copy.
  Status out;
  if (targets.empty()) out = Status::IoError(fmt::format("array sector {}: no copy left", p.sector));
  for (size_t k = 0; k < results.size(); ++k) {
    if (results[k].ok()) continue;
    out.Update(co_await FailMember(targets[k], "write error: " + results[k].message()));
  }
  if (bitmap_) bitmap_->EndWrite(p.sector, p.sectors);
  barrier_.Exit(p.sector);
  co_return out;
}

io::Task<Status> Array::MemberWrite(size_t input, uint64_t byte_offset, const Piece& p,
                                    const MemberOp& op) {
  Member& m = members_[input];
  // A recovering member is not a read candidate: its queue does not count for the balancer.
  ReadState* rs = m.state == MemberState::kInSync ? &read_state_[size_t(m.slot)] : nullptr;
  if (rs) ++rs->pending;
  ++m.stats.pending;
  Status s = co_await op(*m.device, byte_offset, p);
  if (rs) {
    --rs->pending;
    rs->head_position = p.sector + p.sectors;
  }
  --m.stats.pending;
  if (s.ok()) {
    ++m.stats.writes;
    m.stats.write_bytes += p.sectors * 512;
  }
  co_return s;
}

io::Task<Status> Array::Flush() {
  std::vector<io::Task<Status>> flushes;
  std::vector<size_t> targets;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (!HasSuperblock(members_[i])) continue;
    targets.push_back(i);
    flushes.push_back(members_[i].device->Flush());
  }
  std::vector<Status> results = co_await io::WhenAll(std::move(flushes));
  Status out;
  for (size_t k = 0; k < results.size(); ++k) {
    if (results[k].ok()) continue;
    out.Update(co_await FailMember(targets[k], "flush failed: " + results[k].message()));
  }
  co_return out;
}

}  // namespace meshraid::raid
