// Text forms of fault rules and latencies, so that a test harness (a CLI flag, an environment
// variable, a script) can configure the decorators of a running process:
//   fault:   "ops=read+write,offset=0,length=64K,error=EIO,count=1,trigger=/tmp/break-m1"
//   latency: "250us", "fixed:2ms", "uniform:100us-900us", "exp:100us"
//   delays:  "read=exp:100us,write=uniform:1ms-3ms,flush=5ms"
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "testing/fault_device.h"
#include "testing/latency.h"
#include "testing/op.h"
#include "util/result.h"

namespace meshraid::testing {

// Comma-separated key=value pairs; keys: ops (read, write, flush, discard, zeroes, all; joined
// with '+'), action (fail, hang, hang-after, corrupt), offset and length (sizes as "64K"),
// error (EIO, EILSEQ, ENOSPC, ENODEV, ENXIO, ETIMEDOUT, EAGAIN or a number), count, skip, p
// (probability), trigger (a path). Unset keys keep FaultRule's defaults.
Result<FaultRule> ParseFaultRule(std::string_view spec);

// A duration with unit ns, us, ms or s ("0" alone is allowed), optionally prefixed by
// "fixed:"; or "uniform:LO-HI"; or "exp:MEAN".
Result<Latency> ParseLatency(std::string_view spec);

// Comma-separated OPS=LATENCY, OPS as in ParseFaultRule, e.g. "read+write=exp:100us".
Result<std::vector<std::pair<Op, Latency>>> ParseDelays(std::string_view spec);

}  // namespace meshraid::testing
