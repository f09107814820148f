package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsException;
import dev.likeness.engine.safetensors.SafetensorsFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.likeness.models.ModelGoldens.relativeError;
import static dev.likeness.models.ModelGoldens.resource;
import static dev.likeness.models.ModelGoldens.withConfigJson;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link T5EncoderModel} against transformers 4.51.3 {@code T5EncoderModel} on a tiny random T5 v1.1 model
 * ({@code tools/reference/goldens/models_t5.py}): last hidden state with and without an attention mask, f32 weights at
 * 1e-4 relative error, bf16 weights against torch in bf16 at 1e-2; relative position buckets identical to torch's.
 */
class T5EncoderModelTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);

    @TempDir
    Path tmp;

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    @TestFactory
    List<DynamicTest> matchesTransformers() {
        SafetensorsFile golden = SafetensorsFile.open(resource("t5", "outputs.safetensors"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : ModelGoldens.cases(golden)) {
            String name = c.getKey();
            JsonNode params = c.getValue();
            tests.add(DynamicTest.dynamicTest(name, () -> {
                try (T5EncoderModel model = T5EncoderModel.load(resource("t5", params.get("model").asText()),
                        BACKEND)) {
                    Tensor mask = golden.contains(name + "/attention_mask")
                            ? golden.tensor(name + "/attention_mask", BACKEND) : null;
                    Tensor out = model.forward(golden.tensor(name + "/ids", BACKEND), mask);
                    Tensor expected = golden.tensor(name + "/last_hidden_state", BACKEND);
                    assertArrayEquals(expected.shape(), out.shape(), name + " shape");
                    double err = relativeError(BACKEND.toFloatArray(out), BACKEND.toFloatArray(expected));
                    double tol = ModelGoldens.tolerance(params);
                    System.out.printf("t5 %s/last_hidden_state relative error %.3g%n", name, err);
                    assertTrue(err <= tol, name + ": relative error " + err + " > " + tol);
                }
            }));
        }
        return tests;
    }

    @Test
    void maskChangesTheOutput() {
        SafetensorsFile golden = SafetensorsFile.open(resource("t5", "outputs.safetensors"));
        float[] masked = BACKEND.toFloatArray(golden.tensor("masked/last_hidden_state", BACKEND));
        float[] unmasked = BACKEND.toFloatArray(golden.tensor("unmasked/last_hidden_state", BACKEND));
        assertTrue(relativeError(masked, unmasked) > 1e-2, "the golden cases must differ for the mask to be tested");
    }

    @TestFactory
    List<DynamicTest> bucketsMatchTorch() {
        SafetensorsFile golden = SafetensorsFile.open(resource("t5", "buckets.safetensors"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : ModelGoldens.cases(golden)) {
            JsonNode p = c.getValue();
            tests.add(DynamicTest.dynamicTest(c.getKey(), () -> {
                int[] expected = BACKEND.toIntArray(golden.tensor(c.getKey() + "/buckets", BACKEND));
                int first = p.get("first").asInt();
                for (int i = 0; i < expected.length; i++) {
                    int relative = first + i;
                    assertEquals(expected[i], T5EncoderModel.relativePositionBucket(relative, true,
                            p.get("num_buckets").asInt(), p.get("max_distance").asInt()), "relative position " + relative);
                }
            }));
        }
        return tests;
    }

    @Test
    void missingBlockNamesTheTensor() {
        Path dir = withConfigJson(resource("t5", "model"), tmp, c -> c.put("num_layers", 3));
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> T5EncoderModel.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors")
                && e.getMessage().contains("encoder.block.2.layer.0.layer_norm.weight")
                && e.getMessage().contains("[64]"), e.getMessage());
    }

    @Test
    void wrongShapeNamesTensorAndExpectedShape() {
        Path dir = withConfigJson(resource("t5", "model"), tmp, c -> c.put("d_ff", 100));
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> T5EncoderModel.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors")
                && e.getMessage().contains("encoder.block.0.layer.1.DenseReluDense.wi_0.weight")
                && e.getMessage().contains("[96, 64]") && e.getMessage().contains("[100, 64]"), e.getMessage());
    }

    @Test
    void unsupportedFeedForwardNamesTheField() {
        Path dir = withConfigJson(resource("t5", "model"), tmp, c -> c.put("feed_forward_proj", "relu"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> T5EncoderModel.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("feed_forward_proj"),
                e.getMessage());
    }

    @Test
    void unreadableConfigNamesTheFile() throws IOException {
        Files.writeString(tmp.resolve("config.json"), "[1, 2");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> T5EncoderModel.load(tmp, BACKEND));
        assertTrue(e.getMessage().contains(tmp.resolve("config.json").toString()), e.getMessage());
    }

    @Test
    void rejectsMaskOfWrongShape() {
        try (T5EncoderModel model = T5EncoderModel.load(resource("t5", "model"), BACKEND)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.forward(BACKEND.fromInts(new int[] {3, 4}, 1, 2), BACKEND.fromInts(new int[3], 1, 3)));
            assertTrue(e.getMessage().contains("attention mask"), e.getMessage());
        }
    }
}
