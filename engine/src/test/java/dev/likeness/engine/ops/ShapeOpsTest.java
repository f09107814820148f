package dev.likeness.engine.ops;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** cat and embedding against torch (golden sets "cat" and "embedding"): exact copies, so every value must match. */
class ShapeOpsTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @AfterAll
    static void close() {
        CPU.close();
    }

    private static void assertExact(Golden.Case c, Tensor out) {
        c.check(out, "out");
        float[] got = out.toFloatArray();
        float[] ref = c.tensor("out").toFloatArray();
        for (int i = 0; i < ref.length; i++) {
            assertEquals(Float.floatToIntBits(ref[i]), Float.floatToIntBits(got[i]), c.name() + " element " + i);
        }
    }

    @TestFactory
    Stream<DynamicTest> catMatchesTorch() {
        return Golden.load("cat", CPU).cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            List<Tensor> parts = new ArrayList<>();
            for (int i = 0; i < c.i("count"); i++) {
                parts.add(ViewSpec.input(c, "t" + i));
            }
            assertExact(c, CPU.cat(c.i("dim"), parts));
        }));
    }

    @TestFactory
    Stream<DynamicTest> embeddingMatchesTorch() {
        return Golden.load("embedding", CPU).cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () ->
                assertExact(c, CPU.embedding(ViewSpec.input(c, "w"), ViewSpec.input(c, "ids")))));
    }

    @Test
    void catSkipsLegacyEmptyTensors() {
        Tensor a = CPU.fromFloats(new float[] {1, 2, 3, 4}, 2, 2);
        Tensor empty = CPU.zeros(DType.F32, 0);
        Tensor b = CPU.fromFloats(new float[] {5, 6}, 1, 2);
        Tensor out = CPU.cat(0, List.of(empty, a, empty, b));
        assertArrayEquals(new int[] {3, 2}, out.shape());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, out.toFloatArray());
    }

    @Test
    void embeddingOfScaledInt8TableDequantizesRows() {
        Tensor w = CPU.wrap(MemorySegment.ofArray(new byte[] {1, -2, 3, 4, 5, -6}), DType.I8, 3, 2)
                .withScale(CPU.fromFloats(new float[] {0.5f, 2f, -1f}, 3));
        Tensor out = CPU.embedding(w, CPU.fromInts(new int[] {2, 0, 1}, 3));
        assertArrayEquals(new int[] {3, 2}, out.shape());
        assertArrayEquals(new float[] {-5, 6, 0.5f, -1, 6, 8}, out.toFloatArray());
    }

    @Test
    void badArgumentsFailWithClearMessages() {
        Tensor a = CPU.zeros(DType.F32, 2, 3, 4);
        Tensor b = CPU.zeros(DType.F32, 2, 5, 5);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.cat(1, List.of(a, b)));
        assertTrue(e.getMessage().contains("[2, 3, 4]") && e.getMessage().contains("[2, 5, 5]")
                && e.getMessage().contains("dimension 1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.cat(0, List.of(a, CPU.zeros(DType.F32, 2, 3))));
        assertTrue(e.getMessage().contains("[2, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.cat(3, List.of(a)));
        assertTrue(e.getMessage().contains("dim 3") && e.getMessage().contains("rank 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.cat(0, List.of()));
        assertTrue(e.getMessage().contains("non-empty"), e.getMessage());

        Tensor w = CPU.zeros(DType.F32, 10, 4);
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.embedding(w, CPU.fromInts(new int[] {1, 10, 2}, 3)));
        assertTrue(e.getMessage().contains("id 10") && e.getMessage().contains("vocabulary of 10"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.embedding(w, CPU.fromInts(new int[] {-1}, 1)));
        assertTrue(e.getMessage().contains("id -1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.embedding(w, CPU.fromFloats(new float[] {1, 2}, 2)));
        assertTrue(e.getMessage().contains("I32 or I64"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CPU.embedding(CPU.zeros(DType.F32, 10), CPU.fromInts(new int[] {1}, 1)));
        assertTrue(e.getMessage().contains("2-D"), e.getMessage());
    }
}
