package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device fills ({@link CudaFill}, {@code random.cu}) against a host evaluation of the same formula: bit for bit
 * in f32, and equal to the CPU backend's rounding of those f32 values in bf16, f16 and f8_e4m3. Allocations are
 * poisoned, so an element the kernel skipped reads back as NaN and fails the comparison. Skips without a GPU.
 */
class CudaFillTest {
    private static CudaBackend gpu;
    private static final CpuBackend CPU = new CpuBackend(1);

    @BeforeAll
    static void open() {
        gpu = GpuTestSupport.gpu(DType.F32, "CudaFillTest");
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    /** The formula, written out independently of the kernel (the models module's SyntheticWeights). */
    private static float[] expected(int streamSeed, float step, float offset, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            int h = i * 0x9E3779B9 + streamSeed;
            h ^= h >>> 16;
            h *= 0x85EBCA6B;
            h ^= h >>> 13;
            h *= 0xC2B2AE35;
            h ^= h >>> 16;
            float product = ((h >>> 24) - 128) * step;
            v[i] = product + offset;
        }
        return v;
    }

    @Test
    void syntheticFillMatchesTheHostFormulaInEveryDtype() {
        int[][] shapes = {{1}, {7}, {33, 65}, {3, 1000, 17}, {1 << 20}};
        int[] seeds = {0, 12345, -987654321};
        for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F8_E4M3}) {
            for (int[] shape : shapes) {
                for (int seed : seeds) {
                    float step = dtype == DType.F8_E4M3 ? 1f / 128 : 0.0173f / 128;
                    float offset = dtype == DType.F8_E4M3 ? 0f : 0.25f;
                    Tensor d = CudaFill.synthetic(gpu, dtype, seed, step, offset, shape);
                    assertEquals(dtype, d.dtype());
                    assertArrayEquals(shape, d.shape());
                    int n = Math.toIntExact(Tensor.numel(shape));
                    Tensor ref = CPU.fromFloats(expected(seed, step, offset, n), shape);
                    float[] want = CPU.toFloatArray(dtype == DType.F32 ? ref : CPU.to(ref, dtype));
                    float[] got = gpu.toFloatArray(d);
                    for (int i = 0; i < n; i++) {
                        if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                            throw new AssertionError(dtype + " " + java.util.Arrays.toString(shape) + " seed " + seed
                                    + ": element " + i + " is " + got[i] + ", expected " + want[i]);
                        }
                    }
                }
            }
        }
    }

    @Test
    void drawsAreSpreadOverTheirRange() {
        int n = 1 << 22;
        float[] v = gpu.toFloatArray(CudaFill.synthetic(gpu, DType.F32, 42, 1f / 128, 0f, n));
        double sum = 0;
        double min = Double.MAX_VALUE;
        double max = -Double.MAX_VALUE;
        for (float x : v) {
            sum += x;
            min = Math.min(min, x);
            max = Math.max(max, x);
        }
        assertEquals(-1.0, min, 0.0);
        assertEquals(127.0 / 128, max, 0.0);
        // the mean of 256 equally likely levels k/128, k in [-128, 127], is -1/256; 4 M draws: standard error ~3e-4
        assertEquals(-1.0 / 256, sum / n, 3e-3);
    }

    @Test
    void constantFillWritesEveryElement() {
        for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16, DType.F8_E4M3}) {
            float[] got = gpu.toFloatArray(CudaFill.constant(gpu, dtype, 0.5f, 3, 4099));
            for (float x : got) {
                assertEquals(0.5f, x, 0f, dtype.toString());
            }
        }
        assertEquals(0, CudaFill.constant(gpu, DType.BF16, 1f, 0, 5).numel());
    }

    @Test
    void unsupportedDtypesAndValuesAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaFill.synthetic(gpu, DType.I32, 1, 1f, 0f, 4));
        assertTrue(e.getMessage().contains("I32"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CudaFill.synthetic(gpu, DType.F32, 1, Float.NaN, 0f, 4));
        assertTrue(e.getMessage().contains("step"), e.getMessage());
    }
}
