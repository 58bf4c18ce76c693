// The Extended RaBitQ codec: training (rotation, mean, k-means centres),
// encoding (sign bits, grid-scale code search, correction factors), query
// preparation, the error-bound lower bound, FastScan tables and the
// serialized form. The estimator's formulas and the code layout are
// documented in rabitq.h; the per-code kernels are in rabitq_kernels_*.cc.
#include "quant/rabitq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "quant/rabitq_kernels.h"
#include "util/coding.h"

namespace omendb::quant {

using rabitq_internal::FieldBlockOffset;
using rabitq_internal::FieldValue;
using rabitq_internal::kFieldSpecs;

// ---------------------------------------------------------------------------
// Layout and packing.

RaBitQLayout MakeRaBitQLayout(uint32_t dim, uint32_t bits) {
  RaBitQLayout l;
  l.dim = dim;
  l.dp = PaddedDim(dim);
  l.bits = bits;
  l.ex_bits = bits - 1;
  const rabitq_internal::FieldSpec& s = kFieldSpecs[l.ex_bits];
  l.num_fields = s.n;
  for (uint32_t f = 0; f < s.n; ++f) {
    l.fields[f] = ExField{s.width[f], s.shift[f], size_t{s.before[f]} * l.dp / 8};
  }
  l.sign_offset = kCodeFactorBytes;
  l.ex_offset = kCodeFactorBytes + l.dp / 8;
  l.bin_offset = rabitq_internal::BinOffsetOf(l.dp, bits);
  l.code_bytes = rabitq_internal::CodeBytesOf(l.dp, bits);
  return l;
}

void PackExBits(const RaBitQLayout& l, const uint8_t* ex, uint8_t* ex_area) {
  std::memset(ex_area, 0, size_t{l.dp} * l.ex_bits / 8);
  for (uint32_t f = 0; f < l.num_fields; ++f) {
    const uint32_t w = l.fields[f].width;
    const uint32_t mask = (1u << w) - 1;
    for (size_t k = 0; k < l.dp / 64; ++k) {
      uint8_t* blk = ex_area + FieldBlockOffset(l.ex_bits, f, l.dp, k);
      for (uint32_t d = 0; d < 64; ++d) {
        const uint32_t v = (ex[64 * k + d] >> l.fields[f].shift) & mask;
        switch (w) {
          case 8: blk[d] = static_cast<uint8_t>(v); break;
          case 4: blk[d % 32] = static_cast<uint8_t>(blk[d % 32] | (v << (4 * (d / 32)))); break;
          case 2: blk[d % 16] = static_cast<uint8_t>(blk[d % 16] | (v << (2 * (d / 16)))); break;
          case 1: blk[d / 8] = static_cast<uint8_t>(blk[d / 8] | (v << (d % 8))); break;
          default: break;
        }
      }
    }
  }
}

void UnpackExBits(const RaBitQLayout& l, const uint8_t* ex_area, uint8_t* ex) {
  for (size_t k = 0; k < l.dp / 64; ++k) {
    rabitq_internal::DecodeExBlock(ex_area, l.ex_bits, l.dp, k, ex + 64 * k);
  }
}

void UnpackCode(const RaBitQLayout& l, const uint8_t* code, uint16_t* xu) {
  uint8_t ex[64];
  for (size_t k = 0; k < l.dp / 64; ++k) {
    rabitq_internal::DecodeExBlock(code + l.ex_offset, l.ex_bits, l.dp, k, ex);
    const uint64_t s = rabitq_internal::LoadU64(code + l.sign_offset + 8 * k);
    for (uint32_t d = 0; d < 64; ++d) {
      xu[64 * k + d] = static_cast<uint16_t>((((s >> d) & 1u) << l.ex_bits) + ex[d]);
    }
  }
}

// ---------------------------------------------------------------------------
// Grid-scale code search (Extended RaBitQ, algorithms.md 1.6 step 3).

double GridCosine(const float* a, const uint8_t* y, size_t n) {
  double num = 0, gg = 0, aa = 0;
  for (size_t i = 0; i < n; ++i) {
    const double g = y[i] + 0.5;
    num += g * a[i];
    gg += g * g;
    aa += double{a[i]} * a[i];
  }
  if (gg == 0 || aa == 0) return 0;
  return num / std::sqrt(gg * aa);
}

double GridScaleEnd(const float* a, size_t n, uint32_t ex_bits) {
  float maxa = 0;
  for (size_t i = 0; i < n; ++i) maxa = std::max(maxa, a[i]);
  if (maxa <= 0) return 0;
  return (static_cast<double>((1u << ex_bits) - 1) + 10.0) / maxa;
}

double FixedScaleCode(const float* a, size_t n, uint32_t ex_bits, double t, uint8_t* y) {
  const double top = static_cast<double>((1u << ex_bits) - 1);
  for (size_t i = 0; i < n; ++i) {
    const double v = std::floor(t * a[i]);
    y[i] = static_cast<uint8_t>(v >= top ? top : (v > 0 ? v : 0));
  }
  return GridCosine(a, y, n);
}

namespace {

// Critical point: y_i becomes `level` at t = level / a_i.
struct Event {
  double t;
  uint32_t i;
};
inline bool Later(const Event& x, const Event& y) { return x.t > y.t || (x.t == y.t && x.i > y.i); }

// Binary min-heap on (t, i) with in-place replacement of the top: most pops
// are followed by a push of the same coordinate's next critical point.
class EventHeap {
 public:
  explicit EventHeap(std::vector<Event> v) : h_(std::move(v)) {
    for (size_t i = h_.size() / 2; i-- > 0;) SiftDown(i);
  }
  bool empty() const { return h_.empty(); }
  const Event& top() const { return h_[0]; }
  void ReplaceTop(Event e) {
    h_[0] = e;
    SiftDown(0);
  }
  void Pop() {
    h_[0] = h_.back();
    h_.pop_back();
    if (!h_.empty()) SiftDown(0);
  }

