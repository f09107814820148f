// Helpers around the cuBLASLt GEMMs of linear / matmul: FP8 activation quantization (per-tensor amax scale), the
// post-GEMM per-output-channel scale and bias, and int8 weight dequantization.
#include "common.cuh"

// amaxBits[0] = max(amaxBits[0], max |x|) as the bit pattern of a non-negative float: non-negative floats order like
// their bits as unsigned ints, and a NaN (bits above +inf) wins. amaxBits[0] must start at 0. x is n elements of a
// view in dtype dt. Launched with whole warps (the block size is a multiple of 32).
extern "C" __global__ void lk_amax(unsigned int* amaxBits, i64 n, const void* x, int dt, Layout l) {
    unsigned int m = 0u;
    LK_FOR(i, n) {
        unsigned int b = __float_as_uint(fabsf(lk_load(x, lk_offset(l, i), dt)));
        m = b > m ? b : m;
    }
    for (int o = 16; o > 0; o >>= 1) {
        unsigned int t = __shfl_xor_sync(0xffffffffu, m, o);
        m = t > m ? t : m;
    }
    if ((threadIdx.x & 31) == 0 && m != 0u) {
        atomicMax(amaxBits, m);
    }
}

// The per-tensor e4m3 scale for an amax: amax / 448 (the largest e4m3 value), 1 for an all-zero tensor.
__device__ __forceinline__ float lk_e4m3_scale(unsigned int amaxBits) {
    float amax = __uint_as_float(amaxBits);
    return amax > 0.0f ? amax / 448.0f : 1.0f;
}

// out[i] = e4m3(x[layout(i)] / scale), scale = lk_e4m3_scale(amax); scaleOut[0] = scale (the GEMM's B scale).
extern "C" __global__ void lk_quantize_e4m3(u8* out, float* scaleOut, i64 n, const void* x, int dt, Layout l,
                                            const unsigned int* amaxBits) {
    float scale = lk_e4m3_scale(amaxBits[0]);
    float inv = 1.0f / scale;
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        scaleOut[0] = scale;
    }
    LK_FOR(i, n) {
        out[i] = lk_f32_to_e4m3(lk_load(x, lk_offset(l, i), dt) * inv);
    }
}

// On a contiguous [rows, cols] output in dtype dt, element (r, c) becomes
//   (overwrite ? 0 : out * (colScale ? colScale[colScaleCount == 1 ? 0 : c] : 1)) + (bias ? bias[c] : 0)
// where bias is read in biasDt at element biasOffset + c * biasStride. total = rows * cols.
extern "C" __global__ void lk_gemm_epilogue(void* out, int dt, i64 total, int cols, const float* colScale,
                                            int colScaleCount, const void* bias, int biasDt, i64 biasOffset,
                                            i64 biasStride, int overwrite) {
    LK_FOR(i, total) {
        int c = (int) (i % cols);
        float v = 0.0f;
        if (!overwrite) {
            v = lk_load(out, i, dt);
            if (colScale != 0) {
                v *= colScale[colScaleCount == 1 ? 0 : c];
            }
        }
        if (bias != 0) {
            v += lk_load(bias, biasOffset + c * biasStride, biasDt);
        }
        lk_store(out, i, dt, v);
    }
}

// out[i] = in[layout(i)] * scale (int8 weights; scale null, one value, or one per row of rowSize elements), stored in
// outDt.
extern "C" __global__ void lk_dequant_i8(void* out, int outDt, i64 n, const signed char* in, Layout l,
                                         const float* scale, i64 rowSize, int scaleCount) {
    LK_FOR(i, n) {
        float v = (float) in[lk_offset(l, i)];
        if (scale != 0) {
            v *= scaleCount == 1 ? scale[0] : scale[i / rowSize];
        }
        lk_store(out, i, outDt, v);
    }
}
