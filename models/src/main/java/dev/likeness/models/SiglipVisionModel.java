package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The SigLIP vision tower, transformers 4.51.3 {@code SiglipVisionModel} ({@code models/siglip/modeling_siglip.py}),
 * as InstantCharacter runs {@code google/siglip-so400m-patch14-384}.
 *
 * <pre>
 * embeddings    = Conv2d(patch, stride patch, valid)(pixels).flatten(2).transpose(1, 2) + position_embedding
 *                 (no CLS token; the position table is bicubically resized when interpolate_pos_encoding is asked for)
 * each layer    h = h + out_proj(SDPA(q, k, v) of layer_norm1(h));  h = h + fc2(act(fc1(layer_norm2(h))))
 * last_hidden   = post_layernorm(h)
 * pooler_output = MAP head: MultiheadAttention(probe, last, last); r + mlp(layernorm(r)); token 0
 * </pre>
 *
 * {@link Output#hiddenStates()} has {@code num_hidden_layers + 1} entries: the embeddings, then each layer's output
 * (before post_layernorm), which is what the InstantCharacter adapter reads (entries 7, 13 and 26).
 * Weights are the {@code vision_model.*} tensors of a {@code SiglipVisionModel} or full {@code SiglipModel}
 * checkpoint; they stay memory-mapped in their stored dtype.
 */
public final class SiglipVisionModel implements AutoCloseable {
    /** The {@code hidden_act} values {@link #activation} implements. */
    private static final List<String> ACTIVATIONS = List.of("gelu_pytorch_tanh", "gelu_new", "gelu", "quick_gelu");

    /** The fields of {@code SiglipVisionConfig} the forward pass reads. */
    public record Config(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                         int numChannels, int imageSize, int patchSize, String hiddenAct, float layerNormEps,
                         boolean useHead) {

        /**
         * Reads a {@code siglip_vision_model} config.json, or the {@code vision_config} section of a full
         * {@code siglip} config.json; missing fields take SiglipVisionConfig's defaults.
         */
        public static Config from(ModelConfig json) {
            ModelConfig c = json.has("vision_config") ? json.section("vision_config") : json;
            Config config = new Config(c.integer("hidden_size", 768), c.integer("intermediate_size", 3072),
                    c.integer("num_hidden_layers", 12), c.integer("num_attention_heads", 12),
                    c.integer("num_channels", 3), c.integer("image_size", 224), c.integer("patch_size", 16),
                    c.string("hidden_act", "gelu_pytorch_tanh"), (float) c.number("layer_norm_eps", 1e-6),
                    c.bool("vision_use_head", true));
            if (config.hiddenSize % config.numAttentionHeads != 0) {
                throw new IllegalArgumentException(c.file() + ": hidden_size " + config.hiddenSize
                        + " must be a multiple of num_attention_heads " + config.numAttentionHeads);
            }
            if (config.patchSize <= 0 || config.imageSize < config.patchSize) {
                throw new IllegalArgumentException(c.file() + ": image_size " + config.imageSize
                        + " must be at least patch_size " + config.patchSize + " (> 0)");
            }
            if (!ACTIVATIONS.contains(config.hiddenAct)) {
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
    }

    /**
     * {@code last_hidden_state} [B, N, D], {@code pooler_output} [B, D] (null without the head) and the
     * {@code hidden_states}: embeddings and every layer's output, each [B, N, D].
     */
    public record Output(Tensor lastHiddenState, Tensor poolerOutput, List<Tensor> hiddenStates) {
    }

    private record Norm(Tensor weight, Tensor bias) {
        static Norm load(Weights w, int dim) {
            return new Norm(w.get("weight", dim), w.get("bias", dim));
        }
    }

    private record Linear(Tensor weight, Tensor bias) {
        static Linear load(Weights w, int out, int in) {
            return new Linear(w.get("weight", out, in), w.get("bias", out));
        }
    }

    private record Mlp(Linear fc1, Linear fc2) {
        static Mlp load(Weights w, Config c) {
            return new Mlp(Linear.load(w.child("fc1"), c.intermediateSize, c.hiddenSize),
                    Linear.load(w.child("fc2"), c.hiddenSize, c.intermediateSize));
        }
    }

    private record Layer(Norm layerNorm1, Linear q, Linear k, Linear v, Linear out, Norm layerNorm2, Mlp mlp) {
        static Layer load(Weights w, Config c) {
            Weights attn = w.child("self_attn");
            int d = c.hiddenSize;
            return new Layer(Norm.load(w.child("layer_norm1"), d), Linear.load(attn.child("q_proj"), d, d),
                    Linear.load(attn.child("k_proj"), d, d), Linear.load(attn.child("v_proj"), d, d),
                    Linear.load(attn.child("out_proj"), d, d), Norm.load(w.child("layer_norm2"), d),
                    Mlp.load(w.child("mlp"), c));
        }
    }

    /** The multihead-attention-pooling head: torch {@code nn.MultiheadAttention} with a packed in-projection. */
    private record Head(Tensor probe, Tensor inProjWeight, Tensor inProjBias, Linear outProj, Norm layerNorm,
                        Mlp mlp) {
        static Head load(Weights w, Config c) {
            int d = c.hiddenSize;
            Weights attn = w.child("attention");
            return new Head(w.get("probe", 1, 1, d), attn.get("in_proj_weight", 3 * d, d),
                    attn.get("in_proj_bias", 3 * d), Linear.load(attn.child("out_proj"), d, d),
                    Norm.load(w.child("layernorm"), d), Mlp.load(w.child("mlp"), c));
        }
    }

    private final Config config;
    private final Weights weights;
    private final Backend backend;
    private final Tensor patchWeight;
    private final Tensor patchBias;
    private final Tensor positionEmbedding;
    private final List<Layer> layers = new ArrayList<>();
    private final Norm postLayerNorm;
    private final Head head;

    /**
     * Binds the {@code vision_model.*} tensors of {@code weights} (shape-checked against {@code config}); the model
     * closes {@code weights} when it is closed.
     */
    public SiglipVisionModel(Config config, Weights weights) {
        this.config = config;
        this.weights = weights;
        this.backend = weights.backend();
        Weights vm = weights.child("vision_model");
        Weights emb = vm.child("embeddings");
        int d = config.hiddenSize;
        int p = config.patchSize;
        this.patchWeight = emb.get("patch_embedding.weight", d, config.numChannels, p, p);
        this.patchBias = emb.get("patch_embedding.bias", d);
        int grid = config.gridSize();
        this.positionEmbedding = emb.get("position_embedding.weight", grid * grid, d);
        for (int i = 0; i < config.numHiddenLayers; i++) {
            layers.add(Layer.load(vm.child("encoder.layers." + i), config));
        }
        this.postLayerNorm = Norm.load(vm.child("post_layernorm"), d);
        this.head = config.useHead ? Head.load(vm.child("head"), config) : null;
    }

    /** Loads {@code dir/config.json} and the safetensors checkpoint in {@code dir}. */
    public static SiglipVisionModel load(Path dir, Backend backend) {
        Config config = Config.from(ModelConfig.read(dir.resolve("config.json")));
        Weights weights = Weights.open(dir, backend);
        try {
            return new SiglipVisionModel(config, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public Config config() {
        return config;
    }

    /**
     * The forward pass for {@code pixelValues} [B, num_channels, H, W] (H, W ≥ patch_size; trailing pixels that do
     * not fill a patch are dropped by the valid convolution). Without {@code interpolatePosEncoding} the patch grid
     * must have exactly the trained number of positions.
     */
    public Output forward(Tensor pixelValues, boolean interpolatePosEncoding) {
        int[] s = pixelValues.shape();
        if (s.length != 4 || s[1] != config.numChannels || s[2] < config.patchSize || s[3] < config.patchSize) {
            throw new IllegalArgumentException("SiglipVisionModel: pixel_values must be [B, " + config.numChannels
                    + ", H >= " + config.patchSize + ", W >= " + config.patchSize + "], got " + Arrays.toString(s));
        }
        List<Tensor> hiddenStates = new ArrayList<>();
        Tensor h = embeddings(pixelValues, interpolatePosEncoding);
        for (Layer layer : layers) {
            hiddenStates.add(h);
            h = layer(layer, h);
        }
        hiddenStates.add(h);
        Tensor last = backend.layerNorm(h, postLayerNorm.weight, postLayerNorm.bias, config.layerNormEps);
        Tensor pooled = head == null ? null : head(last);
        return new Output(last, pooled, List.copyOf(hiddenStates));
    }

    /** {@code SiglipVisionEmbeddings.forward}: patch embedding plus (optionally interpolated) position embedding. */
    private Tensor embeddings(Tensor pixels, boolean interpolate) {
        int p = config.patchSize;
        int height = pixels.size(2);
        int width = pixels.size(3);
        Tensor patches = backend.conv2d(pixels, patchWeight, patchBias, p, p, 0, 0, 1); // [B, D, H/p, W/p]
        Tensor tokens = patches.flatten(2, 3).transpose(1, 2);                          // [B, N, D]
        int numPatches = tokens.size(1);
        int numPositions = positionEmbedding.size(0);
        if (interpolate && !(numPatches == numPositions && height == width)) {
            return backend.add(tokens, interpolatedPositions(height / p, width / p));
        }
        if (numPatches != numPositions) {
            throw new IllegalArgumentException("SiglipVisionModel: a " + height + "x" + width + " image gives "
                    + numPatches + " patches but the position embedding has " + numPositions
                    + " positions (image_size " + config.imageSize + "); use interpolatePosEncoding");
        }
        return backend.add(tokens, positionEmbedding);
    }

    /**
     * {@code interpolate_pos_encoding}: the sqrt(P) x sqrt(P) position grid resized to the patch grid with torch's
     * bicubic (align_corners=False, no antialias), rounded back to the table's dtype.
     */
    private Tensor interpolatedPositions(int gridH, int gridW) {
        int side = config.gridSize();
        int d = config.hiddenSize;
        Tensor grid = positionEmbedding.view(1, side, side, d).permute(0, 3, 1, 2);
        Tensor resized = backend.interpolate(grid, gridH, gridW, Backend.Interpolation.BICUBIC, false, false);
        if (positionEmbedding.dtype() != DType.F32) {
            resized = backend.to(resized, positionEmbedding.dtype());
        }
        return resized.permute(0, 2, 3, 1).reshape(1, gridH * gridW, d);
    }

    /** {@code SiglipEncoderLayer.forward}: pre-LN self-attention and MLP, each with a residual. */
    private Tensor layer(Layer l, Tensor h) {
        Tensor x = backend.layerNorm(h, l.layerNorm1.weight, l.layerNorm1.bias, config.layerNormEps);
        Tensor attn = attention(backend.linear(x, l.q.weight, l.q.bias), backend.linear(x, l.k.weight, l.k.bias),
                backend.linear(x, l.v.weight, l.v.bias));
        h = backend.add(h, backend.linear(attn, l.out.weight, l.out.bias));
        x = backend.layerNorm(h, l.layerNorm2.weight, l.layerNorm2.bias, config.layerNormEps);
        return backend.add(h, mlp(l.mlp, x));
    }

    /** Multi-head SDPA with scale head_dim^-0.5 on projected q [B, Lq, D], k and v [B, Lk, D] → [B, Lq, D]. */
    private Tensor attention(Tensor q, Tensor k, Tensor v) {
        int heads = config.numAttentionHeads;
        int hd = config.headDim();
        Tensor out = backend.attention(Heads.split(q, heads), Heads.split(k, heads), Heads.split(v, heads),
                null, (float) (1.0 / Math.sqrt(hd)));
        return Heads.merge(out);
    }

    private Tensor mlp(Mlp m, Tensor x) {
        Tensor y = activation(backend.linear(x, m.fc1.weight, m.fc1.bias));
        return backend.linear(y, m.fc2.weight, m.fc2.bias);
    }

    /** {@code SiglipMultiheadAttentionPoolingHead.forward}: the probe attends to all tokens; returns token 0. */
    private Tensor head(Tensor last) {
        int d = config.hiddenSize;
        int batch = last.size(0);
        Tensor probe = head.probe.expand(batch, 1, d);
        Tensor q = backend.linear(probe, head.inProjWeight.narrow(0, 0, d), head.inProjBias.narrow(0, 0, d));
        Tensor k = backend.linear(last, head.inProjWeight.narrow(0, d, d), head.inProjBias.narrow(0, d, d));
        Tensor v = backend.linear(last, head.inProjWeight.narrow(0, 2 * d, d), head.inProjBias.narrow(0, 2 * d, d));
        Tensor r = backend.linear(attention(q, k, v), head.outProj.weight, head.outProj.bias);
        Tensor x = backend.layerNorm(r, head.layerNorm.weight, head.layerNorm.bias, config.layerNormEps);
        return backend.add(r, mlp(head.mlp, x)).select(1, 0);
    }

    /** transformers {@code ACT2FN[hidden_act]} for the activations SigLIP checkpoints use. */
    private Tensor activation(Tensor x) {
        return switch (config.hiddenAct) {
            case "gelu_pytorch_tanh", "gelu_new" -> backend.gelu(x, true);
            case "gelu" -> backend.gelu(x, false);
            case "quick_gelu" -> backend.quickGelu(x);
            default -> throw new IllegalStateException("hidden_act " + config.hiddenAct);
        };
    }

    @Override
    public void close() {
        weights.close();
    }
}
