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
 * {@link ClipTextModel} against transformers 4.51.3 {@code CLIPTextModel} on a tiny random model
 * ({@code tools/reference/goldens/models_clip_text.py}): last hidden state, pooled output and the first layer's
 * hidden state, f32 weights at 1e-4 relative error, bf16 weights against torch in bf16 at 1e-2.
 */
class ClipTextModelTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);

    @TempDir
    Path tmp;

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    @TestFactory
    List<DynamicTest> matchesTransformers() {
        SafetensorsFile golden = SafetensorsFile.open(resource("clip_text", "outputs.safetensors"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : ModelGoldens.cases(golden)) {
            String name = c.getKey();
            JsonNode params = c.getValue();
            tests.add(DynamicTest.dynamicTest(name, () -> {
                Path folder = resource("clip_text", params.get("model").asText());
                int eos = params.get("eos_token_id").asInt();
                Path dir = Files.createDirectory(tmp.resolve(name));
                folder = withConfigJson(folder, dir, config -> config.put("eos_token_id", eos));
                double tol = ModelGoldens.tolerance(params);
                try (ClipTextModel model = ClipTextModel.load(folder, BACKEND)) {
                    assertEquals(eos, model.config().eosTokenId());
                    ClipTextModel.Output out = model.forward(golden.tensor(name + "/ids", BACKEND));
                    check(name, "last_hidden_state", out.lastHiddenState(), golden, tol);
                    check(name, "pooler_output", out.pooledOutput(), golden, tol);
                    check(name, "hidden_states_1", out.hiddenStates().get(1), golden, tol);
                    assertEquals(model.config().numHiddenLayers() + 1, out.hiddenStates().size());
                }
            }));
        }
        return tests;
    }

    private static void check(String name, String role, Tensor actual, SafetensorsFile golden, double tol) {
        Tensor expected = golden.tensor(name + "/" + role, BACKEND);
        assertArrayEquals(expected.shape(), actual.shape(), name + "/" + role + " shape");
        double err = relativeError(BACKEND.toFloatArray(actual), BACKEND.toFloatArray(expected));
        System.out.printf("clip_text %s/%s relative error %.3g%n", name, role, err);
        assertTrue(err <= tol, name + "/" + role + ": relative error " + err + " > " + tol);
    }

    @Test
    void poolsAtLargestIdForLegacyEosAndAtFirstEosOtherwise() {
        int[] ids = {5, 9, 3, 9, 1, 4, 7, 7};
        assertArrayEquals(new int[] {1, 2}, ClipTextModel.eosPositions(ids, 2, 4, 2));
        assertArrayEquals(new int[] {1, 0}, ClipTextModel.eosPositions(ids, 2, 4, 9));
        assertArrayEquals(new int[] {0, 2}, ClipTextModel.eosPositions(ids, 2, 4, 7));
        // a row without the end token pools at position 0, as torch's argmax over an all-false row
        assertArrayEquals(new int[] {0, 0}, ClipTextModel.eosPositions(ids, 2, 4, 5));
    }

    @Test
    void missingLayerNamesTheTensor() {
        Path dir = withConfigJson(resource("clip_text", "model"), tmp, c -> c.put("num_hidden_layers", 3));
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> ClipTextModel.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors")
                && e.getMessage().contains("text_model.encoder.layers.2.layer_norm1.weight")
                && e.getMessage().contains("[64]"), e.getMessage());
    }

    @Test
    void wrongShapeNamesTensorAndExpectedShape() {
        Path dir = withConfigJson(resource("clip_text", "model"), tmp, c -> c.put("intermediate_size", 100));
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> ClipTextModel.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors")
                && e.getMessage().contains("text_model.encoder.layers.0.mlp.fc1.weight")
                && e.getMessage().contains("[128, 64]") && e.getMessage().contains("[100, 64]"), e.getMessage());
    }

    @Test
    void unsupportedActivationNamesTheField() {
        Path dir = withConfigJson(resource("clip_text", "model"), tmp, c -> c.put("hidden_act", "relu"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipTextModel.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("hidden_act"), e.getMessage());
    }

    @Test
    void unreadableConfigNamesTheFile() throws IOException {
        Files.writeString(tmp.resolve("config.json"), "{\"hidden_size\": ");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ClipTextModel.load(tmp, BACKEND));
        assertTrue(e.getMessage().contains(tmp.resolve("config.json").toString()), e.getMessage());
    }

    @Test
    void rejectsTooLongSequenceAndIdsOutsideVocabulary() {
        try (ClipTextModel model = ClipTextModel.load(resource("clip_text", "model"), BACKEND)) {
            IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                    () -> model.forward(BACKEND.fromInts(new int[17], 1, 17)));
            assertTrue(tooLong.getMessage().contains("max_position_embeddings 16"), tooLong.getMessage());
            IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                    () -> model.forward(BACKEND.fromInts(new int[] {0, 256}, 1, 2)));
            assertTrue(outside.getMessage().contains("256"), outside.getMessage());
        }
    }
}
