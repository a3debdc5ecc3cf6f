// Reshape of the running array (array_reshape.cc): RAID10 near grows onto more members while
// it serves I/O; power loss at random points; the result laid out exactly as Linux MD lays out
// the golden r10-n2-4 array.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "array_fixture_test.h"
#include "testing/started.h"

namespace meshraid::raid {
namespace {

// A RAID10 near=2 over two members (the layout a RAID1 takeover leaves), 64K chunks.
void BuildMirror(Fixture& f, uint64_t member_mib, uint64_t chunk = 128, bool bitmap = false,
                 ArrayOptions o = {}) {
  FormatOptions fo;
  fo.level = 10;
  fo.n = 2;
  fo.layout = "n2";
  fo.chunk = chunk;
  fo.member_mib = member_mib;
  fo.bitmap = bitmap;
  f.Build(fo, std::move(o));
}

// Adds `n` fresh members as spares.
void AddSpares(Fixture& f, int n) {
  for (int i = 0; i < n; ++i) {
    std::string path;
    auto dev = f.NewMember(&path);
    auto added = f.loop.RunUntilComplete(f.array->AddMember(std::move(dev), path));
    ASSERT_TRUE(added.ok()) << added.status().message();
    ASSERT_EQ(f.array->member_state(*added), MemberState::kSpare);
  }
}

// Sector s of write w: the write id and the sector in the first 16 bytes, then a pattern.
void FillSector(uint32_t w, uint64_t s, uint8_t* out) {
  uint64_t head = (uint64_t{w} << 32) | (s & 0xFFFFFFFF);
  std::memcpy(out, &head, 8);
  std::memcpy(out + 8, &s, 8);
  for (int i = 16; i < 512; ++i) out[i] = uint8_t(w * 31 + s * 7 + uint64_t(i));
}
std::vector<uint8_t> Sectors(uint32_t w, uint64_t first, uint64_t count) {
  std::vector<uint8_t> v(count * 512);
  for (uint64_t k = 0; k < count; ++k) FillSector(w, first + k, v.data() + k * 512);
  return v;
}

uint32_t WriteIdAt(const std::vector<uint8_t>& data, uint64_t sector_in_buf) {
  uint64_t head;
  std::memcpy(&head, data.data() + sector_in_buf * 512, 8);
  return uint32_t(head >> 32);
}

TEST(ArrayReshape, TwoToFourMovesTheDataAndDoublesTheSize) {
  Fixture f;
  BuildMirror(f, 16);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const uint64_t old_sectors = f.array->geometry().ArraySectors();
  ASSERT_TRUE(f.Write(0, Sectors(1, 0, old_sectors)).ok());
  AddSpares(f, 2);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Reshape(4)).ok());
  EXPECT_TRUE(f.array->reshaping());
  // The start is on every member: RESHAPE_ACTIVE at position 0, the new layout, the move.
  for (int i = 0; i < 4; ++i) {
    format::Superblock sb = f.Sb(i);
    EXPECT_TRUE(sb.Has(format::kFeatureReshapeActive)) << i;
    EXPECT_TRUE(sb.Has(format::kFeatureNewOffset)) << i;
    EXPECT_EQ(sb.raid_disks, 4u);
    EXPECT_EQ(sb.delta_disks, 2);
    EXPECT_EQ(sb.new_layout, 0x102u);
    EXPECT_EQ(sb.new_chunk, 128u);
    EXPECT_EQ(sb.new_offset, -128);
    EXPECT_EQ(sb.layout, 0x102u);
    EXPECT_EQ(sb.ThisRole(), uint16_t(i));
  }
  f.WaitSyncIdle();
  EXPECT_FALSE(f.array->reshaping());
  EXPECT_EQ(f.array->geometry().raid_disks(), 4);
  EXPECT_EQ(f.array->info().size_bytes, 2 * old_sectors * 512);
  EXPECT_EQ(f.array->resync_offset(), format::kMaxSector);  // the new space was resynced
  auto back = f.Read(0, old_sectors * 512);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(*back == Sectors(1, 0, old_sectors));
  for (int i = 0; i < 4; ++i) {
    format::Superblock sb = f.Sb(i);
    EXPECT_FALSE(sb.Has(format::kFeatureReshapeActive)) << i;
    EXPECT_FALSE(sb.Has(format::kFeatureNewOffset)) << i;
    EXPECT_EQ(sb.data_offset, f.data_offset / 512 - 128);
    EXPECT_EQ(sb.level, 10);
    EXPECT_EQ(sb.raid_disks, 4u);
  }
  // The grown array works and survives a restart.
  ASSERT_TRUE(f.Write(old_sectors * 512, Sectors(2, old_sectors, old_sectors)).ok());
  f.Reassemble();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  EXPECT_FALSE(f.plan.reshape.has_value());
  back = f.Read(0, 2 * old_sectors * 512);
  ASSERT_TRUE(back.ok()) << back.status().message();
  std::vector<uint8_t> want = Sectors(1, 0, old_sectors);
  std::vector<uint8_t> tail = Sectors(2, old_sectors, old_sectors);
  want.insert(want.end(), tail.begin(), tail.end());
  EXPECT_TRUE(*back == want);
  ASSERT_TRUE(f.array->RequestSync(SyncAction::kCheck).ok());
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->sync_progress().mismatch_sectors, 0u);
}

