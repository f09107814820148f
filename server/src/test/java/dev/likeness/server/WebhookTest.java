package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;
import org.bouncycastle.util.encoders.Hex;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Webhooks: the payload forms, fal's signature verified with fal's documented recipe by an independent Ed25519
 * implementation (BouncyCastle, not the JDK code that signed), the JWKS route, retries with backoff, and a pending
 * delivery surviving a restart.
 */
class WebhookTest {
    /** One received POST. */
    record Hook(Map<String, List<String>> headers, byte[] body) {
        String header(String name) {
            List<String> v = headers.get(name);
            return v == null ? null : v.getFirst();
        }
    }

    HttpServer receiver;
    final BlockingQueue<Hook> received = new LinkedBlockingQueue<>();
    /** Status codes to answer, in order; 200 once exhausted. */
    final BlockingQueue<Integer> answers = new LinkedBlockingQueue<>();
    final AtomicInteger calls = new AtomicInteger();
    String hookUrl;

    @BeforeEach
    void startReceiver() throws Exception {
        receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        receiver.createContext("/hook", ex -> {
            byte[] body = ex.getRequestBody().readAllBytes();
            calls.incrementAndGet();
            Integer code = answers.poll();
            int status = code == null ? 200 : code;
            if (status == 200) received.add(new Hook(Map.copyOf(ex.getRequestHeaders()), body));
            ex.sendResponseHeaders(status, -1);
            ex.close();
        });
        receiver.start();
        hookUrl = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook?x=1";
    }

    @AfterEach
    void stopReceiver() {
        receiver.stop(0);
    }

    private Harness harness(Path dir) throws Exception {
        return new Harness(dir, List.of(new FakeCharacterEndpoint()), c -> c.allowPrivateFetch(true)
                .webhookFirstRetry(Duration.ofMillis(100)).webhookAttempts(4));
    }

    private String submit(Harness h, String input) throws Exception {
        var r = h.post("/queue/fal-ai/instant-character?fal_webhook=" + URLEncoder.encode(hookUrl, StandardCharsets.UTF_8), input);
        assertEquals(200, r.statusCode(), r.body());
        return Harness.json(r).path("request_id").asText();
    }

    /**
     * fal's verification recipe (docs.fal.ai webhooks), written against BouncyCastle: every header present, timestamp
     * within 300 s, message = request id, user id, timestamp and hex sha256 of the raw body joined by newlines, and
     * the hex signature checked against each JWKS key.
     */
    static boolean verify(Hook hook, JsonNode jwks) {
        String requestId = hook.header("X-fal-webhook-request-id");
        String userId = hook.header("X-fal-webhook-user-id");
        String timestamp = hook.header("X-fal-webhook-timestamp");
        String signature = hook.header("X-fal-webhook-signature");
        if (requestId == null || userId == null || timestamp == null || signature == null) return false;
        if (Math.abs(System.currentTimeMillis() / 1000 - Long.parseLong(timestamp)) > 300) return false;
        SHA256Digest sha = new SHA256Digest();
        sha.update(hook.body(), 0, hook.body().length);
        byte[] digest = new byte[32];
        sha.doFinal(digest, 0);
        byte[] message = String.join("\n", requestId, userId, timestamp, Hex.toHexString(digest))
                .getBytes(StandardCharsets.UTF_8);
        byte[] sig = Hex.decode(signature);
        for (JsonNode k : jwks.path("keys")) {
            if (!k.path("kty").asText().equals("OKP") || !k.path("crv").asText().equals("Ed25519")) continue;
            Ed25519Signer v = new Ed25519Signer();
            v.init(false, new Ed25519PublicKeyParameters(Base64.getUrlDecoder().decode(k.path("x").asText()), 0));
            v.update(message, 0, message.length);
            if (v.verifySignature(sig)) return true;
        }
        return false;
    }

