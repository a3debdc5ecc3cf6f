// CRC32C (Castagnoli; reflected polynomial 0x82F63B78, initial value 0xFFFFFFFF, final XOR
// 0xFFFFFFFF): the checksum of iSCSI, ext4 metadata and the NVMe/TCP header and data digests.
// Uses the SSE4.2 crc32 instruction (three interleaved streams on long buffers) when the CPU has
// it, chosen once at run time, and a portable slicing-by-8 table otherwise; the build needs no
// -msse4.2. Pure functions, thread-safe, no allocation.
//
// Values passed between calls are finished CRCs (what Crc32c returns), so a CRC is extended
// piece by piece without any separate init/finish step:
//   Crc32c(a ++ b) == Crc32cExtend(Crc32c(a), b)        and        Crc32c(x) == Crc32cExtend(0, x)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace meshraid {

// The CRC32C of the bytes before `data` (0 for none) extended over `data`.
uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data);

// The CRC32C of `data` ("123456789" gives 0xE3069283).
inline uint32_t Crc32c(std::span<const uint8_t> data) { return Crc32cExtend(0, data); }

// The two implementations behind Crc32cExtend, exposed so tests can compare them and benchmarks
// can time them. Crc32cExtendHardware must only be called when Crc32cHasHardware() is true.
uint32_t Crc32cExtendPortable(uint32_t crc, std::span<const uint8_t> data);
uint32_t Crc32cExtendHardware(uint32_t crc, std::span<const uint8_t> data);
bool Crc32cHasHardware();

}  // namespace meshraid
