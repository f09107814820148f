// Fused scaled dot-product attention (torch F.scaled_dot_product_attention with an additive or boolean mask):
// flash-style, tiled over the keys with an online softmax in f32, so the Lq x Lk score matrix never exists.
// Java: CudaAttention (launch) and AttentionPlan (path, tiles, shared memory, the AttnParams bytes).
//
// Two kernel families:
//  * lk_attn_mma_{bf16,f16}_d<DP>: tensor cores (sm_80+), q/k/v all bf16 or all f16. 4 warps, 64 query rows per
//    block (16 per warp), key tiles of BK rows double-buffered in shared memory with cp.async, head size padded
//    with zeros to DP (a multiple of 16). S = Q K^T and O += P V with mma.sync m16n8k16 (f32 accumulators),
//    operands from shared memory with ldmatrix. Compiled to an empty body below sm_80 (never launched there).
//  * lk_attn_f32_c<DVC>: CUDA cores, any arch, any input dtypes/strides, f32 math with expf: 4 warps, 8 query rows
//    per warp, key tiles of 32 (one key per lane), 32*DVC output columns per block (wider Dv: several blocks).
//
// Semantics shared with the CPU backend (cpu/Attention.java): scores (q*scale).k + mask, softmax over the keys;
// a row whose scores are all -inf (fully masked) gives 0; boolean masks: false = -inf.
#include "common.cuh"

// mask dtype code for boolean masks (u8, 0 = masked out); the other codes are common.cuh's
#define LK_ATTN_MASK_BOOL 100

#define LK_NEG_INF __int_as_float(0xff800000)
#define LK_LOG2E 1.4426950408889634f

// Everything a launch needs, passed by value. Java: AttentionPlan.params (same offsets; checked below).
// Pointers are to each tensor's first element; strides are in elements, for dims [B, H, L, D] (mask: [B, H, Lq,
// Lk] with 0 on broadcast dims). out is contiguous [B, H, Lq, Dv].
struct AttnParams {
    void* out;
    const void* q;
    const void* k;
    const void* v;
    const void* mask;   // null: no mask
    i64 qs[4];
    i64 ks[4];
    i64 vs[4];
    i64 ms[4];
    int batch;
    int heads;
    int lq;
    int lk;
    int d;
    int dv;
    int qdt;
    int kdt;
    int vdt;
    int mdt;
    int odt;
    int flags;          // mma: bit 0/1/2 = q/k/v rows can be copied in 16-byte chunks; f32: bit 3 = Q fully resident
    float scale;        // > 0 (Java resolves the default 1/sqrt(D))
    int dvChunks;       // f32 path: blocks along Dv per head (gridDim.y = heads * dvChunks)
};

// naturally aligned, no padding: 5 pointers, 16 i64 strides, 12 ints, a float, an int (Java writes the same offsets)
static_assert(sizeof(AttnParams) == 224, "AttnParams size (Java: AttentionPlan.PARAMS_BYTES)");

#define LK_ATTN_VEC_Q 1
#define LK_ATTN_VEC_K 2
#define LK_ATTN_VEC_V 4
#define LK_ATTN_Q_FULL 8

__device__ __forceinline__ float lk_attn_mask(const AttnParams& p, int b, int h, int i, int j) {
    i64 o = b * p.ms[0] + h * p.ms[1] + i * p.ms[2] + j * p.ms[3];
    if (p.mdt == LK_ATTN_MASK_BOOL) {
        return ((const u8*) p.mask)[o] ? 0.0f : LK_NEG_INF;
    }
    return lk_load(p.mask, o, p.mdt);
}

// ------------------------------------------------------------------------------------------------ f32 path

#define LK_F32_BQ 32
#define LK_F32_BK 32
#define LK_F32_ROWS 8
#define LK_F32_DC 64

