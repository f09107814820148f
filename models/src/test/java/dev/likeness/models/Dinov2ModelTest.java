package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsException;
import dev.likeness.engine.safetensors.SafetensorsFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Dinov2Model} against transformers 4.51.3 ({@code tools/reference/goldens/models_dinov2.py}): a GELU-MLP and
 * a SwiGLU tiny model, at the trained size and at larger, smaller and non-square inputs (interpolated positions);
 * last_hidden_state, pooler_output and every hidden state to 1e-4; the bf16 SwiGLU checkpoint against torch's
 * all-bf16 run to 1e-2. Plus the errors for bad checkpoints, configs and inputs.
 */
class Dinov2ModelTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);
    private static SafetensorsFile outputs;

    @BeforeAll
    static void open() {
        outputs = SafetensorsFile.open(ModelGoldens.resource("dinov2", "outputs.safetensors"));
    }

    @AfterAll
    static void close() {
        outputs.close();
        BACKEND.close();
    }

    private static Path model(String name) {
        return ModelGoldens.resource("dinov2", name);
    }

    private static Tensor golden(String caseName, String role) {
        return outputs.tensor(caseName + "/" + role, BACKEND);
    }

    private static void check(Dinov2Model model, String caseName, JsonNode params) {
        double tol = ModelGoldens.tolerance(params);
        Dinov2Model.Output out = model.forward(golden(caseName, "pixel_values"));
        ModelGoldens.assertClose(golden(caseName, "last_hidden_state"), out.lastHiddenState(), tol,
                caseName + " last_hidden_state");
        ModelGoldens.assertClose(golden(caseName, "pooler_output"), out.poolerOutput(), tol,
                caseName + " pooler_output");
        ModelGoldens.assertHiddenStates(outputs, BACKEND, caseName, params.get("hidden_states").asInt(),
                out.hiddenStates(), tol);
    }

    @TestFactory
    List<DynamicTest> matchesTransformers() {
        return ModelGoldens.cases(outputs).stream().map(c -> DynamicTest.dynamicTest(c.getKey(), () -> {
            try (Dinov2Model model = Dinov2Model.load(model(c.getValue().get("model").asText()), BACKEND)) {
                check(model, c.getKey(), c.getValue());
            }
        })).toList();
    }

    @Test
    void swigluHiddenSizeFollowsTransformers() {
        try (Dinov2Model model = Dinov2Model.load(model("swiglu"), BACKEND)) {
            assertEquals(128, model.config().ffnHiddenSize()); // (int(192 * 2 / 3) + 7) // 8 * 8
        }
        Dinov2Model.Config giant = new Dinov2Model.Config(1536, 40, 24, 4, 3, 518, 14, "gelu", 1e-6f, true, true);
        assertEquals(4096, giant.ffnHiddenSize());
        assertEquals(37, giant.gridSize());
    }

    @Test
    void missingTensorNamesFileTensorAndShape(@TempDir Path tmp) throws IOException {
        String name = "encoder.layer.2.layer_scale2.lambda1";
        Path dir = ModelGoldens.without(model("swiglu"), tmp.resolve("m"), name, BACKEND);
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Dinov2Model.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains(name)
                && e.getMessage().contains("[48]"), e.getMessage());
    }

    @Test
    void wrongShapeNamesTensorAndExpectation(@TempDir Path tmp) throws IOException {
        // the MLP checkpoint read as a SwiGLU model: fc1 is not there, weights_in is expected
        Path swapped = ModelGoldens.withConfig(model("mlp"), tmp.resolve("swapped"),
                json -> json.replace("\"use_swiglu_ffn\": false", "\"use_swiglu_ffn\": true"));
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> Dinov2Model.load(swapped, BACKEND));
        assertTrue(e.getMessage().contains("encoder.layer.0.mlp.weights_in.weight"), e.getMessage());
        // a different trained size: the position table has 1 + 4 rows, 1 + 9 expected
        Path size = ModelGoldens.withConfig(model("mlp"), tmp.resolve("size"),
                json -> json.replace("\"image_size\": 28", "\"image_size\": 42"));
        e = assertThrows(SafetensorsException.class, () -> Dinov2Model.load(size, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors")
                && e.getMessage().contains("embeddings.position_embeddings") && e.getMessage().contains("[1, 5, 32]")
                && e.getMessage().contains("expected [1, 10, 32]"),
                e.getMessage());
    }

    @Test
    void unreadableConfigNamesTheFile(@TempDir Path tmp) throws IOException {
        Path dir = ModelGoldens.withConfig(model("mlp"), tmp.resolve("m"), json -> "[1, 2]");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Dinov2Model.load(dir, BACKEND));
        assertTrue(e.getMessage().contains(dir.resolve("config.json").toString()), e.getMessage());
        Path field = ModelGoldens.withConfig(model("mlp"), tmp.resolve("f"),
                json -> json.replace("\"hidden_size\": 32", "\"hidden_size\": \"32\""));
        e = assertThrows(IllegalArgumentException.class, () -> Dinov2Model.load(field, BACKEND));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("hidden_size"), e.getMessage());
    }

    @Test
    void inputErrors() {
        try (Dinov2Model model = Dinov2Model.load(model("mlp"), BACKEND)) {
            Tensor small = BACKEND.zeros(DType.F32, 1, 3, 13, 28);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> model.forward(small));
            assertTrue(e.getMessage().contains("pixel_values") && e.getMessage().contains("[1, 3, 13, 28]"),
                    e.getMessage());
        }
    }
}
