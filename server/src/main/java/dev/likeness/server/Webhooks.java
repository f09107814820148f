package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.InputStreamResponseListener;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.http.HttpMethod;

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
 * {@link ServerConfig#fetchAllowHosts}), checked on the addresses the connection then uses ({@link OutboundHttp}: a
 * DNS answer that changes after the check is never used); a refused target fails at once.
 */
public final class Webhooks implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Webhooks.class.getName());
    /** The user id header value of requests made without a key (open mode). */
    public static final String ANONYMOUS = "anonymous";

    private final Store db;
    private final WebhookKey key;
    private final ServerConfig config;
    private final OutboundHttp http;
    private final Object wake = new Object();
    private volatile boolean stopping;
    private Thread thread;

    public Webhooks(Store db, WebhookKey key, ServerConfig config) {
        this(db, key, config, OutboundHttp.SYSTEM);
    }

    /** With a given name resolution (tests). */
    Webhooks(Store db, WebhookKey key, ServerConfig config, OutboundHttp.NameResolver dns) {
        this.db = db;
        this.key = key;
        this.config = config;
        this.http = new OutboundHttp(config, "likeness-webhooks", config.webhookTimeout(), dns);
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
                // the host is resolved and checked by the client's resolver, which connects only to checked addresses
                Request req = http.client().newRequest(uri).method(HttpMethod.POST).followRedirects(false)
                        .headers(h -> h.put("User-Agent", "likeness-webhooks/0.1")
                                .put("X-Fal-Webhook-Request-Id", w.requestId())
                                .put("X-Fal-Webhook-User-Id", w.userId())
                                .put("X-Fal-Webhook-Timestamp", ts)
                                .put("X-Fal-Webhook-Signature", key.sign(w.requestId(), w.userId(), ts, body)))
                        .body(new BytesRequestContent("application/json", body));
                InputStreamResponseListener listener = new InputStreamResponseListener();
                req.send(listener);
                Response resp;
                try {
                    resp = listener.get(config.webhookTimeout().toMillis(), TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    req.abort(e);
                    throw e;
                } catch (InterruptedException e) {
                    req.abort(e);
                    throw e;
                }
                try (InputStream ignored = listener.getInputStream()) {
                    // the answer's body is not read
                }
                if (resp.getStatus() / 100 == 2) {
                    db.webhookAttempt(w.seq(), true, false, now, null, now);
                    return;
                }
                error = "HTTP " + resp.getStatus();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (ExecutionException e) {
            OutboundHttp.RefusedAddressException refused = OutboundHttp.refusal(e);
            if (refused != null) {
                error = refusedMessage(refused.address());
                permanent = true;
            } else {
                Throwable c = e.getCause() == null ? e : e.getCause();
                error = c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
            }
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

    /** Why a target is refused before any lookup (not http(s)), or null; addresses are checked when connecting. */
    private static String refusal(URI uri) {
        return validUrl(uri.toString()) ? null : "not an http(s) URL";
    }

    private static String refusedMessage(InetAddress a) {
        return "the host resolves to a loopback, private or link-local address (" + a.getHostAddress()
                + "), which this server does not call";
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
        http.close();
    }
}
