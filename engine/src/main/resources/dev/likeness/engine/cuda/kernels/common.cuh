// Likeness CUDA kernels: shared definitions. Compiled at run time by NVRTC (no CUDA headers are included, so the
// sources build with any NVRTC from CUDA 12 on). Every kernel loads its inputs in their storage dtype, computes in
// f32 and stores in the output dtype; strided and broadcast views are read through a Layout.
#pragma once

// dtype codes: the same numbering as dev.likeness.engine.cuda.CudaDTypes
#define LK_F32 0
#define LK_F16 1
#define LK_BF16 2
#define LK_F8_E4M3 3
#define LK_F8_E5M2 4
#define LK_I32 5
#define LK_I64 6

typedef long long i64;
typedef unsigned short u16;
typedef unsigned char u8;

// A strided view: element i (row-major over shape) lives at offset + sum(index[d] * stride[d]) elements.
// Java: StridedLayout (112 bytes, passed by value).
struct Layout {
    int rank;
    int pad;
    i64 offset;
    int shape[8];
    i64 stride[8];
};

__device__ __forceinline__ i64 lk_offset(const Layout& l, i64 i) {
    // unrolled with constant indices so the struct stays in the parameter space (no local-memory copy)
    i64 off = l.offset;
#pragma unroll
    for (int d = 7; d >= 0; d--) {
        if (d < l.rank) {
            i64 s = l.shape[d];
            off += (i % s) * l.stride[d];
            i /= s;
        }
    }
    return off;
}

// Storage element of row-major index i of a view, with the fast cases chosen by the caller (uniform flags):
// contiguous views skip the index arithmetic, views under 2^31 elements divide in 32 bits.
#define LK_VIEW_CONTIGUOUS 1
#define LK_VIEW_SMALL 2
__device__ __forceinline__ i64 lk_view_offset(const Layout& l, i64 i, int flags) {
    if (flags & LK_VIEW_CONTIGUOUS) {
        return l.offset + i;
    }
    if (flags & LK_VIEW_SMALL) {
        unsigned int u = (unsigned int) i;
        i64 off = l.offset;
#pragma unroll
        for (int d = 7; d >= 0; d--) {
            if (d < l.rank) {
                unsigned int s = (unsigned int) l.shape[d];
                off += (i64) (u % s) * l.stride[d];
                u /= s;
            }
        }
        return off;
    }
    return lk_offset(l, i);
}

__device__ __forceinline__ float lk_bf16_to_f32(u16 h) {
    return __int_as_float(((unsigned int) h) << 16);
}

// round to nearest even, NaN stays NaN (torch's rounding)
__device__ __forceinline__ u16 lk_f32_to_bf16(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (u16) ((u >> 16) | 0x40u);
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (u16) (u >> 16);
}

