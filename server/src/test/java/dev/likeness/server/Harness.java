package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

/** TEST ONLY: a server on an ephemeral loopback port and a java.net.http client aimed at it. */
final class Harness implements AutoCloseable {
    final LikenessServer server;
    final String base;
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    Harness(Path dir, List<Endpoint> endpoints, Consumer<ServerConfig> tweak) throws Exception {
        ServerConfig c = new ServerConfig(dir).host("127.0.0.1").port(0);
        if (tweak != null) tweak.accept(c);
        server = new LikenessServer(c, endpoints).start();
        base = "http://127.0.0.1:" + server.port();
    }

    Harness(Path dir, Endpoint... endpoints) throws Exception {
        this(dir, List.of(endpoints), null);
    }

    HttpResponse<String> send(String method, String pathOrUrl, String body, String... headers) throws Exception {
        String url = pathOrUrl.startsWith("http") ? pathOrUrl : base + pathOrUrl;
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) b.header("Content-Type", "application/json");
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, String body, String... headers) throws Exception {
        return send("POST", path, body, headers);
    }

    HttpResponse<String> get(String path, String... headers) throws Exception {
        return send("GET", path, null, headers);
    }

    HttpResponse<byte[]> getBytes(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    static JsonNode json(HttpResponse<String> r) throws Exception {
        return Json.parse(r.body());
    }

    /** A valid input with a data-URI reference, small output, few steps. */
    static ObjectNode input() throws Exception {
        ObjectNode o = Json.object();
        o.put("prompt", "a knight");
        o.put("image_url", FakeCharacterEndpoint.pngDataUri());
        o.putObject("image_size").put("width", 16).put("height", 8);
        o.put("num_inference_steps", 3);
        o.put("output_format", "png");
        return o;
    }

    /** Polls the status URL until COMPLETED (with logs). */
    JsonNode awaitCompleted(String statusUrl, String... headers) throws Exception {
        long end = System.currentTimeMillis() + 20_000;
        while (System.currentTimeMillis() < end) {
            JsonNode s = json(get(statusUrl + "?logs=1", headers));
            if (s.path("status").asText().equals("COMPLETED")) return s;
            Thread.sleep(20);
        }
        throw new AssertionError("request did not complete: " + statusUrl);
    }

    /** Polls until the status is the given one. */
    JsonNode awaitStatus(String statusUrl, String status, String... headers) throws Exception {
        long end = System.currentTimeMillis() + 20_000;
        while (System.currentTimeMillis() < end) {
            JsonNode s = json(get(statusUrl, headers));
            if (s.path("status").asText().equals(status)) return s;
            Thread.sleep(10);
        }
        throw new AssertionError("request never reached " + status + ": " + statusUrl);
    }

    @Override
    public void close() throws Exception {
        server.close();
    }
}
