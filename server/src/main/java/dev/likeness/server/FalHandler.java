package dev.likeness.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.Fields;

/**
 * The fal-compatible routes (see {@code server/README.md}):
 * <ul>
 *   <li>{@code POST /{endpoint}}: synchronous run; {@code POST /queue/{endpoint}}: queue submit;</li>
 *   <li>{@code GET /queue/{owner}/{app}/requests/{id}[/status[/stream]]}, {@code PUT …/cancel} (the full endpoint id
 *       in place of {@code owner/app} is accepted too);</li>
 *   <li>the proxy form: any path with {@code x-fal-target-url}, dispatched by the target's host ({@code fal.run},
 *       {@code queue.fal.run}, {@code rest.fal.ai}) and path;</li>
 *   <li>storage: {@code POST /storage/upload/initiate} then {@code PUT} the returned {@code upload_url};
 *       {@code POST /storage/auth/token} then {@code POST /files/upload}; {@code GET /files/{id}/{name}}.</li>
 * </ul>
 * On the optional queue listener the queue routes are served at the root, as on {@code queue.fal.run}.
 */
final class FalHandler extends Handler.Abstract {
    private static final Logger LOG = Logger.getLogger(FalHandler.class.getName());
    static final String QUEUE_CONNECTOR = "queue";

    private enum Mode { DIRECT, QUEUE_HOST, RUN, QUEUE, REST }

    private final RequestQueue queue;
    private final Keys keys;
    private final FileStore files;
    private final Store db;
    private final ServerConfig config;
    private final Webhooks webhooks;
    private volatile boolean closing;

    private final Ledger ledger;
    private final Metrics metrics;

    FalHandler(RequestQueue queue, Keys keys, FileStore files, Store db, ServerConfig config, Webhooks webhooks,
               Ledger ledger, Metrics metrics) {
        this.webhooks = webhooks;
        this.ledger = ledger;
        this.metrics = metrics;
        this.queue = queue;
        this.keys = keys;
        this.files = files;
        this.db = db;
        this.config = config;
    }

    /** Makes open status streams and synchronous waits end. */
    void closing() {
        closing = true;
    }

    @Override
    public boolean handle(Request req, Response resp, Callback cb) {
        Exchange x = new Exchange(req, resp, cb);
        cors(req, resp);
        try {
            if (req.getMethod().equals("OPTIONS")) {
                x.empty(204);
                return true;
            }
            String target = x.header("x-fal-target-url");
            if (target != null) {
                proxy(x, target);
            } else {
                boolean queueHost = QUEUE_CONNECTOR.equals(req.getConnectionMetaData().getConnector().getName());
                Map<String, String> query = new HashMap<>();
                Fields fields = Request.extractQueryParameters(req);
                for (Fields.Field f : fields) query.put(f.getName(), f.getValue());
                route(x, queueHost ? Mode.QUEUE_HOST : Mode.DIRECT, req.getHttpURI().getDecodedPath(), query);
            }
        } catch (HttpError e) {
            if (!x.done) {
                e.headers.forEach((k, v) -> resp.getHeaders().put(k, v));
                x.json(e.status, e.body);
            }
        } catch (Throwable t) {
            LOG.log(Level.SEVERE, req.getMethod() + " " + req.getHttpURI() + " failed", t);
            if (!x.done) x.json(500, Json.detail("Internal Server Error", "internal_error"));
            else cb.failed(t);
        }
        return true;
    }

    /**
     * CORS for browser apps that call the server directly (fal-js with a rewritten URL): any origin, the headers the
     * clients send, and the response headers they read.
     */
    private static void cors(Request req, Response resp) {
        var h = resp.getHeaders();
        h.put("Access-Control-Allow-Origin", "*");
        h.put("Access-Control-Expose-Headers", "x-fal-request-id, x-fal-error-type, x-fal-billable-units");
        if (req.getMethod().equals("OPTIONS")) {
            h.put("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS");
            String asked = req.getHeaders().get("Access-Control-Request-Headers");
            h.put("Access-Control-Allow-Headers", asked != null ? asked
                    : "authorization, content-type, accept, x-fal-target-url, x-fal-queue-priority, x-fal-runner-hint, "
                    + "x-fal-request-timeout, x-fal-object-lifecycle-preference, x-fal-object-lifecycle, x-fal-file-name");
            h.put("Access-Control-Max-Age", "86400");
        }
    }

    // ---- dispatch ------------------------------------------------------------------------------------------

