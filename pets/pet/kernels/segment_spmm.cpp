// Segmented sparse x dense product for the sparse PETs (Diff-Pruning, MaskBERT) on the CPU.
//
// For every segment s (rows [start_s, start_s + len_s) of the batch's token tensor) and its
// task's sparse matrix S_s [out, in]:
//     y[rows_s] += sign * x[rows_s] @ S_s^T
// in one call for every segment of a hook point, reading x and writing y in the engine's
// dtype (bf16, fp16 or fp32) and accumulating in fp32.
//
// S_s arrives sliced (SELL-16-256, built by `pets.pet.sparse.sliced`): rows are sorted by
// their number of entries, longest first, within windows of 256 rows, and the sorted rows
// are cut into blocks of 16; block b holds width_b entry pairs per row (width_b = its longest
// row, rounded up to pairs), stored pair-major, so entry pair k of the block's row j sits at
//     slice[b] + 32 k + 2 j  and  + 1       (col and values alike).
// Short rows are padded with entries (column `in`, value 0): the kernel gives the token
// tile a zero column `in`, so a padding entry adds exactly 0. All 16 rows of a block then
// advance in lockstep: 16 independent accumulation chains and no per-row loop to
// mispredict; sorting first keeps the padding small (rows of a block have nearly equal
// lengths: about 5% more entries at 5% density, against 28% for unsorted blocks), at the
// price of putting the rows back: slot[r] (uint8) is row r's sorted position in its
// window, and a window's row sums wait in a 16 KB buffer until it is done.
//
// Operands arrive as a pointer table (the grouped-GEMM idiom): ptrs [n, 4] int64 holds each
// segment's (slice int32 [ceil(out / 16) + 1], col int16|int32, values, slot uint8
// [windows * 256]) data pointers, so a
// call costs the same whatever n is. The caller keeps those tensors alive for the call and
// checks their dtypes and sizes once when it builds the table.
//
// Work item = (segment, 16-token tile, range of row windows). A work item transposes its
// tile's rows into a thread-local [in + 1, 16] buffer (16 x 16 register transposes; fp32,
// or bf16 for bf16 engines: the kernel is bound by its loads, and a bf16 column is half a
// cache line), so one sparse entry (pair) is one 16-lane FMA (vdpbf16ps); each block's 16
// row sums go to the window's buffer; then 16 rows at a time in row order are read back by
// slot, transposed in registers and added into y's rows. Without AVX-512 a plain loop
// computes the same.
//
// Measured against the row-at-a-time CSR kernel this replaced, both built in one process and
// run interleaved (bert-base shapes, 13 tasks x 16 tokens, every layer's six linears, operands
// cold in cache, 2 Zen 5 cores): bf16 Diff 0.5% 0.53-0.58x the time, MaskBERT 5% 0.84-0.91x;
// fp32 Diff 0.87x but Mask 1.13x (with 64-byte fp32 tile columns the padding costs more than
// the lockstep saves). Then, against that first sliced version (same set-up, 9 rounds), sorting
// rows within windows and keeping the 16 sums in registers (the rolled row loop had kept them
// on the stack): bf16 Mask 28.5 -> 22.1 ms (0.78x), Diff 7.5 -> 6.3 ms (0.84x); fp32 Mask 0.85x,
// Diff 0.79x; entries streamed 0.83x (Mask) and 0.61x (Diff).
// Then the write-back (a quarter of the time: measured by leaving it out) with plain loads
// and stores for full 16-row blocks and bf16 rounding in one instruction (`Lanes`, simd.h):
// bf16 Mask 19.5 -> 17.0 ms (0.87x), Diff 7.5 -> 6.1 ms (0.81x), fp32 0.98x (15 and 11 rounds).
#include "simd.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

