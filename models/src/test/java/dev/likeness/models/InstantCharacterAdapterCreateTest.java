package dev.likeness.models;

import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;
import dev.likeness.engine.torch.TorchCheckpoint;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Set;
import java.util.TreeSet;

import static dev.likeness.models.ModelGoldens.relativeError;
import static dev.likeness.models.ModelGoldens.resource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link InstantCharacterAdapter#create}: an adapter built from any parameter source (here the golden checkpoint's
 * tensors handed over one by one, by checkpoint key) computes what the official modules compute (H, E, and FLUX with
 * the processors, at 1e-4), asks for every tensor the checkpoint holds, passes the source's errors through, and
 * leaves the caller's tensors alone when closed.
 */
class InstantCharacterAdapterCreateTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);
    private static final String SET = "instantcharacter_adapter";
    private static final SafetensorsFile GOLDEN = SafetensorsFile.open(resource(SET, "outputs.safetensors"));

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static Tensor golden(String name) {
        return GOLDEN.tensor(name, BACKEND);
    }

    private static void assertClose(String what, Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double err = relativeError(BACKEND.toFloatArray(actual), BACKEND.toFloatArray(expected));
        assertTrue(err <= ModelGoldens.F32_TOLERANCE, what + ": relative error " + err);
    }

    private static InstantCharacterAdapter.Config tinyConfig() {
        return InstantCharacterAdapter.Config.from(ModelConfig.read(resource(SET, "adapter").resolve("config.json")));
    }

    @Test
    void createdFromAParameterSourceMatchesTheOfficialModules() {
        Set<String> asked = new TreeSet<>();
        try (Weights weights = Weights.open(resource(SET, "adapter").resolve(InstantCharacterAdapter.CHECKPOINT_FILE),
                BACKEND)) {
            InstantCharacterAdapter adapter = InstantCharacterAdapter.create(tinyConfig(), BACKEND, (key, shape) -> {
                asked.add(key);
                return weights.get(key, shape);
            });
            String c = "projector_t510";
            Tensor h = adapter.features(golden(c + "/low_res_shallow"), golden(c + "/low_res_deep"),
                    golden(c + "/high_res_deep"));
            assertClose(c + "/features", golden(c + "/features"), h);
            assertClose(c + "/subject_tokens", golden(c + "/subject_tokens"),
                    adapter.subjectTokens(h, golden(c + "/timestep")));

            String f = "flux_scale0.9";
            try (FluxTransformer flux = FluxTransformer.load(resource("flux", "model"), BACKEND)) {
                adapter.requireCompatible(flux.config());
                Tensor sample = flux.forward(golden(f + "/hidden_states"), golden(f + "/encoder_hidden_states"),
                        golden(f + "/pooled_projections"), golden(f + "/timestep"), golden(f + "/guidance"),
                        golden(f + "/img_ids"), golden(f + "/txt_ids"),
                        adapter.attentionHook(golden(f + "/subject_tokens"), 0.9f)).sample();
                assertClose(f + "/sample", golden(f + "/sample"), sample);
            }
            // every tensor of the checkpoint was asked for, by its checkpoint key
            try (TorchCheckpoint bin = TorchCheckpoint.open(resource(SET, "adapter")
                    .resolve(InstantCharacterAdapter.CHECKPOINT_FILE))) {
                assertEquals(new TreeSet<>(bin.names()), asked);
            }
            adapter.close();
            // the caller's checkpoint is still open after the created adapter is closed
            assertEquals(tinyConfig().outputDim(),
                    BACKEND.toFloatArray(weights.get("image_proj.resampler.norm_out.bias",
                            tinyConfig().outputDim())).length);
        }
    }

    @Test
    void theSourcesErrorIsTheAdaptersError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> InstantCharacterAdapter.create(tinyConfig(), BACKEND, (key, shape) -> {
                    throw new IllegalArgumentException("no tensor " + key);
                }));
        assertEquals("no tensor image_proj.cross_layer_blocks.0.norm1.weight", e.getMessage());
    }

    @Test
    void aCreatedAdapterNamesItsSourceWhenItDoesNotFit() {
        InstantCharacterAdapter adapter = InstantCharacterAdapter.create(tinyConfig(), BACKEND,
                (key, shape) -> BACKEND.zeros(dev.likeness.engine.DType.F32, shape));
        FluxTransformer.Config flux = FluxTransformer.Config.from(
                ModelConfig.read(resource("flux", "model").resolve("config.json")));
        FluxTransformer.Config wider = new FluxTransformer.Config(flux.inChannels(), flux.outChannels(),
                flux.numLayers() + 1, flux.numSingleLayers(), flux.attentionHeadDim(), flux.numAttentionHeads(),
                flux.jointAttentionDim(), flux.pooledProjectionDim(), flux.guidanceEmbeds(), flux.axesDimsRope());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> adapter.requireCompatible(wider));
        assertTrue(e.getMessage().contains("parameters given to create"), e.getMessage());
    }
}
