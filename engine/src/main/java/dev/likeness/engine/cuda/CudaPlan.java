package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;

/**
 * Host-side planning shared by the elementwise and normalization kernels: operand checks and preparation, shape
 * arithmetic (the (outer, n, inner) decomposition around a dimension), view flags, and
 * launch geometry of the row and segment kernels of {@code norms.cu}. Pure functions apart from
 * {@link #readable}, so they are unit-tested without a GPU.
 */
final class CudaPlan {
    private CudaPlan() {
    }

    /** {@code LK_VIEW_CONTIGUOUS} of common.cuh: element i at offset + i. */
    static final int VIEW_CONTIGUOUS = 1;
    /** {@code LK_VIEW_SMALL}: fewer than 2^31 elements, 32-bit index arithmetic. */
    static final int VIEW_SMALL = 2;
    /**
     * {@code LK_ROW_CONTIGUOUS} of norms.cu: the reduced rows' elements are consecutive in memory (the row kernels
     * then compute one offset per row).
     */
    static final int ROW_CONTIGUOUS = 4;
    /** Largest grid the row and segment kernels are launched with (they loop over the rest). */
    static final int MAX_GRID = 1 << 30;
    /** Rows up to this length get one warp each, longer ones a block. */
    static final int WARP_ROW_MAX = 1024;
    /** Warps (rows) per block in warp-per-row mode. */
    static final int WARPS_PER_BLOCK = 8;
    /** Shared memory a row kernel may use to keep its rows' converted values (per block). */
    static final int ROW_CACHE_BYTES = 16 * 1024;
    /** Below this length a segment is reduced by one block; above it, split over blocks when there are few. */
    static final long SEGMENT_SPLIT_MIN = 8192;
    /** Smallest chunk of a split segment. */
    static final long SEGMENT_CHUNK_MIN = 4096;

    // ------------------------------------------------------------------ operands

    /**
     * {@code t} ready for a kernel: checked to be floating point ({@code what} names it in the error, in the CPU
     * backend's words), on this device, and dequantized to f32 when it carries a scale.
     */
    static Tensor readable(CudaBackend b, String what, Tensor t) {
        OpShapes.requireFloat(what, t);
        Tensor d = b.onDevice(t);
        if (d.scale() != null) {
            d = b.to(d, DType.F32);
        }
        CudaDTypes.code(d.dtype());
        return d;
    }

    /** The LK_VIEW_* flags of a layout over {@code numel} logical elements. */
    static int viewFlags(StridedLayout l, long numel) {
        int f = 0;
        if (l.contiguous()) {
            f |= VIEW_CONTIGUOUS;
        }
        if (numel <= Integer.MAX_VALUE) {
            f |= VIEW_SMALL;
        }
        return f;
    }

    /**
     * The flags of a row kernel reading rows of {@code n} elements along dimension {@code axis} of {@code t} (every
     * later dimension of size 1): the view flags, plus ROW_CONTIGUOUS when a row's elements are adjacent.
     */
    static int rowFlags(Tensor t, StridedLayout l, int axis, int n) {
        int f = viewFlags(l, t.numel());
        if (t.dim() == 0 || n == 1 || t.stride(axis) == 1) {
            f |= ROW_CONTIGUOUS;
        }
        return f;
    }

    // ------------------------------------------------------------------ shapes

    /** {outer, n, inner}: the products of the dimensions before {@code axis}, its size, and those after it. */
    static long[] around(int[] shape, int axis) {
        long outer = 1;
        for (int i = 0; i < axis; i++) {
            outer *= shape[i];
        }
        long inner = 1;
        for (int i = axis + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        return new long[] {outer, shape[axis], inner};
    }

    /** torch's nearest scale {@code (float) in / out} (f32, as the kernel multiplies by it). */
    static float nearestScale(int in, int out) {
        return (float) in / out;
    }

    /** The source index the nearest kernel computes for output index {@code dst}. */
    static int nearestIndex(float scale, int dst, int in) {
        return Math.min((int) Math.floor(scale * (float) dst), in - 1);
    }

    // ------------------------------------------------------------------ launch geometry

    /** Rounds up to a multiple of 32 (a whole number of warps), at least 32 and at most 1024. */
    static int warps(long threads) {
        long t = (Math.max(1, threads) + 31) / 32 * 32;
        return (int) Math.min(1024, t);
    }

    /**
     * Geometry of a row kernel ({@code lk_row_norm_*}, {@code lk_softmax_*}): {@code warp} picks the warp-per-row
     * variant; {@code cached} says whether the rows' values are kept in {@code sharedBytes} of shared memory.
     */
    record RowPlan(boolean warp, int threads, int grid, int sharedBytes, boolean cached) {
    }

    static RowPlan rows(long rows, int n) {
        if (n <= WARP_ROW_MAX) {
            int warpsPerBlock = (int) Math.max(1, Math.min(WARPS_PER_BLOCK, rows));
            long grid = Math.max(1, Math.min(MAX_GRID, (rows + warpsPerBlock - 1) / warpsPerBlock));
            long bytes = 4L * warpsPerBlock * n;
            boolean cached = n > 0 && bytes <= ROW_CACHE_BYTES;
            return new RowPlan(true, 32 * warpsPerBlock, (int) grid, cached ? (int) bytes : 0, cached);
        }
        int threads = warps((n + 3) / 4);
        long grid = Math.max(1, Math.min(MAX_GRID, rows));
        long bytes = 4L * n;
        boolean cached = bytes <= ROW_CACHE_BYTES;
        return new RowPlan(false, threads, (int) grid, cached ? (int) bytes : 0, cached);
    }

    /**
     * Geometry of the segment reduction ({@code lk_segment_partial} then {@code lk_segment_finalize}): each of the
     * {@code segments} runs of {@code len} elements is split into {@code splits} chunks of {@code chunk} elements
     * (only when there are too few segments to fill the GPU's {@code multiprocessors}), one block per chunk.
     */
    record SegmentPlan(int splits, long chunk, int threads, int grid) {
        long items(long segments) {
            return segments * splits;
        }
    }

    static SegmentPlan segments(long segments, long len, int multiprocessors) {
        long target = 4L * Math.max(1, multiprocessors);
        long splits = 1;
        if (segments < target && len > SEGMENT_SPLIT_MIN) {
            long want = (target + segments - 1) / segments;
            long most = len / SEGMENT_CHUNK_MIN;
            splits = Math.min(want, most);
        }
        long chunk = Math.max(1, (len + splits - 1) / splits);
        splits = Math.max(1, (len + chunk - 1) / chunk);
        long items = segments * splits;
        int threads = warps((chunk + 7) / 8);
        return new SegmentPlan((int) splits, chunk, threads, (int) Math.max(1, Math.min(MAX_GRID, items)));
    }

    /** A 1-D tensor's stride for a kernel parameter (0 for a single element, whatever its stride says). */
    static long stride1d(Tensor t) {
        return t.size(0) == 1 ? 0 : t.stride(0);
    }
}
