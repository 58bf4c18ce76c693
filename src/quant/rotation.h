// The random orthogonal transform RaBitQ applies to data, centres and queries
// (RaBitQ, Gao & Long, SIGMOD 2024, section 3.1.3: "P is a random orthogonal
// matrix"; Extended RaBitQ reuses it unchanged).
//
// A dense Haar-random matrix costs D_pad^2 floats and O(D_pad^2) per vector,
// too slow for a per-query rotation at D ~ 800 (the graph prepares one query
// per search). This is the structured transform of algorithms.md 1.3 step 3b
// ("FHT + Kac's walk"): on n = D padded up to a multiple of 64, with
// h = the largest power of two <= n, each of 4 rounds
//   1. flips the sign of every coordinate with a stored Rademacher vector,
//   2. applies the orthonormal Walsh-Hadamard transform to the first h
//      coordinates (even rounds) or the last h (odd rounds),
//   3. if h < n, rotates every pair (i, i + n/2) by pi/4 (a Givens rotation,
//      one step of Kac's walk), which mixes the coordinates the Hadamard
//      block did not touch into it.
// Every step is orthogonal on all n coordinates, so the whole transform is an
// exact isometry of R^n for every n (up to float rounding), unlike a
// pad-to-power-of-two-and-truncate Hadamard (algorithms.md pitfall 1.11.4).
// All n output coordinates are kept: vectors are zero-padded to n on input
// and codes have n dimensions.
//
// Deviation from a Haar-random P: the transform is only approximately Haar
// distributed. Tests check orthogonality numerically for every supported D
// and that a unit basis vector is spread over all coordinates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "omendb/status.h"
#include "simd/distance.h"

namespace omendb::quant {

// D rounded up to a multiple of 64 (RaBitQ pads codes to whole 64-bit words).
inline constexpr uint32_t PaddedDim(uint32_t dim) { return (dim + 63u) / 64u * 64u; }

class Rotation {
 public:
  static constexpr uint32_t kRounds = 4;

  Rotation() = default;

  // The rotation for `dim`-dimensional inputs drawn from `seed`: the same
  // (dim, seed) always gives the same transform, on every platform (the sign
  // vectors come from a fixed splitmix64 stream, not from <random>).
  static Rotation Make(uint32_t dim, uint64_t seed);

  uint32_t dim() const { return dim_; }
  uint32_t padded_dim() const { return n_; }

  // out[0..padded_dim()) = P * (x[0..dim), 0, ..., 0). `out` must not alias
  // `x`. Does not allocate; safe to call concurrently.
  void Apply(const float* x, float* out) const;
  // v[0..padded_dim()) = P * v.
  void ApplyInPlace(float* v) const;
  // v = P^T * v (the inverse), for tests and diagnostics.
  void InverseInPlace(float* v) const;
  // ApplyInPlace with the code for `isa` (which the CPU must support), for
  // tests: every ISA's transform is bit-identical.
  void ApplyInPlaceWith(simd::Isa isa, float* v) const;

  // Appends the transform: u8 kind (1 = Hadamard + Kac walk), u8 rounds,
  // then rounds * padded_dim / 8 bytes of sign bits (bit j of byte i is the
  // sign of coordinate 8i + j of that round, 1 = negate).
  void Serialize(std::string* out) const;
  // Reads what Serialize wrote for a `dim`-dimensional rotation from the
  // front of *in and advances it. Corruption for a truncated or malformed
  // encoding; NotSupported for an unknown kind.
  static Result<Rotation> Read(uint32_t dim, std::string_view* in);

  friend bool operator==(const Rotation& a, const Rotation& b) {
    return a.dim_ == b.dim_ && a.n_ == b.n_ && a.signs_ == b.signs_;
  }

 private:
  uint32_t dim_ = 0;
  uint32_t n_ = 0;  // padded dimension
  uint32_t h_ = 0;  // Hadamard block: largest power of two <= n_
  // kRounds * n_ / 64 words; bit j of word w of round r negates coordinate
  // 64 w + j in round r.
  std::vector<uint64_t> signs_;
};

}  // namespace omendb::quant
