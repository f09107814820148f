package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Webhook delivery (fal-protocol.md §10). When a request submitted with {@code ?fal_webhook=URL} completes, its
 * payload is fixed and written to the database ({@code webhooks}); a background thread POSTs it as JSON:
 * <pre>
 * {"request_id", "gateway_request_id", "status": "OK",    "payload": {output}}
 * {"request_id", "gateway_request_id", "status": "ERROR", "error": "Invalid status code: 422", "payload": {error body}}
 * </pre>
 * ({@code "payload": null, "payload_error": "..."} if a stored body were not JSON), signed as fal signs them
 * ({@link WebhookKey}: headers {@code X-Fal-Webhook-Request-Id}, {@code X-Fal-Webhook-User-Id} (the key id, or
 * {@code anonymous} in open mode), {@code X-Fal-Webhook-Timestamp} (unix seconds of this attempt) and
 * {@code X-Fal-Webhook-Signature}). A 2xx answer delivers it; anything else (or no answer within
 * {@link ServerConfig#webhookTimeout()}) is retried after {@link ServerConfig#webhookFirstRetry()}, doubling each
 * time, up to {@link ServerConfig#webhookAttempts()} attempts (defaults 10 over ~2 h, as fal). Attempts and the next
 * due time are in the database, so a restart loses nothing; a completion whose delivery row was not yet written when
 * the server died is found again at start. Redirects are not followed, and the target must resolve to public
 * addresses under the same rule as input fetches ({@link ServerConfig#allowPrivateFetch},
 * {@link ServerConfig#fetchAllowHosts}); a refused target fails at once.
 */
public final class Webhooks implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Webhooks.class.getName());
    /** The user id header value of requests made without a key (open mode). */
    public static final String ANONYMOUS = "anonymous";

    private final Store db;
    private final WebhookKey key;
    private final ServerConfig config;
    private final HttpClient http;
    private final Object wake = new Object();
    private volatile boolean stopping;
    private Thread thread;

    public Webhooks(Store db, WebhookKey key, ServerConfig config) {
        this.db = db;
        this.key = key;
        this.config = config;
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(config.webhookTimeout()).build();
    }

    /** Whether a {@code fal_webhook} value can be delivered to at all (an absolute http(s) URL with a host). */
    public static boolean validUrl(String url) {
        try {
            URI u = new URI(url);
            String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
            return (scheme.equals("http") || scheme.equals("https")) && u.getHost() != null;
        } catch (Exception e) {
            return false;
        }
    }

    /** Queues the delivery of a completed request that has a webhook (called once per completion). */
    public void completed(Database.RequestRow r) {
        if (r.webhook() == null || !r.completed()) return;
        db.insertWebhook(r.id(), r.webhook(), r.keyId() == null ? ANONYMOUS : r.keyId(), Json.write(payload(r)),
                System.currentTimeMillis());
        synchronized (wake) {
            wake.notifyAll();
        }
    }

    /** fal's webhook body for a completed request. */
    public static ObjectNode payload(Database.RequestRow r) {
        ObjectNode o = Json.object();
        o.put("request_id", r.id());
        o.put("gateway_request_id", r.id());
        boolean ok = r.resultStatus() != null && r.resultStatus() == 200;
        o.put("status", ok ? "OK" : "ERROR");
        if (!ok) o.put("error", "Invalid status code: " + r.resultStatus());
        JsonNode body = null;
        try {
            body = r.resultBody() == null ? null : Json.parse(r.resultBody());
        } catch (Exception e) {
            // left null below, with payload_error
        }
        if (body == null) {
            o.putNull("payload");
            o.put("payload_error", "Response payload is not JSON serializable. Either return a JSON serializable "
                    + "object or use the queue endpoint to retrieve the response.");
        } else {
            o.set("payload", body);
        }
        return o;
    }

    /** Queues deliveries of completions that have none yet (a crash between the two writes), then starts sending. */
    public void start() {
        for (Database.RequestRow r : db.completedWithoutWebhook()) completed(r);
        thread = Thread.ofPlatform().name("likeness-webhooks").daemon(true).start(this::loop);
    }

    private void loop() {
        while (!stopping) {
            try {
                long now = System.currentTimeMillis();
                List<Database.WebhookRow> due = db.dueWebhooks(now, 16);
                for (Database.WebhookRow w : due) {
                    if (stopping) return;
                    deliver(w);
                }
                if (!due.isEmpty()) continue;
                Long next = db.nextWebhookAt();
                long wait = next == null ? 1000 : Math.max(1, Math.min(1000, next - System.currentTimeMillis()));
                synchronized (wake) {
                    wake.wait(wait);
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                if (stopping) return;
                LOG.log(Level.WARNING, "webhook delivery loop", e);
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    /** One attempt. */
    void deliver(Database.WebhookRow w) {
        long now = System.currentTimeMillis();
        String error;
        boolean permanent = false;
        try {
            URI uri = new URI(w.url());
            String refusal = refusal(uri);
            if (refusal != null) {
                error = refusal;
                permanent = true;
            } else {
                byte[] body = w.body().getBytes(StandardCharsets.UTF_8);
                String ts = Long.toString(now / 1000);
                HttpRequest req = HttpRequest.newBuilder(uri).timeout(config.webhookTimeout())
                        .header("Content-Type", "application/json")
                        .header("User-Agent", "likeness-webhooks/0.1")
                        .header("X-Fal-Webhook-Request-Id", w.requestId())
                        .header("X-Fal-Webhook-User-Id", w.userId())
                        .header("X-Fal-Webhook-Timestamp", ts)
                        .header("X-Fal-Webhook-Signature", key.sign(w.requestId(), w.userId(), ts, body))
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
                HttpResponse<Void> resp = http.send(req, HttpResponse.BodyHandlers.discarding());
                if (resp.statusCode() / 100 == 2) {
                    db.webhookAttempt(w.seq(), true, false, now, null, now);
                    return;
                }
                error = "HTTP " + resp.statusCode();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (Exception e) {
            error = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
        }
        int attempts = w.attempts() + 1;
        boolean last = permanent || attempts >= config.webhookAttempts();
        long delay = config.webhookFirstRetry().toMillis() << Math.min(30, attempts - 1);
        db.webhookAttempt(w.seq(), false, last, now + delay, error, now);
        if (last) {
            LOG.warning("webhook of request " + w.requestId() + " to " + w.url() + " not delivered after " + attempts
                    + " attempt(s): " + error);
        }
    }

    /** Why a target is refused (not http(s), or a non-public address), or null. */
    private String refusal(URI uri) {
        if (!validUrl(uri.toString())) return "not an http(s) URL";
        if (config.allowPrivateFetch()) return null;
        String host = uri.getHost();
        if (config.fetchAllowHosts().contains(host)) return null;
        try {
            for (InetAddress a : InetAddress.getAllByName(host.startsWith("[") ? host.substring(1, host.length() - 1) : host)) {
                if (!InputFetcher.isPublic(a)) {
                    return "the host resolves to a loopback, private or link-local address (" + a.getHostAddress()
                            + "), which this server does not call";
                }
            }
        } catch (UnknownHostException e) {
            return null;  // a DNS failure may pass: retried like any other failure
        }
        return null;
    }

    /** The signing key. */
    public WebhookKey key() {
        return key;
    }

    @Override
    public void close() {
        stopping = true;
        if (thread != null) {
            thread.interrupt();
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
