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

    @Test
    void servesARequestRequiresKeysOnceCreatedAndStopsOnSigterm(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("data");
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
        Path logFile = dir.resolve("serve.log");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(logFile.toFile());
        pb.environment().remove("LIKENESS_MODELS");
        pb.environment().put("LIKENESS_CONFIG", dir.resolve("no-config.properties").toString());
        Process p = pb.start();
        try {
            String marker = "serving fal-ai/instant-character at ";
            String base = null;
            String log = "";
            long end = System.currentTimeMillis() + 120_000;
            while (base == null && p.isAlive() && System.currentTimeMillis() < end) {
                Thread.sleep(50);
                log = Files.readString(logFile);
                int at = log.indexOf(marker);
                if (at >= 0 && log.indexOf('\n', at) > 0) base = log.substring(at + marker.length()).split("[ \n]")[0];
            }
            assertTrue(base != null, log);
            assertTrue(log.contains("built-in tiny model"), log);

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

            p.destroy();  // SIGTERM
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the server did not stop on SIGTERM");
            String rest = Files.readString(logFile);
            assertTrue(rest.contains("likeness: stopping") && rest.contains("likeness: stopped"), rest);
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void badServeArguments() {
        Run r = run("serve", "--workers", "0");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--workers must be between 1 and 64"), r.err());
    }

    private HttpResponse<String> post(String url, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("Authorization", "Key " + key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
