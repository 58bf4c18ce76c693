#include "util/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace omendb::util::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82f63b78u;  // Castagnoli polynomial, bit-reversed

// Slicing-by-8 tables: kTables[0][b] is the CRC of the single byte b;
// kTables[k][b] is the CRC of b followed by k zero bytes. They let the
// portable path fold 8 input bytes per step with 8 independent lookups instead
// of 8 dependent ones. Built at compile time (8 KiB of .rodata).
using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][b] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t prev = t[k - 1][b];
      t[k][b] = (prev >> 8) ^ t[0][prev & 0xffu];
    }
  }
  return t;
}

constexpr Tables kTables = MakeTables();
static_assert(kTables[0][1] == 0xf26b8303u, "CRC-32C table generation is wrong");

// Byte-wise little-endian load: correct on any host, and a single mov on x86.
inline uint32_t LoadLE32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

inline uint32_t Byte(uint32_t crc, uint8_t b) { return kTables[0][(crc ^ b) & 0xffu] ^ (crc >> 8); }

#if defined(__x86_64__)
// Compiled for SSE4.2 regardless of the build flags; only ever called after
// the run-time check in HardwareAvailable(), so generic CPUs never execute it.
__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  // Bytes up to an 8-byte boundary first so the 64-bit loads below are aligned
  // (unaligned ones are legal but can straddle cache lines).
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
    c = _mm_crc32_u8(c, *p++);
    --n;
  }
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
    p += 8;
    n -= 8;
  }
  c = static_cast<uint32_t>(c64);
  while (n > 0) {
    c = _mm_crc32_u8(c, *p++);
    --n;
  }
  return ~c;
}
#endif

bool DetectHardware() {
#if defined(__x86_64__)
  // Initialises the CPU model data; needed when this runs from a static
  // initialiser before libgcc's own constructor has.
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

ExtendFn ChooseExtend() {
#if defined(__x86_64__)
  if (HardwareAvailable()) return ExtendSse42;
#endif
  return ExtendPortable;
}

}  // namespace

uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 3u) != 0) {
    c = Byte(c, *p++);
    --n;
  }
  while (n >= 8) {
    uint32_t lo = LoadLE32(p) ^ c;
    uint32_t hi = LoadLE32(p + 4);
    c = kTables[7][lo & 0xffu] ^ kTables[6][(lo >> 8) & 0xffu] ^ kTables[5][(lo >> 16) & 0xffu] ^
        kTables[4][lo >> 24] ^ kTables[3][hi & 0xffu] ^ kTables[2][(hi >> 8) & 0xffu] ^
        kTables[1][(hi >> 16) & 0xffu] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = Byte(c, *p++);
    --n;
  }
  return ~c;
}

uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n) {
#if defined(__x86_64__)
  return ExtendSse42(crc, data, n);
#else
  return ExtendPortable(crc, data, n);
#endif
}

bool HardwareAvailable() {
  static const bool available = DetectHardware();
  return available;
}

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  // Chosen once; a function-local static is initialised thread-safely and
  // works even if Extend is first called from another static initialiser.
  static const ExtendFn fn = ChooseExtend();
  return fn(crc, data, n);
}

}  // namespace omendb::util::crc32c
