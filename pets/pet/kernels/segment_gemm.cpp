// Segmented dense GEMM for the low-rank PETs (LoRA, adapters) on the CPU.
//
// For every segment s (x rows [xs_s, xs_s + len_s), y rows [ys_s, ys_s + len_s)) and its
// task's weight W_s = w[slot_s] [out, in] (and bias b_s = b[slot_s] [out], or none):
//     y[y rows] = (accumulate ? y[y rows] : 0) + scale_s * x[x rows] @ W_s^T + b_s
// in one call for every segment of a hook point, reading and writing the engine's dtype and
// accumulating in fp32: a LoRA's or an adapter's projection for all of a group's tasks.
//
// Why not torch.bmm: the weights of a batch's tasks are read once per batch, cold (13 adapter
// tasks' m64 projections are 2.6 MB per hook point), and for 16-token segments the product is
// short; batched GEMM libraries pack each weight before use, so a bmm over cold weights ran at
// a third of the rate of a plain read of them on this CPU. Here each weight is streamed once,
// straight from its slot: a work item (segment, 16-token tile, range of 16-output blocks)
// transposes its tile into a thread-local buffer once (bf16 engines: as pairs of columns, one
// 32-bit word per token, for `vdpbf16ps`), and per block of 16 outputs the block's 16 weight
// rows the same way (full-line loads, 16 x 16 register transposes); then 16 accumulation
// chains, one per token, each step one load of 16 outputs' weights and 16 FMAs whose token
// values are broadcast from fixed offsets of the tile.
#include "simd.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

