// Segmented sparse x dense product for the sparse PETs (Diff-Pruning, MaskBERT) on the CPU.
//
// For every segment s (rows [start_s, start_s + len_s) of the batch's token tensor) and its
// task's sparse matrix S_s [out, in] (CSR: crow int32 [out + 1], col int16 or int32 [nnz],
// values [nnz] in the engine's dtype):
//     y[rows_s] += sign * x[rows_s] @ S_s^T
// in one call for every segment of a hook point, reading x and writing y in the engine's
// dtype (bf16, fp16 or fp32) and accumulating in fp32.
//
// Operands arrive as a pointer table (the grouped-GEMM idiom): ptrs [n, 3] int64 holds each
// segment's (crow, col, values) data pointers, so a call costs the same whatever n is. The
// caller keeps those tensors alive for the call and checks their dtypes and sizes once
// when it builds the table (`pets.pet.sparse.kernel_operands`).
//
// Work item = (segment, 16-token tile, block of output rows). A work item transposes its
// tile's rows into a thread-local fp32 [in, 16] buffer (16 x 16 register transposes), so one
// sparse entry is one 16-lane FMA; every 16 output rows are transposed back in registers and
// added into y's rows. Without AVX-512 a plain loop computes the same.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define PETS_AVX512 1
#endif

namespace {

constexpr int64_t kTile = 16;  // tokens per tile (one 512-bit fp32 vector)

struct Segment {
  const int32_t* crow;
  const void* col;
  const void* val;
  int64_t start, len;
};

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

template <> struct Lanes<float> {
  static __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, __m512 v, __mmask16 m) { _mm512_mask_storeu_ps(p, m, v); }
};

template <> struct Lanes<at::BFloat16> {
  static __m512 load(const at::BFloat16* p, __mmask16 m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static void store(at::BFloat16* p, __m512 v, __mmask16 m) {
    // round to nearest even, as torch's fp32 -> bf16 cast (NaNs stay NaN)
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7fc0));
    _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(r));
  }
};

