package dev.likeness.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Deterministic f32 math for the kernels: horizontal sums in a fixed order, and {@code exp} and {@code tanh} built
 * only from operations whose result IEEE 754 and Java define exactly (add, multiply, fma, divide, min/max,
 * comparisons, blends, integer bit operations). The same input gives the same bits whether the code runs interpreted,
 * C1- or C2-compiled, and the scalar versions give the same bits as the vector lanes.
 *
 * <p>Why: the Vector API leaves two things to the implementation. {@code reduceLanes(ADD)} on floats sums the lanes
 * in an unspecified order (the Java fallback that runs before C2 compiles a kernel adds them one after the other, the
 * C2 intrinsic as a tree), and {@code lanewise(EXP)}, {@code TANH} and the other transcendental operators call
 * {@code Math}/{@code StrictMath} lane by lane before compilation and a native vector library (different rounding
 * in the last bit) after. Both made results change once a kernel got hot.
 *
 * <p>Speed: {@link #exp} runs as fast as the C2 intrinsic it replaces and {@link #tanh} likewise (measured, AVX-512).
 * Constants are broadcast with {@code FloatVector.broadcast} in place, never through a small helper method: C2 stops
 * inlining ordinary methods once a compilation holds many Vector API nodes, and a call that returns a vector that
 * is not inlined boxes it (an allocation per call, several times slower).
 *
 * <p>Accuracy against {@code StrictMath} rounded to f32, measured over every f32 in the range ({@code VMathTest} with
 * {@code -Dvmath.stride=1}): {@link #exp} at most 1 ulp on [-104, 89] (2.24e9 values, subnormal results included),
 * {@link #tanh} at most 1 ulp on [-12, 12] (2.19e9 values; beyond, tanh rounds to ±1 and so does this).
 */
final class VMath {
    private VMath() {
    }

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    /** Shuffles that move lane i + h to lane i (h = L/2, L/4, ..., 1): the fixed tree of {@link #sum}. */
    private static final VectorShuffle<Float>[] HALVES = halves();

    @SuppressWarnings("unchecked")
    private static VectorShuffle<Float>[] halves() {
        int l = S.length();
        int steps = Integer.numberOfTrailingZeros(l);
        VectorShuffle<Float>[] r = new VectorShuffle[steps];
        for (int s = 0, h = l / 2; h >= 1; s++, h /= 2) {
            int[] idx = new int[l];
            for (int i = 0; i < l; i++) {
                idx[i] = (i + h) % l;
            }
            r[s] = VectorShuffle.fromArray(S, idx, 0);
        }
        return r;
    }

    /**
     * The sum of the lanes of v, always added in the same order (a pairwise tree: lane i with lane i + L/2, then
     * i + L/4, ...), unlike {@code reduceLanes(VectorOperators.ADD)}, whose order depends on compilation.
     */
    static float sum(FloatVector v) {
        for (VectorShuffle<Float> h : HALVES) {
            v = v.add(v.rearrange(h));
        }
        return v.lane(0);
    }

    // ------------------------------------------------------------------ exp

    private static final float LOG2E = 1.44269504088896341f;
    /** ln 2 split as hi + lo (hi = ln 2 rounded to f32). */
    private static final float LN2_HI = 0.693147180559945309f;
    private static final float LN2_LO = (float) (0.693147180559945309417232121458 - 0.693147180559945309f);
    /** 1.5 · 2^23: adding it rounds to an integer, which then sits in the low mantissa bits. */
    private static final float SHIFTER = 12582912f;
    private static final int SHIFTER_BITS = Float.floatToRawIntBits(SHIFTER);
    /** Below this exp rounds to 0 (exp(-104) < 2^-150), above this it overflows; in between 2^n is formed exactly. */
    private static final float EXP_LO = -104f;
    private static final float EXP_HI = 89f;
    /** (exp(r) - 1 - r) / r² on |r| ≤ ln2 / 2 (Chebyshev fit, f32 coefficients; lowest degree first). */
    private static final float X0 = 0.5f;
    private static final float X1 = 0.16666577756404877f;
    private static final float X2 = 0.041666556149721146f;
    private static final float X3 = 0.008363173343241215f;
    private static final float X4 = 0.0013926175888627768f;

    /**
     * e^x of each lane: x = n·ln2 + r with |r| ≤ ln2/2, e^r = 1 + r + r²·Q(r), times 2^n applied in two halves (so
     * that results down to the subnormals are formed with one rounding). At most 1 ulp from the correctly rounded
     * value (subnormal results too); 0 below -103.97, +inf above 88.72, NaN stays NaN.
     */
    static FloatVector exp(FloatVector x) {
        FloatVector t = x.fma(LOG2E, SHIFTER);
        FloatVector n = t.sub(SHIFTER);
        FloatVector r = n.fma(FloatVector.broadcast(S, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector q = r.fma(X4, X3);
        q = q.fma(r, FloatVector.broadcast(S, X2));
        q = q.fma(r, FloatVector.broadcast(S, X1));
        q = q.fma(r, FloatVector.broadcast(S, X0));
        FloatVector p = r.mul(r).fma(q, r).add(1f);
        IntVector ni = t.reinterpretAsInts().sub(SHIFTER_BITS);
        IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1);
        IntVector n2 = ni.sub(n1);
        FloatVector s1 = n1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = n2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        // outside [EXP_LO, EXP_HI] the lanes above hold garbage: replace them (compare + blend is much cheaper than
        // clamping x with min/max, whose NaN rules cost several instructions each)
        return p.mul(s1).mul(s2)
                .blend(0f, x.compare(VectorOperators.LT, EXP_LO))
                .blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_HI));
    }

    /** {@link #exp(FloatVector)} for one value: the same operations, so the same bits as a vector lane. */
    static float exp(float x) {
        float t = Math.fma(x, LOG2E, SHIFTER);
        float n = t - SHIFTER;
        float r = Math.fma(n, -LN2_HI, x);
        r = Math.fma(n, -LN2_LO, r);
        float q = Math.fma(Math.fma(Math.fma(Math.fma(r, X4, X3), r, X2), r, X1), r, X0);
        float p = Math.fma(r * r, q, r) + 1f;
        int ni = Float.floatToRawIntBits(t) - SHIFTER_BITS;
        int n1 = ni >> 1;
        int n2 = ni - n1;
        float e = p * Float.intBitsToFloat((n1 + 127) << 23) * Float.intBitsToFloat((n2 + 127) << 23);
        return x < EXP_LO ? 0f : x > EXP_HI ? Float.POSITIVE_INFINITY : e;
    }

    // ------------------------------------------------------------------ tanh

    /** Below this |x|, tanh is the odd polynomial; above, 1 - 2 / (e^{2|x|} + 1). */
    private static final float TANH_SMALL = 0.55f;
    /** (tanh(x) - x) / x³ as a polynomial in x² on |x| ≤ 0.55 (Chebyshev fit, f32; lowest degree first). */
    private static final float T0 = -0.3333333432674408f;
    private static final float T1 = 0.133333221077919f;
    private static final float T2 = -0.05396436154842377f;
    private static final float T3 = 0.021816827356815338f;
    private static final float T4 = -0.00852407980710268f;
    private static final float T5 = 0.0025273722130805254f;

    /** tanh of each lane, at most 1 ulp from the correctly rounded value; ±inf gives ±1, NaN stays NaN. */
    static FloatVector tanh(FloatVector x) {
        FloatVector a = x.abs();
        FloatVector u = x.mul(x);
        FloatVector q = u.fma(T5, T4);
        q = q.fma(u, FloatVector.broadcast(S, T3));
        q = q.fma(u, FloatVector.broadcast(S, T2));
        q = q.fma(u, FloatVector.broadcast(S, T1));
        q = q.fma(u, FloatVector.broadcast(S, T0));
        FloatVector small = x.mul(u).fma(q, x);
        FloatVector e = exp(a.add(a));
        FloatVector big = FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(e.add(1f)));
        big = big.lanewise(VectorOperators.NEG, x.compare(VectorOperators.LT, 0f));
        VectorMask<Float> useBig = a.compare(VectorOperators.GE, TANH_SMALL);
        return small.blend(big, useBig);
    }

    /** {@link #tanh(FloatVector)} for one value: the same operations, so the same bits as a vector lane. */
    static float tanh(float x) {
        float a = Math.abs(x);
        if (a >= TANH_SMALL) {
            float big = 1f - 2f / (exp(a + a) + 1f);
            return x < 0f ? -big : big;
        }
        float u = x * x;
        float q = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(u, T5, T4), u, T3), u, T2), u, T1), u, T0);
        return Math.fma(x * u, q, x);
    }

}
