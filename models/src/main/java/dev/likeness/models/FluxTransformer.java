package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The FLUX.1 transformer, diffusers 0.33.1 {@code FluxTransformer2DModel}: a rectified-flow MMDiT over packed latent
 * tokens and T5 text tokens.
 *
 * <ol>
 *   <li>Embeddings: {@code x_embedder} (packed latents → width), {@code context_embedder} (T5 states → width), and the
 *       conditioning vector {@code temb = TE(1000 t) [+ GE(1000 g)] + TXT(pooled)}
 *       ({@code CombinedTimestep[Guidance]TextProjEmbeddings}: 256-channel sinusoids, cos first, through
 *       Linear–SiLU–Linear; the pooled CLIP vector through {@code PixArtAlphaTextProjection}, Linear–SiLU–Linear).
 *       Rotary tables come from {@code FluxPosEmbed} on the ids {@code cat(txt_ids, img_ids)}.</li>
 *   <li>Double-stream blocks ({@code FluxTransformerBlock}): image and text tokens each get their own
 *       {@code AdaLayerNormZero} modulation (shift, scale, gate for attention and for the feed-forward), projections,
 *       QK RMS norms and feed-forward (Linear, gelu-tanh, Linear), and attend jointly over [text, image] with RoPE.</li>
 *   <li>Single-stream blocks ({@code FluxSingleTransformerBlock}) on the concatenation [text, image]:
 *       {@code AdaLayerNormZeroSingle}, attention and a gelu-tanh MLP side by side, one output projection over both.</li>
 *   <li>{@code AdaLayerNormContinuous} (scale, shift) on the image tokens and {@code proj_out}.</li>
 * </ol>
 * All layer norms are without affine parameters, eps 1e-6; the QK norms are RMS norms, eps 1e-6; there is no
 * attention mask. Activations are computed in f32; weights stay in their stored dtype. Only the scaled timestep and
 * guidance are rounded to a bf16/f16 checkpoint's dtype as diffusers does (they set the whole trajectory's conditioning,
 * so the rounding is a systematic shift, not noise).
 *
 * <p>Every attention's image-token output can be adjusted through an {@link ImageAttentionHook} (InstantCharacter adds
 * its subject attention there). Weights load from a diffusers folder ({@link #load}) or a Black Forest Labs single
 * file ({@link #loadSingleFile}, through {@link FluxKeyMap}).
 */
public final class FluxTransformer implements AutoCloseable {
    private static final float EPS = 1e-6f;
    private static final double ROPE_THETA = 10000;
    private static final int TIMESTEP_CHANNELS = 256;

    /** The fields of the diffusers {@code config.json} the transformer depends on. */
    public record Config(int inChannels, int outChannels, int numLayers, int numSingleLayers, int attentionHeadDim,
                         int numAttentionHeads, int jointAttentionDim, int pooledProjectionDim, boolean guidanceEmbeds,
                         int[] axesDimsRope) {

        /** Reads a {@code FluxTransformer2DModel} config; {@code out_channels} null means {@code in_channels}. */
        public static Config from(ModelConfig c) {
            if (c.integer("patch_size", 1) != 1) {
                throw new IllegalArgumentException(c.file() + ": field 'patch_size' must be 1 (FLUX packs 2x2 patches "
                        + "before the transformer), got " + c.integer("patch_size"));
            }
            int in = c.integer("in_channels", 64);
            Config config = new Config(in, c.integer("out_channels", in), c.integer("num_layers", 19),
                    c.integer("num_single_layers", 38), c.integer("attention_head_dim", 128),
                    c.integer("num_attention_heads", 24), c.integer("joint_attention_dim", 4096),
                    c.integer("pooled_projection_dim", 768), c.bool("guidance_embeds", false),
                    c.has("axes_dims_rope") ? c.integers("axes_dims_rope") : new int[] {16, 56, 56});
            if (Arrays.stream(config.axesDimsRope).sum() != config.attentionHeadDim) {
                throw new IllegalArgumentException(c.file() + ": field 'axes_dims_rope' "
                        + Arrays.toString(config.axesDimsRope) + " must sum to attention_head_dim "
                        + config.attentionHeadDim);
            }
            return config;
        }

        /** The model width, heads × head dim (3072 for FLUX.1). */
        public int innerDim() {
            return numAttentionHeads * attentionHeadDim;
        }

        /** The feed-forward and single-block MLP width, 4 × the model width. */
        public int mlpDim() {
            return 4 * innerDim();
        }
    }

    /**
     * Tensors by their diffusers key: the diffusers checkpoint itself, {@link FluxKeyMap} over a BFL single file, or
     * any other source given to {@link #create} (e.g. weights generated on the device for a benchmark).
     */
    @FunctionalInterface
    public interface Parameters {
        /** The tensor the diffusers checkpoint holds under {@code key}, which must have {@code shape}. */
        Tensor get(String key, int... shape);

        /** Rows [start, start + count) of the diffusers tensor {@code key}, whose full shape is {@code shape}. */
        default Tensor rows(String key, int start, int count, int... shape) {
            return get(key, shape).narrow(0, start, count);
        }
    }

    /**
     * Adjusts the image tokens' attention output in every block, before it continues (to {@code to_out} in a
     * double-stream block, to the concatenation with the MLP in a single-stream block). InstantCharacter adds
     * {@code scale · SDPA(RMSNorm(query), RMSNorm(K(E)), V(E))} here.
     */
    @FunctionalInterface
    public interface ImageAttentionHook {
        /**
         * @param layer     the attention's index in diffusers' {@code attn_processors} order: double-stream blocks
         *                  0..numLayers-1, then single-stream blocks numLayers..numLayers+numSingleLayers-1
         * @param query     the image tokens' query projection {@code to_q(x̂)} [B, imageTokens, inner], before the
         *                  head split, the QK norm and the rotary embedding
         * @param attention the image tokens' attention output [B, imageTokens, inner] (heads merged)
         * @return the attention output to continue with, same shape
         */
        Tensor adjust(int layer, Tensor query, Tensor attention);
    }

    private record Linear(Tensor weight, Tensor bias) {
        static Linear load(Parameters p, String name, int out, int in) {
            return new Linear(p.get(name + ".weight", out, in), p.get(name + ".bias", out));
        }

        /** The output rows [start, start + count) of the Linear {@code name} [out, in]. */
        static Linear rows(Parameters p, String name, int start, int count, int out, int in) {
            return new Linear(p.rows(name + ".weight", start, count, out, in), p.rows(name + ".bias", start, count, out));
        }
    }

    /** Linear, SiLU, Linear ({@code TimestepEmbedding} and {@code PixArtAlphaTextProjection}). */
    private record Mlp(Linear first, Linear second) {
        static Mlp load(Parameters p, String name, int in, int width) {
            return new Mlp(Linear.load(p, name + ".linear_1", width, in), Linear.load(p, name + ".linear_2", width,
                    width));
        }
    }

    /** The projections and QK norms of one stream of an attention. */
    private record Projections(Linear q, Linear k, Linear v, Tensor normQ, Tensor normK) {
        static Projections load(Parameters p, String attn, String q, String k, String v, String normQ, String normK,
                                Config c) {
            int d = c.innerDim();
            return new Projections(Linear.load(p, attn + "." + q, d, d), Linear.load(p, attn + "." + k, d, d),
                    Linear.load(p, attn + "." + v, d, d), p.get(attn + "." + normQ + ".weight", c.attentionHeadDim()),
                    p.get(attn + "." + normK + ".weight", c.attentionHeadDim()));
        }
    }

    /** {@code FluxTransformerBlock}: one stream each for image ({@code norm1}, {@code attn.to_*}, {@code ff}) and text. */
    private record DoubleBlock(Linear norm1, Linear norm1Context, Projections image, Projections text, Linear toOut,
                               Linear toAddOut, Linear ff1, Linear ff2, Linear ffContext1, Linear ffContext2) {
        static DoubleBlock load(Parameters p, String name, Config c) {
            int d = c.innerDim();
            int m = c.mlpDim();
            String attn = name + ".attn";
            return new DoubleBlock(Linear.load(p, name + ".norm1.linear", 6 * d, d),
                    Linear.load(p, name + ".norm1_context.linear", 6 * d, d),
                    Projections.load(p, attn, "to_q", "to_k", "to_v", "norm_q", "norm_k", c),
                    Projections.load(p, attn, "add_q_proj", "add_k_proj", "add_v_proj", "norm_added_q",
                            "norm_added_k", c),
                    Linear.load(p, attn + ".to_out.0", d, d), Linear.load(p, attn + ".to_add_out", d, d),
                    Linear.load(p, name + ".ff.net.0.proj", m, d), Linear.load(p, name + ".ff.net.2", d, m),
                    Linear.load(p, name + ".ff_context.net.0.proj", m, d),
                    Linear.load(p, name + ".ff_context.net.2", d, m));
        }
    }

    /** {@code FluxSingleTransformerBlock}. */
    private record SingleBlock(Linear norm, Projections attention, Linear projMlp, Linear projOut) {
        static SingleBlock load(Parameters p, String name, Config c) {
            int d = c.innerDim();
            return new SingleBlock(Linear.load(p, name + ".norm.linear", 3 * d, d),
                    Projections.load(p, name + ".attn", "to_q", "to_k", "to_v", "norm_q", "norm_k", c),
                    Linear.load(p, name + ".proj_mlp", c.mlpDim(), d),
                    Linear.load(p, name + ".proj_out", d, d + c.mlpDim()));
        }
    }

    /** The hidden states a forward pass produces: the output and the states after each stack. */
    public record Result(Tensor sample, Tensor doubleStreamImage, Tensor doubleStreamText, Tensor singleStream) {
    }

    private final Config config;
    /** The checkpoint the parameters are mapped from, closed with the model; null for {@link #create}. */
    private final Weights weights;
    private final Backend backend;
    private final Linear xEmbedder;
    private final Linear contextEmbedder;
    private final Mlp timestepEmbedder;
    private final Mlp guidanceEmbedder;
    private final Mlp textEmbedder;
    private final List<DoubleBlock> doubleBlocks;
    private final List<SingleBlock> singleBlocks;
    private final Linear normOutScale;
    private final Linear normOutShift;
    private final Linear projOut;
    private final DType modelDtype;

    private FluxTransformer(Config config, Parameters p, Weights weights, Backend backend) {
        this.config = config;
        this.weights = weights;
        this.backend = backend;
        int d = config.innerDim();
        this.xEmbedder = Linear.load(p, "x_embedder", d, config.inChannels());
        this.contextEmbedder = Linear.load(p, "context_embedder", d, config.jointAttentionDim());
        this.timestepEmbedder = Mlp.load(p, "time_text_embed.timestep_embedder", TIMESTEP_CHANNELS, d);
        this.guidanceEmbedder = config.guidanceEmbeds()
                ? Mlp.load(p, "time_text_embed.guidance_embedder", TIMESTEP_CHANNELS, d) : null;
        this.textEmbedder = Mlp.load(p, "time_text_embed.text_embedder", config.pooledProjectionDim(), d);
        List<DoubleBlock> doubles = new ArrayList<>();
        for (int i = 0; i < config.numLayers(); i++) {
            doubles.add(DoubleBlock.load(p, "transformer_blocks." + i, config));
        }
        this.doubleBlocks = List.copyOf(doubles);
        List<SingleBlock> singles = new ArrayList<>();
        for (int i = 0; i < config.numSingleLayers(); i++) {
            singles.add(SingleBlock.load(p, "single_transformer_blocks." + i, config));
        }
        this.singleBlocks = List.copyOf(singles);
        // AdaLayerNormContinuous: one Linear whose output halves are (scale, shift)
        this.normOutScale = Linear.rows(p, "norm_out.linear", 0, d, 2 * d, d);
        this.normOutShift = Linear.rows(p, "norm_out.linear", d, d, 2 * d, d);
        this.projOut = Linear.load(p, "proj_out", config.outChannels(), d);
        DType stored = xEmbedder.weight().dtype();
        this.modelDtype = stored == DType.BF16 || stored == DType.F16 ? stored : null;
    }

    /**
     * Loads a diffusers folder: {@code config.json} and {@code diffusion_pytorch_model.safetensors} or its sharded
     * index; the weights stay memory-mapped until {@link #close}.
     */
    public static FluxTransformer load(Path folder, Backend backend) {
        return load(folder, backend, false);
    }

    /**
     * The linear weights of the transformer blocks (diffusers {@code transformer_blocks.*} /
     * {@code single_transformer_blocks.*}, BFL {@code double_blocks.*} / {@code single_blocks.*}): the ~11.9 B of the
     * 12 B parameters that {@code fp8} loading quantizes. Embedders, the final projection and the norms stay as stored.
     */
    public static boolean isBlockLinearWeight(String key) {
        return key.endsWith(".weight") && (key.contains("transformer_blocks.") || key.contains("double_blocks.")
                || key.contains("single_blocks."));
    }

    /**
     * {@link #load(Path, Backend)}; with {@code fp8} the blocks' linear weights are quantized to float8 e4m3 with
     * per-output-channel scales as they are read (half the memory of bf16; fp8 tensor-core GEMMs on Ada and Hopper
     * GPUs).
     */
    public static FluxTransformer load(Path folder, Backend backend, boolean fp8) {
        Config config = Config.from(ModelConfig.read(folder.resolve("config.json")));
        Weights weights = Weights.open(folder, backend, fp8 ? FluxTransformer::isBlockLinearWeight : null);
        try {
            return new FluxTransformer(config, weights::get, weights, weights.backend());
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /**
     * Loads a Black Forest Labs single-file checkpoint ({@code flux1-dev.safetensors}: {@code double_blocks.N...},
     * fused qkv, optionally under {@code model.diffusion_model.}). The file carries no config, so the architecture is
     * given (e.g. read from the diffusers {@code transformer/config.json}).
     */
    public static FluxTransformer loadSingleFile(Path file, Config config, Backend backend) {
        return loadSingleFile(file, config, backend, false);
    }

    /** {@link #loadSingleFile(Path, Config, Backend)}, with the blocks' linear weights in fp8 when {@code fp8}. */
    public static FluxTransformer loadSingleFile(Path file, Config config, Backend backend, boolean fp8) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": not a file (expected a BFL single-file .safetensors)");
        }
        Weights weights = Weights.open(file, backend, fp8 ? FluxTransformer::isBlockLinearWeight : null);
        try {
            return new FluxTransformer(config, new FluxKeyMap(weights, config), weights, weights.backend());
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /**
     * A transformer of architecture {@code config} computing on {@code backend}, its tensors taken from
     * {@code parameters} by diffusers key (each must have the shape asked for and live where {@code backend} computes).
     * The caller owns the tensors: {@link #close} releases nothing here.
     */
    public static FluxTransformer create(Config config, Backend backend, Parameters parameters) {
        return new FluxTransformer(config, parameters, null, backend);
    }

    public Config config() {
        return config;
    }

    /**
     * The dtype the reference would run this checkpoint in: bf16 or f16 when its weights are stored so, else f32
     * (this decides where the reference's roundings are reproduced; the backend computes in its own
     * {@link Backend#computeDType()}: f32 on the CPU, bf16 by default on a GPU).
     */
    public DType storedDtype() {
        return modelDtype == null ? DType.F32 : modelDtype;
    }

    /** {@code forward} without a hook, the output only. */
    public Tensor forward(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooled, Tensor timestep,
                          Tensor guidance, Tensor imgIds, Tensor txtIds) {
        return forward(hiddenStates, encoderHiddenStates, pooled, timestep, guidance, imgIds, txtIds, null).sample();
    }

    /**
     * {@code FluxTransformer2DModel(hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids,
     * txt_ids, guidance)}.
     *
     * @param hiddenStates        packed latents [B, imageTokens, inChannels]
     * @param encoderHiddenStates T5 states [B, textTokens, jointAttentionDim]
     * @param pooled              CLIP pooled output [B, pooledProjectionDim]
     * @param timestep            [B], the scheduler's t / 1000 as FluxPipeline passes it (scaled by 1000 here)
     * @param guidance            [B] distilled guidance scale (scaled by 1000 here), or null exactly when the model
     *                            has no guidance embedder
     * @param imgIds              [imageTokens, 3] position ids ({@link #imageIds})
     * @param txtIds              [textTokens, 3] position ids (zeros in FluxPipeline)
     * @param hook                adjusts every attention's image output, or null
     * @return the velocity [B, imageTokens, outChannels] and the intermediate states
     */
    public Result forward(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooled, Tensor timestep,
                          Tensor guidance, Tensor imgIds, Tensor txtIds, ImageAttentionHook hook) {
        int batch = hiddenStates.size(0);
        int imageTokens = hiddenStates.size(1);
        int textTokens = encoderHiddenStates.size(1);
        check("hidden_states", hiddenStates, batch, imageTokens, config.inChannels());
        check("encoder_hidden_states", encoderHiddenStates, batch, textTokens, config.jointAttentionDim());
        check("pooled_projections", pooled, batch, config.pooledProjectionDim());
        check("timestep", timestep, batch);
        check("img_ids", imgIds, imageTokens, config.axesDimsRope().length);
        check("txt_ids", txtIds, textTokens, config.axesDimsRope().length);
        if ((guidance != null) != config.guidanceEmbeds()) {
            throw new IllegalArgumentException("FLUX transformer: guidance must be "
                    + (config.guidanceEmbeds() ? "given (the model has guidance_embeds)" : "null (the model has no "
                    + "guidance embedder)"));
        }
        if (guidance != null) {
            check("guidance", guidance, batch);
        }

        Tensor x = linear(hiddenStates, xEmbedder);
        Tensor temb = conditioning(timestep, guidance, pooled);
        Tensor c = linear(encoderHiddenStates, contextEmbedder);
        List<Tensor> rope = backend.ropeFrequencies(positionIds(txtIds, imgIds), config.axesDimsRope(), ROPE_THETA);
        Tensor cos = rope.get(0);
        Tensor sin = rope.get(1);

        for (int i = 0; i < doubleBlocks.size(); i++) {
            Tensor[] out = doubleBlock(doubleBlocks.get(i), i, x, c, temb, cos, sin, hook);
            x = out[0];
            c = out[1];
        }
        Tensor doubleImage = x;
        Tensor doubleText = c;
        Tensor h = backend.cat(1, List.of(c, x));
        for (int i = 0; i < singleBlocks.size(); i++) {
            h = singleBlock(singleBlocks.get(i), doubleBlocks.size() + i, h, textTokens, temb, cos, sin, hook);
        }
        // AdaLayerNormContinuous on the image tokens, then proj_out
        Tensor image = h.narrow(1, textTokens, imageTokens);
        Tensor act = backend.silu(temb);
        Tensor scale = linear(act, normOutScale).unsqueeze(1);
        Tensor shift = linear(act, normOutShift).unsqueeze(1);
        Tensor sample = linear(modulate(backend.layerNorm(image, null, null, EPS), shift, scale), projOut);
        return new Result(sample, doubleImage, doubleText, h);
    }

    /**
     * {@code torch.cat((txt_ids, img_ids), dim=0)} kept in f32 (diffusers computes the rotary tables from f32 ids):
     * a backend computing in bf16 would round position ids above 256, so there the ids are joined on the host.
     */
    private Tensor positionIds(Tensor txtIds, Tensor imgIds) {
        if (backend.computeDType() == DType.F32) {
            return backend.cat(0, List.of(txtIds, imgIds));
        }
        float[] txt = backend.toFloatArray(txtIds);
        float[] img = backend.toFloatArray(imgIds);
        float[] ids = Arrays.copyOf(txt, txt.length + img.length);
        System.arraycopy(img, 0, ids, txt.length, img.length);
        return backend.fromFloats(ids, txtIds.size(0) + imgIds.size(0), txtIds.size(1));
    }

    /** {@code CombinedTimestepGuidanceTextProjEmbeddings} (or without guidance) on 1000 t, 1000 g and pooled. */
    private Tensor conditioning(Tensor timestep, Tensor guidance, Tensor pooled) {
        Tensor temb = embedScalar(timestepEmbedder, timestep);
        if (guidance != null) {
            temb = backend.add(temb, embedScalar(guidanceEmbedder, guidance));
        }
        return backend.add(temb, mlp(textEmbedder, pooled));
    }

    /**
     * {@code Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)} of 1000 v, then the embedding MLP. diffusers
     * computes {@code v.to(dtype) * 1000} in the model's dtype, so for a bf16 (f16) checkpoint v and the product are
     * rounded to bf16 (f16): guidance 3.5 reaches the sinusoids as 3504.
     */
    private Tensor embedScalar(Mlp embedder, Tensor v) {
        Tensor scaled = inModelDtype(backend.affine(inModelDtype(v), 1000f, 0f));
        return mlp(embedder, backend.timestepEmbedding(scaled, TIMESTEP_CHANNELS, true, 0f, 1f, 10000));
    }

    /** {@code FluxTransformerBlock.forward}: returns {image, text}. */
    private Tensor[] doubleBlock(DoubleBlock b, int layer, Tensor x, Tensor c, Tensor temb, Tensor cos, Tensor sin,
                                 ImageAttentionHook hook) {
        // AdaLayerNormZero: (shift, scale, gate) for attention, then for the feed-forward
        List<Tensor> m = modulation(b.norm1(), temb, 6);
        List<Tensor> mc = modulation(b.norm1Context(), temb, 6);
        Tensor xn = modulate(backend.layerNorm(x, null, null, EPS), m.get(0), m.get(1));
        Tensor cn = modulate(backend.layerNorm(c, null, null, EPS), mc.get(0), mc.get(1));

        // FluxAttnProcessor2_0: joint attention over [text, image] tokens
        int textTokens = c.size(1);
        int imageTokens = x.size(1);
        Tensor imageQuery = linear(xn, b.image().q());
        Tensor[] textQkv = headsQkv(b.text(), cn, linear(cn, b.text().q()));
        Tensor[] imageQkv = headsQkv(b.image(), xn, imageQuery);
        Tensor q = backend.rope(backend.cat(2, List.of(textQkv[0], imageQkv[0])), cos, sin);
        Tensor k = backend.rope(backend.cat(2, List.of(textQkv[1], imageQkv[1])), cos, sin);
        Tensor v = backend.cat(2, List.of(textQkv[2], imageQkv[2]));
        Tensor attention = Heads.merge(backend.attention(q, k, v, null, 0f));
        Tensor textAttention = attention.narrow(1, 0, textTokens);
        Tensor imageAttention = attention.narrow(1, textTokens, imageTokens);
        if (hook != null) {
            imageAttention = hook.adjust(layer, imageQuery, imageAttention);
        }

        x = backend.add(x, backend.mul(m.get(2), linear(imageAttention, b.toOut())));
        Tensor xff = modulate(backend.layerNorm(x, null, null, EPS), m.get(3), m.get(4));
        x = backend.add(x, backend.mul(m.get(5), feedForward(xff, b.ff1(), b.ff2())));

        c = backend.add(c, backend.mul(mc.get(2), linear(textAttention, b.toAddOut())));
        Tensor cff = modulate(backend.layerNorm(c, null, null, EPS), mc.get(3), mc.get(4));
        c = backend.add(c, backend.mul(mc.get(5), feedForward(cff, b.ffContext1(), b.ffContext2())));
        return new Tensor[] {x, c};
    }

    /** {@code FluxSingleTransformerBlock.forward} on h = [text, image] tokens. */
    private Tensor singleBlock(SingleBlock b, int layer, Tensor h, int textTokens, Tensor temb, Tensor cos, Tensor sin,
                               ImageAttentionHook hook) {
        // AdaLayerNormZeroSingle: (shift, scale, gate)
        List<Tensor> m = modulation(b.norm(), temb, 3);
        Tensor hn = modulate(backend.layerNorm(h, null, null, EPS), m.get(0), m.get(1));
        Tensor mlp = backend.gelu(linear(hn, b.projMlp()), true);

        Tensor query = linear(hn, b.attention().q());
        Tensor[] qkv = headsQkv(b.attention(), hn, query);
        Tensor attention = Heads.merge(backend.attention(backend.rope(qkv[0], cos, sin),
                backend.rope(qkv[1], cos, sin), qkv[2], null, 0f));
        if (hook != null) {
            int imageTokens = h.size(1) - textTokens;
            Tensor image = hook.adjust(layer, query.narrow(1, textTokens, imageTokens),
                    attention.narrow(1, textTokens, imageTokens));
            attention = backend.cat(1, List.of(attention.narrow(1, 0, textTokens), image));
        }
        Tensor out = linear(backend.cat(2, List.of(attention, mlp)), b.projOut());
        return backend.add(h, backend.mul(m.get(2), out));
    }

    /** Linear(SiLU(temb)) split into {@code n} modulation vectors, each [B, 1, width]. */
    private List<Tensor> modulation(Linear linear, Tensor temb, int n) {
        List<Tensor> chunks = linear(backend.silu(temb), linear).chunk(n, 1);
        List<Tensor> out = new ArrayList<>(n);
        for (Tensor t : chunks) {
            out.add(t.unsqueeze(1));
        }
        return out;
    }

    /** {@code x * (1 + scale) + shift}. */
    private Tensor modulate(Tensor x, Tensor shift, Tensor scale) {
        return backend.add(backend.mul(x, backend.affine(scale, 1f, 1f)), shift);
    }

    /**
     * One stream's query (already projected), key and value as heads [B, H, L, D], query and key RMS-normed over each
     * head.
     */
    private Tensor[] headsQkv(Projections p, Tensor x, Tensor query) {
        Tensor q = backend.rmsNorm(Heads.split(query, config.numAttentionHeads()), p.normQ(), EPS);
        Tensor k = backend.rmsNorm(Heads.split(linear(x, p.k()), config.numAttentionHeads()), p.normK(), EPS);
        Tensor v = Heads.split(linear(x, p.v()), config.numAttentionHeads());
        return new Tensor[] {q, k, v};
    }

    /** {@code FeedForward(activation_fn="gelu-approximate")}: Linear, gelu-tanh, Linear. */
    private Tensor feedForward(Tensor x, Linear first, Linear second) {
        return linear(backend.gelu(linear(x, first), true), second);
    }

    /** {@code t} rounded to the checkpoint's dtype when that is bf16 or f16 (as f32 values), else {@code t}. */
    private Tensor inModelDtype(Tensor t) {
        return modelDtype == null ? t : backend.to(backend.to(t, modelDtype), DType.F32);
    }

    private Tensor mlp(Mlp m, Tensor x) {
        return linear(backend.silu(linear(x, m.first())), m.second());
    }

    private Tensor linear(Tensor x, Linear l) {
        return backend.linear(x, l.weight(), l.bias());
    }

    private static void check(String name, Tensor t, int... shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException("FLUX transformer: " + name + " must have shape "
                    + Arrays.toString(shape) + ", got " + Arrays.toString(t.shape()));
        }
    }

    // ------------------------------------------------------------------ latent packing (FluxPipeline)

    /**
     * {@code FluxPipeline._pack_latents}: latents [B, C, H, W] (H, W even) → [B, (H/2)(W/2), 4C], each token the 2×2
     * patch with channel index {@code c·4 + dy·2 + dx}.
     */
    public static Tensor packLatents(Tensor latents) {
        if (latents.dim() != 4 || latents.size(2) % 2 != 0 || latents.size(3) % 2 != 0) {
            throw new IllegalArgumentException("packLatents: latents must be [B, C, H, W] with even H and W, got "
                    + Arrays.toString(latents.shape()));
        }
        int b = latents.size(0);
        int c = latents.size(1);
        int h = latents.size(2) / 2;
        int w = latents.size(3) / 2;
        return latents.view(b, c, h, 2, w, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, h * w, 4 * c);
    }

    /** {@code FluxPipeline._unpack_latents}, the inverse of {@link #packLatents}: [B, (H/2)(W/2), 4C] → [B, C, H, W]. */
    public static Tensor unpackLatents(Tensor packed, int height, int width) {
        int h = height / 2;
        int w = width / 2;
        if (packed.dim() != 3 || height % 2 != 0 || width % 2 != 0 || packed.size(1) != h * w
                || packed.size(2) % 4 != 0) {
            throw new IllegalArgumentException("unpackLatents: expected [B, " + h * w + ", 4C] for an even " + height
                    + "x" + width + " latent, got " + Arrays.toString(packed.shape()));
        }
        int b = packed.size(0);
        int c = packed.size(2) / 4;
        return packed.view(b, h, w, c, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c, height, width);
    }

    /**
     * {@code FluxPipeline._prepare_latent_image_ids(rows, cols)}: [rows·cols, 3] f32 ids {@code (0, row, col)} for
     * the packed token grid (rows = latent height / 2, cols = latent width / 2).
     */
    public static Tensor imageIds(Backend backend, int rows, int cols) {
        float[] ids = new float[rows * cols * 3];
        for (int r = 0; r < rows; r++) {
            for (int s = 0; s < cols; s++) {
                int at = (r * cols + s) * 3;
                ids[at + 1] = r;
                ids[at + 2] = s;
            }
        }
        return backend.fromFloats(ids, rows * cols, 3);
    }

    /** Unmaps the checkpoint (nothing for a transformer made by {@link #create}). */
    @Override
    public void close() {
        if (weights != null) {
            weights.close();
        }
    }
}
