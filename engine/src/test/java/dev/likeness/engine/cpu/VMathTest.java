package dev.likeness.engine.cpu;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link VMath}: accuracy of exp and tanh against {@code StrictMath} rounded to f32 (in ulps, over a dense sample of
 * every f32 in the range; {@code -Dvmath.stride=1} checks every f32), scalar and vector versions bit-identical,
 * special values, and the fixed-order lane sum.
 */
class VMathTest {
    private static final int STRIDE = Integer.getInteger("vmath.stride", 251);
    private static final int L = VMath.S.length();

    /** Distance in ulps between two finite floats (or equal infinities), counting across zero and subnormals. */
    static long ulps(float a, float b) {
        if (a == b) {
            return 0;
        }
        return Math.abs(ordered(a) - ordered(b));
    }

    private static long ordered(float f) {
        int bits = Float.floatToRawIntBits(f);
        return bits >= 0 ? bits : (long) Integer.MIN_VALUE - bits;
    }

    /**
     * Max ulp error of the vector and scalar versions of fn over every STRIDE-th f32 in [lo, hi] (both signs handled
     * by walking the ordered integer line); asserts the vector lanes and the scalar version agree bit for bit.
     */
    private static long maxUlps(String name, float lo, float hi, UnaryOperator<FloatVector> vec,
                                java.util.function.Function<Float, Float> scalar, DoubleUnaryOperator ref,
                                float normalBelow) {
        long from = ordered(lo);
        long to = ordered(hi);
        float[] in = new float[L * 1024];
        float[] out = new float[in.length];
        long worst = 0;
        float worstAt = 0;
        long count = 0;
        for (long o = from; o <= to; ) {
            int n = 0;
            for (; n < in.length && o <= to; n++, o += STRIDE) {
                in[n] = fromOrdered(o);
            }
            for (int i = 0; i < n; i += L) {
                vec.apply(FloatVector.fromArray(VMath.S, in, i, VMath.S.indexInRange(i, n))).intoArray(out, i,
                        VMath.S.indexInRange(i, n));
            }
            for (int i = 0; i < n; i++) {
                float x = in[i];
                float s = scalar.apply(x);
                if (Float.floatToRawIntBits(s) != Float.floatToRawIntBits(out[i])) {
                    throw new AssertionError(name + "(" + x + "): vector " + out[i] + " but scalar " + s);
                }
                float want = (float) ref.applyAsDouble(x);
                if (Math.abs(want) < normalBelow) {
                    continue;
                }
                long u = ulps(s, want);
                if (u > worst) {
                    worst = u;
                    worstAt = x;
                }
            }
            count += n;
        }
        System.out.printf("%s on [%g, %g]: %d values, max error %d ulp (at %s)%n", name, lo, hi, count, worst,
                worstAt);
        return worst;
    }

    private static float fromOrdered(long o) {
        return Float.intBitsToFloat((int) (o >= 0 ? o : Integer.MIN_VALUE - o));
    }

    @Test
    void expIsWithinOneUlpOfStrictMath() {
        long worst = maxUlps("exp", -104f, 89f, VMath::exp, VMath::exp, StrictMath::exp, Float.MIN_NORMAL);
        assertTrue(worst <= 1, "exp max error " + worst + " ulp");
        // subnormal results: within 1 ulp of the subnormal grid too
        long sub = maxUlps("exp (subnormal results)", -103.98f, -87.34f, VMath::exp, VMath::exp, StrictMath::exp, 0f);
        assertTrue(sub <= 1, "exp max error on subnormal results " + sub + " ulp");
    }

    @Test
    void tanhIsWithinOneUlpOfStrictMath() {
        long worst = maxUlps("tanh", -12f, 12f, VMath::tanh, VMath::tanh, StrictMath::tanh, 0f);
        assertTrue(worst <= 1, "tanh max error " + worst + " ulp");
    }

