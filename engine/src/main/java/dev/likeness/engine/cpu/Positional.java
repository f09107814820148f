package dev.likeness.engine.cpu;

import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.List;

/**
 * Position encodings of the diffusers models: FLUX's rotary embedding ({@code apply_rotary_emb} and
 * {@code FluxPosEmbed}) and the sinusoidal timestep embedding ({@code get_timestep_embedding}), each computed with
 * the arithmetic order and precision of the PyTorch reference.
 */
final class Positional {
    private Positional() {
    }

    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int L = SP.length();
    /** Swaps the lanes of each (even, odd) pair. */
    private static final VectorShuffle<Float> PAIR_SWAP = VectorShuffle.fromOp(SP, i -> i ^ 1);
    /** The even lanes. */
    private static final VectorMask<Float> EVEN = VectorMask.fromLong(SP, 0x5555_5555_5555_5555L);

    /**
     * diffusers {@code apply_rotary_emb(x, (cos, sin), use_real=True, use_real_unbind_dim=-1)}: x [..., S, D] seen as
     * D/2 interleaved pairs (x[2i], x[2i+1]); out = x·cos + rot(x)·sin with rot(x) = (-x[2i+1], x[2i]), each product
     * rounded to f32 before the sum exactly as torch computes {@code x.float() * cos + x_rotated.float() * sin}.
     * cos and sin are [S, D]. A bf16 x gives the f32 result torch rounds to bf16.
     */
    static Tensor rope(CpuBackend b, Tensor x, Tensor cos, Tensor sin) {
        CpuData.requireFloat("x", x);
        CpuData.requireFloat("cos", cos);
        CpuData.requireFloat("sin", sin);
        if (x.dim() < 2) {
            throw new IllegalArgumentException("rope: x must be [..., S, D], got " + Arrays.toString(x.shape()));
        }
        int seq = x.size(-2);
        int d = x.size(-1);
        if (d % 2 != 0) {
            throw new IllegalArgumentException("rope: the last dimension of x must be even (pairs), got x "
                    + Arrays.toString(x.shape()));
        }
        int[] table = {seq, d};
        if (!Arrays.equals(cos.shape(), table) || !Arrays.equals(sin.shape(), table)) {
            throw new IllegalArgumentException("rope: cos and sin must be [S, D] = " + Arrays.toString(table)
                    + " for x " + Arrays.toString(x.shape()) + "; got cos " + Arrays.toString(cos.shape()) + ", sin "
                    + Arrays.toString(sin.shape()));
        }
        float[] c = CpuData.floats(cos);
        float[] s = CpuData.floats(sin);
        Tensor xv = CpuData.unscaled(b, x);
        CpuStorage xs = CpuData.storage(xv);
        long es = xv.stride(-1);
        float[] out = new float[Math.toIntExact(xv.numel())];
        int rows = d == 0 ? 0 : out.length / d;
        b.parallel().range(rows, Math.max(1, 8192 / Math.max(d, 1)), (start, end) -> {
            float[] row = new float[d];
            for (int r = start; r < end; r++) {
                CpuData.readStrided(xs, xv.dtype(), CpuData.rowBase(xv, r), es, d, row, 0);
                rotateRow(row, c, s, (r % seq) * d, out, r * d, d);
            }
        });
        return b.wrap(out, x.shape());
    }

    /** out[oo + i] for one row: x·cos + rot(x)·sin with the tables' row starting at {@code to}. */
    private static void rotateRow(float[] x, float[] cos, float[] sin, int to, float[] out, int oo, int d) {
        int i = 0;
        for (; i + L <= d; i += L) {
            FloatVector xv = FloatVector.fromArray(SP, x, i);
            FloatVector rot = xv.rearrange(PAIR_SWAP).lanewise(VectorOperators.NEG, EVEN);
            FloatVector a = xv.mul(FloatVector.fromArray(SP, cos, to + i));
            FloatVector r = rot.mul(FloatVector.fromArray(SP, sin, to + i));
            a.add(r).intoArray(out, oo + i);
        }
        for (; i < d; i += 2) {
            float re = x[i];
            float im = x[i + 1];
            out[oo + i] = re * cos[to + i] + (-im) * sin[to + i];
            out[oo + i + 1] = im * cos[to + i + 1] + re * sin[to + i + 1];
        }
    }

