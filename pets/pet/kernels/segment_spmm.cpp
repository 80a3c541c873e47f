// Segmented sparse x dense product for the sparse PETs (Diff-Pruning, MaskBERT) on the CPU.
//
// For every segment s (rows [start_s, start_s + len_s) of the batch's token tensor) and its
// task's sparse matrix S_s [out, in] (CSR: crow int32 [out + 1], col int16 or int32 [nnz],
// values [nnz] float32):
//     y[rows_s] += sign * x[rows_s] @ S_s^T
// in one call for every segment of a hook point, reading x and writing y in the engine's
// dtype (bf16, fp16 or fp32) and accumulating in fp32. No dense intermediate the size of
// the output is made: each segment's rows are first transposed into a small fp32 [in, 16]
// tile buffer (64-byte aligned), so one sparse entry is one 16-float FMA; results are
// added straight into y. Work is split over threads by (segment, token tile, block of
// output rows).
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

constexpr int64_t kTile = 16;      // tokens per tile (one 512-bit fp32 vector)
constexpr int64_t kRowBlock = 128; // output rows per work item

struct AlignedFloats {
  float* data = nullptr;
  explicit AlignedFloats(size_t n) {
    if (n && posix_memalign(reinterpret_cast<void**>(&data), 64, n * sizeof(float)) != 0) {
      data = nullptr;
    }
  }
  ~AlignedFloats() { std::free(data); }
};

template <typename idx_t>
inline void row_tile(const float* __restrict xt, const idx_t* __restrict col,
                     const float* __restrict val, int32_t e0, int32_t e1, float* __restrict acc) {
#if defined(__AVX512F__)
  // 16 tokens = one zmm; four independent accumulators hide the FMA latency
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  int32_t e = e0;
  for (; e + 4 <= e1; e += 4) {
    a0 = _mm512_fmadd_ps(_mm512_set1_ps(val[e]), _mm512_load_ps(xt + int64_t(col[e]) * kTile), a0);
    a1 = _mm512_fmadd_ps(_mm512_set1_ps(val[e + 1]), _mm512_load_ps(xt + int64_t(col[e + 1]) * kTile), a1);
    a2 = _mm512_fmadd_ps(_mm512_set1_ps(val[e + 2]), _mm512_load_ps(xt + int64_t(col[e + 2]) * kTile), a2);
    a3 = _mm512_fmadd_ps(_mm512_set1_ps(val[e + 3]), _mm512_load_ps(xt + int64_t(col[e + 3]) * kTile), a3);
  }
  for (; e < e1; ++e)
    a0 = _mm512_fmadd_ps(_mm512_set1_ps(val[e]), _mm512_load_ps(xt + int64_t(col[e]) * kTile), a0);
  _mm512_store_ps(acc, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
#else
  for (int l = 0; l < kTile; ++l) acc[l] = 0.f;
  for (int32_t e = e0; e < e1; ++e) {
    const float v = val[e];
    const float* xr = xt + static_cast<int64_t>(col[e]) * kTile;
    for (int l = 0; l < kTile; ++l) acc[l] += v * xr[l];
  }
#endif
}

template <typename idx_t, typename io_t>
void run(const at::Tensor& x, at::Tensor& y, const std::vector<at::Tensor>& crows,
         const std::vector<at::Tensor>& cols, const std::vector<at::Tensor>& vals,
         const std::vector<int64_t>& starts, const std::vector<int64_t>& lens, float sign) {
  const int64_t n = static_cast<int64_t>(starts.size());
  const int64_t in = x.size(1), out = y.size(1), xs = x.stride(0), ys = y.stride(0);
  const io_t* xp = x.data_ptr<io_t>();
  io_t* yp = y.data_ptr<io_t>();
  // tiles: (segment, 16-token tile); each gets an fp32 [in, 16] transposed, zero-padded copy
  std::vector<int64_t> tile_seg, tile_l0;
  for (int64_t s = 0; s < n; ++s)
    for (int64_t l0 = 0; l0 < lens[s]; l0 += kTile) {
      tile_seg.push_back(s);
      tile_l0.push_back(l0);
    }
  const int64_t tiles = static_cast<int64_t>(tile_seg.size());
  if (!tiles) return;
  AlignedFloats buf(static_cast<size_t>(tiles * in * kTile));
  TORCH_CHECK(buf.data != nullptr, "segment_spmm: out of memory for the token tiles");
  at::parallel_for(0, tiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* dst = buf.data + t * in * kTile;
      const int64_t s = tile_seg[t], l0 = tile_l0[t];
      const int64_t lt = std::min(kTile, lens[s] - l0);
      if (lt < kTile) std::memset(dst, 0, sizeof(float) * in * kTile);
      for (int64_t l = 0; l < lt; ++l) {
        const io_t* row = xp + (starts[s] + l0 + l) * xs;
        for (int64_t c = 0; c < in; ++c) dst[c * kTile + l] = static_cast<float>(row[c]);
      }
    }
  });
  const int64_t blocks = (out + kRowBlock - 1) / kRowBlock;
  at::parallel_for(0, tiles * blocks, 1, [&](int64_t w0, int64_t w1) {
    // results of one (tile, row block), [rows][16], written back row-contiguously afterwards
    AlignedFloats res(static_cast<size_t>(kRowBlock * kTile));
    TORCH_CHECK(res.data != nullptr, "segment_spmm: out of memory");
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / blocks, b = w % blocks;
      const int64_t s = tile_seg[t], l0 = tile_l0[t];
      const int64_t lt = std::min(kTile, lens[s] - l0);
      const int32_t* crow = crows[s].data_ptr<int32_t>();
      const idx_t* col = cols[s].data_ptr<idx_t>();
      const float* val = vals[s].data_ptr<float>();
      const float* xt = buf.data + t * in * kTile;
      const int64_t r0 = b * kRowBlock, r1 = std::min(out, r0 + kRowBlock);
      if (crow[r0] == crow[r1]) continue;  // no entries in this block
      // res is token-major, [16][kRowBlock]: row r's 16 sums go to column r - r0
      alignas(64) float acc[kTile];
      for (int64_t r = r0; r < r1; ++r) {
        float* dst = res.data + (r - r0);
        if (crow[r] == crow[r + 1]) {
          for (int64_t l = 0; l < kTile; ++l) dst[l * kRowBlock] = 0.f;
          continue;
        }
        row_tile<idx_t>(xt, col, val, crow[r], crow[r + 1], acc);
        for (int64_t l = 0; l < kTile; ++l) dst[l * kRowBlock] = acc[l];
      }
      const int64_t width = r1 - r0;
      for (int64_t l = 0; l < lt; ++l) {  // contiguous in r: vectorised adds into y's row
        io_t* yrow = yp + (starts[s] + l0 + l) * ys + r0;
        const float* src = res.data + l * kRowBlock;
        for (int64_t r = 0; r < width; ++r)
          yrow[r] = static_cast<io_t>(static_cast<float>(yrow[r]) + sign * src[r]);
      }
    }
  });
}

}  // namespace

