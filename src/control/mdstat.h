// /proc/mdstat's text for running meshraid arrays, formatted as Linux MD formats it
// (md-facts H.1): the Personalities line, one stanza per array (members, blocks and
// personality status, optional progress and bitmap lines) and "unused devices: <none>".
#pragma once

#include <string>
#include <vector>

#include "control/array_status.h"

namespace meshraid::control {

struct MdstatOptions {
  // The "[name] " list on the first line: meshraid's personalities by default.
  std::vector<std::string> personalities = {"raid1", "raid10"};
};

std::string FormatMdstat(const std::vector<ArrayStatus>& arrays, const MdstatOptions& options = {});

// One array's stanza, from "NAME : active ..." to the empty line that ends it.
std::string FormatMdstatArray(const ArrayStatus& a);

// The blocks line's tail after "N blocks super 1.2": RAID1 " [2/1] [U_]"; RAID10
// " 64K chunks 2 near-copies [4/4] [UUUU]".
std::string PersonalityStatus(const ArrayStatus& a);

// MD's sync line: "[==>..................]  recovery = 12.5% (8064/64512) finish=0.3min
// speed=2016K/sec", or "resync=DELAYED" / "resync=PENDING" when waiting.
std::string ProgressLine(const SyncStatus& s);

// The name mdstat shows for a member: the last path component, or the whole URI.
std::string MemberShortName(const std::string& path);

}  // namespace meshraid::control
