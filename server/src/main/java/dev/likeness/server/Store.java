package dev.likeness.server;

import dev.likeness.server.Database.FileRow;
import dev.likeness.server.Database.KeyRow;
import dev.likeness.server.Database.LogRow;
import dev.likeness.server.Database.RequestRow;
import dev.likeness.server.Database.Swept;
import dev.likeness.server.Database.UsageRow;
import dev.likeness.server.Database.WebhookRow;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * The server's durable state: requests and their queue, logs, API keys, the usage ledger, webhook deliveries, file
 * metadata and upload tokens. Two implementations share every code path above this interface: the embedded
 * {@link Database} (one SQLite file, one process) and {@link PostgresDatabase} (one PostgreSQL database shared by
 * any number of API and worker processes, {@link #shared()}). Times are epoch milliseconds.
 *
 * <p>Leases: in a shared store a worker claims a request with a lease ({@link #claimNext(long, int, String, long)}),
 * renews it while it runs ({@link #heartbeat}), and any process puts back a request whose lease ran out
 * ({@link #expiredLeases}, {@link #requeueExpired}) — its worker died. The embedded store has one process, so a
 * restart recovers what ran instead, and the lease arguments are ignored.
 */
public interface Store extends AutoCloseable {

    /** Whether other processes use the same store (then leases, not a restart, recover a dead worker's requests). */
    default boolean shared() {
        return false;
    }

    @Override
    void close();

    // ---- requests
    /** Inserts a new {@code IN_QUEUE} request (committed before returning). */
    void insertRequest(String id, String endpoint, String keyId, String input, int priority, boolean sync,
                       String baseUrl, String webhook, long now);
    /** A request by id, or null. */
    RequestRow request(String id);
    /** Takes the next queued request with no per-key limit, see {@link #claimNext(long, int, String, long)}. */
    default RequestRow claimNext(long now) {
        return claimNext(now, 0);
    }
    /** Takes the next queued request with no lease, see {@link #claimNext(long, int, String, long)}. */
    default RequestRow claimNext(long now, int perKeyLimit) {
        return claimNext(now, perKeyLimit, null, 0);
    }
    /**
     * Takes the next queued request (lowest priority value first, then submit order) whose key has fewer than
     * {@code perKeyLimit} requests running (0 = no limit), marks it {@code IN_PROGRESS} for {@code worker} until
     * {@code leaseUntil} and returns it; null when none can be taken. Two callers never get the same request.
     */
    RequestRow claimNext(long now, int perKeyLimit, String worker, long leaseUntil);
    /** What a {@link #heartbeat} found: requests the worker no longer holds, and requests whose cancel was asked. */
    record Heartbeat(Set<String> lost, Set<String> cancelRequested) {}
    /**
     * Extends the leases of {@code worker}'s running requests to {@code leaseUntil}; reports those it no longer holds
     * (reclaimed after its lease ran out, or completed elsewhere) and those whose cancellation was asked.
     */
    Heartbeat heartbeat(String worker, Collection<String> ids, long leaseUntil);
    /** {@code IN_PROGRESS} requests whose lease ended before {@code now} (their worker is gone). */
    List<RequestRow> expiredLeases(long now);
    /** Puts back in the queue a request whose lease still is expired at {@code now}; whether this call did it. */
    boolean requeueExpired(String id, long now);
    /** Number of queued requests that will run before this one. */
    int queuePosition(RequestRow r);
    /** Number of requests of a key (null: the open-mode caller) in a status. */
    int countFor(String keyId, String status);
    /** Number of requests in a status. */
    int count(String status);
    /** Number of queued requests. */
    int queueLength();
    /** Marks a request {@code COMPLETED} unless it already is; whether this call completed it. */
    boolean complete(String id, int resultStatus, String resultBody, String error, String errorType, long now);
    /**
     * Completes a request as its run ends: like {@link #complete}, and in a shared store only while {@code worker}
     * still holds it (a worker that lost its lease never overwrites the run that took over).
     */
    default boolean completeRun(String id, String worker, int resultStatus, String resultBody, String error,
                                String errorType, long now) {
        return complete(id, resultStatus, resultBody, error, errorType, now);
    }
    /** Sets the cancel flag of a request that is not completed; whether it was set. */
    boolean requestCancel(String id);
    /** Puts an {@code IN_PROGRESS} request back in the queue, keeping its place; whether it was running. */
    boolean requeue(String id);
    /** Requests in a given status, in submit order. */
    List<RequestRow> requestsIn(String status);

    // ---- logs
    /** Appends a log line to a request. */
    void addLog(String requestId, long ts, String level, String source, String message);
    /** Log lines of a request after a sequence number. */
    List<LogRow> logs(String requestId, long afterSeq);

    // ---- keys
    /** Stores a new API key (its secret's SHA-256 only). */
    void insertKey(String id, String secretSha256, long now);
    /** The SHA-256 of an active key's secret, or null. */
    String keySecretHash(String id);
    /** Revokes a key; whether it was active. */
    boolean revokeKey(String id, long now);
    /** Every key, oldest first. */
    List<KeyRow> keys();
    /** Number of active keys. */
    int activeKeyCount();

    // ---- usage ledger
    /** Records a request's cost once (a second call for the same request is ignored). */
    void insertUsage(UsageRow u);
    /** Ledger lines of a key (null: the open-mode caller) completed in {@code [from, to)}, oldest first. */
    List<UsageRow> usage(String keyId, long from, long to);
    /** Successful completions with no ledger line. */
    List<RequestRow> completedWithoutUsage();

    // ---- retention
    /** Deletes what completed or was created before {@code cutoff}; see {@link Database#sweep}. */
    Swept sweep(long cutoff, long now);

    // ---- webhooks
    /** Queues a webhook delivery, due at once. */
    void insertWebhook(String requestId, String url, String userId, String body, long now);
    /** Completed requests with a webhook but no delivery row. */
    List<RequestRow> completedWithoutWebhook();
    /** Pending deliveries due at {@code now}, oldest first (a shared store hands each to one caller at a time). */
    List<WebhookRow> dueWebhooks(long now, int limit);
    /** Deliveries of one request. */
    List<WebhookRow> webhooksOf(String requestId);
    /** When the next pending delivery is due, or null. */
    Long nextWebhookAt();
    /** Records one delivery attempt. */
    void webhookAttempt(long seq, boolean delivered, boolean failed, long nextAt, String error, long now);

    // ---- files
    /** Records a file (complete = its bytes are stored). */
    void upsertFile(FileRow f, long now);
    /** A file's metadata, or null. */
    FileRow file(String id);
    /** Stores an upload token; {@code fileId} null for a storage token. */
    void insertUploadToken(String token, String fileId, String keyId, long expiresAt);
    /** An unexpired upload token: {@code {fileId, keyId}}, or null. */
    String[] uploadToken(String token, long now);
    /** Deletes an upload token. */
    void deleteUploadToken(String token);
}
