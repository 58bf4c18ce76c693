// AVX-512 RaBitQ kernels, with and without VNNI. Every function carries its
// own target attribute (as in simd/kernels_avx512.cc) so the rest of the
// binary stays runnable on CPUs without AVX-512; the bodies are in
// rabitq_kernels_avx512.inc, compiled once per target.
#include <cpuid.h>

#include <cmath>
#include <utility>

#include "quant/rabitq_kernels.h"

// GCC 12's AVX-512 intrinsics pass _mm256_undefined_si256() /
// _mm512_undefined_epi32() (a self-initialised variable) as the merge source
// of unmasked conversions, broadcasts, rotates and extracts, and then report
// it as (maybe) uninitialised in every caller. simd/kernels_avx512.cc dodges
// this by choosing intrinsics; these kernels need too many of them, so the
// two warnings are silenced for the kernel bodies only.
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace omendb::quant::rabitq_internal {
namespace {

#define RQ_NS avx512_base
#define RQ_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"
#define RQ_VNNI 0
#include "quant/rabitq_kernels_avx512.inc"
#undef RQ_NS
#undef RQ_TARGET
#undef RQ_VNNI

#define RQ_NS avx512_vnni
#define RQ_TARGET "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma"
#define RQ_VNNI 1
#include "quant/rabitq_kernels_avx512.inc"
#undef RQ_NS
#undef RQ_TARGET
#undef RQ_VNNI

constexpr RaBitQKernels kAvx512 =
    avx512_base::MakeTable("avx512", std::make_index_sequence<kRaBitQMaxBits + 1>());
constexpr RaBitQKernels kAvx512Vnni =
    avx512_vnni::MakeTable("avx512vnni", std::make_index_sequence<kRaBitQMaxBits + 1>());

}  // namespace

#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

const RaBitQKernels& Avx512Table() { return kAvx512; }
const RaBitQKernels& Avx512VnniTable() { return kAvx512Vnni; }

}  // namespace omendb::quant::rabitq_internal

namespace omendb::quant {

bool RaBitQHasVnni() {
  static const bool vnni = [] {
    // AVX-512 VNNI is CPUID leaf 7, sub-leaf 0, ECX bit 11. The OS state it
    // needs (opmask and zmm) is the one simd::IsaSupported(kAvx512) checks.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    return (ecx & (1u << 11)) != 0 && simd::IsaSupported(simd::Isa::kAvx512);
  }();
  return vnni;
}

}  // namespace omendb::quant