__device__ __forceinline__ float lk_f16_to_f32(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ u16 lk_f32_to_f16(float f) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// float8 e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa, no infinities, 0x7f / 0xff are NaN
__device__ __forceinline__ float lk_e4m3_to_f32(u8 b) {
    unsigned int sign = (b & 0x80u) << 24;
    unsigned int e = (b >> 3) & 0xfu;
    unsigned int m = b & 0x7u;
    if (e == 0xfu && m == 0x7u) {
        return __int_as_float(0x7fc00000);
    }
    float v;
    if (e == 0) {
        v = (float) m * 0.001953125f;  // m * 2^-9
    } else {
        v = __int_as_float(((e + 120u) << 23) | (m << 20));
    }
    return sign ? -v : v;
}

// float8 e5m2: the upper byte of an f16
__device__ __forceinline__ float lk_e5m2_to_f32(u8 b) {
    return lk_f16_to_f32((u16) (((unsigned int) b) << 8));
}

// saturating round-to-nearest-even to e4m3fn: beyond ±448 gives ±448, NaN stays NaN. For quantizers that scale by
// amax / 448 (lk_quantize_e4m3 of gemm.cu), where an overflow is a rounding artefact that must not become NaN.
// Conversions (lk_store, Backend.to) use lk_f32_to_e4m3_torch instead.
__device__ __forceinline__ u8 lk_f32_to_e4m3(float f) {
    unsigned int sign = (__float_as_uint(f) >> 24) & 0x80u;
    float a = fabsf(f);
    if (a != a) {
        return (u8) (sign | 0x7fu);
    }
    if (a >= 448.0f) {
        return (u8) (sign | 0x7eu);
    }
    if (a < 0.015625f) {  // subnormal range: multiples of 2^-9
        int m = __float2int_rn(a * 512.0f);
        return (u8) (sign | (unsigned int) m);  // m == 8 encodes 2^-6 exactly (exponent 1, mantissa 0)
    }
    unsigned int u = __float_as_uint(a);
    u += 0x7ffffu + ((u >> 20) & 1u);  // round to 3 mantissa bits, nearest even
    unsigned int e = (u >> 23) - 120u;
    unsigned int m = (u >> 20) & 0x7u;
    if (e > 15u || (e == 15u && m == 7u)) {
        return (u8) (sign | 0x7eu);
    }
    return (u8) (sign | (e << 3) | m);
}

// torch's .to(torch.float8_e4m3fn) (and Dtypes.f32ToE4M3): round to nearest even, and whatever rounds past 448
// (above the midpoint 464, infinities included) becomes NaN, e4m3fn having no infinity
__device__ __forceinline__ u8 lk_f32_to_e4m3_torch(float f) {
    if (!(fabsf(f) <= 464.0f)) {
        return (u8) (((__float_as_uint(f) >> 24) & 0x80u) | 0x7fu);
    }
    return lk_f32_to_e4m3(f);
}

// torch's .to(torch.float8_e5m2) (and Dtypes.f32ToE5M2): round to nearest even straight from f32 (no double rounding
// through f16), overflow to infinity (0x7c), NaN stays NaN
__device__ __forceinline__ u8 lk_f32_to_e5m2(float f) {
    unsigned int a = __float_as_uint(f);
    unsigned int sign = (a >> 24) & 0x80u;
    a &= 0x7fffffffu;
    if (a > 0x7f800000u) {
        return (u8) (sign | 0x7fu);
    }
    if (a >= 0x47800000u) {  // 65536 and up (infinity included): infinity
        return (u8) (sign | 0x7cu);
    }
    if (a < (113u << 23)) {  // below 2^-14, the subnormal range: multiples of 2^-16 (4 encodes 2^-14 exactly)
        return (u8) (sign | (unsigned int) __float2int_rn(__int_as_float(a) * 65536.0f));
    }
    a += 0xfffffu + ((a >> 21) & 1u);  // round to 2 mantissa bits, nearest even
    return (u8) (sign | ((((a >> 23) - 112u) << 2) | ((a >> 21) & 0x3u)));  // a carry past 57344 gives 0x7c (inf)
}

__device__ __forceinline__ float lk_load(const void* p, i64 i, int dt) {
    switch (dt) {
        case LK_F32: return ((const float*) p)[i];
        case LK_BF16: return lk_bf16_to_f32(((const u16*) p)[i]);
        case LK_F16: return lk_f16_to_f32(((const u16*) p)[i]);
        case LK_F8_E4M3: return lk_e4m3_to_f32(((const u8*) p)[i]);
        case LK_F8_E5M2: return lk_e5m2_to_f32(((const u8*) p)[i]);
        case LK_I32: return (float) ((const int*) p)[i];
        case LK_I64: return (float) ((const i64*) p)[i];
        default: return __int_as_float(0x7fc00000);
    }
}

__device__ __forceinline__ void lk_store(void* p, i64 i, int dt, float v) {
    switch (dt) {
        case LK_F32: ((float*) p)[i] = v; break;
        case LK_BF16: ((u16*) p)[i] = lk_f32_to_bf16(v); break;
        case LK_F16: ((u16*) p)[i] = lk_f32_to_f16(v); break;
        case LK_F8_E4M3: ((u8*) p)[i] = lk_f32_to_e4m3_torch(v); break;
        case LK_F8_E5M2: ((u8*) p)[i] = lk_f32_to_e5m2(v); break;
        case LK_I32: ((int*) p)[i] = (int) v; break;
        case LK_I64: ((i64*) p)[i] = (i64) v; break;
        default: break;
    }
}

// grid-stride loop over n elements
#define LK_FOR(i, n) for (i64 i = (i64) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                          i += (i64) gridDim.x * blockDim.x)

// block-wide sum of one float per thread (blockDim.x a multiple of 32, at most 1024); every thread gets the total
__device__ __forceinline__ float lk_block_sum(float v, float* scratch32) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) {
        scratch32[warp] = v;
    }
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    float t = lane < warps ? scratch32[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) {
        t += __shfl_xor_sync(0xffffffffu, t, o);
    }
    return t;
}

// block-wide max, as lk_block_sum
__device__ __forceinline__ float lk_block_max(float v, float* scratch32) {
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) {
        scratch32[warp] = v;
    }
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    float t = lane < warps ? scratch32[lane] : __int_as_float(0xff800000);
    for (int o = 16; o > 0; o >>= 1) {
        t = fmaxf(t, __shfl_xor_sync(0xffffffffu, t, o));
    }
    return t;
}
