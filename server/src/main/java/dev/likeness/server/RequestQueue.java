package dev.likeness.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The durable request queue: every accepted request is a row in the {@link Database} before it is acknowledged;
 * worker threads take queued requests in order (priority {@code normal} before {@code low}, then submit order),
 * validate and run them through their {@link Endpoint}, and store the result status and body. After a crash, requests
 * that were running are queued again ({@link ServerConfig#maxRestartAttempts()} times, then failed with a reason);
 * synchronous requests whose caller is gone are failed as {@code client_disconnected}.
 *
 * <p>Changes (status, logs) bump a version counter that status streams and synchronous callers wait on.
 *
 * <p>With a shared {@link Store} (many API and worker processes on one PostgreSQL database) nothing is recovered at
 * start, since other processes may be running those requests: each claim carries a lease of {@link ServerConfig#lease()}
 * that a heartbeat renews every third of it, and every process puts back in the queue the requests whose lease ran
 * out (their worker died), failing them after {@link ServerConfig#maxRestartAttempts()} attempts. A worker that finds
 * it lost a lease (it was too slow to renew it) stops that run and writes nothing. Cancellation asked through another
 * process reaches the worker with its next heartbeat; changes made by other processes are seen by polling.
 */
public final class RequestQueue implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(RequestQueue.class.getName());
    private static final DateTimeFormatter TIMESTAMP =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    /** Outcome of a cancel request, as fal's cancel route names it. */
    public enum CancelResult { CANCELLATION_REQUESTED, ALREADY_COMPLETED, NOT_FOUND }

    private final Store db;
    private final FileStore files;
    private final InputFetcher fetcher;
    private final ServerConfig config;
    private final Map<String, Endpoint> endpoints;
    private final Set<String> cancelled = ConcurrentHashMap.newKeySet();
    private final Set<String> running = ConcurrentHashMap.newKeySet();
    private final Set<String> lost = ConcurrentHashMap.newKeySet();
    private final String workerId;
    private java.util.concurrent.ScheduledExecutorService leases;
    private final Object changes = new Object();
    /** The latest step preview of each running request, and how many streams want them (never stored). */
    private final Map<String, Preview> previews = new ConcurrentHashMap<>();
    private final Map<String, java.util.concurrent.atomic.AtomicInteger> previewWatchers = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong previewSeq = new java.util.concurrent.atomic.AtomicLong();
    private final Object work = new Object();
    private final List<Thread> workers = new ArrayList<>();
    private final List<java.util.function.Consumer<Database.RequestRow>> completionListeners =
            new java.util.concurrent.CopyOnWriteArrayList<>();
    private long version;
    private volatile boolean stopping;

    public RequestQueue(Store db, FileStore files, InputFetcher fetcher, ServerConfig config,
                        Map<String, Endpoint> endpoints) {
        this.db = db;
        this.files = files;
        this.fetcher = fetcher;
        this.config = config;
        this.endpoints = Map.copyOf(endpoints);
        this.workerId = config.workerId() != null ? config.workerId()
                : hostName() + "/" + ProcessHandle.current().pid() + "/" + Ids.token(4);
    }

    private static String hostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.io.IOException e) {
            return "localhost";
        }
    }

    /** This process's worker id (kept with the requests it runs, in a shared store). */
    public String workerId() {
        return workerId;
    }

    /** The endpoint with this id, or null. */
    public Endpoint endpoint(String id) {
        return endpoints.get(id);
    }

    /** A step preview: a PNG as a data URI; {@code seq} grows with every new one. */
    public record Preview(long seq, int step, int steps, String image) {}

    /** The latest step preview of a running request, or null. */
    public Preview preview(String id) {
        return previews.get(id);
    }

    /** A status stream that sends previews starts ({@code true}) or stops watching a request. */
    public void watchPreviews(String id, boolean watching) {
        if (watching) {
            previewWatchers.computeIfAbsent(id, k -> new java.util.concurrent.atomic.AtomicInteger()).incrementAndGet();
        } else {
            previewWatchers.computeIfPresent(id, (k, n) -> n.decrementAndGet() <= 0 ? null : n);
        }
    }

    /** The ids of the served endpoints, sorted. */
    public List<String> endpointIds() {
        return endpoints.keySet().stream().sorted().toList();
    }

    /**
     * Adds a listener called once with the final row of every request this queue completes (webhooks, the usage
     * ledger, metrics); register before {@link #start()}. A listener's failure is logged, never propagated.
     */
    public void onCompleted(java.util.function.Consumer<Database.RequestRow> listener) {
        completionListeners.add(listener);
    }

    /** Recovers requests left by a previous run of the server, then starts the workers. */
    public void start() {
        if (db.shared()) {
            leases = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
                    Thread.ofPlatform().name("likeness-leases").daemon(true).factory());
            long every = Math.max(50, config.lease().toMillis() / 3);
            leases.scheduleWithFixedDelay(this::leaseTick, 0, every, java.util.concurrent.TimeUnit.MILLISECONDS);
            // other processes change the store: wake status streams and synchronous callers to look again
            leases.scheduleWithFixedDelay(this::changed, 250, 250, java.util.concurrent.TimeUnit.MILLISECONDS);
        } else {
            recover();
        }
        int threads = config.role() == ServerConfig.Role.API ? 0 : config.workers();
        for (int i = 0; i < threads; i++) {
            Thread t = Thread.ofPlatform().name("likeness-worker-" + i).daemon(true).unstarted(this::workLoop);
            workers.add(t);
            t.start();
        }
    }

    /** Shared store: renews this worker's leases, then puts back the requests of workers whose lease ran out. */
    private void leaseTick() {
        try {
            long now = System.currentTimeMillis();
            if (!running.isEmpty()) {
                Store.Heartbeat hb = db.heartbeat(workerId, List.copyOf(running), now + config.lease().toMillis());
                for (String id : hb.lost()) {
                    if (running.contains(id) && lost.add(id)) {
                        LOG.warning("request " + id + ": lease lost (taken back or completed elsewhere); stopping it");
                        cancelled.add(id);
                    }
                }
                for (String id : hb.cancelRequested()) {
                    if (running.contains(id)) cancelled.add(id);
                }
            }
            for (Database.RequestRow r : db.expiredLeases(now)) {
                if (r.cancelRequested()) {
                    if (db.requeueExpired(r.id(), now)) completeWith(r.id(), EndpointException.cancelled(), now);
                } else if (r.attempts() >= config.maxRestartAttempts()) {
                    if (db.requeueExpired(r.id(), now)) {
                        log(r.id(), "ERROR", "The worker running this request stopped, " + r.attempts() + " times; giving up.");
                        fail(r.id(), 503, "runner_disconnected", "The worker running this request stopped " + r.attempts()
                                + " times; it was not run again.", now);
                    }
                } else if (db.requeueExpired(r.id(), now)) {
                    log(r.id(), "WARN", "The worker running this request stopped answering (its lease ran out); it was queued again.");
                    synchronized (work) {
                        work.notifyAll();
                    }
                }
            }
        } catch (RuntimeException e) {
            if (!stopping) LOG.log(Level.WARNING, "lease heartbeat failed (retrying)", e);
        }
    }

    private void recover() {
        long now = System.currentTimeMillis();
        for (Database.RequestRow r : db.requestsIn("IN_PROGRESS")) {
            if (r.sync()) {
                fail(r.id(), 499, "client_disconnected",
                        "The server restarted while this synchronous request ran; its caller is gone.", now);
            } else if (r.cancelRequested()) {
                completeWith(r.id(), EndpointException.cancelled(), now);
            } else if (r.attempts() >= config.maxRestartAttempts()) {
                log(r.id(), "ERROR", "The server restarted while this request ran, " + r.attempts() + " times; giving up.");
                fail(r.id(), 503, "runner_disconnected", "The server restarted " + r.attempts()
                        + " times while this request ran; it was not run again.", now);
            } else {
                db.requeue(r.id());
                log(r.id(), "WARN", "The server restarted while this request ran; it was queued again.");
            }
        }
        for (Database.RequestRow r : db.requestsIn("IN_QUEUE")) {
            if (r.sync()) {
                fail(r.id(), 499, "client_disconnected",
                        "The server restarted before this synchronous request ran; its caller is gone.", now);
            } else if (r.cancelRequested()) {
                completeWith(r.id(), EndpointException.cancelled(), now);
            }
        }
    }

    /**
     * Accepts a request: written to the database (durably) before this returns.
     *
     * @param priority 0 for {@code normal}, 1 for {@code low}
     * @param sync     a synchronous run whose caller waits on the connection
     * @param baseUrl  base URL of the submitting request, for the URLs of output files
     * @return the new request id
     */
    public String submit(String endpoint, String keyId, String input, int priority, boolean sync, String baseUrl,
                         String webhook) {
        String id = Ids.requestId();
        db.insertRequest(id, endpoint, keyId, input, priority, sync, baseUrl, webhook, System.currentTimeMillis());
        synchronized (work) {
            work.notifyAll();
        }
        changed();
        return id;
    }

    /** A request by id, or null. */
    public Database.RequestRow get(String id) {
        return db.request(id);
    }

    /** Cancels a request: a queued one never runs, a running one is asked to stop. */
    public CancelResult cancel(String id) {
        Database.RequestRow r = db.request(id);
        if (r == null) return CancelResult.NOT_FOUND;
        if (r.completed() || !db.requestCancel(id)) return CancelResult.ALREADY_COMPLETED;
        if (r.status().equals("IN_QUEUE")) {
            log(id, "INFO", "Cancelled by the client before it ran.");
            completeWith(id, EndpointException.cancelled(), System.currentTimeMillis());
            // a worker may have claimed it in between: it re-reads the flag when it starts, and sees this set
            if (running.contains(id)) cancelled.add(id);
        } else {
            cancelled.add(id);
            log(id, "INFO", "Cancellation requested by the client.");
        }
        return CancelResult.CANCELLATION_REQUESTED;
    }

    /** Number of requests ahead of a queued one. */
    public int queuePosition(Database.RequestRow r) {
        return db.queuePosition(r);
    }

    /** Log lines of a request after a sequence number. */
    public List<Database.LogRow> logs(String id, long afterSeq) {
        return db.logs(id, afterSeq);
    }

    // ---- change notification -------------------------------------------------------------------------------

    /** The current change version (bumped on every status change and log line). */
    public long version() {
        synchronized (changes) {
            return version;
        }
    }

    /** Waits until the version passes {@code seen} or the timeout ends; returns whether something changed. */
    public boolean awaitChange(long seen, long timeoutMillis) throws InterruptedException {
        long end = System.currentTimeMillis() + timeoutMillis;
        synchronized (changes) {
            while (version == seen) {
                long left = end - System.currentTimeMillis();
                if (left <= 0) return false;
                changes.wait(left);
            }
            return true;
        }
    }

    /** Waits for a request to complete and returns its final row. */
    public Database.RequestRow awaitCompletion(String id) throws InterruptedException {
        while (true) {
            long v = version();
            Database.RequestRow r = db.request(id);
            if (r == null || r.completed()) return r;
            awaitChange(v, 1000);
        }
    }

    private void changed() {
        synchronized (changes) {
            version++;
            changes.notifyAll();
        }
    }

    private void log(String id, String level, String message) {
        db.addLog(id, System.currentTimeMillis(), level, "USER", message);
        changed();
    }

    // ---- workers -------------------------------------------------------------------------------------------

    private void workLoop() {
        while (!stopping) {
            Database.RequestRow r;
            try {
                long now = System.currentTimeMillis();
                r = db.claimNext(now, config.maxConcurrentPerKey(), workerId, now + config.lease().toMillis());
            } catch (RuntimeException e) {
                if (stopping) return;
                LOG.log(Level.SEVERE, "cannot take the next request", e);
                sleep(1000);
                continue;
            }
            if (r == null) {
                synchronized (work) {
                    try {
                        work.wait(500);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                continue;
            }
            changed();
            execute(r);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void execute(Database.RequestRow r) {
        running.add(r.id());
        try {
            if (db.shared()) log(r.id(), "INFO", "Running on worker " + workerId + " (attempt " + r.attempts() + ").");
            Endpoint ep = endpoints.get(r.endpoint());
            if (ep == null) {
                finishRun(r.id(), failure(404, "bad_request", "Endpoint '" + r.endpoint() + "' is not served here."));
                return;
            }
            Database.RequestRow now = db.request(r.id());
            if (now.cancelRequested() || now.completed() || cancelled.contains(r.id())) throw EndpointException.cancelled();
            JsonNode input;
            try {
                input = Json.parse(r.input());
            } catch (JsonProcessingException e) {
                throw EndpointException.of(InputError.jsonInvalid(e));
            }
            JsonNode valid;
            try {
                valid = ep.validate(input);
            } catch (InputError e) {
                throw EndpointException.of(e);
            }
            Context ctx = new Context(r);
            JsonNode out = ep.run(valid, ctx);
            if (lost.contains(r.id())) return;   // another worker has it now: its result wins
            if (db.completeRun(r.id(), workerId, 200, Json.write(out), null, null, System.currentTimeMillis())) {
                completed(r.id());
            }
        } catch (EndpointException e) {
            if (lost.contains(r.id())) return;
            if (stopping && "client_cancelled".equals(e.errorType()) && !cancelled.contains(r.id())) {
                requeueOnStop(r);
                return;
            }
            if (e.status() >= 500) log(r.id(), "ERROR", e.getMessage());
            finishRun(r.id(), e);
        } catch (Throwable t) {
            if (lost.contains(r.id())) return;
            if (stopping) {
                requeueOnStop(r);
                return;
            }
            LOG.log(Level.SEVERE, "request " + r.id() + " failed", t);
            log(r.id(), "ERROR", "Internal error: " + t);
            finishRun(r.id(), failure(500, "runner_server_error", "Internal Server Error"));
        } finally {
            running.remove(r.id());
            cancelled.remove(r.id());
            lost.remove(r.id());
            previews.remove(r.id());
        }
    }

    private void requeueOnStop(Database.RequestRow r) {
        try {
            if (db.requeue(r.id())) log(r.id(), "WARN", "The server is shutting down; the request was queued again.");
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "cannot requeue " + r.id() + " on shutdown; it will be requeued at start", e);
        }
    }

    /** Ends a run this worker holds (see {@link Store#completeRun}). */
    private void finishRun(String id, EndpointException e) {
        if (db.completeRun(id, workerId, e.status(), Json.write(e.body()), e.getMessage(), e.errorType(),
                System.currentTimeMillis())) {
            completed(id);
        }
    }

    private static EndpointException failure(int status, String errorType, String message) {
        return new EndpointException(status, errorType, message, Json.detail(message, errorType));
    }

    private void completeWith(String id, EndpointException e, long now) {
        if (db.complete(id, e.status(), Json.write(e.body()), e.getMessage(), e.errorType(), now)) completed(id);
    }

    private void completed(String id) {
        // the listeners (ledger, metrics, webhook rows; all local and quick) first, so a caller woken by the change
        // (a synchronous run answering its result) finds them already counted
        if (!completionListeners.isEmpty()) {
            Database.RequestRow row = db.request(id);
            for (var l : completionListeners) {
                try {
                    l.accept(row);
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "completion listener failed for request " + id, e);
                }
            }
        }
        changed();
        synchronized (work) {
            work.notifyAll();  // a key under its concurrency limit again may have queued work
        }
    }

    private void fail(String id, int status, String errorType, String message, long now) {
        completeWith(id, new EndpointException(status, errorType, message, Json.detail(message, errorType)), now);
    }

    /** Stops the workers; running requests are asked to stop and queued again for the next start. */
    @Override
    public void close() {
        stopping = true;
        synchronized (work) {
            work.notifyAll();
        }
        for (Thread t : workers) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Thread t : workers) {
            if (t.isAlive()) t.interrupt();
        }
        if (leases != null) leases.shutdownNow();
        for (String id : running) {
            if (!lost.contains(id)) db.requeue(id);   // a lost one is another worker's now
        }
        changed();
    }

    // ---- status JSON ---------------------------------------------------------------------------------------

    /**
     * fal's status object: {@code status}, {@code request_id}, the three URLs, and {@code queue_position}
     * (IN_QUEUE) or {@code logs} and {@code metrics} (IN_PROGRESS, COMPLETED), plus {@code error}/{@code error_type}
     * on failure.
     *
     * @param queueBase base of the queue routes, e.g. {@code http://host/queue}
     * @param logs      the log lines to include, or null to send {@code "logs": null}
     */
    public ObjectNode statusJson(Database.RequestRow r, String queueBase, List<Database.LogRow> logs) {
        ObjectNode o = Json.object();
        o.put("status", r.status());
        o.put("request_id", r.id());
        String responseUrl = queueBase + "/" + appPrefix(r.endpoint()) + "/requests/" + r.id();
        o.put("response_url", responseUrl);
        o.put("status_url", responseUrl + "/status");
        o.put("cancel_url", responseUrl + "/cancel");
        if (r.status().equals("IN_QUEUE")) o.put("queue_position", db.queuePosition(r));
        if (logs == null) o.putNull("logs");
        else o.set("logs", logsJson(logs));
        ObjectNode metrics = o.putObject("metrics");
        if (r.completed()) {
            if (r.startedAt() != null && r.completedAt() != null) {
                metrics.put("inference_time", (r.completedAt() - r.startedAt()) / 1000.0);
            }
            if (r.error() != null) {
                o.put("error", r.error());
                o.put("error_type", r.errorType());
            }
        }
        return o;
    }

    /**
     * The submit answer: always {@code IN_QUEUE} (fal-java reads it as {@code InQueue}), even when a worker has
     * already taken the request, with {@code queue_position}, the URLs, {@code logs: null} and
     * {@code gateway_request_id}.
     */
    public ObjectNode submitJson(Database.RequestRow r, String queueBase) {
        ObjectNode o = Json.object();
        o.put("status", "IN_QUEUE");
        o.put("request_id", r.id());
        String responseUrl = queueBase + "/" + appPrefix(r.endpoint()) + "/requests/" + r.id();
        o.put("response_url", responseUrl);
        o.put("status_url", responseUrl + "/status");
        o.put("cancel_url", responseUrl + "/cancel");
        o.put("queue_position", r.status().equals("IN_QUEUE") ? db.queuePosition(r) : 0);
        o.putNull("logs");
        o.putObject("metrics");
        o.put("gateway_request_id", r.id());
        return o;
    }

    /** Log lines in the union of the shapes the clients read: top-level level/source and {@code labels}. */
    public static ArrayNode logsJson(List<Database.LogRow> logs) {
        ArrayNode a = Json.array();
        for (Database.LogRow l : logs) {
            ObjectNode o = a.addObject();
            o.put("message", l.message());
            o.put("level", l.level());
            o.put("source", l.source());
            o.put("timestamp", TIMESTAMP.format(Instant.ofEpochMilli(l.ts())));
            o.putObject("labels").put("level", l.level()).put("source", l.source());
        }
        return a;
    }

    /** {@code owner/app} of an endpoint id ({@code fal-ai/ideogram/character} → {@code fal-ai/ideogram}). */
    public static String appPrefix(String endpointId) {
        String[] parts = endpointId.split("/");
        return parts.length <= 2 ? endpointId : parts[0] + "/" + parts[1];
    }

    // ---- run context ---------------------------------------------------------------------------------------

    private final class Context implements RunContext {
        private final Database.RequestRow row;

        Context(Database.RequestRow row) {
            this.row = row;
        }

        @Override
        public String requestId() {
            return row.id();
        }

        @Override
        public void log(Level level, String message) {
            RequestQueue.this.log(row.id(), level.name(), message);
        }

        @Override
        public void progress(String phase, int step, int total) {
            log(Level.INFO, phase + " " + step + "/" + total);
            checkCancelled();
        }

        @Override
        public boolean cancelled() {
            return stopping || cancelled.contains(row.id());
        }

        @Override
        public boolean previewsWanted() {
            return previewWatchers.containsKey(row.id());
        }

        @Override
        public void preview(int step, int steps, byte[] png) {
            previews.put(row.id(), new Preview(previewSeq.incrementAndGet(), step, steps,
                    "data:image/png;base64," + java.util.Base64.getEncoder().encodeToString(png)));
            changed();
        }

        @Override
        public byte[] readInputFile(String field, String url) {
            return fetcher.read(field, url, row.baseUrl(), row.keyId());
        }

        @Override
        public ObjectNode storeImage(byte[] data, String contentType, int width, int height, boolean inline) {
            ObjectNode f = storeFile(data, contentType, null, inline);
            f.put("width", width);
            f.put("height", height);
            return f;
        }

        @Override
        public ObjectNode storeFile(byte[] data, String contentType, String fileName, boolean inline) {
            if (inline) return FileStore.inline(data, contentType, fileName);
            String base = config.publicUrl() != null ? config.publicUrl() : row.baseUrl();
            return files.store(data, contentType, fileName, row.keyId(), base);
        }
    }
}
