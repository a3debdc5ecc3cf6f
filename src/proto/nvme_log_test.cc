// Log pages: byte offsets, round trips, and a Discovery log read in pieces the way a host reads
// it (the 1024-byte header first, then the whole log, and odd offsets and lengths).
#include "proto/nvme_log.h"

#include <gtest/gtest.h>

#include "proto/nvme_command.h"
#include "proto/nvme_test_bytes.h"

namespace meshraid::proto::nvme {
namespace {

using testing::LeAt;
using V = std::vector<uint8_t>;

std::string Str(std::span<const uint8_t> b, size_t at, size_t n) {
  return std::string(reinterpret_cast<const char*>(b.data() + at), n);
}

DiscoveryLog SampleDiscovery() {
  DiscoveryLog log;
  log.genctr = 7;
  DiscoveryEntry e;
  e.trtype = kTrtypeTcp;
  e.adrfam = kAdrfamIpv4;
  e.subtype = kSubtypeNvm;
  e.treq = kTreqNotRequired;
  e.portid = 1;
  e.cntlid = 0xFFFF;
  e.asqsz = 32;
  e.trsvcid = "4420";
  e.subnqn = "nqn.2026-12.io.meshraid:vol0";
  e.traddr = "127.0.0.1";
  log.entries.push_back(e);
  e.subtype = kSubtypeCurrentDiscovery;
  e.adrfam = kAdrfamIpv6;
  e.traddr = "::1";
  e.trsvcid = "8009";
  e.subnqn = kDiscoveryNqn;
  e.eflags = kEflagsDuplicateReturned | kEflagsExplicitPersistent;
  log.entries.push_back(e);
  return log;
}

TEST(NvmeLogTest, DiscoveryOffsets) {
  auto bytes = BuildDiscoveryLog(SampleDiscovery());
  ASSERT_TRUE(bytes.ok());
  const V& b = *bytes;
  ASSERT_EQ(b.size(), 3u * 1024);
  EXPECT_EQ(LeAt(b, 0, 8), 7u);  // GENCTR
  EXPECT_EQ(LeAt(b, 8, 8), 2u);  // NUMREC
  EXPECT_EQ(LeAt(b, 16, 2), 0u); // RECFMT
  const size_t e = 1024;
  EXPECT_EQ(b[e + 0], 3);  // TRTYPE TCP
  EXPECT_EQ(b[e + 1], 1);  // ADRFAM IPv4
  EXPECT_EQ(b[e + 2], 2);  // SUBTYPE NVM subsystem
  EXPECT_EQ(b[e + 3], 2);  // TREQ not required
  EXPECT_EQ(LeAt(b, e + 4, 2), 1u);
  EXPECT_EQ(LeAt(b, e + 6, 2), 0xFFFFu);
  EXPECT_EQ(LeAt(b, e + 8, 2), 32u);
  EXPECT_EQ(LeAt(b, e + 10, 2), 0u);
  EXPECT_EQ(Str(b, e + 32, 5), std::string("4420\0", 5));
  EXPECT_EQ(Str(b, e + 256, 29), std::string("nqn.2026-12.io.meshraid:vol0\0", 29));
  EXPECT_EQ(Str(b, e + 512, 10), std::string("127.0.0.1\0", 10));
  EXPECT_EQ(b[e + 768], 0);  // TSAS SECTYPE none
  EXPECT_EQ(b[2048 + 2], 3);  // current discovery subsystem
  EXPECT_EQ(LeAt(b, 2048 + 10, 2), 3u);
  auto back = ParseDiscoveryLog(b);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, SampleDiscovery());
}

TEST(NvmeLogTest, DiscoveryReadInPieces) {
  auto page = BuildDiscoveryLog(SampleDiscovery());
  ASSERT_TRUE(page.ok());
  // 1. The host asks for 1024 bytes at offset 0 (NUMD 255, LPO 0) and learns NUMREC.
  auto cmd = MakeGetLogPage(1, {kLogDiscovery, 0, false, 0, 0, 0, 0, 1024}, {});
  ASSERT_TRUE(cmd.ok());
  const GetLogPageCommand g = DecodeGetLogPage(*cmd);
  V header(g.length);
  ASSERT_TRUE(CopyLogPage(*page, g.offset, header).ok());
  auto h = ParseDiscoveryHeader(header);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->numrec, 2u);
  EXPECT_EQ(h->log_size(), 3072u);
  // 2. Then the whole log.
  V all(h->log_size());
  ASSERT_TRUE(CopyLogPage(*page, 0, all).ok());
  EXPECT_EQ(all, *page);
  // 3. Or the entries alone, from offset 1024, in two reads of 1024.
  V pieces;
  for (uint64_t off = 1024; off < 3072; off += 1024) {
    V part(1024);
    ASSERT_TRUE(CopyLogPage(*page, off, part).ok());
    pieces.insert(pieces.end(), part.begin(), part.end());
  }
  EXPECT_EQ(pieces, V(page->begin() + 1024, page->end()));
  // Past the end is zero filled; an offset beyond the page or not dword aligned is refused.
  V tail(100, 0xEE);
  ASSERT_TRUE(CopyLogPage(*page, 3040, tail).ok());
  EXPECT_EQ(V(tail.begin(), tail.begin() + 32), V(page->begin() + 3040, page->end()));
  EXPECT_EQ(V(tail.begin() + 32, tail.end()), V(68, 0));
  V at_end(8, 0xEE);
  ASSERT_TRUE(CopyLogPage(*page, 3072, at_end).ok());
  EXPECT_EQ(at_end, V(8, 0));
  EXPECT_FALSE(CopyLogPage(*page, 3076, at_end).ok());
  EXPECT_FALSE(CopyLogPage(*page, 2, at_end).ok());
  // A log shorter than its header announces is refused.
  EXPECT_FALSE(ParseDiscoveryLog(header).ok());
  EXPECT_FALSE(ParseDiscoveryHeader(V(1023)).ok());
}

