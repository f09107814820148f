package dev.likeness.pipeline.safety;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A TensorFlow.js layers model as the nsfwjs package ships it: the model JSON ({@code modelTopology} + {@code
 * weightsManifest}) and its weight shards, each wrapped in a browserify UMD bundle ({@code model.min.js},
 * {@code group1-shardKofN.min.js}). This class reads the files as data; no JavaScript is run.
 *
 * <ul>
 *   <li>{@code model.min.js} holds the model JSON as a JavaScript object literal after {@code a.exports=}: keys are
 *       unquoted, numbers may start with a point, and {@code true} / {@code false} are minified to {@code !0} /
 *       {@code !1}. Jackson reads it with unquoted names and leading-point numbers allowed, after {@code !0} /
 *       {@code !1} outside strings are rewritten.</li>
 *   <li>Each shard holds one base64 string after {@code exports=}; the decoded bytes of all shards, concatenated in
 *       the manifest's order, are the weights, one after another in manifest order.</li>
 *   <li>A weight with {@code quantization {dtype: "uint8", min, scale}} is stored as one byte per value and means
 *       {@code q · scale + min}; tfjs computes that in double precision and stores it as float32, and so does this
 *       reader. Unquantized float32 weights are little-endian.</li>
 * </ul>
 *
 * @param topology the {@code modelTopology} object (Keras {@code model_config} inside)
 * @param weights  every weight by name, in manifest order
 * @param source   where the files came from, for error messages
 */
public record TfjsLayersModel(JsonNode topology, Map<String, Weight> weights, String source) {

    /** One weight: its TF shape (Keras layout, e.g. conv kernels [kh, kw, in, out]) and dequantized values. */
    public record Weight(String name, int[] shape, float[] values) {
    }

    /** Opens a file of the model by name (e.g. {@code "model.min.js"}); null if there is no such file. */
    @FunctionalInterface
    public interface Files {
        InputStream open(String name) throws IOException;
    }