    /**
     * diffusers {@code FluxPosEmbed(theta, axes_dim)(ids)}: for ids [S, nAxes] (any numeric dtype, read as f32 as
     * {@code ids.float()} does), axis a contributes axesDim[a] columns: frequency f_k = 1 / theta^(2k / dim) and
     * angle pos·f_k in f64 (get_1d_rotary_pos_embed with freqs_dtype=float64), cos and sin rounded to f32, each
     * repeated twice (repeat_interleave). Returns [cos, sin], each [S, sum(axesDim)].
     */
    static List<Tensor> ropeFrequencies(CpuBackend b, Tensor ids, int[] axesDim, double theta) {
        if (ids.dim() != 2) {
            throw new IllegalArgumentException("ropeFrequencies: ids must be [S, nAxes], got "
                    + Arrays.toString(ids.shape()));
        }
        if (axesDim == null || axesDim.length != ids.size(1)) {
            throw new IllegalArgumentException("ropeFrequencies: axesDim " + Arrays.toString(axesDim)
                    + " must give one size per column of ids " + Arrays.toString(ids.shape()));
        }
        int total = 0;
        for (int a : axesDim) {
            if (a <= 0 || a % 2 != 0) {
                throw new IllegalArgumentException("ropeFrequencies: every entry of axesDim must be positive and even, "
                        + "got " + Arrays.toString(axesDim));
            }
            total += a;
        }
        if (!(theta > 0)) {
            throw new IllegalArgumentException("ropeFrequencies: theta must be positive, got " + theta);
        }
        int seq = ids.size(0);
        int axes = axesDim.length;
        float[] pos = CpuData.floats(ids);
        double[] freqs = new double[total / 2];
        for (int a = 0, at = 0; a < axes; a++) {
            int dim = axesDim[a];
            for (int k = 0; k < dim / 2; k++) {
                freqs[at++] = 1.0 / StrictMath.pow(theta, (double) (2 * k) / dim);
            }
        }
        float[] cos = new float[seq * total];
        float[] sin = new float[seq * total];
        int width = total;
        b.parallel().range(seq, Math.max(1, 4096 / width), (start, end) -> {
            for (int si = start; si < end; si++) {
                int col = si * width;
                int f = 0;
                for (int a = 0; a < axes; a++) {
                    double p = pos[si * axes + a];
                    for (int k = 0; k < axesDim[a] / 2; k++, f++, col += 2) {
                        double angle = p * freqs[f];
                        float c = (float) StrictMath.cos(angle);
                        float s = (float) StrictMath.sin(angle);
                        cos[col] = c;
                        cos[col + 1] = c;
                        sin[col] = s;
                        sin[col + 1] = s;
                    }
                }
            }
        });
        return List.of(b.wrap(cos, seq, total), b.wrap(sin, seq, total));
    }

    /**
     * diffusers {@code get_timestep_embedding(t, dim, flip_sin_to_cos, downscale_freq_shift, scale, max_period)} for
     * t [N] (any numeric dtype, read as f32 like {@code t.float()}): with half = dim / 2, frequency f_k = exp(-ln(max_period)·k / (half - shift)) and argument
     * scale·(t·f_k), each step rounded to f32 in torch's order; sin and cos are taken in f64 and rounded to f32.
     * Returns [N, dim] = [sin | cos] ([cos | sin] when flipped), zero-padded by one column when dim is odd.
     *
     * <p>torch's f32 {@code exp} is not always correctly rounded (for dim 256, 2 of the 128 frequencies differ from
     * the correctly rounded value by one ulp); at t = 1000 that moves a few arguments by about 6e-5, a relative
     * error of about 3e-6 over the embedding.
     */
    static Tensor timestepEmbedding(CpuBackend b, Tensor t, int dim, boolean flip, float shift, float scale,
                                    int maxPeriod) {
        if (t.dim() != 1) {
            throw new IllegalArgumentException("timestepEmbedding: t must be 1-D [N], got " + Arrays.toString(t.shape()));
        }
        if (dim <= 0) {
            throw new IllegalArgumentException("timestepEmbedding: dim must be positive, got " + dim);
        }
        if (maxPeriod <= 0) {
            throw new IllegalArgumentException("timestepEmbedding: maxPeriod must be positive, got " + maxPeriod);
        }
        int n = t.size(0);
        int half = dim / 2;
        float[] tv = CpuData.floats(t);
        float logPeriod = (float) -StrictMath.log(maxPeriod);
        float denominator = (float) (half - (double) shift);
        float[] freq = new float[half];
        for (int k = 0; k < half; k++) {
            float exponent = logPeriod * (float) k / denominator;
            freq[k] = (float) StrictMath.exp(exponent);
        }
        float[] out = new float[n * dim];
        int sinAt = flip ? half : 0;
        int cosAt = flip ? 0 : half;
        for (int i = 0; i < n; i++) {
            int row = i * dim;
            for (int k = 0; k < half; k++) {
                float arg = scale * (tv[i] * freq[k]);
                out[row + sinAt + k] = (float) StrictMath.sin(arg);
                out[row + cosAt + k] = (float) StrictMath.cos(arg);
            }
        }
        return b.wrap(out, n, dim);
    }
}
