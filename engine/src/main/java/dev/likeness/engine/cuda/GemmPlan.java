package dev.likeness.engine.cuda;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How a row-major (PyTorch) batched product {@code out[b..., M, N] = x[b..., M, K] · y[b..., K, N]} is handed to
 * cuBLASLt, which works on column-major matrices. Pure arithmetic on shapes and strides (no GPU), so it is unit
 * tested on its own against a reference evaluator of BLAS semantics.
 *
 * <p>The contiguous row-major result [M, N] is, read column-major, the matrix Dᶜ = outᵀ (N × M, leading dimension
 * N). Since outᵀ = yᵀ · xᵀ, cuBLAS computes {@code D = op(A) · op(B)} with A = y and B = x, each stored so that
 * {@code op(A) = yᵀ} and {@code op(B) = xᵀ}:
 * <ul>
 *   <li>a row-major view R × C whose columns are adjacent ({@code colStride == 1}) is, read column-major with
 *       leading dimension {@code rowStride}, exactly its transpose (C × R): it is passed untransposed (op N);</li>
 *   <li>a view whose rows are adjacent ({@code rowStride == 1}, a transposed view such as a linear layer's weight
 *       [N, K] used as y = wᵀ) is, read column-major with leading dimension {@code colStride}, the view itself
 *       (R × C): it is passed with op T;</li>
 *   <li>any other view (both strides ≠ 1, overlapping rows of a broadcast) cannot be described and must first be
 *       copied into a contiguous tensor ({@link #operand} returns null).</li>
 * </ul>
 * So cuBLAS sees m = N, n = M, k = K. A linear layer (x [M, K] contiguous, w [N, K] contiguous) becomes op(A) = T,
 * op(B) = N: the "TN" layout that cuBLASLt's FP8 kernels require.
 *
 * <p>Batch dimensions (already broadcast: stride 0 where an operand is broadcast) are coalesced where x, y and the
 * output all step evenly across them; the innermost coalesced dimension becomes cuBLASLt's strided batch (a stride
 * of 0 reuses the same matrix) and any outer ones become separate calls, each with its own element offsets. When y
 * is the same matrix for every batch index (a weight, or a broadcast y) and x's batch and M dimensions step evenly,
 * the batch is folded into M: one product with M' = batch × M rows, which is also how {@code linear} on x [B, S, K]
 * runs.
 */
final class GemmPlan {
    /** An operand as cuBLAS stores it: column-major {@code rows × cols} with leading dimension {@code ld}. */
    record Operand(boolean transpose, long rows, long cols, long ld) {
    }

    /** One cublasLtMatmul call: element offsets of A (= y), B (= x) and D (= out) from their tensors' storage. */
    record Call(long offsetA, long offsetB, long offsetD) {
    }

    /** cuBLAS dimensions: D is m × n, op(A) is m × k, op(B) is k × n. */
    final long m;
    final long n;
    final long k;
    final Operand a;
    final Operand b;
    /** Leading dimension of D: the output's row stride (N for a contiguous output). */
    final long ldd;
    final int batch;
    final long strideA;
    final long strideB;
    final long strideD;
    final List<Call> calls;

    private GemmPlan(long m, long n, long k, Operand a, Operand b, long ldd, int batch, long strideA, long strideB,
                     long strideD, List<Call> calls) {
        this.m = m;
        this.n = n;
        this.k = k;
        this.a = a;
        this.b = b;
        this.ldd = ldd;
        this.batch = batch;
        this.strideA = strideA;
        this.strideB = strideB;
        this.strideD = strideD;
        this.calls = calls;
    }

    /** True when this is the TN layout (op(A) = T, op(B) = N) that cuBLASLt's FP8 kernels need. */
    boolean isTN() {
        return a.transpose() && !b.transpose();
    }

    /**
     * The stored operand whose op() is the transpose of the row-major view {@code rows × cols} with the given
     * strides, or null when the view is not expressible (it must be made contiguous first).
     */
    static Operand operand(long rows, long cols, long rowStride, long colStride) {
        // columns adjacent: column-major cols × rows, ld = rowStride, is the transpose itself (op N)
        if (cols <= 1 || colStride == 1) {
            if (rows <= 1) {
                return new Operand(false, cols, rows, Math.max(1, cols));
            }
            if (rowStride >= Math.max(1, cols)) {
                return new Operand(false, cols, rows, rowStride);
            }
        }
        // rows adjacent: column-major rows × cols, ld = colStride, is the view; op T gives its transpose
        if (rows <= 1 || rowStride == 1) {
            if (cols <= 1) {
                return new Operand(true, rows, cols, Math.max(1, rows));
            }
            if (colStride >= Math.max(1, rows)) {
                return new Operand(true, rows, cols, colStride);
            }
        }
        return null;
    }

    /** A strided view: {@code shape}, {@code strides} (elements) and the element offset of its first element. */
    record View(int[] shape, long[] strides, long offset) {
        View {
            if (shape.length != strides.length || shape.length < 2) {
                throw new IllegalArgumentException("a GEMM operand needs ≥ 2 dimensions with one stride each, got "
                        + Arrays.toString(shape) + " / " + Arrays.toString(strides));
            }
        }

        int rows() {
            return shape[shape.length - 2];
        }

        int cols() {
            return shape[shape.length - 1];
        }

        long rowStride() {
            return strides[strides.length - 2];
        }

        long colStride() {
            return strides[strides.length - 1];
        }
    }

    /** Whether the matrix part (last two dimensions) of {@code v} can be passed without a copy. */
    static boolean expressible(View v) {
        return operand(v.rows(), v.cols(), v.rowStride(), v.colStride()) != null;
    }

    /**
     * The plan for {@code out = x · y} with out contiguous [b..., M, N] starting at element {@code outOffset}.
     *
     * @see #plan(View, View, View)
     */
    static GemmPlan plan(View x, View y, long outOffset) {
        int[] shape = x.shape().clone();
        shape[shape.length - 1] = y.cols();
        return plan(x, y, new View(shape, contiguousStrides(shape), outOffset));
    }

    static long[] contiguousStrides(int[] shape) {
        long[] st = new long[shape.length];
        long step = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            st[d] = step;
            step *= shape[d];
        }
        return st;
    }

    /**
     * The plan for {@code out = x · y}: x [b..., M, K] and y [b..., K, N] with the same (broadcast) batch shape, out
     * [b..., M, N] a view whose rows are unit-stride (column stride 1) and do not overlap (row stride ≥ N), with any
     * batch strides. x and y must be {@link #expressible}; the result has at least one call unless the product is
     * empty (some dimension 0).
     */
    static GemmPlan plan(View x, View y, View out) {
        int rank = x.shape().length;
        if (y.shape().length != rank || out.shape().length != rank) {
            throw new IllegalArgumentException("x " + Arrays.toString(x.shape()) + ", y "
                    + Arrays.toString(y.shape()) + " and out " + Arrays.toString(out.shape())
                    + " must have the same rank (broadcast first)");
        }
        int bRank = rank - 2;
        for (int d = 0; d < bRank; d++) {
            if (x.shape()[d] != y.shape()[d] || out.shape()[d] != x.shape()[d]) {
                throw new IllegalArgumentException("batch dimensions of x " + Arrays.toString(x.shape()) + ", y "
                        + Arrays.toString(y.shape()) + " and out " + Arrays.toString(out.shape())
                        + " differ (broadcast first)");
            }
        }
        int mm = x.rows();
        int kk = x.cols();
        int nn = y.cols();
        if (y.rows() != kk) {
            throw new IllegalArgumentException("x " + Arrays.toString(x.shape()) + " has K=" + kk + " but y "
                    + Arrays.toString(y.shape()) + " has " + y.rows() + " rows");
        }
        if (out.rows() != mm || out.cols() != nn) {
            throw new IllegalArgumentException("out " + Arrays.toString(out.shape()) + " is not [..., " + mm + ", "
                    + nn + "]");
        }
        int[] batchShape = Arrays.copyOf(x.shape(), bRank);
        long batchTotal = 1;
        for (int s : batchShape) {
            batchTotal *= s;
        }
        if (batchTotal == 0 || mm == 0 || nn == 0 || kk == 0) {
            return new GemmPlan(nn, mm, kk, null, null, Math.max(1, nn), 0, 0, 0, 0, List.of());
        }
        if ((nn > 1 && out.colStride() != 1) || (mm > 1 && out.rowStride() < nn)) {
            throw new IllegalArgumentException("out strides " + Arrays.toString(out.strides())
                    + ": rows must be unit-stride and must not overlap");
        }
        Operand opA = operand(kk, nn, y.rowStride(), y.colStride());
        if (opA == null) {
            throw new IllegalArgumentException("y strides " + Arrays.toString(y.strides()) + " are not expressible");
        }

        // y the same matrix for every batch index: fold the batch into M when the rows of x and out step evenly
        boolean yShared = true;
        for (int d = 0; d < bRank; d++) {
            yShared &= batchShape[d] == 1 || y.strides()[d] == 0;
        }
        if (yShared) {
            int[] rowsShape = Arrays.copyOf(x.shape(), rank - 1);
            long[][] merged = coalesce(rowsShape, new long[][] {
                    Arrays.copyOf(x.strides(), rank - 1), Arrays.copyOf(out.strides(), rank - 1)});
            if (merged[0].length <= 1) {
                long rows = batchTotal * mm;
                long xRowStride = merged[0].length == 0 ? Math.max(1, kk) : merged[1][0];
                long outRowStride = merged[0].length == 0 ? nn : merged[2][0];
                Operand opB = operand(rows, kk, xRowStride, x.colStride());
                if (opB != null && (rows <= 1 || outRowStride >= nn)) {
                    long ldd = rows <= 1 ? Math.max(1, nn) : outRowStride;
                    return new GemmPlan(nn, rows, kk, opA, opB, ldd, 1, 0, 0, 0,
                            List.of(new Call(y.offset(), x.offset(), out.offset())));
                }
            }
        }

        Operand opB = operand(mm, kk, x.rowStride(), x.colStride());
        if (opB == null) {
            throw new IllegalArgumentException("x strides " + Arrays.toString(x.strides()) + " are not expressible");
        }
        long ldd = mm <= 1 ? Math.max(1, nn) : out.rowStride();
        // coalesce the batch dimensions over x, y and out together
        long[][] merged = coalesce(batchShape, new long[][] {
                Arrays.copyOf(x.strides(), bRank), Arrays.copyOf(y.strides(), bRank),
                Arrays.copyOf(out.strides(), bRank)});
        int dims = merged[0].length;
        int batch = 1;
        long sx = 0;
        long sy = 0;
        long so = 0;
        if (dims > 0) {
            batch = Math.toIntExact(merged[0][dims - 1]);
            sx = merged[1][dims - 1];
            sy = merged[2][dims - 1];
            so = merged[3][dims - 1];
        }
        // one call per index of the outer coalesced dimensions
        List<Call> calls = new ArrayList<>();
        int outer = dims - 1;
        long count = 1;
        for (int d = 0; d < outer; d++) {
            count *= merged[0][d];
        }
        int[] idx = new int[Math.max(0, outer)];
        for (long c = 0; c < count; c++) {
            long ox = x.offset();
            long oy = y.offset();
            long oo = out.offset();
            for (int d = 0; d < outer; d++) {
                ox += idx[d] * merged[1][d];
                oy += idx[d] * merged[2][d];
                oo += idx[d] * merged[3][d];
            }
            calls.add(new Call(oy, ox, oo));
            for (int d = outer - 1; d >= 0; d--) {
                if (++idx[d] < merged[0][d]) {
                    break;
                }
                idx[d] = 0;
            }
        }
        return new GemmPlan(nn, mm, kk, opA, opB, ldd, batch, sy, sx, so, List.copyOf(calls));
    }

    /**
     * Drops size-1 dimensions and merges neighbours where every stride set steps evenly across them. Returns
     * {@code [sizes, strides of set 0, strides of set 1, ...]} (as longs).
     */
    static long[][] coalesce(int[] shape, long[][] strideSets) {
        int sets = strideSets.length;
        long[] sizes = new long[shape.length];
        long[][] st = new long[sets][shape.length];
        int n = 0;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] == 1) {
                continue;
            }
            if (n > 0) {
                boolean merge = true;
                for (int s = 0; s < sets; s++) {
                    merge &= st[s][n - 1] == strideSets[s][d] * shape[d];
                }
                if (merge) {
                    sizes[n - 1] *= shape[d];
                    for (int s = 0; s < sets; s++) {
                        st[s][n - 1] = strideSets[s][d];
                    }
                    continue;
                }
            }
            sizes[n] = shape[d];
            for (int s = 0; s < sets; s++) {
                st[s][n] = strideSets[s][d];
            }
            n++;
        }
        long[][] out = new long[sets + 1][];
        out[0] = Arrays.copyOf(sizes, n);
        for (int s = 0; s < sets; s++) {
            out[s + 1] = Arrays.copyOf(st[s], n);
        }
        return out;
    }

    @Override
    public String toString() {
        return "GemmPlan[m=" + m + ", n=" + n + ", k=" + k + ", A=" + a + ", B=" + b + ", ldd=" + ldd + ", batch="
                + batch + " (strides " + strideA + ", " + strideB + ", " + strideD + "), " + calls.size() + " call(s)]";
    }
}
