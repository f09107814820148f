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
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Broadcasting add/sub/mul/div and the scalar affine map against torch (golden sets "binary" and "affine"). */
class ElementwiseOpsTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @AfterAll
    static void close() {
        CPU.close();
    }

    private static Tensor binary(String op, Tensor x, Tensor y) {
        return switch (op) {
            case "add" -> CPU.add(x, y);
            case "sub" -> CPU.sub(x, y);
            case "mul" -> CPU.mul(x, y);
            case "div" -> CPU.div(x, y);
            default -> throw new IllegalArgumentException("unknown op " + op);
        };
    }

    @TestFactory
    Stream<DynamicTest> binaryMatchesTorch() {
        return Golden.load("binary", CPU).cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            Tensor out = binary(c.params().get("op").asText(), ViewSpec.input(c, "x"), ViewSpec.input(c, "y"));
            double err = c.check(out, "out");
            System.out.printf("binary %-22s rel err %.3g%n", c.name(), err);
        }));
    }

    @TestFactory
    Stream<DynamicTest> affineMatchesTorch() {
        return Golden.load("affine", CPU).cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
            Tensor out = CPU.affine(ViewSpec.input(c, "x"), (float) c.d("s"), (float) c.d("t"));
            double err = c.check(out, "out");
            System.out.printf("affine %-22s rel err %.3g%n", c.name(), err);
        }));
    }

    @Test
    void f32ResultsAreBitExactWithTorch() {
        // add/sub/mul/div and x * s + t round exactly once per op, as torch does: f32 cases agree to the bit
        for (String file : new String[] {"binary", "affine"}) {
            for (Golden.Case c : Golden.load(file, CPU).cases()) {
                if (!c.params().get("precision").asText().equals("f32")) {
                    continue;
                }
                Tensor out = file.equals("binary")
                        ? binary(c.params().get("op").asText(), ViewSpec.input(c, "x"), ViewSpec.input(c, "y"))
                        : CPU.affine(ViewSpec.input(c, "x"), (float) c.d("s"), (float) c.d("t"));
                float[] got = out.toFloatArray();
                float[] ref = c.tensor("out").toFloatArray();
                for (int i = 0; i < ref.length; i++) {
                    if (Float.floatToIntBits(got[i]) != Float.floatToIntBits(ref[i])) {
                        throw new AssertionError(file + " " + c.name() + " element " + i + ": " + got[i]
                                + " vs torch " + ref[i]);
                    }
                }
            }
        }
    }

    @Test
    void resultIsIndependentOfThreadCount() {
        Golden.Case c = Golden.load("binary", CPU).cases().stream().filter(k -> k.name().equals("long_1d_add"))
                .findFirst().orElseThrow();
        try (CpuBackend one = new CpuBackend(1)) {
            Tensor x = c.tensor("x");
            Tensor y = c.tensor("y");
            assertArrayEquals(one.add(one.transfer(x), one.transfer(y)).toFloatArray(), CPU.add(x, y).toFloatArray());
        }
    }

    @Test
    void scaledInt8OperandIsDequantized() {
        Tensor q = CPU.wrap(MemorySegment.ofArray(new byte[] {1, -2, 3, 4, 5, -6}), DType.I8, 2, 3)
                .withScale(CPU.fromFloats(new float[] {0.5f, 2f}, 2));
        Tensor bias = CPU.fromFloats(new float[] {10, 20, 30}, 3);
        assertArrayEquals(new float[] {10.5f, 19f, 31.5f, 18f, 30f, 18f}, CPU.add(q, bias).toFloatArray());
        assertArrayEquals(new float[] {-9.5f, -21f, -28.5f, -2f, -10f, -42f}, CPU.sub(q, bias).toFloatArray());
    }

    @Test
    void emptyBroadcastGivesEmptyResult() {
        Tensor x = CPU.zeros(DType.F32, 0, 3);
        Tensor y = CPU.fromFloats(new float[] {1, 2, 3}, 3);
        Tensor out = CPU.mul(x, y);
        assertArrayEquals(new int[] {0, 3}, out.shape());
        assertEquals(0, out.numel());
    }

    @Test
    void badArgumentsFailWithClearMessages() {
        Tensor x = CPU.zeros(DType.F32, 2, 3, 4);
        Tensor y = CPU.zeros(DType.F32, 5, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.add(x, y));
        assertTrue(e.getMessage().contains("[2, 3, 4]") && e.getMessage().contains("[5, 4]")
                && e.getMessage().contains("not broadcastable"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.mul(x, null));
        assertTrue(e.getMessage().contains("y"), e.getMessage());
        Tensor ids = CPU.fromInts(new int[] {1, 2, 3, 4}, 4);
        e = assertThrows(IllegalArgumentException.class, () -> CPU.div(x, ids));
        assertTrue(e.getMessage().contains("floating"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CPU.affine(ids, 1f, 0f));
        assertTrue(e.getMessage().contains("floating"), e.getMessage());
    }
}
