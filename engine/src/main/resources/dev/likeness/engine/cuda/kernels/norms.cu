// Normalizations, softmax and reductions along one dimension. Row kernels (the reduced elements consecutive in the
// logical order: layer / RMS norm, softmax over the last dim) come in two shapes: one warp per row for rows of up to
// 1024 elements (several rows per block, shuffle reductions only) and one block per row for longer ones; both keep
// the converted row in shared memory when the host gives them room for it (one read of global memory). Statistics
// are f32 with the two-pass variance of the CPU backend; the roundings of the normalized values follow Norms.java.
#include "common.cuh"

// view flag (with LK_VIEW_*): each row's elements are consecutive in memory, so element j of a row is at the row's
// first element + j (one index computation per row instead of one per element)
#define LK_ROW_CONTIGUOUS 4

__device__ __forceinline__ i64 lk_row_at(const Layout& l, i64 base, i64 first, i64 j, int flags) {
    return (flags & LK_ROW_CONTIGUOUS) ? first + j : lk_view_offset(l, base + j, flags);
}

#define LK_LAYER_NORM 0
#define LK_RMS_NORM 1

template <bool WARP>
__device__ __forceinline__ float lk_row_sum(float v, float* scratch) {
    if (WARP) {
        for (int o = 16; o > 0; o >>= 1) {
            v += __shfl_xor_sync(0xffffffffu, v, o);
        }
        return v;
    }
    return lk_block_sum(v, scratch);
}

template <bool WARP>
__device__ __forceinline__ float lk_row_max(float v, float* scratch) {
    if (WARP) {
        for (int o = 16; o > 0; o >>= 1) {
            v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
        }
        return v;
    }
    return lk_block_max(v, scratch);
}

// The rows this thread group walks: WARP: warp w of block b takes rows b * warps + w, + gridDim.x * warps, ...;
// block: block b takes rows b, b + gridDim.x, ... Lane / stride are the thread's position within its group.
#define LK_ROWS(r, rows)                                                                                        \
    const int lkWarps = WARP ? (int) (blockDim.x >> 5) : 1;                                                      \
    const int lane = WARP ? (int) (threadIdx.x & 31) : (int) threadIdx.x;                                        \
    const int stride = WARP ? 32 : (int) blockDim.x;                                                             \
    float* cache = lk_cache + (WARP ? (threadIdx.x >> 5) * (i64) n : 0);                                         \
    for (i64 r = (i64) blockIdx.x * lkWarps + (WARP ? (threadIdx.x >> 5) : 0); r < (rows);                      \
         r += (i64) gridDim.x * lkWarps)

extern __shared__ float lk_cache[];

