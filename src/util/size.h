// Parsing and printing sizes the way mdadm users write them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace meshraid {

// Parses "512", "64K", "1M", "2G", "1T" (binary multiples). A bare number is in units of
// `default_unit` bytes (mdadm's --chunk takes KiB). Returns bytes.
Result<uint64_t> ParseSize(std::string_view text, uint64_t default_unit);

// mdadm's human-readable size: "(63.00 MiB 66.06 MB)", "(1.00 GiB 1.07 GB)"; empty below 5 MiB.
std::string HumanSize(uint64_t bytes);

}  // namespace meshraid
