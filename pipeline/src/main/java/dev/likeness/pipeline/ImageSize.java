package dev.likeness.pipeline;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * An output size: fal's {@code image_size}, a preset name or {@code {width, height}}.
 *
 * <p>FLUX works on 2×2-packed latents 8× smaller than the image, so the size the pipeline runs at is a multiple of
 * 16 on each side. A requested size that is not is rounded <em>down</em> to the next multiple of 16, exactly as
 * diffusers' {@code FluxPipeline} does ({@code 2 · (h // 16)} latent rows), and the response reports the size the
 * images actually have. Sides below 16 or above fal's limit of 14142 are refused.
 */
public record ImageSize(int width, int height) {
    /** fal's presets (fal toolkit {@code IMAGE_SIZE_PRESETS}). */
    public static final Map<String, ImageSize> PRESETS;
    /** The largest side fal's {@code ImageSize} accepts. */
    public static final int MAX_SIDE = 14142;
    public static final int MIN_SIDE = InstantCharacterPipeline.SIZE_MULTIPLE;
    /** The default of {@code fal-ai/instant-character}. */
    public static final String DEFAULT_PRESET = "square_hd";

    static {
        Map<String, ImageSize> p = new LinkedHashMap<>();
        p.put("square_hd", new ImageSize(1024, 1024));
        p.put("square", new ImageSize(512, 512));
        p.put("portrait_4_3", new ImageSize(768, 1024));
        p.put("portrait_16_9", new ImageSize(576, 1024));
        p.put("landscape_4_3", new ImageSize(1024, 768));
        p.put("landscape_16_9", new ImageSize(1024, 576));
        PRESETS = Map.copyOf(p);
    }

    public ImageSize {
        check("width", width);
        check("height", height);
    }

    private static void check(String side, int v) {
        if (v < MIN_SIDE || v > MAX_SIDE) {
            throw new IllegalArgumentException(side + " must be between " + MIN_SIDE + " and " + MAX_SIDE + ", got "
                    + v);
        }
    }

    /** The preset names in fal's order. */
    public static String presetNames() {
        return "square_hd, square, portrait_4_3, portrait_16_9, landscape_4_3, landscape_16_9";
    }

    /** A preset name or {@code WIDTHxHEIGHT} (e.g. {@code 768x512}). */
    public static ImageSize parse(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        ImageSize preset = PRESETS.get(t);
        if (preset != null) {
            return preset;
        }
        int x = t.indexOf('x');
        if (x > 0) {
            try {
                return new ImageSize(Integer.parseInt(t.substring(0, x)), Integer.parseInt(t.substring(x + 1)));
            } catch (NumberFormatException ignored) {
                // fall through to the message below
            }
        }
        throw new IllegalArgumentException("'" + text + "' is neither a preset (" + presetNames()
                + ") nor WIDTHxHEIGHT");
    }

    /** The size the pipeline runs at: each side rounded down to a multiple of 16. */
    public ImageSize rounded() {
        int m = InstantCharacterPipeline.SIZE_MULTIPLE;
        return new ImageSize(width / m * m, height / m * m);
    }

    @Override
    public String toString() {
        return width + "x" + height;
    }
}
