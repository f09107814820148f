package dev.likeness.pipeline;

import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;
import dev.likeness.engine.safetensors.SafetensorsWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code likeness models check} on the built-in model's folder, complete and then damaged. */
class ModelCheckTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);

    @Test
    void aCompleteFolderPasses(@TempDir Path dir) {
        ModelPaths paths = TinyModel.materialize(dir.resolve("models"));
        ModelCheck.Report report = ModelCheck.check(paths);
        assertTrue(report.ok(), report.format());
        assertEquals(10, report.components().size());
    }

    @Test
    void everyMissingAndMisShapedTensorAndMissingFileIsReported(@TempDir Path dir) throws IOException {
        ModelPaths paths = TinyModel.materialize(dir.resolve("models"));
        Path vae = paths.flux().resolve("vae/diffusion_pytorch_model.safetensors");
        String dropped = "decoder.conv_in.weight";
        String reshaped = "decoder.conv_out.bias";
        rewrite(vae, dropped, reshaped);
        Path siglipConfig = paths.siglip().resolve("config.json");
        Files.delete(siglipConfig);

        ModelCheck.Report report = ModelCheck.check(paths);
        String text = report.format();
        System.out.print(text);
        assertFalse(report.ok());
        ModelCheck.Component v = report.components().stream().filter(c -> c.name().equals("FLUX VAE")).findFirst()
                .orElseThrow();
        assertEquals(2, v.problems().size(), v.problems().toString());
        assertTrue(v.problems().get(0).contains(vae.toString()) && v.problems().get(0).contains(dropped)
                && v.problems().get(0).contains("missing"), v.problems().get(0));
        assertTrue(v.problems().get(1).contains(reshaped) && v.problems().get(1).contains("has shape [5]")
                && v.problems().get(1).contains("expected [3]"), v.problems().get(1));
        assertTrue(text.contains("missing " + siglipConfig), text);
        assertTrue(text.contains("https://huggingface.co/google/siglip-so400m-patch14-384"), text);
        assertTrue(text.contains("https://huggingface.co/black-forest-labs/FLUX.1-dev"), text);
        long failing = report.components().stream().filter(c -> !c.ok()).count();
        assertEquals(2, failing, text);
    }

    /** Rewrites {@code file} without {@code drop} and with {@code reshape} given 5 elements instead of its own. */
    private static void rewrite(Path file, String drop, String reshape) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : f.names()) {
                if (name.equals(drop)) {
                    continue;
                }
                Tensor t = f.tensor(name, BACKEND);
                tensors.put(name, name.equals(reshape) ? BACKEND.zeros(t.dtype(), 5)
                        : BACKEND.fromFloats(BACKEND.toFloatArray(t), t.shape()));
            }
        }
        SafetensorsWriter.write(file, tensors, Map.of());
    }
}