// Shared memory (floats): sQ [32][qCols] (scaled queries; qCols = D when resident, else DC), sK [32][DC + 1]
// (one chunk of the head dimension; +1 so lane j reading row j hits bank j), sV [32][32 * DVC].
template <int DVC>
__device__ __forceinline__ void lk_attn_f32_body(const AttnParams& p) {
    extern __shared__ float lk_smem_f[];
    constexpr int W = 32 * DVC;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int b = blockIdx.z;
    const int h = blockIdx.y / p.dvChunks;
    const int c0 = (blockIdx.y % p.dvChunks) * W;
    const int q0 = blockIdx.x * LK_F32_BQ;
    const int D = p.d;
    const bool qFull = (p.flags & LK_ATTN_Q_FULL) != 0;
    const int qCols = qFull ? D : LK_F32_DC;
    float* sQ = lk_smem_f;
    float* sK = sQ + LK_F32_BQ * qCols;
    float* sV = sK + LK_F32_BK * (LK_F32_DC + 1);
    const i64 qb = b * p.qs[0] + h * p.qs[1];
    const i64 kb = b * p.ks[0] + h * p.ks[1];
    const i64 vb = b * p.vs[0] + h * p.vs[1];

    if (qFull) {
        for (int e = threadIdx.x; e < LK_F32_BQ * D; e += blockDim.x) {
            int r = e / D;
            int x = e - r * D;
            int i = q0 + r;
            sQ[e] = i < p.lq ? lk_load(p.q, qb + i * p.qs[2] + x * p.qs[3], p.qdt) * p.scale : 0.0f;
        }
    }

    float m[LK_F32_ROWS];
    float l[LK_F32_ROWS];
    float o[LK_F32_ROWS][DVC];
#pragma unroll
    for (int r = 0; r < LK_F32_ROWS; r++) {
        m[r] = LK_NEG_INF;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < DVC; c++) {
            o[r][c] = 0.0f;
        }
    }

    for (int k0 = 0; k0 < p.lk; k0 += LK_F32_BK) {
        float s[LK_F32_ROWS];
#pragma unroll
        for (int r = 0; r < LK_F32_ROWS; r++) {
            s[r] = 0.0f;
        }
        for (int d0 = 0; d0 < D; d0 += LK_F32_DC) {
            const int dn = min(LK_F32_DC, D - d0);
            __syncthreads();  // the previous chunk / tile is consumed
            if (!qFull) {
                for (int e = threadIdx.x; e < LK_F32_BQ * LK_F32_DC; e += blockDim.x) {
                    int r = e / LK_F32_DC;
                    int x = e - r * LK_F32_DC;
                    int i = q0 + r;
                    sQ[e] = i < p.lq && x < dn
                            ? lk_load(p.q, qb + i * p.qs[2] + (d0 + x) * p.qs[3], p.qdt) * p.scale : 0.0f;
                }
            }
            for (int e = threadIdx.x; e < LK_F32_BK * LK_F32_DC; e += blockDim.x) {
                int j = e / LK_F32_DC;
                int x = e - j * LK_F32_DC;
                int kj = k0 + j;
                sK[j * (LK_F32_DC + 1) + x] = kj < p.lk && x < dn
                        ? lk_load(p.k, kb + kj * p.ks[2] + (d0 + x) * p.ks[3], p.kdt) : 0.0f;
            }
            if (d0 == 0) {
                for (int e = threadIdx.x; e < LK_F32_BK * W; e += blockDim.x) {
                    int j = e / W;
                    int c = e - j * W;
                    int kj = k0 + j;
                    sV[e] = kj < p.lk && c0 + c < p.dv
                            ? lk_load(p.v, vb + kj * p.vs[2] + (c0 + c) * p.vs[3], p.vdt) : 0.0f;
                }
            }
            __syncthreads();
            const float* qr = sQ + warp * LK_F32_ROWS * qCols + (qFull ? d0 : 0);
            const float* kr = sK + lane * (LK_F32_DC + 1);
            for (int x = 0; x < dn; x++) {
                float kv = kr[x];
#pragma unroll
                for (int r = 0; r < LK_F32_ROWS; r++) {
                    s[r] = fmaf(qr[r * qCols + x], kv, s[r]);
                }
            }
        }
        // lane = key k0 + lane: mask, online softmax
        const int kj = k0 + lane;
        float pr[LK_F32_ROWS];
#pragma unroll
        for (int r = 0; r < LK_F32_ROWS; r++) {
            int i = q0 + warp * LK_F32_ROWS + r;
            float sv = s[r];
            if (kj >= p.lk) {
                sv = LK_NEG_INF;
            } else if (p.mask != 0 && i < p.lq) {
                sv += lk_attn_mask(p, b, h, i, kj);
            }
            float mx = sv;
#pragma unroll
            for (int off = 16; off > 0; off >>= 1) {
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            }
            float mNew = fmaxf(m[r], mx);
            float ref = mNew == LK_NEG_INF ? 0.0f : mNew;  // all -inf so far: exp(-inf - 0) = 0, not NaN
            float alpha = expf(m[r] - ref);
            m[r] = mNew;
            pr[r] = expf(sv - ref);
            l[r] = l[r] * alpha + pr[r];  // this lane's share; summed over the warp at the end
#pragma unroll
            for (int c = 0; c < DVC; c++) {
                o[r][c] *= alpha;
            }
        }
        for (int j = 0; j < LK_F32_BK; j++) {
            const float* vr = sV + j * W + lane;
#pragma unroll
            for (int r = 0; r < LK_F32_ROWS; r++) {
                float pj = __shfl_sync(0xffffffffu, pr[r], j);
#pragma unroll
                for (int c = 0; c < DVC; c++) {
                    o[r][c] = fmaf(pj, vr[32 * c], o[r][c]);
                }
            }
        }
    }

    const i64 ob = ((i64) b * p.heads + h) * p.lq;
