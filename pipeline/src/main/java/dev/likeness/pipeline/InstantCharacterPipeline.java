package dev.likeness.pipeline;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Dtypes;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.random.TorchGenerator;
import dev.likeness.models.AutoencoderKL;
import dev.likeness.models.ClipTextModel;
import dev.likeness.models.Dinov2Model;
import dev.likeness.models.FluxTransformer;
import dev.likeness.models.InstantCharacterAdapter;
import dev.likeness.models.SiglipVisionModel;
import dev.likeness.models.T5EncoderModel;
import dev.likeness.models.scheduler.FlowMatchEulerScheduler;
import dev.likeness.models.tokenizers.ClipTokenizer;
import dev.likeness.models.tokenizers.Encoding;
import dev.likeness.models.tokenizers.T5Tokenizer;
import dev.likeness.pipeline.image.SubjectImages;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * The InstantCharacter FLUX pipeline (the official {@code InstantCharacterFluxPipeline.__call__}, which extends
 * diffusers' {@code FluxPipeline}), step by step:
 *
 * <ol>
 *   <li>the prompt through CLIP-L (pooled output) and T5 (512 token states, no attention mask), and the negative
 *       prompt too when true classifier-free guidance is on;</li>
 *   <li>the subject image, already stretched to a square and cut into a 384² whole view and four 384² tiles of a
 *       768² view ({@link SubjectImages}), through SigLIP and DINOv2: deep and shallow hidden states
 *       ({@link #encodeSubject});</li>
 *   <li>the adapter's timestep-free half on those features, once per request (the reference recomputes it every
 *       step; the result is the same);</li>
 *   <li>seeded noise latents, 2×2-packed, and FLUX's shifted flow-matching schedule;</li>
 *   <li>per step: the subject tokens for this timestep, the transformer with the subject attention added in every
 *       block (at {@code scale}), optionally a negative pass, one Euler step;</li>
 *   <li>unpack, un-scale, VAE decode: images in [-1, 1].</li>
 * </ol>
 *
 * <p>Precision follows the reference run in the checkpoint's dtype: the timestep reaches the adapter rounded to the
 * transformer's dtype when that is bf16 or f16 (the transformer itself rounds its copy, see {@link FluxTransformer});
 * the noise is drawn in the text encoder's dtype, as diffusers does.
 */
public final class InstantCharacterPipeline implements AutoCloseable {
    /** The SigLIP hidden states the adapter reads beside the last one (outputs of layers 7, 13 and 26). */
    public static final int[] SIGLIP_SHALLOW_LAYERS = {7, 13, 26};
    /** The DINOv2 hidden states the adapter reads beside the last one (outputs of layers 9, 19 and 29). */
    public static final int[] DINOV2_SHALLOW_LAYERS = {9, 19, 29};
    /** The T5 sequence length FLUX.1-dev is run with. */
    public static final int MAX_SEQUENCE_LENGTH = 512;
    /** Output sizes are multiples of this (VAE downscale 8 × 2×2 latent packing). */
    public static final int SIZE_MULTIPLE = 16;

    /**
     * Everything the pipeline runs; closing the pipeline closes each model. The encoders are {@link Resident}s: the
     * text encoders are released once the prompt is encoded and the image encoders once the subject is, before the
     * denoising loop, so the loop's working set is the transformer, the adapter and the VAE.
     */
    public record Components(ClipTokenizer clipTokenizer, Resident<ClipTextModel> clip, T5Tokenizer t5Tokenizer,
                             Resident<T5EncoderModel> t5, FluxTransformer transformer, AutoencoderKL vae,
                             FlowMatchEulerScheduler scheduler, Resident<SiglipVisionModel> siglip,
                             Resident<Dinov2Model> dinov2, InstantCharacterAdapter adapter) {
    }

    /**
     * One generation.
     *
     * @param prompt         the prompt (CLIP and T5 both get it)
     * @param negativePrompt null or empty: no negative pass; else true classifier-free guidance against it
     * @param trueCfgScale   the true-CFG weight used with a negative prompt (diffusers' {@code true_cfg_scale}; the
     *                       negative pass only runs when this is above 1)
     * @param subject        the preprocessed subject image
     * @param width          output width, a multiple of {@link #SIZE_MULTIPLE}
     * @param height         output height, a multiple of {@link #SIZE_MULTIPLE}
     * @param scale          subject strength ({@code subject_scale}); 0 is plain FLUX
     * @param guidanceScale  FLUX's distilled guidance
     * @param steps          denoising steps
     * @param numImages      images generated together (one batch)
     * @param seed           the noise seed: torch's CPU generator seeded with it draws the noise ({@link TorchGenerator})
     */
    public record Request(String prompt, String negativePrompt, float trueCfgScale, SubjectImages subject, int width,
                          int height, float scale, float guidanceScale, int steps, int numImages, long seed) {
        public Request {
            if (prompt == null) {
                throw new IllegalArgumentException("prompt is required");
            }
            if (width <= 0 || height <= 0 || width % SIZE_MULTIPLE != 0 || height % SIZE_MULTIPLE != 0) {
                throw new IllegalArgumentException("width and height must be positive multiples of " + SIZE_MULTIPLE
                        + ", got " + width + "x" + height);
            }
            if (steps < 1) {
                throw new IllegalArgumentException("steps must be at least 1, got " + steps);
            }
            if (numImages < 1) {
                throw new IllegalArgumentException("numImages must be at least 1, got " + numImages);
            }
        }

        /** Whether a negative pass runs: a non-empty negative prompt and a true-CFG weight above 1. */
        public boolean trueCfg() {
            return negativePrompt != null && !negativePrompt.isEmpty() && trueCfgScale > 1f;
        }
    }

    /** What the caller hears while a request runs. */
    public interface Listener {
        /** Called once a phase ends ("text", "subject", "step 3/28", "decode") with its duration. */
        default void phase(String name, long nanos) {
        }

        /** Called after denoising step {@code step} (1-based) of {@code steps} with the packed latents. */
        default void step(int step, int steps, Tensor latents) {
        }
    }

    /**
     * The result: images [numImages, 3, height, width] in [-1, 1], the latents after every step (packed), the seed
     * used, and the time per phase in seconds.
     */
    public record Result(Tensor images, long seed, Map<String, Double> timings) {
    }

    /**
     * Optional extension points of a request, beyond the official pipeline. {@link #NONE} (or a null argument) runs
     * exactly the official pipeline.
     *
     * @param subjectLayerScale null: the subject attention runs at {@code Request.scale} in every attention layer;
     *                          else the scale of the subject attention in layer {@code l} (diffusers'
     *                          {@code attn_processors} order: double-stream blocks, then single-stream blocks) —
     *                          0 leaves that layer without the subject
     * @param tokenSets         further image-token sets (e.g. style references), each resampled by the same adapter
     *                          and added as its own attention in the layers its scale names
     * @param guidance          null, or a steering of the predicted clean latent at every step
     */
    public record Extensions(java.util.function.IntToDoubleFunction subjectLayerScale, List<TokenSet> tokenSets,
                             LatentGuidance guidance) {
        /** Nothing added: the official pipeline. */
        public static final Extensions NONE = new Extensions(null, List.of(), null);

        public Extensions {
            tokenSets = tokenSets == null ? List.of() : List.copyOf(tokenSets);
        }

        boolean none() {
            return subjectLayerScale == null && tokenSets.isEmpty() && guidance == null;
        }
    }

    /**
     * A set of images encoded like the subject (SigLIP + DINOv2 → the adapter's timestep-free projection), their
     * projections concatenated along the token axis (the adapter's Perceiver resampler reads any number of tokens
     * and returns its fixed number of queries), whose resampled tokens are attended in the layers where
     * {@code layerScale} is not 0, at that scale.
     *
     * @param name       for timings and messages (e.g. "style")
     * @param images     at least one preprocessed image
     * @param layerScale the attention scale per layer index (0 = not injected there)
     */
    public record TokenSet(String name, List<SubjectImages> images, java.util.function.IntToDoubleFunction layerScale) {
        public TokenSet {
            if (images == null || images.isEmpty()) {
                throw new IllegalArgumentException("token set '" + name + "' needs at least one image");
            }
            images = List.copyOf(images);
        }
    }

    /**
     * Steers sampling: called at every step with the clean latent the model predicts ({@code x̂0 = x_t − σ·v} for
     * flow matching), unpacked to [B, C, h, w] in the transformer's (scaled) latent space; returns the latent the
     * step should aim at instead (same shape). The velocity is then rewritten so that its prediction is that latent:
     * {@code v' = v + (x̂0 − x̂0')/σ}.
     */
    public interface LatentGuidance {
        /**
         * @param step  0-based step index
         * @param steps total steps
         * @param sigma the step's noise level σ (1 = pure noise)
         * @param clean the predicted clean latent [B, C, h, w]
         * @return the steered clean latent, same shape
         */
        Tensor steer(int step, int steps, float sigma, Tensor clean);
    }

    /** The subject features the adapter reads ({@code encode_image_emb}'s three tensors). */
    public record SubjectFeatures(Tensor lowResShallow, Tensor lowResDeep, Tensor highResDeep) {
    }

    private final Components c;
    private final Backend backend;
    private final ReentrantLock generation = new ReentrantLock(true);
    private final DType noiseDtype;

    public InstantCharacterPipeline(Components components, Backend backend) {
        this.c = components;
        this.backend = backend;
        check(components);
        this.noiseDtype = components.t5().get().storedDtype();
        releaseEncoders();
    }

    /** The models' widths must agree with each other; a mismatch names both sides. */
    private static void check(Components c) {
        FluxTransformer.Config flux = c.transformer().config();
        if (c.clip().get().config().hiddenSize() != flux.pooledProjectionDim()) {
            throw new IllegalArgumentException("CLIP text encoder width " + c.clip().get().config().hiddenSize()
                    + " does not match the transformer's pooled_projection_dim " + flux.pooledProjectionDim());
        }
        if (c.t5().get().config().dModel() != flux.jointAttentionDim()) {
            throw new IllegalArgumentException("T5 encoder width " + c.t5().get().config().dModel()
                    + " does not match the transformer's joint_attention_dim " + flux.jointAttentionDim());
        }
        if (flux.inChannels() != 4 * c.vae().config().latentChannels()) {
            throw new IllegalArgumentException("transformer in_channels " + flux.inChannels()
                    + " is not 4 × the VAE's latent_channels " + c.vae().config().latentChannels());
        }
        int siglipLayers = c.siglip().get().config().numHiddenLayers();
        int dinoLayers = c.dinov2().get().config().numHiddenLayers();
        if (siglipLayers < SIGLIP_SHALLOW_LAYERS[2] || dinoLayers < DINOV2_SHALLOW_LAYERS[2]) {
            throw new IllegalArgumentException("the adapter reads SigLIP hidden state " + SIGLIP_SHALLOW_LAYERS[2]
                    + " and DINOv2 hidden state " + DINOV2_SHALLOW_LAYERS[2] + ", but the encoders have "
                    + siglipLayers + " and " + dinoLayers + " layers");
        }
    }

    public Components components() {
        return c;
    }

    /** Runs one request; {@code cancelled} is polled between steps (a true answer throws CancellationException). */
    public Result generate(Request r, Listener listener, BooleanSupplier cancelled) {
        return generate(r, Extensions.NONE, listener, cancelled);
    }

    /**
     * Runs one request with {@link Extensions} (null = none, exactly {@link #generate(Request, Listener,
     * BooleanSupplier)}).
     */
    public Result generate(Request r, Extensions ext, Listener listener, BooleanSupplier cancelled) {
        generation.lock();
        try {
            return run(r, ext == null ? Extensions.NONE : ext, listener, cancelled);
        } finally {
            generation.unlock();
        }
    }

    /**
     * The lock {@link #generate} holds: one generation at a time per pipeline (the engine already uses every core
     * for one, and the encoders are mapped and released per phase). Fair and reentrant, so a caller may take it
     * first — e.g. to wait with {@code tryLock} while polling a cancellation — and then call {@link #generate}.
     */
    public ReentrantLock generationLock() {
        return generation;
    }

    private volatile LatentPreview latentPreview;

    /**
     * The latent-to-RGB approximation of this pipeline's VAE, for step previews ({@link Listener#step}); fitted on
     * first use (one small VAE decode) and kept.
     */
    public LatentPreview latentPreview() {
        LatentPreview p = latentPreview;
        if (p == null) {
            synchronized (this) {
                if (latentPreview == null) latentPreview = LatentPreview.fit(c.vae(), backend);
                p = latentPreview;
            }
        }
        return p;
    }

    private Result run(Request r, Extensions ext, Listener listener, BooleanSupplier cancelled) {
        Map<String, Double> timings = new LinkedHashMap<>();
        int batch = r.numImages();

        // 1. text: CLIP pooled + T5 states, repeated for every image
        long t0 = System.nanoTime();
        Tensor[] text = encodePrompt(r.prompt(), batch);
        Tensor[] negative = r.trueCfg() ? encodePrompt(r.negativePrompt(), batch) : null;
        c.clip().release();
        c.t5().release();
        Tensor textIds = backend.zeros(DType.F32, MAX_SEQUENCE_LENGTH, 3);
        timings.put("text", seconds(listener, "text", t0));
        checkCancelled(cancelled);

        // 2-3. subject: image encoders, then the adapter's timestep-free projection
        t0 = System.nanoTime();
        Tensor features = null;
        if (r.subject() != null) {
            SubjectFeatures f = encodeSubject(r.subject());
            features = c.adapter().features(f.lowResShallow(), f.lowResDeep(), f.highResDeep());
        }
        List<Tensor> setFeatures = new ArrayList<>();
        for (TokenSet set : ext.tokenSets()) {
            setFeatures.add(projectedFeatures(set.images()));
        }
        c.siglip().release();
        c.dinov2().release();
        timings.put("subject", seconds(listener, "subject", t0));
        checkCancelled(cancelled);

        // 4. noise and schedule
        t0 = System.nanoTime();
        int latentH = 2 * (r.height() / SIZE_MULTIPLE);
        int latentW = 2 * (r.width() / SIZE_MULTIPLE);
        int channels = c.transformer().config().inChannels() / 4;
        Tensor noise = TorchGenerator.randn(backend, r.seed(), noiseDtype(), batch, channels, latentH, latentW);
        Tensor latents = FluxTransformer.packLatents(noise);
        Tensor imageIds = FluxTransformer.imageIds(backend, latentH / 2, latentW / 2);
        FlowMatchEulerScheduler.Schedule schedule = c.scheduler().fluxSchedule(r.steps(), r.height(), r.width());
        Tensor guidance = c.transformer().config().guidanceEmbeds()
                ? backend.fromFloats(filled(batch, r.guidanceScale()), batch) : null;

        // 5. denoising loop
        DType adapterDtype = noiseDtype();  // the latents' dtype
        long loop = System.nanoTime();
        for (int i = 0; i < schedule.steps(); i++) {
            checkCancelled(cancelled);
            long ts = System.nanoTime();
            float t = schedule.timesteps()[i];
            // the pipeline casts t to the latents' dtype, then hands the adapter that value and the transformer t/1000
            float tAdapter = round(t, adapterDtype);
            FluxTransformer.ImageAttentionHook hook = null;
            Tensor tAdapterTensor = backend.fromFloats(new float[] {tAdapter}, 1);
            if (ext.none()) {
                if (features != null) {
                    Tensor tokens = c.adapter().subjectTokens(features, tAdapterTensor);
                    hook = c.adapter().attentionHook(tokens, r.scale());
                }
            } else {
                List<LayerScaledHook> hooks = new ArrayList<>();
                if (features != null) {
                    java.util.function.IntToDoubleFunction s = ext.subjectLayerScale() != null
                            ? ext.subjectLayerScale() : layer -> r.scale();
                    hooks.add(new LayerScaledHook(c.adapter().subjectTokens(features, tAdapterTensor), s));
                }
                for (int k = 0; k < setFeatures.size(); k++) {
                    hooks.add(new LayerScaledHook(c.adapter().subjectTokens(setFeatures.get(k), tAdapterTensor),
                            ext.tokenSets().get(k).layerScale()));
                }
                hook = composite(hooks);
            }
            Tensor timestep = backend.fromFloats(filled(batch, tAdapter / 1000f), batch);
            Tensor noisePred = c.transformer().forward(latents, text[1], text[0], timestep, guidance, imageIds,
                    textIds, hook).sample();
            if (negative != null) {
                Tensor negPred = c.transformer().forward(latents, negative[1], negative[0], timestep, guidance,
                        imageIds, textIds, hook).sample();
                // neg + s·(pos − neg)
                noisePred = backend.add(negPred,
                        backend.affine(backend.sub(noisePred, negPred), r.trueCfgScale(), 0f));
            }
            if (ext.guidance() != null && schedule.sigmas()[i] > 0f) {
                noisePred = guide(ext.guidance(), i, schedule, latents, noisePred, latentH, latentW);
            }
            latents = schedule.step(backend, i, latents, noisePred);
            listener.step(i + 1, schedule.steps(), latents);
            listener.phase("step " + (i + 1) + "/" + schedule.steps(), System.nanoTime() - ts);
        }
        timings.put("denoise", (System.nanoTime() - loop) / 1e9);

        // 6. decode
        checkCancelled(cancelled);
        t0 = System.nanoTime();
        Tensor unpacked = FluxTransformer.unpackLatents(latents, latentH, latentW);
        Tensor images = c.vae().decode(c.vae().unscaleLatents(unpacked));
        timings.put("decode", seconds(listener, "decode", t0));
        return new Result(images, r.seed(), timings);
    }

    /**
     * FluxPipeline {@code encode_prompt}: {pooled CLIP output [B, clipWidth], T5 last hidden state [B, 512,
     * t5Width]} for {@code batch} copies of the prompt (CLIP at 77 tokens, T5 at 512, both padded, T5 without mask).
     */
    public Tensor[] encodePrompt(String prompt, int batch) {
        Encoding clipIds = c.clipTokenizer().encode(prompt);
        Tensor pooled = c.clip().get().forward(backend.fromInts(clipIds.ids(), 1, clipIds.ids().length)).pooledOutput();
        Encoding t5Ids = c.t5Tokenizer().encode(prompt, MAX_SEQUENCE_LENGTH);
        Tensor states = c.t5().get().forward(backend.fromInts(t5Ids.ids(), 1, t5Ids.ids().length), null);
        return new Tensor[] {repeat(pooled, batch), repeat(states, batch)};
    }

    /**
     * {@code encode_image_emb}: SigLIP and DINOv2 on the whole view and the four tiles, concatenated along channels:
     * low-res shallow [1, 3·729, C] (three hidden states one after another), low-res deep [1, 729, C] and high-res
     * deep [1, 4·729, C] (the tiles' last states one after another), C = SigLIP width + DINOv2 width. DINOv2's class
     * token is dropped everywhere.
     */
    public SubjectFeatures encodeSubject(SubjectImages pixels) {
        SiglipVisionModel siglip = c.siglip().get();
        Dinov2Model dinov2 = c.dinov2().get();
        SiglipVisionModel.Output siglipLow = siglip.forward(pixels.siglipLow(), false);
        Dinov2Model.Output dinoLow = dinov2.forward(pixels.dinov2Low());
        Tensor lowDeep = backend.cat(2, List.of(siglipLow.lastHiddenState(), withoutClassToken(dinoLow
                .lastHiddenState())));
        Tensor lowShallow = backend.cat(2, List.of(
                backend.cat(1, pick(siglipLow.hiddenStates(), SIGLIP_SHALLOW_LAYERS, false)),
                backend.cat(1, pick(dinoLow.hiddenStates(), DINOV2_SHALLOW_LAYERS, true))));

        Tensor siglipHigh = siglip.forward(pixels.siglipHigh(), false).lastHiddenState();
        Tensor dinoHigh = withoutClassToken(dinov2.forward(pixels.dinov2High()).lastHiddenState());
        int tiles = siglipHigh.size(0);
        Tensor highDeep = backend.cat(2, List.of(tilesInSequence(siglipHigh, tiles), tilesInSequence(dinoHigh,
                tiles)));
        return new SubjectFeatures(lowShallow, lowDeep, highDeep);
    }

    /** The adapter's timestep-free projection of each image, concatenated along the token axis. */
    private Tensor projectedFeatures(List<SubjectImages> images) {
        List<Tensor> parts = new ArrayList<>();
        for (SubjectImages img : images) {
            SubjectFeatures f = encodeSubject(img);
            parts.add(c.adapter().features(f.lowResShallow(), f.lowResDeep(), f.highResDeep()));
        }
        return parts.size() == 1 ? parts.getFirst() : backend.cat(1, parts);
    }

    /** One token set's attention with its per-layer scale. */
    private record LayerScaledHook(Tensor tokens, java.util.function.IntToDoubleFunction scale) {
    }

    /**
     * Every token set's attention added in turn in each layer, each at its own scale for that layer (the adapter's
     * hook for a given scale is made once per step and scale).
     */
    private FluxTransformer.ImageAttentionHook composite(List<LayerScaledHook> sets) {
        List<Map<Float, FluxTransformer.ImageAttentionHook>> cache = new ArrayList<>();
        for (int k = 0; k < sets.size(); k++) {
            cache.add(new java.util.HashMap<>());
        }
        return (layer, query, attention) -> {
            Tensor out = attention;
            for (int k = 0; k < sets.size(); k++) {
                float s = (float) sets.get(k).scale().applyAsDouble(layer);
                if (s == 0f) {
                    continue;
                }
                LayerScaledHook set = sets.get(k);
                FluxTransformer.ImageAttentionHook h = cache.get(k).computeIfAbsent(s,
                        v -> c.adapter().attentionHook(set.tokens(), v));
                out = h.adjust(layer, query, out);
            }
            return out;
        };
    }

    /** {@code x̂0 = x − σ·v}, steered, then {@code v' = v + (x̂0 − x̂0')/σ}. */
    private Tensor guide(LatentGuidance g, int i, FlowMatchEulerScheduler.Schedule schedule, Tensor latents,
                         Tensor velocity, int latentH, int latentW) {
        float sigma = schedule.sigmas()[i];
        Tensor clean = backend.sub(latents, backend.affine(velocity, sigma, 0f));
        Tensor unpacked = backend.contiguous(FluxTransformer.unpackLatents(clean, latentH, latentW));
        Tensor steered = g.steer(i, schedule.steps(), sigma, unpacked);
        Tensor delta = backend.sub(clean, backend.contiguous(FluxTransformer.packLatents(steered)));
        return backend.add(velocity, backend.affine(delta, 1f / sigma, 0f));
    }

    /** '(b n) l c -> b (n l) c' for one image: the tiles' token lists one after another. */
    private Tensor tilesInSequence(Tensor perTile, int tiles) {
        Tensor contiguous = backend.contiguous(perTile);
        return contiguous.reshape(1, tiles * perTile.size(1), perTile.size(2));
    }

    private static Tensor withoutClassToken(Tensor states) {
        return states.narrow(1, 1, states.size(1) - 1);
    }

    private static List<Tensor> pick(List<Tensor> hiddenStates, int[] layers, boolean dropClassToken) {
        List<Tensor> out = new ArrayList<>();
        for (int layer : layers) {
            Tensor h = hiddenStates.get(layer);
            out.add(dropClassToken ? withoutClassToken(h) : h);
        }
        return out;
    }

    /** diffusers draws the noise in the prompt embeddings' dtype, which is the T5 checkpoint's. */
    private DType noiseDtype() {
        return noiseDtype;
    }

    /** Unmaps the encoders that are not kept resident (before denoising, and between requests). */
    private void releaseEncoders() {
        c.clip().release();
        c.t5().release();
        c.siglip().release();
        c.dinov2().release();
    }

    private static float round(float v, DType dtype) {
        return switch (dtype) {
            case BF16 -> Dtypes.bf16ToF32(Dtypes.f32ToBf16(v));
            case F16 -> Dtypes.f16ToF32(Dtypes.f32ToF16(v));
            default -> v;
        };
    }

    private Tensor repeat(Tensor t, int batch) {
        if (batch == 1) {
            return t;
        }
        int[] shape = t.shape().clone();
        shape[0] = batch;
        return backend.contiguous(t.expand(shape));
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    private static double seconds(Listener listener, String phase, long start) {
        long nanos = System.nanoTime() - start;
        listener.phase(phase, nanos);
        return nanos / 1e9;
    }

    private static void checkCancelled(BooleanSupplier cancelled) {
        if (cancelled != null && cancelled.getAsBoolean()) {
            throw new CancellationException("cancelled");
        }
    }

    @Override
    public void close() {
        c.clip().close();
        c.t5().close();
        c.transformer().close();
        c.vae().close();
        c.siglip().close();
        c.dinov2().close();
        c.adapter().close();
    }
}
