package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The T5 encoder, transformers 4.51.3 {@code T5EncoderModel} (FLUX's {@code text_encoder_2}, T5 v1.1 XXL): token
 * embeddings without scaling, then blocks of self-attention and a gated feed-forward, each behind a T5 LayerNorm
 * (root mean square, no mean subtraction, no bias, computed in f32) and added to the residual, and a final T5
 * LayerNorm. Attention scores are not scaled by 1/sqrt(d_kv) (T5 folds that into the weights) and get a learned
 * relative position bias, computed by the first block from bucketed query–key distances and shared by all blocks.
 *
 * <p>Weights are read from an HF folder ({@code config.json} + {@code model.safetensors}) in their stored dtype; the
 * token table is {@code encoder.embed_tokens.weight} or, as {@code save_pretrained} writes the tied pair,
 * {@code shared.weight}.
 */
public final class T5EncoderModel implements AutoCloseable {

    /** The fields of {@code T5Config} the encoder depends on. */
    public record Config(int vocabSize, int dModel, int dKv, int dFf, int numLayers, int numHeads,
                         int relativeAttentionNumBuckets, int relativeAttentionMaxDistance, float layerNormEpsilon) {

        /**
         * Reads a {@code T5Config} {@code config.json}. As in transformers, {@code feed_forward_proj} is
         * {@code [gated-]act} and the legacy {@code gated-gelu} means {@code gelu_new}, the tanh approximation; only
         * gated gelu feed-forwards (T5 v1.1) are supported.
         */
        public static Config from(ModelConfig c) {
            String proj = c.string("feed_forward_proj", "relu");
            String[] parts = proj.split("-");
            boolean gated = parts.length == 2 && parts[0].equals("gated");
            String act = parts[parts.length - 1];
            if (!gated || !(act.equals("gelu") || act.equals("gelu_new"))) {
                throw new IllegalArgumentException(c.file() + ": feed_forward_proj '" + proj
                        + "' is not supported, expected gated-gelu or gated-gelu_new (T5 v1.1)");
            }
            return new Config(c.integer("vocab_size"), c.integer("d_model"), c.integer("d_kv"), c.integer("d_ff"),
                    c.integer("num_layers"), c.integer("num_heads"), c.integer("relative_attention_num_buckets", 32),
                    c.integer("relative_attention_max_distance", 128), (float) c.number("layer_norm_epsilon", 1e-6));
        }

        public int innerDim() {
            return numHeads * dKv;
        }
    }

    /** One {@code T5Block} of the encoder: self-attention layer, then the gated feed-forward layer. */
    private record Block(Tensor attnNorm, Tensor q, Tensor k, Tensor v, Tensor o, Tensor ffNorm, Tensor wi0,
                         Tensor wi1, Tensor wo) {

        static Block load(Weights w, Config c) {
            int d = c.dModel();
            int inner = c.innerDim();
            Weights attn = w.child("layer.0.SelfAttention");
            Weights ff = w.child("layer.1.DenseReluDense");
            return new Block(w.get("layer.0.layer_norm.weight", d), attn.get("q.weight", inner, d),
                    attn.get("k.weight", inner, d), attn.get("v.weight", inner, d), attn.get("o.weight", d, inner),
                    w.get("layer.1.layer_norm.weight", d), ff.get("wi_0.weight", c.dFf(), d),
                    ff.get("wi_1.weight", c.dFf(), d), ff.get("wo.weight", d, c.dFf()));
        }
    }

    private final Config config;
    private final Weights weights;
    private final Backend backend;
    private final Tensor embedTokens;
    private final Tensor relativeAttentionBias;
    private final List<Block> blocks;
    private final Tensor finalNorm;

    private T5EncoderModel(Config config, Weights weights) {
        this.config = config;
        this.weights = weights;
        this.backend = weights.backend();
        Weights encoder = weights.child("encoder");
        this.embedTokens = encoder.has("embed_tokens.weight")
                ? encoder.get("embed_tokens.weight", config.vocabSize(), config.dModel())
                : weights.get("shared.weight", config.vocabSize(), config.dModel());
        this.relativeAttentionBias = encoder.get("block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                config.relativeAttentionNumBuckets(), config.numHeads());
        List<Block> bs = new ArrayList<>();
        for (int i = 0; i < config.numLayers(); i++) {
            bs.add(Block.load(encoder.child("block." + i), config));
        }
        this.blocks = List.copyOf(bs);
        this.finalNorm = encoder.get("final_layer_norm.weight", config.dModel());
    }

    /** Loads {@code dir/config.json} and the checkpoint in {@code dir}; errors name the file, tensor and expectation. */
    public static T5EncoderModel load(Path dir, Backend backend) {
        Config config = Config.from(ModelConfig.read(dir.resolve("config.json")));
        Weights weights = Weights.open(dir, backend);
        try {
            return new T5EncoderModel(config, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public Config config() {
        return config;
    }

    /** The dtype the weights are stored in when that is bf16 or f16 (what the reference runs in), else f32. */
    public DType storedDtype() {
        DType d = embedTokens.dtype();
        return d == DType.BF16 || d == DType.F16 ? d : DType.F32;
    }

    /**
     * {@code T5EncoderModel(input_ids=ids, attention_mask=mask).last_hidden_state} [B, L, d_model] for integer ids
     * [B, L]. {@code attentionMask} is an integer [B, L] tensor (1 = attend, 0 = padding) or null, which attends to
     * every position as FLUX does (its 512 padded tokens go in without a mask).
     */
    public Tensor forward(Tensor ids, Tensor attentionMask) {
        if (ids.dim() != 2 || ids.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("T5 encoder: ids must be an integer tensor [batch, length], got "
                    + ids.dtype() + " " + Arrays.toString(ids.shape()));
        }
        int batch = ids.size(0);
        int length = ids.size(1);
        for (int id : backend.toIntArray(ids)) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("T5 encoder: token id " + id + " outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
        Tensor bias = positionBias(length);
        if (attentionMask != null) {
            bias = backend.add(bias, extendedMask(attentionMask, batch, length));
        }
        Tensor hidden = backend.embedding(embedTokens, ids);
        for (Block block : blocks) {
            hidden = block(block, hidden, bias);
        }
        return backend.rmsNorm(hidden, finalNorm, config.layerNormEpsilon());
    }

    private Tensor block(Block b, Tensor x, Tensor bias) {
        float eps = config.layerNormEpsilon();
        x = backend.add(x, attention(b, backend.rmsNorm(x, b.attnNorm(), eps), bias));
        Tensor normed = backend.rmsNorm(x, b.ffNorm(), eps);
        // T5DenseGatedActDense: gelu_new(wi_0 x) * wi_1 x, then wo
        Tensor gate = backend.gelu(backend.linear(normed, b.wi0(), null), true);
        Tensor inner = backend.mul(gate, backend.linear(normed, b.wi1(), null));
        return backend.add(x, backend.linear(inner, b.wo(), null));
    }

    /** {@code T5Attention} without key/value cache: unscaled scores plus the position bias (and padding mask). */
    private Tensor attention(Block b, Tensor x, Tensor bias) {
        int heads = config.numHeads();
        Tensor q = Heads.split(backend.linear(x, b.q(), null), heads);
        Tensor k = Heads.split(backend.linear(x, b.k(), null), heads);
        Tensor v = Heads.split(backend.linear(x, b.v(), null), heads);
        Tensor o = backend.attention(q, k, v, bias, 1.0f);
        return backend.linear(Heads.merge(o), b.o(), null);
    }

    /** [B, L, H·D] → [B, H, L, D]. */
    /**
     * {@code T5Attention.compute_bias}: bias[0, h, i, j] = relative_attention_bias[bucket(j - i), h], shape
     * [1, H, L, L].
     */
    private Tensor positionBias(int length) {
        int[] buckets = new int[length * length];
        for (int i = 0; i < length; i++) {
            for (int j = 0; j < length; j++) {
                buckets[i * length + j] = relativePositionBucket(j - i, true, config.relativeAttentionNumBuckets(),
                        config.relativeAttentionMaxDistance());
            }
        }
        Tensor values = backend.embedding(relativeAttentionBias, backend.fromInts(buckets, length, length));
        return values.permute(2, 0, 1).unsqueeze(0);
    }

    /**
     * transformers' extended attention mask for an encoder: {@code (1 - mask) * finfo(float32).min} as [B, 1, 1, L],
     * added to the position bias.
     */
    private Tensor extendedMask(Tensor attentionMask, int batch, int length) {
        if (!Arrays.equals(attentionMask.shape(), new int[] {batch, length})) {
            throw new IllegalArgumentException("T5 encoder: attention mask must have shape [" + batch + ", " + length
                    + "] like the ids, got " + Arrays.toString(attentionMask.shape()));
        }
        int[] mask = backend.toIntArray(attentionMask);
        float[] additive = new float[mask.length];
        for (int i = 0; i < mask.length; i++) {
            additive[i] = (1 - mask[i]) * -Float.MAX_VALUE;
        }
        return backend.fromFloats(additive, batch, 1, 1, length);
    }

    /**
     * {@code T5Attention._relative_position_bucket}: the bucket of a relative position (key − query). Half the buckets
     * (per direction when bidirectional) are exact small distances, the rest grow logarithmically up to
     * {@code maxDistance}, beyond which all distances share the last bucket. The logarithm is taken in f32 as torch
     * does ({@code log(n.float() / maxExact) / log(maxDistance / maxExact) * (numBuckets - maxExact)}, truncated).
     */
    static int relativePositionBucket(int relativePosition, boolean bidirectional, int numBuckets, int maxDistance) {
        int bucket = 0;
        int n;
        if (bidirectional) {
            numBuckets /= 2;
            if (relativePosition > 0) {
                bucket += numBuckets;
            }
            n = Math.abs(relativePosition);
        } else {
            n = -Math.min(relativePosition, 0);
        }
        int maxExact = numBuckets / 2;
        if (n < maxExact) {
            return bucket + n;
        }
        float ratio = (float) StrictMath.log((float) n / maxExact);
        float scaled = ratio / (float) StrictMath.log((double) maxDistance / maxExact) * (numBuckets - maxExact);
        return bucket + Math.min(maxExact + (int) scaled, numBuckets - 1);
    }

    /** Unmaps the checkpoint. */
    @Override
    public void close() {
        weights.close();
    }
}
