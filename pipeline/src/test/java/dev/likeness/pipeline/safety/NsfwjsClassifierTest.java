package dev.likeness.pipeline.safety;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.image.ImageDecoder;
import dev.likeness.pipeline.image.RgbImage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Java nsfwjs MobileNetV2 against the package's own TF.js runtime: {@code golden.json} holds the probabilities
 * and pooled features that nsfwjs 4.4.0 on @tensorflow/tfjs 4.22.0 (cpu) computed for the generated PNGs beside it
 * ({@code tools/reference/nsfwjs/record.js}). The weights are the ones the build fetched into the jar.
 */
class NsfwjsClassifierTest {
    private static final String DIR = "/dev/likeness/pipeline/safety/nsfwjs/";
    private static CpuBackend backend;
    private static NsfwjsClassifier classifier;

    @BeforeAll
    static void load() {
        backend = new CpuBackend(2);
        classifier = NsfwjsClassifier.load(backend);
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    static JsonNode golden() throws IOException {
        try (InputStream in = NsfwjsClassifierTest.class.getResourceAsStream(DIR + "golden.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    static RgbImage image(String file) throws IOException {
        try (InputStream in = NsfwjsClassifierTest.class.getResourceAsStream(DIR + file)) {
            return new ImageDecoder().decode(in.readAllBytes(), file);
        }
    }

    private static float[] floats(JsonNode array) {
        float[] v = new float[array.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) array.get(i).asDouble();
        }
        return v;
    }

    private static double relError(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - (double) b[i]) * (a[i] - (double) b[i]);
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void matchesTfjsOnGeneratedImages() throws IOException {
        JsonNode golden = golden();
        assertEquals(NsfwjsClassifier.CLASSES.toString(), golden.get("classes").toString().replace("\"", "")
                .replace(",", ", "));
        List<RgbImage> images = new ArrayList<>();
        for (JsonNode c : golden.get("cases")) {
            RgbImage img = image(c.get("file").asText());
            assertEquals(c.get("width").asInt(), img.width());
            assertEquals(c.get("height").asInt(), img.height());
            images.add(img);
        }
        // all at once (a batch of differently sized images) and one by one must agree with the golden
        List<NsfwjsClassifier.Output> batch = classifier.classify(images);
        int i = 0;
        for (JsonNode c : golden.get("cases")) {
            NsfwjsClassifier.Output single = classifier.classify(List.of(images.get(i))).getFirst();
            float[] probs = floats(c.get("probs"));
            float[] features = floats(c.get("features"));
            for (NsfwjsClassifier.Output out : List.of(batch.get(i), single)) {
                double maxAbs = 0;
                for (int k = 0; k < probs.length; k++) {
                    maxAbs = Math.max(maxAbs, Math.abs(out.probabilities()[k] - probs[k]));
                }
                double featRel = relError(out.features(), features);
                System.out.printf("nsfwjs %-16s max|dp| %.2e  features rel %.2e%n", c.get("name").asText(), maxAbs,
                        featRel);
                assertTrue(maxAbs <= 1e-4, c.get("name") + ": probabilities differ by " + maxAbs);
                assertTrue(relError(out.probabilities(), probs) <= 1e-4, c.get("name") + ": probabilities");
                assertTrue(featRel <= 1e-4, c.get("name") + ": features differ, relative error " + featRel);
            }
            // classify() in nsfwjs returns the classes sorted by probability: the same top class here
            String top = c.get("classify").get(0).get("className").asText();
            float[] p = batch.get(i).probabilities();
            int best = 0;
            for (int k = 1; k < p.length; k++) {
                if (p[k] > p[best]) {
                    best = k;
                }
            }
            assertEquals(top, NsfwjsClassifier.CLASSES.get(best));
            i++;
        }
    }
}
