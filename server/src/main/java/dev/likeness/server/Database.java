package dev.likeness.server;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * The server's durable state in one SQLite file ({@code likeness.db} in the data directory): requests with their
 * logs and results, API keys, stored files and upload tokens. One connection, used under this object's lock;
 * WAL journal with {@code synchronous=FULL}, so a request is on disk before its submit is acknowledged.
 */
public final class Database implements Store {

    /** One row of {@code requests}. Times are epoch milliseconds (null when not reached). */
    public record RequestRow(long seq, String id, String endpoint, String keyId, String input, String status,
                             int priority, boolean sync, String baseUrl, String webhook, boolean cancelRequested,
                             int attempts, long createdAt, Long startedAt, Long completedAt, Integer resultStatus,
                             String resultBody, String error, String errorType) {
        /** Whether the request has finished (successfully or not). */
        public boolean completed() {
            return "COMPLETED".equals(status);
        }
    }

    /** One log line of a request. */
    public record LogRow(long seq, long ts, String level, String source, String message) {}

    /** Metadata of a stored file. */
    public record FileRow(String id, String name, String contentType, long size, String keyId, boolean complete) {}

    private final Connection conn;

    /** Opens (creating when needed) {@code likeness.db} in a data directory. */
    public Database(Path dataDir) {
        try {
            Files.createDirectories(dataDir);
            conn = DriverManager.getConnection("jdbc:sqlite:" + dataDir.resolve("likeness.db").toAbsolutePath());
            try (Statement s = conn.createStatement()) {
                s.execute("PRAGMA journal_mode=WAL");
                s.execute("PRAGMA synchronous=FULL");
                s.execute("PRAGMA busy_timeout=10000");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS requests(
                          seq INTEGER PRIMARY KEY AUTOINCREMENT,
                          id TEXT NOT NULL UNIQUE,
                          endpoint TEXT NOT NULL,
                          key_id TEXT,
                          input TEXT NOT NULL,
                          status TEXT NOT NULL,
                          priority INTEGER NOT NULL,
                          sync INTEGER NOT NULL,
                          base_url TEXT NOT NULL,
                          webhook TEXT,
                          cancel_requested INTEGER NOT NULL DEFAULT 0,
                          attempts INTEGER NOT NULL DEFAULT 0,
                          created_at INTEGER NOT NULL,
                          started_at INTEGER,
                          completed_at INTEGER,
                          result_status INTEGER,
                          result_body TEXT,
                          error TEXT,
                          error_type TEXT)""");
                s.execute("CREATE INDEX IF NOT EXISTS requests_queue ON requests(status, priority, seq)");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS logs(
                          seq INTEGER PRIMARY KEY AUTOINCREMENT,
                          request_id TEXT NOT NULL,
                          ts INTEGER NOT NULL,
                          level TEXT NOT NULL,
                          source TEXT NOT NULL,
                          message TEXT NOT NULL)""");
                s.execute("CREATE INDEX IF NOT EXISTS logs_request ON logs(request_id, seq)");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS api_keys(
                          id TEXT PRIMARY KEY,
                          secret_sha256 TEXT NOT NULL,
                          created_at INTEGER NOT NULL,
                          revoked_at INTEGER)""");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS files(
                          id TEXT PRIMARY KEY,
                          name TEXT NOT NULL,
                          content_type TEXT NOT NULL,
                          size INTEGER NOT NULL,
                          key_id TEXT,
                          complete INTEGER NOT NULL,
                          created_at INTEGER NOT NULL)""");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS usage(
                          request_id TEXT PRIMARY KEY,
                          key_id TEXT,
                          endpoint TEXT NOT NULL,
                          unit TEXT NOT NULL,
                          quantity REAL NOT NULL,
                          unit_price_micros INTEGER NOT NULL,
                          cost_micros INTEGER NOT NULL,
                          completed_at INTEGER NOT NULL)""");
                s.execute("CREATE INDEX IF NOT EXISTS usage_key ON usage(key_id, completed_at)");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS webhooks(
                          seq INTEGER PRIMARY KEY AUTOINCREMENT,
                          request_id TEXT NOT NULL,
                          url TEXT NOT NULL,
                          user_id TEXT NOT NULL,
                          body TEXT NOT NULL,
                          attempts INTEGER NOT NULL DEFAULT 0,
                          next_at INTEGER NOT NULL,
                          delivered_at INTEGER,
                          failed_at INTEGER,
                          last_error TEXT)""");
                s.execute("CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks(delivered_at, failed_at, next_at)");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS upload_tokens(
                          token TEXT PRIMARY KEY,
                          file_id TEXT,
                          key_id TEXT,
                          expires_at INTEGER NOT NULL)""");
            }
        } catch (Exception e) {
            throw new IllegalStateException("cannot open the database " + dataDir.resolve("likeness.db") + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            conn.close();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot close the database", e);
        }
    }

    private static RuntimeException fail(String what, SQLException e) {
        return new IllegalStateException("database: " + what + " failed: " + e.getMessage(), e);
    }

    // ---- requests ------------------------------------------------------------------------------------------

    /** Inserts a new {@code IN_QUEUE} request (committed before returning). */
    public synchronized void insertRequest(String id, String endpoint, String keyId, String input, int priority,
                                           boolean sync, String baseUrl, String webhook, long now) {
        try (PreparedStatement p = conn.prepareStatement("""
                INSERT INTO requests(id, endpoint, key_id, input, status, priority, sync, base_url, webhook, created_at)
                VALUES (?, ?, ?, ?, 'IN_QUEUE', ?, ?, ?, ?, ?)""")) {
            p.setString(1, id);
            p.setString(2, endpoint);
            p.setString(3, keyId);
            p.setString(4, input);
            p.setInt(5, priority);
            p.setInt(6, sync ? 1 : 0);
            p.setString(7, baseUrl);
            p.setString(8, webhook);
            p.setLong(9, now);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail("insert request " + id, e);
        }
    }

    /** A request by id, or null. */
    public synchronized RequestRow request(String id) {
        try (PreparedStatement p = conn.prepareStatement("SELECT * FROM requests WHERE id = ?")) {
            p.setString(1, id);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next() ? row(rs) : null;
            }
        } catch (SQLException e) {
            throw fail("read request " + id, e);
        }
    }

    /** {@inheritDoc} The embedded store has one process: {@code worker} and {@code leaseUntil} are not kept. */
    @Override
    public synchronized RequestRow claimNext(long now, int perKeyLimit, String worker, long leaseUntil) {
        try (PreparedStatement p = conn.prepareStatement("""
                UPDATE requests SET status = 'IN_PROGRESS', started_at = ?, attempts = attempts + 1
                WHERE seq = (SELECT seq FROM requests q WHERE status = 'IN_QUEUE'
                  AND (? = 0 OR (SELECT COUNT(*) FROM requests r WHERE r.status = 'IN_PROGRESS' AND r.key_id IS q.key_id) < ?)
                  ORDER BY priority, seq LIMIT 1)
                RETURNING *""")) {
            p.setLong(1, now);
            p.setInt(2, perKeyLimit);
            p.setInt(3, perKeyLimit);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next() ? row(rs) : null;
            }
        } catch (SQLException e) {
            throw fail("claim next request", e);
        }
    }

    /** {@inheritDoc} One process: requests are held until they end, so none is ever lost. */
    @Override
    public synchronized Heartbeat heartbeat(String worker, java.util.Collection<String> ids, long leaseUntil) {
        return new Heartbeat(java.util.Set.of(), java.util.Set.of());
    }

    /** {@inheritDoc} One process: a restart, not a lease, recovers what was running (none expire). */
    @Override
    public List<RequestRow> expiredLeases(long now) {
        return List.of();
    }

    @Override
    public boolean requeueExpired(String id, long now) {
        return false;
    }

    /** Number of queued requests that will run before this one. */
    public synchronized int queuePosition(RequestRow r) {
        try (PreparedStatement p = conn.prepareStatement("""
                SELECT COUNT(*) FROM requests WHERE status = 'IN_QUEUE'
                AND (priority < ? OR (priority = ? AND seq < ?))""")) {
            p.setInt(1, r.priority());
            p.setInt(2, r.priority());
            p.setLong(3, r.seq());
            try (ResultSet rs = p.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        } catch (SQLException e) {
            throw fail("queue position of " + r.id(), e);
        }
    }

    /** Number of requests of a key (null: the open-mode caller) in a status. */
    public synchronized int countFor(String keyId, String status) {
        try (PreparedStatement p = conn.prepareStatement(
                "SELECT COUNT(*) FROM requests WHERE status = ? AND key_id IS ?")) {
            p.setString(1, status);
            p.setString(2, keyId);
            try (ResultSet rs = p.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        } catch (SQLException e) {
            throw fail("count requests of a key", e);
        }
    }

    /** Number of requests in a status. */
    public synchronized int count(String status) {
        try (PreparedStatement p = conn.prepareStatement("SELECT COUNT(*) FROM requests WHERE status = ?")) {
            p.setString(1, status);
            try (ResultSet rs = p.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        } catch (SQLException e) {
            throw fail("count requests", e);
        }
    }

    /** Number of queued requests. */
    public synchronized int queueLength() {
        try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery(
                "SELECT COUNT(*) FROM requests WHERE status = 'IN_QUEUE'")) {
            rs.next();
            return rs.getInt(1);
        } catch (SQLException e) {
            throw fail("queue length", e);
        }
    }

    /**
     * Marks a request {@code COMPLETED} with its result status and body (and error fields on failure), unless it
     * already is; returns whether this call completed it.
     */
    public synchronized boolean complete(String id, int resultStatus, String resultBody, String error,
                                         String errorType, long now) {
        try (PreparedStatement p = conn.prepareStatement("""
                UPDATE requests SET status = 'COMPLETED', completed_at = ?, result_status = ?, result_body = ?,
                error = ?, error_type = ? WHERE id = ? AND status <> 'COMPLETED'""")) {
            p.setLong(1, now);
            p.setInt(2, resultStatus);
            p.setString(3, resultBody);
            p.setString(4, error);
            p.setString(5, errorType);
            p.setString(6, id);
            return p.executeUpdate() == 1;
        } catch (SQLException e) {
            throw fail("complete request " + id, e);
        }
    }

    /** Sets the cancel flag of a request that is not completed; returns whether it was set. */
    public synchronized boolean requestCancel(String id) {
        try (PreparedStatement p = conn.prepareStatement(
                "UPDATE requests SET cancel_requested = 1 WHERE id = ? AND status <> 'COMPLETED'")) {
            p.setString(1, id);
            return p.executeUpdate() == 1;
        } catch (SQLException e) {
            throw fail("cancel request " + id, e);
        }
    }

    /** Puts an {@code IN_PROGRESS} request back in the queue, keeping its place; returns whether it was running. */
    public synchronized boolean requeue(String id) {
        try (PreparedStatement p = conn.prepareStatement(
                "UPDATE requests SET status = 'IN_QUEUE', started_at = NULL WHERE id = ? AND status = 'IN_PROGRESS'")) {
            p.setString(1, id);
            return p.executeUpdate() == 1;
        } catch (SQLException e) {
            throw fail("requeue request " + id, e);
        }
    }

    /** Requests in a given status, in submit order. */
    public synchronized List<RequestRow> requestsIn(String status) {
        try (PreparedStatement p = conn.prepareStatement("SELECT * FROM requests WHERE status = ? ORDER BY seq")) {
            p.setString(1, status);
            try (ResultSet rs = p.executeQuery()) {
                List<RequestRow> out = new ArrayList<>();
                while (rs.next()) out.add(row(rs));
                return out;
            }
        } catch (SQLException e) {
            throw fail("list requests in " + status, e);
        }
    }

    private static RequestRow row(ResultSet rs) throws SQLException {
        return new RequestRow(rs.getLong("seq"), rs.getString("id"), rs.getString("endpoint"), rs.getString("key_id"),
                rs.getString("input"), rs.getString("status"), rs.getInt("priority"), rs.getInt("sync") != 0,
                rs.getString("base_url"), rs.getString("webhook"), rs.getInt("cancel_requested") != 0,
                rs.getInt("attempts"), rs.getLong("created_at"), nullableLong(rs, "started_at"),
                nullableLong(rs, "completed_at"), (Integer) rs.getObject("result_status"), rs.getString("result_body"),
                rs.getString("error"), rs.getString("error_type"));
    }

    private static Long nullableLong(ResultSet rs, String col) throws SQLException {
        long v = rs.getLong(col);
        return rs.wasNull() ? null : v;
    }

    // ---- logs ----------------------------------------------------------------------------------------------

    /** Appends a log line to a request. */
    public synchronized void addLog(String requestId, long ts, String level, String source, String message) {
        try (PreparedStatement p = conn.prepareStatement(
                "INSERT INTO logs(request_id, ts, level, source, message) VALUES (?, ?, ?, ?, ?)")) {
            p.setString(1, requestId);
            p.setLong(2, ts);
            p.setString(3, level);
            p.setString(4, source);
            p.setString(5, message);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail("add log to " + requestId, e);
        }
    }

    /** Log lines of a request with {@code seq > afterSeq}, oldest first. */
    public synchronized List<LogRow> logs(String requestId, long afterSeq) {
        try (PreparedStatement p = conn.prepareStatement(
                "SELECT seq, ts, level, source, message FROM logs WHERE request_id = ? AND seq > ? ORDER BY seq")) {
            p.setString(1, requestId);
            p.setLong(2, afterSeq);
            try (ResultSet rs = p.executeQuery()) {
                List<LogRow> out = new ArrayList<>();
                while (rs.next()) {
                    out.add(new LogRow(rs.getLong(1), rs.getLong(2), rs.getString(3), rs.getString(4), rs.getString(5)));
                }
                return out;
            }
        } catch (SQLException e) {
            throw fail("read logs of " + requestId, e);
        }
    }

    // ---- API keys ------------------------------------------------------------------------------------------

    /** Stores a key id with the SHA-256 (hex) of its secret. */
    public synchronized void insertKey(String id, String secretSha256, long now) {
        try (PreparedStatement p = conn.prepareStatement(
                "INSERT INTO api_keys(id, secret_sha256, created_at) VALUES (?, ?, ?)")) {
            p.setString(1, id);
            p.setString(2, secretSha256);
            p.setLong(3, now);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail("insert key " + id, e);
        }
    }

    /** The secret hash of an active (not revoked) key, or null. */
    public synchronized String keySecretHash(String id) {
        try (PreparedStatement p = conn.prepareStatement(
                "SELECT secret_sha256 FROM api_keys WHERE id = ? AND revoked_at IS NULL")) {
            p.setString(1, id);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        } catch (SQLException e) {
            throw fail("read key " + id, e);
        }
    }

    /** Revokes a key; returns whether it existed and was active. */
    public synchronized boolean revokeKey(String id, long now) {
        try (PreparedStatement p = conn.prepareStatement(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")) {
            p.setLong(1, now);
            p.setString(2, id);
            return p.executeUpdate() == 1;
        } catch (SQLException e) {
            throw fail("revoke key " + id, e);
        }
    }

    /** One API key's public record (never its secret). */
    public record KeyRow(String id, long createdAt, Long revokedAt) {}

    /** Every key, active and revoked, oldest first. */
    public synchronized List<KeyRow> keys() {
        try (Statement s = conn.createStatement();
             ResultSet rs = s.executeQuery("SELECT id, created_at, revoked_at FROM api_keys ORDER BY created_at, id")) {
            List<KeyRow> out = new ArrayList<>();
            while (rs.next()) out.add(new KeyRow(rs.getString(1), rs.getLong(2), nullableLong(rs, "revoked_at")));
            return out;
        } catch (SQLException e) {
            throw fail("list keys", e);
        }
    }

    /** Number of active keys. */
    public synchronized int activeKeyCount() {
        try (Statement s = conn.createStatement();
             ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL")) {
            rs.next();
            return rs.getInt(1);
        } catch (SQLException e) {
            throw fail("count keys", e);
        }
    }

    // ---- usage ledger --------------------------------------------------------------------------------------

    /** One ledger line: what a completed request cost. Money in millionths of a dollar. */
    public record UsageRow(String requestId, String keyId, String endpoint, String unit, double quantity,
                           long unitPriceMicros, long costMicros, long completedAt) {}

    /** Records a request's cost once (a second call for the same request is ignored). */
    public synchronized void insertUsage(UsageRow u) {
        try (PreparedStatement p = conn.prepareStatement("""
                INSERT OR IGNORE INTO usage(request_id, key_id, endpoint, unit, quantity, unit_price_micros, cost_micros,
                completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""")) {
            p.setString(1, u.requestId());
            p.setString(2, u.keyId());
            p.setString(3, u.endpoint());
            p.setString(4, u.unit());
            p.setDouble(5, u.quantity());
            p.setLong(6, u.unitPriceMicros());
            p.setLong(7, u.costMicros());
            p.setLong(8, u.completedAt());
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail("record usage of " + u.requestId(), e);
        }
    }

    /** Ledger lines of a key (null: the open-mode caller) completed in {@code [from, to)}, oldest first. */
    public synchronized List<UsageRow> usage(String keyId, long from, long to) {
        try (PreparedStatement p = conn.prepareStatement("""
                SELECT * FROM usage WHERE key_id IS ? AND completed_at >= ? AND completed_at < ?
                ORDER BY completed_at, request_id""")) {
            p.setString(1, keyId);
            p.setLong(2, from);
            p.setLong(3, to);
            try (ResultSet rs = p.executeQuery()) {
                List<UsageRow> out = new ArrayList<>();
                while (rs.next()) {
                    out.add(new UsageRow(rs.getString("request_id"), rs.getString("key_id"), rs.getString("endpoint"),
                            rs.getString("unit"), rs.getDouble("quantity"), rs.getLong("unit_price_micros"),
                            rs.getLong("cost_micros"), rs.getLong("completed_at")));
                }
                return out;
            }
        } catch (SQLException e) {
            throw fail("read usage", e);
        }
    }

    /** Successful completions with no ledger line (the server stopped between the two writes). */
    public synchronized List<RequestRow> completedWithoutUsage() {
        try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("""
                SELECT * FROM requests r WHERE status = 'COMPLETED' AND result_status = 200
                AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.request_id = r.id) ORDER BY seq""")) {
            List<RequestRow> out = new ArrayList<>();
            while (rs.next()) out.add(row(rs));
            return out;
        } catch (SQLException e) {
            throw fail("list completions without usage", e);
        }
    }

    // ---- retention -----------------------------------------------------------------------------------------

    /**
     * Deletes requests completed before {@code cutoff} with their logs and finished webhook deliveries, files
     * created before it, and expired upload tokens; returns the ids of the deleted files (their bytes are removed by
     * the caller) and the number of deleted requests. The usage ledger is kept.
     */
    public synchronized Swept sweep(long cutoff, long now) {
        try {
            conn.setAutoCommit(false);
            try {
                List<String> files = new ArrayList<>();
                try (PreparedStatement p = conn.prepareStatement("SELECT id FROM files WHERE created_at < ?")) {
                    p.setLong(1, cutoff);
                    try (ResultSet rs = p.executeQuery()) {
                        while (rs.next()) files.add(rs.getString(1));
                    }
                }
                int requests;
                try (PreparedStatement p = conn.prepareStatement("""
                        DELETE FROM logs WHERE request_id IN
                        (SELECT id FROM requests WHERE status = 'COMPLETED' AND completed_at < ?)""")) {
                    p.setLong(1, cutoff);
                    p.executeUpdate();
                }
                try (PreparedStatement p = conn.prepareStatement("""
                        DELETE FROM webhooks WHERE (delivered_at IS NOT NULL OR failed_at IS NOT NULL) AND request_id IN
                        (SELECT id FROM requests WHERE status = 'COMPLETED' AND completed_at < ?)""")) {
                    p.setLong(1, cutoff);
                    p.executeUpdate();
                }
                try (PreparedStatement p = conn.prepareStatement(
                        "DELETE FROM requests WHERE status = 'COMPLETED' AND completed_at < ?")) {
                    p.setLong(1, cutoff);
                    requests = p.executeUpdate();
                }
                try (PreparedStatement p = conn.prepareStatement("DELETE FROM files WHERE created_at < ?")) {
                    p.setLong(1, cutoff);
                    p.executeUpdate();
                }
                try (PreparedStatement p = conn.prepareStatement("DELETE FROM upload_tokens WHERE expires_at < ?")) {
                    p.setLong(1, now);
                    p.executeUpdate();
                }
                conn.commit();
                return new Swept(requests, files);
            } catch (SQLException e) {
                conn.rollback();
                throw e;
            } finally {
                conn.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw fail("retention sweep", e);
        }
    }

    /** What a sweep deleted. */
    public record Swept(int requests, List<String> fileIds) {}

    // ---- webhooks ------------------------------------------------------------------------------------------

    /** A webhook delivery: the payload is fixed when the request completes; attempts and the next try persist. */
    public record WebhookRow(long seq, String requestId, String url, String userId, String body, int attempts,
                             long nextAt, Long deliveredAt, Long failedAt, String lastError) {}

    /** Queues a webhook delivery, due at once. */
    public synchronized void insertWebhook(String requestId, String url, String userId, String body, long now) {
        try (PreparedStatement p = conn.prepareStatement(
                "INSERT INTO webhooks(request_id, url, user_id, body, next_at) VALUES (?, ?, ?, ?, ?)")) {
            p.setString(1, requestId);
            p.setString(2, url);
            p.setString(3, userId);
            p.setString(4, body);
            p.setLong(5, now);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail("queue webhook of " + requestId, e);
        }
    }

    /** Completed requests with a webhook but no delivery row (the server stopped between the two writes). */
    public synchronized List<RequestRow> completedWithoutWebhook() {
        try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery("""
                SELECT * FROM requests r WHERE status = 'COMPLETED' AND webhook IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.request_id = r.id) ORDER BY seq""")) {
            List<RequestRow> out = new ArrayList<>();
            while (rs.next()) out.add(row(rs));
            return out;
        } catch (SQLException e) {
            throw fail("list completions without webhook", e);
        }
    }

    /** Pending deliveries due at {@code now}, oldest first. */
    public synchronized List<WebhookRow> dueWebhooks(long now, int limit) {
        try (PreparedStatement p = conn.prepareStatement("""
                SELECT * FROM webhooks WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= ?
                ORDER BY next_at, seq LIMIT ?""")) {
            p.setLong(1, now);
            p.setInt(2, limit);
            return webhookRows(p);
        } catch (SQLException e) {
            throw fail("read due webhooks", e);
        }
    }

    /** Deliveries of one request (tests, diagnostics). */
    public synchronized List<WebhookRow> webhooksOf(String requestId) {
        try (PreparedStatement p = conn.prepareStatement("SELECT * FROM webhooks WHERE request_id = ? ORDER BY seq")) {
            p.setString(1, requestId);
            return webhookRows(p);
        } catch (SQLException e) {
            throw fail("read webhooks of " + requestId, e);
        }
    }

    /** When the next pending delivery is due, or null when none is pending. */
    public synchronized Long nextWebhookAt() {
        try (Statement s = conn.createStatement(); ResultSet rs = s.executeQuery(
                "SELECT MIN(next_at) AS m FROM webhooks WHERE delivered_at IS NULL AND failed_at IS NULL")) {
            rs.next();
            return nullableLong(rs, "m");
        } catch (SQLException e) {
            throw fail("next webhook", e);
        }
    }

    /**
     * Records one attempt: delivered, or failed for good ({@code failed}), or to be tried again at {@code nextAt}.
     */
    public synchronized void webhookAttempt(long seq, boolean delivered, boolean failed, long nextAt, String error,
                                            long now) {
        try (PreparedStatement p = conn.prepareStatement("""
                UPDATE webhooks SET attempts = attempts + 1, delivered_at = ?, failed_at = ?, next_at = ?, last_error = COALESCE(?, last_error)
                WHERE seq = ?""")) {
            if (delivered) p.setLong(1, now);
            else p.setNull(1, java.sql.Types.INTEGER);
            if (failed) p.setLong(2, now);
            else p.setNull(2, java.sql.Types.INTEGER);
            p.setLong(3, nextAt);
            p.setString(4, error);
            p.setLong(5, seq);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail("record webhook attempt", e);
        }
    }

    private static List<WebhookRow> webhookRows(PreparedStatement p) throws SQLException {
        try (ResultSet rs = p.executeQuery()) {
            List<WebhookRow> out = new ArrayList<>();
            while (rs.next()) {
                out.add(new WebhookRow(rs.getLong("seq"), rs.getString("request_id"), rs.getString("url"),
                        rs.getString("user_id"), rs.getString("body"), rs.getInt("attempts"), rs.getLong("next_at"),
                        nullableLong(rs, "delivered_at"), nullableLong(rs, "failed_at"), rs.getString("last_error")));
            }
            return out;
        }
    }

    // ---- files ---------------------------------------------------------------------------------------------

    /** Records a file (complete = its bytes are on disk). */
    public synchronized void upsertFile(FileRow f, long now) {
        try (PreparedStatement p = conn.prepareStatement("""
                INSERT INTO files(id, name, content_type, size, key_id, complete, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET name = excluded.name, content_type = excluded.content_type,
                size = excluded.size, complete = excluded.complete""")) {
            p.setString(1, f.id());
            p.setString(2, f.name());
            p.setString(3, f.contentType());
            p.setLong(4, f.size());
            p.setString(5, f.keyId());
            p.setInt(6, f.complete() ? 1 : 0);
            p.setLong(7, now);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail("record file " + f.id(), e);
        }
    }

    /** A file's metadata, or null. */
    public synchronized FileRow file(String id) {
        try (PreparedStatement p = conn.prepareStatement(
                "SELECT id, name, content_type, size, key_id, complete FROM files WHERE id = ?")) {
            p.setString(1, id);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next() ? new FileRow(rs.getString(1), rs.getString(2), rs.getString(3), rs.getLong(4),
                        rs.getString(5), rs.getInt(6) != 0) : null;
            }
        } catch (SQLException e) {
            throw fail("read file " + id, e);
        }
    }

    /** Stores an upload token; {@code fileId} null for a storage token that may create any number of files. */
    public synchronized void insertUploadToken(String token, String fileId, String keyId, long expiresAt) {
        try (PreparedStatement p = conn.prepareStatement(
                "INSERT INTO upload_tokens(token, file_id, key_id, expires_at) VALUES (?, ?, ?, ?)")) {
            p.setString(1, token);
            p.setString(2, fileId);
            p.setString(3, keyId);
            p.setLong(4, expiresAt);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail("insert upload token", e);
        }
    }

    /** An unexpired upload token: {@code {fileId, keyId}} (fileId may be null), or null when unknown or expired. */
    public synchronized String[] uploadToken(String token, long now) {
        try (PreparedStatement p = conn.prepareStatement(
                "SELECT file_id, key_id FROM upload_tokens WHERE token = ? AND expires_at > ?")) {
            p.setString(1, token);
            p.setLong(2, now);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next() ? new String[] {rs.getString(1), rs.getString(2)} : null;
            }
        } catch (SQLException e) {
            throw fail("read upload token", e);
        }
    }

    /** Deletes an upload token (single-use uploads). */
    public synchronized void deleteUploadToken(String token) {
        try (PreparedStatement p = conn.prepareStatement("DELETE FROM upload_tokens WHERE token = ?")) {
            p.setString(1, token);
            p.executeUpdate();
        } catch (SQLException e) {
            throw fail("delete upload token", e);
        }
    }
}
