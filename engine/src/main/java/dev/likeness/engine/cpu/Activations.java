package dev.likeness.engine.cpu;

import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Pointwise activations in f32, written as torch's CPU kernels write them (same operation order): {@code F.gelu}
 * (erf form and {@code approximate="tanh"}), CLIP's quick-gelu, {@code F.silu}, and {@code torch.sqrt}.
 *
 * <p>Every element, including the last partial vector, goes through the same vector code (masked tails), so a value's
 * result never depends on where it sits in the tensor or how the work was split over threads.
 *
 * <p>Java has no erf; {@link #erf} is our own f32 approximation, within 1 ulp of the exact erf over the whole real line
 * (measured): an odd polynomial below |x| = 1 and {@code 1 - exp(P(|x|) - x²)} above, where P, a polynomial in
 * |x| - 2.5, fits {@code log(erfc(x)) + x²} on [1, 4] (erf(x) rounds to ±1 in f32 beyond |x| ≈ 3.92). The
 * coefficients were fitted by least squares and rounded to f32 one at a time, refitting the rest after each rounding.
 * torch's CPU gelu uses cruder erf approximations (oneDNN's for contiguous f32 input, ATen's vectorized one otherwise):
 * on [-10, 10] its gelu is up to 9.5e-7 from the exact value, this one 4.8e-7 (half an ulp at |x| = 10). They also
 * differ at +inf: this gelu gives +inf like ATen's kernel, oneDNN gives NaN.
 */
final class Activations {
    private Activations() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int GRAIN = 1 << 14;

    /** 1/sqrt(2) rounded to f32, torch's {@code M_SQRT1_2}. */
    private static final float SQRT1_2 = (float) 0.70710678118654752440;
    /** torch's {@code M_SQRT2 * M_2_SQRTPI * 0.5} = sqrt(2/pi), rounded to f32. */
    private static final float GELU_BETA = (float) (1.41421356237309504880 * 1.12837916709551257390 * 0.5);
    private static final float GELU_KAPPA = 0.044715f;
    private static final float QUICK_GELU_ALPHA = 1.702f;

    /** erf(x)/x - 1 as a polynomial in x², for |x| < 1 (highest degree first). */
    private static final float E0 = 7.919901690911502e-05f;
    private static final float E1 = -0.000803065428044647f;
    private static final float E2 = 0.005190725903958082f;
    private static final float E3 = -0.026855124160647392f;
    private static final float E4 = 0.11283618211746216f;
    private static final float E5 = -0.3761262893676758f;
    private static final float E6 = 0.12837916612625122f;
    /** log(erfc(x)) + x² as a polynomial in x - 2.5, for 1 ≤ x ≤ 4 (highest degree first). */
    private static final float C0 = 3.511771069497627e-07f;
    private static final float C1 = -1.9759290807996877e-05f;
    private static final float C2 = 6.57510245218873e-05f;
    private static final float C3 = -0.0004276013351045549f;
    private static final float C4 = 0.0021668211556971073f;
    private static final float C5 = -0.010854655876755714f;
    private static final float C6 = 0.05610767379403114f;
    private static final float C7 = -0.3526805639266968f;
    private static final float C8 = -1.556815266609192f;

    /** Which activation a map call computes. */
    private enum Fn { GELU_ERF, GELU_TANH, QUICK_GELU, SILU, SQRT }

    /** torch {@code F.gelu(x)} = {@code x * 0.5 * (1 + erf(x / sqrt(2)))}, or with {@code approximate="tanh"}. */
    static Tensor gelu(CpuBackend b, Tensor x, boolean tanh) {
        return map(b, "gelu", x, tanh ? Fn.GELU_TANH : Fn.GELU_ERF);
    }

    /** CLIP's quick-gelu, {@code x * torch.sigmoid(1.702 * x)}. */
    static Tensor quickGelu(CpuBackend b, Tensor x) {
        return map(b, "quickGelu", x, Fn.QUICK_GELU);
    }

    /** torch {@code F.silu(x)} = {@code x / (1 + exp(-x))}. */
    static Tensor silu(CpuBackend b, Tensor x) {
        return map(b, "silu", x, Fn.SILU);
    }

    /** torch {@code torch.sqrt(x)}, correctly rounded as IEEE requires (and torch computes). */
    static Tensor sqrt(CpuBackend b, Tensor x) {
        return map(b, "sqrt", x, Fn.SQRT);
    }

    private static Tensor map(CpuBackend b, String op, Tensor x, Fn fn) {
        if (x == null) {
            throw new IllegalArgumentException(op + ": x must not be null");
        }
        CpuData.requireFloat(op + ": x", x);
        float[] src = CpuData.floats(x);
        float[] dst = Elementwise.writableResult(x, src);
        b.parallel().range(src.length, GRAIN, (start, end) -> {
            switch (fn) {
                case GELU_ERF -> geluErf(src, dst, start, end);
                case GELU_TANH -> geluTanh(src, dst, start, end);
                case QUICK_GELU -> quickGelu(src, dst, start, end);
                case SILU -> silu(src, dst, start, end);
                case SQRT -> sqrt(src, dst, start, end);
            }
        });
        return b.wrap(dst, x.shape());
    }

    private static void geluErf(float[] src, float[] dst, int start, int end) {
        for (int i = start; i < end; i += S.length()) {
            VectorMask<Float> m = S.indexInRange(i, end);
            FloatVector v = FloatVector.fromArray(S, src, i, m);
            FloatVector r = v.mul(0.5f).mul(erf(v.mul(SQRT1_2)).add(1f));
            r.intoArray(dst, i, m);
        }
    }

    private static void geluTanh(float[] src, float[] dst, int start, int end) {
        for (int i = start; i < end; i += S.length()) {
            VectorMask<Float> m = S.indexInRange(i, end);
            FloatVector v = FloatVector.fromArray(S, src, i, m);
            FloatVector cube = v.mul(v).mul(v);
            FloatVector inner = v.add(cube.mul(GELU_KAPPA)).mul(GELU_BETA);
            FloatVector r = v.mul(0.5f).mul(VMath.tanh(inner).add(1f));
            r.intoArray(dst, i, m);
        }
    }

    private static void quickGelu(float[] src, float[] dst, int start, int end) {
        FloatVector one = FloatVector.broadcast(S, 1f);
        for (int i = start; i < end; i += S.length()) {
            VectorMask<Float> m = S.indexInRange(i, end);
            FloatVector v = FloatVector.fromArray(S, src, i, m);
            FloatVector sig = one.div(VMath.exp(v.mul(QUICK_GELU_ALPHA).neg()).add(1f));
            v.mul(sig).intoArray(dst, i, m);
        }
    }

    private static void silu(float[] src, float[] dst, int start, int end) {
        for (int i = start; i < end; i += S.length()) {
            VectorMask<Float> m = S.indexInRange(i, end);
            FloatVector v = FloatVector.fromArray(S, src, i, m);
            v.div(VMath.exp(v.neg()).add(1f)).intoArray(dst, i, m);
        }
    }

    private static void sqrt(float[] src, float[] dst, int start, int end) {
        for (int i = start; i < end; i += S.length()) {
            VectorMask<Float> m = S.indexInRange(i, end);
            FloatVector.fromArray(S, src, i, m).lanewise(VectorOperators.SQRT).intoArray(dst, i, m);
        }
    }

    /** erf of each lane, within 1 ulp; NaN stays NaN, ±inf gives ±1. */
    static FloatVector erf(FloatVector x) {
        FloatVector a = x.abs();
        // |x| < 1: x + x * Q(x²), one rounding at the end (fma)
        FloatVector u = x.mul(x);
        FloatVector q = u.fma(E0, E1);
        q = q.fma(u, FloatVector.broadcast(S, E2));
        q = q.fma(u, FloatVector.broadcast(S, E3));
        q = q.fma(u, FloatVector.broadcast(S, E4));
        q = q.fma(u, FloatVector.broadcast(S, E5));
        q = q.fma(u, FloatVector.broadcast(S, E6));
        FloatVector small = x.fma(q, x);
        // |x| >= 1: 1 - erfc(|x|), erfc = exp(P(|x| - 2.5) - x²); clamped at 4, where 1 - erfc already rounds to 1
        FloatVector c = a.min(4f);
        FloatVector t = c.sub(2.5f);
        FloatVector p = t.fma(C0, C1);
        p = p.fma(t, FloatVector.broadcast(S, C2));
        p = p.fma(t, FloatVector.broadcast(S, C3));
        p = p.fma(t, FloatVector.broadcast(S, C4));
        p = p.fma(t, FloatVector.broadcast(S, C5));
        p = p.fma(t, FloatVector.broadcast(S, C6));
        p = p.fma(t, FloatVector.broadcast(S, C7));
        p = p.fma(t, FloatVector.broadcast(S, C8));
        FloatVector erfc = VMath.exp(c.neg().fma(c, p));
        FloatVector big = FloatVector.broadcast(S, 1f).sub(erfc);
        big = big.lanewise(VectorOperators.NEG, x.compare(VectorOperators.LT, 0f));
        return small.blend(big, a.compare(VectorOperators.GE, 1f));
    }

}