    @Test
    void completionIsPostedSignedAsFalSignsIt(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            JsonNode jwks = Harness.json(h.get("/.well-known/jwks.json"));
            assertEquals(1, jwks.path("keys").size());
            assertEquals(32, Base64.getUrlDecoder().decode(jwks.path("keys").get(0).path("x").asText()).length);
            assertEquals(jwks, Harness.json(h.get("/proxy", "X-Fal-Target-Url", "https://rest.alpha.fal.ai/.well-known/jwks.json")));

            String id = submit(h, Harness.input().toString());
            Hook hook = received.poll(20, TimeUnit.SECONDS);
            assertNotNull(hook, "no webhook arrived");
            assertTrue(hook.header("Content-type").startsWith("application/json"));
            assertEquals(id, hook.header("X-fal-webhook-request-id"));
            assertEquals(Webhooks.ANONYMOUS, hook.header("X-fal-webhook-user-id"));
            assertTrue(verify(hook, jwks), "signature does not verify");

            JsonNode body = Json.MAPPER.readTree(hook.body());
            assertEquals(List.of("request_id", "gateway_request_id", "status", "payload"), fields(body));
            assertEquals(id, body.path("request_id").asText());
            assertEquals("OK", body.path("status").asText());
            String statusUrl = h.base + "/queue/fal-ai/instant-character/requests/" + id;
            assertEquals(Harness.json(h.get(statusUrl)), body.path("payload"));

            // the check can fail: a changed body, another request id or a stale timestamp do not verify
            byte[] tampered = hook.body().clone();
            tampered[tampered.length - 2] ^= 1;
            assertFalse(verify(new Hook(hook.headers(), tampered), jwks));
            Map<String, List<String>> other = new java.util.HashMap<>(hook.headers());
            other.put("X-fal-webhook-request-id", List.of("another"));
            assertFalse(verify(new Hook(other, hook.body()), jwks));
            other = new java.util.HashMap<>(hook.headers());
            other.put("X-fal-webhook-timestamp", List.of(Long.toString(System.currentTimeMillis() / 1000 - 1000)));
            assertFalse(verify(new Hook(other, hook.body()), jwks));
        }
        // the key pair is kept in the data directory: the same JWKS after a restart
        assertTrue(java.nio.file.Files.isRegularFile(dir.resolve(WebhookKey.FILE)));
        JsonNode first;
        try (Harness h = harness(dir)) {
            first = Harness.json(h.get("/.well-known/jwks.json"));
        }
        try (Harness h = harness(dir)) {
            assertEquals(first, Harness.json(h.get("/.well-known/jwks.json")));
        }
    }

    @Test
    void failureIsPostedAsError(@TempDir Path dir) throws Exception {
        try (Harness h = harness(dir)) {
            String id = submit(h, "{\"image_url\":\"x\"}");
            Hook hook = received.poll(20, TimeUnit.SECONDS);
            assertNotNull(hook);
            JsonNode body = Json.MAPPER.readTree(hook.body());
            assertEquals(List.of("request_id", "gateway_request_id", "status", "error", "payload"), fields(body));
            assertEquals(id, body.path("request_id").asText());
            assertEquals("ERROR", body.path("status").asText());
            assertEquals("Invalid status code: 422", body.path("error").asText());
            assertEquals("missing", body.path("payload").path("detail").get(0).path("type").asText());
            assertTrue(verify(hook, Harness.json(h.get("/.well-known/jwks.json"))));
        }
    }

    @Test
    void failedDeliveriesAreRetriedWithBackoff(@TempDir Path dir) throws Exception {
        answers.add(500);
        answers.add(503);
        try (Harness h = harness(dir)) {
            long t0 = System.nanoTime();
            String id = submit(h, Harness.input().toString());
            assertNotNull(received.poll(20, TimeUnit.SECONDS));
            double seconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(3, calls.get());
            assertTrue(seconds >= 0.3, "retries came after 100 ms then 200 ms: " + seconds);
            Database.WebhookRow w = h.server.database().webhooksOf(id).getFirst();
            for (int i = 0; i < 200 && w.deliveredAt() == null; i++) {  // the receiver answers before the row is written
                Thread.sleep(10);
                w = h.server.database().webhooksOf(id).getFirst();
            }
            assertEquals(3, w.attempts());
            assertNotNull(w.deliveredAt());
            assertEquals("HTTP 503", w.lastError());
        }
    }

    @Test
    void givesUpAfterTheLastAttempt(@TempDir Path dir) throws Exception {
        for (int i = 0; i < 10; i++) answers.add(500);
        try (Harness h = harness(dir)) {
            String id = submit(h, Harness.input().toString());
            long end = System.currentTimeMillis() + 20_000;
            Database.WebhookRow w = null;
            while (System.currentTimeMillis() < end) {
                List<Database.WebhookRow> rows = h.server.database().webhooksOf(id);
                if (!rows.isEmpty() && rows.getFirst().failedAt() != null) {
                    w = rows.getFirst();
                    break;
                }
                Thread.sleep(20);
            }
            assertNotNull(w, "never gave up");
            assertEquals(4, w.attempts());
            assertEquals(4, calls.get());
            assertNull(w.deliveredAt());
            assertEquals("HTTP 500", w.lastError());
        }
    }

    @Test
    void aPendingDeliverySurvivesARestart(@TempDir Path dir) throws Exception {
        String id;
        Path data = dir.resolve("data");
        receiver.stop(0);  // nobody listens: the first attempt fails
        try (Harness h = new Harness(data, List.of(new FakeCharacterEndpoint()), c -> c.allowPrivateFetch(true)
                .webhookFirstRetry(Duration.ofSeconds(1)).webhookAttempts(5))) {
            id = submit(h, Harness.input().toString());
            long end = System.currentTimeMillis() + 20_000;
            while (System.currentTimeMillis() < end && h.server.database().webhooksOf(id).stream().noneMatch(w -> w.attempts() > 0)) {
                Thread.sleep(20);
            }
            assertEquals(1, h.server.database().webhooksOf(id).getFirst().attempts());
        }
        int port = Integer.parseInt(hookUrl.replaceAll(".*:(\\d+)/.*", "$1"));
        startReceiverOn(port);
        try (Harness h = new Harness(data, List.of(new FakeCharacterEndpoint()), c -> c.allowPrivateFetch(true)
                .webhookFirstRetry(Duration.ofSeconds(1)).webhookAttempts(5))) {
            Hook hook = received.poll(20, TimeUnit.SECONDS);
            assertNotNull(hook, "the pending delivery was lost in the restart");
            assertEquals(id, hook.header("X-fal-webhook-request-id"));
            assertTrue(verify(hook, Harness.json(h.get("/.well-known/jwks.json"))));
        }
    }

    @Test
    void refusedTargetsAndBadUrls(@TempDir Path dir) throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {  // default: private addresses refused
            var bad = h.post("/queue/fal-ai/instant-character?fal_webhook=ftp%3A%2F%2Fx", Harness.input().toString());
            assertEquals(400, bad.statusCode());
            String id = submit(h, Harness.input().toString());
            long end = System.currentTimeMillis() + 20_000;
            Database.WebhookRow w = null;
            while (System.currentTimeMillis() < end && w == null) {
                w = h.server.database().webhooksOf(id).stream().filter(r -> r.failedAt() != null).findFirst().orElse(null);
                Thread.sleep(20);
            }
            assertNotNull(w);
            assertEquals(1, w.attempts());
            assertTrue(w.lastError().contains("loopback"), w.lastError());
            assertEquals(0, calls.get());
        }
    }

    private void startReceiverOn(int port) throws Exception {
        receiver = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        receiver.createContext("/hook", ex -> {
            byte[] body = ex.getRequestBody().readAllBytes();
            calls.incrementAndGet();
            received.add(new Hook(Map.copyOf(ex.getRequestHeaders()), body));
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        receiver.start();
    }

    private static List<String> fields(JsonNode n) {
        List<String> l = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(l::add);
        return l;
    }
}
