package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.DType;
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
import java.util.function.Supplier;

import static dev.likeness.models.ModelGoldens.relativeError;
import static dev.likeness.models.ModelGoldens.resource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FluxTransformer} against diffusers 0.33.1 {@code FluxTransformer2DModel} on tiny random models
 * ({@code tools/reference/goldens/models_flux.py}): the output and the states after the double- and single-stream
 * stacks at 1e-4 relative error, from the sharded diffusers folder, a model without guidance embedder, bf16 weights
 * (with diffusers' bf16 rounding of 1000 t and 1000 g), and the same weights in the BFL single-file layout; latent packing and image ids as FluxPipeline builds them; the attention hook.
 */
class FluxTransformerTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);
    private static final SafetensorsFile GOLDEN = SafetensorsFile.open(resource("flux", "outputs.safetensors"));

    @TempDir
    Path tmp;

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static Tensor golden(String name) {
        return GOLDEN.tensor(name, BACKEND);
    }

    private static FluxTransformer.Result run(FluxTransformer model, String c, FluxTransformer.ImageAttentionHook hook) {
        Tensor guidance = GOLDEN.contains(c + "/guidance") ? golden(c + "/guidance") : null;
        return model.forward(golden(c + "/hidden_states"), golden(c + "/encoder_hidden_states"),
                golden(c + "/pooled_projections"), golden(c + "/timestep"), guidance, golden(c + "/img_ids"),
                golden(c + "/txt_ids"), hook);
    }

    private static void assertClose(String what, Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double err = relativeError(BACKEND.toFloatArray(actual), BACKEND.toFloatArray(expected));
        System.out.printf("flux %s relative error %.3g%n", what, err);
        assertTrue(err <= 1e-4, what + ": relative error " + err + " > 1e-4");
    }

    private static void assertMatches(String c, Supplier<FluxTransformer> load, String label) {
        try (FluxTransformer model = load.get()) {
            FluxTransformer.Result r = run(model, c, null);
            assertClose(label + "/sample", golden(c + "/sample"), r.sample());
            assertClose(label + "/double_img", golden(c + "/double_img"), r.doubleStreamImage());
            assertClose(label + "/double_txt", golden(c + "/double_txt"), r.doubleStreamText());
            assertClose(label + "/single", golden(c + "/single"), r.singleStream());
        }
    }

    @TestFactory
    List<DynamicTest> matchesDiffusers() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : ModelGoldens.cases(GOLDEN)) {
            String folder = c.getValue().get("model").asText();
            tests.add(DynamicTest.dynamicTest(c.getKey(), () -> assertMatches(c.getKey(),
                    () -> FluxTransformer.load(resource("flux", folder), BACKEND), c.getKey())));
        }
        return tests;
    }

    /**
     * On a backend that is not a CpuBackend (and reports a bf16 compute dtype, so the position ids are joined on the
     * host) the model runs through the Backend interface only, each weight is transferred once, and the results are
     * the CPU backend's, bit for bit.
     */
    @Test
    void runsOnAnotherBackendThroughTheInterface() {
        String c = ModelGoldens.cases(GOLDEN).getFirst().getKey();
        String folder = ModelGoldens.cases(GOLDEN).getFirst().getValue().get("model").asText();
        FluxTransformer.Result expected;
        try (FluxTransformer model = FluxTransformer.load(resource("flux", folder), BACKEND)) {
            expected = run(model, c, null);
        }
        DelegatingBackend device = new DelegatingBackend(BACKEND, DType.BF16);
        try (FluxTransformer model = FluxTransformer.load(resource("flux", folder), device.backend)) {
            int loaded = device.transfers.get();
            assertTrue(loaded > 0, "the weights reach the backend through transfer");
            FluxTransformer.Result r = run(model, c, null);
            assertArrayEquals(DelegatingBackend.values(expected.sample()), DelegatingBackend.values(r.sample()));
            assertArrayEquals(DelegatingBackend.values(expected.singleStream()),
                    DelegatingBackend.values(r.singleStream()));
            run(model, c, null);
            assertEquals(loaded, device.transfers.get(), "a forward pass transfers no weight again");
        }
    }

    /**
     * {@code fp8}: every block linear weight is quantized (F8_E4M3 with per-row scales), nothing else is, and the
     * output stays near the unquantized model's (fp8 keeps 3 mantissa bits: a few percent) without equalling it.
     */
    @Test
    void fp8QuantizesTheBlockWeightsAndStaysClose() {
        String c = ModelGoldens.cases(GOLDEN).getFirst().getKey();
        String folder = ModelGoldens.cases(GOLDEN).getFirst().getValue().get("model").asText();
        int quantized = 0;
        try (Weights w = Weights.open(resource("flux", folder), BACKEND, FluxTransformer::isBlockLinearWeight)) {
            for (String key : w.checkpoint().names()) {
                Tensor stored = w.checkpoint().tensor(key, BACKEND);
                Tensor got = w.get(key, stored.shape());
                boolean expectFp8 = FluxTransformer.isBlockLinearWeight(key) && stored.dim() == 2;
                assertEquals(expectFp8 ? DType.F8_E4M3 : stored.dtype(), got.dtype(), key);
                if (expectFp8) {
                    assertEquals(stored.size(0), got.scale().size(0), key);
                    quantized++;
                }
                assertTrue(got == w.get(key, stored.shape()), key + ": read (and quantized) once");
            }
        }
        assertTrue(FluxTransformer.isBlockLinearWeight("single_transformer_blocks.0.proj_mlp.weight")
                && FluxTransformer.isBlockLinearWeight("transformer_blocks.3.norm1.linear.weight")
                && FluxTransformer.isBlockLinearWeight("model.diffusion_model.double_blocks.0.img_attn.qkv.weight")
                && !FluxTransformer.isBlockLinearWeight("x_embedder.weight")
                && !FluxTransformer.isBlockLinearWeight("transformer_blocks.0.attn.to_q.bias"));
        assertTrue(quantized > 0, "block weights quantized");

        FluxTransformer.Result expected;
        try (FluxTransformer model = FluxTransformer.load(resource("flux", folder), BACKEND)) {
            expected = run(model, c, null);
        }
        try (FluxTransformer model = FluxTransformer.load(resource("flux", folder), BACKEND, true)) {
            FluxTransformer.Result r = run(model, c, null);
            double err = relativeError(BACKEND.toFloatArray(r.sample()), BACKEND.toFloatArray(expected.sample()));
            System.out.printf("flux fp8 vs stored weights: relative error %.3g%n", err);
            assertTrue(err > 1e-6 && err < 0.1, "fp8 relative error " + err);
        }
    }

    @Test
    void bflSingleFileMatchesDiffusers() {
        FluxTransformer.Config config = FluxTransformer.Config.from(
                ModelConfig.read(resource("flux", "model").resolve("config.json")));
        assertMatches("guidance", () -> FluxTransformer.loadSingleFile(resource("flux", "bfl/flux.safetensors"),
                config, BACKEND), "bfl");
    }

    @Test
    void hookSeesEveryAttentionAndChangesTheOutput() {
        try (FluxTransformer model = FluxTransformer.load(resource("flux", "model"), BACKEND)) {
            List<Integer> layers = new ArrayList<>();
            FluxTransformer.Result identity = run(model, "guidance", (layer, query, attention) -> {
                layers.add(layer);
                assertArrayEquals(new int[] {2, 16, 32}, query.shape(), "query of layer " + layer);
                assertArrayEquals(new int[] {2, 16, 32}, attention.shape(), "attention of layer " + layer);
                return attention;
            });
            assertEquals(List.of(0, 1, 2, 3), layers);
            assertClose("hook_identity/sample", golden("guidance/sample"), identity.sample());
            // adding the query itself (an IP-adapter-like extra term) in the last single block only
            FluxTransformer.Result changed = run(model, "guidance", (layer, query, attention) ->
                    layer == 3 ? BACKEND.add(attention, query) : attention);
            double diff = relativeError(BACKEND.toFloatArray(changed.sample()),
                    BACKEND.toFloatArray(golden("guidance/sample")));
            assertTrue(diff > 1e-2, "the hook's result must reach the output, difference " + diff);
            assertClose("hook/double_img", golden("guidance/double_img"), changed.doubleStreamImage());
        }
    }

    @Test
    void packingMatchesFluxPipeline() {
        SafetensorsFile packing = SafetensorsFile.open(resource("flux", "packing.safetensors"));
        Tensor latents = packing.tensor("latents/latents", BACKEND);
        Tensor packed = FluxTransformer.packLatents(latents);
        Tensor expected = packing.tensor("latents/packed", BACKEND);
        assertArrayEquals(expected.shape(), packed.shape());
        assertArrayEquals(BACKEND.toFloatArray(expected), BACKEND.toFloatArray(packed));
        Tensor unpacked = FluxTransformer.unpackLatents(expected, 8, 6);
        assertArrayEquals(latents.shape(), unpacked.shape());
        assertArrayEquals(BACKEND.toFloatArray(latents), BACKEND.toFloatArray(unpacked));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FluxTransformer.unpackLatents(expected, 8, 8));
        assertTrue(e.getMessage().contains("[B, 16, 4C]"), e.getMessage());
        Tensor ids = packing.tensor("latents/image_ids", BACKEND);
        Tensor mine = FluxTransformer.imageIds(BACKEND, 4, 3);
        assertArrayEquals(ids.shape(), mine.shape());
        assertArrayEquals(BACKEND.toFloatArray(ids), BACKEND.toFloatArray(mine));
    }

    @Test
    void guidanceMustMatchTheModel() {
        try (FluxTransformer model = FluxTransformer.load(resource("flux", "model"), BACKEND)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.forward(golden("guidance/hidden_states"), golden("guidance/encoder_hidden_states"),
                            golden("guidance/pooled_projections"), golden("guidance/timestep"), null,
                            golden("guidance/img_ids"), golden("guidance/txt_ids")));
            assertTrue(e.getMessage().contains("guidance"), e.getMessage());
        }
    }

    @Test
    void wrongInputShapeNamesTheInput() {
        try (FluxTransformer model = FluxTransformer.load(resource("flux", "model"), BACKEND)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.forward(golden("guidance/hidden_states"), golden("guidance/encoder_hidden_states"),
                            golden("guidance/pooled_projections"), golden("guidance/timestep"),
                            golden("guidance/guidance"), golden("guidance/txt_ids"), golden("guidance/txt_ids")));
            assertTrue(e.getMessage().contains("img_ids") && e.getMessage().contains("[16, 3]"), e.getMessage());
        }
    }

    /** A copy of the sharded model folder whose config.json has {@code field} set to the JSON {@code value}. */
    private Path copyWithConfig(String field, String value) throws IOException {
        Path source = resource("flux", "model");
        try (var files = Files.list(source)) {
            for (Path f : files.toList()) {
                Files.copy(f, tmp.resolve(f.getFileName()));
            }
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(Files.readString(source.resolve("config.json")));
        config.set(field, json.readTree(value));
        Files.writeString(tmp.resolve("config.json"), json.writeValueAsString(config));
        return tmp;
    }

    @Test
    void missingBlockNamesTheTensor() throws IOException {
        Path dir = copyWithConfig("num_single_layers", "3");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> FluxTransformer.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("single_transformer_blocks.2.norm.linear.weight")
                && e.getMessage().contains("[96, 32]"), e.getMessage());
    }

    @Test
    void wrongShapeNamesTensorAndExpectedShape() throws IOException {
        Path dir = copyWithConfig("joint_attention_dim", "40");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> FluxTransformer.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("diffusion_pytorch_model") && e.getMessage().contains("context_embedder.weight")
                && e.getMessage().contains("[32, 40]") && e.getMessage().contains("[32, 32]"), e.getMessage());
    }

    @Test
    void badRopeAxesNameTheField() throws IOException {
        Path dir = copyWithConfig("axes_dims_rope", "[4, 4, 4]");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FluxTransformer.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("axes_dims_rope"), e.getMessage());
    }

    @Test
    void unreadableConfigNamesTheFile() throws IOException {
        Files.writeString(tmp.resolve("config.json"), "{\"num_layers\": ");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FluxTransformer.load(tmp, BACKEND));
        assertTrue(e.getMessage().contains(tmp.resolve("config.json").toString()), e.getMessage());
    }

    @Test
    void bflMissingTensorNamesTheBflKey() {
        FluxTransformer.Config config = FluxTransformer.Config.from(
                ModelConfig.read(resource("flux", "model").resolve("config.json")));
        FluxTransformer.Config deeper = new FluxTransformer.Config(config.inChannels(), config.outChannels(),
                3, config.numSingleLayers(), config.attentionHeadDim(), config.numAttentionHeads(),
                config.jointAttentionDim(), config.pooledProjectionDim(), true, config.axesDimsRope());
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> FluxTransformer.loadSingleFile(resource("flux", "bfl/flux.safetensors"), deeper, BACKEND));
        assertTrue(e.getMessage().contains("flux.safetensors")
                && e.getMessage().contains("model.diffusion_model.double_blocks.2.img_mod.lin.weight"), e.getMessage());
    }
}