    private static final JsonMapper LENIENT = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_UNQUOTED_FIELD_NAMES)
            .enable(JsonReadFeature.ALLOW_LEADING_DECIMAL_POINT_FOR_NUMBERS)
            .enable(JsonReadFeature.ALLOW_TRAILING_DECIMAL_POINT_FOR_NUMBERS)
            .build();

    /** A weight by name, checked to have {@code shape}. */
    public Weight weight(String name, int... shape) {
        Weight w = weights.get(name);
        if (w == null) {
            throw new SafetyCheckerException(source + ": weight '" + name + "' is missing from the weights manifest");
        }
        if (!Arrays.equals(w.shape, shape)) {
            throw new SafetyCheckerException(source + ": weight '" + name + "' has shape " + Arrays.toString(w.shape)
                    + ", expected " + Arrays.toString(shape));
        }
        return w;
    }

    /** Reads {@code model.min.js} and the shards it names from {@code files}; {@code source} names them in errors. */
    public static TfjsLayersModel read(Files files, String source) {
        String modelFile = "model.min.js";
        JsonNode json = parseObjectLiteral(exported(readText(files, modelFile, source), source + "/" + modelFile),
                source + "/" + modelFile);
        JsonNode topology = json.get("modelTopology");
        JsonNode manifest = json.get("weightsManifest");
        if (topology == null || manifest == null || !manifest.isArray()) {
            throw new SafetyCheckerException(source + "/" + modelFile
                    + ": not a TF.js layers model (needs modelTopology and weightsManifest)");
        }
        List<JsonNode> specs = new ArrayList<>();
        ByteBuffer data = concatenate(files, manifest, specs, source);
        Map<String, Weight> weights = new LinkedHashMap<>();
        for (JsonNode spec : specs) {
            String name = spec.path("name").asText();
            int[] shape = new int[spec.path("shape").size()];
            long count = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = spec.path("shape").get(i).asInt();
                count *= shape[i];
            }
            String dtype = spec.path("dtype").asText();
            if (!dtype.equals("float32")) {
                throw new SafetyCheckerException(source + ": weight '" + name + "' has dtype " + dtype
                        + ", expected float32");
            }
            JsonNode q = spec.get("quantization");
            float[] values = new float[Math.toIntExact(count)];
            int need = q == null ? values.length * 4 : quantizedBytes(q, name, source) * values.length;
            if (data.remaining() < need) {
                throw new SafetyCheckerException(source + ": the weight shards end inside weight '" + name + "' ("
                        + data.remaining() + " bytes left, " + need + " needed): truncated or corrupt shard");
            }
            if (q == null) {
                data.asFloatBuffer().get(values);
                data.position(data.position() + need);
            } else {
                double min = q.path("min").asDouble();
                double scale = q.path("scale").asDouble();
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) ((data.get() & 0xff) * scale + min);
                }
            }
            weights.put(name, new Weight(name, shape, values));
        }
        if (data.hasRemaining()) {
            throw new SafetyCheckerException(source + ": " + data.remaining()
                    + " bytes of the weight shards are not described by the manifest: corrupt shard");
        }
        return new TfjsLayersModel(topology, weights, source);
    }

    private static int quantizedBytes(JsonNode q, String name, String source) {
        String dtype = q.path("dtype").asText();
        if (!dtype.equals("uint8")) {
            throw new SafetyCheckerException(source + ": weight '" + name + "' is quantized as " + dtype
                    + "; only uint8 (min, scale) quantization is supported");
        }
        return 1;
    }

    private static ByteBuffer concatenate(Files files, JsonNode manifest, List<JsonNode> specs, String source) {
        List<byte[]> parts = new ArrayList<>();
        int total = 0;
        for (JsonNode group : manifest) {
            for (JsonNode path : group.path("paths")) {
                String file = path.asText() + ".min.js";
                String text = exported(readText(files, file, source), source + "/" + file).strip();
                if (text.length() < 2 || text.charAt(0) != '"' || text.charAt(text.length() - 1) != '"') {
                    throw new SafetyCheckerException(source + "/" + file + ": expected one base64 string literal");
                }
                byte[] bytes;
                try {
                    bytes = Base64.getDecoder().decode(text.substring(1, text.length() - 1));
                } catch (IllegalArgumentException e) {
                    throw new SafetyCheckerException(source + "/" + file + ": the weights are not valid base64 ("
                            + e.getMessage() + ")", e);
                }
                parts.add(bytes);
                total = Math.addExact(total, bytes.length);
            }
            group.path("weights").forEach(specs::add);
        }
        ByteBuffer all = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
        parts.forEach(all::put);
        return all.flip();
    }

    private static String readText(Files files, String name, String source) {
        try (InputStream in = files.open(name)) {
            if (in == null) {
                throw new SafetyCheckerException(source + "/" + name + ": missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SafetyCheckerException(source + "/" + name + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    /**
     * The expression a browserify bundle assigns to its single module's exports: from after the {@code exports=} in
     * module 1's function ({@code {1:[function(e,a,n){a.exports=}) to the bundle's closing
     * {@code },{}]},{},[1])(1)});}.
     */
    static String exported(String bundle, String file) {
        int module = bundle.indexOf("{1:[function(");
        int eq = module < 0 ? -1 : bundle.indexOf("exports=", module);
        String tail = "},{}]},{},[1])(1)});";
        int end = bundle.lastIndexOf(tail);
        if (eq < 0 || end < eq) {
            throw new SafetyCheckerException(file + ": not an nsfwjs model bundle (no 'exports=' ... '" + tail + "')");
        }
        return bundle.substring(eq + "exports=".length(), end);
    }

    /** Parses a minified JavaScript object literal holding only JSON-like data. */
    static JsonNode parseObjectLiteral(String literal, String file) {
        StringBuilder json = new StringBuilder(literal.length());
        boolean inString = false;
        for (int i = 0; i < literal.length(); i++) {
            char c = literal.charAt(i);
            if (inString) {
                json.append(c);
                if (c == '\\' && i + 1 < literal.length()) {
                    json.append(literal.charAt(++i));
                } else if (c == '"') {
                    inString = false;
                }
            } else if (c == '"') {
                inString = true;
                json.append(c);
            } else if (c == '!' && i + 1 < literal.length() && (literal.charAt(i + 1) == '0'
                    || literal.charAt(i + 1) == '1')) {
                json.append(literal.charAt(++i) == '0' ? "true" : "false");
            } else {
                json.append(c);
            }
        }
        try (JsonParser parser = LENIENT.createParser(json.toString())) {
            JsonNode node = LENIENT.readTree(parser);
            if (node == null || !node.isObject()) {
                throw new SafetyCheckerException(file + ": the model JSON is not an object");
            }
            return node;
        } catch (IOException e) {
            throw new SafetyCheckerException(file + ": cannot parse the model JSON (" + e.getMessage() + ")", e);
        }
    }
}