namespace {

using namespace pets_kernels;

constexpr int64_t kWindow = 256;  // rows sorted within windows of this many (slot: uint8)
constexpr int64_t kWindowBlocks = kWindow / 16;

struct Segment {
  const int32_t* slice;  // [blocks + 1]: first entry of each 16-row block
  const void* col;
  const void* val;
  const uint8_t* slot;   // [windows * 256]: each row's sorted position in its window
  int64_t start, len;
};

#if defined(PETS_AVX512)
#if !defined(__AVX512BF16__)
constexpr bool kBf16Tile = false;
#endif

// column c of the tile: 16 fp32 lanes, or 16 bf16 (exact: the values came from bf16)
template <bool bf16>
inline void store_column(float* xt, int64_t c, __m512 v) {
#if defined(__AVX512BF16__)
  if constexpr (bf16) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(reinterpret_cast<uint16_t*>(xt) + c * kTile),
                       (__m256i)_mm512_cvtneps_pbh(v));
    return;
  }
#endif
  _mm512_store_ps(xt + c * kTile, v);
}

// acc += the products of one entry pair (e, e + 1) of a row: val[e] * xt[col[e]] + ...
template <typename idx_t, typename io_t>
struct Pair {
  static __m512 add(const float* __restrict xt, const idx_t* __restrict col,
                    const io_t* __restrict val, __m512 acc) {
    acc = _mm512_fmadd_ps(_mm512_set1_ps(to_float(val[0])),
                          _mm512_load_ps(xt + int64_t(col[0]) * kTile), acc);
    return _mm512_fmadd_ps(_mm512_set1_ps(to_float(val[1])),
                           _mm512_load_ps(xt + int64_t(col[1]) * kTile), acc);
  }
};

#if defined(__AVX512BF16__)
// bf16 engines keep the tile in bf16 (32 bytes per column: the loads, not the FMAs, bound
// this kernel) and add an entry pair per instruction: one permute interleaves token l's
// (x[c_e], x[c_e+1]) into 32-bit lane l, the values' pair is one 32-bit broadcast, and
// vdpbf16ps adds both products.
constexpr bool kBf16Tile = true;
template <typename idx_t>
struct Pair<idx_t, at::BFloat16> {
  static __m512 add(const float* __restrict xt, const idx_t* __restrict col,
                    const at::BFloat16* __restrict val, __m512 acc) {
    const uint16_t* t = reinterpret_cast<const uint16_t*>(xt);
    const __m512i idx = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9,
                                         40, 8, 39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m256i a = _mm256_load_si256(reinterpret_cast<const __m256i*>(t + int64_t(col[0]) * kTile));
    const __m256i b = _mm256_load_si256(reinterpret_cast<const __m256i*>(t + int64_t(col[1]) * kTile));
    int32_t v;
    std::memcpy(&v, val, sizeof(v));
    const __m512i ab = _mm512_permutex2var_epi16(_mm512_castsi256_si512(a), idx, _mm512_castsi256_si512(b));
    return _mm512_dpbf16_ps(acc, (__m512bh)ab, (__m512bh)_mm512_set1_epi32(v));
  }
};
#endif

// r[j] = row j's sums over the block's entries [e0, e1) (32 per pair step: 16 rows x 2)
template <typename idx_t, typename io_t>
inline void block_sums(const float* __restrict xt, const idx_t* __restrict col,
                       const io_t* __restrict val, int32_t e0, int32_t e1, __m512 r[16]) {
  for (int j = 0; j < 16; ++j) r[j] = _mm512_setzero_ps();
  for (int32_t e = e0; e < e1; e += 32) {
    // unrolled, so that the 16 sums stay in registers (a rolled loop keeps them on the
    // stack: a load and a store around every FMA, 2-3x slower)
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j)
      r[j] = Pair<idx_t, io_t>::add(xt, col + e + 2 * j, val + e + 2 * j, r[j]);
  }
}