template <> struct Lanes<at::Half> {
  static __m512 load(const at::Half* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
  static void store(at::Half* p, __m512 v, __mmask16 m) {
    _mm256_mask_storeu_epi16(p, m, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
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

// sum over entries e of row: val[e] * xt[col[e]] (16 tokens per xt row). Two chains are
// enough: consecutive rows are independent, so out-of-order execution overlaps them.
template <typename idx_t, typename io_t>
inline __m512 row_dot(const float* __restrict xt, const idx_t* __restrict col,
                      const io_t* __restrict val, int32_t e0, int32_t e1) {
  auto term = [&](int32_t e, __m512 acc) {
    return _mm512_fmadd_ps(_mm512_set1_ps(to_float(val[e])),
                           _mm512_load_ps(xt + int64_t(col[e]) * kTile), acc);
  };
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int32_t e = e0;
  for (; e + 2 <= e1; e += 2) {
    a0 = term(e, a0);
    a1 = term(e + 1, a1);
  }
  if (e < e1) a0 = term(e, a0);
  return _mm512_add_ps(a0, a1);
}

#if defined(__AVX512BF16__)
// bf16 engines: two entries per instruction. The tile holds bf16 values widened to fp32
// (low 16 bits zero), so (a >> 16) | b packs token l's pair (x[c_e], x[c_e+1]) in one
// 32-bit lane, and the values' pair is one 32-bit load; vdpbf16ps adds both products.
template <typename idx_t>
inline __m512 row_dot_bf16(const float* __restrict xt, const idx_t* __restrict col,
                           const at::BFloat16* __restrict val, int32_t e0, int32_t e1) {
  auto pair = [&](int32_t e, __m512 acc) {
    const __m512i a = _mm512_load_si512(xt + int64_t(col[e]) * kTile);
    const __m512i b = _mm512_load_si512(xt + int64_t(col[e + 1]) * kTile);
    int32_t v;
    std::memcpy(&v, val + e, sizeof(v));
    return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_or_si512(_mm512_srli_epi32(a, 16), b),
                            (__m512bh)_mm512_set1_epi32(v));
  };
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int32_t e = e0;
  for (; e + 4 <= e1; e += 4) {
    a0 = pair(e, a0);
    a1 = pair(e + 2, a1);
  }
  if (e + 2 <= e1) {
    a0 = pair(e, a0);
    e += 2;
  }
  if (e < e1)
    a1 = _mm512_fmadd_ps(_mm512_set1_ps(to_float(val[e])),
                         _mm512_load_ps(xt + int64_t(col[e]) * kTile), a1);
  return _mm512_add_ps(a0, a1);
}

template <typename idx_t, typename io_t>
inline __m512 row_sum(const float* xt, const idx_t* col, const io_t* val, int32_t e0, int32_t e1) {
  if constexpr (std::is_same_v<io_t, at::BFloat16>) return row_dot_bf16<idx_t>(xt, col, val, e0, e1);
  else return row_dot<idx_t, io_t>(xt, col, val, e0, e1);
}
#else
template <typename idx_t, typename io_t>
inline __m512 row_sum(const float* xt, const idx_t* col, const io_t* val, int32_t e0, int32_t e1) {
  return row_dot<idx_t, io_t>(xt, col, val, e0, e1);
}
#endif

// one work item: tile (segment seg, tokens [l0, l0 + lt)) x output rows [r0, r1)
template <typename idx_t, typename io_t>
void tile_rows(const Segment& seg, int64_t l0, int64_t r0, int64_t r1, const io_t* xp,
               int64_t xs, int64_t in, io_t* yp, int64_t ys, float sign, float* xt) {
  using L = Lanes<io_t>;
  const int64_t lt = std::min(kTile, seg.len - l0);
  const io_t* x0 = xp + (seg.start + l0) * xs;
  io_t* y0 = yp + (seg.start + l0) * ys;
  __m512 r[16];
  for (int64_t c0 = 0; c0 < in; c0 += 16) {  // xt[c][l] = x[l0 + l][c], fp32, zero-padded
    const __mmask16 m = first(in - c0);
    for (int64_t l = 0; l < 16; ++l) r[l] = l < lt ? L::load(x0 + l * xs + c0, m) : _mm512_setzero_ps();
    transpose16(r);
    const int64_t cw = std::min<int64_t>(16, in - c0);
    for (int64_t j = 0; j < cw; ++j) _mm512_store_ps(xt + (c0 + j) * kTile, r[j]);
  }
  const idx_t* col = static_cast<const idx_t*>(seg.col);
  const io_t* val = static_cast<const io_t*>(seg.val);
  const __m512 sg = _mm512_set1_ps(sign);
  for (int64_t rb = r0; rb < r1; rb += 16) {
    const int64_t rw = std::min<int64_t>(16, r1 - rb);
    if (seg.crow[rb] == seg.crow[rb + rw]) continue;  // no entries in these rows
    if (rb + rw < r1) {  // the next block's entries, so the streams arrive in time
      const int32_t n0 = seg.crow[rb + rw], n1 = seg.crow[std::min(r1, rb + rw + 16)];
      for (int32_t e = n0; e < n1; e += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(col + e), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(val + e), _MM_HINT_T0);
      }
    }
    for (int64_t j = 0; j < 16; ++j)
      r[j] = j < rw ? row_sum<idx_t, io_t>(xt, col, val, seg.crow[rb + j], seg.crow[rb + j + 1])
                    : _mm512_setzero_ps();
    transpose16(r);  // r[l] = token l's 16 row sums
    const __mmask16 m = first(rw);
    for (int64_t l = 0; l < lt; ++l) {
      io_t* dst = y0 + l * ys + rb;
      L::store(dst, _mm512_fmadd_ps(sg, r[l], L::load(dst, m)), m);
    }
  }
}
#else
template <typename idx_t, typename io_t>
void tile_rows(const Segment& seg, int64_t l0, int64_t r0, int64_t r1, const io_t* xp,
               int64_t xs, int64_t in, io_t* yp, int64_t ys, float sign, float*) {
  const int64_t lt = std::min(kTile, seg.len - l0);
  const idx_t* col = static_cast<const idx_t*>(seg.col);
  const io_t* val = static_cast<const io_t*>(seg.val);
  for (int64_t l = 0; l < lt; ++l) {
    const io_t* xr = xp + (seg.start + l0 + l) * xs;
    io_t* yr = yp + (seg.start + l0 + l) * ys;
    for (int64_t r = r0; r < r1; ++r) {
      float acc = 0.f;
      for (int32_t e = seg.crow[r]; e < seg.crow[r + 1]; ++e)
        acc += to_float(val[e]) * to_float(xr[col[e]]);
      if (acc != 0.f) yr[r] = static_cast<io_t>(to_float(yr[r]) + sign * acc);
    }
  }
}
#endif

template <typename idx_t, typename io_t>
void run(const at::Tensor& x, at::Tensor& y, const std::vector<Segment>& segs, float sign) {
  const int64_t in = x.size(1), out = y.size(1), xs = x.stride(0), ys = y.stride(0);
  const io_t* xp = x.data_ptr<io_t>();
  io_t* yp = y.data_ptr<io_t>();
  std::vector<std::pair<int64_t, int64_t>> tiles;  // (segment, first token)
  for (int64_t s = 0; s < static_cast<int64_t>(segs.size()); ++s)
    for (int64_t l0 = 0; l0 < segs[s].len; l0 += kTile) tiles.emplace_back(s, l0);
  const int64_t n_tiles = static_cast<int64_t>(tiles.size());
  if (!n_tiles) return;
  // enough work items for every thread; row blocks are whole 16-row groups
  const int64_t groups = (out + 15) / 16;
  const int64_t chunks = std::min<int64_t>(groups, std::max<int64_t>(
      1, (2 * at::get_num_threads() + n_tiles - 1) / n_tiles));
  at::parallel_for(0, n_tiles * chunks, 1, [&](int64_t w0, int64_t w1) {
    AlignedFloats xt(static_cast<size_t>(in * kTile));
    TORCH_CHECK(xt.data != nullptr, "segment_spmm: out of memory for a token tile");
    for (int64_t w = w0; w < w1; ++w) {
      const auto [s, l0] = tiles[w / chunks];
      const int64_t ch = w % chunks;
      const int64_t r0 = std::min(out, (groups * ch / chunks) * 16);
      const int64_t r1 = std::min(out, (groups * (ch + 1) / chunks) * 16);
      if (r0 < r1 && segs[s].crow[r0] != segs[s].crow[r1])
        tile_rows<idx_t, io_t>(segs[s], l0, r0, r1, xp, xs, in, yp, ys, sign, xt.data);
    }
  });
}

}  // namespace

void segment_spmm(const at::Tensor& x, at::Tensor y, const at::Tensor& ptrs,
                  const at::Tensor& starts, const at::Tensor& lens, bool col32, double sign) {
  TORCH_CHECK(x.device().is_cpu() && y.device().is_cpu(), "segment_spmm runs on the CPU");
  TORCH_CHECK(x.dim() == 2 && y.dim() == 2 && x.stride(1) == 1 && y.stride(1) == 1,
              "x and y must be 2-D with contiguous rows");
  TORCH_CHECK(x.scalar_type() == y.scalar_type(), "x and y must share a dtype");
  TORCH_CHECK(ptrs.scalar_type() == at::kLong && ptrs.dim() == 2 && ptrs.size(1) == 3 &&
                  ptrs.is_contiguous(), "ptrs must be a contiguous int64 [n, 3] table");
  const int64_t n = ptrs.size(0);
  TORCH_CHECK(starts.scalar_type() == at::kLong && lens.scalar_type() == at::kLong &&
                  starts.numel() == n && lens.numel() == n && starts.is_contiguous() &&
                  lens.is_contiguous(), "one int64 start and length per segment");
  const int64_t* p = ptrs.data_ptr<int64_t>();
  const int64_t* st = starts.data_ptr<int64_t>();
  const int64_t* ln = lens.data_ptr<int64_t>();
  std::vector<Segment> segs;
  segs.reserve(n);
  for (int64_t s = 0; s < n; ++s) {
    TORCH_CHECK(st[s] >= 0 && ln[s] >= 0 && st[s] + ln[s] <= x.size(0) && st[s] + ln[s] <= y.size(0),
                "segment rows out of range");
    TORCH_CHECK(p[3 * s] != 0 && p[3 * s + 1] != 0 && p[3 * s + 2] != 0, "null operand pointer");
    segs.push_back({reinterpret_cast<const int32_t*>(p[3 * s]), reinterpret_cast<const void*>(p[3 * s + 1]),
                    reinterpret_cast<const void*>(p[3 * s + 2]), st[s], ln[s]});
  }
  if (n == 0) return;
  const float sg = static_cast<float>(sign);
  auto go = [&](auto zero) {
    using io_t = decltype(zero);
    if (col32) run<int32_t, io_t>(x, y, segs, sg);
    else run<int16_t, io_t>(x, y, segs, sg);
  };
  switch (x.scalar_type()) {
    case at::kFloat: go(float{}); break;
    case at::kBFloat16: go(at::BFloat16{}); break;
    case at::kHalf: go(at::Half{}); break;
    default: TORCH_CHECK(false, "segment_spmm takes float32, bfloat16 or float16");
  }
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // the kernel touches no Python object: other threads' batches run meanwhile
  m.def("segment_spmm", &segment_spmm, py::call_guard<py::gil_scoped_release>(),
        "y[rows_s] += sign * x[rows_s] @ S_s^T for every segment s; S_s from ptrs[s] = "
        "(crow int32, col int16|int32, values in x's dtype) data pointers");
}
