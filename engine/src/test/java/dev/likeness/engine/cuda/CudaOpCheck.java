package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;

import java.util.Arrays;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Inputs in several layouts for the GPU-vs-CPU op tests, and the comparison with NaN positions: an input is made on
 * the host, and the same view (permuted, narrowed, broadcast) is taken of its copy on the GPU, so both backends read
 * the same values through the same strides.
 */
final class CudaOpCheck {
    private CudaOpCheck() {
    }

    /** One input: the host view the CPU reference reads and the same view on the GPU. */
    record Input(Tensor host, Tensor device, String name) {
    }

    /** The layouts an input is made in. */
    enum Layout { CONTIGUOUS, PERMUTED, NARROWED }

    /**
     * A random tensor of logical shape {@code shape} in storage dtype {@code dtype}, laid out as {@code layout}:
     * PERMUTED stores the dimensions in reverse order (the view is the transpose back), NARROWED stores one more
     * element at both ends of the last dimension (rows apart, first element offset).
     */
    static Input input(CpuBackend cpu, CudaBackend gpu, Random rnd, DType dtype, float scale, float shift,
                       Layout layout, int... shape) {
        int rank = shape.length;
        int[] stored = shape.clone();
        if (layout == Layout.PERMUTED) {
            for (int i = 0; i < rank; i++) {
                stored[i] = shape[rank - 1 - i];
            }
        } else if (layout == Layout.NARROWED && rank > 0) {
            stored[rank - 1] += 2;
        }
        Tensor base = GpuTestSupport.random(cpu, rnd, DType.F32, scale, stored);
        if (shift != 0) {
            base = cpu.affine(base, 1f, shift);
        }
        if (dtype != DType.F32) {
            base = cpu.to(base, dtype);
        }
        Function<Tensor, Tensor> view = switch (layout) {
            case CONTIGUOUS -> t -> t;
            case PERMUTED -> t -> {
                int[] perm = new int[rank];
                for (int i = 0; i < rank; i++) {
                    perm[i] = rank - 1 - i;
                }
                return t.permute(perm);
            };
            case NARROWED -> t -> rank == 0 ? t : t.narrow(rank - 1, 1, shape[rank - 1]);
        };
        Tensor host = view.apply(base);
        Tensor device = view.apply(gpu.transfer(base));
        return new Input(host, device, dtype + " " + layout.name().toLowerCase() + " " + Arrays.toString(shape));
    }

    /** A contiguous f32 input. */
    static Input input(CpuBackend cpu, CudaBackend gpu, Random rnd, int... shape) {
        return input(cpu, gpu, rnd, DType.F32, 1f, 0f, Layout.CONTIGUOUS, shape);
    }

    /**
     * {@code actual} (GPU, in the backend's compute dtype) against {@code expected} (CPU): same shape, NaN exactly
     * where the reference has NaN, otherwise within the compute dtype's tolerance of max|expected|.
     */
    static void check(CudaBackend gpu, Tensor expected, Tensor actual, String what) {
        assertEquals(gpu.computeDType(), actual.dtype(), what + ": result dtype");
        float[] e = expected.backend().toFloatArray(expected);
        float[] a = gpu.toFloatArray(actual);
        assertEquals(e.length, a.length, what + ": element count");
        for (int i = 0; i < e.length; i++) {
            if (Float.isNaN(e[i]) != Float.isNaN(a[i])) {
                fail(what + ": element " + i + " is " + a[i] + ", expected " + e[i]);
            }
        }
        GpuTestSupport.assertClose(expected, actual, GpuTestSupport.tolerance(gpu.computeDType()), what);
    }
}
