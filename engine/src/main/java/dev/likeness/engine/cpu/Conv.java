package dev.likeness.engine.cpu;

import dev.likeness.engine.DType;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * 2-D convolution, torch {@code F.conv2d(x, w, bias, stride, padding, dilation=1, groups)}.
 *
 * <p>Most convolutions run as an implicit GEMM per image and group: out[o][p] = bias[o] + sum over
 * k = (c, i, j) of W[o][k] * X[c][p's row * stride - pad + i][p's column * stride - pad + j]. The weight (any storage
 * dtype, converted row by row) is packed once per call into micro-panels of {@link #MR} output channels; the input
 * is packed im2col-style, one tile of at most {@link #MAX_TILE} output pixels and one block of {@link #KC} reduction
 * indices at a time, into panels of {@link #NR} pixels (two vectors), with the padding written as zeros: the full
 * im2col matrix never exists. A register-blocked micro-kernel (MR x NR accumulators, fused multiply-add) accumulates
 * straight into the output, which starts as the bias. Tiles are narrowed for layers with many output channels so the
 * output block a tile accumulates into stays in L2. Threads split (image, group, pixel tile, output-channel chunk)
 * tasks.
 *
 * <p>Convolutions with fewer than 4 output channels per group (depthwise ones) run directly instead: each output
 * plane is a sum of shifted, weighted rows of a zero-padded input plane, vectorized along the output row.
 */
final class Conv {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Output channels per micro-kernel (rows of accumulators). */
    private static final int MR = 6;
    /** Output pixels per micro-kernel: two vectors. */
    private static final int NR = 2 * L;
    private static final int NR_SHIFT = Integer.numberOfTrailingZeros(NR);
    /** Reduction block: one packed input panel (KC x NR floats) stays within half of a 32 KiB L1. */
    private static final int KC = 4096 / NR;
    /** Output channels whose packed weights (MC x KC) are reused from L2 across the panels of a tile. */
    private static final int MC = 16 * MR;
    /** Output pixels per tile, at most (a multiple of NR). */
    private static final int MAX_TILE = Math.max(NR, 256 / NR * NR);
    /** Bytes of output (channels x tile pixels) one tile accumulates into, kept within L2 across reduction blocks. */
    private static final int OUTPUT_TILE_BYTES = 256 * 1024;
    /** Output channels per group below which the direct (depthwise) path is used. */
    private static final int DIRECT_BELOW = 4;

    private Conv() {
    }

    /**
     * torch {@code F.conv2d(x, w, bias, stride=(sh, sw), padding=(ph, pw), dilation=1, groups)} for
     * x [N, C, H, W] and w [O, C/groups, kh, kw]; bias [O] or null. Result: [N, O, OH, OW] with
     * OH = (H + 2 ph - kh) / sh + 1 and OW = (W + 2 pw - kw) / sw + 1.
     */
    static Tensor conv2d(CpuBackend b, Tensor x, Tensor w, Tensor bias, int sh, int sw, int ph, int pw, int groups) {
        Shape s = Shape.check(x, w, bias, sh, sw, ph, pw, groups);
        float[] out = new float[s.outputSize()];
        if (out.length > 0) {
            float[] biasValues = bias == null ? null : CpuData.copyFloats(bias);
            Input in = new Input(x, s);
            if (s.og < DIRECT_BELOW) {
                direct(b, s, in, weightRows(b, w, s), biasValues, out);
            } else {
                gemm(b, s, in, packWeights(b, w, s), biasValues, out);
            }
        }
        return b.wrap(out, s.n, s.o, s.oh, s.ow);
    }

    // ------------------------------------------------------------------ shapes and inputs

    /** Validated sizes of one convolution. */
    private record Shape(int n, int c, int h, int w, int o, int kh, int kw, int sh, int sw, int ph, int pw,
                         int groups, int cg, int og, int k, int oh, int ow) {

        static Shape check(Tensor x, Tensor w, Tensor bias, int sh, int sw, int ph, int pw, int groups) {
            OpShapes.Conv2d s = OpShapes.conv2d(x, w, bias, sh, sw, ph, pw, groups);
            long k = (long) s.cg() * s.kh() * s.kw();
            long packedRows = (long) groups * roundUp(s.og(), MR);
            if (k * packedRows > Integer.MAX_VALUE - 16 || x.numel() > Integer.MAX_VALUE - 16
                    || (long) s.n() * s.o() * s.oh() * s.ow() > Integer.MAX_VALUE - 16) {
                throw new IllegalArgumentException("conv2d: too many elements for the CPU backend" + s.describe());
            }
            return new Shape(s.n(), s.c(), s.h(), s.w(), s.o(), s.kh(), s.kw(), sh, sw, ph, pw, groups, s.cg(),
                    s.og(), (int) k, s.oh(), s.ow());
        }

        int pixels() {
            return oh * ow;
        }

        int outputSize() {
            return n * o * oh * ow;
        }
    }

    /**
     * The input as one f32 array: the backing array of an f32 heap tensor whose images are contiguous, otherwise a
     * converted row-major copy. Element (n, c, y, x) is at {@code image(n) + (c * H + y) * W + x}.
     */
    private static final class Input {
        final float[] data;
        private final long base;
        private final long imageStride;

        Input(Tensor x, Shape s) {
            CpuStorage st = CpuData.storage(x);
            long[] str = x.strides();
            boolean imagesContiguous = (str[3] == 1 || s.w == 1) && (str[2] == s.w || s.h == 1)
                    && (str[1] == (long) s.h * s.w || s.c == 1);
            if (st.floats() != null && x.dtype() == DType.F32 && x.scale() == null && imagesContiguous) {
                data = st.floats();
                base = x.offset();
                imageStride = str[0];
            } else {
                data = CpuData.copyFloats(x);
                base = 0;
                imageStride = (long) s.c * s.h * s.w;
            }
        }

        int image(int n) {
            return Math.toIntExact(base + n * imageStride);
        }
    }

    // ------------------------------------------------------------------ implicit GEMM path

    /**
     * The weights as f32 micro-panels: for group g and panel q (output channels g*og + q*MR .. + MR - 1), element
     * [k][r] at {@code ((g * panels + q) * K + k) * MR + r}; rows past the group's end are zero.
     */
    private static float[] packWeights(CpuBackend b, Tensor w, Shape s) {
        Tensor rows = w.reshape(s.o, s.k);
        int panels = (s.og + MR - 1) / MR;
        float[] packed = new float[s.groups * panels * s.k * MR];
        b.parallel().range(s.groups * panels, 1, (start, end) -> {
            float[] row = new float[s.k];
            for (int gp = start; gp < end; gp++) {
                int g = gp / panels;
                int q = gp % panels;
                int base = gp * s.k * MR;
                for (int r = 0; r < MR && q * MR + r < s.og; r++) {
                    CpuData.readRow(rows, g * s.og + q * MR + r, 0, s.k, row, 0);
                    for (int k = 0; k < s.k; k++) {
                        packed[base + k * MR + r] = row[k];
                    }
                }
            }
        });
        return packed;
    }

    /**
     * The implicit GEMM: for each task (image, group, tile of output pixels, chunk of output channels) the output
     * block starts as the bias, then for each reduction block the tile's input is packed and every (NR pixels x MR
     * channels) block of the output is updated by the micro-kernel.
     */
    private static void gemm(CpuBackend b, Shape s, Input in, float[] packedW, float[] bias, float[] out) {
        int pixels = s.pixels();
        int tile = Math.clamp(OUTPUT_TILE_BYTES / 4 / s.og / NR * NR, NR, MAX_TILE);
        int tiles = (pixels + tile - 1) / tile;
        int outer = s.n * s.groups * tiles;
        int wantedChunks = (4 * b.threads() + outer - 1) / outer;
        int chunkRows = roundUp(Math.max(MR, (s.og + wantedChunks - 1) / wantedChunks), MR);
        int chunks = (s.og + chunkRows - 1) / chunkRows;
        int panels = (s.og + MR - 1) / MR;
        b.parallel().range(outer * chunks, 1, (start, end) -> {
            float[] packedX = new float[tile * KC];
            float[] edge = new float[MR * NR];
            for (int task = start; task < end; task++) {
                int chunk = task % chunks;
                int t = task / chunks % tiles;
                int g = task / chunks / tiles % s.groups;
                int n = task / chunks / tiles / s.groups;
                int p0 = t * tile;
                int len = Math.min(tile, pixels - p0);
                int o0 = chunk * chunkRows;
                int o1 = Math.min(s.og, o0 + chunkRows);
                int channels = in.image(n) + g * s.cg * s.h * s.w;
                if (bias != null) {
                    for (int o = g * s.og + o0; o < g * s.og + o1; o++) {
                        int row = (n * s.o + o) * pixels + p0;
                        Arrays.fill(out, row, row + len, bias[o]);
                    }
                }
                for (int kb = 0; kb < s.k; kb += KC) {
                    int kc = Math.min(KC, s.k - kb);
                    packInput(in.data, channels, s, p0, len, kb, kc, packedX);
                    for (int mc = o0; mc < o1; mc += MC) {
                        int mcEnd = Math.min(o1, mc + MC);
                        for (int j = 0; j * NR < len; j++) {
                            int cols = Math.min(NR, len - j * NR);
                            for (int q = mc; q < mcEnd; q += MR) {
                                int rows = Math.min(MR, o1 - q);
                                int aOff = ((g * panels + q / MR) * s.k + kb) * MR;
                                int cOff = (n * s.o + g * s.og + q) * pixels + p0 + j * NR;
                                if (rows == MR && cols == NR) {
                                    microKernel(packedW, aOff, packedX, j * kc * NR, kc, out, cOff, pixels);
                                } else {
                                    edgeKernel(packedW, aOff, packedX, j * kc * NR, kc, out, cOff, pixels, rows, cols,
                                            edge);
                                }
                            }
                        }
                    }
                }
            }
        });
    }

    /**
     * im2col for one tile: reduction rows kb..kb+kc-1 (k = (c, i, j)) for output pixels p0..p0+len-1, written as
     * panels of NR pixels: element (kk, t) at {@code (t / NR) * kc * NR + kk * NR + t % NR}. Out-of-image taps are 0.
     */
    private static void packInput(float[] x, int channels, Shape s, int p0, int len, int kb, int kc, float[] dst) {
        int khw = s.kh * s.kw;
        int c = kb / khw;
        int i = kb % khw / s.kw;
        int j = kb % s.kw;
        int panelStride = kc * NR;
        for (int kk = 0; kk < kc; kk++) {
            int plane = channels + c * s.h * s.w;
            int lane = kk * NR;
            int oy = p0 / s.ow;
            int ox = p0 % s.ow;
            for (int t = 0; t < len; ) {
                int run = Math.min(len - t, s.ow - ox);
                int iy = oy * s.sh - s.ph + i;
                int ix0 = ox * s.sw - s.pw + j;
                if (iy < 0 || iy >= s.h) {
                    put(dst, lane, panelStride, t, run, null, 0, 0);
                } else {
                    // pixels q in [qlo, qhi) of the run read columns ix0 + q * sw inside the image
                    int qlo = ix0 >= 0 ? 0 : Math.min(run, (-ix0 + s.sw - 1) / s.sw);
                    int qhi = ix0 >= s.w ? qlo : Math.max(qlo, Math.min(run, (s.w - 1 - ix0) / s.sw + 1));
                    int row = plane + iy * s.w;
                    put(dst, lane, panelStride, t, qlo, null, 0, 0);
                    put(dst, lane, panelStride, t + qlo, qhi - qlo, x, row + ix0 + qlo * s.sw, s.sw);
                    put(dst, lane, panelStride, t + qhi, run - qhi, null, 0, 0);
                }
                t += run;
                ox = 0;
                oy++;
            }
            if (++j == s.kw) {
                j = 0;
                if (++i == s.kh) {
                    i = 0;
                    c++;
                }
            }
        }
    }

    /**
     * Writes {@code count} values for tile pixels t.. into the panel layout (lane offset {@code lane} = kk * NR):
     * src[from + q * step] for q < count, or zeros when {@code src} is null.
     */
    private static void put(float[] dst, int lane, int panelStride, int t, int count, float[] src, int from,
                            int step) {
        while (count > 0) {
            int inPanel = t & (NR - 1);
            int run = Math.min(count, NR - inPanel);
            int d = (t >>> NR_SHIFT) * panelStride + lane + inPanel;
            if (src == null) {
                Arrays.fill(dst, d, d + run, 0f);
            } else if (step == 1) {
                System.arraycopy(src, from, dst, d, run);
            } else {
                for (int q = 0; q < run; q++) {
                    dst[d + q] = src[from + q * step];
                }
            }
            from += run * step;
            t += run;
            count -= run;
        }
    }

    /**
     * C[MR x NR] += A-panel [kc x MR] times B-panel [kc x NR], C rows {@code ldc} apart starting at cOff: the
     * register-blocked inner loop, MR x 2 vector accumulators updated by fused multiply-adds.
     */
    private static void microKernel(float[] a, int aOff, float[] bp, int bOff, int kc, float[] c, int cOff, int ldc) {
        int c1 = cOff + ldc;
        int c2 = c1 + ldc;
        int c3 = c2 + ldc;
        int c4 = c3 + ldc;
        int c5 = c4 + ldc;
        FloatVector c00 = FloatVector.fromArray(S, c, cOff);
        FloatVector c01 = FloatVector.fromArray(S, c, cOff + L);
        FloatVector c10 = FloatVector.fromArray(S, c, c1);
        FloatVector c11 = FloatVector.fromArray(S, c, c1 + L);
        FloatVector c20 = FloatVector.fromArray(S, c, c2);
        FloatVector c21 = FloatVector.fromArray(S, c, c2 + L);
        FloatVector c30 = FloatVector.fromArray(S, c, c3);
        FloatVector c31 = FloatVector.fromArray(S, c, c3 + L);
        FloatVector c40 = FloatVector.fromArray(S, c, c4);
        FloatVector c41 = FloatVector.fromArray(S, c, c4 + L);
        FloatVector c50 = FloatVector.fromArray(S, c, c5);
        FloatVector c51 = FloatVector.fromArray(S, c, c5 + L);
        int bi = bOff;
        for (int ai = aOff, aEnd = aOff + kc * MR; ai < aEnd; ai += MR) {
            FloatVector b0 = FloatVector.fromArray(S, bp, bi);
            FloatVector b1 = FloatVector.fromArray(S, bp, bi + L);
            FloatVector av = FloatVector.broadcast(S, a[ai]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ai + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ai + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ai + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ai + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ai + 5]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            bi += NR;
        }
        c00.intoArray(c, cOff);
        c01.intoArray(c, cOff + L);
        c10.intoArray(c, c1);
        c11.intoArray(c, c1 + L);
        c20.intoArray(c, c2);
        c21.intoArray(c, c2 + L);
        c30.intoArray(c, c3);
        c31.intoArray(c, c3 + L);
        c40.intoArray(c, c4);
        c41.intoArray(c, c4 + L);
        c50.intoArray(c, c5);
        c51.intoArray(c, c5 + L);
    }

    /**
     * The micro-kernel on a partial block (rows < MR output channels or cols < NR pixels): runs it on a scratch
     * MR x NR copy of the valid part of C and copies the valid part back.
     */
    private static void edgeKernel(float[] a, int aOff, float[] bp, int bOff, int kc, float[] c, int cOff, int ldc,
                                   int rows, int cols, float[] scratch) {
        Arrays.fill(scratch, 0f);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(c, cOff + r * ldc, scratch, r * NR, cols);
        }
        microKernel(a, aOff, bp, bOff, kc, scratch, 0, NR);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(scratch, r * NR, c, cOff + r * ldc, cols);
        }
    }

    // ------------------------------------------------------------------ direct (depthwise) path

    /** The weights as f32 rows [O][C/groups * kh * kw], converted from their storage dtype. */
    private static float[] weightRows(CpuBackend b, Tensor w, Shape s) {
        Tensor rows = w.reshape(s.o, s.k);
        float[] all = new float[s.o * s.k];
        b.parallel().range(s.o, 64, (start, end) -> {
            for (int r = start; r < end; r++) {
                CpuData.readRow(rows, r, 0, s.k, all, r * s.k);
            }
        });
        return all;
    }

    /**
     * out[n][o] = bias[o] + sum over the group's channels c and taps (i, j) of w[o][c][i][j] * the input plane
     * shifted by (i, j) and strided; the input plane is first copied into a zero-padded buffer so the inner loop
     * has no bounds checks. Vectorized along output rows (gathers when the stride is not 1), all taps of one
     * channel accumulated in registers.
     */
    private static void direct(CpuBackend b, Shape s, Input in, float[] weights, float[] bias, float[] out) {
        int pw = s.w + 2 * s.pw;
        int ph = s.h + 2 * s.ph;
        int pixels = s.pixels();
        int[] strided = new int[L];
        for (int lane = 0; lane < L; lane++) {
            strided[lane] = lane * s.sw;
        }
        b.parallel().range(s.n * s.o, 1, (start, end) -> {
            float[] padded = new float[ph * pw];
            int loadedPlane = -1;
            for (int task = start; task < end; task++) {
                int n = task / s.o;
                int o = task % s.o;
                int g = o / s.og;
                for (int ci = 0; ci < s.cg; ci++) {
                    int planeId = n * s.c + g * s.cg + ci;
                    if (planeId != loadedPlane) {
                        int src = in.image(n) + (g * s.cg + ci) * s.h * s.w;
                        for (int y = 0; y < s.h; y++) {
                            System.arraycopy(in.data, src + y * s.w, padded, (y + s.ph) * pw + s.pw, s.w);
                        }
                        loadedPlane = planeId;
                    }
                    float first = bias == null ? 0f : bias[o];
                    int wOff = o * s.k + ci * s.kh * s.kw;
                    for (int y = 0; y < s.oh; y++) {
                        convolveRow(padded, y * s.sh * pw, pw, s, strided, weights, wOff, out,
                                task * pixels + y * s.ow, ci == 0, first);
                    }
                }
            }
        });
    }

    /**
     * One output row of one channel's contribution: out[d + x] = (init ? first : out[d + x]) + sum over taps (i, j)
     * of w[i][j] * src[row0 + i * pitch + x * stride + j], taps in row-major order.
     */
    private static void convolveRow(float[] src, int row0, int pitch, Shape s, int[] strided, float[] w, int wOff,
                                    float[] out, int d, boolean init, float first) {
        int n = s.ow;
        int step = s.sw;
        int x = 0;
        for (int bound = S.loopBound(n); x < bound; x += L) {
            FloatVector acc = init ? FloatVector.broadcast(S, first) : FloatVector.fromArray(S, out, d + x);
            for (int i = 0; i < s.kh; i++) {
                int r = row0 + i * pitch + x * step;
                for (int j = 0; j < s.kw; j++) {
                    FloatVector v = step == 1 ? FloatVector.fromArray(S, src, r + j)
                            : FloatVector.fromArray(S, src, r + j, strided, 0);
                    acc = v.fma(FloatVector.broadcast(S, w[wOff + i * s.kw + j]), acc);
                }
            }
            acc.intoArray(out, d + x);
        }
        for (; x < n; x++) {
            float acc = init ? first : out[d + x];
            for (int i = 0; i < s.kh; i++) {
                int r = row0 + i * pitch + x * step;
                for (int j = 0; j < s.kw; j++) {
                    acc = Math.fma(src[r + j], w[wOff + i * s.kw + j], acc);
                }
            }
            out[d + x] = acc;
        }
    }

    private static int roundUp(int v, int m) {
        return (v + m - 1) / m * m;
    }
}
