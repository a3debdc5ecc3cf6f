#include "control/protocol.h"

#include <fmt/format.h>

namespace meshraid::control {
namespace {

using nlohmann::json;

Code CodeFromName(std::string_view name) {
  for (int c = int(Code::kOk); c <= int(Code::kFailedPrecondition); ++c) {
    if (CodeName(Code(c)) == name) return Code(c);
  }
  return Code::kAborted;
}

Status MakeStatus(Code code, std::string msg) {
  switch (code) {
    case Code::kInvalidArgument: return Status::InvalidArgument(std::move(msg));
    case Code::kNotFound: return Status::NotFound(std::move(msg));
    case Code::kCorruption: return Status::Corruption(std::move(msg));
    case Code::kIoError: return Status::IoError(std::move(msg));
    case Code::kNoSpace: return Status::NoSpace(std::move(msg));
    case Code::kUnavailable: return Status::Unavailable(std::move(msg));
    case Code::kNotSupported: return Status::NotSupported(std::move(msg));
    case Code::kBusy: return Status::Busy(std::move(msg));
    case Code::kTimedOut: return Status::TimedOut(std::move(msg));
    case Code::kFailedPrecondition: return Status::FailedPrecondition(std::move(msg));
    case Code::kOk:
    case Code::kAborted: break;
  }
  return Status::Aborted(std::move(msg));
}

// The string at request[key], or "" when absent or not a string.
std::string StringField(const json& request, const char* key) {
  auto it = request.find(key);
  return it != request.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

json StatusRequest() { return json{{"cmd", "status"}}; }

json SetRequest(const std::string& key, const std::string& value) {
  return json{{"cmd", "set"}, {"key", key}, {"value", value}};
}

json ActionRequest(const std::string& action) { return json{{"cmd", "action"}, {"action", action}}; }

json ManageRequestJson(const ManageRequest& r) {
  json j{{"cmd", "manage"}, {"op", r.op}, {"member", r.member}};
  if (!r.with.empty()) j["with"] = r.with;
  return j;
}

json TakeoverRequest(int level, uint64_t chunk_sectors) {
  return json{{"cmd", "grow"}, {"level", level}, {"chunk_sectors", chunk_sectors}};
}

json ReshapeRequest(int raid_disks, uint64_t chunk_sectors) {
  return json{{"cmd", "grow"}, {"raid_disks", raid_disks}, {"chunk_sectors", chunk_sectors}};
}

bool IsSlowRequest(const json& request) {
  if (!request.is_object()) return false;
  std::string cmd = StringField(request, "cmd");
  return cmd == "manage" || cmd == "grow";
}

json ErrorResponse(const Status& status) {
  return json{{"ok", false}, {"code", std::string(CodeName(status.code()))},
              {"error", status.message()}};
}

namespace {

json MessageResponse(const Result<std::string>& r) {
  if (!r.ok()) return ErrorResponse(r.status());
  return json{{"ok", true}, {"message", *r}};
}

json DispatchSync(ControlHandler& handler, const json& request, const std::string& cmd) {
  if (cmd == "ping") return json{{"ok", true}};
  if (cmd == "status") {
    Result<ArrayStatus> s = handler.GetStatus();
    if (!s.ok()) return ErrorResponse(s.status());
    return json{{"ok", true}, {"status", ToJson(*s)}};
  }
  if (cmd == "set") {
    std::string key = StringField(request, "key");
    if (key.empty()) return ErrorResponse(Status::InvalidArgument("set: no key"));
    if (!request.contains("value") || !request["value"].is_string()) {
      return ErrorResponse(Status::InvalidArgument(fmt::format("set {}: no value", key)));
    }
    return MessageResponse(handler.Set(key, request["value"].get<std::string>()));
  }
  if (cmd == "action") {
    std::string action = StringField(request, "action");
    if (action.empty()) return ErrorResponse(Status::InvalidArgument("action: no action"));
    return MessageResponse(handler.Action(action));
  }
  if (cmd.empty()) return ErrorResponse(Status::InvalidArgument("request has no \"cmd\""));
  return ErrorResponse(Status::InvalidArgument(
      fmt::format("unknown command '{}' (known: ping, status, set, action, manage, grow)", cmd)));
}

// The asynchronous requests: the handler answers when its I/O is done.
// grow: a takeover ("level") or a reshape ("raid_disks"), one at a time.
void DispatchGrow(ControlHandler& handler, const json& request,
                  std::function<void(json)> respond) {
  auto level = request.find("level");
  auto disks = request.find("raid_disks");
  auto chunk = request.find("chunk_sectors");
  const bool has_level = level != request.end() && !level->is_null();
  const bool has_disks = disks != request.end() && !disks->is_null();
  if (has_level && has_disks) {
    return respond(ErrorResponse(Status::InvalidArgument(
        "grow: give level (takeover) or raid_disks (reshape), not both")));
  }
  if (!has_level && !has_disks) {
    return respond(ErrorResponse(Status::InvalidArgument("grow: no level and no raid_disks")));
  }
  if (has_level && !level->is_number_integer()) {
    return respond(ErrorResponse(Status::InvalidArgument("grow: level is not a number")));
  }
  if (has_disks && !disks->is_number_integer()) {
    return respond(ErrorResponse(Status::InvalidArgument("grow: raid_disks is not a number")));
  }
  if (chunk != request.end() && !chunk->is_number_unsigned()) {
    return respond(ErrorResponse(Status::InvalidArgument("grow: chunk_sectors is not a number")));
  }
  uint64_t chunk_sectors = chunk == request.end() ? 0 : chunk->get<uint64_t>();
  Reply reply = [respond = std::move(respond)](Result<std::string> r) {
    respond(MessageResponse(r));
  };
  if (has_disks) {
    int64_t n = disks->get<int64_t>();
    if (n < 1 || n > 1920) {
      return reply(Status::InvalidArgument(fmt::format("grow: raid_disks {} is out of range", n)));
    }
    return handler.Reshape(int(n), chunk_sectors, std::move(reply));
  }
  handler.Grow(level->get<int>(), chunk_sectors, std::move(reply));
}

void DispatchManage(ControlHandler& handler, const json& request,
                    std::function<void(json)> respond) {
  ManageRequest r{StringField(request, "op"), StringField(request, "member"),
                  StringField(request, "with")};
  if (r.op.empty()) return respond(ErrorResponse(Status::InvalidArgument("manage: no op")));
  if (r.member.empty()) {
    return respond(ErrorResponse(Status::InvalidArgument(fmt::format("manage {}: no member", r.op))));
  }
  handler.Manage(r, [respond = std::move(respond)](Result<std::string> res) {
    respond(MessageResponse(res));
  });
}

}  // namespace

void Dispatch(ControlHandler& handler, const json& request, std::function<void(json)> respond) {
  if (!request.is_object()) {
    return respond(ErrorResponse(Status::InvalidArgument("request is not a JSON object")));
  }
  std::string cmd = StringField(request, "cmd");
  if (cmd == "grow") return DispatchGrow(handler, request, std::move(respond));
  if (cmd == "manage") return DispatchManage(handler, request, std::move(respond));
  respond(DispatchSync(handler, request, cmd));
}

Result<json> CheckResponse(const json& response) {
  if (!response.is_object() || !response.contains("ok") || !response["ok"].is_boolean()) {
    return Status::Corruption("malformed response from the control socket");
  }
  if (response["ok"].get<bool>()) return response;
  std::string msg = StringField(response, "error");
  return MakeStatus(CodeFromName(StringField(response, "code")),
                    msg.empty() ? "request failed" : msg);
}

}  // namespace meshraid::control
