package dev.likeness.models;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsException;
import dev.likeness.engine.safetensors.SafetensorsFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link StableDiffusionSafetyChecker} against diffusers 0.33.1 ({@code tools/reference/goldens/
 * models_safety_checker.py}): the tiny checker's pooled output, image embeddings and cosine similarities to 1e-4 and
 * its decisions equal to forward()'s; the decision rule on crafted thresholds (a hit, a special-care hit, a near
 * miss, a score that rounds to zero, special care alone); and the errors for broken checkpoints.
 */
class StableDiffusionSafetyCheckerTest {
    private static final CpuBackend BACKEND = new CpuBackend(1);
    private static SafetensorsFile outputs;

    @BeforeAll
    static void open() {
        outputs = SafetensorsFile.open(ModelGoldens.resource("safety_checker", "outputs.safetensors"));
    }

    @AfterAll
    static void close() {
        outputs.close();
        BACKEND.close();
    }

    private static Path model() {
        return ModelGoldens.resource("safety_checker", "model");
    }

    private static Tensor golden(String caseName, String role) {
        return outputs.tensor(caseName + "/" + role, BACKEND);
    }

    private static float[] row(Tensor t, int i) {
        float[] v = t.toFloatArray();
        int k = t.size(t.dim() - 1);
        return Arrays.copyOfRange(v, i * k, (i + 1) * k);
    }

    private static float[] flatten(float[][] rows) {
        float[] out = new float[rows.length * rows[0].length];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(rows[i], 0, out, i * rows[0].length, rows[0].length);
        }
        return out;
    }

    private static boolean[] flags(Tensor t) {
        float[] v = t.toFloatArray();
        boolean[] b = new boolean[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = v[i] != 0;
        }
        return b;
    }

    @Test
    void matchesDiffusers() {
        try (StableDiffusionSafetyChecker checker = StableDiffusionSafetyChecker.load(model(), BACKEND)) {
            StableDiffusionSafetyChecker.Output out = checker.forward(golden("model", "clip_input"));
            double tol = ModelGoldens.F32_TOLERANCE;
            ModelGoldens.assertClose(golden("model", "pooler_output"), out.poolerOutput(), tol, "pooler_output");
            ModelGoldens.assertClose(golden("model", "image_embeds"), out.imageEmbeds(), tol, "image_embeds");
            double cos = ModelGoldens.relativeError(flatten(out.cosDist()), golden("model", "cos_dist").toFloatArray());
            double special = ModelGoldens.relativeError(flatten(out.specialCosDist()),
                    golden("model", "special_cos_dist").toFloatArray());
            System.out.printf("safety checker: cos_dist rel %.2e, special_cos_dist rel %.2e%n", cos, special);
            assertTrue(cos <= tol && special <= tol, cos + " " + special);
            boolean[] expected = flags(golden("model", "has_nsfw_concepts"));
            assertEquals(3, expected.length);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], out.decisions().get(i).hasNsfwConcept(), "image " + i);
            }
        }
    }

    @Test
    void decisionRuleMatchesDiffusersOnCraftedThresholds() {
        Map<String, Boolean> expected = Map.of("hit", true, "special_care_hit", true, "near_miss", false,
                "rounding", false, "special_only", false);
        int seen = 0;
        for (Map.Entry<String, JsonNode> c : ModelGoldens.cases(outputs)) {
            if (!c.getKey().startsWith("flags_")) {
                continue;
            }
            String name = c.getKey();
            StableDiffusionSafetyChecker.Decision d = StableDiffusionSafetyChecker.decide(
                    row(golden(name, "cos_dist"), 0), row(golden(name, "special_cos_dist"), 0),
                    golden(name, "concept_thresholds").toFloatArray(), golden(name, "special_thresholds").toFloatArray());
            boolean diffusers = flags(golden(name, "has_nsfw_concepts"))[0];
            assertEquals(diffusers, d.hasNsfwConcept(), name + ": " + d);
            // the golden's own flag is what the case was built to show
            assertEquals(expected.get(name.substring("flags_".length())), diffusers, name);
            switch (name) {
                case "flags_hit" -> assertEquals(List.of(5), d.badConcepts());
                case "flags_special_care_hit" -> {
                    assertEquals(List.of(1), d.specialCare());
                    assertEquals(List.of(3), d.badConcepts());
                    assertEquals(0.005f, d.conceptScores()[3], 1e-6f);
                }
                case "flags_near_miss" -> assertEquals(-0.005f, d.conceptScores()[3], 1e-6f);
                case "flags_rounding" -> assertEquals(0f, d.conceptScores()[7]);
                case "flags_special_only" -> {
                    assertEquals(List.of(2), d.specialCare());
                    assertTrue(d.badConcepts().isEmpty());
                }
                default -> throw new AssertionError(name);
            }
            seen++;
        }
        assertEquals(5, seen);
    }

    @Test
    void specialCareAdjustmentAlsoRaisesLaterSpecialConcepts() {
        // diffusers sets adjustment = 0.01 inside the special-care loop: a later special concept 0.005 below its
        // threshold becomes a hit too
        float[] special = {0.30f, 0.30f, 0.30f};
        StableDiffusionSafetyChecker.Decision d = StableDiffusionSafetyChecker.decide(new float[17], special,
                filled(17, 0.9f), new float[] {0.28f, 0.305f, 0.9f});
        assertEquals(List.of(0, 1), d.specialCare());
        assertFalse(d.hasNsfwConcept());
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }

    @Test
    void missingConceptEmbeddingsNameFileAndTensor(@TempDir Path tmp) throws IOException {
        Path dir = ModelGoldens.without(model(), tmp.resolve("m"), "special_care_embeds", BACKEND);
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> StableDiffusionSafetyChecker.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("special_care_embeds")
                && e.getMessage().contains("[3, 16]"), e.getMessage());
    }

    @Test
    void truncatedCheckpointIsAClearError(@TempDir Path tmp) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("m"));
        Files.copy(model().resolve("config.json"), dir.resolve("config.json"));
        byte[] bytes = Files.readAllBytes(model().resolve("model.safetensors"));
        Files.write(dir.resolve("model.safetensors"), Arrays.copyOf(bytes, bytes.length / 2));
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> StableDiffusionSafetyChecker.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
    }

    @Test
    void configWithoutVisionSectionIsRefused(@TempDir Path tmp) throws IOException {
        Path dir = ModelGoldens.withConfig(model(), tmp.resolve("m"), json -> "{\"model_type\": \"clip\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StableDiffusionSafetyChecker.load(dir, BACKEND));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("vision_config"),
                e.getMessage());
    }
}