void segment_spmm(const at::Tensor& x, at::Tensor y, const std::vector<at::Tensor>& crows,
                  const std::vector<at::Tensor>& cols, const std::vector<at::Tensor>& vals,
                  const std::vector<int64_t>& starts, const std::vector<int64_t>& lens,
                  double sign) {
  TORCH_CHECK(x.device().is_cpu() && y.device().is_cpu(), "segment_spmm runs on the CPU");
  TORCH_CHECK(x.dim() == 2 && y.dim() == 2 && x.stride(1) == 1 && y.stride(1) == 1,
              "x and y must be 2-D with contiguous rows");
  TORCH_CHECK(x.scalar_type() == y.scalar_type(), "x and y must share a dtype");
  const size_t n = starts.size();
  TORCH_CHECK(crows.size() == n && cols.size() == n && vals.size() == n && lens.size() == n,
              "one crow, col, values, start and length per segment");
  if (n == 0) return;
  const auto idx = cols[0].scalar_type();
  TORCH_CHECK(idx == at::kShort || idx == at::kInt, "col must be int16 or int32");
  for (size_t s = 0; s < n; ++s) {
    TORCH_CHECK(crows[s].scalar_type() == at::kInt && crows[s].numel() == y.size(1) + 1 &&
                    crows[s].is_contiguous(), "crow must be contiguous int32 [out + 1]");
    TORCH_CHECK(cols[s].scalar_type() == idx && cols[s].is_contiguous(), "col dtypes differ");
    TORCH_CHECK(vals[s].scalar_type() == at::kFloat && vals[s].is_contiguous() &&
                    vals[s].numel() == cols[s].numel(), "values must be contiguous float32 [nnz]");
    TORCH_CHECK(starts[s] >= 0 && lens[s] >= 0 && starts[s] + lens[s] <= x.size(0) &&
                    starts[s] + lens[s] <= y.size(0), "segment rows out of range");
  }
  const float sg = static_cast<float>(sign);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "segment_spmm", [&] {
    if (idx == at::kShort) run<int16_t, scalar_t>(x, y, crows, cols, vals, starts, lens, sg);
    else run<int32_t, scalar_t>(x, y, crows, cols, vals, starts, lens, sg);
  });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("segment_spmm", &segment_spmm, "y[rows_s] += sign * x[rows_s] @ S_s^T for every segment");
}
