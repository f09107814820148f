package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.fal.client.ClientConfig;
import ai.fal.client.CredentialsResolver;
import ai.fal.client.FalClient;
import ai.fal.client.Output;
import ai.fal.client.RunOptions;
import ai.fal.client.SubscribeOptions;
import ai.fal.client.exception.FalException;
import ai.fal.client.queue.QueueResultOptions;
import ai.fal.client.queue.QueueStatus;
import ai.fal.client.queue.QueueStatusOptions;
import ai.fal.client.queue.QueueSubmitOptions;
import ai.fal.client.queue.QueueSubscribeOptions;
import ai.fal.client.type.RequestLog;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.google.gson.JsonObject;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The official Java client, {@code ai.fal.client:fal-client:0.7.1} (a test dependency), against a running server.
 * It is pointed at Likeness the only way it allows: {@code proxyUrl} (every call goes to that URL with the real fal
 * URL in {@code X-Fal-Target-Url}). Covers {@code subscribe} (queue updates, logs), {@code queue().submit / status /
 * subscribeToStatus} (the status stream) {@code / result}, {@code run}, a sub-path endpoint id and a 422 — and on
 * {@code fal-ai/ideogram/character}: {@code subscribe} (logs, owner/app polling), {@code run}, and the 422 of a
 * conflicting {@code style_codes} through {@code run} and {@code queue().submit / subscribeToStatus / status / result}.
 */
class JavaClientConformanceTest {
    @TempDir
    static Path dir;
    static Conformance c;
    static FalClient fal;
    static String reference;

    @BeforeAll
    static void start() throws Exception {
        c = new Conformance(dir);
        fal = FalClient.withConfig(ClientConfig.builder()
                .withCredentials(CredentialsResolver.fromApiKey(c.key))
                .withProxyUrl(c.http + "/api/fal/proxy")
                .build());
        reference = FileStore.dataUri(Files.readAllBytes(c.reference), "image/png");
    }

    @AfterAll
    static void stop() throws Exception {
        if (c != null) c.close();
    }

    static Map<String, Object> input(int steps) {
        return Json.MAPPER.convertValue(Conformance.input(reference, steps), Map.class);
    }

    static JsonNode json(JsonObject o) throws Exception {
        return Json.parse(o.toString());
    }

    static ArrayNode logsOf(List<RequestLog> logs) {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (RequestLog l : logs) {
            a.addObject().put("message", l.getMessage()).put("timestamp", l.getTimestamp()).put("level", l.getLevel().name());
        }
        return a;
    }

    @Test
    void subscribeWithQueueUpdatesAndLogs() throws Exception {
        List<QueueStatus.StatusUpdate> updates = new CopyOnWriteArrayList<>();
        Output<JsonObject> out = fal.subscribe(Conformance.ENDPOINT, SubscribeOptions.<JsonObject>builder()
                .input(input(Conformance.STEPS)).resultType(JsonObject.class).logs(true).onQueueUpdate(updates::add).build());
        Conformance.checkRequestId("subscribe", out.getRequestId());
        c.checkOutput("subscribe", json(out.getData()));
        QueueStatus.StatusUpdate last = updates.getLast();
        assertTrue(last instanceof QueueStatus.Completed, "last update " + last);
        assertEquals(out.getRequestId(), last.getRequestId());
        assertTrue(last.getResponseUrl().startsWith(c.http + "/queue/" + Conformance.ENDPOINT + "/requests/"), last.getResponseUrl());
        List<RequestLog> logs = new java.util.ArrayList<>();
        for (var u : updates) {
            if (u instanceof QueueStatus.InProgress p && p.getLogs() != null) logs.addAll(p.getLogs());
            if (u instanceof QueueStatus.Completed d && d.getLogs() != null) logs.addAll(d.getLogs());
        }
        Conformance.checkLogs("subscribe", logsOf(logs));
        for (RequestLog l : logs) assertNotNull(l.getLabels().getSource(), "log labels");
    }

