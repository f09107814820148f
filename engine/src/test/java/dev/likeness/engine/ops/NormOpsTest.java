package dev.likeness.engine.ops;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** layer norm, RMS norm and group norm against torch (golden sets "layer_norm", "rms_norm", "group_norm"). */
class NormOpsTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @AfterAll
    static void close() {
        CPU.close();
    }

    private static Tensor layerNorm(Golden.Case c) {
        return CPU.layerNorm(ViewSpec.input(c, "x"), ViewSpec.optionalInput(c, "w"), ViewSpec.optionalInput(c, "b"),
                (float) c.d("eps"));
    }

    private static Tensor rmsNorm(Golden.Case c) {
        return CPU.rmsNorm(ViewSpec.input(c, "x"), ViewSpec.optionalInput(c, "w"), (float) c.d("eps"));
    }

    private static Tensor groupNorm(Golden.Case c) {
        return CPU.groupNorm(ViewSpec.input(c, "x"), c.i("groups"), ViewSpec.optionalInput(c, "w"),
                ViewSpec.optionalInput(c, "b"), (float) c.d("eps"));
    }

    private static Stream<DynamicTest> golden(String file, java.util.function.Function<Golden.Case, Tensor> op) {
        return Golden.load(file, CPU).cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            double err = c.check(op.apply(c), "out");
            System.out.printf("%s %-26s rel err %.3g%n", file, c.name(), err);
        }));
    }

    @TestFactory
    Stream<DynamicTest> layerNormMatchesTorch() {
        return golden("layer_norm", NormOpsTest::layerNorm);
    }

    @TestFactory
    Stream<DynamicTest> rmsNormMatchesTorch() {
        return golden("rms_norm", NormOpsTest::rmsNorm);
    }

    @TestFactory
    Stream<DynamicTest> groupNormMatchesTorch() {
        return golden("group_norm", NormOpsTest::groupNorm);
    }

    /**
     * A mean 1000 times the spread: the variance must survive (a one-pass f32 variance would be off by tens of
     * percent). The reference is computed in double here; what remains is the f32 rounding of the mean (~3e-5).
     */
    @Test
    void largeOffsetKeepsTheVariance() {
        int n = 1003;
        float[] v = new float[2 * n];
        java.util.Random rnd = new java.util.Random(7);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (1000 + rnd.nextGaussian());
        }
        double[] ref = new double[v.length];
        for (int r = 0; r < 2; r++) {
            double mean = 0;
            for (int i = 0; i < n; i++) {
                mean += v[r * n + i];
            }
            mean /= n;
            double var = 0;
            for (int i = 0; i < n; i++) {
                var += (v[r * n + i] - mean) * (v[r * n + i] - mean);
            }
            double rstd = 1 / Math.sqrt(var / n + 1e-6);
            for (int i = 0; i < n; i++) {
                ref[r * n + i] = (v[r * n + i] - mean) * rstd;
            }
        }
        Tensor x = CPU.fromFloats(v, 2, n);
        float[] ln = CPU.layerNorm(x, null, null, 1e-6f).toFloatArray();
        float[] gn = CPU.groupNorm(x.view(2, 1, n), 1, null, null, 1e-6f).toFloatArray();
        for (int i = 0; i < v.length; i++) {
            assertTrue(Math.abs(ln[i] - ref[i]) < 1e-4, "layer norm element " + i + ": " + ln[i] + " vs " + ref[i]);
            assertTrue(Math.abs(gn[i] - ref[i]) < 1e-4, "group norm element " + i + ": " + gn[i] + " vs " + ref[i]);
        }
    }

    @Test
    void inputIsNotModified() {
        Tensor x = CPU.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 1, 2, 3);
        float[] before = x.toFloatArray();
        CPU.layerNorm(x, null, null, 1e-5f);
        CPU.rmsNorm(x, null, 1e-5f);
        CPU.groupNorm(x, 2, null, null, 1e-5f);
        assertArrayEquals(before, x.toFloatArray());
    }

    @Test
    void constantRowsNormalizeToZeroNotNan() {
        // variance 0: rstd = 1/sqrt(eps), the centered values are exactly 0
        Tensor x = CPU.fromFloats(new float[] {3, 3, 3, 3, 3, 3, 3}, 1, 7);
        assertArrayEquals(new float[7], CPU.layerNorm(x, null, null, 1e-6f).toFloatArray());
        assertArrayEquals(new float[7], CPU.groupNorm(x.view(1, 7, 1), 7, null, null, 1e-6f).toFloatArray());
    }

    @Test
    void badArgumentsFailWithClearMessages() {
        Tensor x = CPU.zeros(DType.F32, 2, 6, 5);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CPU.layerNorm(x, CPU.zeros(DType.F32, 4), null, 1e-5f));
        assertTrue(e.getMessage().contains("weight") && e.getMessage().contains("[5]")
                && e.getMessage().contains("[2, 6, 5]") && e.getMessage().contains("[4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.layerNorm(x, null, CPU.zeros(DType.F32, 1, 5), 1e-5f));
        assertTrue(e.getMessage().contains("bias") && e.getMessage().contains("[1, 5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.rmsNorm(x, CPU.zeros(DType.F32, 6), 1e-5f));
        assertTrue(e.getMessage().contains("rmsNorm") && e.getMessage().contains("[6]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.groupNorm(x, 4, null, null, 1e-5f));
        assertTrue(e.getMessage().contains("6 channels") && e.getMessage().contains("4 groups"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.groupNorm(x, 3, CPU.zeros(DType.F32, 5), null, 1e-5f));
        assertTrue(e.getMessage().contains("weight") && e.getMessage().contains("[6]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.groupNorm(CPU.zeros(DType.F32, 6), 3, null, null,
                1e-5f));
        assertTrue(e.getMessage().contains("[N, C, *]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.layerNorm(CPU.fromInts(new int[] {1}, 1), null, null,
                1e-5f));
        assertTrue(e.getMessage().contains("floating"), e.getMessage());
    }
}
