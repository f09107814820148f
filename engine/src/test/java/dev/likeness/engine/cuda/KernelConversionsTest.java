package dev.likeness.engine.cuda;

import dev.likeness.engine.Dtypes;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dtype conversions of {@code common.cuh} (plain integer and float arithmetic) compiled for the host with g++ and
 * compared with the engine's {@link Dtypes} (bit-exact with PyTorch) on every f8 code and a few million floats: the
 * e4m3fn decoder, {@code lk_store}'s f8 e4m3 / e5m2 and bf16 encoders (torch's roundings, overflow to NaN for e4m3fn
 * and to infinity for e5m2), and the saturating {@code lk_f32_to_e4m3} of the activation quantizer.
 */
class KernelConversionsTest {
    /** Host stand-ins for the CUDA builtins common.cuh uses; inline PTX (the f16 conversions) compiles to nothing. */
    private static final String PRELUDE = """
            #include <cstring>
            #include <cstdio>
            #include <cstdlib>
            #include <math.h>
            #define __device__
            #define __global__
            #define __forceinline__ inline
            #define asm(...)
            static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
            static inline unsigned int __float_as_uint(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }
            static inline int __float2int_rn(float f) { return (int) nearbyintf(f); }
            struct lk_dim3 { unsigned int x, y, z; };
            static lk_dim3 threadIdx, blockIdx, blockDim, gridDim;
            static inline float __shfl_xor_sync(unsigned int, float v, int) { return v; }
            static inline void __syncthreads() {}
            #include "common.cuh"
            int main(int argc, char** argv) {
                FILE* in = fopen(argv[1], "rb");
                FILE* out = fopen(argv[2], "wb");
                for (int c = 0; c < 256; c++) {
                    float v = lk_load(&c, 0, LK_F8_E4M3);  // little-endian: the int's first byte is c
                    fwrite(&v, 4, 1, out);
                }
                float v;
                while (fread(&v, 4, 1, in) == 1) {
                    unsigned char r[5];
                    lk_store(r, 0, LK_F8_E4M3, v);
                    r[1] = lk_f32_to_e4m3(v);
                    lk_store(r + 2, 0, LK_F8_E5M2, v);
                    unsigned short h;
                    lk_store(&h, 0, LK_BF16, v);
                    std::memcpy(r + 3, &h, 2);
                    fwrite(r, 1, 5, out);
                }
                fclose(out);
                return 0;
            }
            """;

