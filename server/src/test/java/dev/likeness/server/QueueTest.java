package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The queue routes: submit, status (IN_QUEUE / IN_PROGRESS / COMPLETED), result, cancel, priority, sub-path ids. */
class QueueTest {
    @TempDir
    Path dir;

    private static final String APP = "/queue/fal-ai/instant-character";

    @Test
    void submitStatusResultRoundTrip() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            HttpResponse<String> sub = h.post(APP, Json.write(Harness.input().put("seed", 5)));
            assertEquals(200, sub.statusCode(), sub.body());
            JsonNode s = Harness.json(sub);
            String id = s.get("request_id").asText();
            assertTrue(id.matches("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"), id);
            assertEquals(id, sub.headers().firstValue("x-fal-request-id").orElse(null));
            assertEquals("IN_QUEUE", s.get("status").asText());
            assertTrue(s.get("queue_position").isInt());
            String responseUrl = h.base + APP + "/requests/" + id;
            assertEquals(responseUrl, s.get("response_url").asText());
            assertEquals(responseUrl + "/status", s.get("status_url").asText());
            assertEquals(responseUrl + "/cancel", s.get("cancel_url").asText());
            assertTrue(s.get("logs").isNull());

            JsonNode done = h.awaitCompleted(s.get("status_url").asText());
            assertEquals(id, done.get("request_id").asText());
            assertTrue(done.get("metrics").get("inference_time").isNumber());
            assertFalse(done.has("error"));
            List<String> messages = done.get("logs").findValuesAsText("message");
            assertEquals(List.of("reference 4x4", "step 1/3", "step 2/3", "step 3/3"), messages);
            JsonNode log = done.get("logs").get(1);
            assertEquals("INFO", log.get("level").asText());
            assertEquals("USER", log.get("source").asText());
            assertEquals("INFO", log.get("labels").get("level").asText());
            assertEquals("USER", log.get("labels").get("source").asText());
            assertTrue(log.get("timestamp").asText().matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z"));

            HttpResponse<String> st = h.get(s.get("status_url").asText());
            assertEquals(200, st.statusCode());
            assertTrue(Harness.json(st).get("logs").isNull(), "logs only when asked");
            assertEquals(4, Harness.json(h.get(s.get("status_url").asText() + "?logs=true")).get("logs").size());

            HttpResponse<String> res = h.get(responseUrl);
            assertEquals(200, res.statusCode());
            assertEquals(id, res.headers().firstValue("x-fal-request-id").orElse(null));
            JsonNode out = Harness.json(res);
            assertEquals(5, out.get("seed").asInt());
            assertEquals(1, out.get("images").size());
            assertEquals(200, h.getBytes(out.get("images").get(0).get("url").asText()).statusCode());
            assertEquals(out, Harness.json(h.get(responseUrl + "/response")), "the /response alias");
            assertEquals(out, Harness.json(h.get("/queue/fal-ai/instant-character/requests/" + id)), "relative form");
        }
    }

    @Test
    void statusCodesWhileQueuedAndRunning() throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.gate = new CountDownLatch(1);
        try (Harness h = new Harness(dir, ep)) {
            JsonNode a = Harness.json(h.post(APP, Json.write(Harness.input())));
            assertTrue(ep.started.await(10, TimeUnit.SECONDS));
            JsonNode b = Harness.json(h.post(APP, Json.write(Harness.input())));
            JsonNode c = Harness.json(h.post(APP, Json.write(Harness.input())));
            assertEquals(1, c.get("queue_position").asInt());

            HttpResponse<String> running = h.get(a.get("status_url").asText() + "?logs=1");
            assertEquals(202, running.statusCode());
            JsonNode rs = Harness.json(running);
            assertEquals("IN_PROGRESS", rs.get("status").asText());
            assertEquals("reference 4x4", rs.get("logs").get(0).get("message").asText());
            assertFalse(rs.has("queue_position"));
            HttpResponse<String> queued = h.get(c.get("status_url").asText());
            assertEquals(202, queued.statusCode());
            assertEquals("IN_QUEUE", Harness.json(queued).get("status").asText());
            assertEquals(1, Harness.json(queued).get("queue_position").asInt());

            HttpResponse<String> early = h.get(a.get("response_url").asText());
            assertEquals(400, early.statusCode());
            assertEquals("Request is still in progress", Harness.json(early).get("detail").asText());

            ep.gate.countDown();
            for (JsonNode x : List.of(a, b, c)) assertNull(h.awaitCompleted(x.get("status_url").asText()).get("error"));
        }
    }

    @Test
    void invalidInputIsAcceptedThenCompletesWithTheError() throws Exception {
        try (Harness h = new Harness(dir, new FakeCharacterEndpoint())) {
            HttpResponse<String> sub = h.post(APP, "{\"image_url\":\"x\",\"output_format\":\"gif\"}");
            assertEquals(200, sub.statusCode());
            JsonNode s = Harness.json(sub);
            JsonNode done = h.awaitCompleted(s.get("status_url").asText());
            assertEquals("missing", done.get("error_type").asText());
            assertTrue(done.get("error").asText().contains("body.prompt: Field required"), done.toString());
            HttpResponse<String> res = h.get(s.get("response_url").asText());
            assertEquals(422, res.statusCode());
            assertEquals("missing", res.headers().firstValue("x-fal-error-type").orElse(""));
            JsonNode d = Harness.json(res).get("detail");
            assertEquals(2, d.size());
            assertEquals("[\"body\",\"prompt\"]", d.get(0).get("loc").toString());
            assertEquals("literal_error", d.get(1).get("type").asText());

            JsonNode notJson = Harness.json(h.post(APP, "not json"));
            JsonNode done2 = h.awaitCompleted(notJson.get("status_url").asText());
            assertEquals("json_invalid", done2.get("error_type").asText());
            assertEquals(422, h.get(notJson.get("response_url").asText()).statusCode());
        }
    }

    @Test
    void cancelInEachState() throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.gate = new CountDownLatch(1);
        try (Harness h = new Harness(dir, ep)) {
            JsonNode running = Harness.json(h.post(APP, Json.write(Harness.input())));
            assertTrue(ep.started.await(10, TimeUnit.SECONDS));
            JsonNode queued = Harness.json(h.post(APP, Json.write(Harness.input())));

            HttpResponse<String> cq = h.send("PUT", queued.get("cancel_url").asText(), null);
            assertEquals(202, cq.statusCode());
            assertEquals("{\"status\":\"CANCELLATION_REQUESTED\"}", cq.body());
            JsonNode qs = h.awaitCompleted(queued.get("status_url").asText());
            assertEquals("client_cancelled", qs.get("error_type").asText());
            HttpResponse<String> qr = h.get(queued.get("response_url").asText());
            assertEquals(499, qr.statusCode());
            assertEquals("Request cancelled by the client.", Harness.json(qr).get("detail").asText());

            HttpResponse<String> cr = h.send("PUT", running.get("cancel_url").asText(), null);
            assertEquals(202, cr.statusCode());
            JsonNode rs = h.awaitCompleted(running.get("status_url").asText());
            assertEquals("client_cancelled", rs.get("error_type").asText());
            assertEquals(499, h.get(running.get("response_url").asText()).statusCode());
            assertEquals(1, ep.runs.get(), "the cancelled queued request never ran");

            HttpResponse<String> again = h.send("PUT", running.get("cancel_url").asText(), null);
            assertEquals(400, again.statusCode());
            assertEquals("{\"status\":\"ALREADY_COMPLETED\"}", again.body());

            HttpResponse<String> unknown = h.send("PUT", APP + "/requests/0190b7a0-0000-7000-8000-000000000000/cancel", null);
            assertEquals(404, unknown.statusCode());
            assertEquals("{\"status\":\"NOT_FOUND\"}", unknown.body());
            assertEquals(404, h.get(APP + "/requests/0190b7a0-0000-7000-8000-000000000000/status").statusCode());
        }
    }

    @Test
    void lowPriorityRunsAfterNormal() throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.gate = new CountDownLatch(1);
        try (Harness h = new Harness(dir, ep)) {
            JsonNode first = Harness.json(h.post(APP, Json.write(Harness.input())));
            assertTrue(ep.started.await(10, TimeUnit.SECONDS));
            JsonNode low = Harness.json(h.post(APP, Json.write(Harness.input()), "x-fal-queue-priority", "low"));
            JsonNode normal = Harness.json(h.post(APP, Json.write(Harness.input()), "x-fal-queue-priority", "normal"));
            assertEquals(0, low.get("queue_position").asInt());
            assertEquals(0, normal.get("queue_position").asInt(), "normal jumps ahead of low");
            assertEquals(1, Harness.json(h.get(low.get("status_url").asText())).get("queue_position").asInt());
            ep.gate.countDown();
            h.awaitCompleted(first.get("status_url").asText());
            JsonNode n = h.awaitCompleted(normal.get("status_url").asText());
            JsonNode l = h.awaitCompleted(low.get("status_url").asText());
            var db = new Database(dir);
            try {
                assertTrue(db.request(n.get("request_id").asText()).startedAt() <= db.request(l.get("request_id").asText()).startedAt());
            } finally {
                db.close();
            }
        }
    }

    @Test
    void subPathEndpointsArePolledAtOwnerAndApp() throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint("acme/studio/character");
        try (Harness h = new Harness(dir, ep, new FakeCharacterEndpoint())) {
            JsonNode s = Harness.json(h.post("/queue/acme/studio/character", Json.write(Harness.input())));
            String id = s.get("request_id").asText();
            assertEquals(h.base + "/queue/acme/studio/requests/" + id + "/status", s.get("status_url").asText());
            h.awaitCompleted(s.get("status_url").asText());
            assertEquals(200, h.get("/queue/acme/studio/character/requests/" + id + "/status").statusCode(), "full-id form");
            assertEquals(200, h.get("/queue/acme/studio/requests/" + id).statusCode());
            assertEquals(404, h.get("/queue/fal-ai/instant-character/requests/" + id + "/status").statusCode(), "other app");
        }
    }

    @Test
    void urlsFollowForwardedHeadersAndTheQueueListener() throws Exception {
        try (Harness h = new Harness(dir, List.of(new FakeCharacterEndpoint()), c -> c.queuePort(0))) {
            JsonNode s = Harness.json(h.post(APP, Json.write(Harness.input()),
                    "X-Forwarded-Proto", "https", "X-Forwarded-Host", "gen.example.com"));
            assertTrue(s.get("status_url").asText().startsWith("https://gen.example.com/queue/fal-ai/instant-character/requests/"));
            String qbase = "http://127.0.0.1:" + h.server.queuePort();
            JsonNode q = Harness.json(h.post(qbase + "/fal-ai/instant-character", Json.write(Harness.input())));
            assertEquals("IN_QUEUE", q.get("status").asText());
            assertEquals(qbase + "/fal-ai/instant-character/requests/" + q.get("request_id").asText(), q.get("response_url").asText());
            JsonNode done = h.awaitCompleted(q.get("status_url").asText());
            assertNull(done.get("error"));
            JsonNode out = Harness.json(h.get(q.get("response_url").asText()));
            assertEquals(200, h.getBytes(out.get("images").get(0).get("url").asText()).statusCode());
        }
    }
}
