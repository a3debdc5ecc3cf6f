// Op and ByteRange: the vocabulary the test decorators share. Op values are bits, so one value
// can name a set of operation types (`Op::kWrite | Op::kWriteZeroes`) in rules and queries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace meshraid::testing {

enum class Op : uint32_t {
  kNone = 0,
  kRead = 1u << 0,
  kWrite = 1u << 1,
  kFlush = 1u << 2,
  kDiscard = 1u << 3,
  kWriteZeroes = 1u << 4,
  kAll = (1u << 5) - 1,
};
inline constexpr size_t kOpTypes = 5;

constexpr Op operator|(Op a, Op b) { return Op(uint32_t(a) | uint32_t(b)); }
constexpr Op operator&(Op a, Op b) { return Op(uint32_t(a) & uint32_t(b)); }
// True if the set `mask` contains `op` (or, for a set `op`, shares any type with it).
constexpr bool Contains(Op mask, Op op) { return (mask & op) != Op::kNone; }

// 0..kOpTypes-1 for a single op type (for per-type arrays). `op` must be exactly one type.
size_t OpIndex(Op op);
// The single op type with index `i` < kOpTypes.
Op OpFromIndex(size_t i);
// "read", "write", "flush", "discard", "write zeroes"; "ops" for sets and kNone.
std::string_view OpName(Op op);

// A byte range [offset, offset + length). kToEnd as length means "to the end of the device".
struct ByteRange {
  static constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();

  uint64_t offset = 0;
  uint64_t length = 0;

  // One past the last byte, saturating (kToEnd ranges end at 2^64 - 1).
  constexpr uint64_t end() const { return length > kToEnd - offset ? kToEnd : offset + length; }
  constexpr bool Overlaps(ByteRange o) const {
    return length != 0 && o.length != 0 && offset < o.end() && o.offset < end();
  }
  // The common part (length 0 if none).
  constexpr ByteRange Intersect(ByteRange o) const {
    const uint64_t b = offset > o.offset ? offset : o.offset;
    const uint64_t e = end() < o.end() ? end() : o.end();
    return e > b ? ByteRange{b, e - b} : ByteRange{b, 0};
  }
  constexpr bool operator==(const ByteRange&) const = default;
};

}  // namespace meshraid::testing
