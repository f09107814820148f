package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model's {@code config.json} (HF transformers / diffusers style), with typed getters whose errors name the file and
 * the field.
 */
public final class ModelConfig {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private final JsonNode root;

    private ModelConfig(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    /** Reads {@code file}; a missing or malformed file is an error naming it. */
    public static ModelConfig read(Path file) {
        try {
            JsonNode n = JSON.readTree(Files.readString(file));
            if (n == null || !n.isObject()) {
                throw new IllegalArgumentException(file + ": not a JSON object");
            }
            return new ModelConfig(file, n);
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read model config: " + e.getMessage(), e);
        }
    }

    /** A config given as JSON text (for example a built-in default), reported as coming from {@code source}. */
    public static ModelConfig parse(String json, Path source) {
        try {
            JsonNode n = JSON.readTree(json);
            if (n == null || !n.isObject()) {
                throw new IllegalArgumentException(source + ": not a JSON object");
            }
            return new ModelConfig(source, n);
        } catch (IOException e) {
            throw new IllegalArgumentException(source + ": cannot parse model config: " + e.getMessage(), e);
        }
    }

    public Path file() {
        return file;
    }

    public JsonNode json() {
        return root;
    }

    /** A nested object (e.g. {@code vision_config}) as a config of its own, reported under the same file. */
    public ModelConfig section(String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException(file + ": field '" + field + "' must be an object");
        }
        return new ModelConfig(file, n);
    }

    public boolean has(String field) {
        return root.hasNonNull(field);
    }

    public int integer(String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.canConvertToInt() || !n.isIntegralNumber()) {
            throw new IllegalArgumentException(file + ": field '" + field + "' must be an integer, got " + n);
        }
        return n.asInt();
    }

    public int integer(String field, int fallback) {
        return has(field) ? integer(field) : fallback;
    }

    public double number(String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.isNumber()) {
            throw new IllegalArgumentException(file + ": field '" + field + "' must be a number, got " + n);
        }
        return n.asDouble();
    }

    public double number(String field, double fallback) {
        return has(field) ? number(field) : fallback;
    }

    public String string(String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.isTextual()) {
            throw new IllegalArgumentException(file + ": field '" + field + "' must be a string, got " + n);
        }
        return n.asText();
    }

    public String string(String field, String fallback) {
        return has(field) ? string(field) : fallback;
    }

    public boolean bool(String field, boolean fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isBoolean()) {
            throw new IllegalArgumentException(file + ": field '" + field + "' must be true or false, got " + n);
        }
        return n.asBoolean();
    }

    public int[] integers(String field) {
        JsonNode n = root.get(field);
        if (n == null || !n.isArray()) {
            throw new IllegalArgumentException(file + ": field '" + field + "' must be an array of integers, got " + n);
        }
        int[] r = new int[n.size()];
        for (int i = 0; i < r.length; i++) {
            if (!n.get(i).isIntegralNumber()) {
                throw new IllegalArgumentException(file + ": field '" + field + "' must be an array of integers, got " + n);
            }
            r[i] = n.get(i).asInt();
        }
        return r;
    }
}
