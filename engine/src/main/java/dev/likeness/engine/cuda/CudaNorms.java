package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;

import java.util.Arrays;

/**
 * Normalizations, softmax and reductions on the GPU (kernels in norms.cu). Layer norm, RMS norm and softmax over the
 * last dimension run one warp per row (rows up to {@value CudaPlan#WARP_ROW_MAX} elements) or one block per row;
 * group norm and mean / var over the last dimension reduce segments of consecutive elements split over blocks when
 * there are few of them ({@link CudaPlan#segments}), then normalize elementwise; softmax, mean and var over another
 * dimension run one thread per column. Statistics are f32 (two-pass variance, as the CPU backend), the column
 * reductions f64; argument checks and messages are the CPU backend's.
 */
final class CudaNorms {
    private static final String MODULE = "norms";
    private static final int LAYER_NORM = 0;
    private static final int RMS_NORM = 1;
    private static final int SEGMENT_STATS = 0;
    private static final int SEGMENT_MEAN = 1;
    private static final int SEGMENT_VAR = 2;

    private CudaNorms() {
    }

    static Tensor layerNorm(CudaBackend b, Tensor x, Tensor weight, Tensor bias, float eps) {
        return rowNorm(b, "layerNorm", LAYER_NORM, x, weight, bias, eps);
    }

    static Tensor rmsNorm(CudaBackend b, Tensor x, Tensor weight, float eps) {
        return rowNorm(b, "rmsNorm", RMS_NORM, x, weight, null, eps);
    }

