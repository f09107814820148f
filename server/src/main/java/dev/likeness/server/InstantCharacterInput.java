package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * The validated input of {@code fal-ai/instant-character}, field for field as the endpoint's published schema
 * ({@code shared/spec/000_94ee34e19f9ad85c.txt}): names, defaults, ranges and enums are the contract.
 *
 * @param prompt              required
 * @param imageUrl            required; a {@code data:} URI, a file of this server or an http(s) URL
 * @param imageSize           default {@code square_hd}: the preset name, or {@code {width, height}} with defaults filled
 * @param scale               subject image scale, 0..2, default 1
 * @param negativePrompt      default empty
 * @param seed                null when not given (the pipeline draws one and reports it)
 * @param guidanceScale       0..20, default 3.5
 * @param numInferenceSteps   1..50, default 28
 * @param numImages           1..4, default 1
 * @param syncMode            return data URIs and keep nothing; default false
 * @param enableSafetyChecker default true
 * @param outputFormat        {@code jpeg} (default) or {@code png}
 */
public record InstantCharacterInput(
        String prompt,
        String imageUrl,
        JsonNode imageSize,
        double scale,
        String negativePrompt,
        Long seed,
        double guidanceScale,
        int numInferenceSteps,
        int numImages,
        boolean syncMode,
        boolean enableSafetyChecker,
        String outputFormat) {

    /** The endpoint id. */
    public static final String ENDPOINT_ID = "fal-ai/instant-character";
    /** Allowed {@code output_format} values. */
    public static final List<String> OUTPUT_FORMATS = List.of("jpeg", "png");

    /**
     * Validates a request body as fal does (pydantic v2, lax): fills defaults, checks types, ranges and enums,
     * ignores unknown fields.
     *
     * @throws InputError with every bad field, in schema order
     */
    public static InstantCharacterInput parse(JsonNode body) throws InputError {
        SchemaReader r = SchemaReader.forBody(body);
        String prompt = r.requiredString("prompt");
        String imageUrl = r.requiredString("image_url");
        JsonNode imageSize = r.imageSize("image_size", "square_hd");
        double scale = r.number("scale", 1, 0, 2);
        String negativePrompt = r.string("negative_prompt", "");
        Long seed = r.optionalLong("seed");
        double guidanceScale = r.number("guidance_scale", 3.5, 0, 20);
        int steps = r.integer("num_inference_steps", 28, 1L, 50L);
        int numImages = r.integer("num_images", 1, 1L, 4L);
        boolean syncMode = r.bool("sync_mode", false);
        boolean safety = r.bool("enable_safety_checker", true);
        String outputFormat = r.literal("output_format", "jpeg", OUTPUT_FORMATS);
        r.finish();
        return new InstantCharacterInput(prompt, imageUrl, imageSize, scale, negativePrompt, seed, guidanceScale,
                steps, numImages, syncMode, safety, outputFormat);
    }

    /** The full input with every default filled, in schema order ({@code seed} is null when not given). */
    public ObjectNode toJson() {
        ObjectNode o = Json.object();
        o.put("prompt", prompt);
        o.put("image_url", imageUrl);
        o.set("image_size", imageSize.deepCopy());
        o.put("scale", scale);
        o.put("negative_prompt", negativePrompt);
        if (seed == null) o.putNull("seed");
        else o.put("seed", seed);
        o.put("guidance_scale", guidanceScale);
        o.put("num_inference_steps", numInferenceSteps);
        o.put("num_images", numImages);
        o.put("sync_mode", syncMode);
        o.put("enable_safety_checker", enableSafetyChecker);
        o.put("output_format", outputFormat);
        return o;
    }

    /** The requested width in pixels (a preset's, or the object's); see {@link SchemaReader#sizeOf}. */
    public int width() {
        return SchemaReader.sizeOf(imageSize)[0];
    }

    /** The requested height in pixels. */
    public int height() {
        return SchemaReader.sizeOf(imageSize)[1];
    }

    /** MIME type of {@link #outputFormat()}. */
    public String outputContentType() {
        return outputFormat.equals("png") ? "image/png" : "image/jpeg";
    }
}
