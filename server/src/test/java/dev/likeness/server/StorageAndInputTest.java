package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The storage upload flows the clients use, and where {@code image_url} may point. */
class StorageAndInputTest {
    @TempDir
    Path dir;

    private static HttpResponse<String> put(Harness h, String url, byte[] data, String contentType) throws Exception {
        return h.http.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", contentType)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(data)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void initiateThenPutThenUseTheFileUrlAsInput() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            byte[] png = FakeCharacterEndpoint.png(6, 5, 0x112233);
            HttpResponse<String> init = h.post("/storage/upload/initiate?storage_type=fal-cdn-v3",
                    "{\"content_type\":\"image/png\",\"file_name\":\"1795377296774.png\"}");
            assertEquals(200, init.statusCode(), init.body());
            String uploadUrl = Harness.json(init).get("upload_url").asText();
            String fileUrl = Harness.json(init).get("file_url").asText();
            assertTrue(fileUrl.startsWith(h.base + "/files/") && fileUrl.endsWith("/1795377296774.png"), fileUrl);
            assertEquals(404, h.getBytes(fileUrl).statusCode(), "not there before the PUT");

            HttpResponse<String> up = put(h, uploadUrl, png, "image/png");
            assertEquals(200, up.statusCode());
            HttpResponse<byte[]> got = h.getBytes(fileUrl);
            assertEquals(200, got.statusCode());
            assertArrayEquals(png, got.body());
            assertEquals("image/png", got.headers().firstValue("content-type").orElse(""));
            assertEquals(404, put(h, uploadUrl, png, "image/png").statusCode(), "upload URLs are single-use");

            JsonNode out = Harness.json(h.post("/fal-ai/instant-character", Json.write(Harness.input().put("image_url", fileUrl))));
            assertTrue(out.has("images"), out.toString());
            HttpResponse<String> missing = h.post("/fal-ai/instant-character",
                    Json.write(Harness.input().put("image_url", h.base + "/files/" + "0".repeat(32) + "/x.png")));
            assertEquals(422, missing.statusCode());
            assertEquals("file_download_error", Harness.json(missing).get("detail").get(0).get("type").asText());
        }
    }

    @Test
    void tokenFlowAsThePythonClientUploads() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            JsonNode tok = Harness.json(h.post("/storage/auth/token?storage_type=fal-cdn-v3", "{}"));
            assertEquals("Bearer", tok.get("token_type").asText());
            byte[] data = "hello".getBytes();
            HttpResponse<String> up = h.http.send(HttpRequest.newBuilder(URI.create(tok.get("base_url").asText() + "/files/upload"))
                    .header("Authorization", "Bearer " + tok.get("token").asText()).header("Content-Type", "text/plain")
                    .header("X-Fal-File-Name", "note.txt").POST(HttpRequest.BodyPublishers.ofByteArray(data)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, up.statusCode(), up.body());
            String access = Harness.json(up).get("access_url").asText();
            assertTrue(access.endsWith("/note.txt"), access);
            assertArrayEquals(data, h.getBytes(access).body());
            HttpResponse<String> bad = h.http.send(HttpRequest.newBuilder(URI.create(h.base + "/files/upload"))
                    .header("Authorization", "Bearer nope").POST(HttpRequest.BodyPublishers.ofByteArray(data)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(401, bad.statusCode());
        }
    }

    @Test
    void uploadLimit() throws Exception {
        try (Harness h = new Harness(dir, List.of(new FakeCharacterEndpoint()), c -> c.maxUploadBytes(100))) {
            String uploadUrl = Harness.json(h.post("/storage/upload/initiate", "{\"content_type\":\"image/png\"}"))
                    .get("upload_url").asText();
            assertEquals(413, put(h, uploadUrl, new byte[101], "image/png").statusCode());
        }
    }

    /** A second HTTP server standing in for an image host on the internet. */
    private static HttpServer imageHost(byte[] png) throws Exception {
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        s.createContext("/girl.png", ex -> {
            ex.getResponseHeaders().add("Content-Type", "image/png");
            ex.sendResponseHeaders(200, png.length);
            ex.getResponseBody().write(png);
            ex.close();
        });
        s.createContext("/big.png", ex -> {
            ex.sendResponseHeaders(200, 0);
            for (int i = 0; i < 64; i++) ex.getResponseBody().write(new byte[1024]);
            ex.close();
        });
        s.createContext("/moved", ex -> {
            ex.getResponseHeaders().add("Location", "/girl.png");
            ex.sendResponseHeaders(302, -1);
            ex.close();
        });
        s.createContext("/to-metadata", ex -> {
            ex.getResponseHeaders().add("Location", "http://169.254.169.254/latest/meta-data");
            ex.sendResponseHeaders(302, -1);
            ex.close();
        });
        s.start();
        return s;
    }

    @Test
    void httpInputsAreFetchedWithLimits() throws Exception {
        byte[] png = FakeCharacterEndpoint.png(3, 2, 0x445566);
        HttpServer host = imageHost(png);
        String hb = "http://127.0.0.1:" + host.getAddress().getPort();
        try (Harness h = new Harness(dir, List.of(new FakeCharacterEndpoint()),
                c -> c.allowPrivateFetch(true).maxInputFileBytes(32 * 1024))) {
            JsonNode ok = Harness.json(h.post("/queue/fal-ai/instant-character", Json.write(Harness.input().put("image_url", hb + "/girl.png"))));
            JsonNode done = h.awaitCompleted(ok.get("status_url").asText());
            assertFalse(done.has("error"), done.toString());
            assertEquals("reference 3x2", done.get("logs").get(0).get("message").asText());

            HttpResponse<String> moved = h.post("/fal-ai/instant-character", Json.write(Harness.input().put("image_url", hb + "/moved")));
            assertEquals(200, moved.statusCode(), moved.body());

            HttpResponse<String> missing = h.post("/fal-ai/instant-character", Json.write(Harness.input().put("image_url", hb + "/nope.png")));
            assertEquals(422, missing.statusCode());
            JsonNode item = Harness.json(missing).get("detail").get(0);
            assertEquals("file_download_error", item.get("type").asText());
            assertEquals("[\"body\",\"image_url\"]", item.get("loc").toString());
            assertTrue(item.get("msg").asText().contains("HTTP 404"), item.toString());
            assertEquals(hb + "/nope.png", item.get("input").asText());

            HttpResponse<String> big = h.post("/fal-ai/instant-character", Json.write(Harness.input().put("image_url", hb + "/big.png")));
            assertEquals(422, big.statusCode());
            assertEquals("file_too_large", Harness.json(big).get("detail").get(0).get("type").asText());
            assertEquals(32 * 1024, Harness.json(big).get("detail").get(0).get("ctx").get("max_size").asInt());

            HttpResponse<String> bigData = h.post("/fal-ai/instant-character", Json.write(Harness.input()
                    .put("image_url", FileStore.dataUri(new byte[40 * 1024], "image/png"))));
            assertEquals("file_too_large", Harness.json(bigData).get("detail").get(0).get("type").asText());

            HttpResponse<String> ftp = h.post("/fal-ai/instant-character", Json.write(Harness.input().put("image_url", "ftp://x/y.png")));
            assertEquals("file_download_error", Harness.json(ftp).get("detail").get(0).get("type").asText());
        } finally {
            host.stop(0);
        }
    }

    @Test
    void privateAddressesAreRefusedByDefault() throws Exception {
        HttpServer host = imageHost(FakeCharacterEndpoint.png(3, 2, 0));
        String hb = "http://127.0.0.1:" + host.getAddress().getPort();
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            for (String url : List.of(hb + "/girl.png", "http://[::ffff:127.0.0.1]:" + host.getAddress().getPort() + "/girl.png",
                    "http://10.1.2.3/x.png", "http://169.254.169.254/latest/meta-data", "http://localhost:1/x.png")) {
                HttpResponse<String> r = h.post("/fal-ai/instant-character", Json.write(Harness.input().put("image_url", url)));
                assertEquals(422, r.statusCode(), url);
                JsonNode item = Harness.json(r).get("detail").get(0);
                assertEquals("file_download_error", item.get("type").asText());
                assertTrue(item.get("msg").asText().contains("private or link-local"), item.toString());
            }
        } finally {
            host.stop(0);
        }
    }

    @Test
    void redirectsAreCheckedHopByHop() throws Exception {
        HttpServer host = imageHost(FakeCharacterEndpoint.png(3, 2, 0));
        String hb = "http://127.0.0.1:" + host.getAddress().getPort();
        try (Harness h = new Harness(dir, List.of(new FakeCharacterEndpoint()), c -> c.fetchAllowHosts(java.util.Set.of("127.0.0.1")))) {
            HttpResponse<String> ok = h.post("/fal-ai/instant-character", Json.write(Harness.input().put("image_url", hb + "/moved")));
            assertEquals(200, ok.statusCode(), "an allow-listed host is fetched: " + ok.body());
            HttpResponse<String> r = h.post("/fal-ai/instant-character", Json.write(Harness.input().put("image_url", hb + "/to-metadata")));
            assertEquals(422, r.statusCode());
            JsonNode item = Harness.json(r).get("detail").get(0);
            assertTrue(item.get("msg").asText().contains("(169.254.169.254)"), item.toString());
            assertEquals(hb + "/to-metadata", item.get("input").asText(), "the error names the URL the caller gave");
        } finally {
            host.stop(0);
        }
    }

    @Test
    void aTwelveMegabyteReferenceIsRefusedAtTheDefaultLimit() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            byte[] big = new byte[12_000_000];
            new java.util.Random(1).nextBytes(big);
            HttpResponse<String> r = h.post("/fal-ai/instant-character", Json.write(Harness.input()
                    .put("image_url", FileStore.dataUri(big, "image/png"))));
            assertEquals(422, r.statusCode());
            JsonNode item = Harness.json(r).get("detail").get(0);
            assertEquals("file_too_large", item.get("type").asText());
            assertEquals(10L << 20, item.get("ctx").get("max_size").asLong());
            assertFalse(item.has("input"), "data URIs are not echoed back");
        }
    }

    @Test
    void addressClassification() throws Exception {
        for (String a : List.of("127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0",
                "100.64.0.1", "::1", "fc00::1", "fe80::1", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::a00:1", "224.0.0.1")) {
            assertFalse(InputFetcher.isPublic(InetAddress.getByName(a)), a);
        }
        for (String a : List.of("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34")) {
            assertTrue(InputFetcher.isPublic(InetAddress.getByName(a)), a);
        }
    }
}
