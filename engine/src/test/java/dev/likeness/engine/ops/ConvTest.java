package dev.likeness.engine.ops;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** conv2d against torch's F.conv2d (golden set "conv"), plus shape errors and thread/dtype invariances. */
class ConvTest {
    private static final CpuBackend CPU = new CpuBackend(3);

    @AfterAll
    static void close() {
        CPU.close();
    }

    private static Tensor conv(CpuBackend b, Golden.Case c) {
        Tensor x = c.has("x") ? c.tensor("x") : c.tensor("x_nhwc").permute(0, 3, 1, 2);
        int[] stride = c.ints("stride");
        int[] padding = c.ints("padding");
        return b.conv2d(x, c.tensor("w"), c.optional("bias"), stride[0], stride[1], padding[0], padding[1],
                c.i("groups"));
    }

    @Test
    void matchesTorchOnEveryGoldenCase() {
        int checked = 0;
        double worst = 0;
        for (Golden.Case c : Golden.load("conv2d", CPU).cases()) {
            worst = Math.max(worst, c.check(conv(CPU, c), "out"));
            checked++;
        }
        System.out.println("conv2d: " + checked + " golden cases, worst relative error " + worst);
        assertTrue(checked >= 19, "expected every conv2d golden case, got " + checked);
    }

    @Test
    void nonContiguousInputIsReallyAView() {
        Golden.Case c = Golden.load("conv2d", CPU).cases().stream().filter(k -> k.has("x_nhwc")).findFirst()
                .orElseThrow();
        Tensor x = c.tensor("x_nhwc").permute(0, 3, 1, 2);
        assertTrue(!x.isContiguous());
        c.check(conv(CPU, c), "out");
    }

    @Test
    void resultDoesNotDependOnThreadCount() {
        Random r = new Random(7);
        Tensor x = CPU.fromFloats(random(r, 2 * 20 * 23 * 29), 2, 20, 23, 29);
        Tensor w = CPU.fromFloats(random(r, 45 * 20 * 3 * 3), 45, 20, 3, 3);
        Tensor bias = CPU.fromFloats(random(r, 45), 45);
        try (CpuBackend one = new CpuBackend(1); CpuBackend many = new CpuBackend(5)) {
            float[] a = one.conv2d(x, w, bias, 1, 1, 1, 1, 1).toFloatArray();
            float[] b = many.conv2d(x, w, bias, 1, 1, 1, 1, 1).toFloatArray();
            assertArrayEquals(a, b);
            Tensor dw = CPU.fromFloats(random(r, 20 * 9), 20, 1, 3, 3);
            assertArrayEquals(one.conv2d(x, dw, null, 2, 1, 1, 0, 20).toFloatArray(),
                    many.conv2d(x, dw, null, 2, 1, 1, 0, 20).toFloatArray());
        }
    }

    @Test
    void matchesNaiveDoubleReferenceOnLargerShapes() {
        Random r = new Random(11);
        int n = 1;
        int c = 64;
        int h = 37;
        int wd = 51;
        int o = 37;
        Tensor x = CPU.fromFloats(random(r, n * c * h * wd), n, c, h, wd);
        Tensor w = CPU.fromFloats(random(r, o * c * 9), o, c, 3, 3);
        Tensor bias = CPU.fromFloats(random(r, o), o);
        float[] mine = CPU.conv2d(x, w, bias, 1, 2, 1, 0, 1).toFloatArray();
        float[] ref = naive(x.toFloatArray(), w.toFloatArray(), bias.toFloatArray(), n, c, h, wd, o, 3, 3, 1, 2, 1, 0,
                1);
        Golden.Check.relErr("conv2d vs naive", mine, ref, 1e-5);
        Tensor dw = CPU.fromFloats(random(r, 2 * c * 25), 2 * c, 1, 5, 5);
        float[] mineDw = CPU.conv2d(x, dw, null, 2, 3, 2, 1, c).toFloatArray();
        float[] refDw = naive(x.toFloatArray(), dw.toFloatArray(), null, n, c, h, wd, 2 * c, 5, 5, 2, 3, 2, 1, c);
        Golden.Check.relErr("depthwise conv2d vs naive", mineDw, refDw, 1e-5);
    }

    @Test
    void scaledInt8WeightsEqualTheirDequantizedValues() {
        Random r = new Random(3);
        int o = 9;
        int k = 4 * 3 * 3;
        byte[] q = new byte[o * k];
        for (int i = 0; i < q.length; i++) {
            q[i] = (byte) (r.nextInt(255) - 127);
        }
        float[] scales = new float[o];
        float[] deq = new float[o * k];
        for (int i = 0; i < o; i++) {
            scales[i] = 0.001f * (i + 1);
            for (int j = 0; j < k; j++) {
                deq[i * k + j] = q[i * k + j] * scales[i];
            }
        }
        Tensor wq = CPU.wrap(MemorySegment.ofArray(q), DType.I8, o, 4, 3, 3).withScale(CPU.fromFloats(scales, o));
        Tensor wf = CPU.fromFloats(deq, o, 4, 3, 3);
        Tensor x = CPU.fromFloats(random(r, 2 * 4 * 10 * 11), 2, 4, 10, 11);
        assertArrayEquals(CPU.conv2d(x, wf, null, 1, 1, 1, 1, 1).toFloatArray(),
                CPU.conv2d(x, wq, null, 1, 1, 1, 1, 1).toFloatArray());
    }

