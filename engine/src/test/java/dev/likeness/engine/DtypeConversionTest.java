package dev.likeness.engine;

import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cpu.CpuData;
import dev.likeness.engine.cpu.CpuStorage;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Storage conversions, bit for bit against torch (golden set "dtypes"). */
class DtypeConversionTest {
    private final CpuBackend cpu = new CpuBackend(1);

    private static byte[] bytes(Tensor t) {
        CpuStorage s = CpuData.storage(t);
        MemorySegment seg = s.segment();
        long bs = t.dtype().byteSize();
        return seg.asSlice(t.offset() * bs, t.numel() * bs).toArray(ValueLayout.JAVA_BYTE);
    }

    private static void assertSameBits(String what, float[] in, byte[] expected, byte[] actual, int width) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int i = 0; i < expected.length; i += width) {
            for (int k = 0; k < width; k++) {
                if (expected[i + k] != actual[i + k]) {
                    throw new AssertionError(what + ": element " + i / width + " (input " + in[i / width]
                            + ") converts to byte " + k + " = " + actual[i + k] + ", torch gives " + expected[i + k]);
                }
            }
        }
    }

    @Test
    void roundingMatchesTorchBitForBit() {
        Golden.Case c = Golden.load("dtypes", cpu).cases().stream().filter(k -> k.name().equals("convert"))
                .findFirst().orElseThrow();
        Tensor x = c.tensor("x");
        float[] in = x.toFloatArray();
        assertSameBits("bf16", in, bytes(c.tensor("bf16")), bytes(cpu.to(x, DType.BF16)), 2);
        assertSameBits("f16", in, bytes(c.tensor("f16")), bytes(cpu.to(x, DType.F16)), 2);
        assertSameBits("f8 e4m3fn", in, bytes(c.tensor("e4m3")), bytes(cpu.to(x, DType.F8_E4M3)), 1);
        assertSameBits("f8 e5m2", in, bytes(c.tensor("e5m2")), bytes(cpu.to(x, DType.F8_E5M2)), 1);
    }

    @Test
    void decodingMatchesTorchForEveryF8Byte() {
        Golden.Case c = Golden.load("dtypes", cpu).cases().stream().filter(k -> k.name().equals("decode"))
                .findFirst().orElseThrow();
        for (String f8 : new String[] {"e4m3", "e5m2"}) {
            float[] mine = c.tensor(f8).toFloatArray();
            float[] ref = c.tensor(f8 + "_f32").toFloatArray();
            for (int i = 0; i < 256; i++) {
                assertEquals(Float.floatToIntBits(ref[i]), Float.floatToIntBits(mine[i]),
                        f8 + " byte " + i + ": " + mine[i] + " vs torch " + ref[i]);
            }
        }
    }

    @Test
    void bf16RoundTripIsExactForBf16Values() {
        Golden.Case c = Golden.load("dtypes", cpu).cases().get(0);
        Tensor b = c.tensor("bf16");
        Tensor again = cpu.to(cpu.to(b, DType.F32), DType.BF16);
        assertSameBits("bf16 round trip", b.toFloatArray(), bytes(b), bytes(again), 2);
    }
}
