// The control socket's protocol: one JSON object per line in each direction, one response per
// request, in order.
//   {"cmd":"ping"}                                   -> {"ok":true}
//   {"cmd":"status"}                                 -> {"ok":true,"status":{ArrayStatus}}
//   {"cmd":"set","key":"read-policy","value":"md"}   -> {"ok":true,"message":"..."}
// Errors: {"ok":false,"code":"invalid argument","error":"one line"} (code: CodeName).
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "control/handler.h"
#include "util/result.h"

namespace meshraid::control {

// Longest request or response line accepted (a status of a few hundred members fits).
inline constexpr size_t kMaxLineBytes = 1 << 20;

nlohmann::json StatusRequest();
nlohmann::json SetRequest(const std::string& key, const std::string& value);

// Executes one parsed request against `handler` on the calling thread and returns the response.
nlohmann::json Dispatch(ControlHandler& handler, const nlohmann::json& request);

nlohmann::json ErrorResponse(const Status& status);
// The response itself if "ok" is true; the error it carries (same Code) otherwise.
Result<nlohmann::json> CheckResponse(const nlohmann::json& response);

}  // namespace meshraid::control
