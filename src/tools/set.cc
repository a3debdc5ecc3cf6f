// meshraid set [ARRAY] KEY=VALUE: changes a setting of a running array through its control
// socket. Today: read-policy=latency|md|round-robin.
#include <memory>

#include <fmt/format.h>

#include "control/client.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

struct SetArgs {
  std::string run_dir;
  std::vector<std::string> args;  // [ARRAY] KEY=VALUE
};

Status RunSet(const SetArgs& a) {
  control::ClientOptions co;
  co.run_dir = a.run_dir;
  if (a.args.empty() || a.args.size() > 2) {
    return Status::InvalidArgument("usage: meshraid set [ARRAY] KEY=VALUE");
  }
  const std::string& setting = a.args.back();
  auto eq = setting.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Status::InvalidArgument(
        fmt::format("'{}': expected KEY=VALUE, e.g. read-policy=md", setting));
  }
  std::string array;
  if (a.args.size() == 2) {
    array = a.args[0];
  } else {
    MESHRAID_ASSIGN_OR_RETURN(array, control::DefaultArray(co));
  }
  MESHRAID_ASSIGN_OR_RETURN(
      std::string message,
      control::SetValue(array, setting.substr(0, eq), setting.substr(eq + 1), co));
  fmt::print("meshraid: {}: {}\n", array, message);
  return Status::Ok();
}

}  // namespace

Runner AddSet(CLI::App& app) {
  auto a = std::make_shared<SetArgs>();
  CLI::App* c = app.add_subcommand("set", "Change a setting of a running array (read-policy=...)");
  c->add_option("--run-dir", a->run_dir,
                "Directory of the control sockets (default: $MESHRAID_RUN_DIR or /run/meshraid)");
  c->add_option("args", a->args, "[ARRAY] KEY=VALUE: read-policy=latency|md|round-robin")
      ->required()
      ->expected(1, 2);
  return [a] { return RunSet(*a); };
}

}  // namespace meshraid::tools
