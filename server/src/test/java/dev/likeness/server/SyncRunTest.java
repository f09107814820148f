package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Base64;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code POST /{endpoint}}: the output JSON in the response, files served from our URLs, fal's 422 and 404. */
class SyncRunTest {
    @TempDir
    Path dir;

    @Test
    void runReturnsOutputWithImagesServedByUs() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            ObjectNode in = Harness.input().put("seed", 7).put("num_images", 2);
            HttpResponse<String> r = h.post("/fal-ai/instant-character", Json.write(in),
                    "Content-Type", "application/json; charset=utf-8");
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.headers().firstValue("x-fal-request-id").isPresent());
            assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("application/json"));
            JsonNode out = Harness.json(r);
            assertEquals(7, out.get("seed").asLong());
            assertEquals("a knight", out.get("prompt").asText());
            assertEquals("[false,false]", out.get("has_nsfw_concepts").toString());
            assertTrue(out.get("timings").get("inference").isNumber());
            assertEquals(2, out.get("images").size());
            for (JsonNode img : out.get("images")) {
                assertEquals(16, img.get("width").asInt());
                assertEquals(8, img.get("height").asInt());
                assertEquals("image/png", img.get("content_type").asText());
                assertTrue(img.get("file_name").asText().endsWith(".png"));
                String url = img.get("url").asText();
                assertTrue(url.startsWith(h.base + "/files/"), url);
                HttpResponse<byte[]> file = h.getBytes(url);
                assertEquals(200, file.statusCode());
                assertEquals("image/png", file.headers().firstValue("content-type").orElse(""));
                assertEquals(img.get("file_size").asLong(), file.body().length);
                BufferedImage png = ImageIO.read(new ByteArrayInputStream(file.body()));
                assertEquals(16, png.getWidth());
                assertEquals(8, png.getHeight());
            }
            assertFalse(out.get("images").get(0).get("url").equals(out.get("images").get(1).get("url")));
        }
    }

    @Test
    void syncModeReturnsDataUrisAndJpegByDefault() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            ObjectNode in = Harness.input().put("sync_mode", true);
            in.remove("output_format");
            JsonNode img = Harness.json(h.post("/fal-ai/instant-character", Json.write(in))).get("images").get(0);
            String url = img.get("url").asText();
            assertTrue(url.startsWith("data:image/jpeg;base64,"), url);
            byte[] bytes = Base64.getDecoder().decode(url.substring(url.indexOf(',') + 1));
            assertEquals(img.get("file_size").asLong(), bytes.length);
            assertEquals(16, ImageIO.read(new ByteArrayInputStream(bytes)).getWidth());
            assertEquals("image/jpeg", img.get("content_type").asText());
        }
    }

    @Test
    void invalidInputIs422WithPydanticDetail() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            HttpResponse<String> r = h.post("/fal-ai/instant-character", "{\"prompt\":\"x\",\"num_images\":9}");
            assertEquals(422, r.statusCode());
            assertEquals("0", r.headers().firstValue("x-fal-billable-units").orElse(""));
            assertTrue(r.headers().firstValue("x-fal-request-id").isPresent());
            assertEquals(Json.parse("""
                    {"detail":[{"type":"missing","loc":["body","image_url"],"msg":"Field required","input":{"prompt":"x","num_images":9}},
                     {"type":"less_than_equal","loc":["body","num_images"],"msg":"Input should be less than or equal to 4","input":9,"ctx":{"le":4}}]}"""),
                    Harness.json(r));

            HttpResponse<String> bad = h.post("/fal-ai/instant-character", "{\"prompt\":");
            assertEquals(422, bad.statusCode());
            JsonNode item = Harness.json(bad).get("detail").get(0);
            assertEquals("json_invalid", item.get("type").asText());
            assertEquals("JSON decode error", item.get("msg").asText());
            assertEquals("body", item.get("loc").get(0).asText());
        }
    }

    @Test
    void badReferenceImageIs422FromTheRun() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            ObjectNode in = Harness.input().put("image_url", "data:image/png;base64," + Base64.getEncoder().encodeToString("not an image".getBytes()));
            HttpResponse<String> r = h.post("/fal-ai/instant-character", Json.write(in));
            assertEquals(422, r.statusCode(), r.body());
            JsonNode item = Harness.json(r).get("detail").get(0);
            assertEquals("image_load_error", item.get("type").asText());
            assertEquals("[\"body\",\"image_url\"]", item.get("loc").toString());
            assertEquals("image_load_error", r.headers().firstValue("x-fal-error-type").orElse(""));
        }
    }

    @Test
    void callerHangingUpCancelsTheRun() throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.gate = new java.util.concurrent.CountDownLatch(1);
        try (Harness h = new Harness(dir, ep)) {
            byte[] body = Json.write(Harness.input()).getBytes(java.nio.charset.StandardCharsets.UTF_8);
            try (java.net.Socket sock = new java.net.Socket("127.0.0.1", h.server.port())) {
                sock.getOutputStream().write(("POST /fal-ai/instant-character HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + "Content-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n").getBytes());
                sock.getOutputStream().write(body);
                sock.getOutputStream().flush();
                assertTrue(ep.started.await(10, java.util.concurrent.TimeUnit.SECONDS));
            }
            long end = System.currentTimeMillis() + 10_000;
            Database.RequestRow row = null;
            while (System.currentTimeMillis() < end) {
                try (Database db = new Database(dir)) {
                    row = db.requestsIn("COMPLETED").stream().findFirst().orElse(null);
                }
                if (row != null) break;
                Thread.sleep(50);
            }
            assertTrue(row != null, "the run was not cancelled when its caller left");
            assertEquals("client_cancelled", row.errorType());
        }
    }

    @Test
    void unknownPathsAndMethods() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            HttpResponse<String> r = h.post("/fal-ai/no-such-model", "{}");
            assertEquals(404, r.statusCode());
            assertEquals("Path /fal-ai/no-such-model not found", Harness.json(r).get("detail").asText());
            assertTrue(r.headers().firstValue("x-fal-request-id").isPresent());
            assertEquals(405, h.get("/fal-ai/instant-character").statusCode());
            assertEquals("{\"status\":\"ok\"}", h.get("/health").body());

            HttpResponse<String> pre = h.send("OPTIONS", "/queue/fal-ai/instant-character", null,
                    "Origin", "https://app.example", "Access-Control-Request-Method", "POST",
                    "Access-Control-Request-Headers", "authorization, content-type, x-fal-queue-priority");
            assertEquals(204, pre.statusCode());
            assertEquals("*", pre.headers().firstValue("access-control-allow-origin").orElse(""));
            assertEquals("authorization, content-type, x-fal-queue-priority",
                    pre.headers().firstValue("access-control-allow-headers").orElse(""));
            assertTrue(r.headers().firstValue("access-control-expose-headers").orElse("").contains("x-fal-request-id"));
        }
    }

    @Test
    void bodyLimitIs413() throws Exception {
        try (Harness h = new Harness(dir, java.util.List.of(new FakeCharacterEndpoint()), c -> c.maxBodyBytes(1000))) {
            HttpResponse<String> r = h.post("/fal-ai/instant-character", "{\"prompt\":\"" + "x".repeat(2000) + "\"}");
            assertEquals(413, r.statusCode());
            assertTrue(Harness.json(r).get("detail").asText().contains("1000"));
        }
    }
}