TEST(NvmeLogTest, DiscoveryRefusesLongStrings) {
  DiscoveryLog log = SampleDiscovery();
  log.entries[0].trsvcid = std::string(33, '1');
  EXPECT_FALSE(BuildDiscoveryLog(log).ok());
  log = SampleDiscovery();
  log.entries[0].subnqn = std::string(224, 'n');
  EXPECT_FALSE(BuildDiscoveryLog(log).ok());
  DiscoveryLog empty;
  auto b = BuildDiscoveryLog(empty);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 1024u);
}

TEST(NvmeLogTest, DiscoveryStringsPaddedWithSpacesAreTrimmed) {
  auto bytes = BuildDiscoveryLog(SampleDiscovery());
  ASSERT_TRUE(bytes.ok());
  V b = *bytes;
  // Some targets space-pad TRSVCID/TRADDR.
  std::fill(b.begin() + 1024 + 32 + 4, b.begin() + 1024 + 64, uint8_t{' '});
  auto back = ParseDiscoveryLog(b);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->entries[0].trsvcid, "4420");
}

TEST(NvmeLogTest, SmartOffsets) {
  SmartLog s;
  s.critical_warning = 0x02;
  s.temperature_kelvin = 273 + 35;
  s.available_spare = 100;
  s.available_spare_threshold = 10;
  s.percentage_used = 0;
  s.data_units_read = DataUnits(512000);        // exactly 1 unit
  s.data_units_written = DataUnits(512001);     // rounded up: 2
  s.host_read_commands = 0x0102030405060708;
  s.host_write_commands = 4;
  s.power_on_hours = 9;
  s.error_log_entries = 11;
  const auto b = BuildSmartLog(s);
  EXPECT_EQ(b[0], 0x02);
  EXPECT_EQ(LeAt(b, 1, 2), 308u);
  EXPECT_EQ(b[3], 100);
  EXPECT_EQ(b[4], 10);
  EXPECT_EQ(b[5], 0);
  EXPECT_EQ(LeAt(b, 32, 8), 1u);
  EXPECT_EQ(LeAt(b, 40, 8), 0u);  // high half of the 128-bit counter
  EXPECT_EQ(LeAt(b, 48, 8), 2u);
  EXPECT_EQ(LeAt(b, 64, 8), 0x0102030405060708u);
  EXPECT_EQ(LeAt(b, 80, 8), 4u);
  EXPECT_EQ(LeAt(b, 128, 8), 9u);
  EXPECT_EQ(LeAt(b, 176, 8), 11u);
  auto back = ParseSmartLog(b);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, s);
  auto big = b;
  big[40] = 1;  // a counter beyond 64 bits saturates
  EXPECT_EQ(ParseSmartLog(big)->data_units_read, ~0ull);
  EXPECT_FALSE(ParseSmartLog(V(511)).ok());
  EXPECT_EQ(DataUnits(0), 0u);
  EXPECT_EQ(DataUnits(1), 1u);
  EXPECT_EQ(DataUnits(1024000), 2u);
}

TEST(NvmeLogTest, FirmwareSlot) {
  FirmwareSlotLog f;
  f.afi = 0x01;
  f.slots[0] = "0.1";
  auto b = BuildFirmwareSlotLog(f);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)[0], 1);
  EXPECT_EQ(Str(*b, 8, 8), "0.1     ");
  EXPECT_EQ(LeAt(*b, 16, 8), 0u);  // empty slot 2 is zero
  auto back = ParseFirmwareSlotLog(*b);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, f);
  f.slots[1] = "123456789";
  EXPECT_FALSE(BuildFirmwareSlotLog(f).ok());
}

TEST(NvmeLogTest, ErrorInformation) {
  EXPECT_TRUE(BuildErrorLog({}).empty());
  EXPECT_TRUE(ParseErrorLog(V(4096, 0)).empty());  // an empty log reads as zeroes
  const std::vector<ErrorLogEntry> entries = {{2, 1, 0x10, 0x8101, 0x0204, 999, 1, 5},
                                              {1, 0, 0x11, 0x0004, 0, 0, 0, 0}};
  const V b = BuildErrorLog(entries);
  ASSERT_EQ(b.size(), 128u);
  EXPECT_EQ(LeAt(b, 0, 8), 2u);
  EXPECT_EQ(LeAt(b, 8, 2), 1u);
  EXPECT_EQ(LeAt(b, 10, 2), 0x10u);
  EXPECT_EQ(LeAt(b, 12, 2), 0x8101u);
  EXPECT_EQ(LeAt(b, 14, 2), 0x0204u);
  EXPECT_EQ(LeAt(b, 16, 8), 999u);
  EXPECT_EQ(LeAt(b, 24, 4), 1u);
  EXPECT_EQ(LeAt(b, 32, 8), 5u);
  EXPECT_EQ(ParseErrorLog(b), entries);
  V padded = b;
  padded.resize(64 * 4, 0);
  EXPECT_EQ(ParseErrorLog(padded), entries);
}

}  // namespace
}  // namespace meshraid::proto::nvme
