package dev.likeness.engine.cpu;

import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * torch {@code softmax(x, dim)} in f32: {@code exp(x - max) / sum(exp(x - max))} along {@code dim}, the sum's
 * reciprocal multiplied in (as torch's vectorized CPU kernel does). A slice that is entirely -inf gives NaN, as in
 * torch. The last dimension is vectorized along the row; any other dimension is vectorized across the contiguous
 * positions that follow it.
 */
final class Softmax {
    private Softmax() {
    }

    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int L = SP.length();
    /** Positions after the softmax dimension handled by one work item (non-last dimension case). */
    private static final int INNER_BLOCK = 16 * L;

    static Tensor softmax(CpuBackend b, Tensor x, int dim) {
        CpuData.requireFloat("x", x);
        int[] shape = x.shape();
        if (shape.length == 0) {
            if (dim != 0 && dim != -1) {
                throw new IllegalArgumentException("softmax: dimension " + dim + " out of range for a 0-dimensional "
                        + "tensor (use 0 or -1)");
            }
            return b.wrap(exponentiated(CpuData.floats(x)));
        }
        int ax = x.axis(dim);
        int n = shape[ax];
        int inner = 1;
        for (int i = ax + 1; i < shape.length; i++) {
            inner *= shape[i];
        }
        int outer = 1;
        for (int i = 0; i < ax; i++) {
            outer *= shape[i];
        }
        float[] in = CpuData.floats(x);
        float[] out = new float[in.length];
        if (in.length == 0) {
            return b.wrap(out, shape);
        }
        if (inner == 1) {
            int rows = outer;
            b.parallel().range(rows, Math.max(1, 16384 / n), (start, end) -> {
                for (int r = start; r < end; r++) {
                    lastDim(in, out, r * n, n);
                }
            });
        } else {
            int blocks = (inner + INNER_BLOCK - 1) / INNER_BLOCK;
            int slab = n * inner;
            int fInner = inner;
            b.parallel().range(outer * blocks, 1, (start, end) -> {
                for (int item = start; item < end; item++) {
                    int o = item / blocks;
                    int i0 = (item % blocks) * INNER_BLOCK;
                    strided(in, out, o * slab, n, fInner, i0, Math.min(fInner, i0 + INNER_BLOCK));
                }
            });
        }
        return b.wrap(out, shape);
    }

    /** The softmax of a single value: exp(x - x) / exp(x - x) (1, or NaN for infinities and NaN). */
    private static float[] exponentiated(float[] one) {
        float e = VMath.exp(one[0] - one[0]);
        return new float[] {e * (1f / e)};
    }

    /** Softmax of the contiguous row in[at..at+n) into out. */
    private static void lastDim(float[] in, float[] out, int at, int n) {
        int end = at + n;
        int vEnd = at + (n / L) * L;
        float max = Float.NEGATIVE_INFINITY;
        if (vEnd > at) {
            FloatVector mv = FloatVector.fromArray(SP, in, at);
            for (int i = at + L; i < vEnd; i += L) {
                mv = mv.max(FloatVector.fromArray(SP, in, i));
            }
            max = mv.reduceLanes(VectorOperators.MAX);
        }
        for (int i = vEnd; i < end; i++) {
            max = Math.max(max, in[i]);
        }
        FloatVector mb = FloatVector.broadcast(SP, max);
        FloatVector sv = FloatVector.zero(SP);
        for (int i = at; i < vEnd; i += L) {
            FloatVector e = VMath.exp(FloatVector.fromArray(SP, in, i).sub(mb));
            e.intoArray(out, i);
            sv = sv.add(e);
        }
        float sum = VMath.sum(sv);
        for (int i = vEnd; i < end; i++) {
            float e = VMath.exp(in[i] - max);
            out[i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        FloatVector iv = FloatVector.broadcast(SP, inv);
        for (int i = at; i < vEnd; i += L) {
            FloatVector.fromArray(SP, out, i).mul(iv).intoArray(out, i);
        }
        for (int i = vEnd; i < end; i++) {
            out[i] *= inv;
        }
    }

    /**
     * Softmax along a dimension of size n whose elements are {@code inner} apart, for the positions i0..i1-1 that
     * follow it, within the slab starting at {@code at}: vectorized across positions.
     */
    private static void strided(float[] in, float[] out, int at, int n, int inner, int i0, int i1) {
        int i = i0;
        for (; i + L <= i1; i += L) {
            int p = at + i;
            FloatVector mv = FloatVector.fromArray(SP, in, p);
            for (int k = 1; k < n; k++) {
                mv = mv.max(FloatVector.fromArray(SP, in, p + k * inner));
            }
            FloatVector sum = FloatVector.zero(SP);
            for (int k = 0; k < n; k++) {
                FloatVector e = VMath.exp(FloatVector.fromArray(SP, in, p + k * inner).sub(mv));
                e.intoArray(out, p + k * inner);
                sum = sum.add(e);
            }
            FloatVector inv = FloatVector.broadcast(SP, 1f).div(sum);
            for (int k = 0; k < n; k++) {
                FloatVector.fromArray(SP, out, p + k * inner).mul(inv).intoArray(out, p + k * inner);
            }
        }
        for (; i < i1; i++) {
            int p = at + i;
            float max = Float.NEGATIVE_INFINITY;
            for (int k = 0; k < n; k++) {
                max = Math.max(max, in[p + k * inner]);
            }
            float sum = 0f;
            for (int k = 0; k < n; k++) {
                float e = VMath.exp(in[p + k * inner] - max);
                out[p + k * inner] = e;
                sum += e;
            }
            float inv = 1f / sum;
            for (int k = 0; k < n; k++) {
                out[p + k * inner] *= inv;
            }
        }
    }
}
