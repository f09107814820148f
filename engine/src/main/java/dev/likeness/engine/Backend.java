package dev.likeness.engine;

import java.util.List;

/**
 * The op set the models are written against. The pure-Java {@code CpuBackend} is the first implementation; a CUDA
 * backend implements the same interface. Models call these ops and never touch storage.
 *
 * <p>Conventions, for every backend:
 * <ul>
 *   <li>Inputs may be any view (strided, broadcast) and any floating storage dtype (f32, bf16, f16, f8, int8 with a
 *       {@link Tensor#scale()}); low-precision inputs are converted block by block inside the kernel.</li>
 *   <li>Results are new tensors in the backend's compute dtype ({@link #computeDType()}: F32 on CPU).</li>
 *   <li>Semantics follow PyTorch (the function named in each method's doc); the golden tests check them.</li>
 *   <li>Every argument error names the argument and the shapes involved.</li>
 * </ul>
 */
public interface Backend extends AutoCloseable {

    /** Short name for logs: "cpu", "cuda:0". */
    String name();

    /** The dtype op results are produced in. */
    DType computeDType();

    /** Worker threads the backend uses (1 on a GPU backend: the stream does the work). */
    int threads();

    @Override
    default void close() {
    }

    // ------------------------------------------------------------------ creation and movement

    /** A new zero-filled tensor. */
    Tensor zeros(DType dtype, int... shape);

    /** A new f32 tensor holding a copy of {@code data} (row-major). */
    Tensor fromFloats(float[] data, int... shape);

    /** A new tensor of integer ids (I32), for embedding lookups. */
    Tensor fromInts(int[] data, int... shape);

    /** Row-major f32 copy of the values (dequantized). */
    float[] toFloatArray(Tensor t);

    /** Row-major int copy of an integer tensor's values. */
    int[] toIntArray(Tensor t);

    /** A contiguous copy in the same dtype (or {@code t} itself if it is already contiguous on this backend). */
    Tensor contiguous(Tensor t);

    /** torch {@code t.to(dtype)}: converts with round-to-nearest-even; a scaled tensor is dequantized first. */
    Tensor to(Tensor t, DType dtype);

    /** The same values on this backend (host → device upload, or a host copy). */
    Tensor transfer(Tensor t);

    // ------------------------------------------------------------------ linear algebra

    /**
     * torch {@code F.linear(x, w, bias)}: x [..., K] times w [N, K] transposed, plus bias [N] (nullable).
     * The weight stays in its storage dtype (bf16, f16, f8, int8 with per-row scale).
     */
    Tensor linear(Tensor x, Tensor w, Tensor bias);

    /** torch {@code matmul(a, b)} for a [..., M, K], b [..., K, N], broadcasting the batch dimensions. */
    Tensor matmul(Tensor a, Tensor b);

    // ------------------------------------------------------------------ elementwise, broadcasting

    /** torch {@code a + b} with broadcasting. */
    Tensor add(Tensor a, Tensor b);

    /** torch {@code a - b} with broadcasting. */
    Tensor sub(Tensor a, Tensor b);

    /** torch {@code a * b} with broadcasting. */
    Tensor mul(Tensor a, Tensor b);

    /** torch {@code a / b} with broadcasting. */
    Tensor div(Tensor a, Tensor b);

    /** {@code a * s + t} for scalars s and t (torch {@code a * s + t}). */
    Tensor affine(Tensor a, float s, float t);

    /** torch {@code F.gelu(x)} (erf form) or {@code F.gelu(x, approximate="tanh")}. */
    Tensor gelu(Tensor x, boolean tanhApproximation);

    /** CLIP's quick-gelu: {@code x * sigmoid(1.702 x)}. */
    Tensor quickGelu(Tensor x);

    /** torch {@code F.silu(x)}. */
    Tensor silu(Tensor x);

    /** torch {@code torch.sqrt(x)} (correctly rounded; NaN for negative x). */
    Tensor sqrt(Tensor x);

