package dev.likeness.engine.cuda;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The row-major → column-major GEMM planning, proven without a GPU: each plan is executed by a small reference
 * implementation of cuBLAS semantics (column-major {@code D = op(A) · op(B)} with leading dimensions, strided batch
 * and per-call offsets, rejecting what cuBLAS rejects) on random strided, transposed and broadcast views, and the
 * result is compared with the row-major product computed directly from the views.
 */
class GemmPlanTest {
    /** A strided view over a flat storage array. */
    private record Strided(double[] data, int[] shape, long[] strides, long offset) {
        GemmPlan.View view() {
            return new GemmPlan.View(shape, strides, offset);
        }

        double at(int[] idx) {
            long o = offset;
            for (int d = 0; d < idx.length; d++) {
                o += idx[d] * strides[d];
            }
            return data[Math.toIntExact(o)];
        }

        /** A contiguous copy (what CudaGemm does for an inexpressible operand). */
        Strided contiguous() {
            int n = 1;
            for (int s : shape) {
                n *= s;
            }
            double[] out = new double[n];
            int[] idx = new int[shape.length];
            for (int i = 0; i < n; i++) {
                out[i] = at(idx);
                increment(idx, shape);
            }
            long[] st = new long[shape.length];
            long step = 1;
            for (int d = shape.length - 1; d >= 0; d--) {
                st[d] = step;
                step *= shape[d];
            }
            return new Strided(out, shape.clone(), st, 0);
        }
    }

    private static boolean increment(int[] idx, int[] shape) {
        for (int d = idx.length - 1; d >= 0; d--) {
            if (++idx[d] < shape[d]) {
                return true;
            }
            idx[d] = 0;
        }
        return false;
    }

    /**
     * A random view of {@code shape}: its dimensions laid out in storage in a random order (so the last two may be
     * transposed), with gaps between rows, a leading offset, and the given dimensions broadcast (stride 0).
     */
    private static Strided randomView(Random rnd, int[] shape, boolean[] broadcast, boolean transposeLast) {
        int rank = shape.length;
        int[] order = new int[rank];
        for (int i = 0; i < rank; i++) {
            order[i] = i;
        }
        if (transposeLast) {
            order[rank - 2] = rank - 1;
            order[rank - 1] = rank - 2;
        }
        if (rank > 2 && rnd.nextInt(4) == 0) {
            // move a batch dimension inside the matrix dimensions (e.g. a [B, S, H, D] → [B, H, S, D] permute)
            int d = rnd.nextInt(rank - 2);
            int[] o2 = new int[rank];
            int p = 0;
            for (int i = 0; i < rank; i++) {
                if (order[i] != d) {
                    o2[p++] = order[i];
                }
                if (i == rank - 2) {
                    o2[p++] = d;
                }
            }
            order = o2;
        }
        long[] strides = new long[rank];
        long step = 1;
        for (int i = rank - 1; i >= 0; i--) {
            int d = order[i];
            if (broadcast[d]) {
                strides[d] = 0;
                continue;
            }
            strides[d] = step;
            step *= shape[d] + (rnd.nextInt(3) == 0 ? rnd.nextInt(3) : 0); // padding between rows
        }
        long offset = rnd.nextInt(5);
        long span = offset + 1;
        for (int d = 0; d < rank; d++) {
            span += (long) Math.max(0, shape[d] - 1) * strides[d];
        }
        double[] data = new double[Math.toIntExact(span)];
        for (int i = 0; i < data.length; i++) {
            data[i] = rnd.nextInt(17) - 8; // small integers: exact sums, any order
        }
        return new Strided(data, shape, strides, offset);
    }

    /**
     * cuBLAS column-major semantics: D (m × n, ld ldd) = op(A) · op(B) for each call and batch index, where a
     * stored operand is rows × cols with element (r, c) at {@code r + c * ld}. Fails on what cuBLAS rejects
     * (ld < rows, stored dims that do not match op and m/n/k) and on any access outside the arrays.
     */
    private static void blasReference(GemmPlan p, double[] a, double[] b, double[] d) {
        checkOperand("A", p.a, p.m, p.k);
        checkOperand("B", p.b, p.k, p.n);
        assertTrue(p.ldd >= Math.max(1, p.m), "ldd " + p.ldd + " < m " + p.m);
        for (GemmPlan.Call c : p.calls) {
            for (int t = 0; t < p.batch; t++) {
                long oa = c.offsetA() + t * p.strideA;
                long ob = c.offsetB() + t * p.strideB;
                long od = c.offsetD() + t * p.strideD;
                for (long i = 0; i < p.m; i++) {
                    for (long j = 0; j < p.n; j++) {
                        double s = 0;
                        for (long l = 0; l < p.k; l++) {
                            s += element(a, oa, p.a, i, l) * element(b, ob, p.b, l, j);
                        }
                        long at = od + i + j * p.ldd;
                        assertTrue(at >= 0 && at < d.length, "D access " + at + " outside [0, " + d.length + ")");
                        d[Math.toIntExact(at)] = s;
                    }
                }
            }
        }
    }

