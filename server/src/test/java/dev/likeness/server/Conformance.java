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
import dev.likeness.pipeline.safety.NsfwjsSafetyChecker;
import dev.likeness.pipeline.safety.SafetyChecker;
import dev.likeness.server.endpoints.IdeogramCharacterEndpoint;
import dev.likeness.server.endpoints.InstantCharacterEndpoint;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;

/**
 * TEST ONLY: the server the official-client conformance suites drive ({@code JavaClientConformanceTest},
 * {@code NodeClientConformanceTest}, {@code PythonClientConformanceTest}): a real {@link LikenessServer} with HTTP
 * and HTTPS listeners on ephemeral loopback ports (generated local CA), API keys required, one worker; the inputs
 * the clients send; and the checks every client's results go through (each output image is fetched back from our
 * URL and decoded).
 *
 * <p>The endpoint under test is {@link #instantCharacter()}: the real pipeline endpoint on the built-in tiny model
 * (the one line to change to run the suites against another implementation of {@code fal-ai/instant-character},
 * such as the model-free test endpoint). It is also served under the sub-path id
 * {@link #SUBPATH_ENDPOINT}, so each client's owner/app URL building for such ids is exercised. Next to it the
 * real {@code fal-ai/ideogram/character} ({@link #ideogram()}, same tiny model, TURBO, 64×64): each client also runs
 * it through {@code subscribe} / the queue and {@code run}, checked by {@link #checkIdeogramOutput}, and gets its 422
 * for a conflicting field ({@link #checkIdeogramConflict}).
 */
final class Conformance implements AutoCloseable {
    static final String ENDPOINT = InstantCharacterInput.ENDPOINT_ID;
    /** A three-part id: the clients poll it at {@code /queue/acme/studio/requests/…}. */
    static final String SUBPATH_ENDPOINT = "acme/studio/character";
    /** The second endpoint, polled by the clients at {@code /queue/fal-ai/ideogram/requests/…}. */
    static final String IDEOGRAM = IdeogramCharacterInput.ENDPOINT_ID;
    /** Output side and steps of every normal request; the slow one (held IN_PROGRESS for cancellation) has more. */
    static final int SIDE = 64, STEPS = 2, SLOW_STEPS = 40, SEED = 7;
    /** Steps of a request that runs over 10 s on {@link #longRunning()} (fal-java's read timeout is 10 s), so a
     *  request queued behind it sees a long silence on its status stream; the test measures that it really did. */
    static final int LONG_STEPS = 50;

    /** The endpoint under test: the real pipeline on the built-in tiny model. */
    static Endpoint instantCharacter() {
        return new InstantCharacterEndpoint(Tiny.PIPELINE, Tiny.BACKEND, Tiny.SAFETY);
    }

    /** The real {@code fal-ai/ideogram/character} endpoint on the same tiny model and safety checker. */
    static Endpoint ideogram() {
        return new IdeogramCharacterEndpoint(Tiny.PIPELINE, Tiny.BACKEND, Tiny.SAFETY);
    }

    /** The tiny model and the default safety checker (as {@code likeness serve}), loaded once for all the suites of
     *  this JVM (freed when it exits). */
    private static final class Tiny {
        static final CpuBackend BACKEND = new CpuBackend();
        static final InstantCharacterPipeline PIPELINE = TinyModel.materialize().load(BACKEND);
        static final SafetyChecker SAFETY = NsfwjsSafetyChecker.load(BACKEND);
    }

    /**
     * For the long-silence test only: the test endpoint with steps slow enough that {@code LONG_STEPS} take over
     * 10 s. What that test proves is the status stream's keep-alive, which does not depend on the model; the tiny
     * model's steps are too fast to stay silent that long.
     */
    static Endpoint longRunning() {
        FakeCharacterEndpoint fake = new FakeCharacterEndpoint();
        fake.stepMillis = 270;   // 50 steps: 13.5 s
        return fake;
    }

    final Path dir;
    final LikenessServer server;
    final String key;
    final String http;
    final String httpsHostPort;
    final Path caFile;
    final Path reference;
    final HttpClient client;

