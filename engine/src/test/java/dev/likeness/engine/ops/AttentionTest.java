package dev.likeness.engine.ops;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code attention} against torch's F.scaled_dot_product_attention (golden set "attention") and a f64 reference. */
class AttentionTest {
    private static final CpuBackend ONE = new CpuBackend(1);
    private static final CpuBackend THREE = new CpuBackend(3);

    @AfterAll
    static void close() {
        ONE.close();
        THREE.close();
    }

    private static Tensor input(Golden.Case c, String role) {
        Tensor t = c.tensor(role);
        return c.params().get("layout").asText().equals("bshd") ? t.permute(0, 2, 1, 3) : t;
    }

    @Test
    void matchesTorchOnEveryGoldenCase() {
        for (CpuBackend cpu : new CpuBackend[] {ONE, THREE}) {
            int checked = 0;
            for (Golden.Case c : Golden.load("attention", cpu).cases()) {
                Tensor q = input(c, "q");
                Tensor k = input(c, "k");
                Tensor v = input(c, "v");
                if (c.params().get("layout").asText().equals("bshd")) {
                    assertFalse(q.isContiguous(), c + ": the bshd layout must give a non-contiguous view");
                }
                Tensor out = cpu.attention(q, k, v, c.optional("mask"), (float) c.d("scale"));
                double err = c.check(out, "out");
                System.out.printf("attention %-20s threads %d rel err %.3g%n", c.name(), cpu.threads(), err);
                if (c.has("out_f32")) {
                    // bf16 inputs: torch's f32 result for the same values must match at f32 precision
                    double e32 = Golden.Check.relErr(c.name() + " vs f32 torch on the same inputs",
                            out.toFloatArray(), c.tensor("out_f32").toFloatArray(), 1e-5);
                    System.out.printf("attention %-20s threads %d rel err vs f32 torch %.3g%n", c.name(),
                            cpu.threads(), e32);
                }
                checked++;
            }
            assertEquals(11, checked, "golden cases");
        }
    }

    @Test
    void fullyMaskedRowsAreZeroLikeTorch() {
        Golden.Case c = Golden.load("attention", ONE).cases().stream()
                .filter(k -> k.name().equals("fully_masked_rows")).findFirst().orElseThrow();
        Tensor out = ONE.attention(c.tensor("q"), c.tensor("k"), c.tensor("v"), c.tensor("mask"), 0f);
        float[] o = out.toFloatArray();
        int dv = out.size(3);
        int lq = out.size(2);
        for (int h = 0; h < out.size(1); h++) {
            for (int row : new int[] {2, 5}) {
                for (int j = 0; j < dv; j++) {
                    assertEquals(0f, o[(h * lq + row) * dv + j], "head " + h + " row " + row);
                }
            }
        }
    }

    /** Sizes crossing several query and key blocks with remainders, f32 / f16 / bf16 views, against f64 math. */
    @Test
    void matchesDoubleReferenceAcrossBlocksAndDtypes() {
        int batch = 2;
        int heads = 3;
        int lq = 150;
        int lk = 333;
        int d = 72;
        int dv = 40;
        Random rnd = new Random(7);
        float[] qf = gaussian(rnd, batch * lq * heads * d);
        float[] kf = gaussian(rnd, batch * lk * heads * d);
        float[] vf = gaussian(rnd, batch * lk * heads * dv);
        float[] mf = gaussian(rnd, lq * lk);
        for (int i = 0; i < mf.length; i += 5) {
            mf[i] = Float.NEGATIVE_INFINITY;
        }
        for (DType dt : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            // projection layout [B, L, H, D] permuted to [B, H, L, D]
            Tensor q = ONE.to(ONE.fromFloats(qf, batch, lq, heads, d), dt).permute(0, 2, 1, 3);
            Tensor k = ONE.to(ONE.fromFloats(kf, batch, lk, heads, d), dt).permute(0, 2, 1, 3);
            Tensor v = ONE.to(ONE.fromFloats(vf, batch, lk, heads, dv), dt).permute(0, 2, 1, 3);
            Tensor mask = ONE.fromFloats(mf, 1, 1, lq, lk);
            float scale = 0.11f;
            float[] ref = reference(q.toFloatArray(), k.toFloatArray(), v.toFloatArray(), mf, batch, heads, lq, lk, d,
                    dv, scale);
            float[] one = ONE.attention(q, k, v, mask, scale).toFloatArray();
            float[] three = THREE.attention(q, k, v, mask, scale).toFloatArray();
            double err = Golden.Check.relErr("attention " + dt + " vs f64 reference", one, ref, 2e-6);
            System.out.printf("attention f64 reference %s rel err %.3g%n", dt, err);
            // the split over threads changes nothing in the arithmetic of a row, but the JIT's vector exp may differ
            // from the interpreter's in the last bit, so compare with a tolerance
            Golden.Check.relErr("attention " + dt + " on 3 threads vs 1", three, one, 1e-6);
        }
    }

