package dev.likeness.server.endpoints;

import dev.likeness.engine.Backend;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.Tensor;
import dev.likeness.pipeline.ImageSize;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.ideogram.ColorPalette;
import dev.likeness.pipeline.ideogram.IdeogramCharacter;
import dev.likeness.pipeline.ideogram.IdeogramInputException;
import dev.likeness.pipeline.ideogram.RenderingSpeed;
import dev.likeness.pipeline.ideogram.Style;
import dev.likeness.pipeline.ideogram.StyleCode;
import dev.likeness.pipeline.image.ImageDecoder;
import dev.likeness.pipeline.image.InvalidImageException;
import dev.likeness.pipeline.image.OutputImages;
import dev.likeness.pipeline.image.RgbImage;
import dev.likeness.pipeline.safety.SafetyCheck;
import dev.likeness.pipeline.safety.SafetyChecker;
import dev.likeness.server.Charge;
import dev.likeness.server.Endpoint;
import dev.likeness.server.EndpointException;
import dev.likeness.server.IdeogramCharacterInput;
import dev.likeness.server.InputError;
import dev.likeness.server.Json;
import dev.likeness.server.OpenApi;
import dev.likeness.server.RunContext;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * {@code fal-ai/ideogram/character} on the InstantCharacter engine ({@link IdeogramCharacter}; each field's mechanism
 * is in pipeline/README.md, "fal-ai/ideogram/character"), with fal's input schema ({@link IdeogramCharacterInput}) and
 * output {@code {images: [File], seed}}.
 *
 * <p>A run: read every character reference and mask (10 MB in total across them) and every style reference (10 MB in
 * total), fal's 422 {@code file_too_large} on the group's field beyond that → decode the first reference, the first
 * mask and each style reference ({@link ImageDecoder}; an unreadable file is a 422 {@code image_load_error} naming its
 * field) → {@link IdeogramCharacter#generate} at the requested size rounded down to multiples of 16, with the seed
 * given or a random one (returned) → the server's safety checker on every image (a flagged image is replaced by a
 * black one, as fal serves them; the schema has no field to turn it off and Ideogram checks every image) → PNG images
 * stored through the {@link RunContext} (data URIs with {@code sync_mode}). One generation at a time per pipeline ({@link InstantCharacterPipeline#generationLock()}), so
 * this endpoint and instant-character can share one loaded pipeline; a waiting request still notices a cancel.
 *
 * <p>Price: $0.10 / $0.15 / $0.20 per image for TURBO / BALANCED / QUALITY ({@link RenderingSpeed#pricePerImage}).
 */
public final class IdeogramCharacterEndpoint implements Endpoint {
    private static final ObjectNode SCHEMAS = OpenApi.resource("ideogram-character.json");

    private final IdeogramCharacter ideogram;
    private final ImageDecoder decoder;
    private final ReentrantLock generation;
    private final SafetyChecker safetyChecker;
    private final SecureRandom random = new SecureRandom();

    /**
     * @param pipeline the loaded pipeline (owned by the caller; other endpoints may share it — generation is
     *                 serialized by its {@link InstantCharacterPipeline#generationLock()})
     * @param backend       the backend the pipeline was loaded with
     * @param safetyChecker the server's checker, run on every image (the endpoint has no field to turn it off); null:
     *                      none is loaded and the images are not checked
     */
    public IdeogramCharacterEndpoint(InstantCharacterPipeline pipeline, Backend backend,
                                     SafetyChecker safetyChecker) {
        this.ideogram = new IdeogramCharacter(pipeline, backend);
        this.decoder = new ImageDecoder();
        this.generation = pipeline.generationLock();
        this.safetyChecker = safetyChecker;
    }

    /**
     * Waits until no generation is running on the pipeline (at most {@code timeout}) and keeps new ones from
     * starting, on any endpoint sharing it; true when the pipeline may then be closed.
     */
    public boolean awaitIdle(java.time.Duration timeout) throws InterruptedException {
        return generation.tryLock(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public String id() {
        return IdeogramCharacterInput.ENDPOINT_ID;
    }

    @Override
    public JsonNode validate(JsonNode input) throws InputError {
        return IdeogramCharacterInput.parse(input).toJson();
    }

    @Override
    public JsonNode run(JsonNode validatedInput, RunContext ctx) throws Exception {
        IdeogramCharacterInput in = IdeogramCharacterInput.parse(validatedInput);
        ImageSize size = runSize(in, ctx);

        // inputs: every file of a group is read, so its 10 MB total is checked on what was sent
        List<byte[]> refs = readGroup(ctx, "reference_image_urls", in.referenceImageUrls(), 0);
        long refBytes = refs.stream().mapToLong(b -> b.length).sum();
        List<byte[]> masks = readGroup(ctx, "reference_mask_urls", in.referenceMaskUrls(), refBytes);
        List<byte[]> styles = readGroup(ctx, "image_urls", in.imageUrls(), 0);
        RgbImage reference = decode(refs.getFirst(), "reference_image_urls");
        RgbImage mask = masks.isEmpty() ? null : decode(masks.getFirst(), "reference_mask_urls");
        List<RgbImage> styleImages = new ArrayList<>();
        for (byte[] s : styles) styleImages.add(decode(s, "image_urls"));
        ctx.log(String.format(Locale.ROOT, "character reference %dx%d%s%s; %d style reference(s)", reference.width(),
                reference.height(), in.referenceImageUrls().size() > 1 ? " (only the first of "
                        + in.referenceImageUrls().size() + " is used)" : "", mask == null ? "" : ", masked",
                styleImages.size()));
        ctx.checkCancelled();

        long seed = in.seed() != null ? in.seed() : random.nextInt() & 0x7fffffff;
        List<StyleCode> codes = in.styleCodes().stream().map(StyleCode::parse).toList();
        IdeogramCharacter.Request request;
        try {
            request = new IdeogramCharacter.Request(in.prompt(), in.negativePrompt(), reference, mask, styleImages,
                    codes, Style.valueOf(in.style()), RenderingSpeed.valueOf(in.renderingSpeed()), palette(in),
                    in.expandPrompt(), size.width(), size.height(), in.numImages(), seed);
        } catch (IdeogramInputException e) {
            throw EndpointException.fieldError(e.field(), "value_error", e.reason(), null, null);
        }

        InstantCharacterPipeline.Result result;
        if (!generation.tryLock()) {
            ctx.log("waiting for the pipeline (another request is generating)");
            while (!generation.tryLock(200, TimeUnit.MILLISECONDS)) ctx.checkCancelled();
        }
        try {
            ctx.checkCancelled();
            IdeogramCharacter.Plan plan = ideogram.plan(request);
            ctx.log(String.format(Locale.ROOT, "generating %d image(s) %s, %s (%d steps), style %s, seed %d",
                    in.numImages(), size, in.renderingSpeed(), plan.request().steps(), in.style(), seed));
            if (in.expandPrompt()) ctx.log("MagicPrompt: " + plan.prompt());
            result = ideogram.pipeline().generate(plan.request(), plan.extensions(), new Listener(ctx), ctx::cancelled);
        } catch (CancellationException e) {
            throw EndpointException.cancelled();
        } finally {
            generation.unlock();
        }

        List<RgbImage> images = OutputImages.toImages(result.images());
        if (safetyChecker != null) {
            SafetyCheck.Outcome safety = SafetyCheck.run(safetyChecker, images, true);
            images = safety.images();
            long flagged = safety.hasNsfwConcepts().stream().filter(f -> f).count();
            ctx.log(String.format(Locale.ROOT, "safety checker %s: %d of %d image(s) flagged%s (%.2f s)",
                    safety.checker(), flagged, images.size(), flagged > 0 ? ", replaced by black images" : "",
                    safety.seconds()));
        } else {
            ctx.log(RunContext.Level.WARN, "no safety checker is loaded: the images were not checked");
        }
        ObjectNode out = Json.object();
        ArrayNode array = out.putArray("images");
        for (int i = 0; i < images.size(); i++) {
            array.add(ctx.storeFile(OutputImages.png(images.get(i)), "image/png", "image_" + i + ".png",
                    in.syncMode()));
        }
        out.put("seed", seed);
        return out;
    }

    /** Per image, by rendering speed: $0.10 TURBO, $0.15 BALANCED, $0.20 QUALITY. */
    @Override
    public Charge charge(JsonNode validatedInput, JsonNode output) {
        RenderingSpeed speed = RenderingSpeed.valueOf(validatedInput.path("rendering_speed").asText("BALANCED"));
        return new Charge("images", output.path("images").size(), speed.pricePerImage().doubleValue());
    }

    @Override
    public ObjectNode schemas() {
        return SCHEMAS.deepCopy();
    }

    private static ColorPalette palette(IdeogramCharacterInput in) {
        JsonNode p = in.colorPalette();
        if (p == null) return null;
        if (p.has("name")) return ColorPalette.preset(p.get("name").asText());
        List<ColorPalette.Member> members = new ArrayList<>();
        for (JsonNode m : p.get("members")) {
            JsonNode rgb = m.get("rgb");
            members.add(new ColorPalette.Member(rgb.get("r").asInt(), rgb.get("g").asInt(), rgb.get("b").asInt(),
                    m.get("color_weight").asDouble()));
        }
        return ColorPalette.of(members);
    }

    /** Reads a group's files; beyond 10 MB in total (with {@code already} bytes of the group read) a 422. */
    private static List<byte[]> readGroup(RunContext ctx, String field, List<String> urls, long already) {
        List<byte[]> out = new ArrayList<>();
        long total = already;
        for (String url : urls) {
            byte[] b = ctx.readInputFile(field, url);
            total += b.length;
            try {
                IdeogramCharacter.requireGroupSize(field, total);
            } catch (IdeogramInputException e) {
                throw EndpointException.fieldError(field, "file_too_large", e.reason(), null,
                        Json.object().put("max_size", IdeogramCharacter.MAX_GROUP_BYTES));
            }
            out.add(b);
        }
        return out;
    }

    private RgbImage decode(byte[] bytes, String field) {
        try {
            return decoder.decode(bytes, field);
        } catch (InvalidImageException e) {
            if (e.kind() == InvalidImageException.Kind.TOO_LARGE) {
                throw EndpointException.fieldError(field, "image_too_large", e.getMessage(), null, null);
            }
            throw EndpointException.fieldError(field, "image_load_error", "Failed to load the image: "
                    + e.getMessage(), null, null);
        }
    }

    /** The requested size rounded down to multiples of 16; sides below 16 are fal's 422 {@code image_too_small}. */
    private static ImageSize runSize(IdeogramCharacterInput in, RunContext ctx) {
        int w = in.width(), h = in.height();
        int min = ImageSize.MIN_SIDE;
        if (w < min || h < min) {
            ObjectNode c = Json.object().put("min_width", min).put("min_height", min);
            throw EndpointException.fieldError("image_size", "image_too_small", "Image size " + w + "x" + h
                    + " is too small: each side must be at least " + min + " pixels.", in.imageSize(), c);
        }
        ImageSize requested = new ImageSize(w, h);
        ImageSize rounded = requested.rounded();
        if (!rounded.equals(requested)) ctx.log("size " + requested + " is not a multiple of 16; generating " + rounded);
        return rounded;
    }

    /** Phase timings as log lines, denoising steps as progress. */
    private static final class Listener implements InstantCharacterPipeline.Listener {
        private final RunContext ctx;

        Listener(RunContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public void phase(String name, long nanos) {
            if (!name.startsWith("step")) ctx.log(String.format(Locale.ROOT, "%s done in %.2f s", name, nanos / 1e9));
        }

        @Override
        public void step(int step, int steps, Tensor latents) {
            ctx.progress("step", step, steps);
        }
    }
}