TEST(ArrayReshape, Refusals) {
  Fixture f;
  BuildMirror(f, 16);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  auto reshape = [&f](int n) { return f.loop.RunUntilComplete(f.array->Reshape(n)).message(); };
  EXPECT_EQ(reshape(4), "reshape to 4 members refused: 2 more members are needed and the array "
                        "has 0 spare(s) (add them first: manage --add)");
  EXPECT_EQ(reshape(2), "reshape to 2 members: the array has 2 members; only growing is supported");
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(1, "test")).ok());
  EXPECT_EQ(reshape(3), "reshape to 3 members refused: the array is degraded (1 slots missing)");
  // A spare added now is rebuilt into the slot at once.
  f.array->set_sync_speed(1000, 1000);
  std::string path;
  auto added = f.loop.RunUntilComplete(f.array->AddMember(f.NewMember(&path), path));
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(reshape(3), "reshape to 3 members refused: recover is running");
  EXPECT_FALSE(f.array->reshaping());
}

TEST(ArrayReshape, Raid1MustBeTakenOverFirst) {
  Fixture f;
  f.Build(1, 2, "n2", 128, 16);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  AddSpares(f, 2);
  EXPECT_EQ(f.loop.RunUntilComplete(f.array->Reshape(4)).message(),
            "reshape to 4 members: only RAID10 near layouts can grow (this array is raid1); take "
            "a RAID1 over to RAID10 first (grow --level=10)");
}

// Foreground reads and writes all through the move (slowed by the speed limit so that they
// interleave), then every sector holds its last write, in both layouts and after a restart.
TEST(ArrayReshape, ReadsAndWritesDuringTheMove) {
  Fixture f;
  ArrayOptions o;
  o.sync.speed_max_kib = 4096;  // 16 MiB take seconds of virtual time
  o.sync.window_sectors = 256;
  BuildMirror(f, 16, 128, /*bitmap=*/true, o);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const uint64_t sectors = f.array->geometry().ArraySectors();
  ASSERT_TRUE(f.Write(0, Sectors(1, 0, sectors)).ok());
  std::vector<uint32_t> model(sectors, 1);
  AddSpares(f, 2);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Reshape(4)).ok());
  std::mt19937_64 rng(7);
  uint32_t id = 1, during = 0, reads = 0;
  while (f.array->reshaping()) {
    const uint64_t n = 1 + rng() % 64, s = rng() % (sectors - n);
    if (rng() % 3 == 0) {
      auto got = f.Read(s * 512, n * 512);
      ASSERT_TRUE(got.ok()) << got.status().message();
      for (uint64_t k = 0; k < n; ++k) {
        ASSERT_EQ(WriteIdAt(*got, k), model[s + k]) << "sector " << s + k;
      }
      ++reads;
    } else {
      ++id;
      ASSERT_TRUE(f.Write(s * 512, Sectors(id, s, n)).ok());
      for (uint64_t k = 0; k < n; ++k) model[s + k] = id;
      during += f.array->reshaping();
    }
    f.loop.AdvanceBy(20'000'000);
  }
  EXPECT_GT(during, 50u);
  EXPECT_GT(reads, 20u);
  f.WaitSyncIdle();
  f.Reassemble();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  auto back = f.Read(0, sectors * 512);
  ASSERT_TRUE(back.ok());
  for (uint64_t s = 0; s < sectors; ++s) {
    ASSERT_EQ(WriteIdAt(*back, s), model[s]) << "sector " << s;
  }
  EXPECT_EQ(f.array->info().size_bytes, 2 * sectors * 512);
  EXPECT_EQ(f.array->write_intent()->super().sync_size, 2 * sectors);
  ASSERT_TRUE(f.array->RequestSync(SyncAction::kCheck).ok());
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->sync_progress().mismatch_sectors, 0u);
}