    @Test
    void noKeysGivesZeros() {
        Tensor q = ONE.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 1, 1, 3, 2);
        Tensor k = ONE.zeros(DType.F32, 1, 1, 0, 2);
        Tensor v = ONE.zeros(DType.F32, 1, 1, 0, 5);
        Tensor out = ONE.attention(q, k, v, null, 0f);
        assertArrayEquals(new int[] {1, 1, 3, 5}, out.shape());
        assertArrayEquals(new float[15], out.toFloatArray());
    }

    @Test
    void badArgumentsAreRejectedWithTheirShapes() {
        Tensor q = ONE.zeros(DType.F32, 1, 2, 5, 8);
        Tensor k = ONE.zeros(DType.F32, 1, 2, 7, 8);
        Tensor v = ONE.zeros(DType.F32, 1, 2, 7, 3);
        assertMessage(() -> ONE.attention(q.reshape(2, 5, 8), k, v, null, 0f), "q [B, H, Lq, D]", "[2, 5, 8]");
        assertMessage(() -> ONE.attention(q, ONE.zeros(DType.F32, 1, 2, 7, 6), v, null, 0f), "head size",
                "[1, 2, 7, 6]");
        assertMessage(() -> ONE.attention(q, k, ONE.zeros(DType.F32, 1, 2, 6, 3), null, 0f), "as many keys",
                "[1, 2, 6, 3]");
        assertMessage(() -> ONE.attention(q, ONE.zeros(DType.F32, 1, 3, 7, 8), v, null, 0f), "batch and head",
                "[1, 3, 7, 8]");
        assertMessage(() -> ONE.attention(q, k, v, ONE.zeros(DType.F32, 5, 6), 0f), "mask", "[5, 6]",
                "[1, 2, 5, 7]");
        assertMessage(() -> ONE.attention(q, k, v, ONE.zeros(DType.F32, 2, 1, 1, 7), 0f), "mask", "[2, 1, 1, 7]");
        assertMessage(() -> ONE.attention(q, k, v, ONE.fromInts(new int[7], 7), 0f), "mask");
        assertMessage(() -> ONE.attention(ONE.fromInts(new int[80], 1, 2, 5, 8), k, v, null, 0f), "q");
    }

    private static void assertMessage(Runnable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message \"" + e.getMessage() + "\" should mention " + p);
        }
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }

    /** Plain softmax(q·kᵀ·scale + mask)·v in f64 for row-major [B, H, L, D] arrays and a [Lq, Lk] mask. */
    private static float[] reference(float[] q, float[] k, float[] v, float[] mask, int batch, int heads, int lq,
                                     int lk, int d, int dv, float scale) {
        float[] out = new float[batch * heads * lq * dv];
        double[] p = new double[lk];
        for (int bh = 0; bh < batch * heads; bh++) {
            for (int i = 0; i < lq; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < lk; j++) {
                    double dot = 0;
                    for (int x = 0; x < d; x++) {
                        dot += (double) q[(bh * lq + i) * d + x] * k[(bh * lk + j) * d + x];
                    }
                    p[j] = dot * scale + mask[i * lk + j];
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < lk; j++) {
                    p[j] = Math.exp(p[j] - max);
                    sum += p[j];
                }
                for (int c = 0; c < dv; c++) {
                    double acc = 0;
                    for (int j = 0; j < lk; j++) {
                        acc += p[j] * v[(bh * lk + j) * dv + c];
                    }
                    out[(bh * lq + i) * dv + c] = (float) (acc / sum);
                }
            }
        }
        return out;
    }
}
