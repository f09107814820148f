package dev.likeness.engine.random;

import dev.likeness.engine.Dtypes;

/**
 * The Box–Muller step of torch's CPU {@code normal_} for tensors of 16 or more contiguous elements
 * ({@code normal_fill} in ATen's {@code native/cpu/DistributionTemplates.h}, torch 2.6.0).
 *
 * <p>torch first fills the tensor with uniforms in [0, 1), then transforms each block of 16 in place: element
 * {@code j < 8} and element {@code j + 8} form a pair, with {@code u1 = 1 - data[j]} (so the logarithm never sees 0)
 * and {@code u2 = data[j + 8]}:
 * <pre>
 *   radius   = sqrt(-2 ln u1)        theta = 2π u2
 *   data[j]     = radius cos(theta) · std + mean
 *   data[j + 8] = radius sin(theta) · std + mean
 * </pre>
 * The result bits depend on the precision each step is rounded to, which differs per dtype and per CPU build:
 * <ul>
 *   <li>{@link #bf16Block}: bfloat16. Every c10 {@code BFloat16} operation computes in float and rounds back to
 *       bfloat16, so each of the steps above is rounded to bf16. The uniforms have 8 bits, so a pair depends only on
 *       two bytes: the kernel is a 256 × 256 table, built once from float logarithms, square roots and sines that are
 *       correctly rounded before the bf16 rounding. That equals glibc's {@code logf}/{@code sinf}/{@code cosf}
 *       after bf16 rounding on all 256 inputs each (checked), and the table equals torch on every pair it was
 *       observed on (65,535 of the 65,536, see {@code TorchGeneratorTest}).</li>
 *   <li>{@link #f32BlockAvx2}: float32 as torch's x86-64 wheels run it on any CPU with AVX2, AVX-512 included (the
 *       distribution kernels are built for the DEFAULT and AVX2 capabilities only; an AVX-512 CPU dispatches to the
 *       AVX2 build). The AVX2 build uses {@code log256_ps} / {@code sincos256_ps} (Cephes single-precision
 *       polynomials, 8 lanes) and the compiler fused some multiply–adds; this reproduces that instruction sequence
 *       lane by lane, fused where the machine code is fused, so it is bit-exact.</li>
 *   <li>{@link #f32BlockScalar}: float32 in torch's DEFAULT build (no AVX2, or {@code ATEN_CPU_CAPABILITY=default}),
 *       which calls the C library's {@code logf} and {@code sincosf}. Those are not correctly rounded, so this
 *       (correctly rounded) version differs from torch in about 1.5% of the values, by at most 3 float ulps
 *       (measured on 4M values against glibc 2.36: 1.28% by 1 ulp, 0.21% by 2, 26 values by 3).</li>
 * </ul>
 * Scalars from {@code 2.0f * c10::pi<double>}: the angle is computed in double and rounded to the storage type.
 */
final class NormalFill {
    private NormalFill() {
    }

    /** 2π as torch writes it ({@code 2.0f * c10::pi<double>}): a double. */
    private static final double TWO_PI = 2.0 * Math.PI;

    // ------------------------------------------------------------------------------------------------ bfloat16

    /** BF16_TABLE[(a << 8 | b) * 2 + 0 / 1]: the (cos, sin) outputs, bf16 bits, for uniform bytes a (u1) and b (u2). */
    private static final short[] BF16_TABLE = buildBf16Table();

    private static short bf(float f) {
        return Dtypes.f32ToBf16(f);
    }

    private static float f(short bf16) {
        return Dtypes.bf16ToF32(bf16);
    }

    private static short[] buildBf16Table() {
        float[] radius = new float[256];
        float[] cos = new float[256];
        float[] sin = new float[256];
        for (int k = 0; k < 256; k++) {
            float u = k / 256f; // the bf16 uniform: 8 random bits over 256, exact
            float u1 = f(bf(1f - u));
            float log = f(bf((float) StrictMath.log(u1)));
            float minusTwoLog = f(bf(-2f * log));
            radius[k] = f(bf((float) Math.sqrt(minusTwoLog)));
            // 2π u2 in double, assigned to a bf16: double -> float -> bf16
            float theta = f(bf((float) (TWO_PI * u)));
            cos[k] = f(bf((float) StrictMath.cos(theta)));
            sin[k] = f(bf((float) StrictMath.sin(theta)));
        }
        short[] table = new short[256 * 256 * 2];
        for (int a = 0; a < 256; a++) {
            for (int b = 0; b < 256; b++) {
                // radius * cos(theta) * std + mean with std = 1, mean = 0, each product and sum rounded to bf16
                int i = (a << 8 | b) * 2;
                table[i] = bf(f(bf(radius[a] * cos[b])) * 1f + 0f);
                table[i + 1] = bf(f(bf(radius[a] * sin[b])) * 1f + 0f);
            }
        }
        return table;
    }

