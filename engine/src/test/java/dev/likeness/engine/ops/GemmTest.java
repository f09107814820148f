package dev.likeness.engine.ops;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code linear} (torch F.linear) and {@code matmul} (torch.matmul) against the goldens "linear" and "matmul", on one
 * and two threads, with the inputs as stored (memory-mapped segments, low-precision weights) and, for f32 inputs,
 * as heap arrays (the in-place fast paths); plus products large enough to cross every cache block, checked against
 * a double-precision reference, and argument errors.
 */
class GemmTest {
    private static final CpuBackend ONE = new CpuBackend(1);
    private static final CpuBackend TWO = new CpuBackend(2);
    private static final List<String> ERRORS = new ArrayList<>();

    @AfterAll
    static void close() {
        ERRORS.forEach(System.out::println);
        ONE.close();
        TWO.close();
    }

    /** An f32 tensor copied into a heap array (other dtypes unchanged). */
    private static Tensor heap(CpuBackend cpu, Tensor t) {
        return t.dtype() == DType.F32 && t.scale() == null ? cpu.fromFloats(t.toFloatArray(), t.shape()) : t;
    }

    private static Tensor swapLast(Tensor t) {
        return t.transpose(-1, -2);
    }

    @TestFactory
    List<DynamicTest> linearMatchesTorch() {
        List<DynamicTest> tests = new ArrayList<>();
        for (CpuBackend cpu : new CpuBackend[] {ONE, TWO}) {
            for (Golden.Case c : Golden.load("linear", cpu).cases()) {
                for (boolean onHeap : new boolean[] {false, true}) {
                    String label = "linear " + c.name() + " threads=" + cpu.threads() + (onHeap ? " heap" : " mapped");
                    tests.add(DynamicTest.dynamicTest(label, () -> {
                        Function<Tensor, Tensor> load = onHeap ? t -> heap(cpu, t) : t -> t;
                        Tensor x = load.apply(c.tensor("x"));
                        if (c.params().path("x_t").asBoolean()) {
                            x = swapLast(x);
                        }
                        Tensor w = load.apply(c.tensor("w"));
                        if (c.params().path("w_t").asBoolean()) {
                            w = w.transpose(0, 1);
                        }
                        if (c.has("scale")) {
                            w = w.withScale(c.tensor("scale"));
                        }
                        Tensor bias = c.has("bias") ? load.apply(c.tensor("bias")) : null;
                        double err = c.check(cpu.linear(x, w, bias), "out");
                        ERRORS.add(String.format("%s: relative error %.2e", label, err));
                    }));
                }
            }
        }
        return tests;
    }

    @TestFactory
    List<DynamicTest> matmulMatchesTorch() {
        List<DynamicTest> tests = new ArrayList<>();
        for (CpuBackend cpu : new CpuBackend[] {ONE, TWO}) {
            for (Golden.Case c : Golden.load("matmul", cpu).cases()) {
                for (boolean onHeap : new boolean[] {false, true}) {
                    String label = "matmul " + c.name() + " threads=" + cpu.threads() + (onHeap ? " heap" : " mapped");
                    tests.add(DynamicTest.dynamicTest(label, () -> {
                        Tensor a = onHeap ? heap(cpu, c.tensor("a")) : c.tensor("a");
                        Tensor b = onHeap ? heap(cpu, c.tensor("b")) : c.tensor("b");
                        if (c.params().path("a_t").asBoolean()) {
                            a = swapLast(a);
                        }
                        if (c.params().path("b_t").asBoolean()) {
                            b = swapLast(b);
                        }
                        double err = c.check(cpu.matmul(a, b), "out");
                        ERRORS.add(String.format("%s: relative error %.2e", label, err));
                    }));
                }
            }
        }
        return tests;
    }

    // ------------------------------------------------------------------ larger products vs a double reference

    private static float[] random(long seed, int n) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Relative L2 error of rows {@code rows} of y = x w^T + bias against a double-precision reference. */
    private static double linearError(float[] y, float[] x, float[] w, float[] bias, int m, int k, int n, int[] rows) {
        double num = 0;
        double den = 0;
        for (int i : rows) {
            for (int j = 0; j < n; j++) {
                double s = bias == null ? 0 : bias[j];
                for (int q = 0; q < k; q++) {
                    s += (double) x[i * k + q] * w[j * k + q];
                }
                double d = y[i * n + j] - s;
                num += d * d;
                den += s * s;
            }
        }
        return Math.sqrt(num / den);
    }

    private static void assertSmall(String what, double err) {
        ERRORS.add(String.format("%s: relative error %.2e", what, err));
        assertTrue(err < 1e-5, what + ": relative error " + err);
    }