#pragma unroll
    for (int r = 0; r < LK_F32_ROWS; r++) {
        float lt = l[r];
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            lt += __shfl_xor_sync(0xffffffffu, lt, off);
        }
        int i = q0 + warp * LK_F32_ROWS + r;
        if (i < p.lq) {
            float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
#pragma unroll
            for (int c = 0; c < DVC; c++) {
                int col = c0 + lane + 32 * c;
                if (col < p.dv) {
                    lk_store(p.out, (ob + i) * p.dv + col, p.odt, o[r][c] * inv);
                }
            }
        }
    }
}

#define LK_ATTN_F32(DVC) \
    extern "C" __global__ void __launch_bounds__(128, 4) lk_attn_f32_c##DVC(const AttnParams p) { \
        lk_attn_f32_body<DVC>(p); \
    }

LK_ATTN_F32(1)
LK_ATTN_F32(2)
LK_ATTN_F32(4)

// ------------------------------------------------------------------------------------------------ mma path

#define LK_MMA_BQ 64

#if __CUDA_ARCH__ >= 800

__device__ __forceinline__ unsigned int lk_smem_addr(const void* ptr) {
    unsigned int a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(ptr));
    return a;
}

// 16 bytes global -> shared, zero-filled where bytes == 0 (rows past the end, head-dim padding)
__device__ __forceinline__ void lk_cp_async16(unsigned int dst, const void* src, int bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(bytes) : "memory");
}

__device__ __forceinline__ void lk_cp_commit() {
    asm volatile("cp.async.commit_group;" ::: "memory");
}

template <int N>
__device__ __forceinline__ void lk_cp_wait() {
    asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory");
}

