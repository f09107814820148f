package dev.likeness.models.tokenizers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/** Reads tokenizer files; a name ending in {@code .gz} is gunzipped on the way in. */
final class TokenizerFiles {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TokenizerFiles() {
    }

    /** The bytes of {@code path}, decompressed when the name ends in {@code .gz}. */
    static byte[] bytes(Path path) {
        try {
            byte[] raw = Files.readAllBytes(path);
            if (!path.getFileName().toString().endsWith(".gz")) {
                return raw;
            }
            try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw))) {
                return in.readAllBytes();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read tokenizer file " + path + ": " + e.getMessage(), e);
        }
    }

    static String text(Path path) {
        return new String(bytes(path), StandardCharsets.UTF_8);
    }

    static JsonNode json(Path path) {
        try {
            return JSON.readTree(bytes(path));
        } catch (IOException e) {
            throw new UncheckedIOException(path + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    /** {@code node.get(field)}, or an error naming the file and the field when it is missing or null. */
    static JsonNode required(JsonNode node, String field, String source) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            throw new IllegalArgumentException(source + ": missing field \"" + field + "\"");
        }
        return v;
    }

    /** The first of {@code dir/name} and {@code dir/name.gz} that exists, or null. */
    static Path find(Path dir, String name) {
        for (Path p : new Path[]{dir.resolve(name), dir.resolve(name + ".gz")}) {
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }
}