namespace {

using namespace pets_kernels;

struct Job {
  const void* w;  // [out, in]
  const void* b;  // [out] or nullptr
  float scale;
  int64_t xs, ys, len;
};

struct Shape {
  int64_t in, out, xstr, ystr;
  bool accumulate;
};

#if defined(PETS_AVX512)
constexpr int64_t kPrefetch = 8;  // cache lines ahead in each weight row
#if defined(__AVX512BF16__)
constexpr bool kPairs = true;
#else
constexpr bool kPairs = false;
#endif

// one work item: tokens [l0, l0 + lt) of job j x outputs [o0, o1) (o0 a multiple of 16)
template <typename io_t, bool pairs>
void tile_gemm(const Job& j, int64_t l0, int64_t o0, int64_t o1, const io_t* xp, io_t* yp,
               const Shape& sh, float* xt, float* pad) {
  using L = Lanes<io_t>;
  const int64_t lt = std::min(kTile, j.len - l0), in = sh.in, out = sh.out;
  const io_t* x0 = xp + (j.xs + l0) * sh.xstr;
  io_t* y0 = yp + (j.ys + l0) * sh.ystr;
  const io_t* w = static_cast<const io_t*>(j.w);
  const io_t* b = static_cast<const io_t*>(j.b);
  __m512 r[16];
  if constexpr (pairs) {  // xt word c2 = (x[l][2 c2], x[l][2 c2 + 1]) of the 16 tokens l
    const int64_t words = in / 2;
    for (int64_t c2 = 0; c2 < words; c2 += 16) {
      const __mmask16 m = first(words - c2);
      for (int64_t l = 0; l < 16; ++l)
        r[l] = l < lt ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(
                            m, reinterpret_cast<const int32_t*>(x0 + l * sh.xstr) + c2))
                      : _mm512_setzero_ps();
      transpose16(r);
      const int64_t cw = std::min<int64_t>(16, words - c2);
      for (int64_t k = 0; k < cw; ++k) _mm512_store_ps(xt + (c2 + k) * kTile, r[k]);
    }
  } else {  // xt column c = x[l][c] of the 16 tokens l, in fp32
    for (int64_t c0 = 0; c0 < in; c0 += 16) {
      const __mmask16 m = first(in - c0);
      for (int64_t l = 0; l < 16; ++l)
        r[l] = l < lt ? L::load(x0 + l * sh.xstr + c0, m) : _mm512_setzero_ps();
      transpose16(r);
      const int64_t cw = std::min<int64_t>(16, in - c0);
      for (int64_t k = 0; k < cw; ++k) _mm512_store_ps(xt + (c0 + k) * kTile, r[k]);
    }
  }
  const __m512 sc = _mm512_set1_ps(j.scale);
  const int64_t rs = in * static_cast<int64_t>(sizeof(io_t));  // bytes between weight rows
  for (int64_t ob = o0; ob < o1; ob += 16) {
    const int64_t rows = std::min<int64_t>(16, out - ob);
    // the block's rows in 4 groups of 4: 4 base pointers + 2 strides address all 16 rows;
    // a partial block (out not a multiple of 16) is first copied into the zeroed `pad`
    const char* base = reinterpret_cast<const char*>(w + ob * in);
    if (rows < 16) {
      std::memcpy(pad, base, static_cast<size_t>(rows * rs));
      base = reinterpret_cast<const char*>(pad);
    }
    const char* q[4] = {base, base + 4 * rs, base + 8 * rs, base + 12 * rs};
    for (int k = 0; k < 16; ++k) r[k] = _mm512_setzero_ps();
    const int64_t rs3 = 3 * rs;
    // 16 rows stream at once, one cache line each per 16 steps: more streams than the
    // hardware prefetcher follows, so each row's line kPrefetch lines ahead is requested
    // whenever a row enters a new line (and the first ones before the loop)
    auto prefetch = [&](int64_t byte) {
      for (int g = 0; g < 4; ++g)
        for (int i = 0; i < 4; ++i)
          _mm_prefetch(q[g] + i * rs + byte, _MM_HINT_T0);
    };
    for (int64_t line = 0; line < kPrefetch; ++line) prefetch(64 * line);
    if constexpr (pairs) {
      for (int64_t c2 = 0; c2 < in / 2; ++c2) {
        const __m512bh xv = (__m512bh)_mm512_load_ps(xt + c2 * kTile);
        const int64_t at = 4 * c2;
        if ((at & 63) == 0) prefetch(at + 64 * kPrefetch);
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g) {
          const char* p = q[g] + at;
          int32_t v0, v1, v2, v3;
          std::memcpy(&v0, p, 4);
          std::memcpy(&v1, p + rs, 4);
          std::memcpy(&v2, p + 2 * rs, 4);
          std::memcpy(&v3, p + rs3, 4);
          r[4 * g] = _mm512_dpbf16_ps(r[4 * g], xv, (__m512bh)_mm512_set1_epi32(v0));
          r[4 * g + 1] = _mm512_dpbf16_ps(r[4 * g + 1], xv, (__m512bh)_mm512_set1_epi32(v1));
          r[4 * g + 2] = _mm512_dpbf16_ps(r[4 * g + 2], xv, (__m512bh)_mm512_set1_epi32(v2));
          r[4 * g + 3] = _mm512_dpbf16_ps(r[4 * g + 3], xv, (__m512bh)_mm512_set1_epi32(v3));
        }
      }
    } else {
      for (int64_t c = 0; c < in; ++c) {
        const __m512 xv = _mm512_load_ps(xt + c * kTile);
        const int64_t at = c * static_cast<int64_t>(sizeof(io_t));
        if ((at & 63) == 0) prefetch(at + 64 * kPrefetch);
#pragma GCC unroll 4
        for (int g = 0; g < 4; ++g) {
          const io_t* p0 = reinterpret_cast<const io_t*>(q[g] + at);
          const io_t* p1 = reinterpret_cast<const io_t*>(q[g] + at + rs);
          const io_t* p2 = reinterpret_cast<const io_t*>(q[g] + at + 2 * rs);
          const io_t* p3 = reinterpret_cast<const io_t*>(q[g] + at + rs3);
          r[4 * g] = _mm512_fmadd_ps(_mm512_set1_ps(to_float(*p0)), xv, r[4 * g]);
          r[4 * g + 1] = _mm512_fmadd_ps(_mm512_set1_ps(to_float(*p1)), xv, r[4 * g + 1]);
          r[4 * g + 2] = _mm512_fmadd_ps(_mm512_set1_ps(to_float(*p2)), xv, r[4 * g + 2]);
          r[4 * g + 3] = _mm512_fmadd_ps(_mm512_set1_ps(to_float(*p3)), xv, r[4 * g + 3]);
        }
      }
    }
    transpose16(r);  // r[l] = token l's 16 outputs
    const __mmask16 m = first(rows);
    const __m512 bias = b ? L::load(b + ob, m) : _mm512_setzero_ps();
    for (int64_t l = 0; l < lt; ++l) {
      io_t* dst = y0 + l * sh.ystr + ob;
      __m512 v = _mm512_fmadd_ps(sc, r[l], bias);
      if (sh.accumulate) v = _mm512_add_ps(v, L::load(dst, m));
      L::store(dst, v, m);
    }
  }
}
#else
constexpr bool kPairs = false;

template <typename io_t, bool pairs>
void tile_gemm(const Job& j, int64_t l0, int64_t o0, int64_t o1, const io_t* xp, io_t* yp,
               const Shape& sh, float*, float*) {
  const int64_t lt = std::min(kTile, j.len - l0);
  const io_t* w = static_cast<const io_t*>(j.w);
  const io_t* b = static_cast<const io_t*>(j.b);
  for (int64_t l = 0; l < lt; ++l) {
    const io_t* xr = xp + (j.xs + l0 + l) * sh.xstr;
    io_t* yr = yp + (j.ys + l0 + l) * sh.ystr;
    for (int64_t o = o0; o < std::min(o1, sh.out); ++o) {
      float acc = 0.f;
      for (int64_t c = 0; c < sh.in; ++c) acc += to_float(xr[c]) * to_float(w[o * sh.in + c]);
      float v = j.scale * acc + (b ? to_float(b[o]) : 0.f);
      if (sh.accumulate) v += to_float(yr[o]);
      yr[o] = static_cast<io_t>(v);
    }
  }
}
#endif

