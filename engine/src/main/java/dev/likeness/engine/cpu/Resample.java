package dev.likeness.engine.cpu;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Spatial resampling of [N, C, H, W] tensors, matching torch's CPU kernels ({@code aten/src/ATen/native/cpu/
 * UpSampleKernel.cpp} and {@code UpSample.h}, torch 2.6):
 * <ul>
 *   <li>{@link #nearest}: {@code F.interpolate(x, size, mode="nearest")}, the legacy OpenCV-style index
 *       {@code min(floor(dst * (in / out)), in - 1)} with the scale computed in f32.</li>
 *   <li>{@link #interpolate}: {@code F.interpolate(x, size, mode="bilinear"|"bicubic", align_corners, antialias)}.
 *       Without antialias: two taps (linear) or four taps clamped to the border (cubic, A = -0.75) around the source
 *       index {@code area_pixel_compute_source_index}. With antialias (torch's {@code _upsample_*2d_aa}): the
 *       PIL-style filter (triangle, or Keys cubic with A = -0.5) whose support grows by the scale factor when
 *       downscaling, evaluated over the input range around each output's center and normalized per output.</li>
 * </ul>
 * Indices and weights are computed once per axis, in the same f32/f64 mix of operations as torch, then applied
 * separably: first along W (for every input row an output block needs), then along H, the order torch uses. An
 * axis whose size does not change is passed through untouched (torch copies it too). Both passes are vectorized along
 * the output row: gathers along W, contiguous loads along H. Work is split over planes (N * C) and, for few large
 * planes, over blocks of output rows.
 */
final class Resample {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Output rows below which a plane is not split further between threads. */
    private static final int MIN_BLOCK_ROWS = 16;

    private Resample() {
    }

    // ------------------------------------------------------------------ nearest

    /** torch {@code F.interpolate(x, size=(outH, outW), mode="nearest")} for x [N, C, H, W]. */
    static Tensor nearest(CpuBackend b, Tensor x, int outH, int outW) {
        Source src = new Source("upsampleNearest", x, outH, outW);
        int[] rowIndex = nearestIndices(src.h, outH);
        int[] colIndex = nearestIndices(src.w, outW);
        float[] out = new float[src.outputSize(outH, outW)];
        int blocks = blocksPerPlane(b, src.planes, outH);
        int rowsPerBlock = (outH + blocks - 1) / blocks;
        b.parallel().range(src.planes * blocks, 1, (start, end) -> {
            Rows rows = new Rows();
            float[] scratch = src.direct ? null : new float[src.w];
            for (int task = start; task < end; task++) {
                int plane = task / blocks;
                int oh0 = task % blocks * rowsPerBlock;
                int oh1 = Math.min(outH, oh0 + rowsPerBlock);
                int planeOut = plane * outH * outW;
                for (int oh = oh0; oh < oh1; oh++) {
                    int dst = planeOut + oh * outW;
                    if (oh > oh0 && rowIndex[oh] == rowIndex[oh - 1]) {
                        System.arraycopy(out, dst - outW, out, dst, outW);
                    } else {
                        src.load(plane, rowIndex[oh], rowIndex[oh] + 1, scratch, rows);
                        gatherRow(rows.data, rows.base, colIndex, src.w == outW, out, dst, outW);
                    }
                }
            }
        });
        return b.wrap(out, src.n, src.c, outH, outW);
    }

    /** torch's legacy nearest source index: {@code min(floor(dst * (float) in / out), in - 1)}. */
    private static int[] nearestIndices(int in, int out) {
        float scale = (float) in / out;
        int[] idx = new int[out];
        for (int i = 0; i < out; i++) {
            idx[i] = (int) Math.min((long) Math.floor(scale * (float) i), in - 1);
        }
        return idx;
    }

    /** dst[i] = row[index[i]] for i < n (a plain copy when the width is unchanged). */
    private static void gatherRow(float[] src, int rowStart, int[] index, boolean identity, float[] dst, int dstOff,
                                  int n) {
        if (identity) {
            System.arraycopy(src, rowStart, dst, dstOff, n);
            return;
        }
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += L) {
            FloatVector.fromArray(S, src, rowStart, index, i).intoArray(dst, dstOff + i);
        }
        for (; i < n; i++) {
            dst[dstOff + i] = src[rowStart + index[i]];
        }
    }

    // ------------------------------------------------------------------ bilinear / bicubic

    /**
     * torch {@code F.interpolate(x, size=(outH, outW), mode=bilinear|bicubic, align_corners=alignCorners,
     * antialias=antialias)} for x [N, C, H, W].
     */
    static Tensor interpolate(CpuBackend b, Tensor x, int outH, int outW, Backend.Interpolation mode,
                              boolean alignCorners, boolean antialias) {
        if (mode == null) {
            throw new IllegalArgumentException("interpolate: mode must be BILINEAR or BICUBIC, got null");
        }
        Source src = new Source("interpolate", x, outH, outW);
        boolean cubic = mode == Backend.Interpolation.BICUBIC;
        Axis rowsAxis = src.h == outH ? null : Axis.of(src.h, outH, cubic, alignCorners, antialias);
        Axis colsAxis = src.w == outW ? null : Axis.of(src.w, outW, cubic, alignCorners, antialias);
        int pitch = (outW + L - 1) / L * L;
        int[] colIndexT = colsAxis == null ? null : colsAxis.tapMajorIndex(pitch);
        float[] colWeightT = colsAxis == null ? null : colsAxis.tapMajorWeight(pitch);
        float[] out = new float[src.outputSize(outH, outW)];
        int blocks = blocksPerPlane(b, src.planes, outH);
        int rowsPerBlock = (outH + blocks - 1) / blocks;
        // the input rows each block of output rows reads: the same for every plane
        int[] blockLo = new int[blocks];
        int[] blockHi = new int[blocks];
        boolean[][] blockUsed = new boolean[blocks][];
        int maxInputRows = 1;
        for (int block = 0; block < blocks; block++) {
            int oh0 = Math.min(outH, block * rowsPerBlock);
            int oh1 = Math.min(outH, oh0 + rowsPerBlock);
            blockLo[block] = rowsAxis == null || oh0 == oh1 ? oh0 : rowsAxis.minIndex(oh0, oh1);
            blockHi[block] = rowsAxis == null || oh0 == oh1 ? oh1 : rowsAxis.maxIndex(oh0, oh1) + 1;
            blockUsed[block] = new boolean[blockHi[block] - blockLo[block]];
            if (rowsAxis == null) {
                Arrays.fill(blockUsed[block], true);
            } else {
                rowsAxis.markUsed(oh0, oh1, blockLo[block], blockUsed[block]);
            }
            maxInputRows = Math.max(maxInputRows, blockHi[block] - blockLo[block]);
        }
        int scratchRows = maxInputRows;
        b.parallel().range(src.planes * blocks, 1, (start, end) -> {
            Rows rows = new Rows();
            float[] scratch = src.direct ? null : new float[src.w * scratchRows];
            float[] horizontal = colsAxis == null || rowsAxis == null ? null : new float[pitch * scratchRows];
            for (int task = start; task < end; task++) {
                int plane = task / blocks;
                int block = task % blocks;
                int oh0 = block * rowsPerBlock;
                int oh1 = Math.min(outH, oh0 + rowsPerBlock);
                if (oh0 >= oh1) {
                    continue;
                }
                int lo = blockLo[block];
                int hi = blockHi[block];
                boolean[] used = blockUsed[block];
                src.load(plane, lo, hi, used, scratch, rows);
                int planeOut = plane * outH * outW;
                if (rowsAxis == null && colsAxis == null) {
                    for (int r = lo; r < hi; r++) {
                        System.arraycopy(rows.data, rows.base + (r - lo) * src.w, out, planeOut + r * outW, outW);
                    }
                } else if (rowsAxis == null) {
                    for (int r = lo; r < hi; r++) {
                        horizontalRow(rows.data, rows.base + (r - lo) * src.w, colsAxis.taps, colIndexT, colWeightT,
                                pitch, out, planeOut + r * outW, outW);
                    }
                } else if (colsAxis == null) {
                    verticalPass(rows.data, rows.base, lo, src.w, outW, rowsAxis, oh0, oh1, out, planeOut);
                } else {
                    for (int r = lo; r < hi; r++) {
                        if (used[r - lo]) {
                            horizontalRow(rows.data, rows.base + (r - lo) * src.w, colsAxis.taps, colIndexT,
                                    colWeightT, pitch, horizontal, (r - lo) * pitch, pitch);
                        }
                    }
                    verticalPass(horizontal, 0, lo, pitch, outW, rowsAxis, oh0, oh1, out, planeOut);
                }
            }
        });
        return b.wrap(out, src.n, src.c, outH, outW);
    }

    /**
     * Resamples one row along W: dst[d + o] = sum over taps k of w[k][o] * src[s + index[k][o]] for o < n, taps in
     * order; index and weight are tap-major with {@code pitch} (a multiple of the vector length) entries per tap.
     * Vectorized over output columns with gathers; a partial last vector is stored under a mask.
     */
    private static void horizontalRow(float[] src, int s, int taps, int[] indexT, float[] weightT, int pitch,
                                      float[] dst, int d, int n) {
        for (int o = 0; o < n; o += L) {
            FloatVector acc = FloatVector.fromArray(S, src, s, indexT, o).mul(FloatVector.fromArray(S, weightT, o));
            for (int k = 1; k < taps; k++) {
                int m = k * pitch + o;
                acc = FloatVector.fromArray(S, src, s, indexT, m).fma(FloatVector.fromArray(S, weightT, m), acc);
            }
            if (o + L <= n) {
                acc.intoArray(dst, d + o);
            } else {
                acc.intoArray(dst, d + o, S.indexInRange(o, n));
            }
        }
    }

    /**
     * Resamples along H: output rows oh0..oh1-1 of a plane, out[oh][:width] = sum over taps k of
     * w[oh][k] * src[index[oh][k]][:width], where src holds input rows from {@code firstRow} on, {@code srcPitch}
     * apart. A partial last vector is loaded and stored under a mask.
     */
    private static void verticalPass(float[] src, int srcBase, int firstRow, int srcPitch, int width, Axis ax,
                                     int oh0, int oh1, float[] out, int planeOut) {
        int taps = ax.taps;
        int bound = S.loopBound(width);
        VectorMask<Float> tail = S.indexInRange(bound, width);
        for (int oh = oh0; oh < oh1; oh++) {
            int t = oh * taps;
            int count = ax.count[oh];
            int d = planeOut + oh * width;
            int row0 = srcBase + (ax.index[t] - firstRow) * srcPitch;
            float w0 = ax.weight[t];
            for (int x = 0; x < bound; x += L) {
                FloatVector acc = FloatVector.fromArray(S, src, row0 + x).mul(w0);
                for (int k = 1; k < count; k++) {
                    int row = srcBase + (ax.index[t + k] - firstRow) * srcPitch;
                    acc = FloatVector.fromArray(S, src, row + x).fma(FloatVector.broadcast(S, ax.weight[t + k]), acc);
                }
                acc.intoArray(out, d + x);
            }
            if (bound < width) {
                FloatVector acc = FloatVector.fromArray(S, src, row0 + bound, tail).mul(w0);
                for (int k = 1; k < count; k++) {
                    int row = srcBase + (ax.index[t + k] - firstRow) * srcPitch;
                    acc = FloatVector.fromArray(S, src, row + bound, tail)
                            .fma(FloatVector.broadcast(S, ax.weight[t + k]), acc);
                }
                acc.intoArray(out, d + bound, tail);
            }
        }
    }

    /** How many row blocks each plane is split into so that all threads get work. */
    private static int blocksPerPlane(CpuBackend b, int planes, int outH) {
        int wanted = (4 * b.threads() + planes - 1) / planes;
        return Math.max(1, Math.min(wanted, outH / MIN_BLOCK_ROWS));
    }

    // ------------------------------------------------------------------ per-axis indices and weights

    /**
     * The taps of one resampled axis: for output index o, {@code count[o]} input indices
     * {@code index[o * taps + k]} with weights {@code weight[o * taps + k]}, summed in order k = 0, 1, ...
     * Unused tap slots (antialias ranges shorter than the widest one) repeat an in-range index with weight 0.
     */
    private static final class Axis {
        final int out;
        final int taps;
        final int[] count;
        final int[] index;
        final float[] weight;

        private Axis(int out, int taps) {
            this.out = out;
            this.taps = taps;
            this.count = new int[out];
            this.index = new int[out * taps];
            this.weight = new float[out * taps];
        }

        static Axis of(int in, int out, boolean cubic, boolean alignCorners, boolean antialias) {
            float scale = areaPixelScale(in, out, alignCorners);
            if (antialias) {
                return antialiased(in, out, scale, cubic);
            }
            return cubic ? cubic(in, out, scale, alignCorners) : linear(in, out, scale, alignCorners);
        }

        /** torch {@code area_pixel_compute_scale} with no explicit scale factor, in f32. */
        private static float areaPixelScale(int in, int out, boolean alignCorners) {
            if (alignCorners) {
                return out > 1 ? (float) (in - 1) / (out - 1) : 0f;
            }
            return (float) in / out;
        }

        /** torch {@code area_pixel_compute_source_index} in f32 (cubic: no clamp of negative indices). */
        private static float sourceIndex(float scale, int dst, boolean alignCorners, boolean cubic) {
            if (alignCorners) {
                return scale * (float) dst;
            }
            float src = scale * ((float) dst + 0.5f) - 0.5f;
            return !cubic && src < 0f ? 0f : src;
        }

        /** torch {@code guard_index_and_lambda}: the integer part, capped at in - 1. */
        private static int guardIndex(float real, int in) {
            return (int) Math.min((long) Math.floor(real), in - 1);
        }

        /** The fractional part relative to {@link #guardIndex}, clamped to [0, 1]. */
        private static float guardLambda(float real, int index) {
            return Math.min(Math.max(real - (float) index, 0f), 1f);
        }

        /** torch's {@code compute_source_index_and_lambda}: two taps, the second clamped to the last pixel. */
        private static Axis linear(int in, int out, float scale, boolean alignCorners) {
            Axis a = new Axis(out, 2);
            for (int o = 0; o < out; o++) {
                float real = sourceIndex(scale, o, alignCorners, false);
                int i0 = guardIndex(real, in);
                float lambda1 = guardLambda(real, i0);
                a.count[o] = 2;
                a.index[2 * o] = i0;
                a.index[2 * o + 1] = i0 + (i0 < in - 1 ? 1 : 0);
                a.weight[2 * o] = 1f - lambda1;
                a.weight[2 * o + 1] = lambda1;
            }
            return a;
        }

        /** torch's {@code HelperInterpCubic::compute_indices_weights}: four taps clamped to [0, in - 1], A = -0.75. */
        private static Axis cubic(int in, int out, float scale, boolean alignCorners) {
            final float A = -0.75f;
            Axis a = new Axis(out, 4);
            for (int o = 0; o < out; o++) {
                float real = sourceIndex(scale, o, alignCorners, true);
                int i0 = guardIndex(real, in);
                float t = guardLambda(real, i0);
                float u = 1f - t;
                a.count[o] = 4;
                a.weight[4 * o] = cubicOuter(t + 1f, A);
                a.weight[4 * o + 1] = cubicInner(t, A);
                a.weight[4 * o + 2] = cubicInner(u, A);
                a.weight[4 * o + 3] = cubicOuter(u + 1f, A);
                for (int k = 0; k < 4; k++) {
                    a.index[4 * o + k] = Math.max(Math.min(i0 - 1 + k, in - 1), 0);
                }
            }
            return a;
        }

        /**
         * torch's {@code _compute_indices_min_size_weights_aa} (antialias=True): support = taps/2 scaled by the
         * downscale factor, window [xmin, xmin + xsize) around center = scale * (o + 0.5), filter weights
         * normalized by their sum. The f64 steps (center, the +0.5 roundings, the filter argument) follow torch.
         */
        private static Axis antialiased(int in, int out, float scale, boolean cubic) {
            int interp = cubic ? 4 : 2;
            float support = scale >= 1f ? (float) (interp * 0.5 * scale) : (float) (interp * 0.5);
            int maxTaps = (int) Math.ceil(support) * 2 + 1;
            float invScale = scale >= 1f ? (float) (1.0 / scale) : 1f;
            float[] w = new float[maxTaps];
            int[] xmins = new int[out];
            int widest = 1;
            for (int o = 0; o < out; o++) {
                float center = (float) (scale * (o + 0.5));
                int xmin = (int) Math.max((long) ((double) (center - support) + 0.5), 0L);
                int xsize = (int) Math.min((long) ((double) (center + support) + 0.5), in) - xmin;
                xsize = Math.clamp(xsize, 0, maxTaps);
                xmins[o] = xmin;
                widest = Math.max(widest, xsize);
            }
            Axis a = new Axis(out, widest);
            for (int o = 0; o < out; o++) {
                float center = (float) (scale * (o + 0.5));
                int xmin = xmins[o];
                int xsize = Math.clamp((int) Math.min((long) ((double) (center + support) + 0.5), in) - xmin,
                        0, maxTaps);
                float total = 0f;
                for (int j = 0; j < xsize; j++) {
                    float d = (float) (j + xmin) - center;
                    float arg = (float) ((d + 0.5) * invScale);
                    w[j] = cubic ? keysCubic(arg) : triangle(arg);
                    total += w[j];
                }
                int base = o * a.taps;
                int first = Math.min(xmin, in - 1);
                a.count[o] = Math.max(xsize, 1);
                for (int k = 0; k < a.taps; k++) {
                    if (k < xsize) {
                        a.index[base + k] = xmin + k;
                        a.weight[base + k] = total != 0f ? w[k] / total : w[k];
                    } else {
                        a.index[base + k] = first;
                        a.weight[base + k] = 0f;
                    }
                }
            }
            return a;
        }

        /** The antialias triangle filter (PIL's bilinear). */
        private static float triangle(float x) {
            float ax = Math.abs(x);
            return ax < 1f ? 1f - ax : 0f;
        }

        /** The antialias cubic filter with A = -0.5 (PIL's bicubic, Keys). */
        private static float keysCubic(float x) {
            final float A = -0.5f;
            float ax = Math.abs(x);
            if (ax < 1f) {
                return cubicInner(ax, A);
            }
            if (ax < 2f) {
                return cubicOuter(ax, A);
            }
            return 0f;
        }

        /** Cubic convolution for |x| <= 1: ((A + 2) x - (A + 3)) x^2 + 1. */
        private static float cubicInner(float x, float a) {
            return ((a + 2f) * x - (a + 3f)) * x * x + 1f;
        }

        /** Cubic convolution for 1 < |x| < 2: ((A x - 5A) x + 8A) x - 4A. */
        private static float cubicOuter(float x, float a) {
            return ((a * x - 5f * a) * x + 8f * a) * x - 4f * a;
        }

        /** Smallest input index used by outputs [o0, o1). */
        int minIndex(int o0, int o1) {
            int m = Integer.MAX_VALUE;
            for (int o = o0; o < o1; o++) {
                for (int k = 0; k < count[o]; k++) {
                    m = Math.min(m, index[o * taps + k]);
                }
            }
            return m;
        }

        /** Largest input index used by outputs [o0, o1). */
        int maxIndex(int o0, int o1) {
            int m = Integer.MIN_VALUE;
            for (int o = o0; o < o1; o++) {
                for (int k = 0; k < count[o]; k++) {
                    m = Math.max(m, index[o * taps + k]);
                }
            }
            return m;
        }

        /** Flags the input indices outputs [o0, o1) read, relative to {@code lo}. */
        void markUsed(int o0, int o1, int lo, boolean[] used) {
            for (int o = o0; o < o1; o++) {
                for (int k = 0; k < count[o]; k++) {
                    used[index[o * taps + k] - lo] = true;
                }
            }
        }

        /** index transposed to [taps][pitch] for gathering along a row; padding outputs read index 0. */
        int[] tapMajorIndex(int pitch) {
            int[] t = new int[taps * pitch];
            for (int o = 0; o < out; o++) {
                for (int k = 0; k < taps; k++) {
                    t[k * pitch + o] = index[o * taps + k];
                }
            }
            return t;
        }

        /** weight transposed to [taps][pitch]; padding outputs weigh 0. */
        float[] tapMajorWeight(int pitch) {
            float[] t = new float[taps * pitch];
            for (int o = 0; o < out; o++) {
                for (int k = 0; k < taps; k++) {
                    t[k * pitch + o] = weight[o * taps + k];
                }
            }
            return t;
        }
    }

    // ------------------------------------------------------------------ input access

    /** Where a loaded run of rows lives: row r (of the run starting at row lo) starts at base + (r - lo) * W. */
    private static final class Rows {
        float[] data;
        int base;
    }

    /**
     * Row access to the planes of a validated [N, C, H, W] input: the backing array itself when the input is f32 on
     * the heap with contiguous planes, otherwise rows converted (bf16, f16, strided views, ...) into a scratch array.
     */
    private static final class Source {
        final int n;
        final int c;
        final int h;
        final int w;
        final int planes;
        final boolean direct;
        private final Tensor x;
        private final CpuStorage storage;
        private final long[] strides;

        Source(String op, Tensor input, int outH, int outW) {
            if (input == null) {
                throw new IllegalArgumentException(op + ": input x is null");
            }
            if (input.dim() != 4) {
                throw new IllegalArgumentException(op + ": input x must be 4-D [N, C, H, W], got shape "
                        + Arrays.toString(input.shape()));
            }
            CpuData.requireFloat(op + ": input x", input);
            int[] shape = input.shape();
            if (shape[2] <= 0 || shape[3] <= 0 || outH <= 0 || outW <= 0) {
                throw new IllegalArgumentException(op + ": input and output sizes must be positive, got input "
                        + Arrays.toString(shape) + " and output size (" + outH + ", " + outW + ")");
            }
            this.x = input.scale() != null ? CpuData.storage(input).backend().contiguous(input) : input;
            this.n = shape[0];
            this.c = shape[1];
            this.h = shape[2];
            this.w = shape[3];
            long p = (long) n * c;
            if (p * h * w > Integer.MAX_VALUE - 16) {
                throw new IllegalArgumentException(op + ": input x " + Arrays.toString(shape)
                        + " has too many elements for the CPU backend");
            }
            this.planes = (int) p;
            this.storage = CpuData.storage(x);
            this.strides = x.strides();
            this.direct = storage.floats() != null && x.dtype() == DType.F32 && x.scale() == null
                    && (strides[3] == 1 || w == 1) && (strides[2] == w || h == 1);
        }

        /** The output element count, checked to fit one array. */
        int outputSize(int outH, int outW) {
            long size = (long) planes * outH * outW;
            if (size > Integer.MAX_VALUE - 16) {
                throw new IllegalArgumentException("resampling " + Arrays.toString(x.shape()) + " to (" + outH
                        + ", " + outW + ") gives " + size + " elements, too many for the CPU backend");
            }
            return (int) size;
        }

        private long planeOffset(int plane) {
            return x.offset() + (plane / c) * strides[0] + (plane % c) * strides[1];
        }

        /** Makes rows [lo, hi) of {@code plane} readable through {@code rows}. */
        void load(int plane, int lo, int hi, float[] scratch, Rows rows) {
            load(plane, lo, hi, null, scratch, rows);
        }

        /**
         * Makes rows [lo, hi) of {@code plane} readable through {@code rows}; when converting, only the rows flagged
         * in {@code used} (indexed from lo; null: all) are filled in.
         */
        void load(int plane, int lo, int hi, boolean[] used, float[] scratch, Rows rows) {
            long start = planeOffset(plane);
            if (direct) {
                rows.data = storage.floats();
                rows.base = Math.toIntExact(start + lo * (long) w);
                return;
            }
            float[] f = storage.floats();
            for (int r = lo; r < hi; r++) {
                if (used != null && !used[r - lo]) {
                    continue;
                }
                long rowStart = start + r * strides[2];
                int d = (r - lo) * w;
                if (strides[3] == 1) {
                    CpuData.readRun(storage, x.dtype(), rowStart, scratch, d, w);
                } else if (f != null) {
                    for (int i = 0; i < w; i++) {
                        scratch[d + i] = f[Math.toIntExact(rowStart + i * strides[3])];
                    }
                } else {
                    for (int i = 0; i < w; i++) {
                        CpuData.readRun(storage, x.dtype(), rowStart + i * strides[3], scratch, d + i, 1);
                    }
                }
            }
            rows.data = scratch;
            rows.base = 0;
        }
    }
}
