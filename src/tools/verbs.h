// The `meshraid` command-line verbs. Each verb is a thin file over the library: it registers
// its options on the CLI11 app and, when chosen, runs and returns a Status; only main() turns
// that into an exit code and prints the error.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

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

}  // namespace meshraid::tools
