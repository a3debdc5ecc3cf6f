#include "testing/op.h"

#include <bit>
#include <cassert>

namespace meshraid::testing {

size_t OpIndex(Op op) {
  const uint32_t v = uint32_t(op);
  assert(std::has_single_bit(v) && v <= uint32_t(Op::kAll) && "OpIndex needs one op type");
  return size_t(std::countr_zero(v));
}

Op OpFromIndex(size_t i) {
  assert(i < kOpTypes);
  return Op(1u << i);
}

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kRead:
      return "read";
    case Op::kWrite:
      return "write";
    case Op::kFlush:
      return "flush";
    case Op::kDiscard:
      return "discard";
    case Op::kWriteZeroes:
      return "write zeroes";
    default:
      return "ops";
  }
}

}  // namespace meshraid::testing
