// Member models for the read-balancing simulator: how long a read takes on a member, as a
// transport delay (unlimited parallelism) around a device with a number of internal servers
// (requests it serves at once) and a uniformly distributed service time. A read that finds
// every server busy waits in FIFO order. All times are virtual nanoseconds.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace meshraid::sim {

using Rng = std::mt19937_64;

// A uniformly distributed integer in [lo, hi] (hi >= lo), independent of the standard
// library's distributions (which differ between implementations).
uint64_t UniformNs(Rng& rng, uint64_t lo, uint64_t hi);

struct MemberModel {
  std::string name;
  uint64_t wire_lo_ns = 0;  // round-trip transport delay, half before and half after the device
  uint64_t wire_hi_ns = 0;
  uint64_t service_lo_ns = 0;  // device service time
  uint64_t service_hi_ns = 0;
  uint32_t servers = 1;  // internal parallelism; 0 = unlimited

  // Presets (doc/read_balancing.md, "What the simulator models").
  static MemberModel LocalNvme();   // ~10 µs, 8 requests at once
  static MemberModel RdmaNvme();    // NVMe over RDMA: ~20 µs of transport + a local NVMe
  static MemberModel TcpNvme();     // NVMe/TCP: 90–190 µs of transport + a local NVMe
  static MemberModel LocalTlc();    // a TLC-like local SSD: ~80 µs, 16 at once
  // A fixed delay with unlimited parallelism (the delay decorator over a fast file).
  static MemberModel Fixed(std::string name, uint64_t ns);
  // Service time [lo, hi] with unlimited parallelism.
  static MemberModel Uniform(std::string name, uint64_t lo_ns, uint64_t hi_ns);
};

}  // namespace meshraid::sim
