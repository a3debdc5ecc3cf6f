// meshraid detail: one running array like `mdadm --detail`, plus per-member read statistics
// (latency_ewma_ns, pending, reads, bytes, corrected errors, p50/p99); --json for the data.
#include <unistd.h>

#include <memory>

#include <fmt/format.h>

#include "control/client.h"
#include "control/detail.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

struct DetailArgs {
  bool json = false;
  std::string run_dir;
  std::string array;
};

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

Status RunDetail(const DetailArgs& a) {
  control::ClientOptions co;
  co.run_dir = a.run_dir;
  std::string array = a.array;
  if (array.empty()) {
    MESHRAID_ASSIGN_OR_RETURN(array, control::DefaultArray(co));
  }
  MESHRAID_ASSIGN_OR_RETURN(control::ArrayStatus s, control::QueryStatus(array, co));
  if (a.json) {
    fmt::print("{}\n", control::ToJson(s).dump(2));
    return Status::Ok();
  }
  control::DetailOptions o;
  o.local_host = HostName();
  fmt::print("{}", control::FormatDetail(s, o));
  return Status::Ok();
}

}  // namespace

Runner AddDetail(CLI::App& app) {
  auto a = std::make_shared<DetailArgs>();
  CLI::App* c = app.add_subcommand("detail", "Show one running array like mdadm --detail");
  c->add_flag("--json", a->json, "Print the status as JSON");
  c->add_option("--run-dir", a->run_dir,
                "Directory of the control sockets (default: $MESHRAID_RUN_DIR or /run/meshraid)");
  c->add_option("array", a->array,
                "Array name or control socket path (default: the only running array)");
  return [a] { return RunDetail(*a); };
}

}  // namespace meshraid::tools
