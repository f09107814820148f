package dev.likeness.engine.cpu;

import dev.likeness.engine.DType;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.Locale;

/**
 * Broadcasting binary arithmetic (torch {@code a + b}, {@code a - b}, {@code a * b}, {@code a / b}) and the scalar
 * affine map {@code x * s + t}, computed in f32 like torch does for f32 tensors (one rounding per op, no fused
 * multiply-add; the f32 goldens agree bit for bit). Low-precision inputs are converted to f32 as they are read, so an
 * f32 tensor combined with a bf16 one gives exactly torch's promoted f32 result.
 *
 * <p>The broadcast operands are walked as rows of the (collapsed) innermost dimension. Each row is read from the
 * backing f32 array in place when the operand is an f32 heap tensor, otherwise converted block by block; the
 * arithmetic runs in vector loops for the common layouts (both operands contiguous along the row, or one of them
 * constant along it: a bias row, a per-row modulation, a scalar) and in a scalar strided loop for the rest
 * (permuted views).
 */
final class Elementwise {
    private Elementwise() {
    }

    /** The binary operations of {@link #binary}. */
    enum Op { ADD, SUB, MUL, DIV }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Longest run of one row handled as a unit (the scratch size; long rows are split into several tiles). */
    private static final int TILE = 2048;
    /** Elements per parallel chunk, roughly: below this the loop stays on the calling thread. */
    private static final int GRAIN = 1 << 15;

    /**
     * torch {@code x op y} with broadcasting: shapes are aligned at the last dimension, and each dimension pair must
     * be equal or contain a 1. The result is a new contiguous f32 tensor of the broadcast shape.
     */
    static Tensor binary(CpuBackend b, Op op, Tensor x, Tensor y) {
        String name = op.name().toLowerCase(Locale.ROOT);
        requireOperand(name, "x", x);
        requireOperand(name, "y", y);
        int[] shape = OpShapes.broadcastShape(name, x.shape(), y.shape());
        float[] out = new float[Math.toIntExact(Tensor.numel(shape))];
        if (out.length == 0) {
            return b.wrap(out, shape);
        }
        Walk w = new Walk(shape, dequantized(b, x), dequantized(b, y));
        int tilesPerRow = (w.n + TILE - 1) / TILE;
        int tiles = w.rows * tilesPerRow;
        int grain = Math.max(1, GRAIN / Math.min(w.n, TILE));
        b.parallel().range(tiles, grain, (start, end) -> {
            float[] bx = w.x.array == null ? new float[Math.min(w.n, TILE)] : null;
            float[] by = w.y.array == null ? new float[Math.min(w.n, TILE)] : null;
            for (int t = start; t < end; t++) {
                int row = t / tilesPerRow;
                int c0 = (t % tilesPerRow) * TILE;
                int len = Math.min(TILE, w.n - c0);
                long xb = w.rowOffset(w.x, row) + c0 * w.x.inner;
                long yb = w.rowOffset(w.y, row) + c0 * w.y.inner;
                // each operand as (array, start, stride): the backing array itself, or a converted block
                float[] xa = w.x.array;
                int xo = (int) xb;
                int xs = (int) w.x.inner;
                if (xa == null) {
                    xs = w.x.load(xb, len, bx);
                    xa = bx;
                    xo = 0;
                }
                float[] ya = w.y.array;
                int yo = (int) yb;
                int ys = (int) w.y.inner;
                if (ya == null) {
                    ys = w.y.load(yb, len, by);
                    ya = by;
                    yo = 0;
                }
                int oo = row * w.n + c0;
                if (xs == 1 && ys == 1) {
                    vectorVector(op, xa, xo, ya, yo, out, oo, len);
                } else if (xs == 1 && ys == 0) {
                    vectorScalar(op, xa, xo, ya[yo], out, oo, len);
                } else if (xs == 0 && ys == 1) {
                    scalarVector(op, xa[xo], ya, yo, out, oo, len);
                } else {
                    strided(op, xa, xo, xs, ya, yo, ys, out, oo, len);
                }
            }
        });
        return b.wrap(out, shape);
    }