// A clean stop in the middle of the move records the position; the next start goes on from it.
TEST(ArrayReshape, StopMidMoveResumesWhereItStopped) {
  Fixture f;
  ArrayOptions o;
  o.sync.speed_max_kib = 4096;
  o.sync.window_sectors = 256;
  BuildMirror(f, 16, 128, true, o);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const uint64_t sectors = f.array->geometry().ArraySectors();
  ASSERT_TRUE(f.Write(0, Sectors(1, 0, sectors)).ok());
  AddSpares(f, 2);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Reshape(4)).ok());
  ASSERT_TRUE(f.loop.RunUntil([&] { return f.array->reshape_position() >= sectors / 2; }));
  f.Reassemble();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  ASSERT_TRUE(f.plan.reshape.has_value());
  EXPECT_GE(f.plan.reshape->position, sectors / 2);
  EXPECT_LT(f.plan.reshape->position, sectors);
  EXPECT_EQ(f.plan.geometry.raid_disks(), 4);
  EXPECT_EQ(f.array->info().size_bytes, sectors * 512);  // the old size until the move is done
  f.WaitSyncIdle();
  EXPECT_FALSE(f.array->reshaping());
  EXPECT_EQ(f.array->info().size_bytes, 2 * sectors * 512);
  auto back = f.Read(0, sectors * 512);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == Sectors(1, 0, sectors));
  const std::string resumed = "reshape running from sector " + std::to_string(f.plan.reshape->position);
  EXPECT_NE(std::find_if(f.log.begin(), f.log.end(),
                         [&](const std::string& l) { return l.starts_with(resumed); }),
            f.log.end());
}

// A member failing during the move: the array stays up on both layouts' remaining copies, the
// reshape completes degraded, a rebuild waits for its end and then restores the slot.
TEST(ArrayReshape, AMemberFailsDuringTheMove) {
  Fixture f;
  ArrayOptions o;
  o.sync.speed_max_kib = 4096;
  o.sync.window_sectors = 256;
  BuildMirror(f, 16, 128, false, o);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const uint64_t sectors = f.array->geometry().ArraySectors();
  ASSERT_TRUE(f.Write(0, Sectors(1, 0, sectors)).ok());
  AddSpares(f, 2);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Reshape(4)).ok());
  ASSERT_TRUE(f.loop.RunUntil([&] { return f.array->reshape_position() >= sectors / 3; }));
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(1, "test")).ok());
  EXPECT_EQ(f.array->member_state(1), MemberState::kFaulty);
  std::string path;
  auto early = f.loop.RunUntilComplete(f.array->AddMember(f.NewMember(&path), path));
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.status().message().find("a reshape is in progress"), std::string::npos)
      << early.status().message();
  f.mems.pop_back();  // the refused device never joined
  f.names.pop_back();
  f.WaitSyncIdle();
  EXPECT_FALSE(f.array->reshaping());
  EXPECT_EQ(f.array->degraded(), 1);
  auto back = f.Read(0, sectors * 512);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(*back == Sectors(1, 0, sectors));
  auto added = f.loop.RunUntilComplete(f.array->AddMember(f.NewMember(&path), path));
  ASSERT_TRUE(added.ok()) << added.status().message();
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->degraded(), 0);
  f.Reassemble();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  back = f.Read(0, sectors * 512);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == Sectors(1, 0, sectors));
  ASSERT_TRUE(f.array->RequestSync(SyncAction::kCheck).ok());
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->sync_progress().mismatch_sectors, 0u);
}

