package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.pipeline.ImageSize;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Reads the fields of a JSON request body the way pydantic v2 (lax mode) validates a fal endpoint's input model,
 * collecting one {@link FieldError} per bad field with pydantic's {@code type}, {@code msg}, {@code ctx} and
 * {@code input}. Unknown fields are ignored. Used by each endpoint's input class; call {@link #finish()} at the end.
 */
public final class SchemaReader {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final Pattern DECIMAL = Pattern.compile("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?");
    private static final Pattern INTEGER = Pattern.compile("[+-]?\\d+");
    /** fal's {@code image_size} preset names, in fal's order ({@code IMAGE_SIZE_PRESETS}). */
    public static final List<String> PRESET_NAMES = List.of(ImageSize.presetNames().split(", "));
    /** Default side of an {@code ImageSize} object's missing width or height (fal SDK). */
    public static final int DEFAULT_SIDE = 512;

    private final JsonNode body;
    private final List<Object> prefix;
    private final List<FieldError> errors;

    private SchemaReader(JsonNode body, List<Object> prefix, List<FieldError> errors) {
        this.body = body;
        this.prefix = prefix;
        this.errors = errors;
    }

    /**
     * A reader for a request body; if the body is not a JSON object, the error is recorded at once (pydantic's
     * {@code model_attributes_type} at loc {@code ["body"]}, or {@code missing} for an absent body).
     */
    public static SchemaReader forBody(JsonNode body) {
        List<FieldError> errors = new ArrayList<>();
        if (body == null || body.isMissingNode()) {
            errors.add(new FieldError("missing", List.of("body"), "Field required", NODES.nullNode(), null));
        } else if (!body.isObject()) {
            errors.add(new FieldError("model_attributes_type", List.of("body"),
                    "Input should be a valid dictionary or object to extract fields from", body, null));
        }
        return new SchemaReader(body, List.of("body"), errors);
    }

    /** Whether the body itself was unusable (then every field read returns its default). */
    public boolean bodyInvalid() {
        return body == null || !body.isObject();
    }

    /** Throws the collected errors, if any. */
    public void finish() throws InputError {
        if (!errors.isEmpty()) throw new InputError(errors);
    }

    /** Errors so far. */
    public List<FieldError> errors() {
        return errors;
    }

    private List<Object> loc(Object... parts) {
        List<Object> l = new ArrayList<>(prefix);
        l.addAll(List.of(parts));
        return l;
    }

    private JsonNode field(String name) {
        return bodyInvalid() ? null : body.get(name);
    }

    private void missing(String name) {
        errors.add(new FieldError("missing", loc(name), "Field required", bodyInvalid() ? NODES.nullNode() : body, null));
    }

    // ---- strings -------------------------------------------------------------------------------------------

    /** A required {@code str}; null when missing or invalid (the error is recorded). */
    public String requiredString(String name) {
        JsonNode v = field(name);
        if (v == null) {
            if (!bodyInvalid()) missing(name);
            return null;
        }
        return string(v, loc(name));
    }

    /** An optional {@code str} with a default; JSON null is an error, as for a non-Optional pydantic field. */
    public String string(String name, String dflt) {
        JsonNode v = field(name);
        if (v == null) return dflt;
        String s = string(v, loc(name));
        return s == null ? dflt : s;
    }

    private String string(JsonNode v, List<Object> loc) {
        if (v.isTextual()) return v.textValue();
        errors.add(new FieldError("string_type", loc, "Input should be a valid string", v, null));
        return null;
    }

    /** A {@code Literal[...]} of strings with a default. */
    public String literal(String name, String dflt, List<String> options) {
        JsonNode v = field(name);
        if (v == null) return dflt;
        String s = literal(v, options, loc(name));
        return s == null ? dflt : s;
    }

    String literal(JsonNode v, List<String> options, List<Object> loc) {
        if (v.isTextual() && options.contains(v.textValue())) return v.textValue();
        String expected = expectedList(options);
        errors.add(new FieldError("literal_error", loc, "Input should be " + expected, v,
                ctx("expected", NODES.textNode(expected))));
        return null;
    }

