// conv2d as im2col + cuBLASLt GEMM: the column matrix of a band of output rows of one image, and the per-channel bias.
#include "common.cuh"

// col[k, p] (row-major, k = (c, i, j) over C × kh × kw, p over the band's rows × OW output pixels) =
//   x[c, (row0 + p / OW) * sh - ph + i, (p % OW) * sw - pw + j], 0 outside the image,
// for one image of x (element xOffset, strides sC, sH, sW, dtype xDt), stored in colDt. total = C * kh * kw * P.
extern "C" __global__ void lk_im2col(void* col, int colDt, i64 total, int bandPixels, const void* x, int xDt,
                                     i64 xOffset, i64 sC, i64 sH, i64 sW, int H, int W, int kh, int kw, int sh,
                                     int sw, int ph, int pw, int OW, int row0) {
    int taps = kh * kw;
    LK_FOR(idx, total) {
        int p = (int) (idx % bandPixels);
        int k = (int) (idx / bandPixels);
        int c = k / taps;
        int t = k - c * taps;
        int i = t / kw;
        int j = t - i * kw;
        int oy = row0 + p / OW;
        int ox = p % OW;
        int iy = oy * sh - ph + i;
        int ix = ox * sw - pw + j;
        float v = 0.0f;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
            v = lk_load(x, xOffset + c * sC + iy * sH + ix * sW, xDt);
        }
        lk_store(col, idx, colDt, v);
    }
}

// out[n, o, p] += bias[o] on a contiguous [N, O, P] output (dtype dt); bias read in biasDt at biasOffset + o * stride.
extern "C" __global__ void lk_bias_channels(void* out, int dt, i64 total, i64 pixels, int channels, const void* bias,
                                            int biasDt, i64 biasOffset, i64 biasStride) {
    LK_FOR(i, total) {
        int o = (int) ((i / pixels) % channels);
        float v = lk_load(out, i, dt) + lk_load(bias, biasOffset + o * biasStride, biasDt);
        lk_store(out, i, dt, v);
    }
}