    private static Tensor rowNorm(CudaBackend b, String op, int kind, Tensor x, Tensor weight, Tensor bias,
                                  float eps) {
        if (x == null) {
            throw new IllegalArgumentException(op + ": x must not be null");
        }
        Tensor dx = CudaPlan.readable(b, op + ": x", x);
        if (dx.dim() == 0) {
            throw new IllegalArgumentException(op + ": x must have at least one dimension, got a scalar " + x);
        }
        int n = dx.size(-1);
        Tensor w = param(b, op, "weight", weight, n, dx);
        Tensor bi = param(b, op, "bias", bias, n, dx);
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, dx.shape());
        long numel = out.numel();
        if (numel == 0) {
            return out;
        }
        long rows = numel / n;
        CudaPlan.RowPlan plan = CudaPlan.rows(rows, n);
        StridedLayout lx = StridedLayout.of(dx);
        int flags = CudaPlan.rowFlags(dx, lx, dx.dim() - 1, n);
        b.launch(MODULE, plan.warp() ? "lk_row_norm_warp" : "lk_row_norm_block", plan.grid(), 1, 1, plan.threads(), 1,
                1, plan.sharedBytes(), a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt)).i64(rows).i32(n)
                        .i32(kind).f32(eps)
                        .ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype())).struct(lx.toStruct(a.arena()))
                        .i32(flags)
                        .ptr(w == null ? 0 : b.address(w)).i32(w == null ? 0 : CudaDTypes.code(w.dtype()))
                        .i64(w == null ? 0 : CudaPlan.stride1d(w))
                        .ptr(bi == null ? 0 : b.address(bi)).i32(bi == null ? 0 : CudaDTypes.code(bi.dtype()))
                        .i64(bi == null ? 0 : CudaPlan.stride1d(bi))
                        .i32(plan.cached() ? 1 : 0));
        return out;
    }

    /** An optional 1-D per-feature parameter of length n on the device, or null; an error names the shapes. */
    private static Tensor param(CudaBackend b, String op, String role, Tensor p, int n, Tensor x) {
        if (p == null) {
            return null;
        }
        Tensor d = CudaPlan.readable(b, op + ": " + role, p);
        if (d.dim() != 1 || d.size(0) != n) {
            throw new IllegalArgumentException(op + ": " + role + " must have shape [" + n + "] to match x "
                    + Arrays.toString(x.shape()) + ", got " + Arrays.toString(d.shape()));
        }
        return d;
    }

    static Tensor groupNorm(CudaBackend b, Tensor x, int groups, Tensor weight, Tensor bias, float eps) {
        if (x == null) {
            throw new IllegalArgumentException("groupNorm: x must not be null");
        }
        Tensor dx = CudaPlan.readable(b, "groupNorm: x", x);
        int[] shape = dx.shape();
        int c = OpShapes.groupNormChannels(shape, groups);
        Tensor w = param(b, "groupNorm", "weight", weight, c, dx);
        Tensor bi = param(b, "groupNorm", "bias", bias, c, dx);
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, shape);
        long numel = out.numel();
        if (numel == 0) {
            return out;
        }
        int perGroup = c / groups;
        long spatial = CudaPlan.around(shape, 1)[2];
        long segments = (long) shape[0] * groups;
        long len = perGroup * spatial;
        StridedLayout lx = StridedLayout.of(dx);
        int flags = CudaPlan.viewFlags(lx, numel);
        Tensor stats = b.empty(DType.F32, Math.toIntExact(2 * segments));
        segmentStats(b, dx, lx, flags, segments, len, SEGMENT_STATS, eps, 0, null, stats);
        b.launch1d(MODULE, "lk_group_norm_apply", numel, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt))
                .i64(numel).i64(spatial).i32(c).i32(perGroup).ptr(b.address(stats))
                .ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype())).struct(lx.toStruct(a.arena())).i32(flags)
                .ptr(w == null ? 0 : b.address(w)).i32(w == null ? 0 : CudaDTypes.code(w.dtype()))
                .i64(w == null ? 0 : CudaPlan.stride1d(w))
                .ptr(bi == null ? 0 : b.address(bi)).i32(bi == null ? 0 : CudaDTypes.code(bi.dtype()))
                .i64(bi == null ? 0 : CudaPlan.stride1d(bi)));
        return out;
    }

    /**
     * Reduces the {@code segments} runs of {@code len} consecutive elements of x: per-chunk moments, then per
     * segment the (mean, rstd) pairs into {@code stats} (mode STATS) or the mean / variance into {@code out}.
     */
    private static void segmentStats(CudaBackend b, Tensor dx, StridedLayout lx, int flags, long segments, long len,
                                     int mode, float eps, int correction, Tensor out, Tensor stats) {
        CudaPlan.SegmentPlan plan = CudaPlan.segments(segments, len, b.multiprocessors());
        long items = plan.items(segments);
        Tensor partial = b.empty(DType.F32, Math.toIntExact(2 * items));
        b.launch(MODULE, "lk_segment_partial", plan.grid(), 1, 1, plan.threads(), 1, 1, 0, a -> a
                .ptr(b.address(partial)).i64(items).i32(plan.splits()).i64(len).i64(plan.chunk())
                .ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype())).struct(lx.toStruct(a.arena())).i32(flags));
        b.launch1d(MODULE, "lk_segment_finalize", segments, a -> a.i64(segments).i32(plan.splits()).i64(len)
                .i64(plan.chunk()).ptr(b.address(partial)).i32(mode).f32(eps).i32(correction)
                .ptr(out == null ? 0 : b.address(out)).i32(out == null ? 0 : CudaDTypes.code(out.dtype()))
                .ptr(stats == null ? 0 : b.address(stats)));
    }

    static Tensor softmax(CudaBackend b, Tensor x, int dim) {
        if (x == null) {
            throw new IllegalArgumentException("softmax: x must not be null");
        }
        Tensor dx = CudaPlan.readable(b, "x", x);
        int[] shape = dx.shape();
        long outer;
        long n;
        long inner;
        int ax = 0;
        if (shape.length == 0) {
            if (dim != 0 && dim != -1) {
                throw new IllegalArgumentException("softmax: dimension " + dim + " out of range for a 0-dimensional "
                        + "tensor (use 0 or -1)");
            }
            outer = 1;
            n = 1;
            inner = 1;
        } else {
            ax = dx.axis(dim);
            long[] oni = CudaPlan.around(shape, ax);
            outer = oni[0];
            n = oni[1];
            inner = oni[2];
        }
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, shape);
        long numel = out.numel();
        if (numel == 0) {
            return out;
        }
        StridedLayout lx = StridedLayout.of(dx);
        int flags = CudaPlan.viewFlags(lx, numel);
        int len = Math.toIntExact(n);
        if (inner == 1) {
            long rows = outer;
            int rowFlags = CudaPlan.rowFlags(dx, lx, ax, len);
            CudaPlan.RowPlan plan = CudaPlan.rows(rows, len);
            b.launch(MODULE, plan.warp() ? "lk_softmax_warp" : "lk_softmax_block", plan.grid(), 1, 1, plan.threads(),
                    1, 1, plan.sharedBytes(), a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt)).i64(rows)
                            .i32(len).ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype()))
                            .struct(lx.toStruct(a.arena())).i32(rowFlags).i32(plan.cached() ? 1 : 0));
        } else {
            long columns = outer * inner;
            long in = inner;
            b.launch1d(MODULE, "lk_softmax_columns", columns, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt))
                    .i64(columns).i32(len).i64(in).ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype()))
                    .struct(lx.toStruct(a.arena())).i32(flags));
        }
        return out;
    }

    static Tensor mean(CudaBackend b, Tensor x, int dim, boolean keepDim) {
        return reduce(b, "mean", x, dim, keepDim, -1);
    }

    static Tensor var(CudaBackend b, Tensor x, int dim, int correction, boolean keepDim) {
        return reduce(b, "var", x, dim, keepDim, OpShapes.varCorrection(correction));
    }

    /** mean (correction < 0) or var along one dimension. */
    private static Tensor reduce(CudaBackend b, String op, Tensor x, int dim, boolean keep, int correction) {
        if (x == null) {
            throw new IllegalArgumentException(op + ": x must not be null");
        }
        Tensor dx = CudaPlan.readable(b, op + ": x", x);
        int[] shape = dx.shape();
        int ax = OpShapes.reducedAxis(op, shape, dim);
        long[] oni = CudaPlan.around(shape, ax);
        long outer = oni[0];
        int n = shape[ax];
        long inner = oni[2];
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, OpShapes.reducedShape(shape, ax, keep));
        long count = out.numel();
        if (count == 0) {
            return out;
        }
        StridedLayout lx = StridedLayout.of(dx);
        int flags = CudaPlan.viewFlags(lx, Math.max(1, dx.numel()));
        if (inner == 1) {
            int mode = correction < 0 ? SEGMENT_MEAN : SEGMENT_VAR;
            segmentStats(b, dx, lx, CudaPlan.rowFlags(dx, lx, ax, n), outer, n, mode, 0f, Math.max(0, correction),
                    out, null);
        } else {
            b.launch1d(MODULE, "lk_reduce_columns", count, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt))
                    .i64(count).i32(n).i64(inner).i32(correction).ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype()))
                    .struct(lx.toStruct(a.arena())).i32(flags));
        }
        return out;
    }
}
