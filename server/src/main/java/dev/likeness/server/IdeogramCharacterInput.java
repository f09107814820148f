package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The validated input of {@code fal-ai/ideogram/character}, field for field as the endpoint's published schema
 * ({@code shared/spec/001_0643b683c2dbfbfa.txt}; fal's {@code IdeogramCharacterInput} type): names, defaults, enums
 * and the rules between fields are the contract. Errors are pydantic v2's, in schema order, as fal returns them (422,
 * {@code {"detail": [...]}}).
 *
 * <p>Beyond types and enums: {@code style_codes} items must match {@code ^[0-9a-fA-F]{8}$}; {@code style_codes}
 * cannot be combined with a {@code style} other than {@code AUTO} nor with {@code image_urls} (a {@code value_error} at
 * {@code ["body", "style_codes"]} naming the other field); {@code color_palette} takes exactly one of {@code name} (a
 * preset) and {@code members} (1–8 members, each {@code {rgb: {r, g, b}, color_weight}} in fal's form — channels
 * 0–255, default 0 — or {@code {color_hex, color_weight}} in Ideogram's; {@code color_weight} 0.05–1, default 0.5);
 * {@code reference_image_urls} needs at least one URL (only the first is used, as fal documents).
 *
 * @param prompt             required
 * @param referenceImageUrls required, at least one; only the first is used
 * @param referenceMaskUrls  may be empty; only the first is used
 * @param imageUrls          style references, may be empty
 * @param renderingSpeed     TURBO, BALANCED (default) or QUALITY
 * @param colorPalette       null, or the palette normalized to {@code {"name": …}} or {@code {"members": [{"rgb":
 *                           {r, g, b}, "color_weight": w}]}} (Ideogram's hex form converted)
 * @param styleCodes         may be empty
 * @param style              AUTO (default), REALISTIC or FICTION
 * @param expandPrompt       MagicPrompt, default true
 * @param numImages          1..8, default 1
 * @param seed               null when not given
 * @param syncMode           default false
 * @param imageSize          default {@code square_hd}: the preset name or {@code {width, height}}
 * @param negativePrompt     default empty
 */
public record IdeogramCharacterInput(
        String prompt,
        List<String> referenceImageUrls,
        List<String> referenceMaskUrls,
        List<String> imageUrls,
        String renderingSpeed,
        JsonNode colorPalette,
        List<String> styleCodes,
        String style,
        boolean expandPrompt,
        int numImages,
        Long seed,
        boolean syncMode,
        JsonNode imageSize,
        String negativePrompt) {

    /** The endpoint id. */
    public static final String ENDPOINT_ID = "fal-ai/ideogram/character";
    /** {@code RenderingSpeedEnum}. */
    public static final List<String> RENDERING_SPEEDS = List.of("TURBO", "BALANCED", "QUALITY");
    /** {@code StyleEnum}. */
    public static final List<String> STYLES = List.of("AUTO", "REALISTIC", "FICTION");
    /** The colour palette presets. */
    public static final List<String> PALETTE_PRESETS = List.of("EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC",
            "PASTEL", "ULTRAMARINE");
    /** A style code. */
    public static final String STYLE_CODE_PATTERN = "^[0-9a-fA-F]{8}$";
    private static final Pattern STYLE_CODE = Pattern.compile(STYLE_CODE_PATTERN);
    private static final String HEX_PATTERN = "^#(?:[0-9a-fA-F]{3}){1,2}$";
    private static final Pattern HEX = Pattern.compile(HEX_PATTERN);
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    /**
     * Validates a request body as fal does (pydantic v2, lax): fills defaults, checks types, ranges, enums and the
     * rules between fields, ignores unknown fields.
     *
     * @throws InputError with every bad field, in schema order
     */
    public static IdeogramCharacterInput parse(JsonNode body) throws InputError {
        SchemaReader r = SchemaReader.forBody(body);
        List<FieldError> errors = r.errors();
        JsonNode b = r.bodyInvalid() ? null : body;
        // the schema's order
        List<String> imageUrls = stringList(b, "image_urls", errors);
        String speed = r.literal("rendering_speed", "BALANCED", RENDERING_SPEEDS);
        JsonNode palette = colorPalette(b, errors);
        List<String> styleCodes = stringList(b, "style_codes", errors);
        for (int i = 0; i < styleCodes.size(); i++) {
            String code = styleCodes.get(i);
            if (code != null && !STYLE_CODE.matcher(code).matches()) {
                errors.add(patternMismatch(List.of("body", "style_codes", i), code, STYLE_CODE_PATTERN));
            }
        }
        String style = r.literal("style", "AUTO", STYLES);
        boolean expandPrompt = r.bool("expand_prompt", true);
        int numImages = r.integer("num_images", 1, 1L, 8L);
        Long seed = r.optionalLong("seed");
        boolean syncMode = r.bool("sync_mode", false);
        String prompt = r.requiredString("prompt");
        JsonNode imageSize = r.imageSize("image_size", "square_hd");
        String negativePrompt = r.string("negative_prompt", "");
        List<String> references = requiredStringList(b, "reference_image_urls", errors, r.bodyInvalid());
        List<String> masks = stringList(b, "reference_mask_urls", errors);

        // the rules between fields
        if (!styleCodes.isEmpty() && b != null && b.has("style_codes")) {
            if (!"AUTO".equals(style) && b.has("style")) {
                errors.add(valueError(List.of("body", "style_codes"), b.get("style_codes"),
                        "style_codes cannot be used together with style '" + style
                                + "'; leave style at AUTO or drop style_codes"));
            }
            if (!imageUrls.isEmpty()) {
                errors.add(valueError(List.of("body", "style_codes"), b.get("style_codes"),
                        "style_codes cannot be used together with style reference images (image_urls)"));
            }
        }
        r.finish();
        return new IdeogramCharacterInput(prompt, List.copyOf(references), List.copyOf(masks), List.copyOf(imageUrls),
                speed, palette, List.copyOf(styleCodes), style, expandPrompt, numImages, seed, syncMode, imageSize,
                negativePrompt);
    }

    /** The full input with every default filled, in schema order. */
    public ObjectNode toJson() {
        ObjectNode o = Json.object();
        o.set("image_urls", array(imageUrls));
        o.put("rendering_speed", renderingSpeed);
        if (colorPalette == null) o.putNull("color_palette");
        else o.set("color_palette", colorPalette.deepCopy());
        o.set("style_codes", array(styleCodes));
        o.put("style", style);
        o.put("expand_prompt", expandPrompt);
        o.put("num_images", numImages);
        if (seed == null) o.putNull("seed");
        else o.put("seed", seed);
        o.put("sync_mode", syncMode);
        o.put("prompt", prompt);
        o.set("image_size", imageSize.deepCopy());
        o.put("negative_prompt", negativePrompt);
        o.set("reference_image_urls", array(referenceImageUrls));
        o.set("reference_mask_urls", array(referenceMaskUrls));
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

    private static ArrayNode array(List<String> items) {
        ArrayNode a = Json.array();
        items.forEach(a::add);
        return a;
    }

    // ---- lists ---------------------------------------------------------------------------------------------

    /** An optional {@code list[str]}: absent or null gives an empty list. */
    private static List<String> stringList(JsonNode body, String name, List<FieldError> errors) {
        JsonNode v = body == null ? null : body.get(name);
        if (v == null || v.isNull()) return List.of();
        return strings(v, List.of("body", name), errors);
    }

    private static List<String> requiredStringList(JsonNode body, String name, List<FieldError> errors,
                                                   boolean bodyInvalid) {
        if (bodyInvalid) return List.of();
        JsonNode v = body.get(name);
        if (v == null) {
            errors.add(new FieldError("missing", List.of("body", name), "Field required", body, null));
            return List.of();
        }
        List<String> items = strings(v, List.of("body", name), errors);
        if (v.isArray() && v.isEmpty()) {
            errors.add(valueError(List.of("body", name), v, "at least one character reference image is required"));
        }
        return items;
    }

    private static List<String> strings(JsonNode v, List<Object> loc, List<FieldError> errors) {
        if (!v.isArray()) {
            errors.add(new FieldError("list_type", loc, "Input should be a valid list", v, null));
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            JsonNode item = v.get(i);
            if (item.isTextual()) {
                out.add(item.textValue());
            } else {
                errors.add(new FieldError("string_type", with(loc, i), "Input should be a valid string", item, null));
                out.add(null);
            }
        }
        return out;
    }

    // ---- colour palette ------------------------------------------------------------------------------------

    /**
     * {@code Optional[ColorPalette]}: {@code {name}} or {@code {members}}, normalized; null when absent or null.
     */
    private static JsonNode colorPalette(JsonNode body, List<FieldError> errors) {
        JsonNode v = body == null ? null : body.get("color_palette");
        if (v == null || v.isNull()) return null;
        List<Object> loc = List.of("body", "color_palette");
        if (!v.isObject()) {
            errors.add(new FieldError("model_type", loc, "Input should be a valid dictionary or instance of ColorPalette",
                    v, ctx("class_name", NODES.textNode("ColorPalette"))));
            return null;
        }
        JsonNode name = v.get("name");
        JsonNode members = v.get("members");
        boolean hasName = name != null && !name.isNull();
        boolean hasMembers = members != null && !members.isNull();
        int before = errors.size();
        if (hasName == hasMembers) {
            errors.add(valueError(loc, v, "color_palette must have exactly one of name (a preset) and members"));
            return null;
        }
        if (hasName) {
            if (!name.isTextual() || !PALETTE_PRESETS.contains(name.textValue())) {
                String expected = SchemaReader.expectedList(PALETTE_PRESETS);
                errors.add(new FieldError("literal_error", with(loc, "name"), "Input should be " + expected, name,
                        ctx("expected", NODES.textNode(expected))));
                return null;
            }
            return Json.object().put("name", name.textValue());
        }
        List<Object> mloc = with(loc, "members");
        if (!members.isArray()) {
            errors.add(new FieldError("list_type", mloc, "Input should be a valid list", members, null));
            return null;
        }
        if (members.isEmpty()) {
            errors.add(new FieldError("too_short", mloc, "List should have at least 1 item after validation, not 0",
                    members, ctx("field_type", NODES.textNode("List")).put("min_length", 1).put("actual_length", 0)));
            return null;
        }
        if (members.size() > 8) {
            errors.add(new FieldError("too_long", mloc, "List should have at most 8 items after validation, not "
                    + members.size(), members, ctx("field_type", NODES.textNode("List")).put("max_length", 8)
                    .put("actual_length", members.size())));
            return null;
        }
        ArrayNode out = Json.array();
        for (int i = 0; i < members.size(); i++) {
            ObjectNode m = member(members.get(i), with(mloc, i), errors);
            if (m != null) out.add(m);
        }
        if (errors.size() > before) return null;
        ObjectNode p = Json.object();
        p.set("members", out);
        return p;
    }

    /** One member: {@code {rgb: {r, g, b}, color_weight}} or {@code {color_hex, color_weight}} → fal's form. */
    private static ObjectNode member(JsonNode m, List<Object> loc, List<FieldError> errors) {
        if (!m.isObject()) {
            errors.add(new FieldError("model_type", loc,
                    "Input should be a valid dictionary or instance of ColorPaletteMember", m,
                    ctx("class_name", NODES.textNode("ColorPaletteMember"))));
            return null;
        }
        int before = errors.size();
        Double weight = 0.5;
        JsonNode w = m.get("color_weight");
        if (w != null && !w.isNull()) {
            weight = number(w, with(loc, "color_weight"), 0.05, 1.0, errors);
        }
        JsonNode rgb = m.get("rgb");
        JsonNode hex = m.get("color_hex");
        boolean hasRgb = rgb != null && !rgb.isNull();
        boolean hasHex = hex != null && !hex.isNull();
        int[] c = null;
        if (hasRgb && hasHex) {
            errors.add(valueError(loc, m, "a member has either rgb or color_hex, not both"));
        } else if (hasHex) {
            if (!hex.isTextual()) {
                errors.add(new FieldError("string_type", with(loc, "color_hex"), "Input should be a valid string", hex,
                        null));
            } else if (!HEX.matcher(hex.textValue()).matches()) {
                errors.add(patternMismatch(with(loc, "color_hex"), hex.textValue(), HEX_PATTERN));
            } else {
                String h = hex.textValue().substring(1);
                if (h.length() == 3) {
                    h = "" + h.charAt(0) + h.charAt(0) + h.charAt(1) + h.charAt(1) + h.charAt(2) + h.charAt(2);
                }
                int v = Integer.parseInt(h, 16);
                c = new int[] {v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff};
            }
        } else if (hasRgb) {
            List<Object> rloc = with(loc, "rgb");
            if (!rgb.isObject()) {
                errors.add(new FieldError("model_type", rloc, "Input should be a valid dictionary or instance of RGBColor",
                        rgb, ctx("class_name", NODES.textNode("RGBColor"))));
            } else {
                c = new int[3];
                String[] names = {"r", "g", "b"};
                for (int k = 0; k < 3; k++) {
                    JsonNode ch = rgb.get(names[k]);
                    if (ch == null) continue;  // default 0
                    Double d = number(ch, with(rloc, names[k]), 0.0, 255.0, errors);
                    if (d != null) {
                        if (d != Math.rint(d)) {
                            errors.add(new FieldError("int_from_float", with(rloc, names[k]),
                                    "Input should be a valid integer, got a number with a fractional part", ch, null));
                        } else {
                            c[k] = (int) (double) d;
                        }
                    }
                }
            }
        } else {
            errors.add(new FieldError("missing", with(loc, "rgb"), "Field required", m, null));
        }
        if (errors.size() > before || c == null) return null;
        ObjectNode out = Json.object();
        out.set("rgb", Json.object().put("r", c[0]).put("g", c[1]).put("b", c[2]));
        out.put("color_weight", weight);
        return out;
    }

    /** A number within [ge, le] (pydantic lax: numeric strings accepted); null on error. */
    private static Double number(JsonNode v, List<Object> loc, double ge, double le, List<FieldError> errors) {
        double d;
        if (v.isNumber()) {
            d = v.doubleValue();
        } else if (v.isTextual() && v.textValue().strip().matches("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?")) {
            d = Double.parseDouble(v.textValue().strip());
        } else {
            errors.add(new FieldError("float_type", loc, "Input should be a valid number", v, null));
            return null;
        }
        if (!(d >= ge)) {
            errors.add(new FieldError("greater_than_equal", loc, "Input should be greater than or equal to " + fmt(ge), v,
                    ctx("ge", num(ge))));
            return null;
        }
        if (!(d <= le)) {
            errors.add(new FieldError("less_than_equal", loc, "Input should be less than or equal to " + fmt(le), v,
                    ctx("le", num(le))));
            return null;
        }
        return d;
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }

    private static JsonNode num(double d) {
        return d == Math.rint(d) ? NODES.numberNode((int) d) : NODES.numberNode(d);
    }

    // ---- error items ---------------------------------------------------------------------------------------

    private static FieldError patternMismatch(List<Object> loc, String value, String pattern) {
        return new FieldError("string_pattern_mismatch", loc, "String should match pattern '" + pattern + "'",
                NODES.textNode(value), ctx("pattern", NODES.textNode(pattern)));
    }

    /** pydantic's {@code value_error} of a validator: "Value error, …" with the message in {@code ctx.error}. */
    private static FieldError valueError(List<Object> loc, JsonNode input, String message) {
        return new FieldError("value_error", loc, "Value error, " + message, input,
                ctx("error", NODES.textNode(message)));
    }

    private static List<Object> with(List<Object> loc, Object part) {
        List<Object> l = new ArrayList<>(loc);
        l.add(part);
        return l;
    }

    private static ObjectNode ctx(String key, JsonNode value) {
        ObjectNode o = Json.object();
        o.set(key, value);
        return o;
    }
}
