// `mdadm --detail`-like text for one running array: mdadm's field names and layout (compared
// with the golden records), then meshraid's per-member read statistics.
#pragma once

#include <string>

#include "control/array_status.h"

namespace meshraid::control {

struct DetailOptions {
  std::string title;       // the first line, before ':'; the array name when empty
  std::string local_host;  // adds "  (local to host X)" to Name when the homehost is X
  bool member_stats = true;  // append the read policy and the per-member statistics table
};

std::string FormatDetail(const ArrayStatus& a, const DetailOptions& options = {});

// The per-member statistics table alone (header and one row per member).
std::string FormatMemberStats(const ArrayStatus& a);

// mdadm's time format, "Wed Nov 25 08:00:52 2026", in local time.
std::string FormatTime(uint64_t unix_seconds);

}  // namespace meshraid::control
