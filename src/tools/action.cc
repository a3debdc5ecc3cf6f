// meshraid action [ARRAY] idle|frozen|resync|recover|check|repair|reshape: writes MD's
// sync_action of a running array through its control socket (check counts mismatches, repair
// rewrites them, reshape continues a reshape).
#include <memory>

#include <fmt/format.h>

#include "control/client.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

struct ActionArgs {
  std::string run_dir;
  std::vector<std::string> args;  // [ARRAY] ACTION
};

Status RunAction(const ActionArgs& a) {
  control::ClientOptions co;
  co.run_dir = a.run_dir;
  if (a.args.empty() || a.args.size() > 2) {
    return Status::InvalidArgument(
        "usage: meshraid action [ARRAY] idle|frozen|resync|recover|check|repair|reshape");
  }
  std::string array;
  if (a.args.size() == 2) {
    array = a.args[0];
  } else {
    MESHRAID_ASSIGN_OR_RETURN(array, control::DefaultArray(co));
  }
  MESHRAID_ASSIGN_OR_RETURN(std::string message, control::RequestAction(array, a.args.back(), co));
  fmt::print("meshraid: {}: {}\n", array, message);
  return Status::Ok();
}

}  // namespace

Runner AddAction(CLI::App& app) {
  auto a = std::make_shared<ActionArgs>();
  CLI::App* c = app.add_subcommand("action", "Start or stop a sync action (check, repair, ...)");
  c->add_option("--run-dir", a->run_dir,
                "Directory of the control sockets (default: $MESHRAID_RUN_DIR or /run/meshraid)");
  c->add_option("args", a->args, "[ARRAY] idle|frozen|resync|recover|check|repair|reshape")
      ->required()
      ->expected(1, 2);
  return [a] { return RunAction(*a); };
}

}  // namespace meshraid::tools
