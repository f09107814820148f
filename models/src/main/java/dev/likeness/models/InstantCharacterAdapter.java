package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;
import dev.likeness.models.FluxTransformer.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * The InstantCharacter adapter (Tencent-Hunyuan/InstantCharacter, {@code models/resampler.py} and
 * {@code models/attn_processor.py}): it turns the subject image's SigLIP + DINOv2 features into subject tokens E and
 * adds an attention to E in every FLUX attention.
 *
 * <ol>
 *   <li><b>Projector, timestep-free half</b> ({@code CrossLayerCrossScaleProjector} up to its resampler,
 *       {@link #features}): the deep low-resolution tokens attend, through {@code num_layers} diffusers
 *       {@code BasicTransformerBlock}s each (LayerNorm eps 1e-6, self-attention, cross-attention, GEGLU
 *       feed-forward), once to the shallow-layer tokens ({@code cross_layer_blocks}) and once to the high-resolution
 *       tiles' tokens ({@code cross_scale_blocks}); each result goes through a timm {@code Mlp} (Linear, gelu-tanh,
 *       Linear), and {@code H = cat([proj(deep) + crossScale, crossLayer], tokens)}. H depends only on the image, so a
 *       caller computes it once per request (the reference recomputes it every step, with the same result).</li>
 *   <li><b>Resampler</b> ({@code TimeResampler}, {@link #subjectTokens}): a Perceiver whose {@code num_queries}
 *       learned latents attend to [proj_in(H) + temb, latents] in {@code depth} layers, with the timestep embedding
 *       temb ({@code Timesteps}, cos first, then Linear–SiLU–Linear) modulating (shift, scale) the latents before each
 *       attention and after each feed-forward LayerNorm (eps 1e-5); {@code E = norm_out(proj_out(latents))}.</li>
 *   <li><b>IP processors</b> ({@code FluxIPAttnProcessor}, one per FLUX attention in diffusers'
 *       {@code attn_processors} order: double-stream blocks, then single-stream blocks; {@link #attentionHook}): the
 *       image tokens' raw query {@code to_q(x̂)} (before FLUX's QK norm and RoPE) attends to
 *       {@code to_k_ip(E)}, {@code to_v_ip(E)}, query and key each normed per head by the processor's own RMS norm
 *       {@code scale · x / (‖x‖/√d + 1e-6)} (eps outside the root, unlike torch's), and
 *       {@code scale · SDPA(...)} is added to the image tokens' attention output.</li>
 * </ol>
 *
 * <p>Activations are f32; weights stay in their stored dtype (the published checkpoint is bf16). The reference runs
 * the whole adapter in bf16; this class does not reproduce that rounding, except that the caller passes the projector
 * timestep already rounded to bf16 as the reference pipeline does ({@code t.expand(B).to(bf16)}), since that rounding
 * sets the conditioning of a whole step.
 *
 * <p>Checkpoint: {@code instantcharacter_ip-adapter.bin}, a {@code torch.save} zip of
 * {@code {"image_proj": projector state dict, "ip_adapter": processors state dict}}, read here with the keys flattened
 * to {@code image_proj.…} and {@code ip_adapter.<layer>.…}; a {@code .safetensors} file with those keys works too.
 * Every tensor the architecture needs must be present with its shape (the reference loads with {@code strict=False}
 * and would silently leave missing ones random). {@link #create} takes the same keys from any other source (a
 * {@link FluxTransformer.Parameters}, e.g. the benchmark's weights generated on the GPU).
 */
public final class InstantCharacterAdapter implements AutoCloseable {
    /** The published checkpoint's file name. */
    public static final String CHECKPOINT_FILE = "instantcharacter_ip-adapter.bin";
    /** The LayerNorm eps of the projector's BasicTransformerBlocks. */
    private static final float BLOCK_EPS = 1e-6f;
    /** The LayerNorm eps of the resampler ({@code nn.LayerNorm}'s default). */
    private static final float RESAMPLER_EPS = 1e-5f;
    /** The eps of the processors' RMS norms, added to the root mean square. */
    private static final float IP_NORM_EPS = 1e-6f;
    /** The feed-forward width multiplier of diffusers' BasicTransformerBlock ({@code ff_inner_dim=None}). */
    private static final int BLOCK_FF_MULT = 4;

    /**
     * The adapter's architecture, as our {@code config.json} gives it (one flat object; the published checkpoint comes
     * without one). {@code inner_dim} … {@code timestep_freq_shift} are the {@code CrossLayerCrossScaleProjector}
     * constructor arguments; {@code ip_hidden_size} and {@code ip_hidden_states_dim} the {@code FluxIPAttnProcessor}
     * arguments; {@code ip_head_dim} the processors' RMS norm size, which is the FLUX head dim (so the processors split
     * into {@code ip_hidden_size / ip_head_dim} heads, FLUX's); {@code num_processors} how many there are, one per FLUX
     * attention. A field left out takes its published value.
     */
    public record Config(int innerDim, int numAttentionHeads, int attentionHeadDim, int crossAttentionDim,
                         int numLayers, int dim, int depth, int dimHead, int heads, int numQueries, int embeddingDim,
                         int outputDim, double ffMult, int timestepInDim, boolean timestepFlipSinToCos,
                         double timestepFreqShift, int ipHiddenSize, int ipHiddenStatesDim, int ipHeadDim,
                         int numProcessors) {

        /**
         * The published adapter as the reference pipeline builds it ({@code init_ccp_and_attn_processor} with
         * {@code nb_token=1024}, on FLUX.1-dev: 24 heads × 128, 19 + 38 blocks, T5-XXL width 4096).
         */
        public static final Config PUBLISHED = new Config(2688, 42, 64, 2688, 4, 1280, 4, 64, 20, 1024, 2688, 4096, 4,
                320, true, 0, 3072, 4096, 128, 57);

        public Config {
            int[] sizes = {innerDim, numAttentionHeads, attentionHeadDim, crossAttentionDim, numLayers, dim, depth,
                    dimHead, heads, numQueries, embeddingDim, outputDim, timestepInDim, ipHiddenSize,
                    ipHiddenStatesDim, ipHeadDim, numProcessors};
            if (Arrays.stream(sizes).anyMatch(v -> v <= 0) || !(ffMult > 0) || (int) (dim * ffMult) <= 0) {
                throw new IllegalArgumentException("InstantCharacter config: every size must be positive, got "
                        + Arrays.toString(sizes) + ", ff_mult " + ffMult);
            }
            if (innerDim != embeddingDim) {
                throw new IllegalArgumentException("InstantCharacter config: inner_dim " + innerDim
                        + " must equal embedding_dim " + embeddingDim + " (the resampler reads the projector's tokens)");
            }
            if (ipHiddenStatesDim != outputDim) {
                throw new IllegalArgumentException("InstantCharacter config: ip_hidden_states_dim "
                        + ipHiddenStatesDim + " must equal the resampler's output_dim " + outputDim);
            }
            if (ipHiddenSize % ipHeadDim != 0) {
                throw new IllegalArgumentException("InstantCharacter config: ip_hidden_size " + ipHiddenSize
                        + " must be a multiple of ip_head_dim " + ipHeadDim);
            }
        }

        /** Reads our {@code config.json}; an inconsistency is an error naming the file. */
        public static Config from(ModelConfig c) {
            Config p = PUBLISHED;
            try {
                return new Config(c.integer("inner_dim", p.innerDim),
                        c.integer("num_attention_heads", p.numAttentionHeads),
                        c.integer("attention_head_dim", p.attentionHeadDim),
                        c.integer("cross_attention_dim", p.crossAttentionDim), c.integer("num_layers", p.numLayers),
                        c.integer("dim", p.dim), c.integer("depth", p.depth), c.integer("dim_head", p.dimHead),
                        c.integer("heads", p.heads), c.integer("num_queries", p.numQueries),
                        c.integer("embedding_dim", p.embeddingDim), c.integer("output_dim", p.outputDim),
                        c.number("ff_mult", p.ffMult), c.integer("timestep_in_dim", p.timestepInDim),
                        c.bool("timestep_flip_sin_to_cos", p.timestepFlipSinToCos),
                        c.number("timestep_freq_shift", p.timestepFreqShift),
                        c.integer("ip_hidden_size", p.ipHiddenSize),
                        c.integer("ip_hidden_states_dim", p.ipHiddenStatesDim), c.integer("ip_head_dim", p.ipHeadDim),
                        c.integer("num_processors", p.numProcessors));
            } catch (IllegalArgumentException e) {
                throw e.getMessage().startsWith("InstantCharacter config:")
                        ? new IllegalArgumentException(c.file() + ": " + e.getMessage(), e) : e;
            }
        }

        /** The heads the processors split into: FLUX's, {@code ip_hidden_size / ip_head_dim}. */
        public int ipNumAttentionHeads() {
            return ipHiddenSize / ipHeadDim;
        }

        /** The resampler's feed-forward width, {@code int(dim · ff_mult)}. */
        int resamplerFfDim() {
            return (int) (dim * ffMult);
        }
    }

    private record Linear(Tensor weight, Tensor bias) {
        static Linear load(Parameters w, String name, int out, int in, boolean bias) {
            return new Linear(w.get(name + ".weight", out, in), bias ? w.get(name + ".bias", out) : null);
        }
    }

    private record Norm(Tensor weight, Tensor bias) {
        static Norm load(Parameters w, String name, int width) {
            return new Norm(w.get(name + ".weight", width), w.get(name + ".bias", width));
        }
    }

    /** diffusers {@code Attention} as BasicTransformerBlock builds it: no q/k/v bias, {@code to_out.0} with bias. */
    private record Attention(Linear q, Linear k, Linear v, Linear out) {
        static Attention load(Parameters w, String name, int queryDim, int contextDim, int inner) {
            return new Attention(Linear.load(w, name + ".to_q", inner, queryDim, false),
                    Linear.load(w, name + ".to_k", inner, contextDim, false),
                    Linear.load(w, name + ".to_v", inner, contextDim, false),
                    Linear.load(w, name + ".to_out.0", queryDim, inner, true));
        }
    }

    /** diffusers {@code BasicTransformerBlock(norm_type="layer_norm", activation_fn="geglu")}. */
    private record Block(Norm norm1, Attention attn1, Norm norm2, Attention attn2, Norm norm3, Linear geglu,
                         Linear ffOut) {
        static Block load(Parameters w, String name, Config c) {
            int d = c.innerDim();
            int inner = c.numAttentionHeads() * c.attentionHeadDim();
            int ff = BLOCK_FF_MULT * d;
            return new Block(Norm.load(w, name + ".norm1", d), Attention.load(w, name + ".attn1", d, d, inner),
                    Norm.load(w, name + ".norm2", d),
                    Attention.load(w, name + ".attn2", d, c.crossAttentionDim(), inner),
                    Norm.load(w, name + ".norm3", d), Linear.load(w, name + ".ff.net.0.proj", 2 * ff, d, true),
                    Linear.load(w, name + ".ff.net.2", d, ff, true));
        }
    }

    /** timm {@code Mlp}: fc1, gelu-tanh, fc2 (hidden width 2 × inner_dim). */
    private record Mlp(Linear fc1, Linear fc2) {
        static Mlp load(Parameters w, String name, int width) {
            return new Mlp(Linear.load(w, name + ".fc1", 2 * width, width, true),
                    Linear.load(w, name + ".fc2", width, 2 * width, true));
        }
    }

    /** One resampler layer: {@code PerceiverAttention}, {@code FeedForward}, and the AdaLN {@code Linear}. */
    private record ResamplerLayer(Norm norm1, Norm norm2, Linear toQ, Linear toKv, Linear toOut, Norm ffNorm,
                                  Linear ff1, Linear ff2, Linear adaLn) {
        static ResamplerLayer load(Parameters w, String name, Config c) {
            int d = c.dim();
            int inner = c.dimHead() * c.heads();
            int ff = c.resamplerFfDim();
            return new ResamplerLayer(Norm.load(w, name + ".0.norm1", d), Norm.load(w, name + ".0.norm2", d),
                    Linear.load(w, name + ".0.to_q", inner, d, false),
                    Linear.load(w, name + ".0.to_kv", 2 * inner, d, false),
                    Linear.load(w, name + ".0.to_out", d, inner, false), Norm.load(w, name + ".1.0", d),
                    Linear.load(w, name + ".1.1", ff, d, false), Linear.load(w, name + ".1.3", d, ff, false),
                    Linear.load(w, name + ".2.1", 4 * d, d, true));
        }
    }

    /** {@code FluxIPAttnProcessor}'s parameters. */
    private record Processor(Tensor normQ, Linear toK, Tensor normK, Linear toV) {
        static Processor load(Parameters w, String name, Config c) {
            return new Processor(w.get(name + ".norm_ip_q.scale", c.ipHeadDim()),
                    Linear.load(w, name + ".to_k_ip", c.ipHiddenSize(), c.ipHiddenStatesDim(), true),
                    w.get(name + ".norm_ip_k.scale", c.ipHeadDim()),
                    Linear.load(w, name + ".to_v_ip", c.ipHiddenSize(), c.ipHiddenStatesDim(), true));
        }
    }

    private final Config config;
    /** The checkpoint the parameters are mapped from, closed with the adapter; null for {@link #create}. */
    private final Weights weights;
    /** Where the parameters came from, for messages: the checkpoint's path, or "parameters given to create". */
    private final String source;
    private final Backend backend;
    private final List<Block> crossLayerBlocks;
    private final List<Block> crossScaleBlocks;
    private final Mlp proj;
    private final Mlp projCrossLayer;
    private final Mlp projCrossScale;
    private final Tensor latents;
    private final Linear projIn;
    private final Linear timeLinear1;
    private final Linear timeLinear2;
    private final List<ResamplerLayer> layers;
    private final Linear projOut;
    private final Norm normOut;
    private final List<Processor> processors;

    private InstantCharacterAdapter(Config c, Parameters all, Weights weights, String source, Backend backend) {
        this.config = c;
        this.weights = weights;
        this.source = source;
        this.backend = backend;
        Parameters p = child(all, "image_proj");
        this.crossLayerBlocks = blocks(p, "cross_layer_blocks", c);
        this.crossScaleBlocks = blocks(p, "cross_scale_blocks", c);
        this.proj = Mlp.load(p, "proj", c.innerDim());
        this.projCrossLayer = Mlp.load(p, "proj_cross_layer", c.innerDim());
        this.projCrossScale = Mlp.load(p, "proj_cross_scale", c.innerDim());
        Parameters r = child(p, "resampler");
        this.latents = r.get("latents", 1, c.numQueries(), c.dim());
        this.projIn = Linear.load(r, "proj_in", c.dim(), c.embeddingDim(), true);
        this.timeLinear1 = Linear.load(r, "time_embedding.linear_1", c.dim(), c.timestepInDim(), true);
        this.timeLinear2 = Linear.load(r, "time_embedding.linear_2", c.dim(), c.dim(), true);
        List<ResamplerLayer> rl = new ArrayList<>();
        for (int i = 0; i < c.depth(); i++) {
            rl.add(ResamplerLayer.load(r, "layers." + i, c));
        }
        this.layers = List.copyOf(rl);
        this.projOut = Linear.load(r, "proj_out", c.outputDim(), c.dim(), true);
        this.normOut = Norm.load(r, "norm_out", c.outputDim());
        Parameters ip = child(all, "ip_adapter");
        List<Processor> procs = new ArrayList<>();
        for (int i = 0; i < c.numProcessors(); i++) {
            procs.add(Processor.load(ip, String.valueOf(i), c));
        }
        this.processors = List.copyOf(procs);
    }

    /** The parameters under {@code name + "."}. */
    private static Parameters child(Parameters p, String name) {
        return (key, shape) -> p.get(name + "." + key, shape);
    }

    private static List<Block> blocks(Parameters w, String name, Config c) {
        List<Block> out = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            out.add(Block.load(w, name + "." + i, c));
        }
        return List.copyOf(out);
    }

    /**
     * Loads the adapter from a checkpoint file ({@code .bin} torch zip or {@code .safetensors}) or a folder holding
     * one. The architecture is our {@code config.json} in the same folder when there is one, else the published
     * {@link Config#PUBLISHED}. In a folder the weights are {@value #CHECKPOINT_FILE}, else
     * {@code instantcharacter_ip-adapter.safetensors}, else the folder's only {@code .bin}/{@code .safetensors} file.
     * The weights stay memory-mapped until {@link #close}.
     */
    public static InstantCharacterAdapter load(Path path, Backend backend) {
        Path file = Files.isDirectory(path) ? checkpointIn(path) : path;
        Path folder = file.toAbsolutePath().getParent();
        Path config = folder == null ? null : folder.resolve("config.json");
        return load(file, config != null && Files.isRegularFile(config) ? Config.from(ModelConfig.read(config))
                : Config.PUBLISHED, backend);
    }

    /** Loads the checkpoint file {@code file} with the architecture {@code config}. */
    public static InstantCharacterAdapter load(Path file, Config config, Backend backend) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": not a file (expected the InstantCharacter adapter checkpoint, "
                    + CHECKPOINT_FILE + " or a .safetensors with the same keys)");
        }
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (!name.endsWith(".bin") && !name.endsWith(".pt") && !name.endsWith(".pth")
                && !name.endsWith(".safetensors")) {
            throw new IllegalArgumentException(file + ": expected a torch .bin/.pt/.pth or a .safetensors checkpoint");
        }
        Weights weights = Weights.open(file, backend);
        try {
            if (!weights.has("image_proj.resampler.latents") && !weights.has("ip_adapter.0.to_k_ip.weight")) {
                throw new IllegalArgumentException(weights.path() + ": not an InstantCharacter adapter checkpoint (no "
                        + "'image_proj.resampler.latents' and no 'ip_adapter.0.to_k_ip.weight'; expected the keys of "
                        + "torch.save({\"image_proj\": ..., \"ip_adapter\": ...}))");
            }
            return new InstantCharacterAdapter(config, weights::get, weights, weights.path().toString(),
                    weights.backend());
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    /**
     * An adapter of architecture {@code config} computing on {@code backend}, its tensors taken from
     * {@code parameters} by checkpoint key ({@code image_proj.…}, {@code ip_adapter.<layer>.…}, as {@link #load}
     * reads them; each must have the shape asked for and live where {@code backend} computes), e.g. weights generated
     * on the device for a benchmark. The caller owns the tensors: {@link #close} releases nothing here.
     */
    public static InstantCharacterAdapter create(Config config, Backend backend, Parameters parameters) {
        return new InstantCharacterAdapter(config, parameters, null, "parameters given to create", backend);
    }

    private static Path checkpointIn(Path folder) {
        for (String name : List.of(CHECKPOINT_FILE, "instantcharacter_ip-adapter.safetensors")) {
            if (Files.isRegularFile(folder.resolve(name))) {
                return folder.resolve(name);
            }
        }
        List<Path> found;
        try (Stream<Path> files = Files.list(folder)) {
            found = files.filter(f -> {
                String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
                return Files.isRegularFile(f) && (n.endsWith(".bin") || n.endsWith(".safetensors"));
            }).sorted().toList();
        } catch (IOException e) {
            throw new IllegalArgumentException(folder + ": cannot list the adapter folder: " + e.getMessage(), e);
        }
        if (found.size() != 1) {
            throw new IllegalArgumentException(folder + ": expected " + CHECKPOINT_FILE + " (or one .bin/.safetensors "
                    + "checkpoint) in the adapter folder, found " + (found.isEmpty() ? "none" : found));
        }
        return found.get(0);
    }

    public Config config() {
        return config;
    }

    /**
     * Checks that the processors fit {@code flux}: one per attention (numLayers + numSingleLayers), the same width
     * and heads.
     */
    public void requireCompatible(FluxTransformer.Config flux) {
        int attentions = flux.numLayers() + flux.numSingleLayers();
        if (attentions != config.numProcessors() || flux.innerDim() != config.ipHiddenSize()
                || flux.numAttentionHeads() != config.ipNumAttentionHeads()) {
            throw new IllegalArgumentException("InstantCharacter adapter (" + source + ") has "
                    + config.numProcessors() + " processors of width " + config.ipHiddenSize() + " in "
                    + config.ipNumAttentionHeads() + " heads; the FLUX transformer has " + attentions
                    + " attentions (" + flux.numLayers() + " double + " + flux.numSingleLayers() + " single) of width "
                    + flux.innerDim() + " in " + flux.numAttentionHeads() + " heads");
        }
    }

    // ------------------------------------------------------------------ projector, timestep-free half

    /**
     * {@code CrossLayerCrossScaleProjector.forward} up to the resampler: H = cat([proj(deep) + crossScale,
     * crossLayer], tokens).
     *
     * @param lowResShallow SigLIP ⊕ DINOv2 shallow-layer tokens of the 384² image [B, 3·729, cross_attention_dim]
     * @param lowResDeep    their deep tokens [B, 729, inner_dim]
     * @param highResDeep   the deep tokens of the four 384² tiles of the 768² image [B, 4·729, cross_attention_dim]
     * @return H [B, 2·729, inner_dim], the resampler's input; it does not depend on the timestep
     */
    public Tensor features(Tensor lowResShallow, Tensor lowResDeep, Tensor highResDeep) {
        int batch = tokens("low_res_deep", lowResDeep, -1, config.innerDim());
        tokens("low_res_shallow", lowResShallow, batch, config.crossAttentionDim());
        tokens("high_res_deep", highResDeep, batch, config.crossAttentionDim());

        Tensor crossLayer = lowResDeep;
        for (Block b : crossLayerBlocks) {
            crossLayer = block(b, crossLayer, lowResShallow);
        }
        crossLayer = mlp(projCrossLayer, crossLayer);
        Tensor crossScale = lowResDeep;
        for (Block b : crossScaleBlocks) {
            crossScale = block(b, crossScale, highResDeep);
        }
        crossScale = mlp(projCrossScale, crossScale);
        Tensor h = backend.add(mlp(proj, lowResDeep), crossScale);
        return backend.cat(1, List.of(h, crossLayer));
    }

    /** {@code BasicTransformerBlock.forward(h, encoder_hidden_states=context)}. */
    private Tensor block(Block b, Tensor h, Tensor context) {
        Tensor n = backend.layerNorm(h, b.norm1().weight(), b.norm1().bias(), BLOCK_EPS);
        h = backend.add(attention(b.attn1(), n, n), h);
        n = backend.layerNorm(h, b.norm2().weight(), b.norm2().bias(), BLOCK_EPS);
        h = backend.add(attention(b.attn2(), n, context), h);
        n = backend.layerNorm(h, b.norm3().weight(), b.norm3().bias(), BLOCK_EPS);
        // GEGLU: the projection's first half times gelu (erf) of its second half
        List<Tensor> halves = linear(n, b.geglu()).chunk(2, -1);
        Tensor ff = linear(backend.mul(halves.get(0), backend.gelu(halves.get(1), false)), b.ffOut());
        return backend.add(ff, h);
    }

    /** diffusers {@code Attention} (AttnProcessor2_0): SDPA over heads, scale 1/√head_dim, no mask. */
    private Tensor attention(Attention a, Tensor x, Tensor context) {
        int heads = config.numAttentionHeads();
        Tensor q = Heads.split(linear(x, a.q()), heads);
        Tensor k = Heads.split(linear(context, a.k()), heads);
        Tensor v = Heads.split(linear(context, a.v()), heads);
        return linear(Heads.merge(backend.attention(q, k, v, null, 0f)), a.out());
    }

    private Tensor mlp(Mlp m, Tensor x) {
        return linear(backend.gelu(linear(x, m.fc1()), true), m.fc2());
    }

    // ------------------------------------------------------------------ resampler

    /**
     * {@code TimeResampler.embedding_time}: {@code TimestepEmbedding(Timesteps(t))} (sinusoids of
     * {@code timestep_in_dim} channels, cos first, then Linear–SiLU–Linear).
     *
     * @param timestep [B] f32 on the scheduler's 0..1000 scale (see {@link #subjectTokens})
     * @return temb [B, dim]
     */
    public Tensor timeEmbedding(Tensor timestep) {
        if (timestep.dim() != 1) {
            throw new IllegalArgumentException("InstantCharacter adapter: timestep must have shape [B], got "
                    + Arrays.toString(timestep.shape()));
        }
        Tensor sinusoids = backend.timestepEmbedding(timestep, config.timestepInDim(), config.timestepFlipSinToCos(),
                (float) config.timestepFreqShift(), 1f, 10000);
        return linear(backend.silu(linear(sinusoids, timeLinear1)), timeLinear2);
    }

    /**
     * {@code TimeResampler.forward(H, timestep)}: the subject tokens E for one denoising step.
     *
     * @param features H from {@link #features} [B, L, inner_dim]
     * @param timestep [B] (or [1], expanded to B as the reference does; or [N] for features of batch 1, giving E of
     *                 batch N, which the reference cannot do) f32: the scheduler's timestep on the 0..1000
     *                 scale (1000·σ, not σ), <b>already rounded to bf16 by the caller</b> as the reference pipeline
     *                 passes it ({@code t.expand(B).to(torch.bfloat16)}); the transformer gets its own t/1000
     * @return E [B, num_queries, output_dim]
     */
    public Tensor subjectTokens(Tensor features, Tensor timestep) {
        int batch = tokens("features", features, -1, config.embeddingDim());
        if (timestep.dim() != 1 || (timestep.size(0) != batch && timestep.size(0) != 1 && batch != 1)) {
            throw new IllegalArgumentException("InstantCharacter adapter: timestep must have shape [" + batch
                    + "] or [1] for features of batch " + batch + ", got " + Arrays.toString(timestep.shape()));
        }
        if (batch == 1 && timestep.size(0) > 1) {
            // one subject, several timesteps: the reference fails here (it expands the timesteps to H's batch)
            batch = timestep.size(0);
            features = features.expand(batch, features.size(1), features.size(2));
        }
        Tensor temb = timeEmbedding(timestep).expand(batch, config.dim());
        Tensor queries = latents.expand(batch, config.numQueries(), config.dim());
        Tensor x = backend.add(linear(features, projIn), temb.unsqueeze(1));
        Tensor act = backend.silu(temb);
        for (ResamplerLayer l : layers) {
            List<Tensor> m = linear(act, l.adaLn()).chunk(4, 1);
            Tensor shiftMsa = m.get(0).unsqueeze(1);
            Tensor scaleMsa = m.get(1).unsqueeze(1);
            Tensor shiftMlp = m.get(2).unsqueeze(1);
            Tensor scaleMlp = m.get(3).unsqueeze(1);
            queries = backend.add(perceiverAttention(l, x, queries, shiftMsa, scaleMsa), queries);
            Tensor f = modulate(backend.layerNorm(queries, l.ffNorm().weight(), l.ffNorm().bias(), RESAMPLER_EPS),
                    shiftMlp, scaleMlp);
            f = linear(backend.gelu(linear(f, l.ff1()), false), l.ff2());
            queries = backend.add(f, queries);
        }
        Tensor out = linear(queries, projOut);
        return backend.layerNorm(out, normOut.weight(), normOut.bias(), RESAMPLER_EPS);
    }

    /**
     * {@code PerceiverAttention(x, latents, shift, scale)}: the latents (normed, modulated) attend to
     * [norm1(x), latents]; softmax(q k^T / √dim_head), which the reference writes as (q·dim_head^-¼)(k·dim_head^-¼).
     */
    private Tensor perceiverAttention(ResamplerLayer l, Tensor x, Tensor latents, Tensor shift, Tensor scale) {
        Tensor xn = backend.layerNorm(x, l.norm1().weight(), l.norm1().bias(), RESAMPLER_EPS);
        Tensor ln = modulate(backend.layerNorm(latents, l.norm2().weight(), l.norm2().bias(), RESAMPLER_EPS), shift,
                scale);
        Tensor q = Heads.split(linear(ln, l.toQ()), config.heads());
        List<Tensor> kv = linear(backend.cat(1, List.of(xn, ln)), l.toKv()).chunk(2, -1);
        Tensor k = Heads.split(kv.get(0), config.heads());
        Tensor v = Heads.split(kv.get(1), config.heads());
        return linear(Heads.merge(backend.attention(q, k, v, null, 0f)), l.toOut());
    }

    /** {@code x * (1 + scale) + shift}. */
    private Tensor modulate(Tensor x, Tensor shift, Tensor scale) {
        return backend.add(backend.mul(x, backend.affine(scale, 1f, 1f)), shift);
    }

    // ------------------------------------------------------------------ IP processors

    /**
     * The {@code FluxIPAttnProcessor}s for one step, as a {@link FluxTransformer.ImageAttentionHook}: attention
     * {@code layer} returns {@code attention + scale · SDPA(RMSNorm_q(query heads), RMSNorm_k(to_k_ip(E) heads),
     * to_v_ip(E) heads)}. Keys and values are computed when each layer asks (not kept: all layers' would take
     * 57 × 2 × 12.6 MB at 1024²). Scale 0 returns the attention unchanged (the reference adds 0·ip).
     *
     * <p>E of batch 1 serves latents of any batch (a larger latent batch reads the same keys and values, as the
     * reference's SDPA broadcasts them); otherwise E's batch must equal the latents'.
     *
     * @param subjectTokens E [1 or B, num_queries, output_dim] from {@link #subjectTokens}
     * @param scale         the subject scale ({@code subject_scale}, fal's {@code scale})
     */
    public FluxTransformer.ImageAttentionHook attentionHook(Tensor subjectTokens, float scale) {
        tokens("subject tokens", subjectTokens, -1, config.outputDim());
        check("subject tokens", subjectTokens, subjectTokens.size(0), config.numQueries(), config.outputDim());
        return (layer, query, attention) -> {
            if (layer < 0 || layer >= processors.size()) {
                throw new IllegalArgumentException("InstantCharacter adapter: attention layer " + layer + " has no "
                        + "processor (the adapter has " + processors.size() + "; check requireCompatible)");
            }
            tokens("query of layer " + layer, query, -1, config.ipHiddenSize());
            check("attention of layer " + layer, attention, query.shape());
            if (scale == 0f) {
                return attention;
            }
            int batch = query.size(0);
            int e = subjectTokens.size(0);
            if (e != 1 && e != batch) {
                throw new IllegalArgumentException("InstantCharacter adapter: subject tokens of batch " + e
                        + " cannot serve latents of batch " + batch + " (use batch 1 or " + batch + ")");
            }
            Processor p = processors.get(layer);
            int heads = config.ipNumAttentionHeads();
            Tensor q = ipNorm(Heads.split(query, heads), p.normQ());
            Tensor k = ipNorm(Heads.split(linear(subjectTokens, p.toK()), heads), p.normK());
            Tensor v = Heads.split(linear(subjectTokens, p.toV()), heads);
            if (e != batch) {
                k = k.expand(batch, k.size(1), k.size(2), k.size(3));
                v = v.expand(batch, v.size(1), v.size(2), v.size(3));
            }
            Tensor ip = Heads.merge(backend.attention(q, k, v, null, 0f));
            return backend.add(attention, backend.affine(ip, scale, 0f));
        };
    }

    /**
     * The processors' RMS norm ({@code models/norm_layer.py}) over each head: {@code scale · x / (rms(x) + eps)},
     * rms = ‖x‖₂ / √head_dim, with eps added outside the square root.
     */
    private Tensor ipNorm(Tensor x, Tensor scale) {
        int last = x.dim() - 1;
        Tensor rms = backend.sqrt(backend.mean(backend.mul(x, x), last, true));
        return backend.mul(scale, backend.div(x, backend.affine(rms, 1f, IP_NORM_EPS)));
    }

    private Tensor linear(Tensor x, Linear l) {
        return backend.linear(x, l.weight(), l.bias());
    }

    /** Checks {@code t} is [batch, tokens, width] (any batch if {@code batch} < 0); returns its batch. */
    private static int tokens(String name, Tensor t, int batch, int width) {
        if (t.dim() != 3 || (batch >= 0 && t.size(0) != batch) || t.size(2) != width) {
            throw new IllegalArgumentException("InstantCharacter adapter: " + name + " must have shape ["
                    + (batch >= 0 ? batch : "B") + ", tokens, " + width + "], got " + Arrays.toString(t.shape()));
        }
        return t.size(0);
    }

    private static void check(String name, Tensor t, int... shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException("InstantCharacter adapter: " + name + " must have shape "
                    + Arrays.toString(shape) + ", got " + Arrays.toString(t.shape()));
        }
    }

    /** Unmaps the checkpoint (nothing for an adapter made by {@link #create}). */
    @Override
    public void close() {
        if (weights != null) {
            weights.close();
        }
    }
}
