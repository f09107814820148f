package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The scale-out profile against real servers on loopback: a private PostgreSQL cluster ({@link PgCluster}, Debian's
 * package) and an S3-compatible server ({@link S3Server}, s3proxy). API servers run in this JVM with
 * {@code role=API}; workers are separate JVMs ({@link ScaleOutWorkerMain}, {@code role=WORKER}) so one can be killed
 * with SIGKILL.
 */
class ScaleOutTest {
    private static final String APP = "/queue/fal-ai/instant-character";
    private static final long LEASE_MS = 1500;
    private static final long STEP_MS = 40;
    private static PgCluster pg;
    private static S3Server s3;

    @TempDir
    Path tmp;

    private final Map<String, Process> workers = new LinkedHashMap<>();

    @BeforeAll
    static void servers() throws Exception {
        pg = PgCluster.startOrSkip();
        s3 = S3Server.startOrSkip();
    }

    @AfterAll
    static void stopServers() throws Exception {
        if (s3 != null) s3.close();
        if (pg != null) pg.close();
    }

    private Harness api(String db, String storage, String name) throws Exception {
        return new Harness(tmp.resolve(name), List.of(new FakeCharacterEndpoint()), c -> c.role(ServerConfig.Role.API)
                .databaseUrl(db).storageUrl(storage).lease(Duration.ofMillis(LEASE_MS)));
    }

