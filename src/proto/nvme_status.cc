// Status names (see nvme_status.h).
#include "proto/nvme_status.h"

#include <fmt/format.h>

namespace meshraid::proto::nvme {
namespace {

std::string_view GenericName(uint8_t sc) {
  switch (sc) {
    case 0x00: return "success";
    case 0x01: return "invalid command opcode";
    case 0x02: return "invalid field in command";
    case 0x03: return "command ID conflict";
    case 0x04: return "data transfer error";
    case 0x05: return "aborted due to power loss notification";
    case 0x06: return "internal error";
    case 0x07: return "command abort requested";
    case 0x08: return "aborted due to SQ deletion";
    case 0x09: return "aborted due to failed fused command";
    case 0x0A: return "aborted due to missing fused command";
    case 0x0B: return "invalid namespace or format";
    case 0x0C: return "command sequence error";
    case 0x0D: return "invalid SGL segment descriptor";
    case 0x0E: return "invalid number of SGL descriptors";
    case 0x0F: return "data SGL length invalid";
    case 0x10: return "metadata SGL length invalid";
    case 0x11: return "SGL descriptor type invalid";
    case 0x16: return "SGL offset invalid";
    case 0x18: return "host identifier inconsistent format";
    case 0x19: return "keep alive timer expired";
    case 0x1A: return "keep alive timeout invalid";
    case 0x20: return "namespace is write protected";
    case 0x21: return "command interrupted";
    case 0x22: return "transient transport error";
    case 0x80: return "LBA out of range";
    case 0x81: return "capacity exceeded";
    case 0x82: return "namespace not ready";
    case 0x83: return "reservation conflict";
    default: return "unknown";
  }
}

std::string_view CommandSpecificName(uint8_t sc, bool fabrics) {
  switch (sc) {
    case 0x00: return "completion queue invalid";
    case 0x01: return "invalid queue identifier";
    case 0x02: return "invalid queue size";
    case 0x03: return "abort command limit exceeded";
    case 0x05: return "asynchronous event request limit exceeded";
    case 0x06: return "invalid firmware slot";
    case 0x07: return "invalid firmware image";
    case 0x08: return "invalid interrupt vector";
    case 0x09: return "invalid log page";
    case 0x0A: return "invalid format";
    case 0x0D: return "feature identifier not saveable";
    case 0x0E: return "feature not changeable";
    case 0x0F: return "feature not namespace specific";
    default: break;
  }
  if (fabrics) {
    switch (sc) {
      case 0x80: return "connect incompatible format";
      case 0x81: return "connect controller busy";
      case 0x82: return "connect invalid parameters";
      case 0x83: return "connect restart discovery";
      case 0x84: return "connect invalid host";
      case 0x90: return "discovery restart";
      case 0x91: return "authentication required";
      default: return "unknown";
    }
  }
  switch (sc) {
    case 0x80: return "conflicting attributes";
    case 0x81: return "invalid protection information";
    case 0x82: return "attempted write to read only range";
    default: return "unknown";
  }
}

std::string_view MediaName(uint8_t sc) {
  switch (sc) {
    case 0x80: return "write fault";
    case 0x81: return "unrecovered read error";
    case 0x82: return "end-to-end guard check error";
    case 0x83: return "end-to-end application tag check error";
    case 0x84: return "end-to-end reference tag check error";
    case 0x85: return "compare failure";
    case 0x86: return "access denied";
    case 0x87: return "deallocated or unwritten logical block";
    default: return "unknown";
  }
}

std::string_view PathName(uint8_t sc) {
  switch (sc) {
    case 0x00: return "internal path error";
    case 0x01: return "asymmetric access persistent loss";
    case 0x02: return "asymmetric access inaccessible";
    case 0x03: return "asymmetric access transition";
    case 0x60: return "controller pathing error";
    case 0x70: return "host pathing error";
    case 0x71: return "command aborted by host";
    default: return "unknown";
  }
}

}  // namespace

std::string_view SctName(uint8_t sct) {
  switch (sct) {
    case kSctGeneric: return "generic";
    case kSctCommandSpecific: return "command specific";
    case kSctMediaError: return "media error";
    case kSctPath: return "path";
    case kSctVendor: return "vendor specific";
    default: return "reserved";
  }
}

std::string_view StatusCodeName(StatusCode c, bool fabrics) {
  switch (c.sct) {
    case kSctGeneric: return GenericName(c.sc);
    case kSctCommandSpecific: return CommandSpecificName(c.sc, fabrics);
    case kSctMediaError: return MediaName(c.sc);
    case kSctPath: return PathName(c.sc);
    default: return "unknown";
  }
}

std::string StatusToString(uint16_t status, bool fabrics) {
  if (StatusOk(status)) return "success";
  const StatusCode c = StatusCodeOf(status);
  std::string flags;
  if (StatusDnr(status)) flags += ", dnr";
  if (StatusMore(status)) flags += ", more";
  if (StatusCrd(status) != 0) flags += fmt::format(", crd {}", StatusCrd(status));
  return fmt::format("{}: {} (sct {} sc {:#04x}{})", SctName(c.sct), StatusCodeName(c, fabrics),
                     c.sct, c.sc, flags);
}

}  // namespace meshraid::proto::nvme