// layer norm (kind 0) or RMS norm (kind 1) of rows of n elements: row r is elements r * n .. r * n + n - 1 of x's view.
// w and b point at the first element of the optional 1-D weight / bias (null: absent), read with their strides.
template <bool WARP>
__device__ __forceinline__ void lk_row_norm(void* out, int outDt, i64 rows, int n, int kind, float eps,
                                            const void* x, int xDt, const Layout& lx, int xFlags, const void* w,
                                            int wDt, i64 wStride, const void* b, int bDt, i64 bStride, int cached) {
    __shared__ float scratch[32];
    LK_ROWS(r, rows) {
        i64 base = r * n;
        i64 first = lk_view_offset(lx, base, xFlags);
        float acc = 0.0f;
        for (int j = lane; j < n; j += stride) {
            float v = lk_load(x, lk_row_at(lx, base, first, j, xFlags), xDt);
            if (cached) {
                cache[j] = v;
            }
            acc += kind == LK_RMS_NORM ? v * v : v;
        }
        float total = lk_row_sum<WARP>(acc, scratch);
        if (kind == LK_RMS_NORM) {
            float rs = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(total, (float) n), eps)));
            for (int j = lane; j < n; j += stride) {
                float v = cached ? cache[j] : lk_load(x, lk_row_at(lx, base, first, j, xFlags), xDt);
                float y = __fmul_rn(v, rs);
                if (w != 0) {
                    y = __fmul_rn(y, lk_load(w, j * wStride, wDt));
                }
                lk_store(out, base + j, outDt, y);
            }
            continue;
        }
        float mean = __fdiv_rn(total, (float) n);
        float sd = 0.0f;
        float sd2 = 0.0f;
        for (int j = lane; j < n; j += stride) {
            float v = cached ? cache[j] : lk_load(x, lk_row_at(lx, base, first, j, xFlags), xDt);
            float d = v - mean;
            sd += d;
            sd2 = fmaf(d, d, sd2);
        }
        sd = lk_row_sum<WARP>(sd, scratch);
        sd2 = lk_row_sum<WARP>(sd2, scratch);
        float m2 = fmaxf(0.0f, sd2 - sd * sd / (float) n);
        float rstd = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(m2, (float) n), eps)));
        for (int j = lane; j < n; j += stride) {
            float v = cached ? cache[j] : lk_load(x, lk_row_at(lx, base, first, j, xFlags), xDt);
            float d = __fsub_rn(v, mean);
            float y;
            if (w != 0 && b != 0) {
                y = fmaf(__fmul_rn(d, rstd), lk_load(w, j * wStride, wDt), lk_load(b, j * bStride, bDt));
            } else if (w != 0) {
                y = __fmul_rn(__fmul_rn(d, rstd), lk_load(w, j * wStride, wDt));
            } else if (b != 0) {
                y = fmaf(d, rstd, lk_load(b, j * bStride, bDt));
            } else {
                y = __fmul_rn(d, rstd);
            }
            lk_store(out, base + j, outDt, y);
        }
    }
}

extern "C" __global__ void lk_row_norm_warp(void* out, int outDt, i64 rows, int n, int kind, float eps,
                                            const void* x, int xDt, Layout lx, int xFlags, const void* w, int wDt,
                                            i64 wStride, const void* b, int bDt, i64 bStride, int cached) {
    lk_row_norm<true>(out, outDt, rows, n, kind, eps, x, xDt, lx, xFlags, w, wDt, wStride, b, bDt, bStride, cached);
}

extern "C" __global__ void __launch_bounds__(1024, 1) lk_row_norm_block(void* out, int outDt, i64 rows, int n, int kind, float eps,
                                             const void* x, int xDt, Layout lx, int xFlags, const void* w, int wDt,
                                             i64 wStride, const void* b, int bDt, i64 bStride, int cached) {
    lk_row_norm<false>(out, outDt, rows, n, kind, eps, x, xDt, lx, xFlags, w, wDt, wStride, b, bDt, bStride, cached);
}

// softmax of rows of n consecutive elements: exp(x - max) times the reciprocal of their sum (as the CPU backend).
// A row that is all -inf gives NaN, as in torch.
template <bool WARP>
__device__ __forceinline__ void lk_softmax_row(void* out, int outDt, i64 rows, int n, const void* x, int xDt,
                                               const Layout& lx, int xFlags, int cached) {
    __shared__ float scratch[32];
    LK_ROWS(r, rows) {
        i64 base = r * n;
        i64 first = lk_view_offset(lx, base, xFlags);
        float m = __int_as_float(0xff800000);
        for (int j = lane; j < n; j += stride) {
            float v = lk_load(x, lk_row_at(lx, base, first, j, xFlags), xDt);
            if (cached) {
                cache[j] = v;
            }
            m = fmaxf(m, v);
        }
        m = lk_row_max<WARP>(m, scratch);
        float acc = 0.0f;
        for (int j = lane; j < n; j += stride) {
            float v = cached ? cache[j] : lk_load(x, lk_row_at(lx, base, first, j, xFlags), xDt);
            float e = expf(v - m);
            if (cached) {
                cache[j] = e;
            }
            acc += e;
        }
        float inv = __fdiv_rn(1.0f, lk_row_sum<WARP>(acc, scratch));
        for (int j = lane; j < n; j += stride) {
            float e = cached ? cache[j] : expf(lk_load(x, lk_row_at(lx, base, first, j, xFlags), xDt) - m);
            lk_store(out, base + j, outDt, __fmul_rn(e, inv));
        }
    }
}

