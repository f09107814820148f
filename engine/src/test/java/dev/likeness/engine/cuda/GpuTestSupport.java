package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Assumptions;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Shared pieces of the GPU-vs-CPU op tests. {@link #gpu} opens GPU 0 with every new allocation poisoned (NaN), or
 * aborts the test with a visible "[no GPU]" line on a machine without one, so CPU-only CI stays green and says what
 * it did not run.
 */
public final class GpuTestSupport {
    private GpuTestSupport() {
    }

    /** GPU 0 computing in {@code compute}, allocations poisoned; aborts (skips) the calling test without a GPU. */
    public static CudaBackend gpu(DType compute, String testClass) {
        System.setProperty("likeness.cuda.poison", "true");
        try {
            return CudaBackend.open(0, compute);
        } catch (CudaUnavailableException e) {
            System.out.println("[no GPU] " + testClass + " skipped: " + e.getMessage());
            Assumptions.abort("no GPU: " + e.getMessage());
            throw e;
        }
    }

    /** GPU 0 opened twice, computing in f32 and in bf16 (allocations poisoned); skips the calling test without a GPU. */
    public static java.util.List<CudaBackend> gpus(String testClass) {
        CudaBackend f32 = gpu(DType.F32, testClass);
        try {
            return java.util.List.of(f32, gpu(DType.BF16, testClass));
        } catch (RuntimeException e) {
            f32.close();
            throw e;
        }
    }

    /** Closes what {@link #gpus} and the test's CPU reference opened (either may be null). */
    public static void close(java.util.List<CudaBackend> gpus, CpuBackend cpu) {
        if (gpus != null) {
            gpus.forEach(CudaBackend::close);
        }
        if (cpu != null) {
            cpu.close();
        }
    }

    /** A host tensor of uniform values in [-scale, scale) in {@code dtype}. */
    public static Tensor random(CpuBackend cpu, Random rnd, DType dtype, float scale, int... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) {
            v[i] = (rnd.nextFloat() * 2 - 1) * scale;
        }
        Tensor t = cpu.fromFloats(v, shape);
        return dtype == DType.F32 ? t : cpu.to(t, dtype);
    }

    /**
     * Asserts that {@code actual} (any backend) matches {@code expected} (CPU) elementwise within
     * {@code relTol × max|expected|} (plus {@code 1e-30}), with no NaN where the reference has none.
     */
    public static void assertClose(Tensor expected, Tensor actual, double relTol, String what) {
        assertTrue(java.util.Arrays.equals(expected.shape(), actual.shape()), what + ": shape "
                + java.util.Arrays.toString(actual.shape()) + " != " + java.util.Arrays.toString(expected.shape()));
        float[] e = expected.backend().toFloatArray(expected);
        float[] a = actual.backend().toFloatArray(actual);
        double max = 0;
        for (float x : e) {
            if (Float.isFinite(x)) {
                max = Math.max(max, Math.abs(x));
            }
        }
        double tol = relTol * max + 1e-30;
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < e.length; i++) {
            if (Float.isNaN(a[i]) && !Float.isNaN(e[i])) {
                fail(what + ": element " + i + " is NaN (unwritten or invalid), expected " + e[i]);
            }
            if (Float.isInfinite(e[i]) && a[i] == e[i]) {
                continue;
            }
            double d = Math.abs((double) a[i] - e[i]);
            if (d > worst) {
                worst = d;
                worstAt = i;
            }
        }
        if (worst > tol) {
            fail(what + ": max abs error " + worst + " at " + worstAt + " (expected " + e[worstAt] + ", got "
                    + a[worstAt] + "), tolerance " + tol);
        }
    }

    /** The relative tolerance for a compute dtype: f32 math vs f32 math, or bf16-rounded results. */
    public static double tolerance(DType compute) {
        return compute == DType.F32 ? 2e-5 : 1.6e-2;
    }
}
