package dev.likeness.models;

import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;

import static dev.likeness.models.ModelGoldens.relativeError;
import static dev.likeness.models.ModelGoldens.resource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FluxTransformer#create}: a transformer built from any parameter source (here the golden checkpoint's tensors
 * handed over one by one) computes what the loaded one computes (diffusers' output at 1e-4), asks for every tensor of
 * the architecture, and leaves the caller's tensors alone when closed.
 */
class FluxTransformerCreateTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    @Test
    void createdFromAParameterSourceMatchesDiffusers() {
        SafetensorsFile golden = SafetensorsFile.open(resource("flux", "outputs.safetensors"));
        FluxTransformer.Config config = FluxTransformer.Config.from(
                ModelConfig.read(resource("flux", "model").resolve("config.json")));
        try (Weights weights = Weights.open(resource("flux", "model"), BACKEND)) {
            Set<String> asked = new HashSet<>();
            FluxTransformer model = FluxTransformer.create(config, BACKEND, (key, shape) -> {
                asked.add(key);
                return weights.get(key, shape);
            });
            Tensor sample = model.forward(golden.tensor("guidance/hidden_states", BACKEND),
                    golden.tensor("guidance/encoder_hidden_states", BACKEND),
                    golden.tensor("guidance/pooled_projections", BACKEND), golden.tensor("guidance/timestep", BACKEND),
                    golden.tensor("guidance/guidance", BACKEND), golden.tensor("guidance/img_ids", BACKEND),
                    golden.tensor("guidance/txt_ids", BACKEND));
            double err = relativeError(BACKEND.toFloatArray(sample),
                    BACKEND.toFloatArray(golden.tensor("guidance/sample", BACKEND)));
            assertTrue(err <= 1e-4, "relative error " + err);
            // every tensor of the architecture is asked for: embedders 4, conditioning MLPs 12 (with guidance),
            // 32 per double-stream block, 14 per single-stream block, norm_out and proj_out 4
            assertEquals(4 + 12 + 32 * config.numLayers() + 14 * config.numSingleLayers() + 4, asked.size(),
                    asked.toString());
            model.close();
            // the caller's checkpoint is still open after the created model is closed
            assertEquals(BACKEND.toFloatArray(weights.get("proj_out.bias", config.outChannels())).length,
                    config.outChannels());
        }
    }

    @Test
    void aShapeTheSourceCannotGiveIsItsError() {
        FluxTransformer.Config config = FluxTransformer.Config.from(
                ModelConfig.read(resource("flux", "model").resolve("config.json")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FluxTransformer.create(config, BACKEND, (key, shape) -> {
                    throw new IllegalArgumentException("no tensor " + key);
                }));
        assertEquals("no tensor x_embedder.weight", e.getMessage());
    }
}
