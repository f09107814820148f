package dev.likeness.engine.cpu;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;

import java.util.Arrays;

/**
 * Reads rows of strided views (permuted, narrowed, broadcast) in any storage dtype into f32 buffers, for kernels
 * that gather the rows they are about to use into packed scratch arrays instead of copying whole tensors.
 */
final class ViewRows {
    private ViewRows() {
    }

    /**
     * Converts {@code n} storage elements starting at element {@code base}, {@code stride} elements apart, to f32
     * into {@code dst[off..off+n)} (no dequantization scale: callers dequantize scaled tensors first).
     */
    static void read(CpuStorage s, DType dt, long base, long stride, int n, float[] dst, int off) {
        if (n <= 0) {
            return;
        }
        if (stride == 1) {
            CpuData.readRun(s, dt, base, dst, off, n);
        } else if (stride == 0) {
            CpuData.readRun(s, dt, base, dst, off, 1);
            Arrays.fill(dst, off + 1, off + n, dst[off]);
        } else {
            for (int i = 0; i < n; i++) {
                CpuData.readRun(s, dt, base + i * stride, dst, off + i, 1);
            }
        }
    }

    /**
     * The storage element of {@code t[..., 0]} for row {@code r} of {@code t} seen as [numel / size(-1), size(-1)],
     * rows numbered row-major over all dimensions but the last.
     */
    static long rowBase(Tensor t, long r) {
        int rank = t.dim();
        long base = t.offset();
        long rest = r;
        for (int d = rank - 2; d >= 0; d--) {
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
}
