package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code GET …/status/stream}: SSE as the clients parse it. */
class StreamTest {
    @TempDir
    Path dir;

    /** Reads a stream to its end; returns its lines with arrival times (ms since the first line). */
    private static List<String> readStream(Harness h, String url, List<Long> times) throws Exception {
        HttpResponse<Stream<String>> r = h.http.send(HttpRequest.newBuilder(URI.create(url))
                        .header("Accept", "application/json, text/event-stream").timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
        assertTrue(r.headers().firstValue("x-fal-request-id").isPresent());
        List<String> lines = new ArrayList<>();
        long t0 = System.currentTimeMillis();
        r.body().forEach(l -> {
            lines.add(l);
            times.add(System.currentTimeMillis() - t0);
        });
        return lines;
    }

    private static List<JsonNode> events(List<String> lines) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String l : lines) if (l.startsWith("data: ")) out.add(Json.parse(l.substring(6)));
        return out;
    }

    @Test
    void streamSendsStatusChangesIncrementalLogsPingsAndEndsAfterCompleted() throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.gate = new CountDownLatch(1);
        try (Harness h = new Harness(dir, List.of(ep), c -> c.keepAlive(Duration.ofMillis(200)))) {
            JsonNode first = Harness.json(h.post("/queue/fal-ai/instant-character", Json.write(Harness.input())));
            assertTrue(ep.started.await(10, TimeUnit.SECONDS));
            JsonNode s = Harness.json(h.post("/queue/fal-ai/instant-character", Json.write(Harness.input())));
            Thread.ofVirtual().start(() -> {
                try {
                    Thread.sleep(700);
                } catch (InterruptedException ignored) {
                    // release early
                }
                ep.gate.countDown();
            });
            List<Long> times = new ArrayList<>();
            List<String> lines = readStream(h, s.get("status_url").asText() + "/stream?logs=1", times);
            List<JsonNode> ev = events(lines);
            assertEquals("IN_QUEUE", ev.getFirst().get("status").asText());
            assertEquals(0, ev.getFirst().get("queue_position").asInt());
            JsonNode last = ev.getLast();
            assertEquals("COMPLETED", last.get("status").asText());
            assertTrue(last.get("metrics").get("inference_time").isNumber());
            assertEquals(1, ev.stream().filter(e -> e.get("status").asText().equals("COMPLETED")).count());
            List<String> all = new ArrayList<>();
            for (JsonNode e : ev) if (e.get("logs").isArray()) all.addAll(e.get("logs").findValuesAsText("message"));
            assertEquals(List.of("reference 4x4", "step 1/3", "step 2/3", "step 3/3"), all, "each line exactly once");
            assertTrue(lines.contains(": ping"), "keep-alive comments while queued: " + lines);
            for (String l : lines) assertTrue(l.isEmpty() || l.startsWith("data: ") || l.equals(": ping"), l);
            assertEquals(s.get("request_id").asText(), last.get("request_id").asText());
            h.awaitCompleted(first.get("status_url").asText());
        }
    }

    @Test
    void pingsComeWithinTheKeepAliveWhileRunning() throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.gate = new CountDownLatch(1);
        try (Harness h = new Harness(dir, List.of(ep), c -> c.keepAlive(Duration.ofMillis(300)))) {
            JsonNode s = Harness.json(h.post("/queue/fal-ai/instant-character", Json.write(Harness.input())));
            Thread.ofVirtual().start(() -> {
                try {
                    Thread.sleep(2000);
                } catch (InterruptedException ignored) {
                    // release early
                }
                ep.gate.countDown();
            });
            List<Long> times = new ArrayList<>();
            List<String> lines = readStream(h, s.get("status_url").asText() + "/stream", times);
            long prev = 0, worst = 0;
            for (int i = 0; i < lines.size(); i++) {
                if (lines.get(i).isEmpty()) continue;
                worst = Math.max(worst, times.get(i) - prev);
                prev = times.get(i);
            }
            assertTrue(worst < 1000, "longest silence " + worst + " ms with a 300 ms keep-alive");
            assertTrue(lines.stream().filter(": ping"::equals).count() >= 3, lines.toString());
            List<JsonNode> ev = events(lines);
            assertTrue(ev.getLast().get("logs").isNull(), "no logs unless asked");
            assertEquals("COMPLETED", ev.getLast().get("status").asText());
        }
    }

    @Test
    void completedRequestGivesOneEventAndCloses() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            JsonNode s = Harness.json(h.post("/queue/fal-ai/instant-character", Json.write(Harness.input())));
            h.awaitCompleted(s.get("status_url").asText());
            List<JsonNode> ev = events(readStream(h, s.get("status_url").asText() + "/stream?logs=1", new ArrayList<>()));
            assertEquals(1, ev.size());
            assertEquals("COMPLETED", ev.getFirst().get("status").asText());
            assertEquals(4, ev.getFirst().get("logs").size());
        }
    }
}