// one work item: tile (segment seg, tokens [l0, l0 + lt)) x row windows [w0, w1)
template <typename idx_t, typename io_t>
void tile_rows(const Segment& seg, int64_t l0, int64_t w0, int64_t w1, const io_t* xp,
               int64_t xs, int64_t in, io_t* yp, int64_t ys, int64_t out, float sign, float* xt,
               float* sums) {
  using L = Lanes<io_t>;
  const int64_t lt = std::min(kTile, seg.len - l0);
  const io_t* x0 = xp + (seg.start + l0) * xs;
  io_t* y0 = yp + (seg.start + l0) * ys;
  __m512 r[16];
  constexpr bool bf16_tile = std::is_same_v<io_t, at::BFloat16> && kBf16Tile;
  for (int64_t c0 = 0; c0 < in; c0 += 16) {  // xt[c][l] = x[l0 + l][c], zero-padded
    const __mmask16 m = first(in - c0);
    for (int64_t l = 0; l < 16; ++l) r[l] = l < lt ? L::load(x0 + l * xs + c0, m) : _mm512_setzero_ps();
    transpose16(r);
    const int64_t cw = std::min<int64_t>(16, in - c0);
    for (int64_t j = 0; j < cw; ++j) store_column<bf16_tile>(xt, c0 + j, r[j]);
  }
  store_column<bf16_tile>(xt, in, _mm512_setzero_ps());  // column `in`: padding entries
  const idx_t* col = static_cast<const idx_t*>(seg.col);
  const io_t* val = static_cast<const io_t*>(seg.val);
  const __m512 sg = _mm512_set1_ps(sign);
  const int64_t blocks = (out + 15) / 16;
  for (int64_t w = w0; w < w1; ++w) {
    const int64_t bb0 = w * kWindowBlocks, bb1 = std::min(blocks, bb0 + kWindowBlocks);
    if (seg.slice[bb0] == seg.slice[bb1]) continue;  // no entries in these rows
    for (int64_t b = bb0; b < bb1; ++b) {  // sorted rows: sums[p] = token sums of position p
      float* dst = sums + (b - bb0) * 16 * kTile;
      const int32_t e0 = seg.slice[b], e1 = seg.slice[b + 1];
      if (b + 1 < bb1) {  // the next block's entries, so the streams arrive in time
        for (int32_t e = e1; e < seg.slice[b + 2]; e += 32) {
          _mm_prefetch(reinterpret_cast<const char*>(col + e), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(val + e), _MM_HINT_T0);
        }
      }
      block_sums<idx_t, io_t>(xt, col, val, e0, e1, r);
      for (int j = 0; j < 16; ++j) _mm512_store_ps(dst + j * kTile, r[j]);
    }
    for (int64_t b = bb0; b < bb1; ++b) {  // rows b*16 .. b*16+15 in row order, from their slots
      const int64_t r0 = b * 16, rows = std::min<int64_t>(16, out - r0);
      for (int64_t j = 0; j < 16; ++j)
        r[j] = j < rows ? _mm512_load_ps(sums + int64_t(seg.slot[r0 + j]) * kTile) : _mm512_setzero_ps();
      transpose16(r);  // r[l] = token l's 16 row sums
      const __mmask16 m = first(rows);
      for (int64_t l = 0; l < lt; ++l) {
        io_t* dst = y0 + l * ys + r0;
        L::store(dst, _mm512_fmadd_ps(sg, r[l], L::load(dst, m)), m);
      }
    }
  }
}
#else
template <typename idx_t, typename io_t>
void tile_rows(const Segment& seg, int64_t l0, int64_t w0, int64_t w1, const io_t* xp,
               int64_t xs, int64_t in, io_t* yp, int64_t ys, int64_t out, float sign, float*,
               float*) {
  const int64_t lt = std::min(kTile, seg.len - l0);
  const idx_t* col = static_cast<const idx_t*>(seg.col);
  const io_t* val = static_cast<const io_t*>(seg.val);
  const int64_t blocks = (out + 15) / 16;
  std::vector<int64_t> row_at(kWindow);  // sorted position -> row
  for (int64_t w = w0; w < w1; ++w) {
    const int64_t first_row = w * kWindow, rows = std::min(kWindow, out - first_row);
    for (int64_t r = 0; r < rows; ++r) row_at[seg.slot[first_row + r]] = first_row + r;
    for (int64_t l = 0; l < lt; ++l) {
      const io_t* xr = xp + (seg.start + l0 + l) * xs;
      io_t* yr = yp + (seg.start + l0 + l) * ys;
      for (int64_t b = w * kWindowBlocks; b < std::min(blocks, (w + 1) * kWindowBlocks); ++b) {
        float acc[16] = {};
        for (int32_t e = seg.slice[b]; e < seg.slice[b + 1]; ++e) {
          const int64_t c = col[e];
          if (c < in) acc[((e - seg.slice[b]) % 32) / 2] += to_float(val[e]) * to_float(xr[c]);
        }
        for (int64_t j = 0; j < 16; ++j) {
          const int64_t p = (b - w * kWindowBlocks) * 16 + j;
          if (p < rows && acc[j] != 0.f)
            yr[row_at[p]] = static_cast<io_t>(to_float(yr[row_at[p]]) + sign * acc[j]);
        }
      }
    }
  }
}
#endif

