package dev.likeness.engine.ops;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code rope}, {@code ropeFrequencies} and {@code timestepEmbedding} against diffusers' apply_rotary_emb,
 * FluxPosEmbed and get_timestep_embedding (golden sets "rope", "rope_frequencies", "timestep_embedding").
 */
class PositionalTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @AfterAll
    static void close() {
        CPU.close();
    }

    @Test
    void ropeMatchesDiffusers() {
        int checked = 0;
        for (Golden.Case c : Golden.load("rope", CPU).cases()) {
            Tensor x = c.tensor("x");
            if (c.params().get("layout").asText().equals("bshd")) {
                x = x.permute(0, 2, 1, 3);
                assertFalse(x.isContiguous());
            }
            Tensor out = CPU.rope(x, c.tensor("cos"), c.tensor("sin"));
            double err = c.check(out, "out");
            System.out.printf("rope %-16s rel err %.3g%n", c.name(), err);
            // the same products and sum as torch in f32, so the same bits (bf16 x: before torch rounds to bf16)
            String exact = c.has("out_f32") ? "out_f32" : "out";
            assertArrayEquals(c.tensor(exact).toFloatArray(), out.toFloatArray(), c.name() + " " + exact);
            checked++;
        }
        assertEquals(5, checked, "golden cases");
    }

    @Test
    void ropeFrequenciesMatchFluxPosEmbed() {
        int checked = 0;
        for (Golden.Case c : Golden.load("rope_frequencies", CPU).cases()) {
            List<Tensor> cs = CPU.ropeFrequencies(c.tensor("ids"), c.ints("axes_dim"), c.d("theta"));
            double errCos = c.check(cs.get(0), "cos");
            double errSin = c.check(cs.get(1), "sin");
            System.out.printf("rope_frequencies %-26s rel err cos %.3g sin %.3g%n", c.name(), errCos, errSin);
            checked++;
        }
        assertEquals(4, checked, "golden cases");
    }

    @Test
    void timestepEmbeddingMatchesDiffusers() {
        int checked = 0;
        for (Golden.Case c : Golden.load("timestep_embedding", CPU).cases()) {
            JsonNode p = c.params();
            Tensor out = CPU.timestepEmbedding(c.tensor("t"), c.i("dim"), c.b("flip_sin_to_cos"),
                    (float) c.d("downscale_freq_shift"), (float) c.d("scale"), c.i("max_period"));
            double err = c.check(out, "out");
            System.out.printf("timestep_embedding %-24s rel err %.3g (%s)%n", c.name(), err, p);
            checked++;
        }
        assertEquals(6, checked, "golden cases");
    }

    @Test
    void oddTimestepDimensionIsZeroPadded() {
        float[] out = CPU.timestepEmbedding(CPU.fromFloats(new float[] {5f, 7f}, 2), 5, false, 1f, 1f, 10000)
                .toFloatArray();
        assertEquals(0f, out[4]);
        assertEquals(0f, out[9]);
        assertEquals((float) Math.sin(5.0), out[0]);
        assertEquals((float) Math.cos(7.0), out[5 + 2]);
    }

    @Test
    void badArgumentsAreRejected() {
        Tensor x = CPU.zeros(DType.F32, 1, 2, 3, 4);
        Tensor table = CPU.zeros(DType.F32, 3, 4);
        assertMessage(() -> CPU.rope(x, CPU.zeros(DType.F32, 3, 6), table), "[3, 4]", "[3, 6]");
        assertMessage(() -> CPU.rope(CPU.zeros(DType.F32, 1, 3, 5), CPU.zeros(DType.F32, 3, 5),
                CPU.zeros(DType.F32, 3, 5)), "even", "[1, 3, 5]");
        assertMessage(() -> CPU.rope(CPU.zeros(DType.F32, 4), table, table), "[4]");
        Tensor ids = CPU.zeros(DType.F32, 5, 3);
        assertMessage(() -> CPU.ropeFrequencies(ids, new int[] {16, 56}, 10000), "[16, 56]", "[5, 3]");
        assertMessage(() -> CPU.ropeFrequencies(ids, new int[] {16, 55, 56}, 10000), "even");
        assertMessage(() -> CPU.ropeFrequencies(CPU.zeros(DType.F32, 5), new int[] {16}, 10000), "[5]");
        assertMessage(() -> CPU.ropeFrequencies(ids, new int[] {16, 56, 56}, 0), "theta");
        assertMessage(() -> CPU.timestepEmbedding(CPU.zeros(DType.F32, 2, 1), 256, true, 0, 1, 10000), "[2, 1]");
        assertMessage(() -> CPU.timestepEmbedding(CPU.zeros(DType.F32, 2), 0, true, 0, 1, 10000), "dim");
    }

    private static void assertMessage(Runnable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        for (String p : parts) {
            assertTrue(e.getMessage().contains(p), "message \"" + e.getMessage() + "\" should mention " + p);
        }
    }
}