    @Test
    void queueSubmitStatusStreamAndResult() throws Exception {
        // a slow request first, so the one we follow is seen IN_QUEUE, then IN_PROGRESS, then COMPLETED
        QueueStatus.InQueue slow = fal.queue().submit(Conformance.ENDPOINT, QueueSubmitOptions.withInput(input(Conformance.SLOW_STEPS)));
        QueueStatus.InQueue sub = fal.queue().submit(Conformance.ENDPOINT, QueueSubmitOptions.withInput(input(Conformance.STEPS)));
        Conformance.checkRequestId("submit", sub.getRequestId());
        assertEquals(QueueStatus.Status.IN_QUEUE, sub.getStatus());
        assertTrue(sub.getQueuePosition() >= 0 && sub.getQueuePosition() <= 1, "queue position " + sub.getQueuePosition());
        assertTrue(sub.getStatusUrl().endsWith("/requests/" + sub.getRequestId() + "/status"), sub.getStatusUrl());
        assertTrue(sub.getCancelUrl().endsWith("/requests/" + sub.getRequestId() + "/cancel"), sub.getCancelUrl());

        QueueStatus.StatusUpdate st = fal.queue().status(Conformance.ENDPOINT,
                QueueStatusOptions.builder().requestId(sub.getRequestId()).logs(true).build());
        assertTrue(st instanceof QueueStatus.InQueue q && q.getQueuePosition() >= 0, "status while queued: " + st);

        List<QueueStatus.StatusUpdate> events = new CopyOnWriteArrayList<>();
        QueueStatus.Completed done = fal.queue().subscribeToStatus(Conformance.ENDPOINT, QueueSubscribeOptions.builder()
                .requestId(sub.getRequestId()).logs(true).onQueueUpdate(events::add).build());
        assertEquals(sub.getRequestId(), done.getRequestId());
        List<String> kinds = events.stream().map(e -> e.getStatus().name()).distinct().toList();
        assertEquals(List.of("IN_QUEUE", "IN_PROGRESS", "COMPLETED"), kinds, "stream events " + events);
        List<RequestLog> streamed = new java.util.ArrayList<>();
        for (var e : events) {
            if (e instanceof QueueStatus.InProgress p && p.getLogs() != null) streamed.addAll(p.getLogs());
            if (e instanceof QueueStatus.Completed d && d.getLogs() != null) streamed.addAll(d.getLogs());
        }
        Conformance.checkLogs("status stream", logsOf(streamed));

        QueueStatus.StatusUpdate completed = fal.queue().status(Conformance.ENDPOINT,
                QueueStatusOptions.builder().requestId(sub.getRequestId()).logs(true).build());
        assertTrue(completed instanceof QueueStatus.Completed, "status after the stream: " + completed);
        Output<JsonObject> result = fal.queue().result(Conformance.ENDPOINT, QueueResultOptions.withRequestId(sub.getRequestId()));
        assertEquals(sub.getRequestId(), result.getRequestId());
        c.checkOutput("queue.result", json(result.getData()));
        Output<JsonObject> slowResult = fal.queue().result(Conformance.ENDPOINT, QueueResultOptions.withRequestId(slow.getRequestId()));
        c.checkOutput("queue.result (slow)", json(slowResult.getData()));
    }

    /**
     * fal-java's status stream fails after 10 s without a byte (OkHttp's default read timeout): a request queued
     * behind a long one gets no status change for longer than that, and the server's keep-alive comments must carry
     * it through.
     */
    @Test
    void statusStreamSurvivesALongSilence() throws Exception {
        try (Conformance slow = new Conformance(dir.resolve("long"), Conformance.longRunning())) {
            FalClient client = FalClient.withConfig(ClientConfig.builder()
                    .withCredentials(CredentialsResolver.fromApiKey(slow.key)).withProxyUrl(slow.http + "/api/fal/proxy").build());
            QueueStatus.InQueue longRun = client.queue().submit(Conformance.ENDPOINT,
                    QueueSubmitOptions.withInput(input(Conformance.LONG_STEPS)));
            QueueStatus.InQueue waiting = client.queue().submit(Conformance.ENDPOINT, QueueSubmitOptions.withInput(input(Conformance.STEPS)));
            List<long[]> seen = new CopyOnWriteArrayList<>();
            QueueStatus.Completed done = client.queue().subscribeToStatus(Conformance.ENDPOINT, QueueSubscribeOptions.builder()
                    .requestId(waiting.getRequestId()).logs(true)
                    .onQueueUpdate(e -> seen.add(new long[] {e.getStatus().ordinal(), System.nanoTime()})).build());
            assertEquals(waiting.getRequestId(), done.getRequestId());
            long queuedAt = seen.stream().filter(e -> e[0] == QueueStatus.Status.IN_QUEUE.ordinal()).mapToLong(e -> e[1]).min().orElseThrow();
            long startedAt = seen.stream().filter(e -> e[0] == QueueStatus.Status.IN_PROGRESS.ordinal()).mapToLong(e -> e[1]).min().orElseThrow();
            double silence = (startedAt - queuedAt) / 1e9;
            assertTrue(silence > 10.5, "the stream was silent only " + silence + " s: make Conformance.longRunning() slower");
            slow.checkOutput("result after a long silence",
                    json(client.queue().result(Conformance.ENDPOINT, QueueResultOptions.withRequestId(waiting.getRequestId())).getData()));
            assertNotNull(client.queue().result(Conformance.ENDPOINT, QueueResultOptions.withRequestId(longRun.getRequestId())).getData());
        }
    }

