package dev.likeness.engine.cpu;

import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Normalizations in f32: torch {@code F.layer_norm} over the last dimension, RMS norm (torch {@code F.rms_norm},
 * diffusers {@code RMSNorm}) and {@code F.group_norm}.
 *
 * <p>Statistics come from {@link Reductions#moments} / {@link Reductions#sumOfSquares} (double accumulation,
 * two-pass variance, so a large mean does not cancel the variance away); the normalized values are then formed in
 * f32 with the roundings of torch 2.6's CPU kernels for f32 (measured bit for bit against them, given the same mean
 * and rstd): layer norm {@code fma((x - mean) * rstd, weight, bias)}; group norm {@code fma(x, scale, shift)} per
 * channel with {@code scale = rstd * weight[c]}, {@code shift = fma(-scale, mean, bias[c])}, or
 * {@code (x - mean) * rstd} without weight and bias; RMS norm {@code (x * rsqrt(mean(x²) + eps)) * weight}.
 * Inputs of any storage dtype and layout are read as f32 (a bf16 input gives torch's f32-internal result before its
 * final rounding to bf16). Weights and biases may be stored in any floating dtype.
 */
final class Norms {
    private Norms() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int GRAIN = 1 << 14;

    /**
     * torch {@code F.layer_norm(x, [x.size(-1)], weight, bias, eps)}: each row over the last dimension normalized
     * with its mean and population variance; weight and bias (shape [N], either may be null) are applied after.
     */
    static Tensor layerNorm(CpuBackend b, Tensor x, Tensor w, Tensor bias, float eps) {
        int n = lastDim("layerNorm", x);
        float[] g = param("layerNorm", "weight", w, n, x);
        float[] beta = param("layerNorm", "bias", bias, n, x);
        float[] src = CpuData.floats(x);
        float[] dst = Elementwise.writableResult(x, src);
        int rows = n == 0 ? 0 : src.length / n;
        b.parallel().range(rows, Math.max(1, GRAIN / Math.max(n, 1)), (start, end) -> {
            double[] mv = new double[2];
            for (int r = start; r < end; r++) {
                int off = r * n;
                Reductions.moments(src, off, n, mv);
                float mean = (float) mv[0];
                float var = (float) (mv[1] / n);
                float rstd = 1f / (float) Math.sqrt(var + eps);
                layerNormRow(src, dst, off, n, mean, rstd, g, beta);
            }
        });
        return b.wrap(dst, x.shape());
    }

    /**
     * One row of layer norm with y = (x - mean) * rstd: then fma(y, g, beta) with both parameters, y * g with the
     * weight only, fma(x - mean, rstd, beta) with the bias only (the roundings torch 2.6's CPU kernel makes).
     */
    private static void layerNormRow(float[] src, float[] dst, int off, int n, float mean, float rstd, float[] g,
                                     float[] beta) {
        int i = 0;
        int up = S.loopBound(n);
        for (; i < up; i += S.length()) {
            FloatVector d = FloatVector.fromArray(S, src, off + i).sub(mean);
            FloatVector y;
            if (g != null && beta != null) {
                y = d.mul(rstd).fma(FloatVector.fromArray(S, g, i), FloatVector.fromArray(S, beta, i));
            } else if (g != null) {
                y = d.mul(rstd).mul(FloatVector.fromArray(S, g, i));
            } else if (beta != null) {
                y = d.fma(FloatVector.broadcast(S, rstd), FloatVector.fromArray(S, beta, i));
            } else {
                y = d.mul(rstd);
            }
            y.intoArray(dst, off + i);
        }
        for (; i < n; i++) {
            float d = src[off + i] - mean;
            float y;
            if (g != null && beta != null) {
                y = Math.fma(d * rstd, g[i], beta[i]);
            } else if (g != null) {
                y = d * rstd * g[i];
            } else if (beta != null) {
                y = Math.fma(d, rstd, beta[i]);
            } else {
                y = d * rstd;
            }
            dst[off + i] = y;
        }
    }

    /**
     * RMS norm over the last dimension in f32: {@code x * rsqrt(mean(x²) + eps) * weight} (torch {@code F.rms_norm},
     * diffusers {@code RMSNorm} with f32 weights); weight (shape [N]) may be null.
     */
    static Tensor rmsNorm(CpuBackend b, Tensor x, Tensor w, float eps) {
        int n = lastDim("rmsNorm", x);
        float[] g = param("rmsNorm", "weight", w, n, x);
        float[] src = CpuData.floats(x);
        float[] dst = Elementwise.writableResult(x, src);
        int rows = n == 0 ? 0 : src.length / n;
        b.parallel().range(rows, Math.max(1, GRAIN / Math.max(n, 1)), (start, end) -> {
            for (int r = start; r < end; r++) {
                int off = r * n;
                float meanSquare = (float) (Reductions.sumOfSquares(src, off, n) / n);
                float rs = 1f / (float) Math.sqrt(meanSquare + eps);
                int i = 0;
                int up = S.loopBound(n);
                for (; i < up; i += S.length()) {
                    FloatVector y = FloatVector.fromArray(S, src, off + i).mul(rs);
                    if (g != null) {
                        y = y.mul(FloatVector.fromArray(S, g, i));
                    }
                    y.intoArray(dst, off + i);
                }
                for (; i < n; i++) {
                    float y = src[off + i] * rs;
                    dst[off + i] = g != null ? y * g[i] : y;
                }
            }
        });
        return b.wrap(dst, x.shape());
    }

