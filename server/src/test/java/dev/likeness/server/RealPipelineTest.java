package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.TinyModel;
import dev.likeness.pipeline.safety.NsfwjsSafetyChecker;
import dev.likeness.pipeline.safety.SafetyChecker;
import dev.likeness.server.endpoints.InstantCharacterEndpoint;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end with the real pipeline: the server with {@link InstantCharacterEndpoint} on the built-in tiny model,
 * driven over HTTP — a queued request with a data-URI reference followed to COMPLETED, its image fetched from our
 * URL and decoded at the (rounded) size; the seed reproduces the image; sync mode; the run's error forms.
 */
class RealPipelineTest {
    static CpuBackend backend;
    static InstantCharacterPipeline pipeline;
    static SafetyChecker checker;

    @BeforeAll
    static void load() {
        backend = new CpuBackend();
        pipeline = TinyModel.materialize().load(backend);
        checker = NsfwjsSafetyChecker.load(backend);
    }

    @AfterAll
    static void close() {
        if (pipeline != null) pipeline.close();
    }

    private static Harness harness(Path dir) throws Exception {
        return harness(dir, checker);
    }

    private static Harness harness(Path dir, SafetyChecker safety) throws Exception {
        return new Harness(dir, List.of(new InstantCharacterEndpoint(pipeline, backend, safety)), null);
    }

    private static ObjectNode input() throws Exception {
        ObjectNode o = Json.object();
        o.put("prompt", "a knight in a forest");
        o.put("image_url", FileStore.dataUri(FakeCharacterEndpoint.png(40, 56, 0x884422), "image/png"));
        o.putObject("image_size").put("width", 72).put("height", 40);   // rounded down to 64x32
        o.put("num_inference_steps", 2);
        o.put("output_format", "png");
        return o;
    }

