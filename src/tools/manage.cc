// meshraid manage [ARRAY] --add M | --fail M | --remove M | --re-add M | --replace M --with N:
// mdadm --manage on a running array, through its control socket. Members are named as given
// to `meshraid run` (paths or NBD URIs); a new member's relative path is made absolute, as
// the array opens it from its own working directory.
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "control/client.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

struct ManageArgs {
  std::string run_dir;
  std::string array;
  std::string add, fail, remove, re_add, replace, with;
};

std::string Absolute(const std::string& m) {
  if (m.find("://") != std::string::npos || m.empty() || m[0] == '/') return m;
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(m, ec);
  return ec ? m : p.string();
}

Result<control::ManageRequest> Request(const ManageArgs& a) {
  std::vector<control::ManageRequest> ops;
  if (!a.add.empty()) ops.push_back({"add", Absolute(a.add), ""});
  if (!a.fail.empty()) ops.push_back({"fail", a.fail, ""});
  if (!a.remove.empty()) ops.push_back({"remove", a.remove, ""});
  if (!a.re_add.empty()) ops.push_back({"re-add", a.re_add, ""});
  if (!a.replace.empty()) ops.push_back({"replace", a.replace, Absolute(a.with)});
  if (ops.size() != 1) {
    return Status::InvalidArgument(
        "give one of --add, --fail, --remove, --re-add or --replace M --with N");
  }
  if (a.replace.empty() != a.with.empty()) {
    return Status::InvalidArgument("--replace M needs --with N (and --with goes with --replace)");
  }
  return ops[0];
}

control::ClientOptions Options(const std::string& run_dir) {
  control::ClientOptions co;
  co.run_dir = run_dir;
  co.timeout_ms = 130'000;  // the array writes superblocks (and may connect to a remote member)
  return co;
}

Status RunManage(const ManageArgs& a) {
  MESHRAID_ASSIGN_OR_RETURN(control::ManageRequest req, Request(a));
  control::ClientOptions co = Options(a.run_dir);
  std::string array = a.array;
  if (array.empty()) {
    MESHRAID_ASSIGN_OR_RETURN(array, control::DefaultArray(co));
  }
  MESHRAID_ASSIGN_OR_RETURN(std::string message, control::ManageMember(array, req, co));
  fmt::print("meshraid: {}: {}\n", array, message);
  return Status::Ok();
}

}  // namespace

Result<std::string> ManageAdd(const std::string& array, const std::string& member,
                              const std::string& run_dir) {
  return control::ManageMember(array, {"add", Absolute(member), ""}, Options(run_dir));
}

Runner AddManage(CLI::App& app) {
  auto a = std::make_shared<ManageArgs>();
  CLI::App* c = app.add_subcommand("manage", "Add, fail, remove, re-add or replace a member of a running array");
  c->add_option("--add", a->add, "Add a member (a spare, rebuilt at once into a free slot)");
  c->add_option("--fail", a->fail, "Mark a member faulty");
  c->add_option("--remove", a->remove, "Remove a faulty, stale or spare member");
  c->add_option("--re-add", a->re_add,
                "Take a failed or stale member back (only the chunks its bitmap marks are copied)");
  c->add_option("--replace", a->replace, "Rebuild an in-sync member onto --with, then fail it");
  c->add_option("--with", a->with, "The new member for --replace");
  c->add_option("--run-dir", a->run_dir,
                "Directory of the control sockets (default: $MESHRAID_RUN_DIR or /run/meshraid)");
  c->add_option("array", a->array,
                "Array name or control socket path (default: the only running array)");
  return [a] { return RunManage(*a); };
}

}  // namespace meshraid::tools