    private static void checkOperand(String what, GemmPlan.Operand o, long opRows, long opCols) {
        long rows = o.transpose() ? opCols : opRows;
        long cols = o.transpose() ? opRows : opCols;
        assertEquals(rows, o.rows(), what + " stored rows");
        assertEquals(cols, o.cols(), what + " stored cols");
        assertTrue(o.ld() >= Math.max(1, o.rows()), what + ": ld " + o.ld() + " < rows " + o.rows());
    }

    /** Element (i, j) of op(X). */
    private static double element(double[] x, long off, GemmPlan.Operand o, long i, long j) {
        long at = o.transpose() ? off + j + i * o.ld() : off + i + j * o.ld();
        assertTrue(at >= 0 && at < x.length, "operand access " + at + " outside [0, " + x.length + ")");
        return x[Math.toIntExact(at)];
    }

    /** Row-major product straight from the views: out[b..., i, j] = Σ x[b..., i, l] · y[b..., l, j]. */
    private static double[] direct(Strided x, Strided y) {
        int rank = x.shape().length;
        int m = x.shape()[rank - 2];
        int k = x.shape()[rank - 1];
        int n = y.shape()[rank - 1];
        int[] batch = Arrays.copyOf(x.shape(), rank - 2);
        int count = 1;
        for (int s : batch) {
            count *= s;
        }
        double[] out = new double[count * m * n];
        int[] bi = new int[batch.length];
        for (int t = 0; t < count; t++) {
            int[] xi = Arrays.copyOf(bi, rank);
            int[] yi = Arrays.copyOf(bi, rank);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int l = 0; l < k; l++) {
                        xi[rank - 2] = i;
                        xi[rank - 1] = l;
                        yi[rank - 2] = l;
                        yi[rank - 1] = j;
                        s += x.at(xi) * y.at(yi);
                    }
                    out[(t * m + i) * n + j] = s;
                }
            }
            increment(bi, batch);
        }
        return out;
    }

    /** Plans into a contiguous output (at element offset 3), executes the plan and compares. */
    private static GemmPlan check(Strided x, Strided y, String what) {
        return check(x, y, null, what);
    }

    /**
     * Plans, copies inexpressible operands as CudaGemm does, executes the plan into {@code out} (a view described by
     * shape, strides and offset; null = contiguous at element offset 3) and compares; every storage element outside
     * the output view must stay untouched.
     */
    private static GemmPlan check(Strided x, Strided y, GemmPlan.View out, String what) {
        if (!GemmPlan.expressible(x.view())) {
            x = x.contiguous();
        }
        if (!GemmPlan.expressible(y.view())) {
            y = y.contiguous();
        }
        assertTrue(GemmPlan.expressible(x.view()) && GemmPlan.expressible(y.view()), what + ": contiguous");
        int rank = x.shape().length;
        if (out == null) {
            int[] os = x.shape().clone();
            os[rank - 1] = y.shape()[rank - 1];
            out = new GemmPlan.View(os, GemmPlan.contiguousStrides(os), 3);
        }
        GemmPlan p = GemmPlan.plan(x.view(), y.view(), out);
        double[] expected = direct(x, y);
        long span = out.offset() + 1;
        for (int d = 0; d < rank; d++) {
            span += (long) Math.max(0, out.shape()[d] - 1) * out.strides()[d];
        }
        double[] d = new double[Math.toIntExact(span)];
        Arrays.fill(d, Double.NaN);
        blasReference(p, y.data(), x.data(), d);
        boolean[] inView = new boolean[d.length];
        int[] idx = new int[rank];
        for (int i = 0; i < expected.length; i++) {
            long at = out.offset();
            for (int q = 0; q < rank; q++) {
                at += idx[q] * out.strides()[q];
            }
            double got = d[Math.toIntExact(at)];
            inView[Math.toIntExact(at)] = true;
            if (Double.isNaN(got) || got != expected[i]) {
                fail(what + " " + p + ": element " + i + " expected " + expected[i] + ", got " + got);
            }
            increment(idx, out.shape());
        }
        for (int i = 0; i < d.length; i++) {
            assertTrue(inView[i] || Double.isNaN(d[i]), what + ": wrote element " + i + " outside the output");
        }
        return p;
    }

    /** A row-major output view of {@code shape} with padded rows and batch steps (as conv's banded output). */
    private static GemmPlan.View paddedOut(Random rnd, int[] shape) {
        long[] st = new long[shape.length];
        long step = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            st[d] = step;
            step *= shape[d] + (d < shape.length - 1 && rnd.nextBoolean() ? rnd.nextInt(4) : 0);
        }
        return new GemmPlan.View(shape, st, rnd.nextInt(6));
    }

    @Test
    void randomStridedBroadcastAndTransposedViewsMatchTheRowMajorProduct() {
        Random rnd = new Random(1234);
        int[] sizes = {1, 2, 3, 5, 8, 13};
        int cases = 0;
        for (int iter = 0; iter < 3000; iter++) {
            int bRank = rnd.nextInt(4);
            int[] batch = new int[bRank];
            for (int d = 0; d < bRank; d++) {
                batch[d] = 1 + rnd.nextInt(3);
            }
            int m = sizes[rnd.nextInt(sizes.length)];
            int k = sizes[rnd.nextInt(sizes.length)];
            int n = sizes[rnd.nextInt(sizes.length)];
            int[] xs = Arrays.copyOf(batch, bRank + 2);
            xs[bRank] = m;
            xs[bRank + 1] = k;
            int[] ys = Arrays.copyOf(batch, bRank + 2);
            ys[bRank] = k;
            ys[bRank + 1] = n;
            boolean[] bx = new boolean[bRank + 2];
            boolean[] by = new boolean[bRank + 2];
            for (int d = 0; d < bRank; d++) {
                int r = rnd.nextInt(4);
                bx[d] = r == 1 || (r == 3 && rnd.nextBoolean());
                by[d] = r == 2 || (r == 3 && !bx[d]);
            }
            if (rnd.nextInt(10) == 0) {
                bx[bRank] = true; // broadcast rows: not expressible, must be copied
            }
            Strided x = randomView(rnd, xs, bx, rnd.nextInt(3) == 0);
            Strided y = randomView(rnd, ys, by, rnd.nextInt(2) == 0);
            int[] os = Arrays.copyOf(batch, bRank + 2);
            os[bRank] = m;
            os[bRank + 1] = n;
            GemmPlan.View out = rnd.nextInt(3) == 0 ? paddedOut(rnd, os) : null;
            check(x, y, out, "case " + iter + " x " + Arrays.toString(xs) + Arrays.toString(x.strides()) + " y "
                    + Arrays.toString(ys) + Arrays.toString(y.strides()));
            cases++;
        }
        assertEquals(3000, cases);
    }

    @Test
    void linearIsOneTNCallWithTheBatchFoldedIntoM() {
        Random rnd = new Random(7);
        int b = 2;
        int s = 5;
        int k = 24;
        int n = 9;
        Strided x = randomView(rnd, new int[] {b, s, k}, new boolean[3], false).contiguous();
        Strided w = randomView(rnd, new int[] {n, k}, new boolean[2], false).contiguous();
        // y = wᵀ, broadcast over the batch: shape [b, k, n], strides [0, 1, k]
        Strided y = new Strided(w.data(), new int[] {b, k, n}, new long[] {0, w.strides()[1], w.strides()[0]},
                w.offset());
        GemmPlan p = check(x, y, "linear");
        assertTrue(p.isTN(), p.toString());
        assertEquals(1, p.calls.size());
        assertEquals(1, p.batch);
        assertEquals(n, p.m);
        assertEquals((long) b * s, p.n);
        assertEquals(k, p.k);
    }

    @Test
    void contiguousBatchedProductIsOneStridedBatchCall() {
        Random rnd = new Random(8);
        int[] xs = {2, 3, 4, 6};
        int[] ys = {2, 3, 6, 5};
        Strided x = randomView(rnd, xs, new boolean[4], false).contiguous();
        Strided y = randomView(rnd, ys, new boolean[4], false).contiguous();
        GemmPlan p = check(x, y, "batched");
        assertEquals(1, p.calls.size());
        assertEquals(6, p.batch);
        assertEquals(4 * 6, p.strideB);
        assertEquals(6 * 5, p.strideA);
        assertEquals(4 * 5, p.strideD);
        assertFalse(p.a.transpose() || p.b.transpose(), p.toString());
    }

    @Test
    void broadcastXUsesAZeroBatchStride() {
        Random rnd = new Random(9);
        // x [1, M, K] broadcast to [3, M, K] against y [3, K, N]
        Strided x0 = randomView(rnd, new int[] {4, 6}, new boolean[2], false).contiguous();
        Strided x = new Strided(x0.data(), new int[] {3, 4, 6}, new long[] {0, 6, 1}, 0);
        Strided y = randomView(rnd, new int[] {3, 6, 5}, new boolean[3], false).contiguous();
        GemmPlan p = check(x, y, "broadcast x");
        assertEquals(1, p.calls.size());
        assertEquals(3, p.batch);
        assertEquals(0, p.strideB);
    }

    @Test
    void irregularBatchStridesBecomeSeveralCalls() {
        Random rnd = new Random(10);
        // x [2, 1, M, K] and y [1, 3, K, N] broadcast to [2, 3, ...]: no single batch stride fits both
        Strided x0 = randomView(rnd, new int[] {2, 4, 6}, new boolean[3], false).contiguous();
        Strided x = new Strided(x0.data(), new int[] {2, 3, 4, 6}, new long[] {24, 0, 6, 1}, 0);
        Strided y0 = randomView(rnd, new int[] {3, 6, 5}, new boolean[3], false).contiguous();
        Strided y = new Strided(y0.data(), new int[] {2, 3, 6, 5}, new long[] {0, 30, 5, 1}, 0);
        GemmPlan p = check(x, y, "irregular");
        assertEquals(2, p.calls.size());
        assertEquals(3, p.batch);
    }

    @Test
    void groupedConvolutionBandIsOneBatchedCallIntoARowStridedOutput() {
        Random rnd = new Random(11);
        // conv as GEMM: weight [groups, Og, Kg] times columns [groups, Kg, band] into out rows of the full image
        int groups = 3;
        int og = 4;
        int kg = 18;
        int band = 10;
        int pixels = 25;
        Strided w = randomView(rnd, new int[] {groups, og, kg}, new boolean[3], false).contiguous();
        Strided col = randomView(rnd, new int[] {groups, kg, band}, new boolean[3], false).contiguous();
        GemmPlan.View out = new GemmPlan.View(new int[] {groups, og, band}, new long[] {(long) og * pixels, pixels, 1},
                7);
        GemmPlan p = check(w, col, out, "conv band");
        assertEquals(1, p.calls.size());
        assertEquals(groups, p.batch);
        assertEquals(pixels, p.ldd);
        assertEquals((long) og * pixels, p.strideD);
    }

    @Test
    void operandClassification() {
        // contiguous rows: op N, ld = row stride
        assertEquals(new GemmPlan.Operand(false, 8, 4, 8), GemmPlan.operand(4, 8, 8, 1));
        // padded rows
        assertEquals(new GemmPlan.Operand(false, 8, 4, 10), GemmPlan.operand(4, 8, 10, 1));
        // transposed view: op T, ld = column stride
        assertEquals(new GemmPlan.Operand(true, 4, 8, 4), GemmPlan.operand(4, 8, 1, 4));
        // a single row or column: any stride
        assertEquals(new GemmPlan.Operand(false, 1, 4, 7), GemmPlan.operand(4, 1, 7, 3));
        assertEquals(new GemmPlan.Operand(false, 5, 1, 5), GemmPlan.operand(1, 5, 0, 1));
        assertNotNull(GemmPlan.operand(1, 1, 0, 0));
        // broadcast rows, both strides ≠ 1, rows overlapping
        assertNull(GemmPlan.operand(4, 8, 0, 1));
        assertNull(GemmPlan.operand(4, 8, 16, 2));
        assertNull(GemmPlan.operand(4, 8, 4, 1));
    }

    @Test
    void emptyProductsHaveNoCalls() {
        Strided x = new Strided(new double[1], new int[] {0, 4}, new long[] {4, 1}, 0);
        Strided y = new Strided(new double[20], new int[] {4, 5}, new long[] {5, 1}, 0);
        assertEquals(0, GemmPlan.plan(x.view(), y.view(), 0).calls.size());
        Strided x2 = new Strided(new double[1], new int[] {3, 0}, new long[] {1, 1}, 0);
        Strided y2 = new Strided(new double[1], new int[] {0, 5}, new long[] {5, 1}, 0);
        assertEquals(0, GemmPlan.plan(x2.view(), y2.view(), 0).calls.size());
    }
}
