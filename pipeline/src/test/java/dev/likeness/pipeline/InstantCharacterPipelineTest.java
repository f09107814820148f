package dev.likeness.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;
import dev.likeness.pipeline.image.RgbImage;
import dev.likeness.pipeline.image.SubjectImages;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole pipeline against the official {@code InstantCharacterFluxPipeline} run by the reference script
 * ({@code tools/reference/goldens/pipeline_instantcharacter.py}) on the built-in tiny model: the same subject PNG,
 * prompt and seed give the same noise, the same latents after every step and the same image.
 */
class InstantCharacterPipelineTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final double TOLERANCE = 1e-3;
    private static final CpuBackend BACKEND = new CpuBackend();
    private static SafetensorsFile golden;
    private static InstantCharacterPipeline pipeline;
    private static RgbImage subject;

    @BeforeAll
    static void load() throws Exception {
        golden = SafetensorsFile.open(resource("pipeline.safetensors"));
        Path dir = Path.of("target", "tiny-model-test").toAbsolutePath();
        pipeline = TinyModel.materialize(dir).load(BACKEND);
        subject = png("subject.png");
    }

    @AfterAll
    static void close() {
        pipeline.close();
        golden.close();
    }

    private static Path resource(String name) throws URISyntaxException {
        return Path.of(InstantCharacterPipelineTest.class.getResource("/golden/instantcharacter/" + name).toURI());
    }

    static RgbImage png(String name) throws IOException {
        return TestImages.png("/golden/instantcharacter/" + name);
    }

    private static JsonNode params(String c) throws IOException {
        return JSON.readTree(golden.metadata().get("cases")).get(c);
    }

    private static InstantCharacterPipeline.Request request(JsonNode p, int numImages) {
        return new InstantCharacterPipeline.Request(p.get("prompt").asText(), p.get("negative_prompt").asText(),
                (float) p.get("true_cfg_scale").asDouble(), SubjectImages.of(subject, BACKEND),
                p.get("width").asInt(), p.get("height").asInt(), (float) p.get("scale").asDouble(),
                (float) p.get("guidance_scale").asDouble(), p.get("steps").asInt(), numImages,
                p.get("seed").asLong());
    }

    /** Runs a request, keeping the packed latents after every step. */
    private static Run run(InstantCharacterPipeline.Request r) {
        List<float[]> steps = new ArrayList<>();
        InstantCharacterPipeline.Result result = pipeline.generate(r, new InstantCharacterPipeline.Listener() {
            @Override
            public void step(int step, int total, Tensor latents) {
                steps.add(BACKEND.toFloatArray(latents));
            }
        }, () -> false);
        return new Run(result, steps);
    }

    private record Run(InstantCharacterPipeline.Result result, List<float[]> steps) {
    }

    static double relativeError(float[] actual, float[] expected) {
        assertEquals(expected.length, actual.length, "element count");
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = actual[i] - expected[i];
            diff += d * d;
            norm += (double) expected[i] * expected[i];
        }
        return Math.sqrt(diff / norm);
    }

    private float[] expected(String c, String role) {
        return BACKEND.toFloatArray(golden.tensor(c + "/" + role, BACKEND));
    }

    private void matchesReference(String c) throws IOException {
        JsonNode p = params(c);
        Run run = run(request(p, 1));
        int steps = p.get("steps").asInt();
        assertEquals(steps, run.steps().size(), "one callback per step");
        for (int i = 0; i < steps; i++) {
            double err = relativeError(run.steps().get(i), expected(c, "latents_" + i));
            System.out.printf("pipeline %s latents after step %d: relative error %.2e%n", c, i + 1, err);
            assertTrue(err <= TOLERANCE, c + " latents after step " + (i + 1) + ": relative error " + err);
        }
        // the reference's output_type="np": (x / 2 + 0.5) clamped to [0, 1], NHWC; the golden stores it NCHW
        float[] image = BACKEND.toFloatArray(run.result().images());
        for (int i = 0; i < image.length; i++) {
            image[i] = Math.min(1f, Math.max(0f, image[i] / 2f + 0.5f));
        }
        double err = relativeError(image, expected(c, "image"));
        System.out.printf("pipeline %s image: relative error %.2e%n", c, err);
        assertTrue(err <= TOLERANCE, c + " image: relative error " + err);
    }

    @Test
    void matchesTheOfficialPipelineStepByStep() throws IOException {
        matchesReference("main");
    }

    @Test
    void negativePromptRunsTrueClassifierFreeGuidanceAsTheReference() throws IOException {
        matchesReference("negative");
    }

    @Test
    void theSeedGivesTheReferenceNoise() throws IOException {
        JsonNode p = params("main");
        int w = p.get("width").asInt();
        int h = p.get("height").asInt();
        Tensor noise = dev.likeness.engine.random.TorchGenerator.randn(BACKEND, p.get("seed").asLong(),
                dev.likeness.engine.DType.F32, 1, 4, 2 * (h / 16), 2 * (w / 16));
        float[] packed = BACKEND.toFloatArray(dev.likeness.models.FluxTransformer.packLatents(noise));
        assertArrayEquals(expected("main", "noise"), packed, "initial noise (bit for bit)");
    }

    /**
     * The whole pipeline on a backend that is not a CpuBackend and reports a bf16 compute dtype (its ops still
     * compute in f32): only the Backend interface is used, every weight arrives through transfer, and the images are
     * the CPU backend's, bit for bit.
     */
    @Test
    void runsOnAnotherBackendThroughTheInterface() throws IOException {
        JsonNode p = params("negative");
        float[] expected = BACKEND.toFloatArray(run(request(p, 1)).result().images());
        DelegatingBackend device = new DelegatingBackend(BACKEND, dev.likeness.engine.DType.BF16);
        Path dir = Path.of("target", "tiny-model-test").toAbsolutePath();
        try (InstantCharacterPipeline other = TinyModel.materialize(dir).load(device.backend, false)) {
            assertTrue(device.transfers.get() > 0, "the weights reach the backend through transfer");
            InstantCharacterPipeline.Request r = request(p, 1);
            InstantCharacterPipeline.Request onDevice = new InstantCharacterPipeline.Request(r.prompt(),
                    r.negativePrompt(), r.trueCfgScale(), SubjectImages.of(subject, device.backend), r.width(),
                    r.height(), r.scale(), r.guidanceScale(), r.steps(), r.numImages(), r.seed());
            int loaded = device.transfers.get();
            Tensor images = other.generate(onDevice, new InstantCharacterPipeline.Listener() { }, () -> false)
                    .images();
            assertArrayEquals(expected, DelegatingBackend.values(images));
            // kept-resident encoders and the transformer were moved once, at load; a request moves no weight
            int afterFirst = device.transfers.get();
            other.generate(onDevice, new InstantCharacterPipeline.Listener() { }, () -> false);
            assertEquals(afterFirst, device.transfers.get());
            assertTrue(afterFirst >= loaded);
        }
    }

    @Test
    void sameInputsAndSeedGiveIdenticalImagesAndABatchRepeatsTheSingleImage() throws IOException {
        JsonNode p = params("negative");
        InstantCharacterPipeline.Request single = request(p, 1);
        float[] first = BACKEND.toFloatArray(run(single).result().images());
        float[] again = BACKEND.toFloatArray(run(single).result().images());
        assertArrayEquals(first, again, "same request, same seed: identical output");

        // two images in one batch: the noise is one draw of shape [2, ...], whose first half is the single draw
        float[] batch = BACKEND.toFloatArray(run(request(p, 2)).result().images());
        assertEquals(2 * first.length, batch.length);
        double err = relativeError(Arrays.copyOf(batch, first.length), first);
        System.out.printf("pipeline batch image 0 vs single: relative error %.2e%n", err);
        assertTrue(err <= 1e-5, "batch image 0 vs single image: " + err);
        double differs = relativeError(Arrays.copyOfRange(batch, first.length, batch.length), first);
        assertTrue(differs > 0.01, "the second image has its own noise: " + differs);
    }

    @Test
    void sizesMustBeMultiplesOf16() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                new InstantCharacterPipeline.Request("x", "", 1f, null, 100, 64, 1f, 3.5f, 1, 1, 0));
        assertTrue(e.getMessage().contains("multiples of 16"), e.getMessage());
    }
}
