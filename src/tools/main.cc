// meshraid: the command-line tool. Dispatches to one verb per subcommand (see verbs.h).
#include <cstdio>
#include <utility>
#include <vector>

#include "tools/verbs.h"

int main(int argc, char** argv) {
  using namespace meshraid::tools;
  CLI::App app{"meshraid: Linux-MD-compatible RAID1/RAID10 in user space"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, Runner>> verbs;
  auto add = [&](Runner (*fn)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    Runner r = fn(app);
    verbs.emplace_back(app.get_subcommands({})[before], std::move(r));
  };
  add(AddCreate);
  add(AddExamine);
  add(AddCat);
  add(AddServeMember);
  add(AddRun);
  add(AddStat);
  add(AddDetail);
  add(AddSet);
  add(AddManage);
  add(AddAction);
  add(AddSim);
  add(AddGrow);
  CLI11_PARSE(app, argc, argv);
  for (auto& [cmd, run] : verbs) {
    if (!cmd->parsed()) continue;
    meshraid::Status s = run();
    if (!s.ok()) {
      std::fprintf(stderr, "meshraid %s: %s\n", cmd->get_name().c_str(), s.message().c_str());
      return 1;
    }
    return 0;
  }
  return 2;
}