    @Test
    void productsCrossingEveryBlockMatchDoublePrecision() {
        // K crosses the 3072-row packing block and the 512-deep kernel block, N the 256-column slabs and the
        // 32- (24-) column panels, M the 72-row blocks and the 6- (3-) row tiles
        int k = 3100;
        int n = 600;
        float[] w = random(2, n * k);
        float[] bias = random(3, n);
        for (int m : new int[] {301, 100}) {
            float[] x = random(1, m * k);
            int[] rows = {0, 1, 5, 6, 50, 71, 72, 99, m - 2, m - 1};
            for (CpuBackend cpu : new CpuBackend[] {ONE, TWO}) {
                String tag = " m=" + m + " threads=" + cpu.threads();
                Tensor y = cpu.linear(cpu.fromFloats(x, m, k), cpu.fromFloats(w, n, k), cpu.fromFloats(bias, n));
                assertArrayEquals(new int[] {m, n}, y.shape());
                assertSmall("large f32 linear" + tag, linearError(y.toFloatArray(), x, w, bias, m, k, n, rows));

                Tensor wb = cpu.to(cpu.fromFloats(w, n, k), DType.BF16);
                Tensor yb = cpu.linear(cpu.fromFloats(x, m, k), wb, null);
                assertSmall("large bf16-weight linear" + tag,
                        linearError(yb.toFloatArray(), x, wb.toFloatArray(), null, m, k, n, rows));

                // matmul with a transposed A (copied to rows first) and a row-major B (packed by row copies)
                Tensor at = cpu.contiguous(cpu.fromFloats(x, m, k).transpose(0, 1)).transpose(0, 1);
                Tensor bt = cpu.contiguous(cpu.fromFloats(w, n, k).transpose(0, 1));
                Tensor ym = cpu.matmul(at, bt);
                assertSmall("large matmul, transposed a" + tag,
                        linearError(ym.toFloatArray(), x, w, null, m, k, n, rows));
            }
        }
    }

    @Test
    void stridedActivationsMatchDoublePrecision() {
        int m = 40;
        int k = 70;
        int n = 90;
        float[] wide = random(4, m * 2 * k);
        float[] w = random(5, n * k);
        for (CpuBackend cpu : new CpuBackend[] {ONE, TWO}) {
            // rows evenly spaced (read in place) and a permuted 3-D view (copied first)
            Tensor xs = cpu.fromFloats(wide, m, 2 * k).narrow(1, k, k);
            Tensor xp = cpu.fromFloats(wide, 2, k, m).permute(0, 2, 1);
            for (Tensor xv : new Tensor[] {xs, xp}) {
                float[] x = xv.toFloatArray();
                int rows = (int) (xv.numel() / k);
                int[] all = new int[rows];
                for (int i = 0; i < rows; i++) {
                    all[i] = i;
                }
                Tensor y = cpu.linear(xv, cpu.fromFloats(w, n, k), null);
                double err = linearError(y.toFloatArray(), x, w, null, rows, k, n, all);
                assertTrue(err < 1e-5, "linear of " + xv + ": relative error " + err);
            }
        }
    }

    @Test
    void batchedMatmulOverManyHeadsMatchesPerHeadProducts() {
        // attention-sized batches: 6 heads, q [6, 50, 24] times k^T; run batch-parallel on two threads
        float[] q = random(6, 6 * 50 * 24);
        float[] kk = random(7, 6 * 61 * 24);
        Tensor qt = TWO.fromFloats(q, 6, 50, 24);
        Tensor kt = TWO.fromFloats(kk, 6, 61, 24).transpose(1, 2);
        float[] s = TWO.matmul(qt, kt).toFloatArray();
        double num = 0;
        double den = 0;
        for (int h = 0; h < 6; h++) {
            for (int i = 0; i < 50; i++) {
                for (int j = 0; j < 61; j++) {
                    double ref = 0;
                    for (int d = 0; d < 24; d++) {
                        ref += (double) q[(h * 50 + i) * 24 + d] * kk[(h * 61 + j) * 24 + d];
                    }
                    double e = s[(h * 50 + i) * 61 + j] - ref;
                    num += e * e;
                    den += ref * ref;
                }
            }
        }
        double err = Math.sqrt(num / den);
        assertTrue(err < 1e-5, "batched q k^T: relative error " + err);
    }

    // ------------------------------------------------------------------ argument errors

    private static void assertMessage(Runnable r, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' should mention '" + p + "'");
        }
    }

    @Test
    void badLinearArgumentsAreRejectedWithShapes() {
        Tensor x = ONE.zeros(DType.F32, 4, 8);
        assertMessage(() -> ONE.linear(x, ONE.zeros(DType.F32, 5, 7), null), "linear", "[4, 8]", "[5, 7]");
        assertMessage(() -> ONE.linear(x, ONE.zeros(DType.F32, 8), null), "linear", "w", "[8]");
        assertMessage(() -> ONE.linear(x, ONE.zeros(DType.F32, 5, 8), ONE.zeros(DType.F32, 4)), "bias", "[4]",
                "[5]");
        assertMessage(() -> ONE.linear(ONE.fromInts(new int[8], 1, 8), ONE.zeros(DType.F32, 5, 8), null), "x");
    }

    @Test
    void badMatmulArgumentsAreRejectedWithShapes() {
        assertMessage(() -> ONE.matmul(ONE.zeros(DType.F32, 3, 4), ONE.zeros(DType.F32, 5, 6)), "matmul", "[3, 4]",
                "[5, 6]");
        assertMessage(() -> ONE.matmul(ONE.zeros(DType.F32, 2, 3, 4), ONE.zeros(DType.F32, 5, 4, 6)), "batch",
                "[2, 3, 4]", "[5, 4, 6]");
        assertMessage(() -> ONE.matmul(ONE.zeros(DType.F32), ONE.zeros(DType.F32, 4)), "matmul", "[]");
    }
}
