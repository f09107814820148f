package dev.likeness.pipeline.ideogram;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code expand_prompt} (Ideogram's MagicPrompt): the user's prompt, unchanged, followed by concrete visual detail.
 *
 * <p>Ideogram rewrites prompts with a language model. Ours composes: from curated vocabularies of short visual
 * phrases, one phrase is drawn per category — lighting, camera and composition, setting detail, surface and material,
 * atmosphere — each category with a variant per {@link Style} (photographic terms for REALISTIC, illustration terms
 * for FICTION, neutral ones for AUTO); a phrase already present in the prompt, or sharing its key word with it, is
 * skipped in favour of the next. With a palette, a colour phrase names the members in words (the nearest of a table of
 * named colours, heaviest members first: "colour scheme of crimson, orange and amber"). The draw is seeded by the
 * request's seed and the prompt, so the same request always expands the same way and another seed expands
 * differently; the user's words always come first and are never dropped or reordered:
 * {@code expand(p, …).startsWith(p)}.
 */
public final class MagicPrompt {
    private static final String[][] LIGHTING = {
            {"soft diffused daylight", "warm golden-hour light", "gentle rim light", "cool overcast light",
                    "dramatic side lighting", "soft window light"},
            {"natural window light with soft shadows", "golden-hour sunlight, shallow depth of field",
                    "overcast daylight, even exposure", "studio softbox lighting", "late-afternoon backlight",
                    "practical lamps and ambient fill"},
            {"luminous painterly light", "glowing magical light", "cel-shaded lighting with crisp shadows",
                    "moody cinematic lighting", "storybook sunset glow", "bioluminescent accents"}};
    private static final String[][] CAMERA = {
            {"balanced composition", "medium shot", "eye-level view", "rule-of-thirds framing",
                    "three-quarter view", "centered subject"},
            {"shot on a 50mm lens", "85mm portrait lens, f/1.8", "eye-level medium shot", "35mm documentary framing",
                    "rule-of-thirds composition", "high-resolution photograph"},
            {"dynamic composition", "wide establishing shot", "heroic low angle", "storybook framing",
                    "character-focused medium shot", "sweeping panoramic view"}};
    private static final String[][] SETTING = {
            {"detailed background", "subtle environmental detail", "uncluttered backdrop", "layered foreground and background",
                    "a sense of place", "carefully arranged props"},
            {"authentic environment with fine background detail", "lived-in setting", "realistic textures in the background",
                    "everyday objects in the scene", "natural surroundings", "street-level detail"},
            {"whimsical background details", "richly imagined scenery", "floating particles in the air",
                    "ornate fantasy architecture", "stylized clouds", "lush painted backdrop"}};
    private static final String[][] MATERIAL = {
            {"crisp fabric folds", "clean edges", "fine surface detail", "rich textures",
                    "well-defined shapes", "subtle material sheen"},
            {"natural skin texture", "visible fabric weave", "realistic hair strands", "film grain",
                    "true-to-life materials", "sharp focus on the eyes"},
            {"bold clean linework", "painterly brush strokes", "soft gradient shading", "textured gouache finish",
                    "vivid flat colours", "inked outlines"}};
    private static final String[][] MOOD = {
            {"calm atmosphere", "inviting mood", "quiet confidence", "lively atmosphere",
                    "relaxed mood", "sense of anticipation"},
            {"candid moment", "authentic mood", "understated elegance", "documentary feel",
                    "serene atmosphere", "natural expression"},
            {"sense of wonder", "playful energy", "epic atmosphere", "dreamlike mood",
                    "adventurous spirit", "enchanting ambience"}};
    private static final String[][][] CATEGORIES = {LIGHTING, CAMERA, SETTING, MATERIAL, MOOD};

    /** Named colours for the palette phrase (sRGB). */
    private static final Object[][] NAMES = {
            {"black", 0x101010}, {"charcoal", 0x36454F}, {"slate grey", 0x708090}, {"silver", 0xC0C0C0},
            {"white", 0xF8F8F8}, {"ivory", 0xFFF8E7}, {"cream", 0xFFF4D6}, {"beige", 0xE8D8B8},
            {"crimson", 0xC1272D}, {"scarlet", 0xE63946}, {"coral", 0xFF7F6E}, {"salmon pink", 0xFF8C8C},
            {"blush pink", 0xFFD1DC}, {"magenta", 0xC2185B}, {"orange", 0xF26B1D}, {"peach", 0xFFB38A},
            {"amber", 0xFDB833}, {"golden yellow", 0xF4D35E}, {"lemon yellow", 0xFFF44F}, {"lime green", 0xA4DE02},
            {"pale green", 0xE2F0CB}, {"mint green", 0x7ED6A5}, {"emerald", 0x2E8B57}, {"forest green", 0x1E5631},
            {"olive", 0x6B8E23}, {"teal", 0x2A9D8F}, {"turquoise", 0x40E0D0}, {"sky blue", 0x5BC0EB},
            {"powder blue", 0xC7E9F1}, {"cornflower blue", 0x3F5EFB}, {"navy", 0x1D3557}, {"ultramarine", 0x120A8F},
            {"lavender", 0xE4D1F5}, {"violet", 0x9B4DCA}, {"deep purple", 0x4B1D7A}, {"chocolate brown", 0x68463A},
            {"espresso brown", 0x2B1A17}, {"tan", 0xD2B48C}, {"burgundy", 0x800020}, {"gold", 0xD4AF37}};

    private MagicPrompt() {
    }

    /**
     * The expanded prompt: {@code prompt}, then the drawn phrases, comma-separated.
     *
     * @param palette null for none
     */
    public static String expand(String prompt, Style style, ColorPalette palette, long seed) {
        int variant = switch (style) {
            case AUTO -> 0;
            case REALISTIC -> 1;
            case FICTION -> 2;
        };
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ prompt.hashCode());
        String lower = prompt.toLowerCase(Locale.ROOT);
        List<String> details = new ArrayList<>();
        for (String[][] category : CATEGORIES) {
            String[] options = category[variant];
            int start = random.nextInt(options.length);
            for (int i = 0; i < options.length; i++) {
                String phrase = options[(start + i) % options.length];
                if (!overlaps(lower, phrase)) {
                    details.add(phrase);
                    break;
                }
            }
        }
        if (palette != null) {
            details.add(colourPhrase(palette));
        }
        if (details.isEmpty()) {
            return prompt;
        }
        String joined = String.join(", ", details);
        String trimmed = prompt.stripTrailing();
        if (trimmed.isEmpty()) {
            return prompt + joined;
        }
        return prompt + (trimmed.endsWith(".") || trimmed.endsWith(",") ? " " : ", ") + joined;
    }

    /**
     * Whether the prompt already says this: any comma-separated part of the phrase appears in it, or the last word
     * (the key noun) of any part does, as a word.
     */
    private static boolean overlaps(String lowerPrompt, String phrase) {
        for (String part : phrase.toLowerCase(Locale.ROOT).split(",")) {
            String p = part.strip();
            if (p.isEmpty()) {
                continue;
            }
            if (lowerPrompt.contains(p)) {
                return true;
            }
            String[] words = p.split("[ ]+");
            String key = words[words.length - 1];
            if (key.length() > 3 && java.util.regex.Pattern.compile("\\b" + java.util.regex.Pattern.quote(key)
                    + "\\b").matcher(lowerPrompt).find()) {
                return true;
            }
        }
        return false;
    }

    /** "colour scheme of a, b and c" with the members' nearest colour names, heaviest first, distinct. */
    static String colourPhrase(ColorPalette palette) {
        List<ColorPalette.Member> members = new ArrayList<>(palette.members());
        members.sort((x, y) -> Double.compare(y.weight(), x.weight()));
        List<String> names = new ArrayList<>();
        for (ColorPalette.Member m : members) {
            String n = nearestName(m.r(), m.g(), m.b());
            if (!names.contains(n)) {
                names.add(n);
            }
        }
        StringBuilder sb = new StringBuilder("colour scheme of ");
        for (int i = 0; i < names.size(); i++) {
            if (i > 0) {
                sb.append(i == names.size() - 1 ? " and " : ", ");
            }
            sb.append(names.get(i));
        }
        return sb.toString();
    }

    /** The nearest named colour (Euclidean in sRGB, weighted 2:4:3 for R, G, B as a cheap perceptual metric). */
    static String nearestName(int r, int g, int b) {
        String best = null;
        double bestD = Double.POSITIVE_INFINITY;
        for (Object[] entry : NAMES) {
            int v = (Integer) entry[1];
            double dr = r - (v >> 16 & 0xff);
            double dg = g - (v >> 8 & 0xff);
            double db = b - (v & 0xff);
            double d = 2 * dr * dr + 4 * dg * dg + 3 * db * db;
            if (d < bestD) {
                bestD = d;
                best = (String) entry[0];
            }
        }
        return best;
    }
}
