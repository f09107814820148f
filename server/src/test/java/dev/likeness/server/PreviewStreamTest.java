package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.TinyModel;
import dev.likeness.server.endpoints.InstantCharacterEndpoint;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Step previews on the status stream (our extension, {@code ?previews=1}, which the playground uses), on the real
 * endpoint and the tiny model: a stream that asks gets {@code preview {step, steps, image}} events whose PNG is the
 * latent resolution (1/8 of the output) and ends at the last step; a stream that does not ask, and the status route,
 * never carry one.
 */
class PreviewStreamTest {
    @TempDir
    Path dir;

    static ObjectNode input(int side, int steps) throws Exception {
        ObjectNode o = Json.object();
        o.put("prompt", "a knight");
        o.put("image_url", FileStore.dataUri(FakeCharacterEndpoint.png(40, 40, 0x884422), "image/png"));
        o.putObject("image_size").put("width", side).put("height", side);
        o.put("num_inference_steps", steps);
        o.put("enable_safety_checker", false);
        o.put("seed", 3);
        return o;
    }

    static List<JsonNode> events(Stream<String> lines) {
        List<JsonNode> out = new ArrayList<>();
        lines.filter(l -> l.startsWith("data: ")).forEach(l -> {
            try {
                out.add(Json.parse(l.substring(6)));
            } catch (Exception e) {
                throw new AssertionError(l, e);
            }
        });
        return out;
    }

    @Test
    void previewsOnlyForStreamsThatAsk() throws Exception {
        CpuBackend backend = new CpuBackend();
        InstantCharacterPipeline pipeline = TinyModel.materialize().load(backend);
        try (Harness h = new Harness(dir, new InstantCharacterEndpoint(pipeline, backend, null))) {
            String blocker = Json.parse(h.post("/queue/fal-ai/instant-character", Json.write(input(256, 50))).body())
                    .get("request_id").asText();
            String id = Json.parse(h.post("/queue/fal-ai/instant-character", Json.write(input(64, 5))).body())
                    .get("request_id").asText();
            String base = h.base + "/queue/fal-ai/instant-character/requests/" + id + "/status";
            CompletableFuture<HttpResponse<Stream<String>>> with = h.http.sendAsync(HttpRequest.newBuilder(
                    URI.create(base + "/stream?logs=1&previews=1")).timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofLines());
            CompletableFuture<HttpResponse<Stream<String>>> without = h.http.sendAsync(HttpRequest.newBuilder(
                    URI.create(base + "/stream?logs=1")).timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofLines());
            HttpResponse<Stream<String>> a = with.get(), b = without.get();
            assertEquals(200, a.statusCode());
            assertEquals(202, h.send("PUT", "/queue/fal-ai/instant-character/requests/" + blocker + "/cancel", null).statusCode());

            List<JsonNode> ea = events(a.body()), eb = events(b.body());
            assertEquals("COMPLETED", ea.getLast().get("status").asText());
            assertEquals("COMPLETED", eb.getLast().get("status").asText());
            assertFalse(Json.parse(h.get(base).body()).has("preview"), "the status route has no preview");
            List<JsonNode> previews = ea.stream().filter(e -> e.has("preview")).map(e -> e.get("preview")).toList();
            assertFalse(previews.isEmpty(), "no preview in " + ea);
            assertTrue(eb.stream().noneMatch(e -> e.has("preview")), "a preview without previews=1");
            JsonNode last = previews.getLast();
            assertEquals(5, last.get("step").asInt());
            assertEquals(5, last.get("steps").asInt());
            int prev = 0;
            for (JsonNode p : previews) {
                assertTrue(p.get("step").asInt() > prev, "steps increase: " + previews);
                prev = p.get("step").asInt();
                String uri = p.get("image").asText();
                assertTrue(uri.startsWith("data:image/png;base64,"), uri);
                BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(uri.substring(22))));
                assertNotNull(img);
                assertEquals(8, img.getWidth());
                assertEquals(8, img.getHeight());
            }
            assertEquals(200, h.get("/queue/fal-ai/instant-character/requests/" + id).statusCode());
            assertTrue(h.get(base + "?logs=1").body().contains("step 5/5"));
            assertFalse(h.get(base + "?logs=1").body().contains("data:image"), "previews stay out of the logs");
        }
    }
}
