package dev.likeness.engine;

import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class QuantizeTest {
    private static final CpuBackend CPU = new CpuBackend(1);

    @AfterAll
    static void close() {
        CPU.close();
    }

    private static Tensor random(Random rnd, DType dtype, int n, int k) {
        float[] v = new float[n * k];
        for (int i = 0; i < v.length; i++) {
            // rows of very different magnitudes: a per-row scale is what keeps the small rows accurate
            v[i] = (float) rnd.nextGaussian() * (float) Math.pow(10, (i / k) % 4 - 2);
        }
        Tensor t = CPU.fromFloats(v, n, k);
        return dtype == DType.F32 ? t : CPU.to(t, dtype);
    }

    @Test
    void rowsAreScaledToTheE4m3RangeAndRoundedAsTorchDoes() {
        Random rnd = new Random(5);
        Tensor w = random(rnd, DType.BF16, 12, 40);
        Tensor q = Quantize.fp8Rows(CPU, w);
        assertEquals(DType.F8_E4M3, q.dtype());
        assertNotNull(q.scale());
        assertEquals(12, q.scale().size(0));
        float[] v = CPU.toFloatArray(w);
        float[] scales = CPU.toFloatArray(q.scale());
        float[] deq = CPU.toFloatArray(q); // stored × scale[row]
        for (int row = 0; row < 12; row++) {
            float amax = 0;
            for (int j = 0; j < 40; j++) {
                amax = Math.max(amax, Math.abs(v[row * 40 + j]));
            }
            assertEquals(amax / 448f, scales[row], 0f, "row " + row);
            for (int j = 0; j < 40; j++) {
                int i = row * 40 + j;
                float expected = Dtypes.e4m3ToF32(Dtypes.f32ToE4M3(v[i] / scales[row])) * scales[row];
                assertEquals(expected, deq[i], 0f, "element " + i);
                // e4m3 keeps 3 mantissa bits: half an ulp is at most 1/16 of the value (or of the subnormal step)
                assertTrue(Math.abs(deq[i] - v[i]) <= Math.max(Math.abs(v[i]) / 16, scales[row] * 0x1p-10f),
                        "element " + i + ": " + v[i] + " -> " + deq[i]);
            }
        }
    }

    @Test
    void aLinearWithFp8WeightsStaysCloseToTheBf16One() {
        Random rnd = new Random(9);
        Tensor w = random(rnd, DType.BF16, 64, 96);
        Tensor x = CPU.fromFloats(randomValues(rnd, 16 * 96), 16, 96);
        Tensor ref = CPU.linear(x, w, null);
        Tensor q = CPU.linear(x, Quantize.fp8Rows(CPU, w), null);
        float[] a = CPU.toFloatArray(ref);
        float[] b = CPU.toFloatArray(q);
        // e4m3 rounding errors are at most 1/16 of each weight, about 1/28 on average: the products stay within 5%
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            num += d * d;
            den += (double) a[i] * a[i];
        }
        double rel = Math.sqrt(num / den);
        assertTrue(rel < 0.05 && rel > 1e-4, "relative error " + rel);
    }

    @Test
    void zeroRowsGetScaleOneAndBadShapesAreRefused() {
        Tensor zeros = CPU.zeros(DType.F32, 2, 3);
        Tensor q = Quantize.fp8Rows(CPU, zeros);
        assertEquals(1f, CPU.toFloatArray(q.scale())[0]);
        assertEquals(0f, CPU.toFloatArray(q)[5]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Quantize.fp8Rows(CPU, CPU.zeros(DType.F32, 2, 3, 4)));
        assertTrue(e.getMessage().contains("[2, 3, 4]"), e.getMessage());
    }

    private static float[] randomValues(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return v;
    }
}
