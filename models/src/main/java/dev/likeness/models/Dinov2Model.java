package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * DINOv2, transformers 4.51.3 {@code Dinov2Model} ({@code models/dinov2/modeling_dinov2.py}), as InstantCharacter
 * runs {@code facebook/dinov2-giant}.
 *
 * <pre>
 * embeddings  = cat(cls_token, Conv2d(patch, stride patch)(pixels).flatten(2).transpose(1, 2)) + positions
 *               positions: the CLS entry, then the trained sqrt(P) x sqrt(P) grid bicubically resized (in f32,
 *               size=(H // patch, W // patch), align_corners=False) unless the grid already fits a square input
 * each layer  h = h + lambda1 * dense(SDPA(q, k, v) of norm1(h))
 *             h = h + lambda2 * ffn(norm2(h))      ffn = fc2(act(fc1)) or SwiGLU: weights_out(silu(x1) * x2)
 * last_hidden = layernorm(h);  pooler_output = last_hidden[:, 0]
 * </pre>
 *
 * {@link Output#hiddenStates()} has {@code num_hidden_layers + 1} entries: the embeddings, then each layer's output
 * (before the final layernorm); the InstantCharacter adapter reads entries 9, 19 and 29 without their CLS token.
 * Weights stay memory-mapped in their stored dtype.
 */
public final class Dinov2Model implements AutoCloseable {
    /** The {@code hidden_act} values {@link #activation} implements. */
    private static final List<String> ACTIVATIONS = List.of("gelu", "gelu_pytorch_tanh", "gelu_new", "quick_gelu",
            "silu", "swish");

    /** The fields of {@code Dinov2Config} the forward pass reads. */
    public record Config(int hiddenSize, int numHiddenLayers, int numAttentionHeads, double mlpRatio,
                         int numChannels, int imageSize, int patchSize, String hiddenAct, float layerNormEps,
                         boolean qkvBias, boolean useSwigluFfn) {

        /** Reads a {@code dinov2} config.json; missing fields take Dinov2Config's defaults. */
        public static Config from(ModelConfig c) {
            Config config = new Config(c.integer("hidden_size", 768), c.integer("num_hidden_layers", 12),
                    c.integer("num_attention_heads", 12), c.number("mlp_ratio", 4), c.integer("num_channels", 3),
                    c.integer("image_size", 224), c.integer("patch_size", 14), c.string("hidden_act", "gelu"),
                    (float) c.number("layer_norm_eps", 1e-6), c.bool("qkv_bias", true),
                    c.bool("use_swiglu_ffn", false));
            if (config.hiddenSize % config.numAttentionHeads != 0) {
                throw new IllegalArgumentException(c.file() + ": hidden_size " + config.hiddenSize
                        + " must be a multiple of num_attention_heads " + config.numAttentionHeads);
            }
            if (config.patchSize <= 0 || config.imageSize < config.patchSize) {
                throw new IllegalArgumentException(c.file() + ": image_size " + config.imageSize
                        + " must be at least patch_size " + config.patchSize + " (> 0)");
            }
            if (!config.useSwigluFfn && !ACTIVATIONS.contains(config.hiddenAct)) {
                throw new IllegalArgumentException(c.file() + ": hidden_act '" + config.hiddenAct + "' is not one of "
                        + ACTIVATIONS);
            }
            return config;
        }

        public int headDim() {
            return hiddenSize / numAttentionHeads;
        }

        /** Side of the trained position grid: image_size // patch_size. */
        public int gridSize() {
            return imageSize / patchSize;
        }

        /**
         * Width of the feed-forward hidden layer: {@code int(hidden_size * mlp_ratio)}, and for the SwiGLU FFN
         * {@code (int(that * 2 / 3) + 7) // 8 * 8} (4096 for the giant model).
         */
        public int ffnHiddenSize() {
            int hidden = (int) (hiddenSize * mlpRatio);
            return useSwigluFfn ? ((int) (hidden * 2 / 3.0) + 7) / 8 * 8 : hidden;
        }
    }

    /**
     * {@code last_hidden_state} [B, 1 + N, D], {@code pooler_output} [B, D] (the normalized CLS token) and the
     * {@code hidden_states}: embeddings and every layer's output, each [B, 1 + N, D].
     */
    public record Output(Tensor lastHiddenState, Tensor poolerOutput, List<Tensor> hiddenStates) {
    }

    private record Norm(Tensor weight, Tensor bias) {
        static Norm load(Weights w, int dim) {
            return new Norm(w.get("weight", dim), w.get("bias", dim));
        }
    }

    private record Linear(Tensor weight, Tensor bias) {
        static Linear load(Weights w, int out, int in, boolean bias) {
            return new Linear(w.get("weight", out, in), bias ? w.get("bias", out) : null);
        }
    }

    /** Dinov2Layer; {@code fcIn}/{@code fcOut} are fc1/fc2 of the MLP or weights_in/weights_out of the SwiGLU FFN. */
    private record Layer(Norm norm1, Linear query, Linear key, Linear value, Linear dense, Tensor lambda1,
                         Norm norm2, Linear fcIn, Linear fcOut, Tensor lambda2) {
        static Layer load(Weights w, Config c) {
            int d = c.hiddenSize;
            int f = c.ffnHiddenSize();
            Weights attn = w.child("attention.attention");
            Weights mlp = w.child("mlp");
            Linear fcIn = c.useSwigluFfn ? Linear.load(mlp.child("weights_in"), 2 * f, d, true)
                    : Linear.load(mlp.child("fc1"), f, d, true);
            Linear fcOut = Linear.load(mlp.child(c.useSwigluFfn ? "weights_out" : "fc2"), d, f, true);
            return new Layer(Norm.load(w.child("norm1"), d), Linear.load(attn.child("query"), d, d, c.qkvBias),
                    Linear.load(attn.child("key"), d, d, c.qkvBias), Linear.load(attn.child("value"), d, d, c.qkvBias),
                    Linear.load(w.child("attention.output.dense"), d, d, true), w.get("layer_scale1.lambda1", d),
                    Norm.load(w.child("norm2"), d), fcIn, fcOut, w.get("layer_scale2.lambda1", d));
        }
    }

    private final Config config;
    private final Weights weights;
    private final Backend backend;
    private final Tensor clsToken;
    private final Tensor patchWeight;
    private final Tensor patchBias;
    private final Tensor positionEmbeddings;
    private final List<Layer> layers = new ArrayList<>();
    private final Norm layerNorm;

    /**
     * Binds the {@code Dinov2Model} tensors of {@code weights} (shape-checked against {@code config}); the model
     * closes {@code weights} when it is closed.
     */
    public Dinov2Model(Config config, Weights weights) {
        this.config = config;
        this.weights = weights;
        this.backend = weights.backend();
        int d = config.hiddenSize;
        int p = config.patchSize;
        int grid = config.gridSize();
        Weights emb = weights.child("embeddings");
        this.clsToken = emb.get("cls_token", 1, 1, d);
        this.patchWeight = emb.get("patch_embeddings.projection.weight", d, config.numChannels, p, p);
        this.patchBias = emb.get("patch_embeddings.projection.bias", d);
        this.positionEmbeddings = emb.get("position_embeddings", 1, 1 + grid * grid, d);
        for (int i = 0; i < config.numHiddenLayers; i++) {
            layers.add(Layer.load(weights.child("encoder.layer." + i), config));
        }
        this.layerNorm = Norm.load(weights.child("layernorm"), d);
    }

    /** Loads {@code dir/config.json} and the safetensors checkpoint in {@code dir}. */
    public static Dinov2Model load(Path dir, Backend backend) {
        Config config = Config.from(ModelConfig.read(dir.resolve("config.json")));
        Weights weights = Weights.open(dir, backend);
        try {
            return new Dinov2Model(config, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public Config config() {
        return config;
    }

    /**
     * The forward pass for {@code pixelValues} [B, num_channels, H, W] with H, W ≥ patch_size (trailing pixels
     * that do not fill a patch are dropped by the convolution; the position grid is resized to any patch grid).
     */
    public Output forward(Tensor pixelValues) {
        int[] s = pixelValues.shape();
        if (s.length != 4 || s[1] != config.numChannels || s[2] < config.patchSize || s[3] < config.patchSize) {
            throw new IllegalArgumentException("Dinov2Model: pixel_values must be [B, " + config.numChannels
                    + ", H >= " + config.patchSize + ", W >= " + config.patchSize + "], got " + Arrays.toString(s));
        }
        List<Tensor> hiddenStates = new ArrayList<>();
        Tensor h = embeddings(pixelValues);
        for (Layer layer : layers) {
            hiddenStates.add(h);
            h = layer(layer, h);
        }
        hiddenStates.add(h);
        Tensor last = backend.layerNorm(h, layerNorm.weight, layerNorm.bias, config.layerNormEps);
        return new Output(last, last.select(1, 0), List.copyOf(hiddenStates));
    }

    /** {@code Dinov2Embeddings.forward}: CLS token and patch embeddings plus the (interpolated) positions. */
    private Tensor embeddings(Tensor pixels) {
        int p = config.patchSize;
        int batch = pixels.size(0);
        int height = pixels.size(2);
        int width = pixels.size(3);
        Tensor patches = backend.conv2d(pixels, patchWeight, patchBias, p, p, 0, 0, 1); // [B, D, H/p, W/p]
        Tensor tokens = patches.flatten(2, 3).transpose(1, 2);                          // [B, N, D]
        Tensor embeddings = backend.cat(1, List.of(clsToken.expand(batch, 1, config.hiddenSize), tokens));
        return backend.add(embeddings, positions(tokens.size(1), height, width));
    }

    /**
     * {@code interpolate_pos_encoding}: the stored table when the patch count matches and the input is square,
     * otherwise the CLS entry followed by the patch grid resized with torch's bicubic (f32, align_corners=False, no
     * antialias) to (H // patch, W // patch) and rounded back to the table's dtype.
     */
    private Tensor positions(int numPatches, int height, int width) {
        int side = config.gridSize();
        int d = config.hiddenSize;
        if (numPatches == side * side && height == width) {
            return positionEmbeddings;
        }
        int gridH = height / config.patchSize;
        int gridW = width / config.patchSize;
        Tensor grid = positionEmbeddings.narrow(1, 1, side * side).view(1, side, side, d).permute(0, 3, 1, 2);
        Tensor resized = backend.interpolate(grid, gridH, gridW, Backend.Interpolation.BICUBIC, false, false);
        if (positionEmbeddings.dtype() != DType.F32) {
            resized = backend.to(resized, positionEmbeddings.dtype());
        }
        Tensor patchPositions = resized.permute(0, 2, 3, 1).reshape(1, gridH * gridW, d);
        return backend.cat(1, List.of(positionEmbeddings.narrow(1, 0, 1), patchPositions));
    }

    /** {@code Dinov2Layer.forward}: pre-LN attention and FFN, each scaled by its LayerScale, with residuals. */
    private Tensor layer(Layer l, Tensor h) {
        Tensor x = backend.layerNorm(h, l.norm1.weight, l.norm1.bias, config.layerNormEps);
        Tensor attn = attention(backend.linear(x, l.query.weight, l.query.bias),
                backend.linear(x, l.key.weight, l.key.bias), backend.linear(x, l.value.weight, l.value.bias));
        attn = backend.linear(attn, l.dense.weight, l.dense.bias);
        h = backend.add(backend.mul(attn, l.lambda1), h);
        x = backend.layerNorm(h, l.norm2.weight, l.norm2.bias, config.layerNormEps);
        return backend.add(backend.mul(ffn(l, x), l.lambda2), h);
    }

    /** Multi-head SDPA with scale head_dim^-0.5 on projected q, k, v [B, L, D] → [B, L, D]. */
    private Tensor attention(Tensor q, Tensor k, Tensor v) {
        int heads = config.numAttentionHeads;
        int hd = config.headDim();
        Tensor out = backend.attention(Heads.split(q, heads), Heads.split(k, heads), Heads.split(v, heads),
                null, (float) (1.0 / Math.sqrt(hd)));
        return Heads.merge(out);
    }

    /** {@code Dinov2MLP}: fc2(act(fc1(x))), or {@code Dinov2SwiGLUFFN}: weights_out(silu(x1) * x2). */
    private Tensor ffn(Layer l, Tensor x) {
        Tensor y = backend.linear(x, l.fcIn.weight, l.fcIn.bias);
        if (config.useSwigluFfn) {
            int f = config.ffnHiddenSize();
            y = backend.mul(backend.silu(y.narrow(-1, 0, f)), y.narrow(-1, f, f));
        } else {
            y = activation(y);
        }
        return backend.linear(y, l.fcOut.weight, l.fcOut.bias);
    }

    /** transformers {@code ACT2FN[hidden_act]} for the activations DINOv2 checkpoints use. */
    private Tensor activation(Tensor x) {
        return switch (config.hiddenAct) {
            case "gelu" -> backend.gelu(x, false);
            case "gelu_pytorch_tanh", "gelu_new" -> backend.gelu(x, true);
            case "quick_gelu" -> backend.quickGelu(x);
            case "silu", "swish" -> backend.silu(x);
            default -> throw new IllegalStateException("hidden_act " + config.hiddenAct);
        };
    }

    @Override
    public void close() {
        weights.close();
    }
}
