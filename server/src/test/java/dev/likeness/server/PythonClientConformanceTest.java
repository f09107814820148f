package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official Python client, {@code fal-client} (installed from PyPI at test time into a virtual environment under
 * {@code ~/.cache/likeness-conformance/}, never committed), against the server's HTTPS listener: the client only
 * speaks {@code https://{FAL_RUN_HOST}}, so it is configured with {@code FAL_RUN_HOST}, {@code FAL_QUEUE_RUN_HOST}
 * and {@code SSL_CERT_FILE} = the generated CA — the client itself is not patched. The script
 * {@code src/test/clients/python/conformance.py} makes the calls and prints what they returned; this test checks it:
 * {@code upload_file}, {@code subscribe} (logs, queue updates, a sub-path id), {@code submit}, {@code status},
 * {@code result}, the handle's {@code iter_events / get / cancel}, {@code cancel} (queued, running, completed),
 * {@code run}, a 422, and the asyncio client ({@code upload_file_async}, {@code subscribe_async}, {@code submit_async}
 * and its handle, {@code run_async}); on {@code fal-ai/ideogram/character} {@code subscribe}, {@code run} and the 422 of
 * a conflicting field. Skipped, with the reason, when python3 is missing or the package cannot be installed.
 */
class PythonClientConformanceTest {
    static final String VERSION = "1.0.3";

    @TempDir
    static Path dir;
    static Path python;

    /** Installs the client once (skips the test, with the reason, when that is impossible). */
    static void install() {
        Path venv = Conformance.cacheDir("python-fal-client-" + VERSION);
        boolean windows = System.getProperty("os.name").startsWith("Windows");
        python = venv.resolve(windows ? "Scripts/python.exe" : "bin/python");
        Path marker = venv.resolve("installed-fal-client-" + VERSION);
        if (Files.exists(marker) && Files.exists(python)) return;
        String py = windows ? "python" : "python3";
        String[] made = Conformance.tryRun(List.of(py, "-m", "venv", "--clear", venv.toString()), Path.of("."), 120, Map.of());
        Conformance.skipUnless(made != null && made[0].equals("0"),
                "could not create a Python virtual environment: " + (made == null ? py + " is not installed" : made[1]));
        String[] pip = Conformance.tryRun(List.of(python.toString(), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "fal-client==" + VERSION), venv, 300, Map.of());
        Conformance.skipUnless(pip != null && pip[0].equals("0"),
                "could not install fal-client==" + VERSION + " from PyPI (no network?): " + (pip == null ? "" : pip[1]));
        try {
            Files.writeString(marker, "ok\n");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void officialPythonClient() throws Exception {
        install();
        try (Conformance c = new Conformance(dir)) {
            String https = "https://" + c.httpsHostPort;
            Map<String, String> env = new HashMap<>();
            env.put("FAL_KEY", c.key);
            env.put("FAL_RUN_HOST", c.httpsHostPort);
            env.put("FAL_QUEUE_RUN_HOST", c.httpsHostPort + "/queue");
            env.put("SSL_CERT_FILE", c.caFile.toString());
            env.put("NO_PROXY", "127.0.0.1,localhost");
            env.put("PYTHONDONTWRITEBYTECODE", "1");
            long t0 = System.nanoTime();
            Conformance.ScriptRun run = Conformance.runScript("python-client",
                    List.of(python.toString(), Conformance.scripts().resolve("python/conformance.py").toString(),
                            c.scriptConfig(https).toString()), env, dir, 90);
            System.out.printf("fal-client %s (Python) suite: %.1f s%n", VERSION, (System.nanoTime() - t0) / 1e9);
            JsonNode r = run.result();

            assertTrue(r.path("tls_strict").path("127.0.0.1").asText().startsWith("TLSv1."), r.path("tls_strict").toString());
            assertTrue(r.path("tls_strict").path("localhost").asText().startsWith("TLSv1."), r.path("tls_strict").toString());

            String uploaded = r.path("upload_file").path("url").asText();
            assertTrue(uploaded.startsWith(https + "/files/"), uploaded);
            c.checkUpload("upload_file", uploaded);

            JsonNode sub = r.path("subscribe");
            Conformance.checkRequestId("subscribe", sub.path("request_id").asText());
            c.checkOutput("subscribe", sub.path("data"));
            JsonNode updates = sub.path("updates");
            JsonNode last = updates.get(updates.size() - 1);
            assertEquals("Completed", last.path("status").asText(), updates.toString());
            ArrayNode logs = Json.MAPPER.createArrayNode();
            for (JsonNode u : updates) if (u.path("logs").isArray()) logs.addAll((ArrayNode) u.path("logs"));
            Conformance.checkLogs("subscribe", last.path("logs"));
            c.checkOutput("subscribe (sub-path id)", r.path("subscribe_subpath").path("data"));

            JsonNode q = r.path("queue");
            String id = q.path("request_id").asText();
            Conformance.checkRequestId("submit", id);
            assertTrue(q.path("status_url").asText().startsWith(https + "/queue/"), q.path("status_url").asText());
            assertEquals("Queued", q.path("queued").path("status").asText(), "status behind a slow request: " + q.path("queued"));
            assertTrue(q.path("queued").path("position").asInt(-1) >= 0, q.path("queued").toString());
            List<String> kinds = new ArrayList<>();
            for (JsonNode e : q.path("events")) if (!kinds.contains(e.path("status").asText())) kinds.add(e.path("status").asText());
            assertEquals(List.of("Queued", "InProgress", "Completed"), kinds, "iter_events " + q.path("events"));
            JsonNode done = q.path("completed");
            assertEquals("Completed", done.path("status").asText());
            assertTrue(done.path("metrics").has("inference_time"), done.toString());
            assertTrue(done.path("error").isNull(), done.toString());
            Conformance.checkLogs("status(with_logs)", done.path("logs"));
            c.checkOutput("result", q.path("result"));
            c.checkOutput("handle.get", q.path("handle_get"));
            c.checkOutput("slow handle.get", q.path("slow_result"));

            JsonNode cancel = r.path("cancel");
            for (String state : List.of("queued", "running")) {
                JsonNode s = cancel.path(state);
                assertEquals("Completed", s.path("status").path("status").asText(), "cancel " + state + ": " + s);
                assertEquals("client_cancelled", s.path("status").path("error_type").asText(), "cancel " + state + ": " + s);
                assertEquals(499, s.path("result_error").path("status").asInt(), "cancel " + state + ": result " + s);
                assertEquals("client_cancelled", s.path("result_error").path("error_type").asText(), s.toString());
            }
            assertEquals(400, cancel.path("completed").path("error").path("status").asInt(), "cancel completed: " + cancel.path("completed"));

            c.checkOutput("run", r.path("run").path("data"));

            JsonNode async = r.path("async");
            c.checkUpload("upload_file_async", async.path("upload_file").asText());
            c.checkOutput("subscribe_async", async.path("subscribe"));
            JsonNode asyncUpdates = async.path("updates");
            assertEquals("Completed", asyncUpdates.get(asyncUpdates.size() - 1).path("status").asText(), asyncUpdates.toString());
            Conformance.checkLogs("subscribe_async", asyncUpdates.get(asyncUpdates.size() - 1).path("logs"));
            assertTrue(List.of("Queued", "InProgress", "Completed").contains(async.path("submitted_status").path("status").asText()));
            c.checkOutput("AsyncRequestHandle.get", async.path("handle_get"));
            c.checkOutput("run_async", async.path("run"));

            JsonNode invalid = r.path("invalid");
            assertEquals("FalClientHTTPError", invalid.path("name").asText(), invalid.toString());
            assertEquals(422, invalid.path("status").asInt());
            assertEquals("image_size", invalid.path("body").path("detail").get(0).path("loc").get(1).asText(), invalid.toString());

            JsonNode ideogram = r.path("ideogram");
            JsonNode isub = ideogram.path("subscribe");
            Conformance.checkRequestId("ideogram subscribe", isub.path("request_id").asText());
            c.checkIdeogramOutput("ideogram subscribe", isub.path("data"));
            JsonNode iupdates = isub.path("updates");
            assertEquals("Completed", iupdates.get(iupdates.size() - 1).path("status").asText(), iupdates.toString());
            Conformance.checkLogs("ideogram subscribe", iupdates.get(iupdates.size() - 1).path("logs"));
            c.checkIdeogramOutput("ideogram run", ideogram.path("run").path("data"));
            JsonNode conflict = ideogram.path("conflict");
            assertEquals("FalClientHTTPError", conflict.path("name").asText(), conflict.toString());
            assertEquals(422, conflict.path("status").asInt(), conflict.toString());
            Conformance.checkIdeogramConflict("ideogram run (conflict)", conflict.path("body"));
        }
    }
}
