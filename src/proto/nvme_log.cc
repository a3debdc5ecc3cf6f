// Log page builders and parsers (see nvme_log.h).
#include "proto/nvme_log.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "proto/nvme_identify.h"
#include "util/endian.h"

namespace meshraid::proto::nvme {
namespace {

constexpr size_t kSmartCounters = 10;  // 128-bit counters from byte 32

void StoreLe128(uint8_t* p, uint64_t v) {
  StoreLe64(p, v);
  StoreLe64(p + 8, 0);
}

uint64_t LoadLe128Saturated(const uint8_t* p) {
  return LoadLe64(p + 8) != 0 ? std::numeric_limits<uint64_t>::max() : LoadLe64(p);
}

Status Need(std::span<const uint8_t> data, size_t n, std::string_view what) {
  if (data.size() < n) {
    return Status::InvalidArgument(fmt::format("{}: {} bytes, need {}", what, data.size(), n));
  }
  return Status::Ok();
}

}  // namespace

Status CopyLogPage(std::span<const uint8_t> page, uint64_t offset, std::span<uint8_t> out) {
  if (offset % 4 != 0) return Status::InvalidArgument("log page offset is not dword aligned");
  if (offset > page.size()) return Status::InvalidArgument("log page offset beyond the page");
  const size_t n = std::min<uint64_t>(out.size(), page.size() - offset);
  std::memcpy(out.data(), page.data() + offset, n);
  std::fill(out.begin() + ptrdiff_t(n), out.end(), uint8_t{0});
  return Status::Ok();
}

std::vector<uint8_t> BuildErrorLog(std::span<const ErrorLogEntry> entries) {
  std::vector<uint8_t> out(entries.size() * kErrorLogEntrySize);
  for (size_t i = 0; i < entries.size(); ++i) {
    const ErrorLogEntry& e = entries[i];
    uint8_t* p = out.data() + i * kErrorLogEntrySize;
    StoreLe64(p, e.error_count);
    StoreLe16(p + 8, e.sqid);
    StoreLe16(p + 10, e.cid);
    StoreLe16(p + 12, e.status);
    StoreLe16(p + 14, e.parameter_error_location);
    StoreLe64(p + 16, e.lba);
    StoreLe32(p + 24, e.nsid);
    StoreLe64(p + 32, e.command_specific);
  }
  return out;
}

std::vector<ErrorLogEntry> ParseErrorLog(std::span<const uint8_t> data) {
  std::vector<ErrorLogEntry> out;
  for (size_t at = 0; at + kErrorLogEntrySize <= data.size(); at += kErrorLogEntrySize) {
    const uint8_t* p = data.data() + at;
    ErrorLogEntry e;
    e.error_count = LoadLe64(p);
    if (e.error_count == 0) break;
    e.sqid = LoadLe16(p + 8);
    e.cid = LoadLe16(p + 10);
    e.status = LoadLe16(p + 12);
    e.parameter_error_location = LoadLe16(p + 14);
    e.lba = LoadLe64(p + 16);
    e.nsid = LoadLe32(p + 24);
    e.command_specific = LoadLe64(p + 32);
    out.push_back(e);
  }
  return out;
}

std::array<uint8_t, kSmartLogSize> BuildSmartLog(const SmartLog& s) {
  std::array<uint8_t, kSmartLogSize> b{};
  b[0] = s.critical_warning;
  StoreLe16(b.data() + 1, s.temperature_kelvin);
  b[3] = s.available_spare;
  b[4] = s.available_spare_threshold;
  b[5] = s.percentage_used;
  const uint64_t counters[kSmartCounters] = {
      s.data_units_read,   s.data_units_written,      s.host_read_commands,
      s.host_write_commands, s.controller_busy_minutes, s.power_cycles,
      s.power_on_hours,    s.unsafe_shutdowns,        s.media_errors,
      s.error_log_entries};
  for (size_t i = 0; i < kSmartCounters; ++i) StoreLe128(b.data() + 32 + 16 * i, counters[i]);
  return b;
}

Result<SmartLog> ParseSmartLog(std::span<const uint8_t> data) {
  MESHRAID_RETURN_IF_ERROR(Need(data, kSmartLogSize, "SMART log"));
  const uint8_t* p = data.data();
  SmartLog s;
  s.critical_warning = p[0];
  s.temperature_kelvin = LoadLe16(p + 1);
  s.available_spare = p[3];
  s.available_spare_threshold = p[4];
  s.percentage_used = p[5];
  uint64_t* counters[kSmartCounters] = {
      &s.data_units_read,   &s.data_units_written,      &s.host_read_commands,
      &s.host_write_commands, &s.controller_busy_minutes, &s.power_cycles,
      &s.power_on_hours,    &s.unsafe_shutdowns,        &s.media_errors,
      &s.error_log_entries};
  for (size_t i = 0; i < kSmartCounters; ++i) *counters[i] = LoadLe128Saturated(p + 32 + 16 * i);
  return s;
}

Result<std::array<uint8_t, kFirmwareSlotLogSize>> BuildFirmwareSlotLog(const FirmwareSlotLog& f) {
  std::array<uint8_t, kFirmwareSlotLogSize> b{};
  b[0] = f.afi;
  for (size_t i = 0; i < f.slots.size(); ++i) {
    if (f.slots[i].empty()) continue;  // an empty slot stays all zero
    MESHRAID_RETURN_IF_ERROR(PutAscii({b.data() + 8 + 8 * i, 8}, f.slots[i], "firmware revision"));
  }
  return b;
}

Result<FirmwareSlotLog> ParseFirmwareSlotLog(std::span<const uint8_t> data) {
  MESHRAID_RETURN_IF_ERROR(Need(data, kFirmwareSlotLogSize, "firmware slot log"));
  FirmwareSlotLog f;
  f.afi = data[0];
  for (size_t i = 0; i < f.slots.size(); ++i) f.slots[i] = GetTrimmed(data.subspan(8 + 8 * i, 8));
  return f;
}

Result<std::vector<uint8_t>> BuildDiscoveryLog(const DiscoveryLog& log) {
  std::vector<uint8_t> out(kDiscoveryRecordSize * (1 + log.entries.size()));
  StoreLe64(out.data(), log.genctr);
  StoreLe64(out.data() + 8, log.entries.size());
  StoreLe16(out.data() + 16, log.recfmt);
  for (size_t i = 0; i < log.entries.size(); ++i) {
    const DiscoveryEntry& e = log.entries[i];
    uint8_t* p = out.data() + kDiscoveryRecordSize * (1 + i);
    p[0] = e.trtype;
    p[1] = e.adrfam;
    p[2] = e.subtype;
    p[3] = e.treq;
    StoreLe16(p + 4, e.portid);
    StoreLe16(p + 6, e.cntlid);
    StoreLe16(p + 8, e.asqsz);
    StoreLe16(p + 10, e.eflags);
    MESHRAID_RETURN_IF_ERROR(PutNulPadded({p + 32, 32}, e.trsvcid, "TRSVCID"));
    if (e.subnqn.size() > 223) return Status::InvalidArgument("SUBNQN longer than 223 bytes");
    MESHRAID_RETURN_IF_ERROR(PutNulPadded({p + 256, 256}, e.subnqn, "SUBNQN"));
    MESHRAID_RETURN_IF_ERROR(PutNulPadded({p + 512, 256}, e.traddr, "TRADDR"));
    p[768] = e.sectype;
  }
  return out;
}

Result<DiscoveryHeader> ParseDiscoveryHeader(std::span<const uint8_t> data) {
  MESHRAID_RETURN_IF_ERROR(Need(data, kDiscoveryRecordSize, "discovery log header"));
  DiscoveryHeader h;
  h.genctr = LoadLe64(data.data());
  h.numrec = LoadLe64(data.data() + 8);
  h.recfmt = LoadLe16(data.data() + 16);
  return h;
}

Result<DiscoveryLog> ParseDiscoveryLog(std::span<const uint8_t> data) {
  MESHRAID_ASSIGN_OR_RETURN(const DiscoveryHeader h, ParseDiscoveryHeader(data));
  if (h.numrec > data.size() / kDiscoveryRecordSize - 1) {
    return Status::InvalidArgument(fmt::format(
        "discovery log: {} records announced, {} bytes received", h.numrec, data.size()));
  }
  DiscoveryLog log;
  log.genctr = h.genctr;
  log.recfmt = h.recfmt;
  log.entries.resize(h.numrec);
  for (size_t i = 0; i < h.numrec; ++i) {
    const std::span<const uint8_t> r = data.subspan(kDiscoveryRecordSize * (1 + i), kDiscoveryRecordSize);
    DiscoveryEntry& e = log.entries[i];
    e.trtype = r[0];
    e.adrfam = r[1];
    e.subtype = r[2];
    e.treq = r[3];
    e.portid = LoadLe16(r.data() + 4);
    e.cntlid = LoadLe16(r.data() + 6);
    e.asqsz = LoadLe16(r.data() + 8);
    e.eflags = LoadLe16(r.data() + 10);
    e.trsvcid = GetTrimmed(r.subspan(32, 32));
    e.subnqn = GetTrimmed(r.subspan(256, 256));
    e.traddr = GetTrimmed(r.subspan(512, 256));
    e.sectype = r[768];
  }
  return log;
}

}  // namespace meshraid::proto::nvme