    /** erf in double: 2/sqrt(pi) · exp(-x²) · Σ 2^n x^(2n+1) / (1·3·…·(2n+1)), a series of positive terms. */
    static double erfReference(double x) {
        double a = Math.abs(x);
        if (a > 6) {
            return Math.signum(x);
        }
        double term = a;
        double sum = a;
        for (int n = 1; term > 1e-17 * sum; n++) {
            term *= 2 * a * a / (2 * n + 1);
            sum += term;
        }
        return Math.copySign(sum * StrictMath.exp(-a * a) * 2 / Math.sqrt(Math.PI), x);
    }

    @Test
    void erfIsWithinOneUlp() {
        int stride = STRIDE * 4 + 1;
        long from = ordered(-6f);
        long to = ordered(6f);
        float[] in = new float[L];
        long worst = 0;
        float worstAt = 0;
        long count = 0;
        for (long o = from; o <= to; o += (long) stride * L) {
            for (int i = 0; i < L; i++) {
                in[i] = fromOrdered(Math.min(to, o + (long) i * stride));
            }
            FloatVector e = Activations.erf(FloatVector.fromArray(VMath.S, in, 0));
            for (int i = 0; i < L; i++) {
                long u = ulps(e.lane(i), (float) erfReference(in[i]));
                if (u > worst) {
                    worst = u;
                    worstAt = in[i];
                }
            }
            count += L;
        }
        System.out.printf("erf on [-6, 6]: %d values, max error %d ulp (at %s)%n", count, worst, worstAt);
        assertTrue(worst <= 1, "erf max error " + worst + " ulp");
    }

    @Test
    void specialValues() {
        assertEquals(1f, VMath.exp(0f));
        assertEquals(1f, VMath.exp(-0f));
        assertEquals(0f, VMath.exp(Float.NEGATIVE_INFINITY));
        assertEquals(0f, VMath.exp(-200f));
        assertEquals(Float.POSITIVE_INFINITY, VMath.exp(Float.POSITIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, VMath.exp(88.73f));
        assertEquals((float) StrictMath.exp(88.72f), VMath.exp(88.72f));
        assertTrue(Float.isNaN(VMath.exp(Float.NaN)));
        assertEquals(1f, VMath.tanh(Float.POSITIVE_INFINITY));
        assertEquals(-1f, VMath.tanh(Float.NEGATIVE_INFINITY));
        assertEquals(1f, VMath.tanh(20f));
        assertEquals(0f, VMath.tanh(0f));
        assertEquals(1e-30f, VMath.tanh(1e-30f));
        assertTrue(Float.isNaN(VMath.tanh(Float.NaN)));
        float[] in = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, 0f, -0f, 88.73f, -200f, 1e-30f};
        for (float x : in) {
            FloatVector v = VMath.exp(FloatVector.broadcast(VMath.S, x));
            assertEquals(Float.floatToRawIntBits(VMath.exp(x)), Float.floatToRawIntBits(v.lane(0)), "exp " + x);
            v = VMath.tanh(FloatVector.broadcast(VMath.S, x));
            assertEquals(Float.floatToRawIntBits(VMath.tanh(x)), Float.floatToRawIntBits(v.lane(0)), "tanh " + x);
        }
    }

    @Test
    void sumAddsTheLanesInAFixedPairwiseOrder() {
        Random r = new Random(7);
        float[] a = new float[L];
        for (int trial = 0; trial < 1000; trial++) {
            for (int i = 0; i < L; i++) {
                a[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(8)));
            }
            // the same tree written out: lane i + lane i + h, halving h
            float[] t = a.clone();
            for (int h = L / 2; h >= 1; h /= 2) {
                for (int i = 0; i < h; i++) {
                    t[i] = t[i] + t[i + h];
                }
            }
            float got = VMath.sum(FloatVector.fromArray(VMath.S, a, 0));
            assertEquals(Float.floatToRawIntBits(t[0]), Float.floatToRawIntBits(got));
        }
    }
}
