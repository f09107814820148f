package dev.likeness.pipeline.safety;

import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;
import dev.likeness.models.StableDiffusionSafetyChecker;
import dev.likeness.pipeline.image.RgbImage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ClipSafetyChecker} on the tiny StableDiffusionSafetyChecker that {@code tools/reference/goldens/
 * models_safety_checker.py} writes into the models module's test resources: the CLIPImageProcessor preprocessing
 * exactly (case "processor"), and the checker end to end from an image, as found through {@link SafetyCheckers}.
 */
class ClipSafetyCheckerTest {
    private static final Path GOLDEN = Path.of("..", "models", "src", "test", "resources", "golden", "safety_checker");
    private static CpuBackend backend;
    private static SafetensorsFile outputs;

    static Path tinyModel() {
        Path dir = GOLDEN.resolve("model");
        assertTrue(Files.isDirectory(dir), dir + " is missing: run tools/reference/run.sh safety_checker");
        return dir;
    }

    @BeforeAll
    static void open() {
        backend = new CpuBackend(1);
        outputs = SafetensorsFile.open(GOLDEN.resolve("outputs.safetensors"));
    }

    @AfterAll
    static void close() {
        outputs.close();
        backend.close();
    }

    private static RgbImage goldenImage() {
        Tensor t = outputs.tensor("processor/image", backend); // [37, 50, 3] uint8
        float[] v = t.toFloatArray();
        byte[] rgb = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            rgb[i] = (byte) (int) v[i];
        }
        return new RgbImage(t.size(1), t.size(0), rgb);
    }

    @Test
    void preprocessingIsClipImageProcessorExactly() {
        try (ClipSafetyChecker checker = ClipSafetyChecker.load(tinyModel(), backend)) {
            Tensor pixels = checker.pixels(List.of(goldenImage()));
            Tensor expected = outputs.tensor("processor/pixel_values", backend);
            assertArrayEquals(expected.shape(), pixels.shape());
            assertArrayEquals(expected.toFloatArray(), pixels.toFloatArray());
        }
    }

    @Test
    void endToEndThroughSafetyCheckers(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path models = tmp.resolve("models");
        Path dir = Files.createDirectories(models.resolve(SafetyCheckers.SD_CHECKER_DIR));
        Files.copy(tinyModel().resolve("config.json"), dir.resolve("config.json"));
        Files.copy(tinyModel().resolve("model.safetensors"), dir.resolve("model.safetensors"));
        RgbImage img = goldenImage();
        try (SafetyChecker checker = SafetyCheckers.load(models, backend);
             StableDiffusionSafetyChecker model = StableDiffusionSafetyChecker.load(tinyModel(), backend)) {
            assertEquals(ClipSafetyChecker.NAME, checker.name());
            SafetyChecker.Result r = checker.check(List.of(img, img)).getFirst();
            StableDiffusionSafetyChecker.Decision d = model.forward(outputs.tensor("processor/pixel_values", backend))
                    .decisions().getFirst();
            assertEquals(d.hasNsfwConcept(), r.flagged());
            assertEquals(20, r.scores().size());
            assertEquals(d.conceptScores()[0], r.scores().get("concept_0"));
            assertEquals(d.specialScores()[2], r.scores().get("special_2"));
            SafetyCheck.Outcome out = SafetyCheck.run(checker, List.of(img), true);
            assertEquals(ClipSafetyChecker.NAME, out.checker());
            assertEquals(List.of(d.hasNsfwConcept()), out.hasNsfwConcepts());
        }
    }
}
