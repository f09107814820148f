package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The image-encoder goldens of {@code tools/reference/goldens/models_siglip.py} and {@code models_dinov2.py}: tiny
 * model folders and an {@code outputs.safetensors} whose tensors are named {@code <case>/<role>} and whose metadata
 * key {@code cases} maps each case to its parameters. Also builds broken copies of a model folder for error tests.
 */
final class VisionGolden {
    /** Tolerance of an f32 case: relative L2 error ‖out − ref‖ / ‖ref‖. */
    static final double F32_TOLERANCE = 1e-4;
    /** Tolerance of a bf16 case (torch rounds every op to bf16, the Java side computes in f32). */
    static final double BF16_TOLERANCE = 1e-2;
    private static final ObjectMapper JSON = new ObjectMapper();

    private VisionGolden() {
    }

    /** {@code golden/<set>/<name>} from the test resources. */
    static Path resource(String set, String name) {
        URL url = VisionGolden.class.getResource("/golden/" + set + "/" + name);
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

    /** Asserts {@code actual} has the reference's shape and is within relative L2 error {@code tolerance} of it. */
    static double assertClose(Tensor expected, Tensor actual, double tolerance, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        float[] e = expected.toFloatArray();
        float[] a = actual.toFloatArray();
        double num = 0;
        double den = 0;
        for (int i = 0; i < e.length; i++) {
            double diff = (double) a[i] - e[i];
            num += diff * diff;
            den += (double) e[i] * e[i];
        }
        double err = Math.sqrt(num / den);
        assertTrue(err <= tolerance, what + ": relative L2 error " + err + " > " + tolerance);
        return err;
    }

    /** A copy of model folder {@code source} in {@code target} with its config.json rewritten by {@code edit}. */
    static Path withConfig(Path source, Path target, UnaryOperator<String> edit) throws IOException {
        Files.createDirectories(target);
        Files.copy(source.resolve("model.safetensors"), target.resolve("model.safetensors"));
        Files.writeString(target.resolve("config.json"), edit.apply(Files.readString(source.resolve("config.json"))));
        return target;
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
