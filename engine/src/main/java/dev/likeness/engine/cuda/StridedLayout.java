package dev.likeness.engine.cuda;

import dev.likeness.engine.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * How a kernel finds element i (row-major over {@code shape}) of a strided view: the C struct {@code Layout} of
 * {@code common.cuh}, passed by value.
 * <pre>
 * struct Layout { int rank; int pad; long long offset; int shape[8]; long long stride[8]; };   // 112 bytes
 * </pre>
 * Dimensions are merged where the view is contiguous across them (fewer divisions per element) and size-1
 * dimensions dropped, so any view of rank ≤ 8 after merging can be passed; broadcast dimensions have stride 0.
 */
public record StridedLayout(int[] shape, long[] strides, long offset) {
    public static final int MAX_RANK = 8;
    public static final int BYTES = 112;

    /** The layout of {@code t} read as a tensor of {@code shape} (broadcast with PyTorch rules). */
    public static StridedLayout of(Tensor t, int[] shape) {
        Tensor v = Arrays.equals(t.shape(), shape) ? t : t.expand(shape);
        return coalesce(v.shape(), v.strides(), v.offset());
    }

    /** The layout of {@code t} as it is. */
    public static StridedLayout of(Tensor t) {
        return coalesce(t.shape(), t.strides(), t.offset());
    }

    static StridedLayout coalesce(int[] shape, long[] strides, long offset) {
        int n = 0;
        int[] sh = new int[shape.length];
        long[] st = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == 1) {
                continue;
            }
            if (n > 0 && st[n - 1] == strides[i] * shape[i] && (long) sh[n - 1] * shape[i] <= Integer.MAX_VALUE) {
                // the previous dimension steps exactly over this one: merge (while the size fits the C int)
                sh[n - 1] *= shape[i];
                st[n - 1] = strides[i];
                continue;
            }
            sh[n] = shape[i];
            st[n] = strides[i];
            n++;
        }
        if (n > MAX_RANK) {
            throw new IllegalArgumentException("view of shape " + Arrays.toString(shape) + " strides "
                    + Arrays.toString(strides) + " has " + n + " non-mergeable dimensions; kernels take at most "
                    + MAX_RANK);
        }
        return new StridedLayout(Arrays.copyOf(sh, n), Arrays.copyOf(st, n), offset);
    }

    /** True when element i lives at offset + i (kernels then skip the index arithmetic). */
    public boolean contiguous() {
        return shape.length == 0 || (shape.length == 1 && strides[0] == 1);
    }

    /** The struct's bytes. */
    public MemorySegment toStruct(Arena arena) {
        MemorySegment s = arena.allocate(BYTES, 8);
        s.set(JAVA_INT, 0, shape.length);
        s.set(JAVA_LONG, 8, offset);
        for (int i = 0; i < shape.length; i++) {
            s.set(JAVA_INT, 16 + 4L * i, shape[i]);
            s.set(JAVA_LONG, 48 + 8L * i, strides[i]);
        }
        return s;
    }

    /** The element offset of row-major index {@code i} (what the kernel computes; tests compare the two). */
    public long elementOffset(long i) {
        long off = offset;
        for (int d = shape.length - 1; d >= 0; d--) {
            off += (i % shape[d]) * strides[d];
            i /= shape[d];
        }
        return off;
    }
}
