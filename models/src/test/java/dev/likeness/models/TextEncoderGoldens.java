package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.safetensors.SafetensorsFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.fail;

/** Reading the text encoder goldens (tools/reference/goldens/models_clip_text.py, models_t5.py). */
final class TextEncoderGoldens {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TextEncoderGoldens() {
    }

    /** {@code golden/<set>/<name>} on the test class path. */
    static Path resource(String set, String name) {
        URL url = TextEncoderGoldens.class.getResource("/golden/" + set + "/" + name);
        if (url == null) {
            fail("golden/" + set + "/" + name + " is missing: run tools/reference/run.sh " + set);
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The cases of a golden file: its metadata key "cases" maps each case name to its parameters. */
    static List<Map.Entry<String, JsonNode>> cases(SafetensorsFile golden) {
        String json = golden.metadata().get("cases");
        if (json == null) {
            fail(golden.path() + " has no \"cases\" metadata");
        }
        try {
            List<Map.Entry<String, JsonNode>> out = new ArrayList<>(JSON.readTree(json).properties());
            if (out.isEmpty()) {
                fail(golden.path() + " has no cases");
            }
            return out;
        } catch (IOException e) {
            throw new IllegalStateException(golden.path() + ": bad \"cases\" metadata", e);
        }
    }

    /** The tolerance on the relative L2 error for a case's precision: f32 1e-4, low precision 1e-2. */
    static double tolerance(JsonNode params) {
        return params.get("precision").asText().equals("f32") ? 1e-4 : 1e-2;
    }

    /** ||actual - expected|| / ||expected||. */
    static double relativeError(float[] actual, float[] expected) {
        if (actual.length != expected.length) {
            fail("length " + actual.length + " != expected " + expected.length);
        }
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = (double) actual[i] - expected[i];
            diff += d * d;
            norm += (double) expected[i] * expected[i];
        }
        return Math.sqrt(diff / norm);
    }

    /**
     * A copy of the model folder {@code source} in {@code dir}: the same checkpoint and its config.json after
     * {@code edit}.
     */
    static Path withConfig(Path source, Path dir, Consumer<ObjectNode> edit) {
        try {
            Files.copy(source.resolve("model.safetensors"), dir.resolve("model.safetensors"));
            ObjectNode config = (ObjectNode) JSON.readTree(Files.readString(source.resolve("config.json")));
            edit.accept(config);
            Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(config));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
