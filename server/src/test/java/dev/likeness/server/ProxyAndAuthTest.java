package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The proxy entry point ({@code x-fal-target-url}, as fal-java and fal-js send it) and {@code Authorization: Key}. */
class ProxyAndAuthTest {
    @TempDir
    Path dir;

    @Test
    void proxyFormReachesRunQueueAndStorage() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            HttpResponse<String> sub = h.post("/proxy", Json.write(Harness.input()),
                    "X-Fal-Target-Url", "https://queue.fal.run/fal-ai/instant-character?fal_webhook=https%3A%2F%2Fhook.example%2Fx");
            assertEquals(200, sub.statusCode(), sub.body());
            JsonNode s = Harness.json(sub);
            assertEquals("IN_QUEUE", s.get("status").asText());
            String id = s.get("request_id").asText();
            String app = "https://queue.fal.run/fal-ai/instant-character/requests/" + id;
            long end = System.currentTimeMillis() + 20_000;
            JsonNode st;
            do {
                st = Harness.json(h.send("GET", "/proxy", null, "x-fal-target-url", app + "/status?logs=1"));
                Thread.sleep(20);
            } while (!st.get("status").asText().equals("COMPLETED") && System.currentTimeMillis() < end);
            assertEquals(4, st.get("logs").size());
            HttpResponse<java.util.stream.Stream<String>> sse = h.http.send(java.net.http.HttpRequest.newBuilder(
                            java.net.URI.create(h.base + "/proxy")).header("X-Fal-Target-Url", app + "/status/stream?logs=1")
                    .header("Accept", "application/json, text/event-stream").build(),
                    HttpResponse.BodyHandlers.ofLines());
            assertEquals(200, sse.statusCode());
            List<String> events = sse.body().filter(l -> l.startsWith("data: ")).toList();
            assertEquals(1, events.size());
            assertEquals("COMPLETED", Json.parse(events.getFirst().substring(6)).get("status").asText());
            HttpResponse<String> res = h.send("GET", "/api/fal/proxy", null, "x-fal-target-url", app);
            assertEquals(200, res.statusCode());
            assertEquals(1, Harness.json(res).get("images").size());

            HttpResponse<String> run = h.post("/proxy", Json.write(Harness.input().put("seed", 3)),
                    "x-fal-target-url", "https://fal.run/fal-ai/instant-character");
            assertEquals(200, run.statusCode(), run.body());
            assertEquals(3, Harness.json(run).get("seed").asInt());

            HttpResponse<String> init = h.post("/proxy", "{\"content_type\":\"image/png\",\"file_name\":\"a.png\"}",
                    "x-fal-target-url", "https://rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3");
            assertEquals(200, init.statusCode(), init.body());
            assertTrue(Harness.json(init).get("upload_url").asText().startsWith(h.base + "/storage/upload/put/"));