    @Test
    void queuedRequestRunsTheTinyModelToAnImage(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            ObjectNode in = input();
            in.put("seed", 1234);
            JsonNode sub = Harness.json(h.post("/queue/fal-ai/instant-character", in.toString()));
            assertEquals("IN_QUEUE", sub.path("status").asText());
            JsonNode status = h.awaitCompleted(sub.path("status_url").asText());
            assertFalse(status.has("error"), status.toString());
            List<String> lines = status.path("logs").findValuesAsText("message");
            assertTrue(lines.contains("step 1/2") && lines.contains("step 2/2"), lines.toString());
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("size 72x40 is not a multiple of 16; generating 64x32")), lines.toString());
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("safety checker " + NsfwjsSafetyChecker.NAME
                    + ": 0 of 1 image(s) flagged")), lines.toString());

            HttpResponse<String> res = h.get(sub.path("response_url").asText());
            assertEquals(200, res.statusCode());
            JsonNode out = Harness.json(res);
            assertEquals(List.of("images", "timings", "seed", "has_nsfw_concepts", "prompt"),
                    iterable(out.fieldNames()));
            assertEquals(1234, out.path("seed").asLong());
            assertEquals("a knight in a forest", out.path("prompt").asText());
            assertEquals("[false]", out.path("has_nsfw_concepts").toString());
            assertTrue(out.path("timings").path("inference").asDouble() > 0);
            assertTrue(out.path("timings").has("safety_checker"), out.toString());
            JsonNode img = out.path("images").get(0);
            assertEquals("image/png", img.path("content_type").asText());
            assertEquals(64, img.path("width").asInt());
            assertEquals(32, img.path("height").asInt());
            HttpResponse<byte[]> file = h.getBytes(img.path("url").asText());
            assertEquals(200, file.statusCode());
            assertEquals(img.path("file_size").asLong(), file.body().length);
            BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(file.body()));
            assertEquals(64, decoded.getWidth());
            assertEquals(32, decoded.getHeight());

            // the same seed again, synchronously with sync_mode: the same pixels, as a data URI
            in.put("sync_mode", true);
            HttpResponse<String> sync = h.post("/fal-ai/instant-character", in.toString());
            assertEquals(200, sync.statusCode(), sync.body());
            String url = Harness.json(sync).path("images").get(0).path("url").asText();
            assertTrue(url.startsWith("data:image/png;base64,"), url);
            byte[] again = Base64.getDecoder().decode(url.substring(url.indexOf(',') + 1));
            assertArrayEquals(file.body(), again);

            // no seed: a random one, returned
            in.remove("seed");
            in.put("num_images", 2);
            in.put("output_format", "jpeg");
            JsonNode random = Harness.json(h.post("/fal-ai/instant-character", in.toString()));
            assertEquals(2, random.path("images").size());
            assertEquals("image/jpeg", random.path("images").get(0).path("content_type").asText());
            assertEquals("[false,false]", random.path("has_nsfw_concepts").toString());
            assertTrue(random.path("seed").isIntegralNumber());
            assertNotEquals(random.path("images").get(0).path("url"), random.path("images").get(1).path("url"));
        }
    }

    /**
     * The checker through the API: the real nsfwjs classifier with a bound every image reaches (P(Porn) + P(Hentai)
     * ≥ 1e-9) flags the output, which comes back black and flagged; with {@code enable_safety_checker: false} the
     * same request is not checked, and the image and flags are the generated ones.
     */
    @Test
    void safetyCheckerOnReplacesFlaggedImagesAndOffChecksNothing(@TempDir Path dir) throws Exception {
        SafetyChecker strict = NsfwjsSafetyChecker.load(backend, new NsfwjsSafetyChecker.Thresholds(1e-9f,
                NsfwjsSafetyChecker.Thresholds.NEVER));
        try (Harness h = harness(dir, strict)) {
            ObjectNode in = input();
            in.put("seed", 5);
            JsonNode on = Harness.json(h.post("/fal-ai/instant-character", in.toString()));
            assertEquals("[true]", on.path("has_nsfw_concepts").toString());
            BufferedImage black = ImageIO.read(new ByteArrayInputStream(
                    h.getBytes(on.path("images").get(0).path("url").asText()).body()));
            for (int y = 0; y < black.getHeight(); y++) {
                for (int x = 0; x < black.getWidth(); x++) {
                    assertEquals(0, black.getRGB(x, y) & 0xffffff, "flagged image pixel " + x + "," + y);
                }
            }
            assertTrue(on.path("timings").has("safety_checker"));

            in.put("enable_safety_checker", false);
            JsonNode off = Harness.json(h.post("/fal-ai/instant-character", in.toString()));
            assertEquals("[false]", off.path("has_nsfw_concepts").toString());
            assertFalse(off.path("timings").has("safety_checker"), off.toString());
            BufferedImage generated = ImageIO.read(new ByteArrayInputStream(
                    h.getBytes(off.path("images").get(0).path("url").asText()).body()));
            boolean anyNonBlack = false;
            for (int y = 0; y < generated.getHeight() && !anyNonBlack; y++) {
                for (int x = 0; x < generated.getWidth(); x++) {
                    anyNonBlack |= (generated.getRGB(x, y) & 0xffffff) != 0;
                }
            }
            assertTrue(anyNonBlack, "with the checker off the generated image comes back");
        }
    }

    @Test
    void negativePromptRunsTrueCfgAndChangesTheImage(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            ObjectNode in = input();
            in.put("seed", 5);
            in.put("sync_mode", true);
            String plain = Harness.json(h.post("/fal-ai/instant-character", in.toString())).path("images").get(0)
                    .path("url").asText();
            in.put("negative_prompt", "blurry");
            JsonNode sub = Harness.json(h.post("/queue/fal-ai/instant-character", in.toString()));
            JsonNode status = h.awaitCompleted(sub.path("status_url").asText());
            assertTrue(status.path("logs").findValuesAsText("message")
                    .contains("negative prompt given: true classifier-free guidance at scale 4.0"));
            String cfg = Harness.json(h.get(sub.path("response_url").asText())).path("images").get(0).path("url").asText();
            assertNotEquals(plain, cfg);
        }
    }

    @Test
    void errorsOfTheRun(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            ObjectNode in = input();
            in.put("image_url", "data:image/png;base64," + Base64.getEncoder().encodeToString("not an image".getBytes()));
            HttpResponse<String> bad = h.post("/fal-ai/instant-character", in.toString());
            assertEquals(422, bad.statusCode());
            JsonNode item = Harness.json(bad).path("detail").get(0);
            assertEquals("image_load_error", item.path("type").asText());
            assertEquals("[\"body\",\"image_url\"]", item.path("loc").toString());

            in = input();
            in.putObject("image_size").put("width", 8).put("height", 64);
            HttpResponse<String> small = h.post("/fal-ai/instant-character", in.toString());
            assertEquals(422, small.statusCode());
            item = Harness.json(small).path("detail").get(0);
            assertEquals("image_too_small", item.path("type").asText());
            assertEquals(16, item.path("ctx").path("min_width").asInt());
        }
    }

    @Test
    void cancelStopsARunningGeneration(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            ObjectNode in = input();
            in.put("num_inference_steps", 50);
            in.putObject("image_size").put("width", 256).put("height", 256);
            JsonNode sub = Harness.json(h.post("/queue/fal-ai/instant-character", in.toString()));
            String statusUrl = sub.path("status_url").asText();
            long end = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < end) {
                JsonNode s = Harness.json(h.get(statusUrl + "?logs=1"));
                if (s.path("logs").findValuesAsText("message").contains("step 1/50")) break;
                Thread.sleep(20);
            }
            assertEquals(202, h.send("PUT", sub.path("cancel_url").asText(), null).statusCode());
            JsonNode done = h.awaitCompleted(statusUrl);
            assertEquals("client_cancelled", done.path("error_type").asText());
            List<String> lines = done.path("logs").findValuesAsText("message");
            assertFalse(lines.contains("step 50/50"), lines.toString());
            assertEquals(499, h.get(sub.path("response_url").asText()).statusCode());
        }
    }

    @Test
    void pricedPerOutputMegapixel(@TempDir Path dir) throws Exception {
        assertEquals(1, InstantCharacterEndpoint.megapixels(1024, 1024));
        assertEquals(2, InstantCharacterEndpoint.megapixels(1024, 1025));
        assertEquals(1, InstantCharacterEndpoint.megapixels(64, 32));
        assertEquals(4, InstantCharacterEndpoint.megapixels(2048, 2048));
        assertEquals(1, InstantCharacterEndpoint.megapixels(576, 1024));
        try (Harness h = harness(dir)) {
            ObjectNode in = input();
            in.put("sync_mode", true);
            in.put("num_images", 2);
            assertEquals(200, h.post("/fal-ai/instant-character", in.toString()).statusCode());
            JsonNode usage = Harness.json(h.get("/usage"));
            assertEquals(1, usage.path("requests").size());
            JsonNode line = usage.path("requests").get(0);
            assertEquals("megapixels", line.path("unit").asText());
            assertEquals(2.0, line.path("quantity").asDouble());
            assertEquals("0.1", line.path("unit_price").asText());
            assertEquals("0.2", usage.path("total").path("cost").asText());
        }
    }

    @Test
    void openApiSchemaAgreesWithTheValidation(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            JsonNode doc = Harness.json(h.get("/fal-ai/instant-character/openapi.json"));
            JsonNode input = doc.path("components").path("schemas").path("InstantCharacterInput");
            assertEquals("#/components/schemas/InstantCharacterInput", doc.path("paths").path("/fal-ai/instant-character")
                    .path("post").path("requestBody").path("content").path("application/json").path("schema").path("$ref").asText());
            JsonNode defaults = InstantCharacterInput.parse(Json.parse("{\"prompt\":\"p\",\"image_url\":\"u\"}")).toJson();
            List<String> order = iterable(input.path("x-fal-order-properties").elements()).stream().map(JsonNode::asText).toList();
            assertEquals(iterable(defaults.fieldNames()), order);
            for (String f : order) {
                JsonNode prop = input.path("properties").path(f);
                assertTrue(!prop.isMissingNode(), f);
                if (prop.has("default") && prop.get("default").isNumber()) {
                    assertEquals(defaults.get(f).asDouble(), prop.get("default").asDouble(), f);
                } else if (prop.has("default")) {
                    assertEquals(defaults.get(f), prop.get("default"), f);
                }
            }
            assertEquals("[\"prompt\",\"image_url\"]", input.path("required").toString());
            assertEquals(Json.MAPPER.valueToTree(InstantCharacterInput.OUTPUT_FORMATS), input.path("properties").path("output_format").path("enum"));
            assertEquals(Json.MAPPER.valueToTree(SchemaReader.PRESET_NAMES),
                    input.path("properties").path("image_size").path("anyOf").get(1).path("enum"));
            // ranges: the bounds validate, one step past them does not
            for (String f : List.of("scale", "guidance_scale", "num_inference_steps", "num_images")) {
                JsonNode prop = input.path("properties").path(f);
                ObjectNode body = Json.object().put("prompt", "p").put("image_url", "u");
                body.set(f, prop.get("maximum"));
                InstantCharacterInput.parse(body);
                body.put(f, prop.get("maximum").asDouble() + 1);
                JsonNode over = body;
                org.junit.jupiter.api.Assertions.assertThrows(InputError.class, () -> InstantCharacterInput.parse(over), f);
            }
            JsonNode output = doc.path("components").path("schemas").path("InstantCharacterOutput");
            assertEquals("[\"images\",\"timings\",\"seed\",\"has_nsfw_concepts\",\"prompt\"]", output.path("required").toString());
        }
    }

    private static <T> List<T> iterable(java.util.Iterator<T> it) {
        List<T> l = new java.util.ArrayList<>();
        it.forEachRemaining(l::add);
        return l;
    }
}
