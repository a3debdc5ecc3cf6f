#include "sim/member_model.h"

#include <utility>

namespace meshraid::sim {

uint64_t UniformNs(Rng& rng, uint64_t lo, uint64_t hi) {
  if (hi <= lo) return lo;
  const double unit = double(rng() >> 11) * 0x1.0p-53;  // [0, 1) from 53 random bits
  return lo + uint64_t(unit * double(hi - lo + 1));
}

MemberModel MemberModel::LocalNvme() {
  return {.name = "local-nvme", .service_lo_ns = 8'000, .service_hi_ns = 12'000, .servers = 8};
}

MemberModel MemberModel::RdmaNvme() {
  MemberModel m = LocalNvme();
  m.name = "rdma-nvme";
  m.wire_lo_ns = 18'000;
  m.wire_hi_ns = 22'000;
  return m;
}

MemberModel MemberModel::TcpNvme() {
  MemberModel m = LocalNvme();
  m.name = "tcp-nvme";
  m.wire_lo_ns = 90'000;
  m.wire_hi_ns = 190'000;
  return m;
}

MemberModel MemberModel::LocalTlc() {
  return {.name = "local-tlc", .service_lo_ns = 60'000, .service_hi_ns = 100'000, .servers = 16};
}

MemberModel MemberModel::Fixed(std::string name, uint64_t ns) {
  return Uniform(std::move(name), ns, ns);
}

MemberModel MemberModel::Uniform(std::string name, uint64_t lo_ns, uint64_t hi_ns) {
  return {.name = std::move(name), .service_lo_ns = lo_ns, .service_hi_ns = hi_ns, .servers = 0};
}

}  // namespace meshraid::sim
