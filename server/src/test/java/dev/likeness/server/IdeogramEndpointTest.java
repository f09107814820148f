package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.TinyModel;
import dev.likeness.pipeline.safety.NsfwjsSafetyChecker;
import dev.likeness.pipeline.safety.SafetyChecker;
import dev.likeness.server.endpoints.IdeogramCharacterEndpoint;
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
 * {@code fal-ai/ideogram/character} end to end on the tiny model over HTTP: the output is exactly
 * {@code {images: [File], seed}}; every field reaches the run (palette, style codes, style references, mask); the
 * run's 422s name their field (unreadable mask, 10 MB group totals, conflicting style fields); the ledger prices per
 * image by rendering speed; the OpenAPI schema agrees with the validation.
 */
class IdeogramEndpointTest {
    static CpuBackend backend;
    static InstantCharacterPipeline pipeline;

    @BeforeAll
    static void load() {
        backend = new CpuBackend();
        pipeline = TinyModel.materialize().load(backend);
    }

    @AfterAll
    static void close() {
        if (pipeline != null) pipeline.close();
    }

    private static Harness harness(Path dir) throws Exception {
        return new Harness(dir, List.of(new IdeogramCharacterEndpoint(pipeline, backend, null)), null);
    }

    private static String png(int w, int h, int rgb) throws Exception {
        return FileStore.dataUri(FakeCharacterEndpoint.png(w, h, rgb), "image/png");
    }

    private static ObjectNode input() throws Exception {
        ObjectNode o = Json.object();
        o.put("prompt", "a knight in a forest");
        o.putArray("reference_image_urls").add(png(40, 56, 0x884422));
        o.putObject("image_size").put("width", 64).put("height", 64);
        o.put("rendering_speed", "TURBO");
        o.put("sync_mode", true);
        o.put("seed", 3);
        return o;
    }

    /** The first image's pixels (sync mode: a data URI). */
    private static int[] firstImage(Harness h, ObjectNode in) throws Exception {
        HttpResponse<String> r = h.post("/fal-ai/ideogram/character", in.toString());
        assertEquals(200, r.statusCode(), r.body());
        String url = Harness.json(r).path("images").get(0).path("url").asText();
        byte[] png = Base64.getDecoder().decode(url.substring(url.indexOf(',') + 1));
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    /** Mean absolute difference per channel, 0-255. */
    private static double meanAbsDiff(int[] a, int[] b) {
        assertEquals(a.length, b.length);
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            for (int shift = 0; shift < 24; shift += 8) {
                sum += Math.abs((a[i] >> shift & 0xff) - (b[i] >> shift & 0xff));
            }
        }
        return sum / (3.0 * a.length);
    }

