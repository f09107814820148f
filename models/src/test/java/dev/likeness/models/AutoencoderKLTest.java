package dev.likeness.models;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsException;
import dev.likeness.engine.safetensors.SafetensorsFile;
import dev.likeness.engine.safetensors.SafetensorsWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * AutoencoderKL against diffusers 0.33.1 ({@code tools/reference/goldens/models_vae.py}): for a FLUX-shaped tiny
 * VAE and an SD-shaped one (quant convs, no mid-block attention), the encoder's mid-block features, the posterior's
 * mean, log-variance and a sample, the decoder's mid-block features and the decoded image, and the latent
 * scaling both ways, each at relative L2 error ≤ 1e-4; and the errors for broken folders.
 */
class AutoencoderKLTest {
    private static final double TOLERANCE = 1e-4;
    private static final List<String> CONFIGS = List.of("flux_tiny", "quant_noattn");
    private static final CpuBackend BACKEND = new CpuBackend(2);

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static Path resource(String name) {
        URL url = AutoencoderKLTest.class.getResource("/golden/vae/" + name);
        if (url == null) {
            fail("golden/vae/" + name + " is missing: run tools/reference/run.sh vae");
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void assertClose(String what, Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        float[] e = BACKEND.toFloatArray(expected);
        float[] a = BACKEND.toFloatArray(actual);
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < e.length; i++) {
            diff += (double) (a[i] - e[i]) * (a[i] - e[i]);
            norm += (double) e[i] * e[i];
        }
        double rel = Math.sqrt(diff / norm);
        assertTrue(norm > 0, what + ": the reference is all zeros");
        assertTrue(rel <= TOLERANCE, what + ": relative error " + rel + " > " + TOLERANCE);
    }

    @TestFactory
    List<DynamicTest> matchesDiffusers() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String config : CONFIGS) {
            tests.add(DynamicTest.dynamicTest(config, () -> {
                try (SafetensorsFile golden = SafetensorsFile.open(resource("cases.safetensors"));
                     AutoencoderKL vae = AutoencoderKL.load(resource(config), BACKEND)) {
                    Function<String, Tensor> g = role -> golden.tensor(config + "/" + role, BACKEND);
                    Tensor image = g.apply("image");
                    assertClose(config + " encoder mid block", g.apply("encoder_mid"),
                            vae.encoder().toMidBlock(image));
                    AutoencoderKL.LatentDistribution posterior = vae.encode(image);
                    assertClose(config + " mean", g.apply("mean"), posterior.mean());
                    assertClose(config + " mode", g.apply("mean"), posterior.mode());
                    assertClose(config + " logvar", g.apply("logvar"), posterior.logvar());
                    assertClose(config + " sample", g.apply("sample"), posterior.sample(g.apply("noise")));
                    assertClose(config + " scaled", g.apply("scaled"), vae.scaleLatents(posterior.mean()));

                    Tensor unscaled = vae.unscaleLatents(g.apply("latents"));
                    assertClose(config + " unscaled", g.apply("unscaled"), unscaled);
                    assertClose(config + " decoder mid block", g.apply("decoder_mid"),
                            vae.decoder().toMidBlock(g.apply("decoder_in")));
                    assertClose(config + " decoded", g.apply("decoded"), vae.decode(g.apply("unscaled")));
                }
            }));
        }
        return tests;
    }

    @Test
    void logvarIsClampedLikeDiagonalGaussianDistribution() {
        // moments [1, 2, 1, 3]: the mean channel, then the log-variance channel with values outside [-30, 20]
        Tensor moments = BACKEND.fromFloats(new float[] {1f, 2f, 3f, -45f, 0.5f, 31f}, 1, 2, 1, 3);
        var posterior = AutoencoderKL.LatentDistribution.of(BACKEND, moments);
        assertArrayEquals(new float[] {1f, 2f, 3f}, BACKEND.toFloatArray(posterior.mode()));
        assertArrayEquals(new float[] {-30f, 0.5f, 20f}, BACKEND.toFloatArray(posterior.logvar()));
        assertArrayEquals(new float[] {(float) Math.exp(-15), (float) Math.exp(0.25), (float) Math.exp(10)},
                BACKEND.toFloatArray(posterior.std()), 1e-6f * (float) Math.exp(10));
    }

    /** A copy of the flux_tiny folder whose weights file holds the tensors {@code edit} returns. */
    private static Path editedCopy(Path dir, Function<Map<String, Tensor>, Map<String, Tensor>> edit)
            throws IOException {
        Path src = resource("flux_tiny");
        Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
        try (SafetensorsFile file = SafetensorsFile.open(src.resolve("diffusion_pytorch_model.safetensors"))) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : file.names()) {
                tensors.put(name, file.tensor(name, BACKEND));
            }
            SafetensorsWriter.write(dir.resolve("diffusion_pytorch_model.safetensors"), edit.apply(tensors), Map.of());
        }
        return dir;
    }

    @Test
    void missingTensorIsNamed(@TempDir Path dir) throws IOException {
        String name = "decoder.mid_block.attentions.0.to_k.bias";
        Path folder = editedCopy(dir, t -> {
            t.remove(name);
            return t;
        });
        var e = assertThrows(SafetensorsException.class, () -> AutoencoderKL.load(folder, BACKEND));
        assertTrue(e.getMessage().contains(name) && e.getMessage().contains("[32]")
                && e.getMessage().contains(folder.toString()), e.getMessage());
    }

    @Test
    void wrongShapeIsNamed(@TempDir Path dir) throws IOException {
        String name = "encoder.down_blocks.2.resnets.0.conv_shortcut.weight";
        Path folder = editedCopy(dir, t -> {
            t.put(name, BACKEND.zeros(DType.F32, 32, 16, 3, 3));
            return t;
        });
        var e = assertThrows(SafetensorsException.class, () -> AutoencoderKL.load(folder, BACKEND));
        assertTrue(e.getMessage().contains(name) && e.getMessage().contains("[32, 16, 3, 3]")
                && e.getMessage().contains("[32, 16, 1, 1]"), e.getMessage());
    }

    private static Path withConfig(Path dir, String json) throws IOException {
        Path src = resource("flux_tiny");
        String weights = "diffusion_pytorch_model.safetensors";
        Files.copy(src.resolve(weights), dir.resolve(weights));
        Files.writeString(dir.resolve("config.json"), json);
        return dir;
    }

    private static String fluxConfig() throws IOException {
        return Files.readString(resource("flux_tiny/config.json"));
    }

    @Test
    void unreadableConfigIsNamed(@TempDir Path dir) throws IOException {
        Path folder = withConfig(dir, "{\"block_out_channels\": [16, 16");
        var e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.load(folder, BACKEND));
        assertTrue(e.getMessage().contains(folder.resolve("config.json").toString()), e.getMessage());
    }

    @Test
    void channelsNotDivisibleByGroupsAreRefused(@TempDir Path dir) throws IOException {
        Path folder = withConfig(dir, fluxConfig().replace("\"norm_num_groups\": 8", "\"norm_num_groups\": 12"));
        var e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.load(folder, BACKEND));
        assertTrue(e.getMessage().contains("block_out_channels") && e.getMessage().contains("12")
                && e.getMessage().contains("config.json"), e.getMessage());
    }

    @Test
    void unknownBlockTypeIsRefused(@TempDir Path dir) throws IOException {
        Path folder = withConfig(dir, fluxConfig().replaceFirst("\"UpDecoderBlock2D\"", "\"AttnUpDecoderBlock2D\""));
        var e = assertThrows(IllegalArgumentException.class, () -> AutoencoderKL.load(folder, BACKEND));
        assertTrue(e.getMessage().contains("up_block_types") && e.getMessage().contains("AttnUpDecoderBlock2D"),
                e.getMessage());
    }

    @Test
    void configThatDisagreesWithTheWeightsIsRefused(@TempDir Path dir) throws IOException {
        // quant convs declared but absent from the checkpoint
        Path folder = withConfig(dir, fluxConfig().replace("\"use_quant_conv\": false", "\"use_quant_conv\": true"));
        var e = assertThrows(SafetensorsException.class, () -> AutoencoderKL.load(folder, BACKEND));
        assertTrue(e.getMessage().contains("quant_conv.weight") && e.getMessage().contains("[32, 32, 1, 1]"),
                e.getMessage());
    }

    @Test
    void wrongInputShapesAreRefused() {
        try (AutoencoderKL vae = AutoencoderKL.load(resource("flux_tiny"), BACKEND)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> vae.decode(BACKEND.zeros(DType.F32, 1, 4, 5, 4)));
            assertTrue(e.getMessage().contains("[N, 16, H, W]") && e.getMessage().contains("[1, 4, 5, 4]"),
                    e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> vae.encode(BACKEND.zeros(DType.F32, 1, 4, 8, 8)));
            assertTrue(e.getMessage().contains("[N, 3, H, W]"), e.getMessage());
            var latent = vae.encode(BACKEND.zeros(DType.F32, 1, 3, 8, 8));
            assertArrayEquals(new int[] {1, 16, 1, 1}, latent.mean().shape());
            e = assertThrows(IllegalArgumentException.class,
                    () -> latent.sample(BACKEND.zeros(DType.F32, 1, 16, 2, 1)));
            assertTrue(e.getMessage().contains(Arrays.toString(new int[] {1, 16, 1, 1})), e.getMessage());
        }
    }
}
