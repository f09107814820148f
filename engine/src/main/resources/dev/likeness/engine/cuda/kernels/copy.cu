// Copies and dtype conversions: the kernels behind contiguous(), to() and toFloatArray().
#include "common.cuh"

// out[i] = in[layout(i)] * scale, converted from inDt to outDt; scale is null, one value, or one per row of
// rowSize elements (the int8 / fp8 per-output-channel weight scale).
extern "C" __global__ void lk_convert(void* out, int outDt, i64 n, const void* in, int inDt, Layout l,
                                      const float* scale, i64 rowSize, int scaleCount) {
    LK_FOR(i, n) {
        float v = lk_load(in, lk_offset(l, i), inDt);
        if (scale != 0) {
            v *= scaleCount == 1 ? scale[0] : scale[i / rowSize];
        }
        lk_store(out, i, outDt, v);
    }
}

// Same-dtype gather of a strided view into contiguous memory, bit for bit (any element size: 1, 2, 4 or 8 bytes).
extern "C" __global__ void lk_gather(void* out, i64 n, const void* in, Layout l, int elementBytes) {
    LK_FOR(i, n) {
        i64 o = lk_offset(l, i);
        switch (elementBytes) {
            case 1: ((u8*) out)[i] = ((const u8*) in)[o]; break;
            case 2: ((u16*) out)[i] = ((const u16*) in)[o]; break;
            case 4: ((unsigned int*) out)[i] = ((const unsigned int*) in)[o]; break;
            default: ((i64*) out)[i] = ((const i64*) in)[o]; break;
        }
    }
}