extern "C" __global__ void lk_softmax_warp(void* out, int outDt, i64 rows, int n, const void* x, int xDt, Layout lx,
                                           int xFlags, int cached) {
    lk_softmax_row<true>(out, outDt, rows, n, x, xDt, lx, xFlags, cached);
}

extern "C" __global__ void __launch_bounds__(1024, 1) lk_softmax_block(void* out, int outDt, i64 rows, int n, const void* x, int xDt, Layout lx,
                                            int xFlags, int cached) {
    lk_softmax_row<false>(out, outDt, rows, n, x, xDt, lx, xFlags, cached);
}

// softmax along a dimension that is not the innermost: x seen as [outer, n, inner], one thread per (o, j) column
// (neighbouring threads read neighbouring elements).
extern "C" __global__ void lk_softmax_columns(void* out, int outDt, i64 columns, int n, i64 inner, const void* x,
                                              int xDt, Layout lx, int xFlags) {
    LK_FOR(c, columns) {
        i64 o = c / inner;
        i64 base = o * n * inner + (c - o * inner);
        float m = __int_as_float(0xff800000);
        for (int k = 0; k < n; k++) {
            m = fmaxf(m, lk_load(x, lk_view_offset(lx, base + k * inner, xFlags), xDt));
        }
        float sum = 0.0f;
        for (int k = 0; k < n; k++) {
            sum += expf(lk_load(x, lk_view_offset(lx, base + k * inner, xFlags), xDt) - m);
        }
        float inv = __fdiv_rn(1.0f, sum);
        for (int k = 0; k < n; k++) {
            float e = expf(lk_load(x, lk_view_offset(lx, base + k * inner, xFlags), xDt) - m);
            lk_store(out, base + k * inner, outDt, __fmul_rn(e, inv));
        }
    }
}

// mean (correction < 0) or variance (sum of squared deviations / max(0, n - correction)) along a dimension that is
// not the innermost, one thread per (o, j) column, accumulated in f64 in two passes.
extern "C" __global__ void lk_reduce_columns(void* out, int outDt, i64 columns, int n, i64 inner, int correction,
                                             const void* x, int xDt, Layout lx, int xFlags) {
    LK_FOR(c, columns) {
        i64 o = c / inner;
        i64 base = o * n * inner + (c - o * inner);
        double sum = 0.0;
        for (int k = 0; k < n; k++) {
            sum += lk_load(x, lk_view_offset(lx, base + k * inner, xFlags), xDt);
        }
        double mean = sum / n;
        if (correction < 0) {
            lk_store(out, c, outDt, (float) mean);
            continue;
        }
        double m2 = 0.0;
        for (int k = 0; k < n; k++) {
            double d = (double) lk_load(x, lk_view_offset(lx, base + k * inner, xFlags), xDt) - mean;
            m2 += d * d;
        }
        int divisor = max(0, n - correction);
        lk_store(out, c, outDt, (float) (m2 / divisor));
    }
}

// Segment statistics, for reductions over long runs of consecutive elements (group norm, mean / var over the last
// dimension): segment s is elements s * len .. s * len + len - 1 of x's view, split into `splits` chunks of `chunk`
// elements (the last ones shorter or empty). Each block reduces one chunk at a time to (mean, M2) in f32, two-pass;
// lk_segment_finalize combines a segment's chunks in f64 (Chan et al.'s pairwise update).
extern "C" __global__ void __launch_bounds__(1024, 1) lk_segment_partial(float* partial, i64 items, int splits, i64 len, i64 chunk,
                                              const void* x, int xDt, Layout lx, int xFlags) {
    __shared__ float scratch[32];
    for (i64 item = blockIdx.x; item < items; item += gridDim.x) {
        i64 seg = item / splits;
        i64 lo = (item - seg * splits) * chunk;
        i64 hi = min(len, lo + chunk);
        i64 count = hi > lo ? hi - lo : 0;
        i64 base = seg * len;
        i64 first = lk_view_offset(lx, base, xFlags);
        float acc = 0.0f;
        for (i64 j = lo + threadIdx.x; j < hi; j += blockDim.x) {
            acc += lk_load(x, lk_row_at(lx, base, first, j, xFlags), xDt);
        }
        float total = lk_block_sum(acc, scratch);
        float mean = count > 0 ? total / (float) count : 0.0f;
        float sd = 0.0f;
        float sd2 = 0.0f;
        for (i64 j = lo + threadIdx.x; j < hi; j += blockDim.x) {
            float d = lk_load(x, lk_row_at(lx, base, first, j, xFlags), xDt) - mean;
            sd += d;
            sd2 = fmaf(d, d, sd2);
        }
        sd = lk_block_sum(sd, scratch);
        sd2 = lk_block_sum(sd2, scratch);
        if (threadIdx.x == 0) {
            partial[2 * item] = mean;
            partial[2 * item + 1] = count > 0 ? fmaxf(0.0f, sd2 - sd * sd / (float) count) : 0.0f;
        }
    }
}