    /** Starts worker JVMs and waits until each one runs. */
    private void startWorkers(String db, String storage, String... ids) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Map<String, Path> outs = new HashMap<>();
        for (String id : ids) {
            Path out = tmp.resolve(id + ".log");
            Process p = new ProcessBuilder(java, "-Xmx512m", "-cp", System.getProperty("java.class.path"),
                    ScaleOutWorkerMain.class.getName(), db, storage, tmp.resolve(id).toString(), Long.toString(STEP_MS),
                    Long.toString(LEASE_MS), id).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            workers.put(id, p);
            outs.put(id, out);
        }
        long end = System.currentTimeMillis() + 60_000;
        for (String id : ids) {
            while (!(Files.exists(outs.get(id)) && Files.readString(outs.get(id)).contains("READY " + id))) {
                assertTrue(workers.get(id).isAlive(), () -> "worker " + id + " died: " + read(outs.get(id)));
                assertTrue(System.currentTimeMillis() < end, () -> "worker " + id + " did not start: " + read(outs.get(id)));
                Thread.sleep(50);
            }
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return "(no output)";
        }
    }

    @org.junit.jupiter.api.AfterEach
    void stopWorkers() throws Exception {
        for (Process p : workers.values()) p.destroyForcibly();
        for (Process p : workers.values()) p.waitFor(10, TimeUnit.SECONDS);
    }

    private static ObjectNode input(int steps) throws Exception {
        ObjectNode in = Harness.input();
        in.put("num_inference_steps", steps);
        return in;
    }

    private static String path(String url) {
        URI u = URI.create(url);
        return u.getRawPath() + (u.getRawQuery() == null ? "" : "?" + u.getRawQuery());
    }

    private static JsonNode awaitCompleted(Harness h, String statusUrl, long timeoutMs) throws Exception {
        long end = System.currentTimeMillis() + timeoutMs;
        while (System.currentTimeMillis() < end) {
            JsonNode s = Harness.json(h.get(path(statusUrl)));
            if (s.path("status").asText().equals("COMPLETED")) return s;
            Thread.sleep(50);
        }
        throw new AssertionError("request did not complete: " + statusUrl);
    }

    private static long countLogs(List<Database.LogRow> logs, String text) {
        return logs.stream().filter(l -> l.message().contains(text)).count();
    }

    /** 30 requests over 3 workers: each runs to completion exactly once, none is lost; then kill -9 one mid-request. */
    @Test
    void threeWorkersShareThirtyRequestsAndAKilledWorkersRequestIsTakenBack() throws Exception {
        String db = pg.newDatabase();
        String storage = s3.url("share");
        try (Harness h = api(db, storage, "api"); PostgresDatabase store = new PostgresDatabase(db, 60_000)) {
            startWorkers(db, storage, "w1", "w2", "w3");
            long t0 = System.nanoTime();
            List<JsonNode> submitted = new ArrayList<>();
            for (int i = 0; i < 30; i++) {
                HttpResponse<String> r = h.post(APP, input(3).put("seed", i).toString());
                assertEquals(200, r.statusCode(), r.body());
                submitted.add(Harness.json(r));
            }
            Map<String, Integer> perWorker = new HashMap<>();
            Set<String> urls = new HashSet<>();
            for (JsonNode s : submitted) {
                String id = s.get("request_id").asText();
                awaitCompleted(h, s.get("status_url").asText(), 60_000);
                Database.RequestRow row = store.request(id);
                assertEquals(200, row.resultStatus(), row.resultBody());
                assertEquals(1, row.attempts(), "ran once: " + id);
                List<Database.LogRow> logs = store.logs(id, 0);
                assertEquals(1, countLogs(logs, "step 3/3"), "one run reached the end: " + id);
                assertEquals(1, countLogs(logs, "Running on worker"), "claimed once: " + id);
                perWorker.merge(store.workerOf(id), 1, Integer::sum);
                JsonNode out = Harness.json(h.get(path(s.get("response_url").asText())));
                String url = out.path("images").get(0).path("url").asText();
                assertTrue(urls.add(url), "each request has its own output file");
                HttpResponse<byte[]> img = h.getBytes(h.base + path(url));
                assertEquals(200, img.statusCode());
                assertEquals("image/png", img.headers().firstValue("Content-Type").orElse(""));
            }
            System.out.printf("scale-out: 30 requests on 3 workers in %.2f s, per worker %s%n",
                    (System.nanoTime() - t0) / 1e9, perWorker);
            assertEquals(Set.of("w1", "w2", "w3"), perWorker.keySet(), "all three workers took requests: " + perWorker);
            assertEquals(30, perWorker.values().stream().mapToInt(Integer::intValue).sum());
            assertEquals(30, store.count("COMPLETED"));
            assertEquals(0, store.queueLength());

            // kill -9 the worker running a long request: its lease runs out and another worker finishes it
            JsonNode s = Harness.json(h.post(APP, input(50).toString()));
            String id = s.get("request_id").asText();
            long end = System.currentTimeMillis() + 30_000;
            while (countLogs(store.logs(id, 0), "step 2/50") == 0) {
                assertTrue(System.currentTimeMillis() < end, "the long request never started");
                Thread.sleep(20);
            }
            String victim = store.workerOf(id);
            Process p = workers.get(victim);
            long killedAt = System.nanoTime();
            p.destroyForcibly();
            assertTrue(p.waitFor(10, TimeUnit.SECONDS));
            assertEquals(137, p.exitValue(), "killed by SIGKILL");
            JsonNode done = awaitCompleted(h, s.get("status_url").asText(), 30_000);
            System.out.printf("scale-out: request of the killed worker finished by another %.2f s after the kill%n",
                    (System.nanoTime() - killedAt) / 1e9);
            assertEquals("COMPLETED", done.path("status").asText());
            Database.RequestRow row = store.request(id);
            assertEquals(200, row.resultStatus(), row.resultBody());
            assertEquals(2, row.attempts());
            assertNotEquals(victim, store.workerOf(id));
            List<Database.LogRow> logs = store.logs(id, 0);
            assertEquals(1, countLogs(logs, "lease ran out"), "taken back once");
            assertEquals(1, countLogs(logs, "step 50/50"), "one run reached the end");
            assertEquals(200, h.get(path(s.get("response_url").asText())).statusCode());
        }
    }

    /** The API tier restarts while workers run; files are readable through any API instance. */
    @Test
    void apiRestartsWhileWorkersRunAndFilesAreReadableFromAnyApi() throws Exception {
        String db = pg.newDatabase();
        String storage = s3.url("restart");
        startWorkers(db, storage, "w1", "w2");
        List<JsonNode> submitted = new ArrayList<>();
        try (Harness first = api(db, storage, "api1")) {
            for (int i = 0; i < 10; i++) submitted.add(Harness.json(first.post(APP, input(5).put("seed", i).toString())));
        }   // the API process goes away with work queued and running
        try (Harness second = api(db, storage, "api2"); Harness third = api(db, storage, "api3");
             PostgresDatabase store = new PostgresDatabase(db, 60_000)) {
            for (JsonNode s : submitted) {
                awaitCompleted(second, s.get("status_url").asText(), 60_000);
                Database.RequestRow row = store.request(s.get("request_id").asText());
                assertEquals(200, row.resultStatus(), row.resultBody());
                assertEquals(1, row.attempts());
                // the output, written by a worker to S3, through both live API instances
                JsonNode out = Harness.json(second.get(path(s.get("response_url").asText())));
                String file = path(out.path("images").get(0).path("url").asText());
                byte[] viaSecond = second.getBytes(second.base + file).body();
                HttpResponse<byte[]> viaThird = third.getBytes(third.base + file);
                assertEquals(200, viaThird.statusCode());
                assertArrayEquals(viaSecond, viaThird.body());
                assertEquals(out.path("images").get(0).path("file_size").asLong(), viaThird.body().length);
            }
            // an upload through one API instance is served by another
            JsonNode init = Harness.json(second.post("/storage/upload/initiate",
                    "{\"content_type\":\"text/plain\",\"file_name\":\"note.txt\"}"));
            byte[] data = "hello from api2".getBytes(java.nio.charset.StandardCharsets.UTF_8);
            HttpResponse<String> put = second.http.send(HttpRequest.newBuilder(URI.create(init.get("upload_url").asText()))
                    .PUT(HttpRequest.BodyPublishers.ofByteArray(data)).header("Content-Type", "text/plain").build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, put.statusCode(), put.body());
            HttpResponse<byte[]> got = third.getBytes(third.base + path(init.get("file_url").asText()));
            assertEquals(200, got.statusCode());
            assertArrayEquals(data, got.body());
        }
    }

    /**
     * The real pipeline (the built-in tiny model, 32x32, 1 step) across the tiers: the reference image is uploaded
     * through the API into S3, a worker reads it from S3, generates, and writes its output to S3; the API serves it.
     */
    @Test
    void tinyModelRequestThroughApiAndWorkerWithFilesInS3() throws Exception {
        String db = pg.newDatabase();
        String storage = s3.url("tiny");
        dev.likeness.engine.cpu.CpuBackend backend = new dev.likeness.engine.cpu.CpuBackend();
        try (dev.likeness.pipeline.InstantCharacterPipeline pipeline = dev.likeness.pipeline.TinyModel.materialize().load(backend)) {
            var endpoint = new dev.likeness.server.endpoints.InstantCharacterEndpoint(pipeline, backend,
                    dev.likeness.pipeline.safety.NsfwjsSafetyChecker.load(backend));
            LikenessServer worker = new LikenessServer(new ServerConfig(tmp.resolve("worker")).role(ServerConfig.Role.WORKER)
                    .databaseUrl(db).storageUrl(storage).lease(Duration.ofMillis(LEASE_MS)), List.of(endpoint)).start();
            try (Harness h = api(db, storage, "api"); PostgresDatabase store = new PostgresDatabase(db, 60_000)) {
                assertEquals(-1, worker.port(), "a worker does not listen");
                JsonNode init = Harness.json(h.post("/storage/upload/initiate",
                        "{\"content_type\":\"image/png\",\"file_name\":\"ref.png\"}"));
                HttpResponse<String> put = h.http.send(HttpRequest.newBuilder(URI.create(init.get("upload_url").asText()))
                        .PUT(HttpRequest.BodyPublishers.ofByteArray(FakeCharacterEndpoint.png(40, 56, 0x884422)))
                        .header("Content-Type", "image/png").build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, put.statusCode(), put.body());
                ObjectNode in = Json.object();
                in.put("prompt", "a knight");
                in.put("image_url", init.get("file_url").asText());
                in.putObject("image_size").put("width", 32).put("height", 32);
                in.put("num_inference_steps", 1);
                in.put("enable_safety_checker", false);
                in.put("seed", 7);
                JsonNode sub = Harness.json(h.post(APP, in.toString()));
                JsonNode status = awaitCompleted(h, sub.get("status_url").asText(), 120_000);
                assertTrue(!status.has("error"), status.toString());
                Database.RequestRow row = store.request(sub.get("request_id").asText());
                assertEquals(200, row.resultStatus(), row.resultBody());
                assertEquals(worker.queue().workerId(), store.workerOf(row.id()));
                JsonNode img = Harness.json(h.get(path(sub.get("response_url").asText()))).path("images").get(0);
                assertEquals(32, img.path("width").asInt());
                HttpResponse<byte[]> file = h.getBytes(img.path("url").asText());
                assertEquals(200, file.statusCode());
                java.awt.image.BufferedImage decoded = javax.imageio.ImageIO.read(new java.io.ByteArrayInputStream(file.body()));
                assertEquals(32, decoded.getWidth());
                assertEquals(32, decoded.getHeight());
            } finally {
                worker.close();
            }
        }
    }
}
