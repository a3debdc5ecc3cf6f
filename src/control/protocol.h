// The control socket's protocol: one JSON object per line in each direction, one response per
// request, in order.
//   {"cmd":"ping"}                                   -> {"ok":true}
//   {"cmd":"status"}                                 -> {"ok":true,"status":{ArrayStatus}}
//   {"cmd":"set","key":"read-policy","value":"md"}   -> {"ok":true,"message":"..."}
//   {"cmd":"action","action":"check"}                -> {"ok":true,"message":"..."}
//   {"cmd":"manage","op":"replace","member":"/dev/a","with":"/dev/b"}
//                                                    -> {"ok":true,"message":"..."}
//   {"cmd":"grow","level":10,"chunk_sectors":0}      -> {"ok":true,"message":"..."}
//   {"cmd":"grow","raid_disks":4,"chunk_sectors":0}  -> {"ok":true,"message":"..."}
// Errors: {"ok":false,"code":"invalid argument","error":"one line"} (code: CodeName).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "control/handler.h"
#include "util/result.h"

namespace meshraid::control {

// Longest request or response line accepted (a status of a few hundred members fits).
inline constexpr size_t kMaxLineBytes = 1 << 20;

nlohmann::json StatusRequest();
nlohmann::json SetRequest(const std::string& key, const std::string& value);
nlohmann::json ActionRequest(const std::string& action);
nlohmann::json ManageRequestJson(const ManageRequest& request);
// RAID1 <-> RAID10 takeover (level) and reshape (raid_disks); chunk_sectors 0: the default.
nlohmann::json TakeoverRequest(int level, uint64_t chunk_sectors);
nlohmann::json ReshapeRequest(int raid_disks, uint64_t chunk_sectors);

// True for requests that wait for I/O (manage, grow): the server gives them a longer timeout.
bool IsSlowRequest(const nlohmann::json& request);

// Executes one parsed request against `handler` on the calling thread; `respond` gets the
// response exactly once, before Dispatch returns or (manage, grow) later, on the handler's
// thread.
void Dispatch(ControlHandler& handler, const nlohmann::json& request,
              std::function<void(nlohmann::json)> respond);

nlohmann::json ErrorResponse(const Status& status);
// The response itself if "ok" is true; the error it carries (same Code) otherwise.
Result<nlohmann::json> CheckResponse(const nlohmann::json& response);

}  // namespace meshraid::control