    private void proxy(Exchange x, String target) {
        URI uri;
        try {
            uri = new URI(target);
        } catch (Exception e) {
            throw HttpError.detail(400, "Invalid x-fal-target-url: " + target);
        }
        String host = uri.getHost() == null ? "" : uri.getHost().toLowerCase(Locale.ROOT);
        Mode mode = switch (host) {
            case "fal.run" -> Mode.RUN;
            case "queue.fal.run" -> Mode.QUEUE;
            case "rest.fal.ai", "rest.alpha.fal.ai" -> Mode.REST;
            default -> throw HttpError.detail(412, "Invalid x-fal-target-url: the host must be fal.run, queue.fal.run or rest.fal.ai");
        };
        route(x, mode, uri.getPath() == null ? "/" : uri.getPath(), parseQuery(uri.getRawQuery()));
    }

    private static Map<String, String> parseQuery(String raw) {
        Map<String, String> q = new HashMap<>();
        if (raw == null || raw.isEmpty()) return q;
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String k = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            String v = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            q.putIfAbsent(k, v);
        }
        return q;
    }

    private void route(Exchange x, Mode mode, String path, Map<String, String> query) {
        List<String> seg = new ArrayList<>();
        for (String s : path.split("/")) if (!s.isEmpty()) seg.add(s);
        boolean local = mode == Mode.DIRECT || mode == Mode.QUEUE_HOST;
        if (mode == Mode.DIRECT && Playground.handle(x, seg, queue)) return;
        if (seg.isEmpty()) throw notFound(path);
        String first = seg.getFirst();
        if ((mode == Mode.REST || local) && seg.size() == 2 && first.equals(".well-known") && seg.get(1).equals("jwks.json")) {
            requireMethod(x, "GET");
            x.resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "public, max-age=86400");
            x.json(200, webhooks.key().jwks());
            return;
        }
        if (mode == Mode.REST || (local && first.equals("storage"))) {
            storage(x, seg, path);
            return;
        }
        if (local && first.equals("files")) {
            files(x, seg, path);
            return;
        }
        if (local && seg.size() == 1 && first.equals("health")) {
            x.json(200, Json.object().put("status", "ok"));
            return;
        }
        if (local && seg.size() == 1 && first.equals("metrics")) {
            requireMethod(x, "GET");
            x.bytes(200, "text/plain; version=0.0.4; charset=utf-8", metrics.scrape().getBytes(StandardCharsets.UTF_8));
            return;
        }
        if (local && seg.size() == 1 && first.equals("usage")) {
            requireMethod(x, "GET");
            usage(x, query);
            return;
        }
        if (x.method().equals("GET") && seg.size() >= 2 && seg.getLast().equals("openapi.json")) {
            // GET /{endpoint}/openapi.json (also under /queue/), and fal's /api/openapi/queue/openapi.json?endpoint_id=
            String id;
            if (seg.size() == 4 && seg.get(0).equals("api") && seg.get(1).equals("openapi") && seg.get(2).equals("queue")) {
                id = query.get("endpoint_id");
            } else {
                List<String> s = seg.getFirst().equals("queue") ? seg.subList(1, seg.size()) : seg;
                id = String.join("/", s.subList(0, s.size() - 1));
            }
            Endpoint ep = id == null ? null : queue.endpoint(id);
            if (ep != null) {
                x.json(200, OpenApi.document(ep, queueBase(x)));
                return;
            }
        }
        if (mode == Mode.DIRECT && first.equals("queue")) {
            mode = Mode.QUEUE;
            seg = seg.subList(1, seg.size());
        } else if (mode == Mode.DIRECT) {
            mode = Mode.RUN;
        } else if (mode == Mode.QUEUE_HOST) {
            mode = Mode.QUEUE;
        }
        int ri = -1;
        for (int i = 2; i < seg.size() - 1 && ri < 0; i++) if (seg.get(i).equals("requests")) ri = i;
        if (ri >= 0) {
            requestRoute(x, String.join("/", seg.subList(0, ri)), seg.get(ri + 1), seg.subList(ri + 2, seg.size()), query);
            return;
        }
        String endpointId = String.join("/", seg);
        Endpoint ep = queue.endpoint(endpointId);
        if (ep == null) throw notFound(path);
        if (!x.method().equals("POST")) throw HttpError.detail(405, "Method Not Allowed");
        if (mode == Mode.QUEUE) submit(x, ep, query);
        else runSync(x, ep);
    }

    private static HttpError notFound(String path) {
        return HttpError.detail(404, "Path " + path + " not found");
    }

    private Keys.Caller auth(Exchange x) {
        try {
            return keys.authenticate(x.header("Authorization"));
        } catch (Keys.Unauthorized e) {
            throw new HttpError(401, Json.detail(e.getMessage(), "unauthorized"));
        }
    }

    private String queueBase(Exchange x) {
        boolean queueHost = QUEUE_CONNECTOR.equals(x.req.getConnectionMetaData().getConnector().getName());
        String base = x.base(config.publicUrl());
        return queueHost && config.publicUrl() == null ? base : base + "/queue";
    }

    // ---- run and submit ------------------------------------------------------------------------------------

    private void submit(Exchange x, Endpoint ep, Map<String, String> query) {
        Keys.Caller caller = auth(x);
        String webhook = query.get("fal_webhook");
        if (webhook != null && webhook.isBlank()) webhook = null;
        if (webhook != null && !Webhooks.validUrl(webhook)) {
            throw HttpError.detail(400, "fal_webhook must be an absolute http(s) URL, got '" + webhook + "'");
        }
        String input = new String(x.body(config.maxBodyBytes()), StandardCharsets.UTF_8);
        if (config.maxQueuedPerKey() > 0 && db.countFor(caller.keyId(), "IN_QUEUE") >= config.maxQueuedPerKey()) {
            throw limit("Too many queued requests: the limit is " + config.maxQueuedPerKey() + " per key",
                    "queue_limit_exceeded");
        }
        String priorityHeader = x.header("x-fal-queue-priority");
        int priority = priorityHeader != null && priorityHeader.strip().equalsIgnoreCase("low") ? 1 : 0;
        String id = queue.submit(ep.id(), caller.keyId(), input, priority, false, x.base(config.publicUrl()),
                webhook);
        x.requestId = id;
        x.json(200, queue.submitJson(queue.get(id), queueBase(x)));
    }

    /** fal's 429 (the JS and Python clients retry it; nothing was stored). */
    private static HttpError limit(String detail, String errorType) {
        HttpError e = new HttpError(429, Json.detail(detail, errorType));
        e.headers.put("X-Fal-Error-Type", errorType);
        e.headers.put("X-Fal-Needs-Retry", "1");
        e.headers.put("Retry-After", "1");
        return e;
    }

    private void usage(Exchange x, Map<String, String> query) {
        Keys.Caller caller = auth(x);
        long from = instant(query.get("from"), Long.MIN_VALUE);
        long to = instant(query.get("to"), Long.MAX_VALUE);
        x.json(200, ledger.report(caller.keyId(), from, to));
    }

    private static long instant(String v, long dflt) {
        if (v == null || v.isBlank()) return dflt;
        try {
            return Instant.parse(v).toEpochMilli();
        } catch (java.time.format.DateTimeParseException e) {
            try {
                return java.time.LocalDate.parse(v).atStartOfDay(java.time.ZoneOffset.UTC).toInstant().toEpochMilli();
            } catch (java.time.format.DateTimeParseException e2) {
                throw HttpError.detail(400, "Invalid date '" + v + "': use an ISO-8601 instant or date");
            }
        }
    }

    private void runSync(Exchange x, Endpoint ep) {
        Keys.Caller caller = auth(x);
        if (config.maxConcurrentPerKey() > 0 && db.countFor(caller.keyId(), "IN_PROGRESS") >= config.maxConcurrentPerKey()) {
            throw limit("Too many concurrent requests: the limit is " + config.maxConcurrentPerKey() + " per key",
                    "concurrent_requests_limit");
        }
        String input = new String(x.body(config.maxBodyBytes()), StandardCharsets.UTF_8);
        try {
            ep.validate(Json.parse(input));
        } catch (JsonProcessingException e) {
            validationError(x, InputError.jsonInvalid(e));
            return;
        } catch (InputError e) {
            validationError(x, e);
            return;
        }
        String id = queue.submit(ep.id(), caller.keyId(), input, 0, true, x.base(config.publicUrl()), null);
        x.requestId = id;
        Database.RequestRow row;
        try {
            row = queue.get(id);
            while (!row.completed() && !closing) {
                long v = queue.version();
                if (callerGone(x)) {
                    queue.cancel(id);
                    x.json(499, Json.detail("Request cancelled by the client.", "client_disconnected"));
                    return;
                }
                queue.awaitChange(v, 500);
                row = queue.get(id);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HttpError(503, Json.detail("The server is shutting down", "runner_disconnected"));
        }
        if (!row.completed()) throw new HttpError(503, Json.detail("The server is shutting down", "runner_disconnected"));
        result(x, row);
    }

    /**
     * Whether the caller of a synchronous run has closed its connection (fal cancels such a run). Jetty reads nothing
     * while the handler waits, so this probes the socket: a read of -1 means the peer closed. The body has been read
     * in full, and HTTP/1.1 clients do not pipeline after a POST, so a byte that does arrive is unexpected: the
     * connection is then closed after the response.
     */
    private static boolean callerGone(Exchange x) {
        var endPoint = x.req.getConnectionMetaData().getConnection().getEndPoint();
        if (!endPoint.isOpen() || endPoint.isInputShutdown()) return true;
        try {
            int n = endPoint.fill(java.nio.ByteBuffer.allocate(1).flip().limit(0));
            if (n < 0) return true;
            if (n > 0) x.resp.getHeaders().put(HttpHeader.CONNECTION, "close");
        } catch (IOException e) {
            return true;
        }
        return false;
    }

    private static void validationError(Exchange x, InputError e) {
        x.resp.getHeaders().put("x-fal-billable-units", "0");
        x.json(422, e.body());
    }

    // ---- request routes ------------------------------------------------------------------------------------

    private void requestRoute(Exchange x, String prefix, String id, List<String> tail, Map<String, String> query) {
        Keys.Caller caller = auth(x);
        x.requestId = id;
        Database.RequestRow r = queue.get(id);
        boolean visible = r != null && Objects.equals(r.keyId(), caller.keyId())
                && (prefix.equals(RequestQueue.appPrefix(r.endpoint())) || prefix.equals(r.endpoint()));
        String route = String.join("/", tail);
        String method = x.method();
        switch (route) {
            case "", "response" -> {
                requireMethod(x, "GET");
                if (!visible) throw requestNotFound();
                if (!r.completed()) throw HttpError.detail(400, "Request is still in progress");
                result(x, r);
            }
            case "status" -> {
                requireMethod(x, "GET");
                if (!visible) throw requestNotFound();
                boolean withLogs = logsWanted(query);
                ObjectNode s = queue.statusJson(r, queueBase(x), withLogs ? queue.logs(id, 0) : null);
                x.json(r.completed() ? 200 : 202, s);
            }
            case "status/stream" -> {
                requireMethod(x, "GET");
                if (!visible) throw requestNotFound();
                stream(x, r, logsWanted(query), "1".equals(query.get("previews")) || "true".equalsIgnoreCase(query.get("previews")));
            }
            case "cancel" -> {
                if (!method.equals("PUT") && !method.equals("POST")) throw HttpError.detail(405, "Method Not Allowed");
                RequestQueue.CancelResult c = visible ? queue.cancel(id) : RequestQueue.CancelResult.NOT_FOUND;
                int code = switch (c) {
                    case CANCELLATION_REQUESTED -> 202;
                    case ALREADY_COMPLETED -> 400;
                    case NOT_FOUND -> 404;
                };
                x.json(code, Json.object().put("status", c.name()));
            }
            default -> throw notFound("/" + prefix + "/requests/" + id + "/" + route);
        }
    }

    private static void requireMethod(Exchange x, String method) {
        if (!x.method().equals(method)) throw HttpError.detail(405, "Method Not Allowed");
    }

    private static HttpError requestNotFound() {
        return new HttpError(404, Json.object().put("detail", "Request not found").put("status", "NOT_FOUND"));
    }

    private static boolean logsWanted(Map<String, String> query) {
        String v = query.get("logs");
        return v != null && (v.equals("1") || v.equalsIgnoreCase("true"));
    }

    /** The stored result: the output with 200, or the original error status and body. */
    private static void result(Exchange x, Database.RequestRow r) {
        if (r.errorType() != null) x.resp.getHeaders().put("x-fal-error-type", r.errorType());
        if (r.resultStatus() == 422) x.resp.getHeaders().put("x-fal-billable-units", "0");
        x.jsonText(r.resultStatus(), r.resultBody());
    }

    /**
     * Server-sent events: one {@code data: <status JSON>} per change of status, queue position or new log lines
     * (each event carries only the lines new since the previous one), a {@code : ping} comment after each
     * {@link ServerConfig#keepAlive()} of silence, closed after the COMPLETED event. With {@code previews} (our
     * extension, {@code ?previews=1}, used by the playground) an event also carries {@code preview: {step, steps,
     * image}} (a PNG data URI) whenever the running endpoint published a new step preview.
     */
    private void stream(Exchange x, Database.RequestRow first, boolean withLogs, boolean withPreviews) {
        Response resp = x.resp;
        resp.setStatus(200);
        x.headers();
        resp.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        x.done = true;
        String queueBase = queueBase(x);
        long keepAlive = config.keepAlive().toMillis();
        long lastLog = 0;
        String lastStatus = null;
        int lastPosition = -1;
        long lastWrite = System.currentTimeMillis();
        String id = first.id();
        long lastPreview = 0;
        if (withPreviews) queue.watchPreviews(id, true);
        try (OutputStream out = Content.Sink.asOutputStream(resp)) {
            while (true) {
                long version = queue.version();
                Database.RequestRow r = queue.get(id);
                List<Database.LogRow> fresh = withLogs ? queue.logs(id, lastLog) : null;
                int position = r.status().equals("IN_QUEUE") ? queue.queuePosition(r) : -1;
                RequestQueue.Preview preview = withPreviews ? queue.preview(id) : null;
                if (preview != null && preview.seq() <= lastPreview) preview = null;
                if (!r.status().equals(lastStatus) || position != lastPosition || (fresh != null && !fresh.isEmpty())
                        || preview != null) {
                    ObjectNode s = queue.statusJson(r, queueBase, fresh);
                    if (preview != null) {
                        s.putObject("preview").put("step", preview.step()).put("steps", preview.steps())
                                .put("image", preview.image());
                        lastPreview = preview.seq();
                    }
                    out.write(("data: " + Json.write(s) + "\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    lastWrite = System.currentTimeMillis();
                    lastStatus = r.status();
                    lastPosition = position;
                    if (fresh != null && !fresh.isEmpty()) lastLog = fresh.getLast().seq();
                }
                if (r.completed() || closing) break;
                long wait = Math.max(1, keepAlive - (System.currentTimeMillis() - lastWrite));
                if (!queue.awaitChange(version, wait) && System.currentTimeMillis() - lastWrite >= keepAlive) {
                    out.write(": ping\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    lastWrite = System.currentTimeMillis();
                }
            }
        } catch (IOException e) {
            x.cb.failed(e);
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            x.cb.failed(e);
            return;
        } finally {
            if (withPreviews) queue.watchPreviews(id, false);
        }
        x.cb.succeeded();
    }

    // ---- storage -------------------------------------------------------------------------------------------

    private void storage(Exchange x, List<String> seg, String path) {
        String route = String.join("/", seg);
        long now = System.currentTimeMillis();
        if (route.equals("storage/upload/initiate") && x.method().equals("POST")) {
            Keys.Caller caller = auth(x);
            JsonNode body = parseBody(x);
            String contentType = text(body, "content_type", "application/octet-stream");
            String name = FileStore.safeName(text(body, "file_name", null), contentType);
            String fileId = FileStore.newId();
            String token = Ids.token(24);
            db.upsertFile(new Database.FileRow(fileId, name, contentType, 0, caller.keyId(), false), now);
            db.insertUploadToken(token, fileId, caller.keyId(), now + 3_600_000);
            String base = x.base(config.publicUrl());
            x.json(200, Json.object().put("upload_url", base + "/storage/upload/put/" + token)
                    .put("file_url", FileStore.url(base, fileId, name)));
        } else if (seg.size() == 4 && route.startsWith("storage/upload/put/") && x.method().equals("PUT")) {
            String[] t = db.uploadToken(seg.get(3), now);
            if (t == null || t[0] == null) throw refuseUpload(x, 404, "Unknown or expired upload URL");
            Database.FileRow f = db.file(t[0]);
            long size;
            try {
                size = files.write(t[0], x.bodyStream(), config.maxUploadBytes());
            } catch (IOException e) {
                throw HttpError.detail(400, "Could not read the upload: " + e.getMessage());
            }
            if (size < 0) throw HttpError.detail(413, "Upload too large: the limit is " + config.maxUploadBytes() + " bytes");
            String contentType = x.header("Content-Type") != null ? x.header("Content-Type") : f.contentType();
            db.upsertFile(new Database.FileRow(f.id(), f.name(), contentType, size, f.keyId(), true), now);
            db.deleteUploadToken(seg.get(3));
            x.empty(200);
        } else if (route.equals("storage/auth/token") && x.method().equals("POST")) {
            Keys.Caller caller = auth(x);
            String token = Ids.token(24);
            long expires = now + 3_600_000;
            db.insertUploadToken(token, null, caller.keyId(), expires);
            x.json(200, Json.object().put("token", token).put("token_type", "Bearer")
                    .put("base_url", x.base(config.publicUrl())).put("expires_at", isoOffset(expires)));
        } else {
            throw notFound(path);
        }
    }

    /**
     * An ISO-8601 time with an explicit {@code +00:00} offset: fal-client (Python) parses {@code expires_at} with
     * {@code datetime.fromisoformat}, which before Python 3.11 refuses a {@code Z} suffix, and compares it with an
     * aware datetime, so the offset must be there.
     */
    static String isoOffset(long epochMillis) {
        return java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSxxx")
                .format(Instant.ofEpochMilli(epochMillis).atOffset(java.time.ZoneOffset.UTC));
    }

    private void files(Exchange x, List<String> seg, String path) {
        if (seg.size() == 2 && seg.get(1).equals("upload") && x.method().equals("POST")) {
            String authz = x.header("Authorization");
            String token = authz != null && authz.regionMatches(true, 0, "Bearer ", 0, 7) ? authz.substring(7).strip() : null;
            String[] t = token == null ? null : db.uploadToken(token, System.currentTimeMillis());
            if (t == null || t[0] != null) throw new HttpError(401, Json.detail("Invalid or expired storage token", "unauthorized"));
            String contentType = x.header("Content-Type") != null ? x.header("Content-Type") : "application/octet-stream";
            byte[] data = x.body(config.maxUploadBytes());
            ObjectNode f = files.store(data, contentType, x.header("X-Fal-File-Name"), t[1], x.base(config.publicUrl()));
            x.json(200, Json.object().put("access_url", f.get("url").asText()).put("content_type", contentType)
                    .put("file_name", f.get("file_name").asText()).put("file_size", data.length));
            return;
        }
        if (seg.size() < 2 || !x.method().equals("GET")) throw notFound(path);
        // Without Authorization the URL is a capability (128-bit random id), served to whoever has it, so that
        // browsers can load it as they load fal's CDN URLs. With Authorization the caller is authenticated as on every
        // other route, and a file stored for another key is answered exactly as a missing one (the rule of requests).
        String authorization = x.header("Authorization");
        Keys.Caller caller = authorization == null || authorization.isBlank() ? null : auth(x);
        Database.FileRow f = files.find(seg.get(1));
        if (f == null || (caller != null && !Objects.equals(f.keyId(), caller.keyId()))) {
            throw HttpError.detail(404, "File not found");
        }
        x.resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "public, max-age=31536000, immutable");
        x.resp.getHeaders().put(HttpHeader.VARY, "Authorization");
        x.bytes(200, f.contentType(), files.read(f.id()));
    }

    private static JsonNode parseBody(Exchange x) {
        byte[] b = x.body(1 << 20);
        if (b.length == 0) return Json.object();
        try {
            return Json.MAPPER.readTree(b);
        } catch (JsonProcessingException e) {
            throw new HttpError(422, InputError.jsonInvalid(e).body());
        } catch (IOException e) {
            throw HttpError.detail(400, "Could not read the request body: " + e.getMessage());
        }
    }

    /**
     * The error for an upload PUT refused before its body was read: the body is read and dropped first (up to the
     * upload limit), so that the response is not sent while the client is still writing and the keep-alive
     * connection stays usable for its next request; a body over the limit closes the connection instead.
     */
    private HttpError refuseUpload(Exchange x, int status, String message) {
        HttpError e = HttpError.detail(status, message);
        long left = config.maxUploadBytes();
        byte[] buf = new byte[64 * 1024];
        try (java.io.InputStream in = x.bodyStream()) {
            int n;
            while ((n = in.read(buf)) > 0) {
                left -= n;
                if (left < 0) {
                    e.headers.put("Connection", "close");
                    break;
                }
            }
        } catch (IOException io) {
            e.headers.put("Connection", "close");
        }
        return e;
    }

    private static String text(JsonNode body, String field, String dflt) {
        JsonNode v = body.get(field);
        return v != null && v.isTextual() && !v.textValue().isBlank() ? v.textValue() : dflt;
    }
}