    @Test
    void conversionsMatchTorchsRoundings(@TempDir Path dir) throws Exception {
        Path exe = build(dir);
        float[] inputs = inputs();
        ByteBuffer in = ByteBuffer.allocate(4 * inputs.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : inputs) {
            in.putFloat(f);
        }
        Path inFile = dir.resolve("in.bin");
        Path outFile = dir.resolve("out.bin");
        Files.write(inFile, in.array());
        run(List.of(exe.toString(), inFile.toString(), outFile.toString()), dir);
        ByteBuffer out = ByteBuffer.wrap(Files.readAllBytes(outFile)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(4 * 256 + 5L * inputs.length, out.capacity());

        List<String> bad = new ArrayList<>();
        for (int c = 0; c < 256; c++) {
            float k = out.getFloat();
            float j = Dtypes.e4m3ToF32((byte) c);
            if (Float.floatToRawIntBits(k) != Float.floatToRawIntBits(j) && !(Float.isNaN(k) && Float.isNaN(j))) {
                bad.add(String.format("decode e4m3 0x%02x: kernel %s, Dtypes %s", c, k, j));
            }
        }
        for (float f : inputs) {
            int e4 = out.get() & 0xff;
            int sat = out.get() & 0xff;
            int e5 = out.get() & 0xff;
            int bf = out.getShort() & 0xffff;
            int je4 = Dtypes.f32ToE4M3(f) & 0xff;
            if (e4 != je4 && !(isE4M3NaN(e4) && isE4M3NaN(je4))) {
                bad.add(String.format("lk_store e4m3 of %s (0x%08x): kernel 0x%02x, Dtypes 0x%02x", f,
                        Float.floatToRawIntBits(f), e4, je4));
            }
            int sign = Float.floatToRawIntBits(f) < 0 ? 0x80 : 0;
            int jsat = Float.isNaN(f) ? je4 : Math.abs(f) > 464f ? sign | 0x7e : je4;
            if (sat != jsat && !(isE4M3NaN(sat) && isE4M3NaN(jsat))) {
                bad.add(String.format("lk_f32_to_e4m3 (saturating) of %s: kernel 0x%02x, expected 0x%02x", f, sat,
                        jsat));
            }
            int je5 = Dtypes.f32ToE5M2(f) & 0xff;
            if (e5 != je5 && !(isE5M2NaN(e5) && isE5M2NaN(je5))) {
                bad.add(String.format("lk_store e5m2 of %s (0x%08x): kernel 0x%02x, Dtypes 0x%02x", f,
                        Float.floatToRawIntBits(f), e5, je5));
            }
            int jbf = Dtypes.f32ToBf16(f) & 0xffff;
            if (bf != jbf) {
                bad.add(String.format("lk_store bf16 of %s: kernel 0x%04x, Dtypes 0x%04x", f, bf, jbf));
            }
            if (bad.size() > 20) {
                break;
            }
        }
        assertEquals(List.of(), bad);
    }

    private static boolean isE4M3NaN(int b) {
        return (b & 0x7f) == 0x7f;
    }

    private static boolean isE5M2NaN(int b) {
        return (b & 0x7f) > 0x7c;
    }

    /** Every f8 value, its neighbours and the midpoints between codes, specials, sweeps and random floats. */
    private static float[] inputs() {
        List<Float> v = new ArrayList<>();
        for (int c = 0; c < 256; c++) {
            for (float x : new float[] {Dtypes.e4m3ToF32((byte) c), Dtypes.e5m2ToF32((byte) c)}) {
                v.add(x);
                v.add(Math.nextUp(x));
                v.add(Math.nextDown(x));
            }
        }
        for (int c = 0; c < 0x7f; c++) {
            for (float[] pair : new float[][] {{Dtypes.e4m3ToF32((byte) c), Dtypes.e4m3ToF32((byte) (c + 1))},
                    {Dtypes.e5m2ToF32((byte) c), Dtypes.e5m2ToF32((byte) (c + 1))}}) {
                float mid = (pair[0] + pair[1]) / 2;
                for (float x : new float[] {mid, Math.nextUp(mid), Math.nextDown(mid)}) {
                    v.add(x);
                    v.add(-x);
                }
            }
        }
        for (float x : new float[] {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE,
                -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN,
                Float.intBitsToFloat(0xffc00000), Float.intBitsToFloat(0x7f800001), 448f, 464f, 465f, 480f, 57344f,
                61439f, 61440f, 65536f, 3.3895314e38f, -3.3895314e38f}) {
            v.add(x);
        }
        // every 61st f32 between 2^-20 and 2^17 (the f8 ranges), both signs
        for (int bits = 0x35800000; bits < 0x48000000; bits += 61) {
            float x = Float.intBitsToFloat(bits);
            v.add(x);
            v.add(-x);
        }
        Random r = new Random(8);
        for (int i = 0; i < 500_000; i++) {
            v.add(Float.intBitsToFloat(r.nextInt()));
            v.add((float) (r.nextGaussian() * Math.scalb(1.0, r.nextInt(40) - 20)));
        }
        float[] a = new float[v.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = v.get(i);
        }
        return a;
    }

    private static Path build(Path dir) throws Exception {
        if (!works(List.of("g++", "--version"), dir)) {
            System.out.println("[no g++] KernelConversionsTest skipped: g++ is needed to build the host harness");
            Assumptions.abort("g++ not found");
        }
        Files.writeString(dir.resolve("common.cuh"), Kernels.headers().get("common.cuh"));
        Files.writeString(dir.resolve("harness.cpp"), PRELUDE);
        Path exe = dir.resolve("harness");
        run(List.of("g++", "-std=c++17", "-O1", "-ffp-contract=off", "-w", "-o", exe.toString(),
                dir.resolve("harness.cpp").toString()), dir);
        return exe;
    }

    private static boolean works(List<String> command, Path dir) throws InterruptedException {
        try {
            Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        }
    }

    private static void run(List<String> command, Path dir) throws Exception {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), command + " timed out");
        assertEquals(0, p.exitValue(), command + " failed:\n" + log);
    }
}