// Power loss at random points of a reshape under FUA writes: after reassembly the reshape
// resumes from its checkpoint, every acknowledged write is there (an unacknowledged one may
// or may not be), and the copies agree.
TEST(ArrayReshape, PowerLossAtRandomPointsResumesAndLosesNothing) {
  int resumed_mid = 0;
  const int runs = 40;
  for (int seed = 1; seed <= runs; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937_64 rng(uint64_t(seed) * 977);
    Fixture f;
    f.crash_mode = true;
    ArrayOptions o;
    o.sync.window_sectors = 16 << (rng() % 4);
    o.sync.speed_max_kib = 0;
    o.sync.checkpoint_ns = 1'000'000'000;
    const int new_disks = 3 + int(rng() % 3);
    BuildMirror(f, 4, 16 << (rng() % 3), seed % 2 == 0, o);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    const uint64_t sectors = f.array->geometry().ArraySectors();
    ASSERT_TRUE(f.Write(0, Sectors(1, 0, sectors), io::WriteFlags::kFua).ok());
    std::vector<uint32_t> acked(sectors, 1);
    std::vector<std::vector<uint32_t>> maybe(sectors);  // writes in flight at the crash
    AddSpares(f, new_disks - 2);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    auto reshape = testing::Start(f.array->Reshape(new_disks));
    struct W {
      W(uint32_t id, uint64_t s, uint64_t n) : id(id), s(s), n(n), data(Sectors(id, s, n)) {}
      uint32_t id;
      uint64_t s, n;
      std::vector<uint8_t> data;
      std::optional<testing::Started<Status>> task;
    };
    std::vector<std::unique_ptr<W>> writes;
    uint32_t id = 1;
    const uint64_t steps = rng() % 3000;
    for (uint64_t step = 0; step < steps; ++step) {
      if (rng() % 8 == 0) {
        const uint64_t n = 1 + rng() % 32;
        auto w = std::make_unique<W>(++id, rng() % (sectors - n), n);
        w->task.emplace(testing::Start(f.array->Write(w->s * 512, w->data, io::WriteFlags::kFua)));
        writes.push_back(std::move(w));
      }
      if (f.Step() == 0) f.loop.AdvanceBy(1'000'000);
      // Completed writes are acknowledged; in order of completion per sector.
      for (auto& w : writes) {
        if (!w || !w->task->done()) continue;
        ASSERT_TRUE(w->task->value().ok()) << w->task->value().message();
        for (uint64_t k = 0; k < w->n; ++k) {
          // Overlapping writes in flight together may land in either order.
          acked[w->s + k] = w->id;
          std::erase(maybe[w->s + k], w->id);
        }
        w.reset();
      }
      for (auto& w : writes) {
        if (!w) continue;
        for (uint64_t k = 0; k < w->n; ++k) {
          if (std::find(maybe[w->s + k].begin(), maybe[w->s + k].end(), w->id) ==
              maybe[w->s + k].end()) {
            maybe[w->s + k].push_back(w->id);
          }
        }
      }
    }
    const bool was_moving = f.array->reshaping() && f.array->reshape_position() > 0;
    std::vector<testing::Started<Status>> crashes;
    for (size_t i = 0; i < f.crashes.size(); ++i) {
      crashes.push_back(testing::Start(f.crashes[i]->Crash({.seed = uint64_t(seed) * 10 + i})));
    }
    ASSERT_TRUE(f.loop.RunUntil([&] {
      for (auto& c : crashes) {
        if (!c.done()) return false;
      }
      for (auto& w : writes) {
        if (w && !w->task->done()) return false;
      }
      return reshape.done();
    })) << "an operation hangs after the power loss";

    f.crash_mode = false;
    f.Reassemble(o);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    if (f.plan.reshape && f.plan.reshape->position > 0) ++resumed_mid;
    if (!was_moving && !f.plan.reshape && f.array->geometry().raid_disks() == 2) {
      // The start never reached the superblocks: start it again.
      ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Reshape(new_disks)).ok());
    }
    f.WaitSyncIdle();
    ASSERT_FALSE(f.array->reshaping());
    ASSERT_EQ(f.array->geometry().raid_disks(), new_disks);
    EXPECT_EQ(f.array->resync_offset(), format::kMaxSector);
    auto back = f.Read(0, sectors * 512);
    ASSERT_TRUE(back.ok()) << back.status().message();
    int reported = 0;
    for (uint64_t s = 0; s < sectors && reported < 5; ++s) {
      const uint32_t got = WriteIdAt(*back, s);
      std::vector<uint8_t> expect(512);
      FillSector(got, s, expect.data());
      const bool allowed = got == acked[s] || std::find(maybe[s].begin(), maybe[s].end(), got) !=
                                                  maybe[s].end();
      if (!allowed || std::memcmp(expect.data(), back->data() + s * 512, 512) != 0) {
        ADD_FAILURE() << "array sector " << s << " holds write " << got << ", acknowledged "
                      << acked[s] << " (" << maybe[s].size() << " in flight)";
        ++reported;
      }
    }
    ASSERT_TRUE(f.array->RequestSync(SyncAction::kCheck).ok());
    f.WaitSyncIdle();
    EXPECT_EQ(f.array->sync_progress().mismatch_sectors, 0u);
  }
  // The point of the test: most crashes hit a reshape that had moved data.
  EXPECT_GE(resumed_mid, runs / 4);
}

