// What the CPU kernels share: 16-lane loads and stores in the engine's dtype, masks, a
// 16 x 16 register transpose and an aligned scratch buffer.
#pragma once

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define PETS_AVX512 1
#endif

namespace pets_kernels {

constexpr int64_t kTile = 16;  // tokens per tile (one 512-bit fp32 vector)

// (segment, first token) of every 16-token tile of the segments (anything with a `len`)
template <typename Seg>
std::vector<std::pair<int64_t, int64_t>> token_tiles(const std::vector<Seg>& segs) {
  std::vector<std::pair<int64_t, int64_t>> tiles;
  for (int64_t s = 0; s < static_cast<int64_t>(segs.size()); ++s)
    for (int64_t l0 = 0; l0 < segs[s].len; l0 += kTile) tiles.emplace_back(s, l0);
  return tiles;
}

// into how many of its `ranges` (row blocks, windows) each tile's work is cut, so that
// every thread has work items: work item w = (tile w / chunks, chunk w % chunks)
inline int64_t chunks_per_tile(int64_t ranges, int64_t n_tiles) {
  return std::min<int64_t>(ranges, std::max<int64_t>(
      1, (2 * at::get_num_threads() + n_tiles - 1) / n_tiles));
}

// f(io_t{}) for the engine's dtype io_t (float32, bfloat16 or float16); other dtypes are
// refused with a message naming the kernel
template <typename F>
void by_io_dtype(at::ScalarType t, const char* kernel, F&& f) {
  switch (t) {
    case at::kFloat: f(float{}); break;
    case at::kBFloat16: f(at::BFloat16{}); break;
    case at::kHalf: f(at::Half{}); break;
    default: TORCH_CHECK(false, kernel, " takes float32, bfloat16 or float16");
  }
}

struct AlignedFloats {
  float* data = nullptr;
  explicit AlignedFloats(size_t n) {
    if (n && posix_memalign(reinterpret_cast<void**>(&data), 64, n * sizeof(float)) != 0) {
      data = nullptr;
    }
  }
  ~AlignedFloats() { std::free(data); }
};

template <typename io_t>
inline float to_float(io_t v) { return static_cast<float>(v); }

#if defined(PETS_AVX512)
// ---- 16 lanes of the engine's dtype <-> one fp32 zmm (masked) ----------------------------
template <typename io_t> struct Lanes;

// A full mask (all 16 lanes) takes plain loads and stores: masked ones cost a kernel's
// write-back ~10% on Zen 5 (measured with the sparse kernel, bert-base shapes, bf16).
constexpr __mmask16 kAll = 0xffff;

template <> struct Lanes<float> {
  static __m512 load(const float* p, __mmask16 m) {
    return m == kAll ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
  }
  static void store(float* p, __m512 v, __mmask16 m) {
    if (m == kAll) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, m, v);
  }
};

inline __m256i load_halves(const void* p, __mmask16 m) {
  return m == kAll ? _mm256_loadu_si256(static_cast<const __m256i*>(p)) : _mm256_maskz_loadu_epi16(m, p);
}

inline void store_halves(void* p, __m256i h, __mmask16 m) {
  if (m == kAll) _mm256_storeu_si256(static_cast<__m256i*>(p), h);
  else _mm256_mask_storeu_epi16(p, m, h);
}

template <> struct Lanes<at::BFloat16> {
  static __m512 load(const at::BFloat16* p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load_halves(p, m)), 16));
  }
  static void store(at::BFloat16* p, __m512 v, __mmask16 m) {
#if defined(__AVX512BF16__)
    // round to nearest even in one instruction, as torch's fp32 -> bf16 cast for every
    // normal number (NaNs stay NaN; fp32 denormals, below 1.2e-38, become 0): the
    // rounding below cost the sparse kernel's write-back ~10%
    store_halves(p, (__m256i)_mm512_cvtneps_pbh(v), m);
#else
    // round to nearest even, as torch's fp32 -> bf16 cast (NaNs stay NaN)
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7fc0));
    store_halves(p, _mm512_cvtepi32_epi16(r), m);
#endif
  }
};

template <> struct Lanes<at::Half> {
  static __m512 load(const at::Half* p, __mmask16 m) { return _mm512_cvtph_ps(load_halves(p, m)); }
  static void store(at::Half* p, __m512 v, __mmask16 m) {
    store_halves(p, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), m);
  }
};

inline __mmask16 first(int64_t k) { return k >= 16 ? __mmask16(0xffff) : __mmask16((1u << k) - 1); }

// r[i] = row i of a 16 x 16 fp32 block -> r[j] = column j
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  auto lo = [](__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
  };
  auto hi = [](__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
  };
  for (int i = 0; i < 4; ++i) {  // lane k of r[4i + j]: rows 4i..4i+3 of column 4k + j
    r[4 * i] = lo(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = hi(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = lo(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = hi(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
      t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
    }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
  }
}
#endif  // PETS_AVX512

}  // namespace pets_kernels