#define LK_SEGMENT_STATS 0
#define LK_SEGMENT_MEAN 1
#define LK_SEGMENT_VAR 2

// Per segment: mode STATS writes (mean, 1 / sqrt(M2 / len + eps)) to stats[2s], MEAN writes the mean and VAR
// M2 / max(0, len - correction) to out[s] in outDt. An empty segment gives NaN, as in torch.
extern "C" __global__ void lk_segment_finalize(i64 segments, int splits, i64 len, i64 chunk, const float* partial,
                                               int mode, float eps, int correction, void* out, int outDt,
                                               float* stats) {
    LK_FOR(s, segments) {
        const float* p = partial + 2 * s * splits;
        double sum = 0.0;
        for (int c = 0; c < splits; c++) {
            i64 count = min(chunk, max((i64) 0, len - c * chunk));
            sum += (double) count * p[2 * c];
        }
        double mean = sum / (double) len;
        if (mode == LK_SEGMENT_MEAN) {
            lk_store(out, s, outDt, (float) mean);
            continue;
        }
        double m2 = 0.0;
        for (int c = 0; c < splits; c++) {
            i64 count = min(chunk, max((i64) 0, len - c * chunk));
            double d = (double) p[2 * c] - mean;
            m2 += (double) p[2 * c + 1] + (double) count * d * d;
        }
        if (mode == LK_SEGMENT_VAR) {
            i64 divisor = max((i64) 0, len - correction);
            lk_store(out, s, outDt, (float) (m2 / (double) divisor));
        } else {
            float var = (float) (m2 / (double) len);
            stats[2 * s] = (float) mean;
            stats[2 * s + 1] = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(var, eps)));
        }
    }
}

// group norm's normalization of x [N, C, *] given each (sample, group)'s (mean, rstd) in stats: element i is in
// channel (i / spatial) % channels and segment i / (spatial * perGroup). With weight or bias:
// fma(x, scale, shift) with scale = rstd * weight[c], shift = fma(-scale, mean, bias[c]); else (x - mean) * rstd.
extern "C" __global__ void lk_group_norm_apply(void* out, int outDt, i64 n, i64 spatial, int channels, int perGroup,
                                               const float* stats, const void* x, int xDt, Layout lx, int xFlags,
                                               const void* w, int wDt, i64 wStride, const void* b, int bDt,
                                               i64 bStride) {
    LK_FOR(i, n) {
        i64 t = i / spatial;
        int ch = (int) (t % channels);
        i64 seg = t / perGroup;
        float mean = stats[2 * seg];
        float rstd = stats[2 * seg + 1];
        float v = lk_load(x, lk_view_offset(lx, i, xFlags), xDt);
        float y;
        if (w == 0 && b == 0) {
            y = __fmul_rn(__fsub_rn(v, mean), rstd);
        } else {
            float scale = w == 0 ? rstd : __fmul_rn(rstd, lk_load(w, ch * wStride, wDt));
            float shift = fmaf(-scale, mean, b == 0 ? 0.0f : lk_load(b, ch * bStride, bDt));
            y = fmaf(v, scale, shift);
        }
        lk_store(out, i, outDt, y);
    }
}
