package dev.likeness.pipeline.ideogram;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * {@code color_palette}: weighted sRGB colours that sampling is steered toward ({@link PaletteGuidance}) and that
 * MagicPrompt names in words ({@link MagicPrompt}).
 *
 * <p>Either a preset ({@link #preset}) or members. Ideogram has not published its presets' colours; ours are defined
 * here (the first member is the dominant colour, weights descend as Ideogram recommends):
 *
 * <table>
 *   <caption>Preset colours</caption>
 *   <tr><th>preset</th><th>members (hex, weight)</th></tr>
 *   <tr><td>EMBER</td><td>#C1272D 1.0, #F26B1D 0.8, #FDB833 0.6, #2B1A17 0.4</td></tr>
 *   <tr><td>FRESH</td><td>#7ED6A5 1.0, #F5FBEF 0.8, #5BC0EB 0.6, #C9E265 0.4</td></tr>
 *   <tr><td>JUNGLE</td><td>#1E5631 1.0, #4C9A2A 0.8, #A4DE02 0.6, #68463A 0.4</td></tr>
 *   <tr><td>MAGIC</td><td>#4B1D7A 1.0, #9B4DCA 0.8, #E2B6FF 0.6, #F2C14E 0.4</td></tr>
 *   <tr><td>MELON</td><td>#FF8C8C 1.0, #FFB38A 0.8, #B9E4A8 0.6, #FFF4E0 0.4</td></tr>
 *   <tr><td>MOSAIC</td><td>#E63946 1.0, #F4D35E 0.8, #2A9D8F 0.6, #1D3557 0.4</td></tr>
 *   <tr><td>PASTEL</td><td>#FFD1DC 1.0, #C7E9F1 0.8, #E2F0CB 0.6, #E4D1F5 0.4</td></tr>
 *   <tr><td>ULTRAMARINE</td><td>#120A8F 1.0, #3F5EFB 0.8, #A7C7E7 0.6, #F4F7FF 0.4</td></tr>
 * </table>
 *
 * @param name    the preset's name, or null for explicit members
 * @param members 1 to 8 members
 */
public record ColorPalette(String name, List<Member> members) {
    /** The preset names, in Ideogram's order. */
    public static final List<String> PRESET_NAMES = List.of("EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC",
            "PASTEL", "ULTRAMARINE");
    /** A member's default weight in fal's form. */
    public static final double DEFAULT_WEIGHT = 0.5;
    /** Ideogram's weight range. */
    public static final double MIN_WEIGHT = 0.05;
    public static final double MAX_WEIGHT = 1.0;
    /** Ideogram's member count limit. */
    public static final int MAX_MEMBERS = 8;
    private static final Pattern HEX = Pattern.compile("^#(?:[0-9a-fA-F]{3}){1,2}$");
    private static final Map<String, ColorPalette> PRESETS = new LinkedHashMap<>();

    static {
        preset("EMBER", "#C1272D", "#F26B1D", "#FDB833", "#2B1A17");
        preset("FRESH", "#7ED6A5", "#F5FBEF", "#5BC0EB", "#C9E265");
        preset("JUNGLE", "#1E5631", "#4C9A2A", "#A4DE02", "#68463A");
        preset("MAGIC", "#4B1D7A", "#9B4DCA", "#E2B6FF", "#F2C14E");
        preset("MELON", "#FF8C8C", "#FFB38A", "#B9E4A8", "#FFF4E0");
        preset("MOSAIC", "#E63946", "#F4D35E", "#2A9D8F", "#1D3557");
        preset("PASTEL", "#FFD1DC", "#C7E9F1", "#E2F0CB", "#E4D1F5");
        preset("ULTRAMARINE", "#120A8F", "#3F5EFB", "#A7C7E7", "#F4F7FF");
    }

    private static void preset(String name, String... hex) {
        List<Member> m = new ArrayList<>();
        for (int i = 0; i < hex.length; i++) {
            m.add(Member.hex(hex[i], 1.0 - 0.2 * i));
        }
        PRESETS.put(name, new ColorPalette(name, m));
    }

    /**
     * One colour: sRGB 0–255 per channel and a weight in [0.05, 1] (how strongly it pulls, and how much of the image
     * it claims).
     */
    public record Member(int r, int g, int b, double weight) {
        public Member {
            for (int c : new int[] {r, g, b}) {
                if (c < 0 || c > 255) {
                    throw new IllegalArgumentException("colour channels are 0..255, got (" + r + ", " + g + ", " + b + ")");
                }
            }
            if (!(weight >= MIN_WEIGHT && weight <= MAX_WEIGHT)) {
                throw new IllegalArgumentException("color_weight must be between " + MIN_WEIGHT + " and " + MAX_WEIGHT
                        + ", got " + weight);
            }
        }

        /** Ideogram's {@code color_hex}: {@code #RGB} or {@code #RRGGBB}. */
        public static Member hex(String hex, double weight) {
            if (hex == null || !HEX.matcher(hex).matches()) {
                throw new IllegalArgumentException("color_hex must be #RGB or #RRGGBB, got '" + hex + "'");
            }
            String h = hex.substring(1);
            if (h.length() == 3) {
                h = "" + h.charAt(0) + h.charAt(0) + h.charAt(1) + h.charAt(1) + h.charAt(2) + h.charAt(2);
            }
            int v = Integer.parseInt(h, 16);
            return new Member(v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff, weight);
        }

        /** {@code #RRGGBB}. */
        public String toHex() {
            return String.format(Locale.ROOT, "#%02X%02X%02X", r, g, b);
        }
    }

    public ColorPalette {
        if (members == null || members.isEmpty() || members.size() > MAX_MEMBERS) {
            throw new IllegalArgumentException("a palette has 1 to " + MAX_MEMBERS + " members, got "
                    + (members == null ? 0 : members.size()));
        }
        members = List.copyOf(members);
    }

    /** Explicit members. */
    public static ColorPalette of(List<Member> members) {
        return new ColorPalette(null, members);
    }

    /** A preset by name (upper case, as in the schema). */
    public static ColorPalette preset(String name) {
        ColorPalette p = PRESETS.get(name);
        if (p == null) {
            throw new IllegalArgumentException("unknown color_palette preset '" + name + "'; expected one of "
                    + PRESET_NAMES);
        }
        return p;
    }
}