    @Test
    void runAndSubPathEndpoint() throws Exception {
        Output<JsonObject> out = fal.run(Conformance.ENDPOINT, RunOptions.withInput(input(Conformance.STEPS)));
        Conformance.checkRequestId("run", out.getRequestId());
        c.checkOutput("run", json(out.getData()));

        List<QueueStatus.StatusUpdate> updates = new CopyOnWriteArrayList<>();
        Output<JsonObject> sub = fal.subscribe(Conformance.SUBPATH_ENDPOINT, SubscribeOptions.<JsonObject>builder()
                .input(input(Conformance.STEPS)).resultType(JsonObject.class).logs(true).onQueueUpdate(updates::add).build());
        c.checkOutput("subscribe (sub-path id)", json(sub.getData()));
        assertTrue(updates.getLast().getStatusUrl().contains("/queue/acme/studio/requests/"), updates.getLast().getStatusUrl());
    }

    @Test
    void ideogramSubscribeQueueRunAndConflict() throws Exception {
        String ep = Conformance.IDEOGRAM;
        Map<String, Object> in = Json.MAPPER.convertValue(Conformance.ideogramInput(reference), Map.class);
        List<QueueStatus.StatusUpdate> updates = new CopyOnWriteArrayList<>();
        Output<JsonObject> sub = fal.subscribe(ep, SubscribeOptions.<JsonObject>builder()
                .input(in).resultType(JsonObject.class).logs(true).onQueueUpdate(updates::add).build());
        Conformance.checkRequestId("ideogram subscribe", sub.getRequestId());
        c.checkIdeogramOutput("ideogram subscribe", json(sub.getData()));
        QueueStatus.StatusUpdate last = updates.getLast();
        assertTrue(last instanceof QueueStatus.Completed, "last update " + last);
        // the client polls the owner/app form of the three-part id
        assertTrue(last.getStatusUrl().startsWith(c.http + "/queue/fal-ai/ideogram/requests/"), last.getStatusUrl());
        List<RequestLog> logs = new java.util.ArrayList<>();
        for (var u : updates) {
            if (u instanceof QueueStatus.InProgress p && p.getLogs() != null) logs.addAll(p.getLogs());
            if (u instanceof QueueStatus.Completed d && d.getLogs() != null) logs.addAll(d.getLogs());
        }
        Conformance.checkLogs("ideogram subscribe", logsOf(logs));

        Output<JsonObject> run = fal.run(ep, RunOptions.withInput(in));
        Conformance.checkRequestId("ideogram run", run.getRequestId());
        c.checkIdeogramOutput("ideogram run", json(run.getData()));

        Map<String, Object> bad = Json.MAPPER.convertValue(Conformance.ideogramConflict(reference), Map.class);
        FalException e = assertThrows(FalException.class, () -> fal.run(ep, RunOptions.withInput(bad)));
        assertTrue(e.getMessage().contains("422"), e.getMessage());
        // through the queue (submit / status stream / result): the request completes with the error and its result is
        // the 422 (fal-java keeps only the status of an error, so the body is read from the same result URL directly)
        QueueStatus.InQueue conflict = fal.queue().submit(ep, QueueSubmitOptions.withInput(bad));
        Conformance.checkRequestId("ideogram submit", conflict.getRequestId());
        QueueStatus.Completed done = fal.queue().subscribeToStatus(ep, QueueSubscribeOptions.builder()
                .requestId(conflict.getRequestId()).logs(true).build());
        assertEquals(conflict.getRequestId(), done.getRequestId());
        QueueStatus.StatusUpdate status = fal.queue().status(ep,
                QueueStatusOptions.builder().requestId(conflict.getRequestId()).build());
        assertTrue(status instanceof QueueStatus.Completed, "ideogram status: " + status);
        FalException r = assertThrows(FalException.class,
                () -> fal.queue().result(ep, QueueResultOptions.withRequestId(conflict.getRequestId())));
        assertTrue(r.getMessage().contains("422"), r.getMessage());
        HttpResponse<String> stored = c.client.send(HttpRequest.newBuilder(URI.create(conflict.getResponseUrl()))
                .header("Authorization", "Key " + c.key).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(422, stored.statusCode(), stored.body());
        Conformance.checkIdeogramConflict("ideogram run (conflict)", Json.parse(stored.body()));
    }

    @Test
    void invalidInputFailsWith422() {
        Map<String, Object> bad = input(Conformance.STEPS);
        bad.put("image_size", "huge");
        FalException e = assertThrows(FalException.class, () -> fal.run(Conformance.ENDPOINT, RunOptions.withInput(bad)));
        assertTrue(e.getMessage().contains("422"), e.getMessage());
        assertNotNull(e.getRequestId());
    }
}