    // ------------------------------------------------------------------ normalization

    /** torch {@code F.layer_norm(x, [x.size(-1)], weight, bias, eps)}; weight and bias may be null (no affine). */
    Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps);

    /**
     * RMS norm over the last dimension, computed in f32: {@code x * rsqrt(mean(x^2) + eps) * weight}
     * (torch {@code F.rms_norm}, diffusers {@code RMSNorm}); weight may be null.
     */
    Tensor rmsNorm(Tensor x, Tensor weight, float eps);

    /** torch {@code F.group_norm(x, groups, weight, bias, eps)} for x [N, C, *]; weight and bias may be null. */
    Tensor groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, float eps);

    /** torch {@code softmax(x, dim)}. */
    Tensor softmax(Tensor x, int dim);

    // ------------------------------------------------------------------ attention and positions

    /**
     * torch {@code F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)} for q [B, H, Lq, D],
     * k [B, H, Lk, D], v [B, H, Lk, Dv]; {@code mask} is null or additive and broadcastable to [B, H, Lq, Lk];
     * {@code scale} ≤ 0 means 1/sqrt(D). Never materializes the full Lq × Lk score matrix (tiled, online softmax).
     */
    Tensor attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale);

    /**
     * FLUX-style rotary embedding (diffusers {@code apply_rotary_emb(x, (cos, sin), use_real=True,
     * use_real_unbind_dim=-1)}): x [B, H, S, D] with D split into interleaved pairs, cos and sin [S, D].
     */
    Tensor rope(Tensor x, Tensor cos, Tensor sin);

    /**
     * FLUX position frequencies (diffusers {@code FluxPosEmbed}): for ids [S, nAxes] and per-axis dims, the cos and
     * sin tables [S, sum(axesDim)], computed in f64 and rounded to f32, each frequency repeated twice (interleaved).
     */
    List<Tensor> ropeFrequencies(Tensor ids, int[] axesDim, double theta);

    /**
     * diffusers {@code get_timestep_embedding(t, dim, flip_sin_to_cos, downscale_freq_shift, scale, max_period)}:
     * t [N] → [N, dim].
     */
    Tensor timestepEmbedding(Tensor t, int dim, boolean flipSinToCos, float downscaleFreqShift, float scale,
                             int maxPeriod);

    // ------------------------------------------------------------------ convolution and resampling

    /**
     * torch {@code F.conv2d(x, w, bias, stride, padding, dilation=1, groups)} for x [N, C, H, W],
     * w [O, C/groups, kh, kw]; bias may be null.
     */
    Tensor conv2d(Tensor x, Tensor w, Tensor bias, int strideH, int strideW, int padH, int padW, int groups);

    /** torch {@code F.interpolate(x, size=(outH, outW), mode="nearest")} for x [N, C, H, W]. */
    Tensor upsampleNearest(Tensor x, int outH, int outW);

    /** Interpolation kernels of {@link #interpolate}. */
    enum Interpolation { BILINEAR, BICUBIC }

    /**
     * torch {@code F.interpolate(x, size=(outH, outW), mode=bilinear|bicubic, align_corners, antialias)} for
     * x [N, C, H, W].
     */
    Tensor interpolate(Tensor x, int outH, int outW, Interpolation mode, boolean alignCorners, boolean antialias);

    // ------------------------------------------------------------------ shape ops that produce data

    /** torch {@code cat(tensors, dim)}. */
    Tensor cat(int dim, List<Tensor> tensors);

    /** torch {@code F.embedding(ids, weight)}: ids (integer tensor, any shape) → [..., E]. */
    Tensor embedding(Tensor weight, Tensor ids);

    // ------------------------------------------------------------------ reductions

    /** torch {@code mean(x, dim, keepdim)}. */
    Tensor mean(Tensor x, int dim, boolean keepDim);

    /** torch {@code var(x, dim, correction, keepdim)} (correction 1 = unbiased, 0 = population). */
    Tensor var(Tensor x, int dim, int correction, boolean keepDim);
}
