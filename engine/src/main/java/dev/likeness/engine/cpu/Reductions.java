package dev.likeness.engine.cpu;

import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Reductions over one dimension: torch {@code mean(x, dim, keepdim)} and {@code var(x, dim, correction=, keepdim=)},
 * plus the row statistics the normalization kernels share ({@link #sum}, {@link #sumOfSquares}, {@link #moments}).
 *
 * <p>Sums are accumulated in double: vector f32 partial sums over short blocks (a handful of additions per lane),
 * each block added to a double total. The variance is two-pass (mean first, then squared deviations from it, with the
 * first-order correction for the rounding of the mean), so a large mean does not cancel the variance away. torch
 * accumulates var in double as well, and its mean in f32 (cascaded); both agree with these to well under 1e-6.
 */
final class Reductions {
    private Reductions() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Vectors added in f32 per lane before a block's sum goes into the double total. */
    private static final int BLOCK_VECTORS = 8;
    /** Columns one task reduces at a time when the reduced dimension is not the last one. */
    private static final int COLUMN_TILE = 512;
    private static final int GRAIN = 1 << 14;

    /** torch {@code x.mean(dim, keepdim)}: the f32 mean over dimension {@code dim} (negative counts from the end). */
    static Tensor mean(CpuBackend b, Tensor x, int dim, boolean keep) {
        return reduce(b, "mean", x, dim, keep, -1);
    }

    /**
     * torch {@code x.var(dim, correction=c, keepdim=k)}: sum of squared deviations divided by {@code max(0, n - c)}
     * (so NaN or infinity when that is 0, as in torch).
     */
    static Tensor var(CpuBackend b, Tensor x, int dim, int correction, boolean keep) {
        return reduce(b, "var", x, dim, keep, OpShapes.varCorrection(correction));
    }

    /** Shared by mean (correction < 0) and var. */
    private static Tensor reduce(CpuBackend b, String op, Tensor x, int dim, boolean keep, int correction) {
        if (x == null) {
            throw new IllegalArgumentException(op + ": x must not be null");
        }
        CpuData.requireFloat(op + ": x", x);
        int[] shape = x.shape();
        int ax = OpShapes.reducedAxis(op, shape, dim);
        int n = shape[ax];
        int outer = product(shape, 0, ax);
        int inner = product(shape, ax + 1, shape.length);
        int[] outShape = OpShapes.reducedShape(shape, ax, keep);
        float[] out = new float[outer * inner];
        if (out.length == 0) {
            return b.wrap(out, outShape);
        }
        float[] src = CpuData.floats(x);
        if (inner == 1) {
            b.parallel().range(outer, Math.max(1, GRAIN / Math.max(n, 1)), (start, end) -> {
                double[] mv = new double[2];
                for (int r = start; r < end; r++) {
                    if (correction < 0) {
                        out[r] = (float) (sum(src, r * n, n) / n);
                    } else {
                        moments(src, r * n, n, mv);
                        out[r] = (float) (mv[1] / Math.max(0, n - correction));
                    }
                }
            });
        } else {
            int tilesPerRow = (inner + COLUMN_TILE - 1) / COLUMN_TILE;
            int work = Math.max(1, n * Math.min(inner, COLUMN_TILE));
            b.parallel().range(outer * tilesPerRow, Math.max(1, GRAIN / work), (start, end) -> {
                double[] acc = new double[Math.min(inner, COLUMN_TILE)];
                double[] m2 = new double[acc.length];
                for (int t = start; t < end; t++) {
                    int o = t / tilesPerRow;
                    int c0 = (t % tilesPerRow) * COLUMN_TILE;
                    int len = Math.min(COLUMN_TILE, inner - c0);
                    columns(src, o * n * inner + c0, n, inner, len, correction, acc, m2, out, o * inner + c0);
                }
            });
        }
        return b.wrap(out, outShape);
    }

    /** The product of shape[from .. to). */
    static int product(int[] shape, int from, int to) {
        long p = 1;
        for (int i = from; i < to; i++) {
            p *= shape[i];
        }
        return Math.toIntExact(p);
    }

    /**
     * Reduces {@code len} adjacent columns of a [n, stride] block starting at {@code base} (column j of row k at
     * base + k * stride + j) into out[o..o+len): the mean, or the variance in two passes over the block.
     */
    private static void columns(float[] src, int base, int n, int stride, int len, int correction, double[] acc,
                                double[] m2, float[] out, int o) {
        Arrays.fill(acc, 0, len, 0.0);
        for (int k = 0; k < n; k++) {
            int row = base + k * stride;
            for (int j = 0; j < len; j++) {
                acc[j] += src[row + j];
            }
        }
        if (correction < 0) {
            for (int j = 0; j < len; j++) {
                out[o + j] = (float) (acc[j] / n);
            }
            return;
        }
        for (int j = 0; j < len; j++) {
            acc[j] /= n;
        }
        Arrays.fill(m2, 0, len, 0.0);
        for (int k = 0; k < n; k++) {
            int row = base + k * stride;
            for (int j = 0; j < len; j++) {
                double d = src[row + j] - acc[j];
                m2[j] += d * d;
            }
        }
        int divisor = Math.max(0, n - correction);
        for (int j = 0; j < len; j++) {
            out[o + j] = (float) (m2[j] / divisor);
        }
    }

    // ------------------------------------------------------------------ row statistics shared with Norms

    /** The sum of a[off .. off+n) in double (vector f32 partial sums over short blocks). */
    static double sum(float[] a, int off, int n) {
        int l = S.length();
        int up = S.loopBound(n);
        double total = 0;
        int i = 0;
        while (i < up) {
            int blockEnd = Math.min(up, i + BLOCK_VECTORS * l);
            FloatVector acc = FloatVector.zero(S);
            for (; i < blockEnd; i += l) {
                acc = acc.add(FloatVector.fromArray(S, a, off + i));
            }
            total += VMath.sum(acc);
        }
        for (; i < n; i++) {
            total += a[off + i];
        }
        return total;
    }

    /** The sum of squares of a[off .. off+n) in double. */
    static double sumOfSquares(float[] a, int off, int n) {
        int l = S.length();
        int up = S.loopBound(n);
        double total = 0;
        int i = 0;
        while (i < up) {
            int blockEnd = Math.min(up, i + BLOCK_VECTORS * l);
            FloatVector acc = FloatVector.zero(S);
            for (; i < blockEnd; i += l) {
                FloatVector v = FloatVector.fromArray(S, a, off + i);
                acc = v.fma(v, acc);
            }
            total += VMath.sum(acc);
        }
        for (; i < n; i++) {
            double v = a[off + i];
            total += v * v;
        }
        return total;
    }

    /**
     * Mean and sum of squared deviations (M2) of a[off .. off+n), into {@code meanM2[0]} and {@code meanM2[1]}:
     * the population variance is M2 / n. Two passes; the deviations are taken from the f32-rounded mean and
     * corrected for that rounding ({@code M2 = sum(d²) - sum(d)² / n}). Both are NaN when n is 0.
     */
    static void moments(float[] a, int off, int n, double[] meanM2) {
        double mean = sum(a, off, n) / n;
        float m = (float) mean;
        int l = S.length();
        int up = S.loopBound(n);
        double sd = 0;
        double sd2 = 0;
        int i = 0;
        while (i < up) {
            int blockEnd = Math.min(up, i + BLOCK_VECTORS * l);
            FloatVector acc = FloatVector.zero(S);
            FloatVector acc2 = FloatVector.zero(S);
            for (; i < blockEnd; i += l) {
                FloatVector d = FloatVector.fromArray(S, a, off + i).sub(m);
                acc = acc.add(d);
                acc2 = d.fma(d, acc2);
            }
            sd += VMath.sum(acc);
            sd2 += VMath.sum(acc2);
        }
        for (; i < n; i++) {
            double d = a[off + i] - m;
            sd += d;
            sd2 += d * d;
        }
        meanM2[0] = mean;
        meanM2[1] = Math.max(0.0, sd2 - sd * sd / n);
    }
}
