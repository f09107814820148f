package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.util.List;
import java.util.Map;

/**
 * fal's {@code image_size}: either a preset name or {@code {width, height}}. Presets and limits are those of the fal
 * SDK ({@code fal.toolkit.image.ImageSize}: default 512, {@code 0 < side <= 14142}; {@code IMAGE_SIZE_PRESETS}).
 *
 * @param width  pixels
 * @param height pixels
 * @param preset the preset name this size came from, or null for an explicit object
 */
public record ImageSize(int width, int height, String preset) {
    /** Preset names in fal's order. */
    public static final List<String> PRESET_NAMES =
            List.of("square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9");
    private static final Map<String, int[]> PRESETS = Map.of(
            "square_hd", new int[] {1024, 1024},
            "square", new int[] {512, 512},
            "portrait_4_3", new int[] {768, 1024},
            "portrait_16_9", new int[] {576, 1024},
            "landscape_4_3", new int[] {1024, 768},
            "landscape_16_9", new int[] {1024, 576});
    /** Default side of an {@code ImageSize} object's missing width or height. */
    public static final int DEFAULT_SIDE = 512;
    /** Largest side the fal SDK accepts. */
    public static final int MAX_SIDE = 14142;

    /** The size of a preset name. */
    public static ImageSize preset(String name) {
        int[] wh = PRESETS.get(name);
        if (wh == null) throw new IllegalArgumentException("unknown image_size preset '" + name + "'; expected one of " + PRESET_NAMES);
        return new ImageSize(wh[0], wh[1], name);
    }

    /** The JSON form: the preset name, or {@code {"width", "height"}}. */
    public JsonNode toJson() {
        if (preset != null) return TextNode.valueOf(preset);
        return Json.object().put("width", width).put("height", height);
    }
}