            HttpResponse<String> evil = h.send("GET", "/proxy", null, "x-fal-target-url", "http://169.254.169.254/latest");
            assertEquals(412, evil.statusCode());
        }
    }

    @Test
    void webhookParameterIsStoredWithTheRequest() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            String id = Harness.json(h.post("/queue/fal-ai/instant-character?fal_webhook=https%3A%2F%2Fhook.example%2Fy",
                    Json.write(Harness.input()))).get("request_id").asText();
            h.awaitCompleted(h.base + "/queue/fal-ai/instant-character/requests/" + id + "/status");
            try (Database db = new Database(dir)) {
                assertEquals("https://hook.example/y", db.request(id).webhook());
            }
        }
    }

    @Test
    void keysAreRequiredOnceOneExistsAndIsolateRequests() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            assertEquals(200, h.post("/queue/fal-ai/instant-character", Json.write(Harness.input())).statusCode(), "open mode");
            String a = h.server.keys().create();
            String b = h.server.keys().create();
            assertTrue(a.matches("[0-9a-f-]{36}:[0-9a-f]{64}"), a);

            HttpResponse<String> none = h.post("/queue/fal-ai/instant-character", Json.write(Harness.input()));
            assertEquals(401, none.statusCode());
            assertTrue(none.headers().firstValue("x-fal-request-id").isPresent());
            assertEquals(401, h.post("/queue/fal-ai/instant-character", Json.write(Harness.input()),
                    "Authorization", "Key " + a.substring(0, 37) + "0".repeat(64)).statusCode());
            assertEquals(401, h.post("/fal-ai/instant-character", Json.write(Harness.input()),
                    "Authorization", "Bearer " + a).statusCode());
            assertEquals(401, h.post("/storage/upload/initiate", "{}").statusCode());

            JsonNode s = Harness.json(h.post("/queue/fal-ai/instant-character", Json.write(Harness.input()),
                    "Authorization", "Key " + a));
            String status = s.get("status_url").asText();
            assertEquals("COMPLETED", h.awaitCompleted(status, "Authorization", "Key " + a).get("status").asText());
            assertEquals(200, h.get(s.get("response_url").asText(), "Authorization", "Key " + a).statusCode());
            assertEquals(404, h.get(status, "Authorization", "Key " + b).statusCode(), "another key sees nothing");
            assertEquals(404, h.get(s.get("response_url").asText(), "Authorization", "Key " + b).statusCode());
            assertEquals(404, h.send("PUT", s.get("cancel_url").asText(), null, "Authorization", "Key " + b).statusCode());
            assertEquals(401, h.get(status).statusCode());

            String bId = b.substring(0, b.indexOf(':'));
            assertTrue(h.server.keys().revoke(bId));
            assertEquals(401, h.get(status, "Authorization", "Key " + b).statusCode(), "revoked");
        }
    }

    /**
     * Files belong to the key that stored them (an upload, or a request's outputs). {@code GET /files/…} with an
     * {@code Authorization: Key} of another key is 404 exactly as an unknown file, with the owner's key 200, with a
     * bad key 401, and without {@code Authorization} 200 (a capability URL, as fal's CDN: browsers load it in
     * {@code <img src>}). A request of another key cannot read the file as an input either.
     */
    @Test
    void filesAreIsolatedByKeyWhenAKeyIsPresented() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            String a = h.server.keys().create();
            String b = h.server.keys().create();
            String[] keyA = {"Authorization", "Key " + a}, keyB = {"Authorization", "Key " + b};
            byte[] png = FakeCharacterEndpoint.png(24, 24, 0x336699);

            // A uploads (fal-js flow: initiate → PUT)
            JsonNode init = Harness.json(h.post("/storage/upload/initiate",
                    "{\"content_type\":\"image/png\",\"file_name\":\"ref.png\"}", keyA));
            String upload = init.get("file_url").asText();
            assertEquals(200, h.http.send(HttpRequest.newBuilder(URI.create(init.get("upload_url").asText()))
                    .header("Content-Type", "image/png").PUT(HttpRequest.BodyPublishers.ofByteArray(png)).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode());
            // B uploads (the Python client's flow: token → POST /files/upload)
            JsonNode tok = Harness.json(h.post("/storage/auth/token", "{}", keyB));
            HttpResponse<String> up = h.http.send(HttpRequest.newBuilder(URI.create(tok.get("base_url").asText() + "/files/upload"))
                    .header("Authorization", "Bearer " + tok.get("token").asText()).header("Content-Type", "image/png")
                    .header("X-Fal-File-Name", "b.png").POST(HttpRequest.BodyPublishers.ofByteArray(png)).build(),
                    HttpResponse.BodyHandlers.ofString());
            String uploadB = Harness.json(up).get("access_url").asText();
            // A's request stores its output image under A
            HttpResponse<String> run = h.post("/fal-ai/instant-character", Json.write(Harness.input()), keyA);
            assertEquals(200, run.statusCode(), run.body());
            String output = Harness.json(run).get("images").get(0).get("url").asText();

            HttpResponse<String> unknown = h.get(h.base + "/files/" + "0".repeat(32) + "/x.png", keyB);
            assertEquals(404, unknown.statusCode());
            for (String url : List.of(upload, output)) {
                HttpResponse<String> other = h.get(url, keyB);
                assertEquals(404, other.statusCode(), "another key: " + url);
                assertEquals(unknown.body(), other.body(), "answered exactly as a missing file");
                assertEquals(200, h.get(url, keyA).statusCode(), "the owner's key: " + url);
                assertEquals("Authorization", h.get(url, keyA).headers().firstValue("Vary").orElse(null));
                assertEquals(200, h.getBytes(url).statusCode(), "no Authorization: the capability URL: " + url);
                assertEquals(401, h.get(url, "Authorization", "Key nope:nope").statusCode(), "a bad key");
            }
            assertArrayEquals(png, h.getBytes(upload).body());
            assertEquals(404, h.get(uploadB, keyA).statusCode());
            assertEquals(200, h.get(uploadB, keyB).statusCode());

            // as a request input: the owner's request reads it, another key's request gets a download error
            assertEquals(200, h.post("/fal-ai/instant-character", Json.write(Harness.input().put("image_url", upload)),
                    keyA).statusCode());
            HttpResponse<String> foreign = h.post("/fal-ai/instant-character",
                    Json.write(Harness.input().put("image_url", upload)), keyB);
            assertEquals(422, foreign.statusCode(), foreign.body());
            JsonNode item = Harness.json(foreign).get("detail").get(0);
            assertEquals("file_download_error", item.get("type").asText(), foreign.body());
            assertEquals("[\"body\",\"image_url\"]", item.get("loc").toString());
        }
    }

    @Test
    void explicitOpenAndClosedModes() throws Exception {
        try (Harness h = new Harness(dir, List.of(new FakeCharacterEndpoint()), c -> c.openAccess(false))) {
            assertEquals(401, h.post("/fal-ai/instant-character", Json.write(Harness.input())).statusCode());
        }
        try (Harness h = new Harness(dir, List.of(new FakeCharacterEndpoint()), c -> c.openAccess(true))) {
            h.server.keys().create();
            HttpResponse<String> r = h.post("/fal-ai/instant-character", Json.write(Harness.input()));
            assertEquals(200, r.statusCode());
            assertNotEquals("", r.body());
        }
    }
}
