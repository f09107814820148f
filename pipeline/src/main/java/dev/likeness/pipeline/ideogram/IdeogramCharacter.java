package dev.likeness.pipeline.ideogram;

import dev.likeness.engine.Backend;
import dev.likeness.models.FluxTransformer;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.image.RgbImage;
import dev.likeness.pipeline.image.SubjectImages;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.IntToDoubleFunction;

/**
 * {@code fal-ai/ideogram/character} on the InstantCharacter engine: turns the endpoint's fields into one
 * {@link InstantCharacterPipeline} run with {@link InstantCharacterPipeline.Extensions}. See pipeline/README.md,
 * "fal-ai/ideogram/character", for each field's mechanism.
 *
 * <ul>
 *   <li>character reference (+ mask, {@link ReferenceMask}) → the subject, at the {@link Style}'s per-layer
 *       profile;</li>
 *   <li>style references or style codes ({@link StyleCode} swatches) → one more image-token set, encoded like the
 *       subject, attended only in the style layers ({@link StyleLayers}) at {@link #STYLE_STRENGTH};</li>
 *   <li>colour palette → {@link PaletteGuidance} with the VAE's fitted {@link LatentRgb} map;</li>
 *   <li>expand_prompt → {@link MagicPrompt}; style → its prompt cue too;</li>
 *   <li>rendering_speed → steps ({@link RenderingSpeed}); negative prompt → true CFG at {@link #TRUE_CFG_SCALE}.</li>
 * </ul>
 * With none of the extras (style AUTO, no style input, no palette) the run is exactly the InstantCharacter pipeline.
 */
public final class IdeogramCharacter {
    /** The per-group byte limit: 10 MB across all character references (masks included), and across all style references. */
    public static final long MAX_GROUP_BYTES = 10L * 1024 * 1024;
    /** The style token set's attention scale in the style layers. */
    public static final double STYLE_STRENGTH = 0.6;
    /** FLUX.1-dev's distilled guidance for every preset. */
    public static final float GUIDANCE_SCALE = 3.5f;
    /** The true-CFG weight used with a negative prompt (as instant-character). */
    public static final float TRUE_CFG_SCALE = 4f;

    /**
     * One request, fields already decoded.
     *
     * @param referenceMask null for none
     * @param styleImages   style references (may be empty)
     * @param styleCodes    may be empty; exclusive with style images and with a style other than AUTO
     * @param palette       null for none
     */
    public record Request(String prompt, String negativePrompt, RgbImage reference, RgbImage referenceMask,
                          List<RgbImage> styleImages, List<StyleCode> styleCodes, Style style, RenderingSpeed speed,
                          ColorPalette palette, boolean expandPrompt, int width, int height, int numImages, long seed) {
        public Request {
            if (prompt == null) {
                throw new IdeogramInputException("prompt", "is required");
            }
            if (reference == null) {
                throw new IdeogramInputException("reference_image_urls", "one character reference is required");
            }
            styleImages = styleImages == null ? List.of() : List.copyOf(styleImages);
            styleCodes = styleCodes == null ? List.of() : List.copyOf(styleCodes);
            style = style == null ? Style.AUTO : style;
            speed = speed == null ? RenderingSpeed.DEFAULT : speed;
            negativePrompt = negativePrompt == null ? "" : negativePrompt;
            requireCompatible(styleCodes.size(), style, styleImages.size());
        }
    }

    /** What a request becomes: the prompt the encoders read, the pipeline request and its extensions. */
    public record Plan(String prompt, InstantCharacterPipeline.Request request,
                       InstantCharacterPipeline.Extensions extensions) {
    }

    /** The images in [−1, 1] and the seed, with the plan that made them. */
    public record Result(InstantCharacterPipeline.Result result, Plan plan) {
    }

    private final InstantCharacterPipeline pipeline;
    private final Backend backend;
    private final StyleLayers layers;
    private LatentRgb colourMap;

    public IdeogramCharacter(InstantCharacterPipeline pipeline, Backend backend) {
        this.pipeline = pipeline;
        this.backend = backend;
        FluxTransformer.Config flux = pipeline.components().transformer().config();
        this.layers = new StyleLayers(flux.numLayers(), flux.numSingleLayers());
    }

    /** The pipeline this runs on. */
    public InstantCharacterPipeline pipeline() {
        return pipeline;
    }