    /** Both real endpoints (instant-character also under {@link #SUBPATH_ENDPOINT}). */
    Conformance(Path dir) throws Exception {
        this(dir, instantCharacter(), ideogram());
    }

    /** {@code ep} as {@code fal-ai/instant-character} (and under {@link #SUBPATH_ENDPOINT}) only. */
    Conformance(Path dir, Endpoint ep) throws Exception {
        this(dir, ep, null);
    }

    private Conformance(Path dir, Endpoint ep, Endpoint ideogram) throws Exception {
        this.dir = Files.createDirectories(dir);
        List<Endpoint> endpoints = new ArrayList<>(List.of(ep, renamed(ep, SUBPATH_ENDPOINT)));
        if (ideogram != null) endpoints.add(ideogram);
        server = new LikenessServer(new ServerConfig(dir.resolve("data")).host("127.0.0.1").port(0).tlsPort(0)
                .openAccess(false), endpoints).start();
        key = server.keys().create();
        http = "http://127.0.0.1:" + server.port();
        httpsHostPort = "127.0.0.1:" + server.tlsPort();
        caFile = server.tlsCaFile();
        reference = dir.resolve("reference.png");
        Files.write(reference, FakeCharacterEndpoint.png(48, 48, 0x8844cc));
        client = TlsTest.trusting(caFile);
    }

    /** The same endpoint under another id. */
    static Endpoint renamed(Endpoint e, String id) {
        return new Endpoint() {
            @Override
            public String id() {
                return id;
            }

            @Override
            public JsonNode validate(JsonNode input) throws InputError {
                return e.validate(input);
            }

            @Override
            public JsonNode run(JsonNode validated, RunContext ctx) throws Exception {
                return e.run(validated, ctx);
            }
        };
    }

    /** A request's input; {@code imageUrl} is usually a URL the client uploaded the reference to. */
    static ObjectNode input(String imageUrl, int steps) {
        ObjectNode o = Json.object();
        o.put("prompt", "a knight in armour");
        o.put("image_url", imageUrl);
        o.putObject("image_size").put("width", SIDE).put("height", SIDE);
        o.put("num_inference_steps", steps);
        o.put("seed", SEED);
        o.put("output_format", "png");
        return o;
    }

    /** An ideogram/character input: the cheapest real run (TURBO, {@code SIDE}², one image, MagicPrompt on). */
    static ObjectNode ideogramInput(String referenceUrl) {
        ObjectNode o = Json.object();
        o.put("prompt", "a knight in armour");
        o.putArray("reference_image_urls").add(referenceUrl);
        o.putObject("image_size").put("width", SIDE).put("height", SIDE);
        o.put("rendering_speed", "TURBO");
        o.put("seed", SEED);
        return o;
    }

    /** {@link #ideogramInput} with a conflict the endpoint refuses: {@code style_codes} with {@code style} FICTION. */
    static ObjectNode ideogramConflict(String referenceUrl) {
        ObjectNode o = ideogramInput(referenceUrl);
        o.put("style", "FICTION");
        o.putArray("style_codes").add("AAFF5733");
        return o;
    }

    /** The settings file handed to a client script. */
    Path scriptConfig(String base) throws IOException {
        ObjectNode c = Json.object();
        c.put("base", base);
        c.put("https_host", httpsHostPort);
        c.put("key", key);
        c.put("endpoint", ENDPOINT);
        c.put("subpath_endpoint", SUBPATH_ENDPOINT);
        c.put("reference", reference.toString());
        c.set("input", input("REFERENCE_URL", STEPS));
        c.set("slow_input", input("REFERENCE_URL", SLOW_STEPS));
        c.put("ideogram_endpoint", IDEOGRAM);
        c.set("ideogram_input", ideogramInput("REFERENCE_URL"));
        c.set("ideogram_conflict", ideogramConflict("REFERENCE_URL"));
        Path f = dir.resolve("client-config-" + System.nanoTime() + ".json");
        Files.writeString(f, Json.write(c));
        return f;
    }

    // ---- checks --------------------------------------------------------------------------------------------