    /** pydantic's wording of a literal's options: {@code 'a', 'b' or 'c'}. */
    static String expectedList(List<String> options) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < options.size(); i++) {
            if (i > 0) sb.append(i == options.size() - 1 ? " or " : ", ");
            sb.append('\'').append(options.get(i)).append('\'');
        }
        return sb.toString();
    }

    /** pydantic's tag of a literal member inside a union's loc: {@code literal['a','b']}. */
    static String literalTag(List<String> options) {
        StringBuilder sb = new StringBuilder("literal[");
        for (int i = 0; i < options.size(); i++) {
            if (i > 0) sb.append(',');
            sb.append('\'').append(options.get(i)).append('\'');
        }
        return sb.append(']').toString();
    }

    // ---- numbers -------------------------------------------------------------------------------------------

    /** A {@code float} with a default and optional inclusive bounds ({@code ge}, {@code le}; null = none). */
    public double number(String name, double dflt, Number ge, Number le) {
        JsonNode v = field(name);
        if (v == null) return dflt;
        List<Object> loc = loc(name);
        Double d = toDouble(v, loc);
        if (d == null) return dflt;
        if (!Double.isFinite(d)) {
            errors.add(new FieldError("finite_number", loc, "Input should be a finite number", v, null));
            return dflt;
        }
        if (!bounds(v, d, ge, null, le, loc)) return dflt;
        return d;
    }

    private Double toDouble(JsonNode v, List<Object> loc) {
        if (v.isNumber()) return v.doubleValue();
        if (v.isBoolean()) return v.booleanValue() ? 1.0 : 0.0;
        if (v.isTextual()) {
            String t = v.textValue().strip();
            if (DECIMAL.matcher(t).matches()) return Double.parseDouble(t);
            String lower = t.toLowerCase(Locale.ROOT);
            if (lower.equals("inf") || lower.equals("+inf") || lower.equals("infinity")) return Double.POSITIVE_INFINITY;
            if (lower.equals("-inf") || lower.equals("-infinity")) return Double.NEGATIVE_INFINITY;
            if (lower.equals("nan")) return Double.NaN;
            errors.add(new FieldError("float_parsing", loc,
                    "Input should be a valid number, unable to parse string as a number", v, null));
            return null;
        }
        errors.add(new FieldError("float_type", loc, "Input should be a valid number", v, null));
        return null;
    }

    /** An {@code int} with a default and optional inclusive bounds. */
    public int integer(String name, int dflt, Long ge, Long le) {
        JsonNode v = field(name);
        if (v == null) return dflt;
        List<Object> loc = loc(name);
        BigInteger b = toInteger(v, loc);
        if (b == null) return dflt;
        if (!bounds(v, b.doubleValue(), ge, null, le, loc)) return dflt;
        return b.intValueExact();
    }

    /**
     * An {@code Optional[int]} defaulting to None, held in 64 bits: JSON null or absent gives null. Values outside
     * the signed 64-bit range are refused (pydantic would take them; no generator here can use them).
     */
    public Long optionalLong(String name) {
        JsonNode v = field(name);
        if (v == null || v.isNull()) return null;
        List<Object> loc = loc(name);
        BigInteger b = toInteger(v, loc);
        if (b == null) return null;
        if (b.bitLength() > 63) {
            errors.add(new FieldError("value_error", loc, "Value error, must fit in a signed 64-bit integer", v,
                    ctx("error", NODES.textNode("must fit in a signed 64-bit integer"))));
            return null;
        }
        return b.longValue();
    }

    /** A nested {@code int} field of an object value (for models inside unions), with a default and bounds. */
    Integer nestedInteger(JsonNode obj, String name, int dflt, Long gt, Long le, List<Object> loc) {
        JsonNode v = obj.get(name);
        if (v == null) return dflt;
        BigInteger b = toInteger(v, loc);
        if (b == null) return null;
        if (!bounds(v, b.doubleValue(), null, gt, le, loc)) return null;
        return b.intValueExact();
    }

    private BigInteger toInteger(JsonNode v, List<Object> loc) {
        if (v.isIntegralNumber()) return v.bigIntegerValue();
        if (v.isBoolean()) return v.booleanValue() ? BigInteger.ONE : BigInteger.ZERO;
        if (v.isFloatingPointNumber()) {
            BigDecimal d = v.decimalValue();
            if (d.stripTrailingZeros().scale() <= 0) return d.toBigIntegerExact();
            errors.add(new FieldError("int_from_float", loc,
                    "Input should be a valid integer, got a number with a fractional part", v, null));
            return null;
        }
        if (v.isTextual()) {
            String t = v.textValue().strip();
            if (INTEGER.matcher(t).matches()) return new BigInteger(t);
            errors.add(new FieldError("int_parsing", loc,
                    "Input should be a valid integer, unable to parse string as an integer", v, null));
            return null;
        }
        errors.add(new FieldError("int_type", loc, "Input should be a valid integer", v, null));
        return null;
    }

    private boolean bounds(JsonNode v, double d, Number ge, Number gt, Number le, List<Object> loc) {
        if (ge != null && !(d >= ge.doubleValue())) {
            errors.add(new FieldError("greater_than_equal", loc,
                    "Input should be greater than or equal to " + ge, v, ctx("ge", number(ge))));
            return false;
        }
        if (gt != null && !(d > gt.doubleValue())) {
            errors.add(new FieldError("greater_than", loc, "Input should be greater than " + gt, v,
                    ctx("gt", number(gt))));
            return false;
        }
        if (le != null && !(d <= le.doubleValue())) {
            errors.add(new FieldError("less_than_equal", loc,
                    "Input should be less than or equal to " + le, v, ctx("le", number(le))));
            return false;
        }
        return true;
    }

    private static JsonNode number(Number n) {
        if (n instanceof Double || n instanceof Float) return NODES.numberNode(n.doubleValue());
        long l = n.longValue();
        return l == (int) l ? NODES.numberNode((int) l) : NODES.numberNode(l);
    }

    // ---- booleans ------------------------------------------------------------------------------------------

    /** A {@code bool} with a default, accepting pydantic's lax forms (0/1, "true", "yes", "off", ...). */
    public boolean bool(String name, boolean dflt) {
        JsonNode v = field(name);
        if (v == null) return dflt;
        List<Object> loc = loc(name);
        if (v.isBoolean()) return v.booleanValue();
        if (v.isNumber()) {
            double d = v.doubleValue();
            if (d == 0) return false;
            if (d == 1) return true;
        } else if (v.isTextual()) {
            switch (v.textValue().strip().toLowerCase(Locale.ROOT)) {
                case "0", "off", "f", "false", "n", "no" -> { return false; }
                case "1", "on", "t", "true", "y", "yes" -> { return true; }
                default -> { }
            }
        } else {
            errors.add(new FieldError("bool_type", loc, "Input should be a valid boolean", v, null));
            return dflt;
        }
        errors.add(new FieldError("bool_parsing", loc, "Input should be a valid boolean, unable to interpret input",
                v, null));
        return dflt;
    }

    // ---- image size ----------------------------------------------------------------------------------------

    /**
     * fal's {@code image_size: ImageSize | Literal[presets]}. An object is read as {@code ImageSize} (width and
     * height: int, default 512, {@code gt=0}, {@code le=14142}); a string must be one of the presets. As in a
     * pydantic smart union, a value matching neither member reports one error per member, with the member's tag
     * in the loc ({@code ImageSize} or {@code literal['square_hd',...]}).
     */
    public JsonNode imageSize(String name, String dflt) {
        JsonNode v = field(name);
        if (v == null) return NODES.textNode(dflt);
        List<String> presets = PRESET_NAMES;
        List<Object> modelLoc = loc(name, "ImageSize");
        List<Object> literalLoc = loc(name, literalTag(presets));
        if (v.isTextual() && presets.contains(v.textValue())) return v;
        if (v.isObject()) {
            Integer w = nestedInteger(v, "width", DEFAULT_SIDE, 0L, (long) ImageSize.MAX_SIDE, with(modelLoc, "width"));
            Integer h = nestedInteger(v, "height", DEFAULT_SIDE, 0L, (long) ImageSize.MAX_SIDE, with(modelLoc, "height"));
            if (w != null && h != null) return Json.object().put("width", w).put("height", h);
        } else {
            errors.add(new FieldError("model_type", modelLoc, "Input should be a valid dictionary or instance of ImageSize",
                    v, ctx("class_name", NODES.textNode("ImageSize"))));
        }
        literal(v, presets, literalLoc);
        return NODES.textNode(dflt);
    }

    /**
     * Width and height of a value {@link #imageSize} returned: a preset's size (the pipeline's
     * {@link ImageSize#PRESETS}) or the object's {@code width} and {@code height}. Not checked against the pipeline's
     * own limits (fal's schema accepts any side from 1).
     */
    public static int[] sizeOf(JsonNode imageSize) {
        if (imageSize.isTextual()) {
            ImageSize p = ImageSize.PRESETS.get(imageSize.textValue());
            if (p == null) throw new IllegalArgumentException("unknown image_size preset '" + imageSize.textValue() + "'");
            return new int[] {p.width(), p.height()};
        }
        return new int[] {imageSize.path("width").asInt(), imageSize.path("height").asInt()};
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
