package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsException;
import dev.likeness.engine.safetensors.SafetensorsFile;
import dev.likeness.engine.safetensors.SafetensorsWriter;
import dev.likeness.engine.torch.TorchCheckpoint;
import dev.likeness.engine.torch.TorchCheckpointException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

import static dev.likeness.models.ModelGoldens.relativeError;
import static dev.likeness.models.ModelGoldens.resource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link InstantCharacterAdapter} against the official InstantCharacter modules ({@code CrossLayerCrossScaleProjector},
 * {@code FluxIPAttnProcessor}) on a tiny config ({@code tools/reference/goldens/models_instantcharacter.py}): the
 * timestep-free features H, the timestep embedding and the subject tokens E for several bf16 timesteps and a batch
 * of 2; the tiny FLUX transformer with the processors at subject scale 0 (equal to plain FLUX), 0.9 and 1.5, a latent
 * batch of 2 served by one E; bf16 weights; the same weights as safetensors; and the loading errors.
 */
class InstantCharacterAdapterTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);
    private static final String SET = "instantcharacter_adapter";
    private static final SafetensorsFile GOLDEN = SafetensorsFile.open(resource(SET, "outputs.safetensors"));

    @TempDir
    Path tmp;

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static Tensor golden(String name) {
        return GOLDEN.tensor(name, BACKEND);
    }

    private static double assertClose(String what, Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double err = relativeError(BACKEND.toFloatArray(actual), BACKEND.toFloatArray(expected));
        System.out.printf("instantcharacter %-36s relative error %.3g%n", what, err);
        assertTrue(err <= ModelGoldens.F32_TOLERANCE, what + ": relative error " + err + " > 1e-4");
        return err;
    }

    private static InstantCharacterAdapter adapter(String folder) {
        return InstantCharacterAdapter.load(resource(SET, folder), BACKEND);
    }

    private static List<Map.Entry<String, JsonNode>> cases(Predicate<String> which) {
        return ModelGoldens.cases(GOLDEN).stream().filter(c -> which.test(c.getKey())).toList();
    }

    /** H, temb and E of projector case {@code c}, E computed from our own H. */
    private static void assertProjector(InstantCharacterAdapter adapter, String c) {
        Tensor h = adapter.features(golden(c + "/low_res_shallow"), golden(c + "/low_res_deep"),
                golden(c + "/high_res_deep"));
        assertClose(c + "/features", golden(c + "/features"), h);
        assertClose(c + "/temb", golden(c + "/temb"), adapter.timeEmbedding(golden(c + "/timestep")));
        assertClose(c + "/subject_tokens", golden(c + "/subject_tokens"),
                adapter.subjectTokens(h, golden(c + "/timestep")));
    }

    @TestFactory
    List<DynamicTest> projectorMatchesOfficial() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : cases(n -> n.startsWith("projector_"))) {
            tests.add(DynamicTest.dynamicTest(c.getKey(), () -> {
                try (InstantCharacterAdapter adapter = adapter(c.getValue().get("adapter").asText())) {
                    assertProjector(adapter, c.getKey());
                }
            }));
        }
        return tests;
    }

    @Test
    void oneSubjectWithSeveralTimesteps() {
        try (InstantCharacterAdapter adapter = adapter("adapter")) {
            String c = "projector_t1000";
            Tensor h = adapter.features(golden(c + "/low_res_shallow"), golden(c + "/low_res_deep"),
                    golden(c + "/high_res_deep"));
            Tensor t = BACKEND.cat(0, List.of(golden("projector_t1000/timestep"), golden("projector_t12.34/timestep")));
            Tensor e = adapter.subjectTokens(h, t);
            assertEquals(2, e.size(0));
            assertClose("one H, t 1000", golden("projector_t1000/subject_tokens"), e.narrow(0, 0, 1));
            assertClose("one H, t 12.34", golden("projector_t12.34/subject_tokens"), e.narrow(0, 1, 1));
        }
    }

    @Test
    void timestepChangesTheSubjectTokens() {
        double diff = relativeError(BACKEND.toFloatArray(golden("projector_t1000/subject_tokens")),
                BACKEND.toFloatArray(golden("projector_t12.34/subject_tokens")));
        assertTrue(diff > 1e-2, "E must depend on the timestep in the golden, difference " + diff);
    }

    private static FluxTransformer.Result runFlux(FluxTransformer flux, String c,
                                                  FluxTransformer.ImageAttentionHook hook) {
        return flux.forward(golden(c + "/hidden_states"), golden(c + "/encoder_hidden_states"),
                golden(c + "/pooled_projections"), golden(c + "/timestep"), golden(c + "/guidance"),
                golden(c + "/img_ids"), golden(c + "/txt_ids"), hook);
    }

    private static void assertFlux(InstantCharacterAdapter adapter, String c, float scale) {
        try (FluxTransformer flux = FluxTransformer.load(resource("flux", "model"), BACKEND)) {
            adapter.requireCompatible(flux.config());
            FluxTransformer.Result r = runFlux(flux, c, adapter.attentionHook(golden(c + "/subject_tokens"), scale));
            assertClose(c + "/sample", golden(c + "/sample"), r.sample());
            assertClose(c + "/double_img", golden(c + "/double_img"), r.doubleStreamImage());
            assertClose(c + "/single", golden(c + "/single"), r.singleStream());
            if (GOLDEN.contains(c + "/plain_sample")) {
                // scale 0 is plain FLUX, exactly: in the reference and here
                assertArrayEquals(BACKEND.toFloatArray(golden(c + "/plain_sample")),
                        BACKEND.toFloatArray(golden(c + "/sample")));
                assertArrayEquals(BACKEND.toFloatArray(runFlux(flux, c, null).sample()),
                        BACKEND.toFloatArray(r.sample()));
            }
        }
    }

    @TestFactory
    List<DynamicTest> fluxWithProcessorsMatchesOfficial() {
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : cases(n -> n.startsWith("flux_"))) {
            tests.add(DynamicTest.dynamicTest(c.getKey(), () -> {
                try (InstantCharacterAdapter adapter = adapter(c.getValue().get("adapter").asText())) {
                    assertFlux(adapter, c.getKey(), (float) c.getValue().get("scale").asDouble());
                }
            }));
        }
        return tests;
    }

    @Test
    void oneSubjectServesALatentBatch() {
        assertEquals(1, golden("flux_batch2_one_e/subject_tokens").size(0));
        assertEquals(2, golden("flux_batch2_one_e/hidden_states").size(0));
        assertTrue(GOLDEN.contains("flux_batch2_one_e/sample"));
    }

    @Test
    void bf16CheckpointIsReadInItsDtype() {
        try (TorchCheckpoint bin = TorchCheckpoint.open(resource(SET, "adapter_bf16")
                .resolve(InstantCharacterAdapter.CHECKPOINT_FILE))) {
            assertEquals(DType.BF16, bin.dtype("image_proj.resampler.latents"));
            assertEquals(DType.BF16, bin.dtype("ip_adapter.3.to_v_ip.weight"));
        }
    }

    /** The f32 checkpoint rewritten as safetensors with the same flattened keys. */
    private Path asSafetensors() {
        Path out = tmp.resolve("adapter.safetensors");
        try (TorchCheckpoint bin = TorchCheckpoint.open(resource(SET, "adapter")
                .resolve(InstantCharacterAdapter.CHECKPOINT_FILE))) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : bin.names()) {
                tensors.put(name, bin.tensor(name, BACKEND));
            }
            SafetensorsWriter.write(out, tensors, Map.of("format", "pt"));
        }
        return out;
    }

    private static InstantCharacterAdapter.Config tinyConfig() {
        return InstantCharacterAdapter.Config.from(ModelConfig.read(resource(SET, "adapter").resolve("config.json")));
    }

    @Test
    void safetensorsCheckpointMatchesToo() {
        try (InstantCharacterAdapter adapter = InstantCharacterAdapter.load(asSafetensors(), tinyConfig(), BACKEND)) {
            assertProjector(adapter, "projector_t510");
            assertFlux(adapter, "flux_scale0.9", 0.9f);
        }
    }

    @Test
    void publishedConfigIsTheReferencePipelines() {
        InstantCharacterAdapter.Config p = InstantCharacterAdapter.Config.PUBLISHED;
        assertEquals(2688, p.innerDim());
        assertEquals(1024, p.numQueries());
        assertEquals(4096, p.outputDim());
        assertEquals(57, p.numProcessors());
        assertEquals(24, p.ipNumAttentionHeads());
        assertEquals(3072, p.ipHiddenSize());
        // a config.json without fields is the published adapter
        Path empty = tmp.resolve("config.json");
        try {
            Files.writeString(empty, "{}");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        assertEquals(p, InstantCharacterAdapter.Config.from(ModelConfig.read(empty)));
    }

    @Test
    void inconsistentConfigNamesTheFields() throws IOException {
        Path file = Files.writeString(tmp.resolve("config.json"), "{\"output_dim\": 12}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InstantCharacterAdapter.Config.from(ModelConfig.read(file)));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("ip_hidden_states_dim")
                        && e.getMessage().contains("output_dim"), e.getMessage());
        Files.writeString(file, "{\"num_queries\": \"many\"}");
        e = assertThrows(IllegalArgumentException.class,
                () -> InstantCharacterAdapter.Config.from(ModelConfig.read(file)));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("num_queries"), e.getMessage());
        Files.writeString(file, "{\"depth\": 0}");
        e = assertThrows(IllegalArgumentException.class,
                () -> InstantCharacterAdapter.Config.from(ModelConfig.read(file)));
        assertTrue(e.getMessage().contains("positive"), e.getMessage());
        Files.writeString(file, "{\"ip_head_dim\": 100}");
        e = assertThrows(IllegalArgumentException.class,
                () -> InstantCharacterAdapter.Config.from(ModelConfig.read(file)));
        assertTrue(e.getMessage().contains("ip_hidden_size 3072") && e.getMessage().contains("ip_head_dim 100"),
                e.getMessage());
    }

    @Test
    void aFileReadsTheConfigBesideIt() {
        // the pipeline passes the checkpoint file; our config.json beside it gives the tiny architecture
        Path bin = resource(SET, "adapter").resolve(InstantCharacterAdapter.CHECKPOINT_FILE);
        try (InstantCharacterAdapter adapter = InstantCharacterAdapter.load(bin, BACKEND)) {
            assertEquals(tinyConfig(), adapter.config());
            assertEquals(2, adapter.config().ipNumAttentionHeads());
        }
    }

    @Test
    void publishedArchitectureRejectsTheTinyCheckpointNamingTensorAndShapes() throws IOException {
        // alone in a folder, the file is read with the published architecture
        Path bin = Files.copy(resource(SET, "adapter").resolve(InstantCharacterAdapter.CHECKPOINT_FILE),
                tmp.resolve(InstantCharacterAdapter.CHECKPOINT_FILE));
        for (Path path : List.of(bin, tmp)) {
            TorchCheckpointException e = assertThrows(TorchCheckpointException.class,
                    () -> InstantCharacterAdapter.load(path, BACKEND));
            assertTrue(e.getMessage().contains(bin.toString())
                    && e.getMessage().contains("image_proj.cross_layer_blocks.0.norm1.weight")
                    && e.getMessage().contains("[16]") && e.getMessage().contains("[2688]"), e.getMessage());
        }
    }

    @Test
    void missingTensorIsNamed() {
        Path full = asSafetensors();
        Path cut = tmp.resolve("cut.safetensors");
        try (SafetensorsFile in = SafetensorsFile.open(full)) {
            Map<String, Tensor> kept = new LinkedHashMap<>();
            for (String name : in.names()) {
                if (!name.equals("ip_adapter.3.norm_ip_k.scale")) {
                    kept.put(name, in.tensor(name, BACKEND));
                }
            }
            SafetensorsWriter.write(cut, kept, Map.of("format", "pt"));
        }
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> InstantCharacterAdapter.load(cut, tinyConfig(), BACKEND));
        assertTrue(e.getMessage().contains("cut.safetensors") && e.getMessage().contains("ip_adapter.3.norm_ip_k.scale")
                && e.getMessage().contains("[16]"), e.getMessage());
    }

    @Test
    void wrongFilesAreRefused() throws IOException {
        // a FLUX shard is a checkpoint, but not the adapter's
        Path shard;
        try (var files = Files.list(resource("flux", "model"))) {
            shard = files.filter(f -> f.toString().endsWith(".safetensors")).sorted().findFirst().orElseThrow();
        }
        Path flux = shard;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InstantCharacterAdapter.load(flux, tinyConfig(), BACKEND));
        assertTrue(e.getMessage().contains(flux.toString()) && e.getMessage().contains("not an InstantCharacter"),
                e.getMessage());
        Path text = Files.writeString(tmp.resolve("notes.txt"), "hello");
        e = assertThrows(IllegalArgumentException.class, () -> InstantCharacterAdapter.load(text, BACKEND));
        assertTrue(e.getMessage().contains("notes.txt") && e.getMessage().contains(".safetensors"), e.getMessage());
        Path folder = Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(IllegalArgumentException.class, () -> InstantCharacterAdapter.load(folder, BACKEND));
        assertTrue(e.getMessage().contains("empty") && e.getMessage().contains("found none"), e.getMessage());
        Path missing = tmp.resolve("absent.bin");
        e = assertThrows(IllegalArgumentException.class,
                () -> InstantCharacterAdapter.load(missing, tinyConfig(), BACKEND));
        assertTrue(e.getMessage().contains("absent.bin") && e.getMessage().contains("not a file"), e.getMessage());
        // a zip that is no torch checkpoint
        Path junk = Files.write(tmp.resolve("junk.bin"), new byte[] {'P', 'K', 5, 6, 0, 0});
        TorchCheckpointException t = assertThrows(TorchCheckpointException.class,
                () -> InstantCharacterAdapter.load(junk, tinyConfig(), BACKEND));
        assertTrue(t.getMessage().contains("junk.bin"), t.getMessage());
    }

    @Test
    void mismatchedTransformerAndInputsAreRefused() {
        try (InstantCharacterAdapter adapter = adapter("adapter");
             FluxTransformer flux = FluxTransformer.load(resource("flux", "model"), BACKEND)) {
            FluxTransformer.Config c = flux.config();
            FluxTransformer.Config moreLayers = new FluxTransformer.Config(c.inChannels(), c.outChannels(),
                    c.numLayers(), c.numSingleLayers() + 1, c.attentionHeadDim(), c.numAttentionHeads(),
                    c.jointAttentionDim(), c.pooledProjectionDim(), c.guidanceEmbeds(), c.axesDimsRope());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> adapter.requireCompatible(moreLayers));
            assertTrue(e.getMessage().contains("4 processors") && e.getMessage().contains("5 attentions"),
                    e.getMessage());

            Tensor query = golden("flux_batch2_one_e/double_img");
            Tensor threeSubjects = BACKEND.zeros(DType.F32, 3, 6, 12);
            FluxTransformer.ImageAttentionHook hook = adapter.attentionHook(threeSubjects, 0.9f);
            e = assertThrows(IllegalArgumentException.class, () -> hook.adjust(0, query, query));
            assertTrue(e.getMessage().contains("batch 3") && e.getMessage().contains("batch 2"), e.getMessage());
            FluxTransformer.ImageAttentionHook one = adapter.attentionHook(golden("flux_scale0.9/subject_tokens"),
                    0.9f);
            e = assertThrows(IllegalArgumentException.class, () -> one.adjust(4, query, query));
            assertTrue(e.getMessage().contains("layer 4"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> adapter.attentionHook(BACKEND.zeros(DType.F32, 1, 6, 13), 1f));
            assertTrue(e.getMessage().contains("subject tokens") && e.getMessage().contains("12"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> adapter.features(golden("projector_t510/low_res_deep"),
                    golden("projector_t510/low_res_deep"), golden("projector_t510/high_res_deep").narrow(2, 0, 8)));
            assertTrue(e.getMessage().contains("high_res_deep") && e.getMessage().contains("[1, 20, 8]"),
                    e.getMessage());
            Tensor threeTimesteps = BACKEND.fromFloats(new float[] {1, 2, 3}, 3);
            e = assertThrows(IllegalArgumentException.class, () -> adapter.subjectTokens(
                    golden("projector_batch2/features"), threeTimesteps));
            assertTrue(e.getMessage().contains("timestep") && e.getMessage().contains("[3]"), e.getMessage());
        }
    }
}
