// Run-time ISA detection and kernel-table selection.
#include "simd/distance.h"

#include <cpuid.h>

#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "simd/kernels_internal.h"

namespace omendb::simd {
namespace {

// XCR0 bits the OS sets when it saves/restores a register state on context
// switch. CPUID only says the CPU has the instructions; without these bits the
// OS would lose the upper register halves, so the ISA must not be used.
constexpr uint64_t kXcr0Sse = 1u << 1;
constexpr uint64_t kXcr0Ymm = 1u << 2;
constexpr uint64_t kXcr0Opmask = 1u << 5;
constexpr uint64_t kXcr0ZmmHi256 = 1u << 6;
constexpr uint64_t kXcr0Hi16Zmm = 1u << 7;

uint64_t ReadXcr0() {
  // Raw xgetbv rather than _xgetbv(), which would need the xsave target.
  uint32_t lo = 0;
  uint32_t hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Isa DetectUncached() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return Isa::kScalar;
  const bool fma = (ecx & bit_FMA) != 0;
  const bool avx = (ecx & bit_AVX) != 0;
  // xgetbv itself is only legal when the OS has enabled XSAVE (OSXSAVE).
  if (!avx || (ecx & bit_OSXSAVE) == 0) return Isa::kScalar;
  const uint64_t xcr0 = ReadXcr0();
  const uint64_t ymm_state = kXcr0Sse | kXcr0Ymm;
  if ((xcr0 & ymm_state) != ymm_state) return Isa::kScalar;

  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return Isa::kScalar;
  const bool avx2 = (ebx & bit_AVX2) != 0;
  if (!avx2 || !fma) return Isa::kScalar;

  const unsigned avx512_bits = bit_AVX512F | bit_AVX512BW | bit_AVX512DQ | bit_AVX512VL;
  const uint64_t zmm_state = ymm_state | kXcr0Opmask | kXcr0ZmmHi256 | kXcr0Hi16Zmm;
  if ((ebx & avx512_bits) == avx512_bits && (xcr0 & zmm_state) == zmm_state) return Isa::kAvx512;
  return Isa::kAvx2;
}

bool EqualsIgnoreCase(const char* s, const char* lower) {
  for (; *s != '\0' && *lower != '\0'; ++s, ++lower) {
    const char c = (*s >= 'A' && *s <= 'Z') ? static_cast<char>(*s - 'A' + 'a') : *s;
    if (c != *lower) return false;
  }
  return *s == '\0' && *lower == '\0';
}

}  // namespace

Isa DetectCpuIsa() {
  static const Isa isa = DetectUncached();
  return isa;
}

Isa ParseIsaOverride(const char* env, Isa best) {
  if (env == nullptr) return best;
  Isa wanted;
  if (EqualsIgnoreCase(env, "scalar")) {
    wanted = Isa::kScalar;
  } else if (EqualsIgnoreCase(env, "avx2")) {
    wanted = Isa::kAvx2;
  } else if (EqualsIgnoreCase(env, "avx512")) {
    wanted = Isa::kAvx512;
  } else {
    // Unknown values are ignored rather than reported: this runs inside
    // library initialisation, which has no way to return an error.
    return best;
  }
  // Never raise: asking for avx512 on an AVX2-only CPU must not select
  // kernels that would die with SIGILL.
  return static_cast<int>(wanted) < static_cast<int>(best) ? wanted : best;
}

Isa ResolveIsa() { return ParseIsaOverride(std::getenv("OMENDB_ISA"), DetectCpuIsa()); }

Isa BestIsa() {
  static const Isa isa = ResolveIsa();
  return isa;
}

bool IsaSupported(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(DetectCpuIsa()); }

const Kernels& KernelsFor(Isa isa) {
  assert(IsaSupported(isa));
  switch (isa) {
    case Isa::kAvx512: return Avx512Kernels();
    case Isa::kAvx2: return Avx2Kernels();
    case Isa::kScalar: break;
  }
  return ScalarKernels();
}

const Kernels& BestKernels() {
  static const Kernels& kernels = KernelsFor(BestIsa());
  return kernels;
}

float CosineDistance(const Kernels& k, const float* a, const float* b, size_t dim) {
  const float ab = k.dot(a, b, dim);
  const float aa = k.dot(a, a, dim);
  const float bb = k.dot(b, b, dim);
  if (aa == 0.0f || bb == 0.0f) return 1.0f;
  // Combine in double: aa * bb can overflow or underflow float even when the
  // cosine itself is well defined.
  const double denom = std::sqrt(static_cast<double>(aa) * static_cast<double>(bb));
  return static_cast<float>(1.0 - static_cast<double>(ab) / denom);
}

}  // namespace omendb::simd