    /**
     * torch {@code F.group_norm(x, groups, weight, bias, eps)} for x [N, C, *] (any number of trailing dimensions,
     * including none): the C channels split into {@code groups} consecutive groups, each (sample, group) normalized
     * with its mean and population variance, then weight and bias [C] (nullable) applied per channel.
     */
    static Tensor groupNorm(CpuBackend b, Tensor x, int groups, Tensor w, Tensor bias, float eps) {
        if (x == null) {
            throw new IllegalArgumentException("groupNorm: x must not be null");
        }
        CpuData.requireFloat("groupNorm: x", x);
        int[] shape = x.shape();
        int c = OpShapes.groupNormChannels(shape, groups);
        float[] g = param("groupNorm", "weight", w, c, x);
        float[] beta = param("groupNorm", "bias", bias, c, x);
        int perGroup = c / groups;
        int spatial = Reductions.product(shape, 2, shape.length);
        int len = perGroup * spatial;
        float[] src = CpuData.floats(x);
        float[] dst = Elementwise.writableResult(x, src);
        int blocks = shape[0] * groups;
        if (len == 0) {
            return b.wrap(dst, shape);
        }
        b.parallel().range(blocks, Math.max(1, GRAIN / len), (start, end) -> {
            double[] mv = new double[2];
            for (int blk = start; blk < end; blk++) {
                int off = blk * len;
                Reductions.moments(src, off, len, mv);
                float mean = (float) mv[0];
                float var = (float) (mv[1] / len);
                float rstd = 1f / (float) Math.sqrt(var + eps);
                if (g == null && beta == null) {
                    centerScale(src, dst, off, len, mean, rstd);
                    continue;
                }
                int c0 = (blk % groups) * perGroup;
                for (int ch = c0; ch < c0 + perGroup; ch++) {
                    float scale = g == null ? rstd : rstd * g[ch];
                    float shift = Math.fma(-scale, mean, beta == null ? 0f : beta[ch]);
                    scaleShift(src, dst, off + (ch - c0) * spatial, spatial, scale, shift);
                }
            }
        });
        return b.wrap(dst, shape);
    }

    /** dst = (src - mean) * rstd over n elements from off (torch's group norm without affine parameters). */
    private static void centerScale(float[] src, float[] dst, int off, int n, float mean, float rstd) {
        int i = 0;
        int up = S.loopBound(n);
        for (; i < up; i += S.length()) {
            FloatVector.fromArray(S, src, off + i).sub(mean).mul(rstd).intoArray(dst, off + i);
        }
        for (; i < n; i++) {
            dst[off + i] = (src[off + i] - mean) * rstd;
        }
    }

    /** dst = fma(src, scale, shift) over n elements from off. */
    private static void scaleShift(float[] src, float[] dst, int off, int n, float scale, float shift) {
        int i = 0;
        int up = S.loopBound(n);
        for (; i < up; i += S.length()) {
            FloatVector.fromArray(S, src, off + i).fma(scale, shift).intoArray(dst, off + i);
        }
        for (; i < n; i++) {
            dst[off + i] = Math.fma(src[off + i], scale, shift);
        }
    }

    // ------------------------------------------------------------------ arguments

    /** Size of the last dimension of x (the normalized one), after checking x. */
    private static int lastDim(String op, Tensor x) {
        if (x == null) {
            throw new IllegalArgumentException(op + ": x must not be null");
        }
        CpuData.requireFloat(op + ": x", x);
        if (x.dim() == 0) {
            throw new IllegalArgumentException(op + ": x must have at least one dimension, got a scalar " + x);
        }
        return x.size(-1);
    }

    /** The values of an optional 1-D per-feature parameter of length n, or null; an error names the shapes. */
    private static float[] param(String op, String role, Tensor p, int n, Tensor x) {
        if (p == null) {
            return null;
        }
        CpuData.requireFloat(op + ": " + role, p);
        if (p.dim() != 1 || p.size(0) != n) {
            throw new IllegalArgumentException(op + ": " + role + " must have shape [" + n + "] to match x "
                    + Arrays.toString(x.shape()) + ", got " + Arrays.toString(p.shape()));
        }
        return CpuData.floats(p);
    }
}
