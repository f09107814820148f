package dev.likeness.engine.ops;

import dev.likeness.engine.DType;
import dev.likeness.engine.Dtypes;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cpu.CpuData;
import dev.likeness.engine.cpu.CpuStorage;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.function.IntFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link CpuData#readRun}, the block conversion every GEMM panel of a low-precision weight goes through, is bit for
 * bit the scalar decoding of {@link Dtypes} for every bit pattern of every storage type, at unaligned offsets and
 * lengths that leave a scalar tail.
 */
class BlockConversionTest {
    private final CpuBackend cpu = new CpuBackend(1);

    private static void check(String what, CpuStorage s, DType dt, int count, IntFunction<Float> scalar) {
        for (int start : new int[] {0, 1, 7}) {
            // the storage holds every pattern twice, so a run from any start covers all of them
            int n = count + 5;
            float[] got = new float[n + 2];
            CpuData.readRun(s, dt, start, got, 1, n);
            for (int i = 0; i < n; i++) {
                int pattern = (start + i) % count;
                assertEquals(Float.floatToRawIntBits(scalar.apply(pattern)), Float.floatToRawIntBits(got[1 + i]),
                        what + " pattern 0x" + Integer.toHexString(pattern) + " (run from element " + start + ")");
            }
        }
    }

    @Test
    void sixteenBitTypesConvertExactly() {
        short[] all = new short[2 * 65536];
        for (int i = 0; i < all.length; i++) {
            all[i] = (short) i;
        }
        CpuStorage s = CpuStorage.ofSegment(cpu, MemorySegment.ofArray(all));
        check("bf16", s, DType.BF16, 65536, i -> Dtypes.bf16ToF32((short) i));
        check("f16", s, DType.F16, 65536, i -> Float.float16ToFloat((short) i));
    }

    @Test
    void byteTypesConvertExactly() {
        byte[] all = new byte[2 * 256];
        for (int i = 0; i < all.length; i++) {
            all[i] = (byte) i;
        }
        CpuStorage s = CpuStorage.ofSegment(cpu, MemorySegment.ofArray(all));
        check("f8 e4m3fn", s, DType.F8_E4M3, 256, i -> Dtypes.e4m3ToF32((byte) i));
        check("f8 e5m2", s, DType.F8_E5M2, 256, i -> Dtypes.e5m2ToF32((byte) i));
        check("int8", s, DType.I8, 256, i -> (float) (byte) i);
    }
}
