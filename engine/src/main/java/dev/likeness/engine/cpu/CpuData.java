package dev.likeness.engine.cpu;

import dev.likeness.engine.DType;
import dev.likeness.engine.Dtypes;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Reading tensor values on the CPU: block conversion from any storage dtype to f32 (the only way kernels read
 * low-precision weights), and gathering strided views into row-major arrays.
 */
public final class CpuData {
    private CpuData() {
    }

    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final float[] E4M3 = Dtypes.e4m3Table();
    private static final float[] E5M2 = Dtypes.e5m2Table();

    // Block conversion with vectors: L floats at a time from L shorts / L bytes (L >= 8, so the byte vector is
    // at least 64 bits); shorter vectors convert one element at a time.
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final int L = FS.length();
    private static final boolean VECTOR_CONVERT = L >= 8;
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());
    private static final VectorSpecies<Short> SS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, FS.vectorBitSize() / 2)));
    private static final VectorSpecies<Byte> BS =
            VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, FS.vectorBitSize() / 4)));

    public static CpuStorage storage(Tensor t) {
        if (!(t.storage() instanceof CpuStorage s)) {
            throw new IllegalArgumentException("tensor " + t + " is not in host memory; transfer it to the CPU backend first");
        }
        return s;
    }

    /**
     * Converts {@code n} consecutive storage elements, starting at storage element {@code elem}, to f32
     * (no dequantization scale applied).
     */
    public static void readRun(CpuStorage s, DType dt, long elem, float[] dst, int off, int n) {
        float[] f = s.floats();
        if (f != null) {
            System.arraycopy(f, Math.toIntExact(elem), dst, off, n);
            return;
        }
        MemorySegment seg = s.segment();
        switch (dt) {
            case F32 -> MemorySegment.copy(seg, FLOAT, elem * 4, dst, off, n);
            case BF16 -> {
                long b = elem * 2;
                int i = 0;
                if (VECTOR_CONVERT) {
                    for (; i + L <= n; i += L) {
                        shortsToInts(seg, b + 2L * i).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats()
                                .intoArray(dst, off + i);
                    }
                }
                for (; i < n; i++) {
                    dst[off + i] = Float.intBitsToFloat((seg.get(SHORT, b + 2L * i) & 0xffff) << 16);
                }
            }
            case F16 -> {
                long b = elem * 2;
                int i = 0;
                if (VECTOR_CONVERT) {
                    for (; i + L <= n; i += L) {
                        f16BitsToFloats(shortsToInts(seg, b + 2L * i)).intoArray(dst, off + i);
                    }
                }
                for (; i < n; i++) {
                    dst[off + i] = Float.float16ToFloat(seg.get(SHORT, b + 2L * i));
                }
            }
            case F8_E4M3 -> {
                int i = 0;
                if (VECTOR_CONVERT) {
                    for (; i + L <= n; i += L) {
                        e4m3BitsToFloats(bytesToInts(seg, elem + i)).intoArray(dst, off + i);
                    }
                }
                for (; i < n; i++) {
                    dst[off + i] = E4M3[seg.get(ValueLayout.JAVA_BYTE, elem + i) & 0xff];
                }
            }
            case F8_E5M2 -> {
                int i = 0;
                if (VECTOR_CONVERT) {
                    for (; i + L <= n; i += L) {
                        // e5m2 is the top byte of an f16
                        f16BitsToFloats(bytesToInts(seg, elem + i).lanewise(VectorOperators.LSHL, 8))
                                .intoArray(dst, off + i);
                    }
                }
                for (; i < n; i++) {
                    dst[off + i] = E5M2[seg.get(ValueLayout.JAVA_BYTE, elem + i) & 0xff];
                }
            }
            case I8 -> {
                int i = 0;
                if (VECTOR_CONVERT) {
                    for (; i + L <= n; i += L) {
                        ((FloatVector) ByteVector.fromMemorySegment(BS, seg, elem + i, ByteOrder.LITTLE_ENDIAN)
                                .convertShape(VectorOperators.B2F, FS, 0)).intoArray(dst, off + i);
                    }
                }
                for (; i < n; i++) {
                    dst[off + i] = seg.get(ValueLayout.JAVA_BYTE, elem + i);
                }
            }
            case U8, BOOL -> {
                for (int i = 0; i < n; i++) {
                    dst[off + i] = seg.get(ValueLayout.JAVA_BYTE, elem + i) & 0xff;
                }
            }
            case I16 -> {
                for (int i = 0; i < n; i++) {
                    dst[off + i] = seg.get(SHORT, (elem + i) * 2);
                }
            }
            case I32 -> {
                for (int i = 0; i < n; i++) {
                    dst[off + i] = seg.get(INT, (elem + i) * 4);
                }
            }
            case I64 -> {
                for (int i = 0; i < n; i++) {
                    dst[off + i] = seg.get(LONG, (elem + i) * 8);
                }
            }
            case F64 -> {
                for (int i = 0; i < n; i++) {
                    dst[off + i] = (float) seg.get(DOUBLE, (elem + i) * 8);
                }
            }
        }
    }

    /** L little-endian 16-bit values at byte offset {@code at}, zero-extended to ints. */
    private static IntVector shortsToInts(MemorySegment seg, long at) {
        return (IntVector) ShortVector.fromMemorySegment(SS, seg, at, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.ZERO_EXTEND_S2I, IS, 0);
    }

    /** L bytes at byte offset {@code at}, zero-extended to ints. */
    private static IntVector bytesToInts(MemorySegment seg, long at) {
        return (IntVector) ByteVector.fromMemorySegment(BS, seg, at, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.ZERO_EXTEND_B2I, IS, 0);
    }

    /**
     * IEEE binary16 bit patterns (in the low 16 bits of each lane) to f32, exactly as {@link Float#float16ToFloat}:
     * exponent and mantissa moved into f32 position and rescaled by 2^112 (exact for normal and subnormal values);
     * infinities keep an all-ones exponent, NaNs also keep their payload and become quiet (as the scalar
     * conversion, the F16C instruction, does).
     */
    private static FloatVector f16BitsToFloats(IntVector h) {
        IntVector magnitude = h.and(0x7fff);
        IntVector moved = magnitude.lanewise(VectorOperators.LSHL, 13);
        IntVector bits = moved.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> infOrNan = magnitude.compare(VectorOperators.GE, 0x7c00);
        VectorMask<Integer> nan = magnitude.compare(VectorOperators.GT, 0x7c00);
        bits = bits.blend(moved.or(0x7f800000), infOrNan).blend(moved.or(0x7fc00000), nan);
        return bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }

    /**
     * f8 e4m3fn bit patterns to f32, as the decoding table does: exponent and mantissa moved into f32 position and
     * rescaled by 2^120; the NaN pattern (all exponent and mantissa bits set) gives {@link Float#NaN}.
     */
    private static FloatVector e4m3BitsToFloats(IntVector b) {
        IntVector magnitude = b.and(0x7f);
        IntVector bits = magnitude.lanewise(VectorOperators.LSHL, 20).reinterpretAsFloats().mul(0x1p120f)
                .reinterpretAsInts().or(b.and(0x80).lanewise(VectorOperators.LSHL, 24));
        return bits.blend(Float.floatToRawIntBits(Float.NaN), magnitude.compare(VectorOperators.EQ, 0x7f))
                .reinterpretAsFloats();
    }

    /**
     * Converts {@code n} storage elements starting at element {@code base}, {@code stride} elements apart (0 for a
     * broadcast row), to f32 into {@code dst[off..off+n)}; no dequantization scale (see {@link #unscaled}).
     */
    public static void readStrided(CpuStorage s, DType dt, long base, long stride, int n, float[] dst, int off) {
        if (n <= 0) {
            return;
        }
        if (stride == 1) {
            readRun(s, dt, base, dst, off, n);
        } else if (stride == 0) {
            readRun(s, dt, base, dst, off, 1);
            Arrays.fill(dst, off + 1, off + n, dst[off]);
        } else {
            for (int i = 0; i < n; i++) {
                readRun(s, dt, base + i * stride, dst, off + i, 1);
            }
        }
    }

    /**
     * The storage element of {@code t[..., 0]} for row {@code r} of {@code t} seen as [numel / size(-1), size(-1)],
     * rows numbered row-major over all dimensions but the last.
     */
    static long rowBase(Tensor t, long r) {
        long base = t.offset();
        long rest = r;
        for (int d = t.dim() - 2; d >= 0; d--) {
            int n = t.size(d);
            base += (rest % n) * t.stride(d);
            rest /= n;
        }
        return base;
    }

    /** {@code t} itself, or an f32 copy when it carries a dequantization scale (so rows can be read without it). */
    static Tensor unscaled(CpuBackend b, Tensor t) {
        return t.scale() == null ? t : b.to(t, DType.F32);
    }

    /** Reads one integer element (for index tensors). */
    public static long readLong(CpuStorage s, DType dt, long elem) {
        float[] f = s.floats();
        if (f != null) {
            return (long) f[Math.toIntExact(elem)];
        }
        MemorySegment seg = s.segment();
        return switch (dt) {
            case I64 -> seg.get(LONG, elem * 8);
            case I32 -> seg.get(INT, elem * 4);
            case I16 -> seg.get(SHORT, elem * 2);
            case I8 -> seg.get(ValueLayout.JAVA_BYTE, elem);
            case U8, BOOL -> seg.get(ValueLayout.JAVA_BYTE, elem) & 0xff;
            default -> {
                float[] one = new float[1];
                readRun(s, dt, elem, one, 0, 1);
                yield (long) one[0];
            }
        };
    }

    /**
     * Reads {@code len} elements of row {@code row} of a 2-D view [rows, cols], starting at column {@code col0},
     * as f32 with the dequantization scale applied. Contiguous rows are converted as one block.
     */
    public static void readRow(Tensor w, int row, int col0, int len, float[] dst, int off) {
        CpuStorage s = storage(w);
        long base = w.offset() + row * w.stride(0) + col0 * w.stride(1);
        long cs = w.stride(1);
        if (cs == 1) {
            readRun(s, w.dtype(), base, dst, off, len);
        } else {
            for (int i = 0; i < len; i++) {
                readRun(s, w.dtype(), base + i * cs, dst, off + i, 1);
            }
        }
        Tensor sc = w.scale();
        if (sc != null) {
            float f = sc.size(0) == 1 ? scaleAt(sc, 0) : scaleAt(sc, row);
            for (int i = 0; i < len; i++) {
                dst[off + i] *= f;
            }
        }
    }

    private static float scaleAt(Tensor sc, int i) {
        float[] one = new float[1];
        readRun(storage(sc), sc.dtype(), sc.offset() + i * sc.stride(0), one, 0, 1);
        return one[0];
    }

    /** The per-dim-0 dequantization factors of a scaled tensor (length size(0)), or null if it has no scale. */
    static float[] rowScales(Tensor t) {
        Tensor sc = t.scale();
        if (sc == null) {
            return null;
        }
        float[] r = new float[t.size(0)];
        if (sc.size(0) == 1) {
            Arrays.fill(r, scaleAt(sc, 0));
        } else {
            for (int i = 0; i < r.length; i++) {
                r[i] = scaleAt(sc, i);
            }
        }
        return r;
    }

    /**
     * The values of {@code t} as a row-major f32 array, dequantized. Returns the backing array itself when
     * {@code t} is an unscaled, contiguous f32 heap tensor covering all of it: callers must treat the result as
     * read-only. Use {@link #copyFloats} for a private copy.
     */
    public static float[] floats(Tensor t) {
        CpuStorage s = storage(t);
        float[] f = s.floats();
        if (f != null && t.scale() == null && t.offset() == 0 && t.isContiguous() && f.length == t.numel()) {
            return f;
        }
        return copyFloats(t);
    }

    /** A fresh row-major f32 copy of the values of {@code t}, dequantized. */
    public static float[] copyFloats(Tensor t) {
        CpuStorage s = storage(t);
        long total = t.numel();
        if (total > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("tensor " + t + " is too large for one f32 array");
        }
        float[] out = new float[(int) total];
        if (total == 0) {
            return out;
        }
        int[] shape = t.shape();
        long[] st = t.strides();
        int rank = shape.length;
        if (rank == 0) {
            readRun(s, t.dtype(), t.offset(), out, 0, 1);
        } else if (t.isContiguous()) {
            readRun(s, t.dtype(), t.offset(), out, 0, out.length);
        } else {
            int inner = shape[rank - 1];
            long innerStride = st[rank - 1];
            int[] idx = new int[rank - 1];
            int rows = out.length / inner;
            for (int r = 0; r < rows; r++) {
                long base = t.offset();
                for (int d = 0; d < rank - 1; d++) {
                    base += idx[d] * st[d];
                }
                readStrided(s, t.dtype(), base, innerStride, inner, out, r * inner);
                for (int d = rank - 2; d >= 0; d--) {
                    if (++idx[d] < shape[d]) {
                        break;
                    }
                    idx[d] = 0;
                }
            }
        }
        float[] scales = rowScales(t);
        if (scales != null) {
            int per = out.length / shape[0];
            for (int r = 0; r < shape[0]; r++) {
                float f = scales[r];
                for (int i = r * per; i < (r + 1) * per; i++) {
                    out[i] *= f;
                }
            }
        }
        return out;
    }

    /** Receives each element of a tensor: its row-major position and its index in the storage. */
    @FunctionalInterface
    public interface ElementVisitor {
        void visit(int position, long storageElement);
    }

    /** Visits every element of {@code t} in row-major order (for the gathers that are not hot loops). */
    public static void forEachElement(Tensor t, ElementVisitor visitor) {
        int n = Math.toIntExact(t.numel());
        int[] shape = t.shape();
        long[] st = t.strides();
        int[] idx = new int[shape.length];
        long e = t.offset();
        for (int i = 0; i < n; i++) {
            visitor.visit(i, e);
            for (int d = shape.length - 1; d >= 0; d--) {
                e += st[d];
                if (++idx[d] < shape[d]) {
                    break;
                }
                e -= st[d] * shape[d];
                idx[d] = 0;
            }
        }
    }

    /** Integer values of an integer (or integral-valued float) tensor, row-major. */
    public static int[] ints(Tensor t) {
        CpuStorage s = storage(t);
        int[] out = new int[Math.toIntExact(t.numel())];
        forEachElement(t, (i, e) -> {
            long v = readLong(s, t.dtype(), e);
            if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("value " + v + " at flat index " + i + " does not fit in an int");
            }
            out[i] = (int) v;
        });
        return out;
    }

    /** Throws naming {@code what} unless {@code t} has a floating dtype ({@link OpShapes#requireFloat}). */
    public static void requireFloat(String what, Tensor t) {
        OpShapes.requireFloat(what, t);
    }
}
