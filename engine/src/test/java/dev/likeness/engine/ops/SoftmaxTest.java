package dev.likeness.engine.ops;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code softmax} against torch.softmax (golden set "softmax"). */
class SoftmaxTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @AfterAll
    static void close() {
        CPU.close();
    }

    @Test
    void matchesTorchOnEveryGoldenCase() {
        int checked = 0;
        for (Golden.Case c : Golden.load("softmax", CPU).cases()) {
            Tensor x = c.tensor("x");
            if (c.b("transpose")) {
                x = x.transpose(-1, -2);
            }
            Tensor out = CPU.softmax(x, c.i("dim"));
            double err = c.check(out, "out");
            System.out.printf("softmax %-22s rel err %.3g%n", c.name(), err);
            if (c.has("out_f32")) {
                double e32 = Golden.Check.relErr(c.name() + " vs f32 torch on the same inputs", out.toFloatArray(),
                        c.tensor("out_f32").toFloatArray(), 1e-5);
                System.out.printf("softmax %-22s rel err vs f32 torch %.3g%n", c.name(), e32);
            }
            checked++;
        }
        assertEquals(9, checked, "golden cases");
    }

    @Test
    void allNegativeInfinityRowIsNaNLikeTorch() {
        Golden.Case c = Golden.load("softmax", CPU).cases().stream().filter(k -> k.name().equals("neg_inf"))
                .findFirst().orElseThrow();
        Tensor out = CPU.softmax(c.tensor("x"), -1);
        float[] o = out.toFloatArray();
        int n = out.size(1);
        for (int j = 0; j < n; j++) {
            assertTrue(Float.isNaN(o[4 * n + j]), "row 4 (all -inf) column " + j + " is " + o[4 * n + j]);
            assertTrue(Float.isFinite(o[2 * n + j]), "row 2 (partly -inf) column " + j + " is " + o[2 * n + j]);
        }
    }

    @Test
    void scalarAndBroadcastInputs() {
        assertEquals(1f, CPU.softmax(CPU.fromFloats(new float[] {3f}), 0).toFloatArray()[0]);
        // a stride-0 view: every row is the same 5 values, every column of the expanded dim 0 is uniform
        Tensor row = CPU.fromFloats(new float[] {1, 2, 3, 4, 5}, 1, 5).expand(4, 5);
        float[] last = CPU.softmax(row, 1).toFloatArray();
        float[] first = CPU.softmax(row, 0).toFloatArray();
        double sum = 0;
        for (int j = 0; j < 5; j++) {
            sum += last[j];
            assertEquals(0.25f, first[j]);
            assertEquals(last[j], last[15 + j]);
        }
        assertEquals(1.0, sum, 1e-6);
    }

    @Test
    void badArgumentsAreRejected() {
        Tensor x = CPU.zeros(DType.F32, 3, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.softmax(x, 2));
        assertTrue(e.getMessage().contains("[3, 4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.softmax(CPU.fromInts(new int[] {1, 2}, 2), 0));
        assertTrue(e.getMessage().contains("x"), e.getMessage());
    }
}