    /**
     * One block of 16 bf16 values for {@code torch.randn} (mean 0, std 1): {@code bytes[off..off+16)} are the low 8
     * bits of the 16 generator words (the bf16 uniforms times 256); writes 16 bf16 values to {@code out}.
     */
    static void bf16Block(int[] bytes, int off, short[] out, int outOff) {
        for (int j = 0; j < 8; j++) {
            int i = (bytes[off + j] << 8 | bytes[off + j + 8]) * 2;
            out[outOff + j] = BF16_TABLE[i];
            out[outOff + j + 8] = BF16_TABLE[i + 1];
        }
    }

    /** The table itself (a copy), for the exhaustive test. */
    static short[] bf16Table() {
        return BF16_TABLE.clone();
    }

    // --------------------------------------------------------------------------- float32, AVX2 build (x86-64)

    // Cephes single-precision constants, as the AVX2 kernel loads them (bit patterns).
    private static final float MIN_NORM_POS = Float.intBitsToFloat(0x00800000);
    private static final float SQRTHF = Float.intBitsToFloat(0x3f3504f3);
    private static final float[] LOG_P = {
            Float.intBitsToFloat(0x3d9021bb), Float.intBitsToFloat(0xbdebd1b8), Float.intBitsToFloat(0x3def251a),
            Float.intBitsToFloat(0xbdfe5d4f), Float.intBitsToFloat(0x3e11e9bf), Float.intBitsToFloat(0xbe2aae50),
            Float.intBitsToFloat(0x3e4cceac), Float.intBitsToFloat(0xbe7ffffc), Float.intBitsToFloat(0x3eaaaaaa)};
    private static final float LOG_Q1 = Float.intBitsToFloat(0xb95e8083);
    private static final float LOG_Q2 = Float.intBitsToFloat(0x3f318000);
    private static final float FOPI = Float.intBitsToFloat(0x3fa2f983); // 4/π
    private static final float MINUS_DP1 = Float.intBitsToFloat(0xbf490000);
    private static final float MINUS_DP2 = Float.intBitsToFloat(0xb97da000);
    private static final float MINUS_DP3 = Float.intBitsToFloat(0xb3222169);
    private static final float COS_P0 = Float.intBitsToFloat(0x37ccf5ce);
    private static final float COS_P1 = Float.intBitsToFloat(0xbab6061a);
    private static final float COS_P2 = Float.intBitsToFloat(0x3d2aaaa5);
    private static final float SIN_P0 = Float.intBitsToFloat(0xb94ca1f9);
    private static final float SIN_P1 = Float.intBitsToFloat(0x3c08839e);
    private static final float SIN_P2 = Float.intBitsToFloat(0xbe2aaaa3);
    /** 2π rounded to float: the AVX2 kernel's {@code _mm256_set1_ps(2.0f * c10::pi<double>)}. */
    private static final float TWO_PI_F = (float) TWO_PI;

    /**
     * {@code log256_ps} on one lane, with the multiply–adds fused exactly where torch 2.6.0's AVX2 build fuses
     * them. Defined for x &gt; 0 (x = 1 - u lies in (0, 1]); x ≤ 0 gives NaN as the vector code does.
     */
    static float logAvx2(float x) {
        if (!(x > 0f)) {
            return Float.NaN;
        }
        x = Math.max(x, MIN_NORM_POS);
        int bits = Float.floatToRawIntBits(x);
        int exponent = (bits >>> 23) - 0x7f;
        float m = Float.intBitsToFloat((bits & 0x807fffff) | 0x3f000000); // mantissa in [0.5, 1)
        float e = (float) exponent + 1f;
        boolean small = m < SQRTHF;
        float tmp = small ? m : 0f;
        m = m - 1f;
        e = e - (small ? 1f : 0f);
        m = m + tmp;
        float y = LOG_P[0];
        for (int k = 1; k < LOG_P.length; k++) {
            y = Math.fma(y, m, LOG_P[k]);
        }
        float z = m * m;
        y = m * y;
        y = Math.fma(y, z, e * LOG_Q1);
        y = Math.fma(-0.5f, z, y);
        m = m + y;
        return Math.fma(e, LOG_Q2, m);
    }

