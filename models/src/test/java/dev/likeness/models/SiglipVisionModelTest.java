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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link SiglipVisionModel} against transformers 4.51.3 ({@code tools/reference/goldens/models_siglip.py}): the tiny
 * model's last_hidden_state, pooler_output and every hidden state to 1e-4, on the default path (also with a dropped
 * pixel margin) and with interpolate_pos_encoding; the bf16 checkpoint against torch's all-bf16 run to 1e-2; plus
 * the errors for bad checkpoints, configs and inputs.
 */
class SiglipVisionModelTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);
    private static SafetensorsFile outputs;

    @BeforeAll
    static void open() {
        outputs = SafetensorsFile.open(ModelGoldens.resource("siglip", "outputs.safetensors"));
    }

    @AfterAll
    static void close() {
        outputs.close();
        BACKEND.close();
    }

    private static Path model(String name) {
        return ModelGoldens.resource("siglip", name);
    }

    /** The f32 tiny model. */
    private static Path model() {
        return model("model");
    }

    private static Tensor golden(String caseName, String role) {
        return outputs.tensor(caseName + "/" + role, BACKEND);
    }

    /** Runs case {@code caseName} on {@code model} and checks every output against the golden. */
    private static void check(SiglipVisionModel model, String caseName, JsonNode params) {
        double tol = ModelGoldens.tolerance(params);
        SiglipVisionModel.Output out = model.forward(golden(caseName, "pixel_values"),
                params.get("interpolate_pos_encoding").asBoolean());
        ModelGoldens.assertClose(golden(caseName, "last_hidden_state"), out.lastHiddenState(), tol,
                caseName + " last_hidden_state");
        if (outputs.contains(caseName + "/pooler_output")) { // f32 cases only, see models_siglip.py
            ModelGoldens.assertClose(golden(caseName, "pooler_output"), out.poolerOutput(), tol,
                    caseName + " pooler_output");
        }
        ModelGoldens.assertHiddenStates(outputs, BACKEND, caseName, params.get("hidden_states").asInt(),
                out.hiddenStates(), tol);
    }

    @TestFactory
    List<DynamicTest> matchesTransformers() {
        return ModelGoldens.cases(outputs).stream().map(c -> DynamicTest.dynamicTest(c.getKey(), () -> {
            try (SiglipVisionModel model = SiglipVisionModel.load(model(c.getValue().get("model").asText()), BACKEND)) {
                check(model, c.getKey(), c.getValue());
            }
        })).toList();
    }

    @Test
    void readsTheVisionSectionOfAFullSiglipConfig(@TempDir Path tmp) throws IOException {
        Path dir = ModelGoldens.withConfig(model(), tmp.resolve("full"),
                json -> "{\"model_type\": \"siglip\", \"text_config\": {}, \"vision_config\": " + json + "}");
        try (SiglipVisionModel model = SiglipVisionModel.load(dir, BACKEND)) {
            assertEquals(32, model.config().hiddenSize());
            check(model, "default", ModelGoldens.cases(outputs).getFirst().getValue());
        }
    }

    @Test
    void so400mConfigGivesTheInstantCharacterGrid(@TempDir Path tmp) throws IOException {
        // google/siglip-so400m-patch14-384: a full siglip config.json whose vision_config omits num_channels and
        // hidden_act (SiglipVisionConfig defaults)
        Path file = tmp.resolve("config.json");
        Files.writeString(file, """
                {"model_type": "siglip", "text_config": {"hidden_size": 1152},
                 "vision_config": {"hidden_size": 1152, "image_size": 384, "intermediate_size": 4304,
                                   "model_type": "siglip_vision_model", "num_attention_heads": 16,
                                   "num_hidden_layers": 27, "patch_size": 14}}""");
        SiglipVisionModel.Config c = SiglipVisionModel.Config.from(ModelConfig.read(file));
        assertEquals(27, c.gridSize()); // 384 = 27 * 14 + 6: 729 positions
        assertEquals(72, c.headDim());
        assertEquals("gelu_pytorch_tanh", c.hiddenAct());
        assertEquals(1e-6f, c.layerNormEps());
        assertEquals(3, c.numChannels());
        assertTrue(c.useHead());
    }

    @Test
    void withoutTheHeadThereIsNoPoolerOutput(@TempDir Path tmp) throws IOException {
        Path dir = ModelGoldens.without(model(), tmp.resolve("headless"), "vision_model.head.probe", BACKEND);
        Path config = ModelGoldens.withConfig(dir, tmp.resolve("no_head"),
                json -> json.replaceFirst("\\{", "{\"vision_use_head\": false,"));
        try (SiglipVisionModel model = SiglipVisionModel.load(config, BACKEND)) {
            SiglipVisionModel.Output out = model.forward(golden("default", "pixel_values"), false);
            assertNull(out.poolerOutput());
            ModelGoldens.assertClose(golden("default", "last_hidden_state"), out.lastHiddenState(),
                    ModelGoldens.F32_TOLERANCE, "last_hidden_state without head");
        }
    }

    @Test
    void missingTensorNamesFileTensorAndShape(@TempDir Path tmp) throws IOException {
        String name = "vision_model.encoder.layers.1.mlp.fc2.weight";
        Path dir = ModelGoldens.without(model(), tmp.resolve("m"), name, BACKEND);
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SiglipVisionModel.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains(name)
                && e.getMessage().contains("[32, 48]"), e.getMessage());
    }

    @Test
    void wrongShapeNamesTensorAndExpectation(@TempDir Path tmp) throws IOException {
        Path dir = ModelGoldens.withConfig(model(), tmp.resolve("m"),
                json -> json.replace("\"intermediate_size\": 48", "\"intermediate_size\": 64"));
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SiglipVisionModel.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors")
                && e.getMessage().contains("vision_model.encoder.layers.0.mlp.fc1.weight")
                && e.getMessage().contains("[48, 32]") && e.getMessage().contains("expected [64, 32]"), e.getMessage());
    }

    @Test
    void unreadableConfigNamesTheFile(@TempDir Path tmp) throws IOException {
        Path dir = ModelGoldens.withConfig(model(), tmp.resolve("m"), json -> json.substring(0, json.length() / 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SiglipVisionModel.load(dir, BACKEND));
        assertTrue(e.getMessage().contains(dir.resolve("config.json").toString()), e.getMessage());
    }

    @Test
    void badConfigFieldsAreNamed(@TempDir Path tmp) throws IOException {
        Path heads = ModelGoldens.withConfig(model(), tmp.resolve("heads"),
                json -> json.replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SiglipVisionModel.load(heads, BACKEND));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("num_attention_heads"),
                e.getMessage());
        Path act = ModelGoldens.withConfig(model(), tmp.resolve("act"),
                json -> json.replace("\"gelu_pytorch_tanh\"", "\"relu6\""));
        e = assertThrows(IllegalArgumentException.class, () -> SiglipVisionModel.load(act, BACKEND));
        assertTrue(e.getMessage().contains("hidden_act") && e.getMessage().contains("relu6"), e.getMessage());
    }

    @Test
    void inputErrors() {
        try (SiglipVisionModel model = SiglipVisionModel.load(model(), BACKEND)) {
            Tensor larger = golden("interpolated", "pixel_values");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.forward(larger, false));
            assertTrue(e.getMessage().contains("9 patches") && e.getMessage().contains("4 positions"), e.getMessage());
            Tensor gray = BACKEND.zeros(DType.F32, 1, 1, 28, 28);
            e = assertThrows(IllegalArgumentException.class, () -> model.forward(gray, false));
            assertTrue(e.getMessage().contains("pixel_values") && e.getMessage().contains("[1, 1, 28, 28]"),
                    e.getMessage());
        }
    }
}