    /** Which layers carry style on the loaded transformer. */
    public StyleLayers styleLayers() {
        return layers;
    }

    /** The loaded VAE's latent-to-RGB map, fitted on first use. */
    public synchronized LatentRgb colourMap() {
        if (colourMap == null) {
            colourMap = LatentRgb.fit(pipeline.components().vae(), backend);
        }
        return colourMap;
    }

    /**
     * The rules between fields: style codes cannot be combined with a style other than AUTO, nor with style
     * reference images (the schema: "Cannot be used in conjunction with style_reference_images or style").
     */
    public static void requireCompatible(int styleCodes, Style style, int styleImages) {
        if (styleCodes > 0 && style != Style.AUTO) {
            throw new IdeogramInputException("style_codes", "cannot be used together with style " + style
                    + "; leave style at AUTO or drop style_codes");
        }
        if (styleCodes > 0 && styleImages > 0) {
            throw new IdeogramInputException("style_codes", "cannot be used together with style reference images "
                    + "(image_urls); give one or the other");
        }
    }

    /** The 10 MB rule for one group of inputs (their sizes in bytes). */
    public static void requireGroupSize(String field, long totalBytes) {
        if (totalBytes > MAX_GROUP_BYTES) {
            throw new IdeogramInputException(field, "the files total " + totalBytes + " bytes; at most "
                    + MAX_GROUP_BYTES + " bytes (10 MB) are allowed across all of them");
        }
    }

    /** The prompt the text encoders read: the user's, MagicPrompt's detail if asked, the style's cue. */
    public static String finalPrompt(Request r) {
        String p = r.expandPrompt() ? MagicPrompt.expand(r.prompt(), r.style(), r.palette(), r.seed()) : r.prompt();
        if (!r.style().cue().isEmpty()) {
            p = p.isBlank() ? r.style().cue() : p + ", " + r.style().cue();
        }
        return p;
    }

    /** The pipeline run for {@code r}. */
    public Plan plan(Request r) {
        String prompt = finalPrompt(r);
        RgbImage reference = r.referenceMask() == null ? r.reference()
                : ReferenceMask.apply(r.reference(), r.referenceMask());
        InstantCharacterPipeline.Request request = new InstantCharacterPipeline.Request(prompt, r.negativePrompt(),
                TRUE_CFG_SCALE, SubjectImages.of(reference, backend), r.width(), r.height(), 1f, GUIDANCE_SCALE,
                r.speed().steps(), r.numImages(), r.seed());

        IntToDoubleFunction subjectScale = null;
        if (r.style().identityScale() != 1.0 || r.style().styleLayerScale() != 1.0) {
            Style s = r.style();
            subjectScale = layer -> layers.isStyle(layer) ? s.styleLayerScale() : s.identityScale();
        }
        List<InstantCharacterPipeline.TokenSet> sets = new ArrayList<>();
        List<SubjectImages> styleInputs = new ArrayList<>();
        for (RgbImage img : r.styleImages()) {
            styleInputs.add(SubjectImages.of(img, backend));
        }
        for (StyleCode code : r.styleCodes()) {
            styleInputs.add(SubjectImages.of(code.swatch(), backend));
        }
        if (!styleInputs.isEmpty()) {
            sets.add(new InstantCharacterPipeline.TokenSet("style", styleInputs,
                    layer -> layers.isStyle(layer) ? STYLE_STRENGTH : 0.0));
        }
        PaletteGuidance guidance = r.palette() == null ? null
                : new PaletteGuidance(colourMap(), r.palette(), PaletteGuidance.DEFAULT_STRENGTH, backend,
                        pipeline.components().vae(), PaletteGuidance.DEFAULT_REFITS);
        InstantCharacterPipeline.Extensions ext = subjectScale == null && sets.isEmpty() && guidance == null
                ? InstantCharacterPipeline.Extensions.NONE
                : new InstantCharacterPipeline.Extensions(subjectScale, sets, guidance);
        return new Plan(prompt, request, ext);
    }

    /** Plans and runs {@code r}. */
    public Result generate(Request r, InstantCharacterPipeline.Listener listener, BooleanSupplier cancelled) {
        Plan plan = plan(r);
        return new Result(pipeline.generate(plan.request(), plan.extensions(), listener, cancelled), plan);
    }
}