    /** {@code x * s + t} rounded after the multiply and after the add, as torch's {@code x * s + t} is. */
    static Tensor affine(CpuBackend b, Tensor x, float s, float t) {
        requireOperand("affine", "x", x);
        float[] src = CpuData.floats(x);
        float[] dst = writableResult(x, src);
        b.parallel().range(src.length, GRAIN, (start, end) -> {
            int i = start;
            int up = start + S.loopBound(end - start);
            for (; i < up; i += S.length()) {
                FloatVector.fromArray(S, src, i).mul(s).add(t).intoArray(dst, i);
            }
            for (; i < end; i++) {
                float m = src[i] * s;
                dst[i] = m + t;
            }
        });
        return b.wrap(dst, x.shape());
    }

    /**
     * The array a unary kernel writes its result into: {@code src} itself when {@link CpuData#floats} made a private
     * copy for this call, otherwise a new array (src is then the input's backing array and must stay untouched).
     */
    static float[] writableResult(Tensor x, float[] src) {
        return src == CpuData.storage(x).floats() ? new float[src.length] : src;
    }

    // ------------------------------------------------------------------ arguments

    private static void requireOperand(String op, String role, Tensor t) {
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + role + " must not be null");
        }
        CpuData.requireFloat(op + ": " + role, t);
    }

    /** A tensor with a dequantization scale, as plain f32 values (scaled operands are rare here: weights). */
    private static Tensor dequantized(CpuBackend b, Tensor t) {
        return t.scale() == null ? t : b.wrap(CpuData.copyFloats(t), t.shape());
    }

    // ------------------------------------------------------------------ iteration

    /** One operand laid over the broadcast shape: element strides per collapsed dimension (0 where broadcast). */
    private static final class Operand {
        final CpuStorage storage;
        final DType dtype;
        final float[] array;
        final long offset;
        long[] strides;
        long inner;

        Operand(Tensor t, int[] outShape) {
            storage = CpuData.storage(t);
            dtype = t.dtype();
            array = dtype == DType.F32 ? storage.floats() : null;
            offset = t.offset();
            int[] shape = t.shape();
            long[] st = t.strides();
            strides = new long[outShape.length];
            int lead = outShape.length - shape.length;
            for (int i = lead; i < outShape.length; i++) {
                strides[i] = shape[i - lead] == 1 ? 0 : st[i - lead];
            }
        }

        /**
         * Converts {@code len} elements of a row starting at storage element {@code base} into {@code buf};
         * returns the stride to read them with (0: one value stands for the whole row).
         */
        int load(long base, int len, float[] buf) {
            if (inner == 0) {
                CpuData.readRun(storage, dtype, base, buf, 0, 1);
                return 0;
            }
            if (inner == 1) {
                CpuData.readRun(storage, dtype, base, buf, 0, len);
            } else {
                for (int i = 0; i < len; i++) {
                    CpuData.readRun(storage, dtype, base + i * inner, buf, i, 1);
                }
            }
            return 1;
        }
    }

    /**
     * The broadcast iteration space after dropping size-1 dimensions and merging neighbours that both operands
     * traverse contiguously: {@code rows} rows of {@code n} elements; the row index decomposes over {@code outer}.
     */
    private static final class Walk {
        final Operand x;
        final Operand y;
        final int[] outer;
        final int rows;
        final int n;

        Walk(int[] shape, Tensor tx, Tensor ty) {
            x = new Operand(tx, shape);
            y = new Operand(ty, shape);
            int[] dims = new int[shape.length];
            long[] sx = new long[shape.length];
            long[] sy = new long[shape.length];
            int r = 0;
            for (int i = 0; i < shape.length; i++) {
                if (shape[i] == 1) {
                    continue;
                }
                if (r > 0 && sx[r - 1] == x.strides[i] * shape[i] && sy[r - 1] == y.strides[i] * shape[i]) {
                    // dimension r-1 steps over exactly one run of dimension i in both operands: merge them
                    dims[r - 1] *= shape[i];
                    sx[r - 1] = x.strides[i];
                    sy[r - 1] = y.strides[i];
                    continue;
                }
                dims[r] = shape[i];
                sx[r] = x.strides[i];
                sy[r] = y.strides[i];
                r++;
            }
            if (r == 0) {
                dims[0] = 1;
                r = 1;
            }
            n = dims[r - 1];
            x.inner = sx[r - 1];
            y.inner = sy[r - 1];
            outer = Arrays.copyOf(dims, r - 1);
            x.strides = Arrays.copyOf(sx, r - 1);
            y.strides = Arrays.copyOf(sy, r - 1);
            int rowsCount = 1;
            for (int d : outer) {
                rowsCount *= d;
            }
            rows = rowsCount;
        }

        /** Storage element of the first element of row {@code row} of operand {@code o}. */
        long rowOffset(Operand o, int row) {
            long off = o.offset;
            for (int d = outer.length - 1; d >= 0 && row > 0; d--) {
                off += (row % outer[d]) * o.strides[d];
                row /= outer[d];
            }
            return off;
        }
    }

    // ------------------------------------------------------------------ inner loops

    private static float apply(Op op, float a, float c) {
        return switch (op) {
            case ADD -> a + c;
            case SUB -> a - c;
            case MUL -> a * c;
            case DIV -> a / c;
        };
    }

    private static void vectorVector(Op op, float[] x, int xo, float[] y, int yo, float[] o, int oo, int n) {
        int i = 0;
        int up = S.loopBound(n);
        int l = S.length();
        switch (op) {
            case ADD -> {
                for (; i < up; i += l) {
                    FloatVector.fromArray(S, x, xo + i).add(FloatVector.fromArray(S, y, yo + i)).intoArray(o, oo + i);
                }
            }
            case SUB -> {
                for (; i < up; i += l) {
                    FloatVector.fromArray(S, x, xo + i).sub(FloatVector.fromArray(S, y, yo + i)).intoArray(o, oo + i);
                }
            }
            case MUL -> {
                for (; i < up; i += l) {
                    FloatVector.fromArray(S, x, xo + i).mul(FloatVector.fromArray(S, y, yo + i)).intoArray(o, oo + i);
                }
            }
            case DIV -> {
                for (; i < up; i += l) {
                    FloatVector.fromArray(S, x, xo + i).div(FloatVector.fromArray(S, y, yo + i)).intoArray(o, oo + i);
                }
            }
        }
        for (; i < n; i++) {
            o[oo + i] = apply(op, x[xo + i], y[yo + i]);
        }
    }

    private static void vectorScalar(Op op, float[] x, int xo, float c, float[] o, int oo, int n) {
        int i = 0;
        int up = S.loopBound(n);
        int l = S.length();
        switch (op) {
            case ADD -> {
                for (; i < up; i += l) {
                    FloatVector.fromArray(S, x, xo + i).add(c).intoArray(o, oo + i);
                }
            }
            case SUB -> {
                for (; i < up; i += l) {
                    FloatVector.fromArray(S, x, xo + i).sub(c).intoArray(o, oo + i);
                }
            }
            case MUL -> {
                for (; i < up; i += l) {
                    FloatVector.fromArray(S, x, xo + i).mul(c).intoArray(o, oo + i);
                }
            }
            case DIV -> {
                for (; i < up; i += l) {
                    FloatVector.fromArray(S, x, xo + i).div(c).intoArray(o, oo + i);
                }
            }
        }
        for (; i < n; i++) {
            o[oo + i] = apply(op, x[xo + i], c);
        }
    }

    private static void scalarVector(Op op, float a, float[] y, int yo, float[] o, int oo, int n) {
        int i = 0;
        int up = S.loopBound(n);
        int l = S.length();
        FloatVector va = FloatVector.broadcast(S, a);
        switch (op) {
            case ADD -> {
                for (; i < up; i += l) {
                    va.add(FloatVector.fromArray(S, y, yo + i)).intoArray(o, oo + i);
                }
            }
            case SUB -> {
                for (; i < up; i += l) {
                    va.sub(FloatVector.fromArray(S, y, yo + i)).intoArray(o, oo + i);
                }
            }
            case MUL -> {
                for (; i < up; i += l) {
                    va.mul(FloatVector.fromArray(S, y, yo + i)).intoArray(o, oo + i);
                }
            }
            case DIV -> {
                for (; i < up; i += l) {
                    va.div(FloatVector.fromArray(S, y, yo + i)).intoArray(o, oo + i);
                }
            }
        }
        for (; i < n; i++) {
            o[oo + i] = apply(op, a, y[yo + i]);
        }
    }

    private static void strided(Op op, float[] x, int xo, int xs, float[] y, int yo, int ys, float[] o, int oo, int n) {
        for (int i = 0; i < n; i++) {
            o[oo + i] = apply(op, x[xo + i * xs], y[yo + i * ys]);
        }
    }
}