    /** An instant-character output as the schema shows it, its image served by us, a {@code SIDE}² PNG. */
    void checkOutput(String call, JsonNode out) throws Exception {
        assertNotNull(out, call + ": no output");
        JsonNode images = out.path("images");
        assertEquals(1, images.size(), call + ": images in " + out);
        JsonNode img = images.get(0);
        String url = img.path("url").asText();
        assertTrue(url.startsWith(http + "/files/") || url.startsWith("https://" + httpsHostPort + "/files/"),
                call + ": image URL not ours: " + url);
        assertEquals("image/png", img.path("content_type").asText(), call);
        assertEquals(SIDE, img.path("width").asInt(), call);
        assertEquals(SIDE, img.path("height").asInt(), call);
        HttpResponse<byte[]> r = client.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, r.statusCode(), call + ": GET " + url);
        assertEquals(img.path("file_size").asLong(), r.body().length, call + ": file_size");
        BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(r.body()));
        assertNotNull(decoded, call + ": not an image at " + url);
        assertEquals(SIDE, decoded.getWidth(), call);
        assertEquals(SIDE, decoded.getHeight(), call);
        assertEquals(SEED, out.path("seed").asLong(), call + ": seed");
        assertEquals("a knight in armour", out.path("prompt").asText(), call + ": prompt");
        assertEquals("[false]", out.path("has_nsfw_concepts").toString(), call);
        assertTrue(out.path("timings").isObject(), call + ": timings");
    }

    /**
     * An ideogram/character output exactly as its schema shows it: {@code {images: [File], seed}} — nothing else —
     * each {@code File} {@code {url, content_type, file_name, file_size}} served by us, a {@code SIDE}² PNG.
     */
    void checkIdeogramOutput(String call, JsonNode out) throws Exception {
        assertNotNull(out, call + ": no output");
        List<String> keys = new ArrayList<>();
        out.fieldNames().forEachRemaining(keys::add);
        assertEquals(List.of("images", "seed"), keys, call + ": output keys of " + out);
        assertEquals(SEED, out.path("seed").asLong(), call + ": seed");
        JsonNode images = out.path("images");
        assertEquals(1, images.size(), call + ": images in " + out);
        JsonNode img = images.get(0);
        String url = img.path("url").asText();
        assertTrue(url.startsWith(http + "/files/") || url.startsWith("https://" + httpsHostPort + "/files/"),
                call + ": image URL not ours: " + url);
        assertEquals("image/png", img.path("content_type").asText(), call);
        assertTrue(img.path("file_name").asText().endsWith(".png"), call + ": file_name in " + img);
        HttpResponse<byte[]> r = client.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, r.statusCode(), call + ": GET " + url);
        assertEquals(img.path("file_size").asLong(), r.body().length, call + ": file_size");
        BufferedImage decoded = ImageIO.read(new ByteArrayInputStream(r.body()));
        assertNotNull(decoded, call + ": not an image at " + url);
        assertEquals(SIDE, decoded.getWidth(), call);
        assertEquals(SIDE, decoded.getHeight(), call);
    }

    /** The 422 body of {@link #ideogramConflict}: one FastAPI item at {@code ["body","style_codes"]} naming the style. */
    static void checkIdeogramConflict(String call, JsonNode body) {
        JsonNode detail = body.path("detail");
        assertEquals(1, detail.size(), call + ": " + body);
        assertEquals("[\"body\",\"style_codes\"]", detail.get(0).path("loc").toString(), call + ": " + body);
        assertEquals("value_error", detail.get(0).path("type").asText(), call + ": " + body);
        assertTrue(detail.get(0).path("msg").asText().contains("FICTION"), call + ": " + body);
    }

    /** The uploaded file is served back byte for byte. */
    void checkUpload(String call, String url) throws Exception {
        assertTrue(url.startsWith(http + "/files/") || url.startsWith("https://" + httpsHostPort + "/files/"),
                call + ": upload URL not ours: " + url);
        HttpResponse<byte[]> r = client.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, r.statusCode(), call);
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(reference), r.body()), call + ": uploaded bytes differ");
    }

    /** A request id as the server makes them (UUID). */
    static void checkRequestId(String call, String id) {
        assertNotNull(id, call + ": no request id");
        assertTrue(id.matches("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), call + ": request id " + id);
    }

    /** Log entries as a client received them: some lines, each with a message and a timestamp, none twice. */
    static void checkLogs(String call, JsonNode logs) {
        List<String> messages = new ArrayList<>();
        for (JsonNode l : logs) {
            messages.add(l.path("message").asText() + "@" + l.path("timestamp").asText());
            assertFalse(l.path("message").asText().isEmpty(), call + ": log message in " + l);
            assertFalse(l.path("timestamp").asText().isEmpty(), call + ": log timestamp in " + l);
        }
        assertFalse(messages.isEmpty(), call + ": no log lines");
        assertEquals(messages.stream().distinct().count(), messages.size(), call + ": a log line came twice: " + messages);
    }

    // ---- client processes ----------------------------------------------------------------------------------

    /** The result of a client script: its exit code, its output, and the JSON it printed last. */
    record ScriptRun(int exit, String stdout, String stderr, JsonNode result) {}

    /**
     * Runs a client script with a time limit; its last stdout line must be the JSON of its results. The process
     * is killed (and the test fails) past the limit.
     */
    static ScriptRun runScript(String name, List<String> command, java.util.Map<String, String> env, Path workDir,
                               long timeoutSeconds) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile());
        pb.environment().putAll(env);
        Path out = Files.createTempFile(workDir, "stdout", ".txt"), err = Files.createTempFile(workDir, "stderr", ".txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " ran past " + timeoutSeconds + " s\nstdout:\n"
                    + Files.readString(out) + "\nstderr:\n" + Files.readString(err));
        }
        String stdout = Files.readString(out, StandardCharsets.UTF_8), stderr = Files.readString(err, StandardCharsets.UTF_8);
        JsonNode result = null;
        String[] lines = stdout.strip().split("\n");
        if (lines.length > 0 && lines[lines.length - 1].startsWith("{")) {
            try {
                result = Json.parse(lines[lines.length - 1]);
            } catch (Exception e) {
                // reported below
            }
        }
        if (p.exitValue() != 0 || result == null) {
            throw new AssertionError(String.join(" ", command) + " exited " + p.exitValue() + " without a JSON result\nstdout:\n"
                    + stdout + "\nstderr:\n" + stderr);
        }
        save(name, result);
        return new ScriptRun(p.exitValue(), stdout, stderr, result);
    }

    /**
     * Skips the running test when a client's toolchain is missing: visible in the report (the test counts as
     * skipped, with the reason) and in the build log.
     */
    static void skipUnless(boolean ok, String reason) {
        if (ok) return;
        if (reason.length() > 2000) reason = "…" + reason.substring(reason.length() - 2000);
        System.err.println("SKIPPED official-client conformance: " + reason);
        org.junit.jupiter.api.Assumptions.abort(reason);
    }

    /** Keeps what a client returned in {@code target/conformance/NAME.json}, for reading after a run. */
    static void save(String name, JsonNode result) throws IOException {
        Path d = Path.of("target").toAbsolutePath().resolve("conformance");
        Files.createDirectories(d);
        Files.writeString(d.resolve(name + ".json"), Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(result));
    }

    /** Runs a short command (installing a toolchain); returns its exit code and output, or null if it cannot start. */
    static String[] tryRun(List<String> command, Path workDir, long timeoutSeconds, java.util.Map<String, String> env) {
        try {
            ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile()).redirectErrorStream(true);
            pb.environment().putAll(env);
            Path log = Files.createTempFile("conformance", ".log");
            pb.redirectOutput(log.toFile());
            Process p = pb.start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                return new String[] {"timeout", Files.readString(log)};
            }
            String text = Files.readString(log);
            Files.deleteIfExists(log);
            return new String[] {Integer.toString(p.exitValue()), text};
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** Where the clients are installed between runs: {@code $XDG_CACHE_HOME} or {@code ~/.cache}, under likeness. */
    static Path cacheDir(String name) {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path root = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return root.resolve("likeness-conformance").resolve(name);
    }

    /** The client scripts, in the module's test sources. */
    static Path scripts() {
        Path p = Path.of("src/test/clients");
        if (!Files.isDirectory(p)) p = Path.of("server/src/test/clients");
        return p.toAbsolutePath();
    }

    @Override
    public void close() throws Exception {
        server.close();
    }
}
