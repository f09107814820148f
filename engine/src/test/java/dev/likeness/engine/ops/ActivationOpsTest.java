package dev.likeness.engine.ops;

import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.function.Function;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * gelu (erf and tanh forms), quick-gelu, silu and sqrt against torch (golden sets "gelu", "quick_gelu", "silu",
 * "sqrt").
 */
class ActivationOpsTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @AfterAll
    static void close() {
        CPU.close();
    }

    private static Tensor gelu(Golden.Case c, Tensor x) {
        return CPU.gelu(x, c.params().get("approximate").asText().equals("tanh"));
    }

    private static Stream<DynamicTest> golden(String file, java.util.function.BiFunction<Golden.Case, Tensor, Tensor> op) {
        return Golden.load(file, CPU).cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            double err = c.check(op.apply(c, ViewSpec.input(c, "x")), "out");
            System.out.printf("%s %-22s rel err %.3g%n", file, c.name(), err);
        }));
    }

    @TestFactory
    Stream<DynamicTest> geluMatchesTorch() {
        return golden("gelu", ActivationOpsTest::gelu);
    }

    @TestFactory
    Stream<DynamicTest> quickGeluMatchesTorch() {
        return golden("quick_gelu", (c, x) -> CPU.quickGelu(x));
    }

    @TestFactory
    Stream<DynamicTest> siluMatchesTorch() {
        return golden("silu", (c, x) -> CPU.silu(x));
    }

    @TestFactory
    Stream<DynamicTest> sqrtMatchesTorch() {
        return golden("sqrt", (c, x) -> CPU.sqrt(x));
    }

    /**
     * On a dense grid over [-10, 10] the result is within a few f32 ulps of the exact (f64) gelu: our erf is accurate
     * to 1 ulp, so the only error left is the f32 rounding of the formula around it.
     */
    @Test
    void geluIsCloseToExactOnDenseGrid() {
        for (Golden.Case c : Golden.load("gelu", CPU).cases()) {
            if (!c.has("ref64")) {
                continue;
            }
            float[] x = c.tensor("x").toFloatArray();
            float[] got = gelu(c, c.tensor("x")).toFloatArray();
            float[] exact = c.tensor("ref64").toFloatArray();
            float[] torch = c.tensor("out").toFloatArray();
            double worstAbs = 0;
            double torchAbs = 0;
            for (int i = 0; i < x.length; i++) {
                worstAbs = Math.max(worstAbs, Math.abs(got[i] - exact[i]));
                torchAbs = Math.max(torchAbs, Math.abs(torch[i] - exact[i]));
                // a few ulps of the result, or of the inputs' scale where 1 + erf cancels (x well below 0)
                double bound = 4 * Math.ulp(Math.abs(exact[i])) + 1.2e-7 * Math.abs(x[i]) * 0.5;
                if (Math.abs(got[i] - exact[i]) > bound) {
                    throw new AssertionError(c.name() + ": gelu(" + x[i] + ") = " + got[i] + ", exact " + exact[i]);
                }
            }
            System.out.printf("gelu %-22s max abs err vs exact %.3g (torch's own: %.3g)%n", c.name(), worstAbs,
                    torchAbs);
            assertTrue(worstAbs < 1e-6, c.name() + ": max abs error " + worstAbs);
        }
    }

    @Test
    void resultIsIndependentOfThreadCountAndPosition() {
        Golden.Case c = Golden.load("gelu", CPU).cases().stream().filter(k -> k.name().equals("random_1003_none"))
                .findFirst().orElseThrow();
        Tensor x = c.tensor("x");
        try (CpuBackend one = new CpuBackend(1)) {
            for (Function<CpuBackend, Function<Tensor, Tensor>> op : java.util.List.<Function<CpuBackend,
                    Function<Tensor, Tensor>>>of(b -> t -> b.gelu(t, false), b -> t -> b.gelu(t, true),
                    b -> b::silu, b -> b::quickGelu, b -> b::sqrt)) {
                float[] all = op.apply(CPU).apply(x).toFloatArray();
                assertArrayEquals(all, op.apply(one).apply(one.transfer(x)).toFloatArray());
                // a row taken alone (other vector alignment, other tail) gives the same values
                Tensor row = x.select(0, 1).narrow(0, 3, 997);
                float[] part = op.apply(CPU).apply(row).toFloatArray();
                for (int i = 0; i < part.length; i++) {
                    if (Float.floatToIntBits(part[i]) != Float.floatToIntBits(all[1003 + 3 + i])) {
                        throw new AssertionError("element " + i + ": " + part[i] + " vs " + all[1003 + 3 + i]);
                    }
                }
            }
        }
    }

    @Test
    void badArgumentsFailWithClearMessages() {
        Tensor ids = CPU.fromInts(new int[] {1, 2}, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.gelu(ids, false));
        assertTrue(e.getMessage().contains("gelu") && e.getMessage().contains("floating"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.silu(null));
        assertTrue(e.getMessage().contains("silu"), e.getMessage());
    }
}
