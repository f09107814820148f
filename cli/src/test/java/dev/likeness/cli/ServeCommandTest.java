package dev.likeness.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code likeness serve} as a user runs it: a child JVM on the tiny model, a request over HTTP, API keys created with
 * {@code likeness keys} while it runs, then SIGTERM and a graceful stop.
 */
class ServeCommandTest {
    private static final Path CHARACTER = Path.of("..", "examples", "character.png");
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Likeness.commandLine(new PrintWriter(out, true), new PrintWriter(err, true)).execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    /** A running child server: the process, its log file, its base URL. */
    private record Child(Process process, Path log, String base) {
    }

    private static Child startServer(Path dir, Path data, String logName) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--add-modules") || a.startsWith("--enable-native-access")) {
                cmd.add(a);
            }
        }
        if (System.getProperty("likeness.cache") != null) cmd.add("-Dlikeness.cache=" + System.getProperty("likeness.cache"));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Likeness.class.getName(), "serve",
                "--port", "0", "--data-dir", data.toString(), "--threads", "2"));
        Path logFile = dir.resolve(logName);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(logFile.toFile());
        pb.environment().remove("LIKENESS_MODELS");
        pb.environment().put("LIKENESS_CONFIG", dir.resolve("no-config.properties").toString());
        Process p = pb.start();
        String marker = "serving fal-ai/instant-character at ";
        String log = "";
        long end = System.currentTimeMillis() + 120_000;
        while (p.isAlive() && System.currentTimeMillis() < end) {
            Thread.sleep(50);
            log = Files.readString(logFile);
            int at = log.indexOf(marker);
            if (at >= 0 && log.indexOf('\n', at) > 0) {
                return new Child(p, logFile, log.substring(at + marker.length()).split("[ \n]")[0]);
            }
        }
        p.destroyForcibly();
        throw new AssertionError("the server did not start:\n" + log);
    }

    @Test
    void servesARequestRequiresKeysOnceCreatedAndStopsOnSigterm(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("data");
        Child child = startServer(dir, data, "serve.log");
        Process p = child.process();
        String base = child.base();
        String id;
        try {
            assertTrue(Files.readString(child.log()).contains("built-in tiny model"));
            String body = "{\"prompt\":\"a robot\",\"image_url\":\"data:image/png;base64,"
                    + Base64.getEncoder().encodeToString(Files.readAllBytes(CHARACTER))
                    + "\",\"image_size\":{\"width\":32,\"height\":32},\"num_inference_steps\":1,\"seed\":3}";
            HttpResponse<String> open = post(base + "/fal-ai/instant-character", body, null);
            assertEquals(200, open.statusCode(), open.body());
            JsonNode img = JSON.readTree(open.body()).get("images").get(0);
            assertEquals(32, img.get("width").asInt());
            assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(img.get("url").asText())).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode());

            // a key created while the server runs closes it
            Run created = run("keys", "create", "--data-dir", data.toString());
            assertEquals(0, created.exit(), created.err());
            String key = created.out().strip();
            assertTrue(key.matches("[0-9a-f-]+:[A-Za-z0-9_-]+"), key);
            assertEquals(401, post(base + "/fal-ai/instant-character", body, null).statusCode());
            assertEquals(200, post(base + "/fal-ai/instant-character", body, key).statusCode());
            Run listed = run("keys", "list", "--data-dir", data.toString());
            assertTrue(listed.out().startsWith(key.substring(0, key.indexOf(':')) + "\t"), listed.out());
            assertTrue(listed.out().contains("active"), listed.out());
            Run revoked = run("keys", "revoke", key.substring(0, key.indexOf(':')), "--data-dir", data.toString());
            assertEquals(0, revoked.exit(), revoked.err());
            assertTrue(run("keys", "list", "--data-dir", data.toString()).out().contains("revoked"));
            assertEquals(2, run("keys", "revoke", "nope", "--data-dir", data.toString()).exit());

            // SIGTERM while a queued request is generating: it stops between steps and is queued again
            String longer = body.replace("\"width\":32,\"height\":32},\"num_inference_steps\":1",
                    "\"width\":512,\"height\":512},\"num_inference_steps\":40");
            JsonNode sub = JSON.readTree(post(base + "/queue/fal-ai/instant-character", longer, null).body());
            id = sub.get("request_id").asText();
            long end = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < end && !get(sub.get("status_url").asText() + "?logs=1").contains("step 1/40")) {
                Thread.sleep(20);
            }
            p.destroy();  // SIGTERM
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the server did not stop on SIGTERM");
            String rest = Files.readString(child.log());
            assertTrue(rest.contains("likeness: stopping") && rest.contains("likeness: stopped"), rest);
        } finally {
            p.destroyForcibly();
        }

        // the next start runs it to the end
        Child again = startServer(dir, data, "serve2.log");
        try {
            String status = again.base() + "/queue/fal-ai/instant-character/requests/" + id + "/status?logs=1";
            String last = "";
            long end = System.currentTimeMillis() + 120_000;
            while (System.currentTimeMillis() < end && !last.contains("\"COMPLETED\"")) {
                Thread.sleep(100);
                last = get(status);
            }
            JsonNode done = JSON.readTree(last);
            assertEquals("COMPLETED", done.get("status").asText(), last);
            assertTrue(!done.has("error"), last);
            assertTrue(last.contains("The server is shutting down; the request was queued again."), last);
            assertTrue(last.contains("step 40/40"), last);
            JsonNode out = JSON.readTree(get(again.base() + "/queue/fal-ai/instant-character/requests/" + id));
            assertEquals(512, out.get("images").get(0).get("width").asInt());
        } finally {
            again.process().destroy();
            again.process().waitFor(30, TimeUnit.SECONDS);
            again.process().destroyForcibly();
        }
    }

    private String get(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    @Test
    void badServeArguments() {
        Run r = run("serve", "--workers", "0");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--workers must be between 1 and 64"), r.err());
        r = run("serve", "--role", "gpu");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--role must be api, worker or all, got 'gpu'"), r.err());
        r = run("serve", "--role", "worker");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--role worker needs a shared --db postgresql://"), r.err());
        r = run("serve", "--db", "mysql://u:secret@h/db");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--db must be a postgresql:// URL, got 'mysql://u:***@h/db'"), r.err());
        r = run("serve", "--storage", "gs://bucket");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--storage must be an s3:// URL"), r.err());
    }

    private HttpResponse<String> post(String url, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("Authorization", "Key " + key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
