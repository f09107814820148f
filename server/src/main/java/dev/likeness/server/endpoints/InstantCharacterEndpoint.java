package dev.likeness.server.endpoints;

import dev.likeness.engine.Backend;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.Tensor;
import dev.likeness.pipeline.ImageSize;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.image.ImageDecoder;
import dev.likeness.pipeline.image.InvalidImageException;
import dev.likeness.pipeline.image.OutputImages;
import dev.likeness.pipeline.image.RgbImage;
import dev.likeness.pipeline.image.SubjectImages;
import dev.likeness.server.Charge;
import dev.likeness.server.Endpoint;
import dev.likeness.server.EndpointException;
import dev.likeness.server.InputError;
import dev.likeness.server.InstantCharacterInput;
import dev.likeness.server.Json;
import dev.likeness.server.OpenApi;
import dev.likeness.server.RunContext;
import java.security.SecureRandom;
import java.util.List;
import dev.likeness.pipeline.safety.SafetyCheck;
import dev.likeness.pipeline.safety.SafetyChecker;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.ReentrantLock;

/**
 * {@code fal-ai/instant-character} on the real pipeline: one reference image and a prompt in, images of that
 * character out, with fal's input schema ({@link InstantCharacterInput}) and output schema ({@code images},
 * {@code timings}, {@code seed}, {@code has_nsfw_concepts}, {@code prompt}).
 *
 * <p>A run: read {@code image_url} (data URI, our file URL or http(s), with the server's limits) → decode it
 * ({@link ImageDecoder}; a file that is not a usable image is fal's 422 {@code image_load_error} on
 * {@code image_url}, one over the pixel limit {@code image_too_large}) → {@link SubjectImages} →
 * {@link InstantCharacterPipeline#generate} at the requested size rounded down to multiples of 16
 * ({@link ImageSize#rounded()}; the response reports the size the images have) with the given seed or a random one
 * (returned), true classifier-free guidance at scale {@value #TRUE_CFG_SCALE} when {@code negative_prompt} is not
 * empty → JPEG or PNG ({@link OutputImages}) stored through the {@link RunContext} ({@code sync_mode}: data URIs).
 * Each phase is logged, each denoising step is a progress line ({@code step i/N}), and a cancel stops the run
 * between steps.
 *
 * <p>One pipeline serves the process; its generation runs one request at a time (the engine already uses every core
 * for one request), so with several workers the others fetch and decode their inputs meanwhile and then wait.
 * With {@code enable_safety_checker} (the default) the images go through the server's {@link SafetyChecker}
 * (nsfwjs by default, the Stable Diffusion checker when its weights are configured): a flagged image is replaced by a
 * black one of the same size and flagged true in {@code has_nsfw_concepts}; the log names the checker and
 * {@code timings.safety_checker} its time. Off: nothing is checked and every flag is false.
 */
public final class InstantCharacterEndpoint implements Endpoint {
    /** The true-CFG weight used against a non-empty {@code negative_prompt} (the endpoint has no field for it). */
    public static final float TRUE_CFG_SCALE = 4f;
    /** USD per billed megapixel. */
    public static final double PRICE_PER_MEGAPIXEL = 0.10;
    /** Pixels of one billed megapixel (fal counts 1024 × 1024 as one). */
    public static final long MEGAPIXEL = 1024L * 1024L;
    private static final ObjectNode SCHEMAS = OpenApi.resource("instant-character.json");

    private final InstantCharacterPipeline pipeline;
    private final Backend backend;
    private final ImageDecoder decoder;
    private final ReentrantLock generation = new ReentrantLock(true);
    private final SafetyChecker safetyChecker;
    private final SecureRandom random = new SecureRandom();

    /**
     * @param pipeline  the loaded pipeline (owned by the caller, who closes it after the server)
     * @param backend   the backend the pipeline was loaded with (for the subject image tensors)
     * @param maxPixels largest reference image accepted, in pixels (decompression-bomb limit)
     */
    public InstantCharacterEndpoint(InstantCharacterPipeline pipeline, Backend backend, long maxPixels,
                                    SafetyChecker safetyChecker) {
        this.pipeline = pipeline;
        this.backend = backend;
        this.decoder = new ImageDecoder(ImageDecoder.DEFAULT_MAX_BYTES, maxPixels);
        this.safetyChecker = safetyChecker;
    }

