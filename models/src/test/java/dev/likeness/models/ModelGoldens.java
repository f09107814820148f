package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;
import dev.likeness.engine.safetensors.SafetensorsWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The model goldens written by {@code tools/reference/goldens/models_*.py}: tiny model folders and a golden file whose
 * tensors are named {@code <case>/<role>} and whose metadata key {@code cases} maps each case to its parameters
 * (the format of the engine's op goldens). Also builds broken copies of a model folder for the error tests.
 */
final class ModelGoldens {
    /** Tolerance of an f32 case: relative L2 error ‖out − ref‖ / ‖ref‖. */
    static final double F32_TOLERANCE = 1e-4;
    /** Tolerance of a bf16 case (torch rounds every op to bf16, the Java side computes in f32). */
    static final double BF16_TOLERANCE = 1e-2;
    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelGoldens() {
    }

    /** {@code golden/<set>/<name>} from the test resources. */
    static Path resource(String set, String name) {
        URL url = ModelGoldens.class.getResource("/golden/" + set + "/" + name);
        if (url == null) {
            fail("golden/" + set + "/" + name + " is missing: run tools/reference/run.sh " + set);
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The cases of {@code outputs}, in file order. */
    static List<Map.Entry<String, JsonNode>> cases(SafetensorsFile outputs) {
        String json = outputs.metadata().get("cases");
        if (json == null) {
            fail(outputs.path() + " has no \"cases\" metadata: regenerate it with tools/reference/run.sh");
        }
        List<Map.Entry<String, JsonNode>> out = new ArrayList<>();
        try {
            JSON.readTree(json).properties().forEach(out::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (out.isEmpty()) {
            fail(outputs.path() + " has no cases");
        }
        return out;
    }

    /** The tolerance of a case with parameters {@code params}: by its {@code precision}, f32 or bf16. */
    static double tolerance(JsonNode params) {
        return switch (params.get("precision").asText()) {
            case "f32" -> F32_TOLERANCE;
            case "bf16" -> BF16_TOLERANCE;
            default -> throw new IllegalArgumentException("unknown precision in " + params);
        };
    }

    /** ||actual - expected|| / ||expected||, in double. */
    static double relativeError(float[] actual, float[] expected) {
        if (actual.length != expected.length) {
            fail("length " + actual.length + " != expected " + expected.length);
        }
        double num = 0;
        double den = 0;
        for (int i = 0; i < actual.length; i++) {
            double d = (double) actual[i] - expected[i];
            num += d * d;
            den += (double) expected[i] * expected[i];
        }
        return Math.sqrt(num / den);
    }

    /** Asserts {@code actual} has the reference's shape and is within relative L2 error {@code tolerance} of it. */
    static double assertClose(Tensor expected, Tensor actual, double tolerance, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        double err = relativeError(actual.toFloatArray(), expected.toFloatArray());
        assertTrue(err <= tolerance, what + ": relative L2 error " + err + " > " + tolerance);
        return err;
    }

    /**
     * Asserts a model returned exactly {@code count} hidden states (the case's {@code hidden_states} parameter) and
     * that each matches {@code <case>/hidden_states.<i>} of {@code outputs}.
     */
    static void assertHiddenStates(SafetensorsFile outputs, CpuBackend backend, String caseName, int count,
                                   List<Tensor> actual, double tolerance) {
        assertEquals(count, actual.size(), caseName + ": number of hidden states");
        for (int i = 0; i < count; i++) {
            assertClose(outputs.tensor(caseName + "/hidden_states." + i, backend), actual.get(i), tolerance,
                    caseName + " hidden_states." + i);
        }
    }

    /** A copy of model folder {@code source} in {@code target} with its config.json rewritten by {@code edit}. */
    static Path withConfig(Path source, Path target, UnaryOperator<String> edit) throws IOException {
        Files.createDirectories(target);
        Files.copy(source.resolve("model.safetensors"), target.resolve("model.safetensors"));
        Files.writeString(target.resolve("config.json"), edit.apply(Files.readString(source.resolve("config.json"))));
        return target;
    }

    /** A copy of model folder {@code source} in {@code target} with its config.json object changed by {@code edit}. */
    static Path withConfigJson(Path source, Path target, Consumer<ObjectNode> edit) {
        try {
            return withConfig(source, target, text -> {
                try {
                    ObjectNode config = (ObjectNode) JSON.readTree(text);
                    edit.accept(config);
                    return JSON.writeValueAsString(config);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A copy of model folder {@code source} in {@code target} whose checkpoint lacks tensor {@code drop}. */
    static Path without(Path source, Path target, String drop, CpuBackend backend) throws IOException {
        Files.createDirectories(target);
        Files.copy(source.resolve("config.json"), target.resolve("config.json"));
        try (SafetensorsFile in = SafetensorsFile.open(source.resolve("model.safetensors"))) {
            Map<String, Tensor> kept = new LinkedHashMap<>();
            for (String name : in.names()) {
                if (!name.equals(drop)) {
                    kept.put(name, in.tensor(name, backend));
                }
            }
            assertTrue(kept.size() < in.names().size(), "no tensor " + drop + " in " + source);
            SafetensorsWriter.write(target.resolve("model.safetensors"), kept, Map.of("format", "pt"));
        }
        return target;
    }
}