__device__ __forceinline__ void lk_ldsm_x4(unsigned int addr, unsigned int& r0, unsigned int& r1, unsigned int& r2,
                                           unsigned int& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

__device__ __forceinline__ void lk_ldsm_x4_t(unsigned int addr, unsigned int& r0, unsigned int& r1,
                                             unsigned int& r2, unsigned int& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}

template <bool F16>
__device__ __forceinline__ void lk_mma16816(float* c, unsigned int a0, unsigned int a1, unsigned int a2,
                                            unsigned int a3, unsigned int b0, unsigned int b1) {
    if (F16) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
}

// two f32 -> packed pair (lo = first column, hi = second), round to nearest even
template <bool F16>
__device__ __forceinline__ unsigned int lk_pack2(float lo, float hi) {
    unsigned int r;
    if (F16) {
        asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    } else {
        asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    }
    return r;
}

__device__ __forceinline__ float lk_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// Copies rows [row0, row0 + ROWS) x columns [0, DP) of a [rows, D] strided 16-bit matrix into shared memory
// (row stride SST elements), zeros past `rows` and past D. vec: the rows are 16-byte aligned with unit column
// stride and D % 8 == 0, so cp.async moves 8 elements at a time (asynchronous: the caller commits and waits);
// otherwise element by element (synchronous).
template <int ROWS, int DP, int SST>
__device__ __forceinline__ void lk_attn_tile(u16* dst, const u16* src, i64 rowStride, i64 colStride, int row0,
                                             int rows, int D, bool vec) {
    if (vec) {
        constexpr int CH = DP / 8;
        for (int e = threadIdx.x; e < ROWS * CH; e += blockDim.x) {
            int r = e / CH;
            int c = e - r * CH;
            int row = row0 + r;
            bool ok = row < rows && c * 8 < D;
            const u16* s = ok ? src + row * rowStride + c * 8 : src;
            lk_cp_async16(lk_smem_addr(dst + r * SST + c * 8), s, ok ? 16 : 0);
        }
    } else {
        for (int e = threadIdx.x; e < ROWS * DP; e += blockDim.x) {
            int r = e / DP;
            int c = e - r * DP;
            int row = row0 + r;
            dst[r * SST + c] = row < rows && c < D ? src[row * rowStride + c * colStride] : (u16) 0;
        }
    }
}

#endif

// Shared memory (16-bit elements, row stride SST = DP + 8 so the 8 rows an ldmatrix reads start in different banks):
// stage s in {0, 1} holds K at (2s) * BK * SST and V at (2s + 1) * BK * SST; Q [64][SST] follows at 4 * BK * SST
// when it stays in shared memory (QREG false), else it is staged in stage 1 and moved to registers first.
template <int DP, int BK, bool QREG, bool F16>
__device__ __forceinline__ void lk_attn_mma_body(const AttnParams& p) {
#if __CUDA_ARCH__ >= 800
    extern __shared__ __align__(16) u16 lk_smem_h[];
    constexpr int SST = DP + 8;
    constexpr int KT = DP / 16;   // k-steps of S = Q K^T
    constexpr int NT = BK / 8;    // n-tiles of S
    constexpr int OT = DP / 8;    // n-tiles of O
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int g = lane >> 2;
    const int t = lane & 3;
    const int b = blockIdx.z;
    const int h = blockIdx.y;
    const int q0 = blockIdx.x * LK_MMA_BQ;
    const int D = p.d;
    const u16* qg = (const u16*) p.q + (b * p.qs[0] + h * p.qs[1]);
    const u16* kg = (const u16*) p.k + (b * p.ks[0] + h * p.ks[1]);
    const u16* vg = (const u16*) p.v + (b * p.vs[0] + h * p.vs[1]);
    const bool vecQ = (p.flags & LK_ATTN_VEC_Q) != 0;
    const bool vecK = (p.flags & LK_ATTN_VEC_K) != 0;
    const bool vecV = (p.flags & LK_ATTN_VEC_V) != 0;
    u16* sQ = QREG ? lk_smem_h + 2 * BK * SST : lk_smem_h + 4 * BK * SST;

    // Q tile -> shared memory (zero rows past Lq, zero columns past D)
    lk_attn_tile<LK_MMA_BQ, DP, SST>(sQ, qg, p.qs[2], p.qs[3], q0, p.lq, D, vecQ);
    lk_cp_commit();
    // ldmatrix lane addresses: A fragments (row = lane % 16, column half = lane / 16),
    // K as B (key = lane % 8 + 8 * (lane / 16), column half = (lane / 8) % 2),
    // V as B through .trans (key = lane % 16, column half = lane / 16)
    const unsigned int aOff = ((warp * 16 + (lane & 15)) * SST + (lane >> 4) * 8) * 2;
    const unsigned int kOff = (((lane & 7) + ((lane >> 4) << 3)) * SST + ((lane >> 3) & 1) * 8) * 2;
    const unsigned int vOff = ((lane & 15) * SST + (lane >> 4) * 8) * 2;
    const unsigned int sQa = lk_smem_addr(sQ) + aOff;

    const int nkt = (p.lk + BK - 1) / BK;
    const unsigned int sBase = lk_smem_addr(lk_smem_h);
    // key tile 0 -> stage 0, in flight while Q is moved to registers (K and V as separate groups so S can start
    // before V has landed)
    lk_attn_tile<BK, DP, SST>(lk_smem_h, kg, p.ks[2], p.ks[3], 0, p.lk, D, vecK);
    lk_cp_commit();
    lk_attn_tile<BK, DP, SST>(lk_smem_h + BK * SST, vg, p.vs[2], p.vs[3], 0, p.lk, p.dv, vecV);
    lk_cp_commit();

    unsigned int qf[QREG ? KT : 1][4];
    if (QREG) {
        lk_cp_wait<2>();  // Q has landed (K and V of tile 0 may still be in flight)
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < KT; kk++) {
            lk_ldsm_x4(sQa + kk * 32, qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3]);
        }
        __syncthreads();  // stage 1 is about to be overwritten by key tile 1
    }

    float o[OT][4];
