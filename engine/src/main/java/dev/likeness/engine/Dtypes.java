package dev.likeness.engine;

/**
 * Scalar conversions between the storage types and f32, bit-exact with PyTorch's conversions
 * (round-to-nearest-even; f8 e4m3fn saturates to NaN-free ±448 only when asked, like torch's {@code .to()}
 * which produces NaN on overflow for e4m3fn and inf for e5m2).
 */
public final class Dtypes {
    private Dtypes() {
    }

    // ---- bf16: the top 16 bits of an f32 ----

    public static float bf16ToF32(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    /** f32 → bf16 with round-to-nearest-even; NaN stays a quiet NaN. */
    public static short f32ToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    // ---- f16 (IEEE binary16): the JDK does it ----

    public static float f16ToF32(short h) {
        return Float.float16ToFloat(h);
    }

    public static short f32ToF16(float f) {
        return Float.floatToFloat16(f);
    }

    // ---- f8 e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa; no infinities; S.1111.111 is NaN; max 448 ----

    private static final float[] E4M3 = new float[256];
    private static final float[] E5M2 = new float[256];

    static {
        for (int i = 0; i < 256; i++) {
            E4M3[i] = decodeE4M3(i);
            E5M2[i] = decodeE5M2(i);
        }
    }

    private static float decodeE4M3(int b) {
        int sign = (b >>> 7) & 1;
        int exp = (b >>> 3) & 0xf;
        int man = b & 0x7;
        float v;
        if (exp == 0xf && man == 0x7) {
            return Float.NaN;
        } else if (exp == 0) {
            v = man / 8.0f * (float) Math.pow(2, -6);
        } else {
            v = (1 + man / 8.0f) * (float) Math.pow(2, exp - 7);
        }
        return sign == 1 ? -v : v;
    }

    private static float decodeE5M2(int b) {
        // e5m2 is exactly the top byte of an IEEE f16
        return Float.float16ToFloat((short) ((b & 0xff) << 8));
    }

    public static float e4m3ToF32(byte b) {
        return E4M3[b & 0xff];
    }

    public static float e5m2ToF32(byte b) {
        return E5M2[b & 0xff];
    }

    /** Lookup table (256 entries) decoding an e4m3fn byte; shared with the vectorized kernels. */
    public static float[] e4m3Table() {
        return E4M3.clone();
    }

    /** Lookup table (256 entries) decoding an e5m2 byte. */
    public static float[] e5m2Table() {
        return E5M2.clone();
    }

    /**
     * f32 → e4m3fn, round-to-nearest-even, as torch's {@code tensor.to(torch.float8_e4m3fn)}: values beyond the
     * largest finite (448) round to it when within half an ulp, otherwise become NaN (e4m3fn has no infinity).
     */
    public static byte f32ToE4M3(float f) {
        if (Float.isNaN(f)) {
            return (byte) 0x7f;
        }
        int sign = f < 0 || (f == 0 && 1 / f < 0) ? 0x80 : 0;
        float a = Math.abs(f);
        // largest finite 448 = 1.75 * 2^8; the next would-be value 480 is the NaN slot: everything that rounds
        // past 448 under round-to-nearest-even (anything above the midpoint 464) becomes NaN.
        if (a > 464f) { // 464 itself ties to the even 448
            return (byte) (sign | 0x7f);
        }
        return (byte) (sign | encodeMinifloat(a, 3, 7));
    }

    /** f32 → e5m2, round-to-nearest-even; overflow becomes infinity and NaN stays NaN, as torch does. */
    public static byte f32ToE5M2(float f) {
        if (Float.isNaN(f)) {
            return (byte) 0x7f;
        }
        int sign = f < 0 || (f == 0 && 1 / f < 0) ? 0x80 : 0;
        float a = Math.abs(f);
        if (a >= 65536f) {
            return (byte) (sign | 0x7c);
        }
        return (byte) (sign | encodeMinifloat(a, 2, 15)); // rounding past 57344 lands on 0x7c = inf
    }

    /** Encodes a finite non-negative value into a minifloat with round-to-nearest-even (no saturation). */
    private static int encodeMinifloat(float a, int manBits, int bias) {
        if (a == 0) {
            return 0;
        }
        int minExp = 1 - bias; // exponent of the smallest normal
        int e = Math.getExponent(a);
        if (e < minExp) {
            e = minExp; // subnormal: fixed exponent
        }
        // quantum at this exponent
        double q = Math.scalb(1.0, e - manBits);
        double m = Math.rint(a / q); // rint = round half even
        long mi = (long) m;
        if (mi >= (2L << manBits)) { // mantissa overflowed into the next binade
            e += 1;
            mi >>= 1;
        }
        if (mi < (1L << manBits)) { // subnormal
            return (int) mi;
        }
        int expField = e + bias;
        return (expField << manBits) | (int) (mi - (1L << manBits));
    }
}