// --- The golden r10-n2-4 array -----------------------------------------------------------------

namespace fs = std::filesystem;

std::vector<uint8_t> Unxz(const fs::path& file) {
  std::vector<uint8_t> out;
  std::string cmd = "xz -dc '" + file.string() + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.insert(out.end(), buf, buf + n);
  pclose(p);
  return out;
}

// A 2-member RAID10 near=2 holding the first half of the golden array's contents grows to 4
// members; the second half is written after the grow. Every member's data area must then equal
// the golden member of the same role byte for byte: the reshape ends in MD's own geometry.
TEST(ArrayReshape, EndsInTheGeometryLinuxMdWrote) {
  const fs::path dir = fs::path(MESHRAID_GOLDEN_DIR) / "r10-n2-4";
  ASSERT_TRUE(fs::exists(dir / "manifest.json")) << "golden case missing: " << dir;
  nlohmann::json m = nlohmann::json::parse(std::ifstream(dir / "manifest.json"));
  ASSERT_EQ(m["array"]["chunk_sectors"].get<uint64_t>(), 128u);
  const uint64_t array_sectors = m["array"]["array_size_sectors"].get<uint64_t>();
  std::map<int, std::vector<uint8_t>> golden;  // by role
  std::map<int, uint64_t> golden_offset;       // data offset, sectors, by role
  for (const auto& mm : m["members"]) {
    const int role = std::stoi(mm["device_role"].get<std::string>().substr(
        mm["device_role"].get<std::string>().find_last_of(' ') + 1));
    golden[role] = Unxz(dir / mm["file"].get<std::string>());
    ASSERT_EQ(golden[role].size(), 64u * kMiB) << mm["file"];
    golden_offset[role] = mm["data_offset_sectors"].get<uint64_t>();
  }
  ASSERT_EQ(golden.size(), 4u);
  // The golden array's contents, read through the golden geometry (slot order, first copy).
  auto geo = layout::Geometry::Raid10(4, *layout::Raid10Layout::Parse("n2"), 128, 129024);
  ASSERT_TRUE(geo.ok());
  ASSERT_EQ(geo->ArraySectors(), array_sectors);
  std::vector<uint8_t> contents(array_sectors * 512);
  for (uint64_t v = 0; v < array_sectors; v += 128) {
    const layout::Copy c = geo->Map(v)[0];
    const uint8_t* src = golden[c.disk].data() + (golden_offset[c.disk] + c.sector) * 512;
    std::memcpy(contents.data() + v * 512, src, 128 * 512);
  }

  Fixture f;
  ArrayOptions o;
  o.sync.speed_max_kib = 0;
  BuildMirror(f, 64, 128, false, o);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const uint64_t half = f.array->geometry().ArraySectors();
  ASSERT_EQ(half * 2, array_sectors);
  ASSERT_TRUE(f.Write(0, std::vector<uint8_t>(contents.begin(), contents.begin() + long(half * 512))).ok());
  AddSpares(f, 2);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Reshape(4)).ok());
  f.WaitSyncIdle();
  ASSERT_EQ(f.array->info().size_bytes, array_sectors * 512);
  ASSERT_TRUE(f.Write(half * 512, std::vector<uint8_t>(contents.begin() + long(half * 512), contents.end())).ok());
  for (size_t i = 0; i < f.array->member_count(); ++i) {
    const int slot = f.array->member_slot(i);
    ASSERT_GE(slot, 0);
    const uint64_t ours_offset = f.array->member_metadata(i).sb.data_offset;
    std::vector<uint8_t> ours = f.mems[i]->Peek(ours_offset * 512, geo->DeviceSectorsUsed() * 512);
    const uint8_t* theirs = golden[slot].data() + golden_offset[slot] * 512;
    uint64_t first_diff = ~uint64_t{0};
    for (uint64_t s = 0; s < geo->DeviceSectorsUsed() && first_diff == ~uint64_t{0}; ++s) {
      if (std::memcmp(ours.data() + s * 512, theirs + s * 512, 512) != 0) first_diff = s;
    }
    EXPECT_EQ(first_diff, ~uint64_t{0}) << "slot " << slot << " differs from the golden member at "
                                         << "member sector " << first_diff;
  }
}

}  // namespace
}  // namespace meshraid::raid
