package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Usage ledger, per-key limits (fal's 429), retention, Prometheus metrics, OpenAPI route. */
class OperationsTest {
    private static final String Q = "/queue/fal-ai/instant-character";

    @Test
    void usageLedgerPerKey(@TempDir Path dir) throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            String a = h.server.keys().create();
            String b = h.server.keys().create();
            String[] authA = {"Authorization", "Key " + a};
            String[] authB = {"Authorization", "Key " + b};
            var in = Harness.input();
            in.put("num_images", 3);
            assertEquals(200, h.post("/fal-ai/instant-character", in.toString(), authA).statusCode());
            in.put("num_images", 1);
            assertEquals(200, h.post("/fal-ai/instant-character", in.toString(), authA).statusCode());
            assertEquals(200, h.post("/fal-ai/instant-character", in.toString(), authB).statusCode());
            // failures cost nothing
            assertEquals(422, h.post("/fal-ai/instant-character", "{\"prompt\":1}", authA).statusCode());
            in.put("image_url", "data:image/png;base64,AAAA");
            String failed = Harness.json(h.post(Q, in.toString(), authA)).path("status_url").asText();
            h.awaitCompleted(failed, authA);

            JsonNode ua = Harness.json(h.get("/usage", authA));
            assertEquals(a.substring(0, a.indexOf(':')), ua.path("key_id").asText());
            assertEquals("USD", ua.path("currency").asText());
            assertEquals(2, ua.path("total").path("requests").asInt());
            assertEquals("0.2", ua.path("total").path("cost").asText());
            assertEquals(2, ua.path("requests").size());
            JsonNode line = ua.path("requests").get(0);
            assertEquals("fal-ai/instant-character", line.path("endpoint").asText());
            assertEquals("images", line.path("unit").asText());
            assertEquals(3.0, line.path("quantity").asDouble());
            assertEquals("0.05", line.path("unit_price").asText());
            assertEquals("0.15", line.path("cost").asText());
            assertEquals(4.0, ua.path("by_endpoint").get(0).path("quantity").asDouble());
            JsonNode ub = Harness.json(h.get("/usage", authB));
            assertEquals(1, ub.path("requests").size());
            assertEquals("0.05", ub.path("total").path("cost").asText());
            // a window in the future is empty; a bad date is a 400; no key is a 401
            assertEquals(0, Harness.json(h.get("/usage?from=2999-01-01", authA)).path("requests").size());
            assertEquals(400, h.get("/usage?from=yesterday", authA).statusCode());
            assertEquals(401, h.get("/usage").statusCode());
        }
    }

    @Test
    void perKeyQueueAndConcurrencyLimits(@TempDir Path dir) throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.gate = new CountDownLatch(1);
        try (Harness h = new Harness(dir, List.of(ep), c -> c.workers(2).maxQueuedPerKey(1).maxConcurrentPerKey(1))) {
            String a = h.server.keys().create();
            String b = h.server.keys().create();
            String[] authA = {"Authorization", "Key " + a};
            String[] authB = {"Authorization", "Key " + b};
            String in = Harness.input().toString();
            JsonNode first = Harness.json(h.post(Q, in, authA));
            h.awaitStatus(first.path("status_url").asText(), "IN_PROGRESS", authA);
            // A's second request waits (its key is at its concurrency limit) although a worker is free
            JsonNode second = Harness.json(h.post(Q, in, authA));
            Thread.sleep(300);
            assertEquals("IN_QUEUE", Harness.json(h.get(second.path("status_url").asText(), authA)).path("status").asText());
            // a third is over A's queue length: 429, nothing stored
            HttpResponse<String> third = h.post(Q, in, authA);
            assertEquals(429, third.statusCode());
            assertEquals("queue_limit_exceeded", Harness.json(third).path("error_type").asText());
            assertEquals("queue_limit_exceeded", third.headers().firstValue("x-fal-error-type").orElse(""));
            // a synchronous run of A is over its concurrency: 429
            HttpResponse<String> sync = h.post("/fal-ai/instant-character", in, authA);
            assertEquals(429, sync.statusCode());
            assertEquals("concurrent_requests_limit", Harness.json(sync).path("error_type").asText());
            // B is not affected: its request takes the free worker
            JsonNode other = Harness.json(h.post(Q, in, authB));
            h.awaitStatus(other.path("status_url").asText(), "IN_PROGRESS", authB);
            ep.gate.countDown();
            h.awaitCompleted(first.path("status_url").asText(), authA);
            h.awaitCompleted(second.path("status_url").asText(), authA);
            h.awaitCompleted(other.path("status_url").asText(), authB);
        }
    }

    @Test
    void retentionDeletesResultsAndFilesButKeepsTheLedger(@TempDir Path dir) throws Exception {
        try (Harness h = new Harness(dir, List.of(new FakeCharacterEndpoint()),
                c -> c.retention(Duration.ofMillis(400)).sweepInterval(Duration.ofMillis(100)))) {
            JsonNode sub = Harness.json(h.post(Q, Harness.input().toString()));
            JsonNode done = h.awaitCompleted(sub.path("status_url").asText());
            String url = Harness.json(h.get(sub.path("response_url").asText())).path("images").get(0).path("url").asText();
            assertEquals(200, h.getBytes(url).statusCode());
            long end = System.currentTimeMillis() + 10_000;
            while (System.currentTimeMillis() < end && h.get(sub.path("status_url").asText()).statusCode() != 404) {
                Thread.sleep(50);
            }
            assertEquals(404, h.get(sub.path("status_url").asText()).statusCode(), done.toString());
            assertEquals(404, h.get(sub.path("response_url").asText()).statusCode());
            assertEquals(404, h.getBytes(url).statusCode());
            String fileId = url.replaceAll(".*/files/([0-9a-f]{32})/.*", "$1");
            assertTrue(!java.nio.file.Files.exists(dir.resolve("files").resolve(fileId)), "file bytes left on disk");
            assertEquals(1, Harness.json(h.get("/usage")).path("requests").size());
        }
    }

    @Test
    void prometheusMetrics(@TempDir Path dir) throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            assertEquals(200, h.post("/fal-ai/instant-character", Harness.input().toString()).statusCode());
            var bad = Harness.input();
            bad.put("image_url", "data:image/png;base64,AAAA");
            assertEquals(422, h.post("/fal-ai/instant-character", bad.toString()).statusCode());
            HttpResponse<String> m = h.get("/metrics");
            assertEquals(200, m.statusCode());
            assertTrue(m.headers().firstValue("content-type").orElse("").startsWith("text/plain; version=0.0.4"));
            String t = m.body();
            assertTrue(t.contains("# TYPE likeness_queue_depth gauge\nlikeness_queue_depth 0\n"), t);
            assertTrue(t.contains("likeness_running 0\n"), t);
            assertTrue(t.contains("likeness_requests_completed_total{endpoint=\"fal-ai/instant-character\",outcome=\"ok\"} 1\n"), t);
            assertTrue(t.contains("likeness_requests_completed_total{endpoint=\"fal-ai/instant-character\",outcome=\"error\"} 1\n"), t);
            assertTrue(t.contains("likeness_request_errors_total{endpoint=\"fal-ai/instant-character\",error_type=\"image_load_error\"} 1\n"), t);
            assertTrue(t.contains("likeness_request_duration_seconds_bucket{endpoint=\"fal-ai/instant-character\",le=\"+Inf\"} 2\n"), t);
            assertTrue(t.contains("likeness_request_duration_seconds_count{endpoint=\"fal-ai/instant-character\"} 2\n"), t);
            assertTrue(t.contains("# TYPE likeness_request_run_seconds histogram"), t);
        }
    }

    @Test
    void openApiDocument(@TempDir Path dir) throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            JsonNode doc = Harness.json(h.get("/fal-ai/instant-character/openapi.json"));
            assertEquals("3.0.4", doc.path("openapi").asText());
            assertEquals(h.base + "/queue", doc.path("servers").get(0).path("url").asText());
            assertTrue(doc.path("paths").has("/fal-ai/instant-character"));
            assertTrue(doc.path("paths").has("/fal-ai/instant-character/requests/{request_id}/status"));
            assertTrue(doc.path("paths").has("/fal-ai/instant-character/requests/{request_id}/cancel"));
            assertEquals(doc, Harness.json(h.get("/api/openapi/queue/openapi.json?endpoint_id=fal-ai/instant-character")));
            assertEquals(404, h.get("/api/openapi/queue/openapi.json?endpoint_id=fal-ai/nope").statusCode());
        }
    }
}
