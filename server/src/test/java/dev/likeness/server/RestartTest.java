package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Accepted work survives: kill -9 of a running server, a graceful stop, and the restart-attempt cap. */
class RestartTest {
    @TempDir
    Path dir;

    private static final String APP = "/queue/fal-ai/instant-character";

    @Test
    void killDashNineDuringARunLosesNothing() throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                TestServerMain.class.getName(), dir.toString(), "150").redirectErrorStream(true).start();
        List<String> ids = new ArrayList<>();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()));
            String line;
            String base = null;
            while ((line = out.readLine()) != null) {
                if (line.startsWith("PORT ")) {
                    base = "http://127.0.0.1:" + line.substring(5).strip();
                    break;
                }
            }
            assertTrue(base != null, "the child server did not start");
            Thread.ofVirtual().start(() -> out.lines().forEach(l -> { }));
            HttpClient http = HttpClient.newHttpClient();
            for (int i = 0; i < 3; i++) {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + APP))
                        .POST(HttpRequest.BodyPublishers.ofString(Json.write(Harness.input().put("num_inference_steps", 40).put("seed", i))))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode());
                ids.add(Harness.json(r).get("request_id").asText());
            }
            CompletableFuture<HttpResponse<String>> sync = http.sendAsync(HttpRequest.newBuilder(URI.create(base + "/fal-ai/instant-character"))
                    .POST(HttpRequest.BodyPublishers.ofString(Json.write(Harness.input()))).build(), HttpResponse.BodyHandlers.ofString());
            String status = base + APP + "/requests/" + ids.getFirst() + "/status?logs=1";
            long end = System.currentTimeMillis() + 20_000;
            while (true) {
                JsonNode s = Harness.json(http.send(HttpRequest.newBuilder(URI.create(status)).build(), HttpResponse.BodyHandlers.ofString()));
                if (s.get("status").asText().equals("IN_PROGRESS") && s.get("logs").size() >= 3) break;
                assertTrue(System.currentTimeMillis() < end, "first request never ran: " + s);
                Thread.sleep(20);
            }
            p.destroyForcibly();
            assertTrue(p.waitFor(10, TimeUnit.SECONDS));
            assertEquals(137, p.exitValue(), "killed by SIGKILL");
            assertTrue(sync.handle((r, e) -> e != null).get(10, TimeUnit.SECONDS), "the sync caller lost its connection");
        } finally {
            p.destroyForcibly();
        }

        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            for (int i = 0; i < ids.size(); i++) {
                String base = h.base + APP + "/requests/" + ids.get(i);
                JsonNode done = h.awaitCompleted(base + "/status");
                assertFalse(done.has("error"), done.toString());
                HttpResponse<String> res = h.get(base);
                assertEquals(200, res.statusCode());
                assertEquals(i, Harness.json(res).get("seed").asInt());
                boolean requeued = done.get("logs").findValuesAsText("message")
                        .contains("The server restarted while this request ran; it was queued again.");
                assertEquals(i == 0, requeued, "only the running request was interrupted: " + done);
            }
            try (Database db = new Database(dir)) {
                List<Database.RequestRow> rows = db.requestsIn("COMPLETED");
                assertEquals(4, rows.size());
                Database.RequestRow syncRow = rows.stream().filter(Database.RequestRow::sync).findFirst().orElseThrow();
                assertEquals("client_disconnected", syncRow.errorType());
                assertEquals(499, syncRow.resultStatus());
                assertEquals(2, db.request(ids.getFirst()).attempts());
            }
        }
    }

    @Test
    void gracefulStopRequeuesRunningWork() throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.gate = new CountDownLatch(1);
        String id;
        try (Harness h = new Harness(dir, ep)) {
            id = Harness.json(h.post(APP, Json.write(Harness.input()))).get("request_id").asText();
            assertTrue(ep.started.await(10, TimeUnit.SECONDS));
        }
        try (Database db = new Database(dir)) {
            assertEquals("IN_QUEUE", db.request(id).status());
        }
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            JsonNode done = h.awaitCompleted(h.base + APP + "/requests/" + id + "/status");
            assertFalse(done.has("error"), done.toString());
            assertTrue(done.get("logs").findValuesAsText("message")
                    .contains("The server is shutting down; the request was queued again."));
        }
    }

    @Test
    void aRequestInterruptedTooOftenFailsWithAReason() throws Exception {
        String id = Ids.requestId();
        try (Database db = new Database(dir)) {
            db.insertRequest(id, InstantCharacterInput.ENDPOINT_ID, null, Json.write(Harness.input()), 0, false,
                    "http://127.0.0.1:1", null, System.currentTimeMillis());
            assertEquals(id, db.claimNext(System.currentTimeMillis()).id());
            db.requeue(id);
            db.claimNext(System.currentTimeMillis());
            assertEquals(2, db.request(id).attempts());
        }
        try (Harness h = new Harness(dir, List.of(new FakeCharacterEndpoint()), c -> c.maxRestartAttempts(2))) {
            String base = h.base + APP + "/requests/" + id;
            JsonNode done = h.awaitCompleted(base + "/status");
            assertEquals("runner_disconnected", done.get("error_type").asText());
            assertTrue(done.get("error").asText().contains("restarted 2 times"), done.toString());
            assertEquals(503, h.get(base).statusCode());
        }
    }
}