 private:
  void SiftDown(size_t i) {
    const size_t n = h_.size();
    const Event e = h_[i];
    for (;;) {
      size_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && Later(h_[c], h_[c + 1])) ++c;
      if (!Later(e, h_[c])) break;
      h_[i] = h_[c];
      i = c;
    }
    h_[i] = e;
  }
  std::vector<Event> h_;
};

}  // namespace

double SearchGridScale(const float* a, size_t n, uint32_t ex_bits, uint8_t* y, double* t_best) {
  std::memset(y, 0, n);
  if (t_best != nullptr) *t_best = 0;
  const double t_end = GridScaleEnd(a, n, ex_bits);
  if (ex_bits == 0 || t_end <= 0) return GridCosine(a, y, n);
  const uint32_t top = (1u << ex_bits) - 1;

  std::vector<Event> init;
  init.reserve(n);
  double num = 0;  // sum (y_i + 1/2) a_i
  for (size_t i = 0; i < n; ++i) {
    num += 0.5 * a[i];
    if (a[i] > 0) {
      const double t = 1.0 / static_cast<double>(a[i]);
      if (t <= t_end) init.push_back({t, static_cast<uint32_t>(i)});
    }
  }
  // 4 * sum (y_i + 1/2)^2 = sum (2 y_i + 1)^2, kept as an exact integer.
  int64_t den4 = static_cast<int64_t>(n);
  double best = num / std::sqrt(0.25 * static_cast<double>(den4));
  double best_t = 0;

  std::vector<uint8_t> cur(n, 0);
  EventHeap heap(std::move(init));
  while (!heap.empty()) {
    const double t = heap.top().t;
    // Apply every event at this t before evaluating: the states between
    // simultaneous events are not reachable by any t.
    do {
      const uint32_t i = heap.top().i;
      const uint32_t level = ++cur[i];
      num += a[i];
      den4 += 8 * static_cast<int64_t>(level);  // (2y+1)^2 - (2y-1)^2 = 8y
      const double next = static_cast<double>(level + 1) / static_cast<double>(a[i]);
      if (level < top && next <= t_end) {
        heap.ReplaceTop({next, i});
      } else {
        heap.Pop();
      }
    } while (!heap.empty() && heap.top().t == t);
    const double f = num / std::sqrt(0.25 * static_cast<double>(den4));
    if (f > best) {
      best = f;
      best_t = t;
    }
  }

  // Rebuild the best state: y_i = the number of coordinate i's critical
  // points at or before best_t, using the same division as the events.
  if (best_t > 0) {
    for (size_t i = 0; i < n; ++i) {
      if (a[i] <= 0) continue;
      const double ai = a[i];
      double k = std::min(std::floor(best_t * ai), static_cast<double>(top));
      if (k < 0) k = 0;
      while (k < top && (k + 1) / ai <= best_t) k += 1;
      while (k > 0 && k / ai > best_t) k -= 1;
      y[i] = static_cast<uint8_t>(k);
    }
  }
  if (t_best != nullptr) *t_best = best_t;
  return GridCosine(a, y, n);
}