    /** With the decoder's default pixel limit ({@link ImageDecoder#DEFAULT_MAX_PIXELS}). */
    public InstantCharacterEndpoint(InstantCharacterPipeline pipeline, Backend backend,
                                    SafetyChecker safetyChecker) {
        this(pipeline, backend, ImageDecoder.DEFAULT_MAX_PIXELS, safetyChecker);
    }

    /**
     * Waits until no generation is running (at most {@code timeout}) and keeps new ones from starting; true when the
     * pipeline may then be closed. A generation is stopped between denoising steps, and one step of a real model on a
     * CPU can take minutes: closing the pipeline under it would unmap weights still in use.
     */
    public boolean awaitIdle(java.time.Duration timeout) throws InterruptedException {
        return generation.tryLock(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    @Override
    public String id() {
        return InstantCharacterInput.ENDPOINT_ID;
    }

    @Override
    public JsonNode validate(JsonNode input) throws InputError {
        return InstantCharacterInput.parse(input).toJson();
    }

    @Override
    public JsonNode run(JsonNode validatedInput, RunContext ctx) throws Exception {
        long start = System.nanoTime();
        InstantCharacterInput in = InstantCharacterInput.parse(validatedInput);
        ImageSize size = runSize(in, ctx);

        byte[] bytes = ctx.readInputFile("image_url", in.imageUrl());
        RgbImage reference = decode(bytes);
        ctx.log(String.format(Locale.ROOT, "reference image %dx%d (%d bytes)", reference.width(), reference.height(),
                bytes.length));
        ctx.checkCancelled();

        long seed = in.seed() != null ? in.seed() : random.nextInt() & 0x7fffffff;
        boolean trueCfg = !in.negativePrompt().isEmpty();
        if (trueCfg) ctx.log("negative prompt given: true classifier-free guidance at scale " + TRUE_CFG_SCALE);

        InstantCharacterPipeline.Result result;
        if (!generation.tryLock()) {
            ctx.log("waiting for the pipeline (another request is generating)");
            while (!generation.tryLock(200, java.util.concurrent.TimeUnit.MILLISECONDS)) ctx.checkCancelled();
        }
        try {
            ctx.checkCancelled();
            SubjectImages subject = SubjectImages.of(reference, backend);
            InstantCharacterPipeline.Request request = new InstantCharacterPipeline.Request(in.prompt(),
                    in.negativePrompt(), TRUE_CFG_SCALE, subject, size.width(), size.height(), (float) in.scale(),
                    (float) in.guidanceScale(), in.numInferenceSteps(), in.numImages(), seed);
            ctx.log(String.format(Locale.ROOT, "generating %d image(s) %s, %d steps, seed %d", in.numImages(), size,
                    in.numInferenceSteps(), seed));
            result = pipeline.generate(request, new Listener(ctx, pipeline, backend, size), ctx::cancelled);
        } catch (CancellationException e) {
            throw EndpointException.cancelled();
        } finally {
            generation.unlock();
        }

        SafetyCheck.Outcome safety = SafetyCheck.run(safetyChecker, OutputImages.toImages(result.images()),
                in.enableSafetyChecker());
        List<RgbImage> images = safety.images();
        if (in.enableSafetyChecker()) {
            long flagged = safety.hasNsfwConcepts().stream().filter(f -> f).count();
            ctx.log(String.format(Locale.ROOT, "safety checker %s: %d of %d image(s) flagged%s (%.2f s)",
                    safety.checker(), flagged, images.size(), flagged > 0 ? ", replaced by black images" : "",
                    safety.seconds()));
        } else {
            ctx.log("safety checker off (enable_safety_checker=false)");
        }
        boolean png = in.outputFormat().equals("png");
        ObjectNode out = Json.object();
        ArrayNode array = out.putArray("images");
        ArrayNode nsfw = Json.array();
        for (RgbImage image : images) {
            byte[] encoded = png ? OutputImages.png(image) : OutputImages.jpeg(image);
            array.add(ctx.storeImage(encoded, in.outputContentType(), image.width(), image.height(), in.syncMode()));
        }
        for (boolean f : safety.hasNsfwConcepts()) nsfw.add(f);
        ObjectNode timings = out.putObject("timings");
        for (Map.Entry<String, Double> t : result.timings().entrySet()) timings.put(t.getKey(), t.getValue());
        if (in.enableSafetyChecker()) timings.put("safety_checker", safety.seconds());
        timings.put("inference", (System.nanoTime() - start) / 1e9);
        out.put("seed", seed);
        out.set("has_nsfw_concepts", nsfw);
        out.put("prompt", in.prompt());
        return out;
    }

    /**
     * fal's price: $0.10 per megapixel of output ({@code shared/spec/000_…}: "$0.1 per megapixels"). Each image is
     * billed by rounding its size up to whole megapixels of 1024 × 1024 pixels — the rule fal states for its
     * megapixel-priced FLUX endpoints ("billed by rounding up to the nearest megapixel", a 1024×1024 image being one);
     * so {@code square_hd} is $0.10 per image, {@code 1024×1025} $0.20, and a small image still $0.10.
     */
    @Override
    public Charge charge(JsonNode validatedInput, JsonNode output) {
        double megapixels = 0;
        for (JsonNode img : output.path("images")) megapixels += megapixels(img.path("width").asInt(), img.path("height").asInt());
        return new Charge("megapixels", megapixels, PRICE_PER_MEGAPIXEL);
    }

    /** Billed megapixels of one image: {@code ceil(width · height / 2^20)}. */
    public static long megapixels(int width, int height) {
        long px = (long) width * height;
        return (px + MEGAPIXEL - 1) / MEGAPIXEL;
    }

    @Override
    public ObjectNode schemas() {
        return SCHEMAS.deepCopy();
    }

    /** The requested size rounded down to multiples of 16; sides below 16 are fal's 422 {@code image_too_small}. */
    private static ImageSize runSize(InstantCharacterInput in, RunContext ctx) {
        int w = in.width(), h = in.height();
        int min = ImageSize.MIN_SIDE;
        if (w < min || h < min) {
            ObjectNode c = Json.object().put("min_width", min).put("min_height", min);
            throw EndpointException.fieldError("image_size", "image_too_small", "Image size " + w + "x" + h
                    + " is too small: each side must be at least " + min + " pixels.", in.imageSize(), c);
        }
        ImageSize requested = new ImageSize(w, h);
        ImageSize rounded = requested.rounded();
        if (!rounded.equals(requested)) {
            ctx.log("size " + requested + " is not a multiple of 16; generating " + rounded);
        }
        return rounded;
    }

    private RgbImage decode(byte[] bytes) {
        try {
            return decoder.decode(bytes, "image_url");
        } catch (InvalidImageException e) {
            if (e.kind() == InvalidImageException.Kind.TOO_LARGE) {
                throw EndpointException.fieldError("image_url", "image_too_large", e.getMessage(), null, null);
            }
            throw EndpointException.fieldError("image_url", "image_load_error", "Failed to load the image: "
                    + e.getMessage(), null, null);
        }
    }

    /**
     * Phase timings as log lines, denoising steps as progress (which also stops a cancelled run), and, while a status
     * stream asks for them ({@link RunContext#previewsWanted()}), a step preview: the latents through the VAE's
     * latent-to-RGB approximation ({@link InstantCharacterPipeline#latentPreview()}), at most every
     * {@value #PREVIEW_EVERY_MS} ms and always at the last step.
     */
    static final long PREVIEW_EVERY_MS = 250;

    private static final class Listener implements InstantCharacterPipeline.Listener {
        private final RunContext ctx;
        private final InstantCharacterPipeline pipeline;
        private final Backend backend;
        private final ImageSize size;
        private long lastPreview;

        Listener(RunContext ctx, InstantCharacterPipeline pipeline, Backend backend, ImageSize size) {
            this.ctx = ctx;
            this.pipeline = pipeline;
            this.backend = backend;
            this.size = size;
        }

        @Override
        public void phase(String name, long nanos) {
            if (!name.startsWith("step")) {
                ctx.log(String.format(Locale.ROOT, "%s done in %.2f s", name, nanos / 1e9));
            }
        }

        @Override
        public void step(int step, int steps, Tensor latents) {
            long now = System.currentTimeMillis();
            if (ctx.previewsWanted() && (step == steps || now - lastPreview >= PREVIEW_EVERY_MS)) {
                lastPreview = now;
                ctx.preview(step, steps, OutputImages.png(
                        pipeline.latentPreview().image(latents, backend, size.width(), size.height())));
            }
            ctx.progress("step", step, steps);
        }
    }
}
