package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official Node client, {@code @fal-ai/client} (fetched from npm at test time into
 * {@code ~/.cache/likeness-conformance/}, never committed), against a running server, configured with
 * {@code proxyUrl: {url, when: "always"}}. The script {@code src/test/clients/node/conformance.cjs} makes the calls
 * and prints what they returned; this test checks it: {@code storage.upload}, {@code subscribe} (polling and
 * streaming, queue updates with logs, a sub-path endpoint id), {@code queue.submit / status / streamStatus / result /
 * cancel} (queued, running, completed), {@code run}, a 422; on {@code fal-ai/ideogram/character} {@code subscribe},
 * {@code run} and the 422 of a conflicting field. Skipped, with the reason, when node or npm is missing or
 * the package cannot be installed. Run over HTTP and over HTTPS (the generated CA in {@code NODE_EXTRA_CA_CERTS}).
 */
class NodeClientConformanceTest {
    static final String VERSION = "1.10.1";

    @TempDir
    static Path dir;
    static Path clientDir;

    /** Installs the client once (skips the test, with the reason, when that is impossible). */
    static void install() {
        clientDir = Conformance.cacheDir("node-fal-client-" + VERSION);
        Path marker = clientDir.resolve("node_modules/@fal-ai/client/package.json");
        String[] node = Conformance.tryRun(List.of("node", "--version"), Path.of("."), 30, Map.of());
        Conformance.skipUnless(node != null && node[0].equals("0"), "node is not installed: cannot run the @fal-ai/client suite");
        if (Files.exists(marker)) return;
        try {
            Files.createDirectories(clientDir);
            Files.writeString(clientDir.resolve("package.json"), "{\"private\": true}\n");
        } catch (java.io.IOException e) {
            Conformance.skipUnless(false, "cannot create " + clientDir + ": " + e.getMessage());
        }
        String[] npm = Conformance.tryRun(List.of("npm", "install", "--no-audit", "--no-fund", "--no-package-lock",
                "--loglevel=error", "@fal-ai/client@" + VERSION), clientDir, 240, Map.of());
        Conformance.skipUnless(npm != null && npm[0].equals("0") && Files.exists(marker),
                "could not install @fal-ai/client@" + VERSION + " from npm (no network?): "
                        + (npm == null ? "npm is not installed" : npm[1]));
    }

    /** Over HTTP, the usual local set-up. */
    @Test
    void officialNodeClientOverHttp() throws Exception {
        install();
        try (Conformance c = new Conformance(dir.resolve("http"))) {
            check(c, c.http, Map.of("FAL_CLIENT_DIR", clientDir.toString()), "node-client-http");
        }
    }

    /** Over HTTPS with the generated CA, trusted through {@code NODE_EXTRA_CA_CERTS} as documented. */
    @Test
    void officialNodeClientOverHttps() throws Exception {
        install();
        try (Conformance c = new Conformance(dir.resolve("https"))) {
            check(c, "https://" + c.httpsHostPort,
                    Map.of("FAL_CLIENT_DIR", clientDir.toString(), "NODE_EXTRA_CA_CERTS", c.caFile.toString()), "node-client-https");
        }
    }

