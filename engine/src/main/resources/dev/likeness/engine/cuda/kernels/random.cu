// Deterministic pseudo-random fills, generated on the device (benchmarks build full-size models without weight
// files; 12 B bf16 parameters are 24 GB that never touch the host). The formula is the one of the models module's
// SyntheticWeights, so a tensor filled here equals the host-built one element for element:
//   h = fmix32(i * 0x9E3779B9 + streamSeed)     (MurmurHash3's finalizer, arithmetic modulo 2^32)
//   k = (h >> 24) - 128                          (an integer in [-128, 127])
//   value = offset + step * k                    (the product, then the sum, each rounded to f32 once)
// then stored in the output dtype with the usual rounding (lk_store).
#include "common.cuh"

__device__ __forceinline__ int lk_synthetic_draw(unsigned int streamSeed, i64 i) {
    unsigned int h = ((unsigned int) i) * 0x9E3779B9u + streamSeed;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return (int) (h >> 24) - 128;
}

// out[i] = offset + step * k(i), i in [0, n), contiguous, in dtype outDt.
extern "C" __global__ void lk_fill_synthetic(void* out, int outDt, i64 n, unsigned int streamSeed, float step,
                                             float offset) {
    LK_FOR(i, n) {
        // __fmul_rn / __fadd_rn: two roundings, never contracted into one fma (the host formula rounds twice)
        float v = __fadd_rn(__fmul_rn((float) lk_synthetic_draw(streamSeed, i), step), offset);
        lk_store(out, i, outDt, v);
    }
}

// out[i] = value for i in [0, n) in dtype outDt (biases and norm weights of constant value, fp8 row scales).
extern "C" __global__ void lk_fill_constant(void* out, int outDt, i64 n, float value) {
    LK_FOR(i, n) {
        lk_store(out, i, outDt, value);
    }
}