template <typename io_t, bool pairs>
void run(const at::Tensor& x, at::Tensor& y, const std::vector<Job>& jobs, const Shape& sh) {
  const io_t* xp = x.data_ptr<io_t>();
  io_t* yp = y.data_ptr<io_t>();
  const auto tiles = token_tiles(jobs);
  const int64_t n_tiles = static_cast<int64_t>(tiles.size());
  if (!n_tiles) return;
  const int64_t blocks = (sh.out + 15) / 16;
  const int64_t chunks = chunks_per_tile(blocks, n_tiles);
  at::parallel_for(0, n_tiles * chunks, 1, [&](int64_t w0, int64_t w1) {
    // pad: 16 weight rows, zero past `out` (only the first out % 16 rows are ever copied in)
    AlignedFloats xt(static_cast<size_t>((sh.in + 1) * kTile)), pad(static_cast<size_t>(16 * sh.in));
    TORCH_CHECK(xt.data != nullptr && pad.data != nullptr, "segment_gemm: out of memory for a tile");
    std::memset(pad.data, 0, sizeof(float) * 16 * sh.in);
    for (int64_t w = w0; w < w1; ++w) {
      const auto [s, l0] = tiles[w / chunks];
      const int64_t ch = w % chunks;
      const int64_t o0 = blocks * ch / chunks * 16, o1 = std::min(sh.out, blocks * (ch + 1) / chunks * 16);
      if (o0 < o1) tile_gemm<io_t, pairs>(jobs[s], l0, o0, o1, xp, yp, sh, xt.data, pad.data);
    }
  });
}

}  // namespace

void segment_gemm(const at::Tensor& x, at::Tensor y, const at::Tensor& w, const at::Tensor& b,
                  const at::Tensor& slots, const at::Tensor& x_starts, const at::Tensor& y_starts,
                  const at::Tensor& lens, const at::Tensor& scales, bool accumulate) {
  TORCH_CHECK(x.device().is_cpu() && y.device().is_cpu() && w.device().is_cpu(),
              "segment_gemm runs on the CPU");
  TORCH_CHECK(x.dim() == 2 && y.dim() == 2 && x.stride(1) == 1 && y.stride(1) == 1,
              "x and y must be 2-D with contiguous rows");
  TORCH_CHECK(w.dim() == 3 && w.is_contiguous(), "w must be a contiguous [slots, out, in] stack");
  TORCH_CHECK(x.scalar_type() == y.scalar_type() && w.scalar_type() == x.scalar_type(),
              "x, y and w must share a dtype");
  const int64_t n_slots = w.size(0), out = w.size(1), in = w.size(2);
  TORCH_CHECK(x.size(1) == in && y.size(1) == out, "x [*, in] and y [*, out] must fit w [slots, out, in]");
  const bool has_bias = b.numel() > 0;
  TORCH_CHECK(!has_bias || (b.dim() == 2 && b.is_contiguous() && b.size(0) == n_slots &&
                            b.size(1) == out && b.scalar_type() == x.scalar_type()),
              "b must be empty or a contiguous [slots, out] stack in x's dtype");
  const int64_t n = slots.numel();
  for (const at::Tensor* t : {&slots, &x_starts, &y_starts, &lens})
    TORCH_CHECK(t->scalar_type() == at::kLong && t->numel() == n && t->is_contiguous(),
                "one int64 slot, x start, y start and length per segment");
  TORCH_CHECK(scales.scalar_type() == at::kFloat && scales.is_contiguous() &&
                  (scales.numel() == n || scales.numel() == 0),
              "scales must be empty or one float32 per segment");
  const int64_t *sl = slots.data_ptr<int64_t>(), *xs = x_starts.data_ptr<int64_t>(),
                *ys = y_starts.data_ptr<int64_t>(), *ln = lens.data_ptr<int64_t>();
  const float* sc = scales.numel() ? scales.data_ptr<float>() : nullptr;
  const int64_t es = w.element_size();
  const char* wp = static_cast<const char*>(w.data_ptr());
  const char* bp = has_bias ? static_cast<const char*>(b.data_ptr()) : nullptr;
  std::vector<Job> jobs;
  jobs.reserve(n);
  for (int64_t s = 0; s < n; ++s) {
    TORCH_CHECK(sl[s] >= 0 && sl[s] < n_slots, "slot out of range");
    TORCH_CHECK(ln[s] >= 0 && xs[s] >= 0 && ys[s] >= 0 && xs[s] + ln[s] <= x.size(0) &&
                    ys[s] + ln[s] <= y.size(0), "segment rows out of range");
    jobs.push_back({wp + sl[s] * out * in * es, bp ? bp + sl[s] * out * es : nullptr,
                    sc ? sc[s] : 1.0f, xs[s], ys[s], ln[s]});
  }
  const Shape sh{in, out, x.stride(0), y.stride(0), accumulate};
  if (n == 0 || out == 0) return;
  switch (x.scalar_type()) {
    case at::kFloat: run<float, false>(x, y, jobs, sh); break;
    case at::kBFloat16:
      if (kPairs && in % 2 == 0) run<at::BFloat16, kPairs>(x, y, jobs, sh);
      else run<at::BFloat16, false>(x, y, jobs, sh);
      break;
    case at::kHalf: run<at::Half, false>(x, y, jobs, sh); break;
    default: TORCH_CHECK(false, "segment_gemm takes float32, bfloat16 or float16");
  }
}