#pragma unroll
    for (int n = 0; n < OT; n++) {
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    }
    // Scores stay in natural units until the exponent ((v - max) * log2 e): folding log2 e into the scale would
    // turn a huge finite mask value (torch.finfo(float32).min) into -inf and change fully masked rows.
    float m0 = LK_NEG_INF, m1 = LK_NEG_INF;   // running maxima of rows g and g + 8
    float l0 = 0.0f, l1 = 0.0f;               // this thread's share of the running sums
    const float sc = p.scale;
    const int i0 = q0 + warp * 16 + g;        // this thread's two query rows: i0, i0 + 8
    const bool hasMask = p.mask != 0;

    for (int kt = 0; kt < nkt; kt++) {
        const int st = kt & 1;
        const bool next = kt + 1 < nkt;
        if (next) {
            u16* ks = lk_smem_h + (2 * (st ^ 1)) * BK * SST;
            lk_attn_tile<BK, DP, SST>(ks, kg, p.ks[2], p.ks[3], (kt + 1) * BK, p.lk, D, vecK);
            lk_cp_commit();
            lk_attn_tile<BK, DP, SST>(ks + BK * SST, vg, p.vs[2], p.vs[3], (kt + 1) * BK, p.lk, p.dv, vecV);
            lk_cp_commit();
            lk_cp_wait<3>();  // K of this tile (and anything older) has landed
        } else {
            lk_cp_wait<1>();
        }
        __syncthreads();
        const unsigned int sK = sBase + (2 * st) * BK * SST * 2;
        const unsigned int sV = sK + BK * SST * 2;

        // S = Q K^T for this warp's 16 rows and BK keys
        float s[NT][4];
#pragma unroll
        for (int n = 0; n < NT; n++) {
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
        }
#pragma unroll
        for (int kk = 0; kk < KT; kk++) {
            unsigned int a0, a1, a2, a3;
            if (QREG) {
                a0 = qf[kk][0];
                a1 = qf[kk][1];
                a2 = qf[kk][2];
                a3 = qf[kk][3];
            } else {
                lk_ldsm_x4(sQa + kk * 32, a0, a1, a2, a3);
            }
#pragma unroll
            for (int n = 0; n < NT; n += 2) {
                unsigned int b0, b1, b2, b3;
                lk_ldsm_x4(sK + kOff + (n * 8 * SST + kk * 16) * 2, b0, b1, b2, b3);
                lk_mma16816<F16>(s[n], a0, a1, a2, a3, b0, b1);
                lk_mma16816<F16>(s[n + 1], a0, a1, a2, a3, b2, b3);
            }
        }

        // scale, mask, key edge; online softmax
        const int kBase = kt * BK + 2 * t;
        float mx0 = LK_NEG_INF, mx1 = LK_NEG_INF;
#pragma unroll
        for (int n = 0; n < NT; n++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int j = kBase + n * 8 + (e & 1);
                int i = i0 + (e >> 1) * 8;
                float v = s[n][e] * sc;
                if (j >= p.lk) {
                    v = LK_NEG_INF;
                } else if (hasMask && i < p.lq) {
                    v += lk_attn_mask(p, b, h, i, j);
                }
                s[n][e] = v;
            }
            mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
            mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float n0 = fmaxf(m0, mx0);
        const float n1 = fmaxf(m1, mx1);
        const float r0 = n0 == LK_NEG_INF ? 0.0f : n0;   // all -inf so far: probabilities 0, not NaN
        const float r1 = n1 == LK_NEG_INF ? 0.0f : n1;
        const float al0 = lk_exp2((m0 - r0) * LK_LOG2E);
        const float al1 = lk_exp2((m1 - r1) * LK_LOG2E);
        m0 = n0;
        m1 = n1;
        float ps0 = 0.0f, ps1 = 0.0f;
#pragma unroll
        for (int n = 0; n < NT; n++) {
            s[n][0] = lk_exp2((s[n][0] - r0) * LK_LOG2E);
            s[n][1] = lk_exp2((s[n][1] - r0) * LK_LOG2E);
            s[n][2] = lk_exp2((s[n][2] - r1) * LK_LOG2E);
            s[n][3] = lk_exp2((s[n][3] - r1) * LK_LOG2E);
            ps0 += s[n][0] + s[n][1];
            ps1 += s[n][2] + s[n][3];
        }
        l0 = l0 * al0 + ps0;
        l1 = l1 * al1 + ps1;
#pragma unroll
        for (int n = 0; n < OT; n++) {
            o[n][0] *= al0;
            o[n][1] *= al0;
            o[n][2] *= al1;
            o[n][3] *= al1;
        }

        if (next) {
            lk_cp_wait<2>();  // V of this tile has landed
        } else {
            lk_cp_wait<0>();
        }
        __syncthreads();

        // O += P V: the S accumulators of key n-tiles 2kk, 2kk + 1 are exactly the A fragment of k-step kk
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            unsigned int a0 = lk_pack2<F16>(s[2 * kk][0], s[2 * kk][1]);
            unsigned int a1 = lk_pack2<F16>(s[2 * kk][2], s[2 * kk][3]);
            unsigned int a2 = lk_pack2<F16>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            unsigned int a3 = lk_pack2<F16>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
            for (int n = 0; n < OT; n += 2) {
                unsigned int b0, b1, b2, b3;
                lk_ldsm_x4_t(sV + vOff + (kk * 16 * SST + n * 8) * 2, b0, b1, b2, b3);
                lk_mma16816<F16>(o[n], a0, a1, a2, a3, b0, b1);
                lk_mma16816<F16>(o[n + 1], a0, a1, a2, a3, b2, b3);
            }
        }
        __syncthreads();  // this stage is refilled by the next iteration's prefetch
    }

    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f;
    const float inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    const i64 ob = ((i64) b * p.heads + h) * p.lq;