template <typename idx_t, typename io_t>
void run(const at::Tensor& x, at::Tensor& y, const std::vector<Segment>& segs, float sign) {
  const int64_t in = x.size(1), out = y.size(1), xs = x.stride(0), ys = y.stride(0);
  const io_t* xp = x.data_ptr<io_t>();
  io_t* yp = y.data_ptr<io_t>();
  const auto tiles = token_tiles(segs);
  const int64_t n_tiles = static_cast<int64_t>(tiles.size());
  if (!n_tiles) return;
  // work items: a tile and a range of row windows
  const int64_t blocks = (out + 15) / 16;
  const int64_t groups = (blocks + kWindowBlocks - 1) / kWindowBlocks;
  const int64_t chunks = chunks_per_tile(groups, n_tiles);
  at::parallel_for(0, n_tiles * chunks, 1, [&](int64_t w0, int64_t w1) {
    AlignedFloats xt(static_cast<size_t>((in + 1) * kTile)), sums(kWindow * kTile);
    TORCH_CHECK(xt.data != nullptr && sums.data != nullptr,
                "segment_spmm: out of memory for a token tile");
    for (int64_t w = w0; w < w1; ++w) {
      const auto [s, l0] = tiles[w / chunks];
      const int64_t ch = w % chunks;
      const int64_t w0 = groups * ch / chunks, w1 = groups * (ch + 1) / chunks;
      const int64_t b0 = w0 * kWindowBlocks, b1 = std::min(blocks, w1 * kWindowBlocks);
      if (w0 < w1 && segs[s].slice[b0] != segs[s].slice[b1])
        tile_rows<idx_t, io_t>(segs[s], l0, w0, w1, xp, xs, in, yp, ys, out, sign, xt.data,
                               sums.data);
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
  TORCH_CHECK(ptrs.scalar_type() == at::kLong && ptrs.dim() == 2 && ptrs.size(1) == 4 &&
                  ptrs.is_contiguous(), "ptrs must be a contiguous int64 [n, 4] table");
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
    const int64_t* q = p + 4 * s;
    TORCH_CHECK(q[0] != 0 && q[1] != 0 && q[2] != 0 && q[3] != 0, "null operand pointer");
    segs.push_back({reinterpret_cast<const int32_t*>(q[0]), reinterpret_cast<const void*>(q[1]),
                    reinterpret_cast<const void*>(q[2]), reinterpret_cast<const uint8_t*>(q[3]),
                    st[s], ln[s]});
  }
  if (n == 0) return;
  const float sg = static_cast<float>(sign);
  auto go = [&](auto zero) {
    using io_t = decltype(zero);
    if (col32) run<int32_t, io_t>(x, y, segs, sg);
    else run<int16_t, io_t>(x, y, segs, sg);
  };
  by_io_dtype(x.scalar_type(), "segment_spmm", go);
}
