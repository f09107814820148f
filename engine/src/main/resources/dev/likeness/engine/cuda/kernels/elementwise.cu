// Elementwise ops: broadcasting arithmetic, affine map, activations, rotary embedding, nearest upsampling,
// concatenation and embedding lookup. Inputs are read through their Layout in their storage dtype (the view flags
// LK_VIEW_* pick the fast index paths), math is f32 with the roundings of the CPU backend (explicit _rn intrinsics
// where the compiler would otherwise contract a multiply and an add), results are stored contiguously in outDt.
#include "common.cuh"

// binary ops (CudaElementwise.ADD ...)
#define LK_OP_ADD 0
#define LK_OP_SUB 1
#define LK_OP_MUL 2
#define LK_OP_DIV 3

// unary ops (CudaElementwise.GELU ...)
#define LK_GELU 0
#define LK_GELU_TANH 1
#define LK_QUICK_GELU 2
#define LK_SILU 3
#define LK_SQRT 4

__device__ __forceinline__ float lk_apply(int op, float a, float b) {
    switch (op) {
        case LK_OP_ADD: return __fadd_rn(a, b);
        case LK_OP_SUB: return __fsub_rn(a, b);
        case LK_OP_MUL: return __fmul_rn(a, b);
        default: return __fdiv_rn(a, b);
    }
}

// out[i] = x[i] op y[i] over the broadcast shape; lx and ly are the operands expanded to it.
extern "C" __global__ void lk_binary(void* out, int outDt, i64 n, int op, const void* x, int xDt, Layout lx,
                                     int xFlags, const void* y, int yDt, Layout ly, int yFlags) {
    LK_FOR(i, n) {
        float a = lk_load(x, lk_view_offset(lx, i, xFlags), xDt);
        float b = lk_load(y, lk_view_offset(ly, i, yFlags), yDt);
        lk_store(out, i, outDt, lk_apply(op, a, b));
    }
}

// The all-contiguous f32 / bf16 case, four elements per thread per step (16-byte or 8-byte loads); n4 = n / 4
// groups, the tail done one by one. Pointers are the first elements and must be 16-byte (f32) / 8-byte (bf16)
// aligned: the host checks.
__device__ __forceinline__ void lk_load4(const void* p, i64 g, int dt, float* v) {
    if (dt == LK_F32) {
        float4 f = ((const float4*) p)[g];
        v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
    } else {
        uint2 u = ((const uint2*) p)[g];
        v[0] = __int_as_float(u.x << 16);
        v[1] = __int_as_float(u.x & 0xffff0000u);
        v[2] = __int_as_float(u.y << 16);
        v[3] = __int_as_float(u.y & 0xffff0000u);
    }
}

__device__ __forceinline__ void lk_store4(void* p, i64 g, int dt, const float* v) {
    if (dt == LK_F32) {
        ((float4*) p)[g] = make_float4(v[0], v[1], v[2], v[3]);
    } else {
        uint2 u;
        u.x = (unsigned int) lk_f32_to_bf16(v[0]) | ((unsigned int) lk_f32_to_bf16(v[1]) << 16);
        u.y = (unsigned int) lk_f32_to_bf16(v[2]) | ((unsigned int) lk_f32_to_bf16(v[3]) << 16);
        ((uint2*) p)[g] = u;
    }
}

extern "C" __global__ void lk_binary_vec4(void* out, int outDt, i64 n, int op, const void* x, int xDt,
                                          const void* y, int yDt) {
    i64 groups = n >> 2;
    LK_FOR(g, groups) {
        float a[4];
        float b[4];
        lk_load4(x, g, xDt, a);
        lk_load4(y, g, yDt, b);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            a[k] = lk_apply(op, a[k], b[k]);
        }
        lk_store4(out, g, outDt, a);
    }
    LK_FOR(t, n - (groups << 2)) {
        i64 i = (groups << 2) + t;
        lk_store(out, i, outDt, lk_apply(op, lk_load(x, i, xDt), lk_load(y, i, yDt)));
    }
}

// out[i] = x[i] * s + t, rounded after the multiply and after the add (torch's x * s + t)
extern "C" __global__ void lk_affine(void* out, int outDt, i64 n, const void* x, int xDt, Layout lx, int xFlags,
                                     float s, float t) {
    LK_FOR(i, n) {
        float v = lk_load(x, lk_view_offset(lx, i, xFlags), xDt);
        lk_store(out, i, outDt, __fadd_rn(__fmul_rn(v, s), t));
    }
}

// the activations in the CPU backend's operation order (Activations.java)
__device__ __forceinline__ float lk_activation(int op, float v) {
    switch (op) {
        case LK_GELU: {
            float e = erff(__fmul_rn(v, 0.70710678118654752440f));
            return __fmul_rn(__fmul_rn(v, 0.5f), __fadd_rn(e, 1.0f));
        }
        case LK_GELU_TANH: {
            float cube = __fmul_rn(__fmul_rn(v, v), v);
            float inner = __fmul_rn(__fadd_rn(v, __fmul_rn(cube, 0.044715f)), 0.7978845608028654f);
            return __fmul_rn(__fmul_rn(v, 0.5f), __fadd_rn(tanhf(inner), 1.0f));
        }
        case LK_QUICK_GELU: {
            float sig = __fdiv_rn(1.0f, __fadd_rn(expf(-__fmul_rn(v, 1.702f)), 1.0f));
            return __fmul_rn(v, sig);
        }
        case LK_SILU:
            return __fdiv_rn(v, __fadd_rn(expf(-v), 1.0f));
        default:
            return __fsqrt_rn(v);
    }
}