#pragma unroll
    for (int n = 0; n < OT; n++) {
        int col = n * 8 + 2 * t;
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int i = i0 + (e >> 1) * 8;
            int c = col + (e & 1);
            if (i < p.lq && c < p.dv) {
                lk_store(p.out, (ob + i) * p.dv + c, p.odt, o[n][e] * ((e >> 1) ? inv1 : inv0));
            }
        }
    }
#endif
}

#define LK_ATTN_MMA(NAME, DP, BK, QREG, F16) \
    extern "C" __global__ void __launch_bounds__(128) NAME(const AttnParams p) { \
        lk_attn_mma_body<DP, BK, QREG, F16>(p); \
    }

// head-size buckets (D and Dv padded up to the next one); Java: AttentionPlan.MMA_BUCKETS / mmaKeyTile
LK_ATTN_MMA(lk_attn_mma_bf16_d64, 64, 64, true, false)
LK_ATTN_MMA(lk_attn_mma_bf16_d80, 80, 64, true, false)
LK_ATTN_MMA(lk_attn_mma_bf16_d128, 128, 64, true, false)
LK_ATTN_MMA(lk_attn_mma_bf16_d256, 256, 32, false, false)
LK_ATTN_MMA(lk_attn_mma_f16_d64, 64, 64, true, true)
LK_ATTN_MMA(lk_attn_mma_f16_d80, 80, 64, true, true)
LK_ATTN_MMA(lk_attn_mma_f16_d128, 128, 64, true, true)
LK_ATTN_MMA(lk_attn_mma_f16_d256, 256, 32, false, true)
