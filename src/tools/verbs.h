// The `meshraid` command-line verbs. Each verb is a thin file over the library: it registers
// its options on the CLI11 app and, when chosen, runs and returns a Status; only main() turns
// that into an exit code and prints the error.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

#include "util/result.h"
#include "util/status.h"

namespace meshraid::tools {

using Runner = std::function<Status()>;

// Each Add* registers a subcommand and returns what to run when it is selected.
Runner AddCreate(CLI::App& app);
Runner AddExamine(CLI::App& app);
Runner AddCat(CLI::App& app);
Runner AddServeMember(CLI::App& app);
Runner AddRun(CLI::App& app);
Runner AddStat(CLI::App& app);
Runner AddDetail(CLI::App& app);
Runner AddSet(CLI::App& app);
Runner AddManage(CLI::App& app);
Runner AddAction(CLI::App& app);
Runner AddSim(CLI::App& app);
Runner AddGrow(CLI::App& app);

// `meshraid manage ARRAY --add MEMBER` (manage.cc), also used by `grow --add`: the member's
// relative path is made absolute (the array opens it from its own working directory) and the
// array adds it; returns the array's one-line answer.
Result<std::string> ManageAdd(const std::string& array, const std::string& member,
                              const std::string& run_dir);

}  // namespace meshraid::tools
