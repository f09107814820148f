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

/** mean and var over one dimension against torch (golden sets "mean" and "var"). */
class ReductionOpsTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @AfterAll
    static void close() {
        CPU.close();
    }

    @TestFactory
    Stream<DynamicTest> meanMatchesTorch() {
        return Golden.load("mean", CPU).cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            Tensor out = CPU.mean(ViewSpec.input(c, "x"), c.i("dim"), c.b("keepdim"));
            System.out.printf("mean %-22s rel err %.3g%n", c.name(), c.check(out, "out"));
        }));
    }

    @TestFactory
    Stream<DynamicTest> varMatchesTorch() {
        return Golden.load("var", CPU).cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            Tensor out = CPU.var(ViewSpec.input(c, "x"), c.i("dim"), c.i("correction"), c.b("keepdim"));
            System.out.printf("var %-22s rel err %.3g%n", c.name(), c.check(out, "out"));
        }));
    }

    @Test
    void emptyDimensionGivesNan() {
        Tensor x = CPU.zeros(DType.F32, 3, 0);
        float[] m = CPU.mean(x, 1, false).toFloatArray();
        float[] v = CPU.var(x, -1, 1, true).toFloatArray();
        assertArrayEquals(new int[] {3, 1}, CPU.var(x, -1, 1, true).shape());
        for (int i = 0; i < 3; i++) {
            assertTrue(Float.isNaN(m[i]) && Float.isNaN(v[i]), m[i] + " " + v[i]);
        }
    }

    @Test
    void badArgumentsFailWithClearMessages() {
        Tensor x = CPU.zeros(DType.F32, 5, 7, 13);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.mean(x, 3, false));
        assertTrue(e.getMessage().contains("mean") && e.getMessage().contains("dim 3")
                && e.getMessage().contains("[5, 7, 13]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.var(x, -4, 1, false));
        assertTrue(e.getMessage().contains("var") && e.getMessage().contains("dim -4"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.var(x, 0, -1, false));
        assertTrue(e.getMessage().contains("correction"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.mean(CPU.fromInts(new int[] {1, 2}, 2), 0, false));
        assertTrue(e.getMessage().contains("floating"), e.getMessage());
    }
}
