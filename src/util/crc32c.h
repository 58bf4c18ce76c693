// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the
// WAL and other on-disk records. Uses the SSE4.2 crc32 instruction when the
// CPU has it (checked once, at run time) and a portable table otherwise; both
// give identical results.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace omendb::util::crc32c {

// Returns the CRC-32C of the concatenation A || data[0, n), where `crc` is
// the CRC-32C of A (0 for the empty string). So Extend(Value(a), b) equals
// Value(a || b), and Extend(0, d, n) == Value(d, n). `data` may be null when
// n == 0; it needs no alignment.
uint32_t Extend(uint32_t crc, const void* data, size_t n);

// The CRC-32C of data[0, n). Value("123456789", 9) == 0xE3069283.
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }

// Storing the CRC of a string that itself embeds CRCs is weak (the CRC of
// "data + its CRC" is a constant), so stored checksums are masked: rotated
// right by 15 bits plus a constant. Unmask(Mask(c)) == c for every c.
constexpr uint32_t kMaskDelta = 0xa282ead8u;
constexpr uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
constexpr uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

// For tests and benchmarks: the two implementations behind Extend.
// ExtendPortable works everywhere. ExtendHardware may only be called when
// HardwareAvailable() is true (it executes SSE4.2 instructions).
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);
bool HardwareAvailable();

}  // namespace omendb::util::crc32c