// ---------------------------------------------------------------------------
// Training helpers.

namespace {

// Version 2: B >= 2 codes end with the sign plane's 1-bit factors, so the
// codes a version 1 codec described (without them) are not readable by this
// one; version 1 is refused (NotSupported) rather than misread.
constexpr uint8_t kBodyVersion = 2;
constexpr uint8_t kFlagFastEncode = 1;

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Uniform in [0, 1) from the top 53 bits.
double Uniform(uint64_t* state) { return static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53; }
// Standard normal (Box-Muller); portable, unlike <random>'s distributions.
double Normal(uint64_t* state) {
  const double u1 = 1.0 - Uniform(state);
  const double u2 = Uniform(state);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

float Finite(float v) { return std::isfinite(v) ? v : 0.0f; }

// Lloyd's k-means on `sample` (m x dim), k-means++ seeding. Returns k
// centres (k x dim). Empty clusters take the point farthest from its centre.
std::vector<float> KMeans(const std::vector<float>& sample, size_t m, uint32_t dim, uint32_t k,
                          uint64_t seed) {
  const simd::Kernels& kern = simd::BestKernels();
  std::vector<float> centres(size_t{k} * dim);
  uint64_t rng = seed ^ 0x6B6D65616E73ull;  // "kmeans"
  std::vector<double> d2(m, std::numeric_limits<double>::max());
  size_t first = static_cast<size_t>(SplitMix64(&rng) % m);
  std::memcpy(centres.data(), &sample[first * dim], dim * sizeof(float));
  for (uint32_t c = 1; c < k; ++c) {
    double total = 0;
    const float* prev = &centres[size_t{c - 1} * dim];
    for (size_t i = 0; i < m; ++i) {
      d2[i] = std::min(d2[i], static_cast<double>(kern.l2sq(&sample[i * dim], prev, dim)));
      total += d2[i];
    }
    size_t pick = 0;
    if (total > 0) {
      double r = Uniform(&rng) * total;
      for (pick = 0; pick + 1 < m; ++pick) {
        r -= d2[pick];
        if (r < 0) break;
      }
    } else {
      pick = static_cast<size_t>(SplitMix64(&rng) % m);
    }
    std::memcpy(&centres[size_t{c} * dim], &sample[pick * dim], dim * sizeof(float));
  }

  std::vector<uint32_t> assign(m, 0);
  std::vector<double> sums(size_t{k} * dim);
  std::vector<size_t> counts(k);
  for (int iter = 0; iter < 10; ++iter) {
    for (size_t i = 0; i < m; ++i) {
      float best = std::numeric_limits<float>::max();
      for (uint32_t c = 0; c < k; ++c) {
        const float d = kern.l2sq(&sample[i * dim], &centres[size_t{c} * dim], dim);
        if (d < best) {
          best = d;
          assign[i] = c;
        }
      }
      d2[i] = best;
    }
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (size_t i = 0; i < m; ++i) {
      ++counts[assign[i]];
      double* s = &sums[size_t{assign[i]} * dim];
      for (uint32_t j = 0; j < dim; ++j) s[j] += sample[i * dim + j];
    }
    for (uint32_t c = 0; c < k; ++c) {
      float* ctr = &centres[size_t{c} * dim];
      if (counts[c] == 0) {
        const size_t far = static_cast<size_t>(std::max_element(d2.begin(), d2.end()) - d2.begin());
        std::memcpy(ctr, &sample[far * dim], dim * sizeof(float));
        d2[far] = 0;
        continue;
      }
      const double inv = 1.0 / static_cast<double>(counts[c]);
      for (uint32_t j = 0; j < dim; ++j) ctr[j] = static_cast<float>(sums[size_t{c} * dim + j] * inv);
    }
  }
  return centres;
}

// The constant-t encoder's t: the mean optimal t of 100 random Gaussian unit
// vectors of dimension dp (algorithms.md 1.6 step 6), from a fixed seed so a
// codec always recomputes the same value.
double MeanOptimalScale(uint32_t dp, uint32_t ex_bits) {
  if (ex_bits == 0) return 0;
  uint64_t rng = 42;
  std::vector<float> a(dp);
  std::vector<uint8_t> y(dp);
  double total = 0;
  constexpr int kSamples = 100;
  for (int s = 0; s < kSamples; ++s) {
    double norm = 0;
    for (float& v : a) {
      v = static_cast<float>(Normal(&rng));
      norm += double{v} * v;
    }
    const double inv = 1.0 / std::sqrt(norm);
    for (float& v : a) v = static_cast<float>(std::fabs(v * inv));
    double t = 0;
    SearchGridScale(a.data(), dp, ex_bits, y.data(), &t);
    total += t;
  }
  return total / kSamples;
}

float RaBitQLower(const void* state, const uint8_t* code, float est) {
  return est - ErrorBound(state, ReadFactors(code));
}

}  // namespace

// ---------------------------------------------------------------------------
// The codec.

RaBitQCodec::RaBitQCodec(uint32_t bits, uint32_t dim, Metric metric)
    : layout_(MakeRaBitQLayout(dim, bits)), metric_(metric) {}

void RaBitQCodec::Finish() {
  const uint32_t dp = layout_.dp;
  offsets_.resize(size_t{num_centres_} * dp);
  for (uint32_t k = 0; k < num_centres_; ++k) {
    for (uint32_t i = 0; i < dp; ++i) {
      offsets_[size_t{k} * dp + i] = centres_[size_t{k} * dp + i] - mean_[i];
    }
  }
  kernels_ = &BestRaBitQKernels();
  dist = kernels_->dist[layout_.bits];
  batch = kernels_->batch[layout_.bits];
  batch_bounded = layout_.bits >= 2 ? kernels_->batch_bounded[layout_.bits] : nullptr;
  lower = &RaBitQLower;
}

Result<std::unique_ptr<RaBitQCodec>> RaBitQCodec::Train(uint32_t bits, uint32_t dim, Metric metric,
                                                        const float* data, size_t n, uint64_t seed,
                                                        const RaBitQOptions& options) {
  if (bits < kRaBitQMinBits || bits > kRaBitQMaxBits) {
    return Status::InvalidArgument("RaBitQ bits must be 1..9");
  }
  if (dim == 0 || dim > 65536) return Status::InvalidArgument("codec dim must be 1..65536");
  if (n > 0 && data == nullptr) return Status::InvalidArgument("codec training data is null");
  std::unique_ptr<RaBitQCodec> c(new RaBitQCodec(bits, dim, metric));
  const uint32_t dp = c->layout_.dp;
  c->seed_ = seed;
  c->rotation_ = Rotation::Make(dim, seed);

  // Global mean, in the input space (the rotation is linear).
  std::vector<float> mean(dim, 0.0f);
  if (n > 0) {
    std::vector<double> acc(dim, 0.0);
    for (size_t i = 0; i < n; ++i) {
      for (uint32_t j = 0; j < dim; ++j) acc[j] += Finite(data[i * dim + j]);
    }
    for (uint32_t j = 0; j < dim; ++j) mean[j] = static_cast<float>(acc[j] / static_cast<double>(n));
  }

  // Centres: k-means with up to max_centres on a sample, as RaBitQ-Library's
  // HNSW does with 16 (algorithms.md 1.3 step 1); at least 64 points per
  // centre, else the mean alone. The sample is capped so k-means costs at
  // most ~64M multiply-adds per iteration.
  const uint32_t max_k = std::clamp<uint32_t>(options.max_centres, 1, kRaBitQMaxCentres);
  const uint32_t k = static_cast<uint32_t>(std::clamp<size_t>(n / 64, 1, max_k));
  std::vector<float> centres;
  if (k == 1) {
    centres = mean;
  } else {
    const size_t budget = std::max<size_t>(size_t{16} * k, (size_t{64} << 20) / (size_t{k} * dim));
    const size_t m = std::min({n, size_t{256} * k, budget});
    std::vector<float> sample(m * dim);
    for (size_t i = 0; i < m; ++i) {
      const size_t row = i * n / m;  // evenly strided, deterministic
      for (uint32_t j = 0; j < dim; ++j) sample[i * dim + j] = Finite(data[row * dim + j]);
    }
    centres = KMeans(sample, m, dim, k, seed);
  }
  c->num_centres_ = k;
  c->mean_.resize(dp);
  c->rotation_.Apply(mean.data(), c->mean_.data());
  c->centres_.resize(size_t{k} * dp);
  for (uint32_t i = 0; i < k; ++i) {
    c->rotation_.Apply(&centres[size_t{i} * dim], &c->centres_[size_t{i} * dp]);
  }
  c->fast_encode_ = options.fast_encode;
  if (c->fast_encode_) c->fixed_t_ = static_cast<float>(MeanOptimalScale(dp, bits - 1));
  c->Finish();
  return c;
}

void RaBitQCodec::EncodeWithBinFactors(const float* x, uint8_t* code, RaBitQFactors* bin) const {
  const uint32_t dim = layout_.dim;
  const uint32_t dp = layout_.dp;
  const uint32_t b = layout_.ex_bits;
  std::vector<float> buf(size_t{dp} * 3);
  float* xr = buf.data();        // P x
  float* r = buf.data() + dp;    // residual
  float* a = buf.data() + 2 * dp;  // |r| / ||r||
  for (uint32_t i = 0; i < dim; ++i) r[i] = Finite(x[i]);
  rotation_.Apply(r, xr);

  // Nearest centre (smallest residual, hence smallest error bound).
  const simd::Kernels& kern = simd::BestKernels();
  uint32_t cid = 0;
  float best = std::numeric_limits<float>::max();
  for (uint32_t k = 0; k < num_centres_; ++k) {
    const float d = kern.l2sq(xr, &centres_[size_t{k} * dp], dp);
    if (d < best) {
      best = d;
      cid = k;
    }
  }
  const float* c = &centres_[size_t{cid} * dp];
  const float* off = &offsets_[size_t{cid} * dp];
  double norm2 = 0;
  for (uint32_t i = 0; i < dp; ++i) {
    r[i] = xr[i] - c[i];
    norm2 += double{r[i]} * r[i];
  }
  const double norm = std::sqrt(norm2);

  std::memset(code, 0, layout_.code_bytes);
  uint8_t* sign = code + layout_.sign_offset;
  std::vector<uint8_t> y(dp, 0);
  if (norm > 0) {
    const double inv = 1.0 / norm;
    for (uint32_t i = 0; i < dp; ++i) a[i] = static_cast<float>(std::fabs(r[i]) * inv);
    if (b > 0) {
      if (fast_encode_) {
        FixedScaleCode(a, dp, b, fixed_t_, y.data());
      } else {
        SearchGridScale(a, dp, b, y.data());
      }
    }
  }
  const uint32_t top = (1u << b) - 1;
  std::vector<uint8_t> ex(dp);
  double ip_gr = 0, gg = 0, ip_goff = 0;     // <g, r>, |g|^2, <g, c'_k - m'>
  double ip_g1r = 0, ip_g1off = 0, ip_rc = 0;  // the same for g1 = s - 1/2; <r, c'_k>
  for (uint32_t i = 0; i < dp; ++i) {
    const bool pos = r[i] >= 0;
    if (pos) sign[i / 8] = static_cast<uint8_t>(sign[i / 8] | (1u << (i % 8)));
    ex[i] = static_cast<uint8_t>(pos ? y[i] : top - y[i]);
    const double mag = y[i] + 0.5;
    const double g = pos ? mag : -mag;
    ip_gr += mag * std::fabs(r[i]);
    gg += mag * mag;
    ip_goff += g * off[i];
    ip_g1r += 0.5 * std::fabs(r[i]);
    ip_g1off += (pos ? 0.5 : -0.5) * off[i];
    ip_rc += double{r[i]} * c[i];
  }
  if (b > 0) PackExBits(layout_, ex.data(), code + layout_.ex_offset);

  // Correction factors (rabitq.h; algorithms.md 1.3 step 5 and 1.6 step 5).
  // A vector equal to its centre has r = 0: the estimate is then exact with
  // F_rescale = 0 (the library's "ip_rg == 0" guard).
  const bool l2 = metric_ == Metric::kL2;
  const double sqrt_dm1 = std::sqrt(static_cast<double>(dp) - 1.0);
  auto factors = [&](double ip, double g2, double goff) {
    RaBitQFactors f;
    f.centre = cid;
    if (norm2 == 0 || ip <= 0) {
      f.add = l2 ? 0.0f : static_cast<float>(1.0 - ip_rc);
      return f;
    }
    const double scale = norm2 / ip;  // |r|^2 / <g, r>
    const double ratio = norm2 * g2 / (ip * ip);  // 1 / <o_bar, o>^2
    const double err = kRaBitQEpsilon0 * std::sqrt(std::max(0.0, ratio - 1.0)) / sqrt_dm1 * norm;
    if (l2) {
      f.add = static_cast<float>(norm2 + 2.0 * scale * goff);
      f.rescale = static_cast<float>(-2.0 * scale);
      f.err = static_cast<float>(2.0 * err);
    } else {
      f.add = static_cast<float>(1.0 - ip_rc + scale * goff);
      f.rescale = static_cast<float>(-scale);
      f.err = static_cast<float>(err);
    }
    return f;
  };
  const RaBitQFactors f = factors(ip_gr, gg, ip_goff);
  std::memcpy(code, &f.add, 4);
  std::memcpy(code + 4, &f.rescale, 4);
  std::memcpy(code + 8, &f.err, 4);
  code[12] = static_cast<uint8_t>(cid);
  if (bin != nullptr || layout_.bin_offset != 0) {
    const RaBitQFactors f1 = factors(ip_g1r, 0.25 * dp, ip_g1off);
    if (bin != nullptr) *bin = f1;
    if (layout_.bin_offset != 0) {
      std::memcpy(code + layout_.bin_offset, &f1.add, 4);
      std::memcpy(code + layout_.bin_offset + 4, &f1.rescale, 4);
      std::memcpy(code + layout_.bin_offset + 8, &f1.err, 4);
    }
  }
}

void RaBitQCodec::PrepareQuery(const float* q, void* state) const {
  const uint32_t dp = layout_.dp;
  const uint32_t bits = layout_.bits;
  auto* h = static_cast<RaBitQQuery*>(state);
  auto* u = reinterpret_cast<float*>(static_cast<uint8_t*>(state) + QueryFloatOffset(dp, bits));
  rotation_.Apply(q, u);  // u = q' for now

  // Per-centre terms (algorithms.md 1.4 step 2), from q' before the mean is
  // subtracted. The float kernels run at SIMD speed; K <= 16.
  const simd::Kernels& kern = simd::BestKernels();
  for (uint32_t k = 0; k < kRaBitQMaxCentres; ++k) {
    if (k >= num_centres_) {
      h->g_add[k] = 0;
      h->g_err[k] = 0;
      continue;
    }
    const float* c = &centres_[size_t{k} * dp];
    const float d2 = kern.l2sq(u, c, dp);
    h->g_err[k] = std::sqrt(d2);
    h->g_add[k] = metric_ == Metric::kL2 ? d2 : -kern.dot(u, c, dp);
  }

  // u = q' - m'; symmetric quantisation u ~ delta * u~ (per ISA, same bits).
  const QueryIntsInfo qi = kernels_->prepare_ints(
      u, mean_.data(), dp, QueryIsInt16(bits), static_cast<uint8_t*>(state) + kQueryIntsOffset);
  const double delta = qi.delta;
  const double sum_u = qi.sum_u;
  const int64_t sum_i = qi.sum_ints;
  h->dp = dp;
  h->bits = bits;
  h->ex_bits = bits - 1;
  h->num_centres = num_centres_;
  h->delta = delta;
  h->bias = -0.5 * static_cast<double>((1u << bits) - 1) * static_cast<double>(sum_i);
  h->sum_u = sum_u;
  h->bin_bias = -0.5 * static_cast<double>(sum_i);
}

RaBitQCodec::Estimate RaBitQCodec::EstimateExact(const void* state, const uint8_t* code) const {
  const auto* h = static_cast<const RaBitQQuery*>(state);
  const float* u = QueryFloats(state);
  std::vector<uint16_t> xu(layout_.dp);
  UnpackCode(layout_, code, xu.data());
  const double cb = -0.5 * static_cast<double>((1u << layout_.bits) - 1);
  double gu = 0;
  for (uint32_t i = 0; i < layout_.dp; ++i) gu += (xu[i] + cb) * double{u[i]};
  const RaBitQFactors f = ReadFactors(code);
  return Estimate{double{f.add} + h->g_add[f.centre] + double{f.rescale} * gu,
                  double{f.err} * h->g_err[f.centre]};
}

void RaBitQCodec::Serialize(std::string* out) const {
  PutCodecHeader(out, CodecHeader{quantization(), metric_, kBodyVersion, layout_.dim});
  out->push_back(static_cast<char>(fast_encode_ ? kFlagFastEncode : 0));
  out->push_back(static_cast<char>(num_centres_));
  out->push_back(0);
  out->push_back(0);
  util::PutFixed64(out, seed_);
  uint32_t bits32;
  std::memcpy(&bits32, &fixed_t_, 4);
  util::PutFixed32(out, bits32);
  rotation_.Serialize(out);
  auto put_floats = [out](const std::vector<float>& v) {
    for (float f : v) {
      uint32_t w;
      std::memcpy(&w, &f, 4);
      util::PutFixed32(out, w);
    }
  };
  put_floats(mean_);
  put_floats(centres_);
}

Result<std::unique_ptr<RaBitQCodec>> RaBitQCodec::Read(const CodecHeader& h, std::string_view body) {
  if (h.version != kBodyVersion) return Status::NotSupported("rabitq codec: unknown version");
  if (h.quant.bits < kRaBitQMinBits || h.quant.bits > kRaBitQMaxBits) {
    return Status::Corruption("rabitq codec: bad bits");
  }
  if (h.dim == 0 || h.dim > 65536) return Status::Corruption("rabitq codec: bad dim");
  if (h.metric != Metric::kL2 && h.metric != Metric::kInnerProduct && h.metric != Metric::kCosine) {
    return Status::Corruption("rabitq codec: bad metric");
  }
  std::unique_ptr<RaBitQCodec> c(new RaBitQCodec(h.quant.bits, h.dim, h.metric));
  const uint32_t dp = c->layout_.dp;
  constexpr size_t kFixed = 4 + 8 + 4;
  if (body.size() < kFixed) return Status::Corruption("rabitq codec: truncated");
  const auto flags = static_cast<uint8_t>(body[0]);
  const auto k = static_cast<uint8_t>(body[1]);
  if ((flags & ~kFlagFastEncode) != 0 || body[2] != 0 || body[3] != 0) {
    return Status::Corruption("rabitq codec: bad flags");
  }
  if (k < 1 || k > kRaBitQMaxCentres) return Status::Corruption("rabitq codec: bad centre count");
  c->fast_encode_ = (flags & kFlagFastEncode) != 0;
  c->num_centres_ = k;
  c->seed_ = util::DecodeFixed64(body.data() + 4);
  const uint32_t tbits = util::DecodeFixed32(body.data() + 12);
  std::memcpy(&c->fixed_t_, &tbits, 4);
  if (!std::isfinite(c->fixed_t_) || c->fixed_t_ < 0 ||
      (c->fast_encode_ && h.quant.bits > 1 && !(c->fixed_t_ > 0))) {
    return Status::Corruption("rabitq codec: bad encoder scale");
  }
  body.remove_prefix(kFixed);
  auto rot = Rotation::Read(h.dim, &body);
  if (!rot.ok()) return Status::Corruption("rabitq codec: " + rot.status().message());
  c->rotation_ = std::move(*rot);
  const size_t floats = size_t{dp} * (1 + k);
  if (body.size() != floats * 4) return Status::Corruption("rabitq codec: bad body size");
  c->mean_.resize(dp);
  c->centres_.resize(size_t{k} * dp);
  for (size_t i = 0; i < floats; ++i) {
    const uint32_t w = util::DecodeFixed32(body.data() + 4 * i);
    float f;
    std::memcpy(&f, &w, 4);
    if (!std::isfinite(f)) return Status::Corruption("rabitq codec: non-finite parameter");
    if (i < dp) {
      c->mean_[i] = f;
    } else {
      c->centres_[i - dp] = f;
    }
  }
  c->Finish();
  return c;
}

// ---------------------------------------------------------------------------
// FastScan tables.

void PackFastScanBlock(const RaBitQLayout& l, const uint8_t* const* codes, size_t n,
                       uint8_t* block) {
  std::memset(block, 0, FastScanBlockBytes(l.dp));
  for (size_t i = 0; i < n && i < kFastScanBatch; ++i) {
    const uint8_t* plane = codes[i] + l.sign_offset;
    for (size_t g = 0; g < l.dp / 4; ++g) {
      const uint32_t nib = (plane[g / 2] >> (4 * (g % 2))) & 0xFu;
      uint8_t& dst = block[64 * (g / 4) + 16 * (g % 4) + (i % 16)];
      dst = static_cast<uint8_t>(dst | (i < 16 ? nib : nib << 4));
    }
  }
}

void PrepareFastScanLut(const void* query_state, void* lut) {
  const auto* q = static_cast<const RaBitQQuery*>(query_state);
  const float* u = QueryFloats(query_state);
  const uint32_t dp = q->dp;
  auto* h = static_cast<FastScanLut*>(lut);
  uint8_t* table = static_cast<uint8_t*>(lut) + 64;
  // One step for all groups: the largest group range (sum |u_j|) / 255.
  float range = 0;
  for (size_t g = 0; g < dp / 4; ++g) {
    float r = 0;
    for (size_t j = 0; j < 4; ++j) r += std::fabs(u[4 * g + j]);
    range = std::max(range, r);
  }
  const float step = range > 0 && std::isfinite(range) ? range / 255.0f : 1.0f;
  const float inv = 1.0f / step;
  double offset = 0;
  for (size_t g = 0; g < dp / 4; ++g) {
    const float* ug = u + 4 * g;
    float lo = 0;
    for (size_t j = 0; j < 4; ++j) lo += std::min(ug[j], 0.0f);
    offset += lo;
    uint8_t* t = table + 64 * (g / 4) + 16 * (g % 4);
    for (uint32_t v = 0; v < 16; ++v) {
      float s = 0;
      for (uint32_t j = 0; j < 4; ++j) {
        if ((v >> j) & 1u) s += ug[j];
      }
      float e = std::nearbyint((s - lo) * inv);
      if (!(e >= 0)) e = 0;
      if (e > 255) e = 255;
      t[v] = static_cast<uint8_t>(e);
    }
  }
  h->dp = dp;
  h->step = step;
  h->offset = offset;
  h->max_error = static_cast<double>(dp / 4) * step * 0.5;
}

void FastScanToIp(const void* lut, const uint32_t* sums, float* ip_bin) {
  const auto* h = static_cast<const FastScanLut*>(lut);
  for (size_t i = 0; i < kFastScanBatch; ++i) {
    ip_bin[i] = static_cast<float>(h->offset + double{h->step} * sums[i]);
  }
}

// ---------------------------------------------------------------------------
// Kernel selection.

const RaBitQKernels& RaBitQScalarKernels() { return rabitq_internal::ScalarTable(); }
const RaBitQKernels& RaBitQAvx2Kernels() { return rabitq_internal::Avx2Table(); }
const RaBitQKernels& RaBitQAvx512Kernels(bool vnni) {
  return vnni ? rabitq_internal::Avx512VnniTable() : rabitq_internal::Avx512Table();
}

const RaBitQKernels& BestRaBitQKernels() {
  static const RaBitQKernels* const k = [] {
    switch (simd::BestIsa()) {
      case simd::Isa::kAvx512: return &RaBitQAvx512Kernels(RaBitQHasVnni());
      case simd::Isa::kAvx2: return &RaBitQAvx2Kernels();
      case simd::Isa::kScalar: break;
    }
    return &RaBitQScalarKernels();
  }();
  return *k;
}

// ---------------------------------------------------------------------------
// Factories (codecs_internal.h).

Result<std::unique_ptr<Codec>> TrainRaBitQCodec(uint32_t bits, uint32_t dim, Metric metric,
                                                const float* data, size_t n, uint64_t seed) {
  OMENDB_ASSIGN_OR_RETURN(auto c, RaBitQCodec::Train(bits, dim, metric, data, n, seed));
  return std::unique_ptr<Codec>(std::move(c));
}

Result<std::unique_ptr<Codec>> ReadRaBitQCodec(const CodecHeader& h, std::string_view body) {
  OMENDB_ASSIGN_OR_RETURN(auto c, RaBitQCodec::Read(h, body));
  return std::unique_ptr<Codec>(std::move(c));
}

}  // namespace omendb::quant