    /** {@code sincos256_ps} on one lane (same fusing as torch's AVX2 build): {cos, sin} of x into {@code out}. */
    static void sinCosAvx2(float x, float[] out) {
        int bits = Float.floatToRawIntBits(x);
        int signSin = bits & 0x80000000;
        x = Float.intBitsToFloat(bits & 0x7fffffff);
        int j = (int) (x * FOPI); // cvttps2dq: truncation (x < 2π here, so no overflow)
        j = (j + 1) & ~1;
        float y = (float) j;
        int swapSignSin = (j & 4) << 29;
        boolean polyMask = (j & 2) == 0;
        int signCos = (~(j - 2) & 4) << 29;
        signSin ^= swapSignSin;
        x = Math.fma(y, MINUS_DP1, x);
        x = Math.fma(y, MINUS_DP2, x);
        x = Math.fma(y, MINUS_DP3, x);
        float z = x * x;
        // cosine polynomial: 1 - z/2 + z² (p0 z² + p1 z + p2)
        float c = Math.fma(z, COS_P0, COS_P1);
        c = Math.fma(z, c, COS_P2);
        float halfZ = 0.5f * z;
        c = z * c;
        c = Math.fma(c, z, -halfZ);
        c = 1f + c;
        // sine polynomial: x + x z (q0 z² + q1 z + q2)
        float s = Math.fma(z, SIN_P0, SIN_P1);
        s = Math.fma(z, s, SIN_P2);
        s = z * s;
        s = Math.fma(x, s, x);
        // select by octant with the vector code's masked adds (they also decide the sign of zeros)
        float sinPart2 = polyMask ? s : 0f;
        float sinPart1 = polyMask ? 0f : c;
        float sRest = s - sinPart2;
        float cRest = c - sinPart1;
        float sinV = sinPart2 + sinPart1;
        float cosV = cRest + sRest;
        out[0] = Float.intBitsToFloat(Float.floatToRawIntBits(cosV) ^ signCos);
        out[1] = Float.intBitsToFloat(Float.floatToRawIntBits(sinV) ^ signSin);
    }

    /**
     * {@code normal_fill_16_AVX2}: transforms 16 f32 uniforms at {@code data[off..off+16)} in place into normals with
     * the given mean and std.
     */
    static void f32BlockAvx2(float[] data, int off, float mean, float std, float[] scratch) {
        for (int j = 0; j < 8; j++) {
            float u1 = 1f - data[off + j];
            float theta = TWO_PI_F * data[off + j + 8];
            float radius = (float) Math.sqrt(logAvx2(u1) * -2f);
            sinCosAvx2(theta, scratch);
            data[off + j] = Math.fma(radius * scratch[0], std, mean);
            data[off + j + 8] = Math.fma(radius * scratch[1], std, mean);
        }
    }

    // ------------------------------------------------------------------------------ float32, DEFAULT build

    /**
     * {@code normal_fill_16<float>} with correctly rounded float logarithm, sine and cosine (torch calls the C
     * library's, which are not correctly rounded: results within 3 ulps). The products are not fused (the DEFAULT
     * build has no FMA).
     */
    static void f32BlockScalar(float[] data, int off, float mean, float std) {
        for (int j = 0; j < 8; j++) {
            float u1 = 1f - data[off + j];
            float u2 = data[off + j + 8];
            float radius = (float) Math.sqrt(-2f * (float) StrictMath.log(u1));
            float theta = (float) (TWO_PI * u2);
            data[off + j] = radius * (float) StrictMath.cos(theta) * std + mean;
            data[off + j + 8] = radius * (float) StrictMath.sin(theta) * std + mean;
        }
    }
}