// the all-contiguous f32 / bf16 case of lk_affine (op < 0) and lk_unary (op >= 0), four elements at a time
extern "C" __global__ void lk_map_vec4(void* out, int outDt, i64 n, int op, float s, float t, const void* x,
                                       int xDt) {
    i64 groups = n >> 2;
    LK_FOR(g, groups) {
        float v[4];
        lk_load4(x, g, xDt, v);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            v[k] = op < 0 ? __fadd_rn(__fmul_rn(v[k], s), t) : lk_activation(op, v[k]);
        }
        lk_store4(out, g, outDt, v);
    }
    LK_FOR(r, n - (groups << 2)) {
        i64 i = (groups << 2) + r;
        float v = lk_load(x, i, xDt);
        lk_store(out, i, outDt, op < 0 ? __fadd_rn(__fmul_rn(v, s), t) : lk_activation(op, v));
    }
}

extern "C" __global__ void lk_unary(void* out, int outDt, i64 n, int op, const void* x, int xDt, Layout lx,
                                    int xFlags) {
    LK_FOR(i, n) {
        float v = lk_load(x, lk_view_offset(lx, i, xFlags), xDt);
        lk_store(out, i, outDt, lk_activation(op, v));
    }
}

// FLUX rotary embedding over x [..., S, D] (D even): pair (re, im) = (x[2k], x[2k+1]) of a row at sequence position
// s becomes (re·cos - im·sin, im·cos + re·sin) with cos, sin [S, D] at (s, 2k) and (s, 2k+1); each product rounded
// before the sum, as torch computes x * cos + x_rotated * sin in f32.
extern "C" __global__ void lk_rope(void* out, int outDt, i64 pairs, int seq, int d, const void* x, int xDt,
                                   Layout lx, int xFlags, const void* c, int cDt, Layout lc, int cFlags,
                                   const void* s, int sDt, Layout ls, int sFlags) {
    LK_FOR(p, pairs) {
        i64 e = 2 * p;
        i64 row = e / d;
        int k = (int) (e - row * d);
        i64 t = (row % seq) * d + k;
        float re = lk_load(x, lk_view_offset(lx, e, xFlags), xDt);
        float im = lk_load(x, lk_view_offset(lx, e + 1, xFlags), xDt);
        float c0 = lk_load(c, lk_view_offset(lc, t, cFlags), cDt);
        float c1 = lk_load(c, lk_view_offset(lc, t + 1, cFlags), cDt);
        float s0 = lk_load(s, lk_view_offset(ls, t, sFlags), sDt);
        float s1 = lk_load(s, lk_view_offset(ls, t + 1, sFlags), sDt);
        lk_store(out, e, outDt, __fadd_rn(__fmul_rn(re, c0), __fmul_rn(-im, s0)));
        lk_store(out, e + 1, outDt, __fadd_rn(__fmul_rn(im, c1), __fmul_rn(re, s1)));
    }
}

// torch's nearest upsampling of x [N, C, h, w] to [N, C, oh, ow]: source index min(floor(scale * dst), in - 1) with
// scale = (float) in / out computed on the host in f32.
extern "C" __global__ void lk_upsample_nearest(void* out, int outDt, i64 n, int h, int w, int oh, int ow, float sh,
                                               float sw, const void* x, int xDt, Layout lx, int xFlags) {
    LK_FOR(i, n) {
        i64 rest = i / ow;
        int ox = (int) (i - rest * ow);
        i64 plane = rest / oh;
        int oy = (int) (rest - plane * oh);
        int iy = min((int) floorf(__fmul_rn(sh, (float) oy)), h - 1);
        int ix = min((int) floorf(__fmul_rn(sw, (float) ox)), w - 1);
        i64 src = (plane * h + iy) * w + ix;
        lk_store(out, i, outDt, lk_load(x, lk_view_offset(lx, src, xFlags), xDt));
    }
}

// One input of a concatenation: its n = outer * run elements (run = size along the dim × inner) go to
// out[o * outRow + col + j].
extern "C" __global__ void lk_cat_part(void* out, int outDt, i64 n, i64 run, i64 outRow, i64 col, const void* x,
                                       int xDt, Layout lx, int xFlags) {
    LK_FOR(i, n) {
        i64 o = i / run;
        i64 j = i - o * run;
        lk_store(out, o * outRow + col + j, outDt, lk_load(x, lk_view_offset(lx, i, xFlags), xDt));
    }
}

// out[r, j] = weight[ids[r], j] (× scale[ids[r]] or scale[0] for a scaled weight); ids are checked on the host.
extern "C" __global__ void lk_embedding(void* out, int outDt, i64 n, int e, const int* ids, const void* w, int wDt,
                                        Layout lw, int wFlags, const float* scale, int scaleCount) {
    LK_FOR(i, n) {
        i64 r = i / e;
        int j = (int) (i - r * e);
        i64 id = ids[r];
        float v = lk_load(w, lk_view_offset(lw, id * e + j, wFlags), wDt);
        if (scale != 0) {
            v *= scaleCount == 1 ? scale[0] : scale[id];
        }
        lk_store(out, i, outDt, v);
    }
}