    @Test
    void queuedRunReturnsExactlyImagesAndSeed(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            ObjectNode in = input();
            in.put("sync_mode", false);
            in.put("num_images", 2);
            JsonNode sub = Harness.json(h.post("/queue/fal-ai/ideogram/character", in.toString()));
            JsonNode status = h.awaitCompleted(sub.path("status_url").asText());
            assertFalse(status.has("error"), status.toString());
            List<String> lines = status.path("logs").findValuesAsText("message");
            assertTrue(lines.contains("step 8/8"), lines.toString());
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("MagicPrompt: a knight in a forest, ")), lines.toString());
            JsonNode out = Harness.json(h.get(sub.path("response_url").asText()));
            List<String> fields = new java.util.ArrayList<>();
            out.fieldNames().forEachRemaining(fields::add);
            assertEquals(List.of("images", "seed"), fields);
            assertEquals(3, out.path("seed").asLong());
            assertEquals(2, out.path("images").size());
            JsonNode img = out.path("images").get(0);
            List<String> fileFields = new java.util.ArrayList<>();
            img.fieldNames().forEachRemaining(fileFields::add);
            assertEquals(List.of("url", "content_type", "file_name", "file_size"), fileFields);
            assertEquals("image/png", img.path("content_type").asText());
            HttpResponse<byte[]> file = h.getBytes(img.path("url").asText());
            BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(file.body()));
            assertEquals(64, decoded.getWidth());

            JsonNode usage = Harness.json(h.get("/usage"));
            JsonNode line = usage.path("requests").get(0);
            assertEquals("images", line.path("unit").asText());
            assertEquals(2.0, line.path("quantity").asDouble());
            assertEquals("0.1", line.path("unit_price").asText());
            assertEquals("0.2", usage.path("total").path("cost").asText());
        }
    }

    @Test
    void everyFieldChangesTheImage(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            ObjectNode in = input();
            int[] plain = firstImage(h, in);
            double same = meanAbsDiff(plain, firstImage(h, input()));
            System.out.printf("ideogram endpoint: mean |diff| %.3f for the same input%n", same);
            assertTrue(same < 0.05, "same input and seed: the same image (" + same + ")");

            ObjectNode palette = input();
            palette.putObject("color_palette").put("name", "ULTRAMARINE");
            ObjectNode codes = input();
            codes.putArray("style_codes").add("AAFF5733");
            ObjectNode styleRef = input();
            styleRef.putArray("image_urls").add(png(32, 32, 0x2255ee));
            ObjectNode mask = input();
            mask.putArray("reference_mask_urls").add(png(20, 28, 0x000000));
            ObjectNode noExpand = input();
            noExpand.put("expand_prompt", false);
            ObjectNode fiction = input();
            fiction.put("style", "FICTION");
            ObjectNode balanced = input();
            balanced.put("rendering_speed", "BALANCED");
            ObjectNode negative = input();
            negative.put("negative_prompt", "blurry");
            for (ObjectNode changed : List.of(palette, codes, styleRef, mask, noExpand, fiction, balanced, negative)) {
                double d = meanAbsDiff(plain, firstImage(h, changed));
                System.out.printf("ideogram endpoint: mean |diff| %.2f (0-255) for %s%n", d, changed.toString()
                        .replaceAll("data:image/png;base64,[A-Za-z0-9+/=]+", "data:…"));
                assertTrue(d > 0.3, "mean |diff| " + d + " for " + changed);
            }
        }
    }

    /** The server's checker runs on every image (no field turns it off): a flagged image comes back black. */
    @Test
    void theSafetyCheckerRunsOnEveryImage(@TempDir Path dir) throws Exception {
        SafetyChecker strict = NsfwjsSafetyChecker.load(backend, new NsfwjsSafetyChecker.Thresholds(1e-9f,
                NsfwjsSafetyChecker.Thresholds.NEVER));
        try (Harness h = new Harness(dir, List.of(new IdeogramCharacterEndpoint(pipeline, backend, strict)), null)) {
            ObjectNode in = input();
            in.put("sync_mode", false);
            JsonNode sub = Harness.json(h.post("/queue/fal-ai/ideogram/character", in.toString()));
            JsonNode status = h.awaitCompleted(sub.path("status_url").asText());
            assertTrue(status.path("logs").findValuesAsText("message").stream()
                    .anyMatch(l -> l.startsWith("safety checker " + NsfwjsSafetyChecker.NAME + ": 1 of 1 image(s) flagged")),
                    status.toString());
            JsonNode out = Harness.json(h.get(sub.path("response_url").asText()));
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(
                    h.getBytes(out.path("images").get(0).path("url").asText()).body()));
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    assertEquals(0, img.getRGB(x, y) & 0xffffff, "flagged image pixel " + x + "," + y);
                }
            }
        }
    }

    @Test
    void runErrorsNameTheirField(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            ObjectNode in = input();
            in.putArray("reference_mask_urls").add("data:image/png;base64,"
                    + Base64.getEncoder().encodeToString("not an image".getBytes()));
            HttpResponse<String> bad = h.post("/fal-ai/ideogram/character", in.toString());
            assertEquals(422, bad.statusCode());
            JsonNode item = Harness.json(bad).path("detail").get(0);
            assertEquals("image_load_error", item.path("type").asText());
            assertEquals("[\"body\",\"reference_mask_urls\"]", item.path("loc").toString());

            // 10 MB across the style references: three 4 MB files
            byte[] big = new byte[4 << 20];
            System.arraycopy(FakeCharacterEndpoint.png(8, 8, 0x123456), 0, big, 0, FakeCharacterEndpoint.png(8, 8, 0x123456).length);
            String bigUri = FileStore.dataUri(big, "image/png");
            ObjectNode many = input();
            many.putArray("image_urls").add(bigUri).add(bigUri).add(bigUri);
            HttpResponse<String> tooMuch = h.post("/fal-ai/ideogram/character", many.toString());
            assertEquals(422, tooMuch.statusCode(), tooMuch.body());
            item = Harness.json(tooMuch).path("detail").get(0);
            assertEquals("file_too_large", item.path("type").asText());
            assertEquals("[\"body\",\"image_urls\"]", item.path("loc").toString());

            ObjectNode conflict = input();
            conflict.putArray("style_codes").add("AAFF5733");
            conflict.put("style", "REALISTIC");
            HttpResponse<String> c = h.post("/fal-ai/ideogram/character", conflict.toString());
            assertEquals(422, c.statusCode());
            assertEquals("[\"body\",\"style_codes\"]", Harness.json(c).path("detail").get(0).path("loc").toString());
        }
    }

    @Test
    void openApiSchemaAgreesWithTheValidation(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            JsonNode doc = Harness.json(h.get("/fal-ai/ideogram/character/openapi.json"));
            JsonNode input = doc.path("components").path("schemas").path("IdeogramCharacterInput");
            JsonNode defaults = IdeogramCharacterInput.parse(Json.parse("{\"prompt\":\"p\",\"reference_image_urls\":[\"u\"]}")).toJson();
            List<String> order = new java.util.ArrayList<>();
            input.path("x-fal-order-properties").elements().forEachRemaining(n -> order.add(n.asText()));
            List<String> fields = new java.util.ArrayList<>();
            defaults.fieldNames().forEachRemaining(fields::add);
            assertEquals(fields, order);
            for (String f : order) {
                JsonNode prop = input.path("properties").path(f);
                assertFalse(prop.isMissingNode(), f);
                if (prop.has("default")) assertEquals(defaults.get(f).asText(), prop.get("default").asText(), f);
            }
            assertEquals("[\"prompt\",\"reference_image_urls\"]", input.path("required").toString());
            assertEquals(Json.MAPPER.valueToTree(IdeogramCharacterInput.RENDERING_SPEEDS), input.path("properties").path("rendering_speed").path("enum"));
            assertEquals(Json.MAPPER.valueToTree(IdeogramCharacterInput.STYLES), input.path("properties").path("style").path("enum"));
            assertEquals(Json.MAPPER.valueToTree(IdeogramCharacterInput.PALETTE_PRESETS),
                    doc.path("components").path("schemas").path("ColorPalette").path("properties").path("name").path("enum"));
            assertEquals("[\"images\",\"seed\"]", doc.path("components").path("schemas").path("IdeogramCharacterOutput").path("required").toString());
        }
    }
}