    private static void check(Conformance c, String base, Map<String, String> env, String name) throws Exception {
        {
            long t0 = System.nanoTime();
            Conformance.ScriptRun run = Conformance.runScript(name,
                    List.of("node", Conformance.scripts().resolve("node/conformance.cjs").toString(), c.scriptConfig(base).toString()),
                    env, c.dir, 90);
            System.out.printf("@fal-ai/client %s suite (%s): %.1f s%n", VERSION, base, (System.nanoTime() - t0) / 1e9);
            JsonNode r = run.result();

            String uploaded = r.path("upload").path("url").asText();
            assertTrue(uploaded.startsWith(base + "/files/"), uploaded);
            c.checkUpload("storage.upload", uploaded);

            JsonNode sub = r.path("subscribe");
            Conformance.checkRequestId("subscribe", sub.path("requestId").asText());
            c.checkOutput("subscribe", sub.path("data"));
            checkUpdates("subscribe", sub.path("updates"), sub.path("requestId").asText());

            JsonNode subStream = r.path("subscribe_streaming");
            c.checkOutput("subscribe (streaming, sub-path id)", subStream.path("data"));
            checkUpdates("subscribe (streaming)", subStream.path("updates"), subStream.path("requestId").asText());

            JsonNode q = r.path("queue");
            String id = q.path("submitted").path("request_id").asText();
            Conformance.checkRequestId("queue.submit", id);
            assertEquals("IN_QUEUE", q.path("submitted").path("status").asText());
            assertTrue(q.path("submitted").path("status_url").asText().startsWith(base + "/queue/"), q.path("submitted").toString());
            assertEquals("IN_QUEUE", q.path("queued").path("status").asText(), "queue.status behind a slow request: " + q.path("queued"));
            assertTrue(q.path("queued").path("queue_position").asInt(-1) >= 0, q.path("queued").toString());
            List<String> kinds = new ArrayList<>();
            for (JsonNode e : q.path("events")) if (!kinds.contains(e.path("status").asText())) kinds.add(e.path("status").asText());
            assertEquals(List.of("IN_QUEUE", "IN_PROGRESS", "COMPLETED"), kinds, "streamStatus events " + q.path("events"));
            JsonNode streamedLogs = Json.MAPPER.createArrayNode();
            for (JsonNode e : q.path("events")) if (e.path("logs").isArray()) ((com.fasterxml.jackson.databind.node.ArrayNode) streamedLogs).addAll((com.fasterxml.jackson.databind.node.ArrayNode) e.path("logs"));
            Conformance.checkLogs("streamStatus", streamedLogs);
            assertEquals("COMPLETED", q.path("done").path("status").asText(), "streamStatus done()");
            assertEquals("COMPLETED", q.path("completed").path("status").asText());
            assertTrue(q.path("completed").path("metrics").has("inference_time"), q.path("completed").toString());
            Conformance.checkLogs("queue.status logs", q.path("completed").path("logs"));
            assertEquals(id, q.path("result").path("requestId").asText());
            c.checkOutput("queue.result", q.path("result").path("data"));

            JsonNode cancel = r.path("cancel");
            for (String state : List.of("queued", "running")) {
                JsonNode s = cancel.path(state);
                assertEquals("COMPLETED", s.path("status").path("status").asText(), "cancel " + state + ": " + s);
                assertEquals("client_cancelled", s.path("status").path("error_type").asText(), "cancel " + state + ": " + s);
                assertEquals(499, s.path("result_error").path("status").asInt(), "cancel " + state + ": result " + s);
            }
            assertEquals(400, cancel.path("completed").path("error").path("status").asInt(), "cancel completed: " + cancel.path("completed"));
            assertEquals("ALREADY_COMPLETED", cancel.path("completed").path("error").path("body").path("status").asText());

            Conformance.checkRequestId("run", r.path("run").path("requestId").asText());
            c.checkOutput("run", r.path("run").path("data"));

            JsonNode invalid = r.path("invalid");
            assertEquals("ValidationError", invalid.path("name").asText(), invalid.toString());
            assertEquals(422, invalid.path("status").asInt());
            assertEquals("image_size", invalid.path("body").path("detail").get(0).path("loc").get(1).asText(), invalid.toString());

            JsonNode ideogram = r.path("ideogram");
            JsonNode isub = ideogram.path("subscribe");
            Conformance.checkRequestId("ideogram subscribe", isub.path("requestId").asText());
            c.checkIdeogramOutput("ideogram subscribe", isub.path("data"));
            checkUpdates("ideogram subscribe", isub.path("updates"), isub.path("requestId").asText());
            Conformance.checkRequestId("ideogram run", ideogram.path("run").path("requestId").asText());
            c.checkIdeogramOutput("ideogram run", ideogram.path("run").path("data"));
            JsonNode conflict = ideogram.path("conflict");
            assertEquals("ValidationError", conflict.path("name").asText(), conflict.toString());
            assertEquals(422, conflict.path("status").asInt(), conflict.toString());
            Conformance.checkIdeogramConflict("ideogram run (conflict)", conflict.path("body"));
        }
    }

    /** Queue updates as {@code onQueueUpdate} received them: ending COMPLETED for this request, logs accumulated. */
    static void checkUpdates(String call, JsonNode updates, String requestId) {
        assertTrue(updates.size() > 0, call + ": no queue updates");
        JsonNode last = updates.get(updates.size() - 1);
        assertEquals("COMPLETED", last.path("status").asText(), call + ": " + updates);
        assertEquals(requestId, last.path("request_id").asText(), call);
        Conformance.checkLogs(call, last.path("logs"));
    }
}