    @Test
    void rejectsBadArgumentsWithClearMessages() {
        Tensor x = CPU.zeros(DType.F32, 1, 6, 5, 5);
        Tensor w = CPU.zeros(DType.F32, 4, 6, 3, 3);
        assertMessage(() -> CPU.conv2d(CPU.zeros(DType.F32, 6, 5, 5), w, null, 1, 1, 0, 0, 1),
                "input x must be 4-D", "[6, 5, 5]");
        assertMessage(() -> CPU.conv2d(x, CPU.zeros(DType.F32, 4, 6, 3), null, 1, 1, 0, 0, 1),
                "weight w must be 4-D", "[4, 6, 3]");
        assertMessage(() -> CPU.conv2d(x, CPU.zeros(DType.F32, 4, 1, 3, 3), null, 1, 1, 0, 0, 4),
                "C = 6", "groups 4");
        assertMessage(() -> CPU.conv2d(x, CPU.zeros(DType.F32, 3, 3, 3, 3), null, 1, 1, 0, 0, 2),
                "O = 3", "[3, 3, 3, 3]");
        assertMessage(() -> CPU.conv2d(x, CPU.zeros(DType.F32, 4, 3, 3, 3), null, 1, 1, 0, 0, 1),
                "C / groups = 6", "[1, 6, 5, 5]");
        assertMessage(() -> CPU.conv2d(x, CPU.zeros(DType.F32, 4, 6, 7, 3), null, 1, 1, 0, 0, 1),
                "kernel 7x3 is larger than the padded input 5x5");
        assertMessage(() -> CPU.conv2d(x, CPU.zeros(DType.F32, 4, 6, 8, 7), null, 1, 1, 1, 1, 1),
                "kernel 8x7 is larger than the padded input 7x7");
        assertMessage(() -> CPU.conv2d(x, w, CPU.zeros(DType.F32, 5), 1, 1, 0, 0, 1), "bias must have shape [4]",
                "[5]");
        assertMessage(() -> CPU.conv2d(x, w, null, 0, 1, 0, 0, 1), "stride must be positive");
        assertMessage(() -> CPU.conv2d(x, w, null, 1, 1, -1, 0, 1), "padding must be non-negative");
        assertMessage(() -> CPU.conv2d(x, w, null, 1, 1, 0, 0, 0), "groups must be positive");
        assertMessage(() -> CPU.conv2d(CPU.fromInts(new int[150], 1, 6, 5, 5), w, null, 1, 1, 0, 0, 1),
                "floating-point");
    }

    static void assertMessage(org.junit.jupiter.api.function.Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message '" + e.getMessage() + "' should mention '" + p + "'");
        }
    }

    @Test
    void outputShapeFollowsTorch() {
        Tensor x = CPU.zeros(DType.F32, 2, 3, 11, 8);
        Tensor out = CPU.conv2d(x, CPU.zeros(DType.F32, 5, 3, 3, 2), null, 2, 3, 1, 0, 1);
        assertArrayEquals(new int[] {2, 5, 6, 3}, out.shape());
        assertEquals(0f, out.toFloatArray()[0]);
    }

    private static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    private static float[] naive(float[] x, float[] w, float[] bias, int n, int c, int h, int wd, int o, int kh,
                                 int kw, int sh, int sw, int ph, int pw, int groups) {
        int oh = (h + 2 * ph - kh) / sh + 1;
        int ow = (wd + 2 * pw - kw) / sw + 1;
        int cg = c / groups;
        int og = o / groups;
        float[] out = new float[n * o * oh * ow];
        for (int b = 0; b < n; b++) {
            for (int oc = 0; oc < o; oc++) {
                int g = oc / og;
                for (int y = 0; y < oh; y++) {
                    for (int xx = 0; xx < ow; xx++) {
                        double s = bias == null ? 0 : bias[oc];
                        for (int ci = 0; ci < cg; ci++) {
                            for (int i = 0; i < kh; i++) {
                                for (int j = 0; j < kw; j++) {
                                    int iy = y * sh - ph + i;
                                    int ix = xx * sw - pw + j;
                                    if (iy >= 0 && iy < h && ix >= 0 && ix < wd) {
                                        s += (double) w[((oc * cg + ci) * kh + i) * kw + j]
                                                * x[((b * c + g * cg + ci) * h + iy) * wd + ix];
                                    }
                                }
                            }
                        }
                        out[((b * o + oc) * oh + y) * ow + xx] = (float) s;
                    }
                }
            }
        }
        return out;
    }
}
