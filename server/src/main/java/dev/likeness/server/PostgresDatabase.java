package dev.likeness.server;

import dev.likeness.server.Database.FileRow;
import dev.likeness.server.Database.KeyRow;
import dev.likeness.server.Database.LogRow;
import dev.likeness.server.Database.RequestRow;
import dev.likeness.server.Database.Swept;
import dev.likeness.server.Database.UsageRow;
import dev.likeness.server.Database.WebhookRow;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.flywaydb.core.Flyway;

/**
 * The shared {@link Store}: one PostgreSQL database used by any number of API and worker processes. The schema is
 * {@code db/postgresql/V*.sql}, applied by Flyway at open (Flyway's lock makes concurrent starts safe).
 *
 * <p>Claims are {@code UPDATE … WHERE seq = (SELECT … ORDER BY priority, seq LIMIT 1 FOR UPDATE SKIP LOCKED)}:
 * concurrent workers each lock a different queued row and never wait on one another; the claim stores the worker's id
 * and a lease end ({@code lease_until}) that the worker's heartbeat pushes forward. A row whose lease ended belongs to
 * a dead (or partitioned) worker and is queued again by whichever process notices first; the conditional
 * {@code UPDATE … AND lease_until < now} lets only one of them do it; a run's result is written only while its worker
 * still holds the row ({@link #completeRun}), and a row is only ever completed once. Webhook deliveries are handed out the same way ({@code SKIP LOCKED}, the row's {@code next_at} pushed past
 * the delivery's time limit), so several API processes never send one twice at once.
 *
 * <p>Connections: a small pool ({@code pool} in the URL, default 8). A connection that saw an error is closed, and
 * one idle for more than 10 s is checked before use, so a restarted PostgreSQL is reconnected to.
 */
public final class PostgresDatabase implements Store {
    private final String jdbcUrl;
    private final Properties props;
    /** An idle pooled connection and when it was last used. */
    private record Idle(Connection connection, long since) {}

    /** Idle longer than this, a connection is checked before use (the server may have restarted meanwhile). */
    private static final long CHECK_AFTER_IDLE_MILLIS = 10_000;
    private final BlockingQueue<Idle> idle;
    private final java.util.concurrent.Semaphore permits;
    private final String description;
    private final long webhookHoldMillis;
    private volatile boolean closed;

    /** A pooled unit of work on one connection. */
    @FunctionalInterface
    private interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    /**
     * Connects to {@code postgresql://[user[:password]@]host[:port]/database[?param=value…]} (also {@code postgres://}
     * or a {@code jdbc:postgresql:} URL; parameters go to the driver, e.g. {@code sslmode=require}, except
     * {@code pool}), and migrates the schema.
     *
     * @param webhookHoldMillis how long a handed-out webhook delivery stays reserved for its sender
     */
    public PostgresDatabase(String url, long webhookHoldMillis) {
        this.webhookHoldMillis = webhookHoldMillis;
        this.props = new Properties();
        int pool = 8;
        String jdbc;
        if (url.startsWith("jdbc:postgresql:")) {
            jdbc = url;
        } else {
            URI u = URI.create(url);
            if (!("postgresql".equals(u.getScheme()) || "postgres".equals(u.getScheme())) || u.getHost() == null) {
                throw new IllegalArgumentException("database URL must be postgresql://[user[:password]@]host[:port]/db: '"
                        + redact(url) + "'");
            }
            if (u.getRawUserInfo() != null) {
                String[] up = u.getRawUserInfo().split(":", 2);
                props.setProperty("user", URLDecoder.decode(up[0], StandardCharsets.UTF_8));
                if (up.length == 2) props.setProperty("password", URLDecoder.decode(up[1], StandardCharsets.UTF_8));
            }
            StringBuilder q = new StringBuilder();
            if (u.getRawQuery() != null) {
                for (String kv : u.getRawQuery().split("&")) {
                    if (kv.startsWith("pool=")) pool = Integer.parseInt(kv.substring(5));
                    else if (!kv.isEmpty()) q.append(q.isEmpty() ? "?" : "&").append(kv);
                }
            }
            String host = u.getHost().contains(":") && !u.getHost().startsWith("[") ? "[" + u.getHost() + "]" : u.getHost();
            jdbc = "jdbc:postgresql://" + host + (u.getPort() > 0 ? ":" + u.getPort() : "") + u.getRawPath() + q;
        }
        this.jdbcUrl = jdbc;
        this.description = redact(url);
        this.idle = new ArrayBlockingQueue<>(Math.max(1, pool));
        this.permits = new java.util.concurrent.Semaphore(Math.max(1, pool));
        try {
            Flyway.configure().dataSource(jdbcUrl, props.getProperty("user"), props.getProperty("password"))
                    .locations("classpath:db/postgresql").load().migrate();
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot open the database " + description + ": " + e.getMessage(), e);
        }
    }

    /** A database URL with its password hidden (for messages). */
    static String redact(String url) {
        return url.replaceAll("(//[^:/@]*):[^@/]*@", "$1:***@").replaceAll("(?i)(password=)[^&]*", "$1***");
    }

    @Override
    public boolean shared() {
        return true;
    }

    private <T> T with(String what, Work<T> work) {
        if (closed) throw new IllegalStateException("database: " + what + " failed: the database is closed");
        try {
            if (!permits.tryAcquire(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("database: " + what + " failed: no free connection in 30 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("database: " + what + " interrupted", e);
        }
        Connection c = null;
        try {
            c = borrow();
            T out = work.run(c);
            idle.offer(new Idle(c, System.currentTimeMillis()));
            c = null;
            return out;
        } catch (SQLException e) {
            throw new IllegalStateException("database: " + what + " failed: " + e.getMessage(), e);
        } finally {
            if (c != null) {   // after an error the connection may be broken: never reused
                try {
                    c.close();
                } catch (SQLException ignored) {
                    // already broken
                }
            }
            permits.release();
        }
    }

    private Connection borrow() throws SQLException {
        Idle i;
        while ((i = idle.poll()) != null) {
            if (System.currentTimeMillis() - i.since() < CHECK_AFTER_IDLE_MILLIS || i.connection().isValid(5)) {
                return i.connection();
            }
            try {
                i.connection().close();
            } catch (SQLException ignored) {
                // broken: dropped
            }
        }
        return DriverManager.getConnection(jdbcUrl, props);
    }

    private <T> T tx(String what, Work<T> work) {
        return with(what, c -> {
            c.setAutoCommit(false);
            try {
                T out = work.run(c);
                c.commit();
                return out;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        });
    }

    private static PreparedStatement bind(Connection c, String sql, Object... args) throws SQLException {
        PreparedStatement p = c.prepareStatement(sql);
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (a == null) p.setNull(i + 1, Types.NULL);   // untyped: the server infers the column's type
            else if (a instanceof String s) p.setString(i + 1, s);
            else if (a instanceof Long l) p.setLong(i + 1, l);
            else if (a instanceof Integer n) p.setInt(i + 1, n);
            else if (a instanceof Boolean b) p.setBoolean(i + 1, b);
            else if (a instanceof Double d) p.setDouble(i + 1, d);
            else if (a instanceof Array arr) p.setArray(i + 1, arr);
            else throw new IllegalArgumentException("unsupported parameter " + a.getClass());
        }
        return p;
    }

    private static int update(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement p = bind(c, sql, args)) {
            return p.executeUpdate();
        }
    }

    @FunctionalInterface
    private interface RowMapper<T> {
        T map(ResultSet rs) throws SQLException;
    }

    private static <T> List<T> list(Connection c, RowMapper<T> m, String sql, Object... args) throws SQLException {
        try (PreparedStatement p = bind(c, sql, args); ResultSet rs = p.executeQuery()) {
            List<T> out = new ArrayList<>();
            while (rs.next()) out.add(m.map(rs));
            return out;
        }
    }

    private static <T> T one(Connection c, RowMapper<T> m, String sql, Object... args) throws SQLException {
        List<T> l = list(c, m, sql, args);
        return l.isEmpty() ? null : l.getFirst();
    }

    private static long count(Connection c, String sql, Object... args) throws SQLException {
        return one(c, rs -> rs.getLong(1), sql, args);
    }

    private static Long nullableLong(ResultSet rs, String col) throws SQLException {
        long v = rs.getLong(col);
        return rs.wasNull() ? null : v;
    }

    private static RequestRow row(ResultSet rs) throws SQLException {
        return new RequestRow(rs.getLong("seq"), rs.getString("id"), rs.getString("endpoint"), rs.getString("key_id"),
                rs.getString("input"), rs.getString("status"), rs.getInt("priority"), rs.getBoolean("sync"),
                rs.getString("base_url"), rs.getString("webhook"), rs.getBoolean("cancel_requested"),
                rs.getInt("attempts"), rs.getLong("created_at"), nullableLong(rs, "started_at"),
                nullableLong(rs, "completed_at"), (Integer) rs.getObject("result_status"), rs.getString("result_body"),
                rs.getString("error"), rs.getString("error_type"));
    }

    @Override
    public void close() {
        closed = true;
        Idle c;
        while ((c = idle.poll()) != null) {
            try {
                c.connection().close();
            } catch (SQLException ignored) {
                // closing anyway
            }
        }
    }

    /** Where the database is (password hidden). */
    public String describe() {
        return description;
    }

    /** The worker that holds a running request, or null (tests, diagnostics). */
    public String workerOf(String requestId) {
        return with("read worker of " + requestId, c -> one(c, rs -> rs.getString(1),
                "SELECT worker_id FROM requests WHERE id = ?", requestId));
    }

    // ---- requests ------------------------------------------------------------------------------------------

    @Override
    public void insertRequest(String id, String endpoint, String keyId, String input, int priority, boolean sync,
                              String baseUrl, String webhook, long now) {
        with("insert request " + id, c -> update(c, """
                INSERT INTO requests(id, endpoint, key_id, input, status, priority, sync, base_url, webhook, created_at)
                VALUES (?, ?, ?, ?, 'IN_QUEUE', ?, ?, ?, ?, ?)""",
                id, endpoint, keyId, input, priority, sync, baseUrl, webhook, now));
    }

    @Override
    public RequestRow request(String id) {
        return with("read request " + id, c -> one(c, PostgresDatabase::row, "SELECT * FROM requests WHERE id = ?", id));
    }

    @Override
    public RequestRow claimNext(long now, int perKeyLimit, String worker, long leaseUntil) {
        return with("claim next request", c -> one(c, PostgresDatabase::row, """
                UPDATE requests SET status = 'IN_PROGRESS', started_at = ?, attempts = attempts + 1,
                  worker_id = ?, lease_until = ?
                WHERE seq = (SELECT seq FROM requests q WHERE status = 'IN_QUEUE'
                  AND (? = 0 OR (SELECT COUNT(*) FROM requests r WHERE r.status = 'IN_PROGRESS'
                                 AND r.key_id IS NOT DISTINCT FROM q.key_id) < ?)
                  ORDER BY priority, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING *""", now, worker, leaseUntil, perKeyLimit, perKeyLimit));
    }

    @Override
    public Heartbeat heartbeat(String worker, Collection<String> ids, long leaseUntil) {
        if (ids.isEmpty()) return new Heartbeat(Set.of(), Set.of());
        return with("heartbeat of " + worker, c -> {
            Set<String> held = new HashSet<>();
            Set<String> cancel = new HashSet<>();
            Array arr = c.createArrayOf("text", ids.toArray());
            for (Object[] r : list(c, rs -> new Object[] {rs.getString(1), rs.getBoolean(2)}, """
                    UPDATE requests SET lease_until = ? WHERE worker_id = ? AND status = 'IN_PROGRESS' AND id = ANY(?)
                    RETURNING id, cancel_requested""", leaseUntil, worker, arr)) {
                held.add((String) r[0]);
                if ((Boolean) r[1]) cancel.add((String) r[0]);
            }
            Set<String> lost = new HashSet<>(ids);
            lost.removeAll(held);
            return new Heartbeat(lost, cancel);
        });
    }

    @Override
    public List<RequestRow> expiredLeases(long now) {
        return with("list expired leases", c -> list(c, PostgresDatabase::row,
                "SELECT * FROM requests WHERE status = 'IN_PROGRESS' AND lease_until < ? ORDER BY seq", now));
    }

    @Override
    public boolean requeueExpired(String id, long now) {
        return with("requeue " + id, c -> update(c, """
                UPDATE requests SET status = 'IN_QUEUE', started_at = NULL, worker_id = NULL, lease_until = NULL
                WHERE id = ? AND status = 'IN_PROGRESS' AND lease_until < ?""", id, now) == 1);
    }

    @Override
    public int queuePosition(RequestRow r) {
        return with("queue position of " + r.id(), c -> (int) count(c, """
                SELECT COUNT(*) FROM requests WHERE status = 'IN_QUEUE'
                AND (priority < ? OR (priority = ? AND seq < ?))""", r.priority(), r.priority(), r.seq()));
    }

    @Override
    public int countFor(String keyId, String status) {
        return with("count requests of a key", c -> (int) count(c,
                "SELECT COUNT(*) FROM requests WHERE status = ? AND key_id IS NOT DISTINCT FROM ?::text", status, keyId));
    }

    @Override
    public int count(String status) {
        return with("count requests", c -> (int) count(c, "SELECT COUNT(*) FROM requests WHERE status = ?", status));
    }

    @Override
    public int queueLength() {
        return count("IN_QUEUE");
    }

    @Override
    public boolean complete(String id, int resultStatus, String resultBody, String error, String errorType, long now) {
        return with("complete request " + id, c -> update(c, """
                UPDATE requests SET status = 'COMPLETED', completed_at = ?, result_status = ?, result_body = ?,
                error = ?, error_type = ?, lease_until = NULL WHERE id = ? AND status <> 'COMPLETED'""",
                now, resultStatus, resultBody, error, errorType, id) == 1);
    }

    @Override
    public boolean completeRun(String id, String worker, int resultStatus, String resultBody, String error,
                               String errorType, long now) {
        return with("complete request " + id, c -> update(c, """
                UPDATE requests SET status = 'COMPLETED', completed_at = ?, result_status = ?, result_body = ?,
                error = ?, error_type = ?, lease_until = NULL
                WHERE id = ? AND status = 'IN_PROGRESS' AND worker_id IS NOT DISTINCT FROM ?::text""",
                now, resultStatus, resultBody, error, errorType, id, worker) == 1);
    }

    @Override
    public boolean requestCancel(String id) {
        return with("cancel request " + id, c -> update(c,
                "UPDATE requests SET cancel_requested = TRUE WHERE id = ? AND status <> 'COMPLETED'", id) == 1);
    }

    @Override
    public boolean requeue(String id) {
        return with("requeue request " + id, c -> update(c, """
                UPDATE requests SET status = 'IN_QUEUE', started_at = NULL, worker_id = NULL, lease_until = NULL
                WHERE id = ? AND status = 'IN_PROGRESS'""", id) == 1);
    }

    @Override
    public List<RequestRow> requestsIn(String status) {
        return with("list requests in " + status, c -> list(c, PostgresDatabase::row,
                "SELECT * FROM requests WHERE status = ? ORDER BY seq", status));
    }

    // ---- logs ----------------------------------------------------------------------------------------------

    @Override
    public void addLog(String requestId, long ts, String level, String source, String message) {
        with("add log", c -> update(c, "INSERT INTO logs(request_id, ts, level, source, message) VALUES (?, ?, ?, ?, ?)",
                requestId, ts, level, source, message));
    }

    @Override
    public List<LogRow> logs(String requestId, long afterSeq) {
        return with("read logs of " + requestId, c -> list(c, rs -> new LogRow(rs.getLong("seq"), rs.getLong("ts"),
                        rs.getString("level"), rs.getString("source"), rs.getString("message")),
                "SELECT * FROM logs WHERE request_id = ? AND seq > ? ORDER BY seq", requestId, afterSeq));
    }

    // ---- keys ----------------------------------------------------------------------------------------------

    @Override
    public void insertKey(String id, String secretSha256, long now) {
        with("insert key", c -> update(c, "INSERT INTO api_keys(id, secret_sha256, created_at) VALUES (?, ?, ?)",
                id, secretSha256, now));
    }

    @Override
    public String keySecretHash(String id) {
        return with("read key", c -> one(c, rs -> rs.getString(1),
                "SELECT secret_sha256 FROM api_keys WHERE id = ? AND revoked_at IS NULL", id));
    }

    @Override
    public boolean revokeKey(String id, long now) {
        return with("revoke key", c -> update(c,
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", now, id) == 1);
    }

    @Override
    public List<KeyRow> keys() {
        return with("list keys", c -> list(c, rs -> new KeyRow(rs.getString(1), rs.getLong(2), nullableLong(rs, "revoked_at")),
                "SELECT id, created_at, revoked_at FROM api_keys ORDER BY created_at, id"));
    }

    @Override
    public int activeKeyCount() {
        return with("count keys", c -> (int) count(c, "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL"));
    }

    // ---- usage ledger --------------------------------------------------------------------------------------

    @Override
    public void insertUsage(UsageRow u) {
        with("record usage of " + u.requestId(), c -> update(c, """
                INSERT INTO usage(request_id, key_id, endpoint, unit, quantity, unit_price_micros, cost_micros, completed_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING""",
                u.requestId(), u.keyId(), u.endpoint(), u.unit(), u.quantity(), u.unitPriceMicros(), u.costMicros(),
                u.completedAt()));
    }

    @Override
    public List<UsageRow> usage(String keyId, long from, long to) {
        return with("read usage", c -> list(c, rs -> new UsageRow(rs.getString("request_id"), rs.getString("key_id"),
                        rs.getString("endpoint"), rs.getString("unit"), rs.getDouble("quantity"),
                        rs.getLong("unit_price_micros"), rs.getLong("cost_micros"), rs.getLong("completed_at")), """
                SELECT * FROM usage WHERE key_id IS NOT DISTINCT FROM ?::text AND completed_at >= ? AND completed_at < ?
                ORDER BY completed_at, request_id""", keyId, from, to));
    }

    @Override
    public List<RequestRow> completedWithoutUsage() {
        return with("list completions without usage", c -> list(c, PostgresDatabase::row, """
                SELECT * FROM requests r WHERE status = 'COMPLETED' AND result_status = 200
                AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.request_id = r.id) ORDER BY seq"""));
    }

    // ---- retention -----------------------------------------------------------------------------------------

    @Override
    public Swept sweep(long cutoff, long now) {
        return tx("retention sweep", c -> {
            List<String> files = list(c, rs -> rs.getString(1), "DELETE FROM files WHERE created_at < ? RETURNING id", cutoff);
            update(c, """
                    DELETE FROM logs WHERE request_id IN
                    (SELECT id FROM requests WHERE status = 'COMPLETED' AND completed_at < ?)""", cutoff);
            update(c, """
                    DELETE FROM webhooks WHERE (delivered_at IS NOT NULL OR failed_at IS NOT NULL) AND request_id IN
                    (SELECT id FROM requests WHERE status = 'COMPLETED' AND completed_at < ?)""", cutoff);
            int requests = update(c, "DELETE FROM requests WHERE status = 'COMPLETED' AND completed_at < ?", cutoff);
            update(c, "DELETE FROM upload_tokens WHERE expires_at < ?", now);
            return new Swept(requests, files);
        });
    }

    // ---- webhooks ------------------------------------------------------------------------------------------

    private static WebhookRow webhook(ResultSet rs) throws SQLException {
        return new WebhookRow(rs.getLong("seq"), rs.getString("request_id"), rs.getString("url"), rs.getString("user_id"),
                rs.getString("body"), rs.getInt("attempts"), rs.getLong("next_at"), nullableLong(rs, "delivered_at"),
                nullableLong(rs, "failed_at"), rs.getString("last_error"));
    }

    @Override
    public void insertWebhook(String requestId, String url, String userId, String body, long now) {
        with("queue webhook of " + requestId, c -> update(c,
                "INSERT INTO webhooks(request_id, url, user_id, body, next_at) VALUES (?, ?, ?, ?, ?)",
                requestId, url, userId, body, now));
    }

    @Override
    public List<RequestRow> completedWithoutWebhook() {
        return with("list completions without webhook", c -> list(c, PostgresDatabase::row, """
                SELECT * FROM requests r WHERE status = 'COMPLETED' AND webhook IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.request_id = r.id) ORDER BY seq"""));
    }

    /** {@inheritDoc} Each returned delivery is reserved for this caller ({@code next_at} moved past its time limit). */
    @Override
    public List<WebhookRow> dueWebhooks(long now, int limit) {
        List<WebhookRow> rows = with("read due webhooks", c -> list(c, PostgresDatabase::webhook, """
                UPDATE webhooks SET next_at = ? WHERE seq IN (SELECT seq FROM webhooks
                  WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= ?
                  ORDER BY next_at, seq LIMIT ? FOR UPDATE SKIP LOCKED)
                RETURNING *""", now + webhookHoldMillis, now, limit));
        rows.sort(Comparator.comparingLong(WebhookRow::seq));
        return rows;
    }

    @Override
    public List<WebhookRow> webhooksOf(String requestId) {
        return with("read webhooks of " + requestId, c -> list(c, PostgresDatabase::webhook,
                "SELECT * FROM webhooks WHERE request_id = ? ORDER BY seq", requestId));
    }

    @Override
    public Long nextWebhookAt() {
        return with("next webhook", c -> one(c, rs -> nullableLong(rs, "m"),
                "SELECT MIN(next_at) AS m FROM webhooks WHERE delivered_at IS NULL AND failed_at IS NULL"));
    }

    @Override
    public void webhookAttempt(long seq, boolean delivered, boolean failed, long nextAt, String error, long now) {
        with("record webhook attempt", c -> update(c, """
                UPDATE webhooks SET attempts = attempts + 1, delivered_at = ?, failed_at = ?, next_at = ?,
                last_error = COALESCE(?, last_error) WHERE seq = ?""",
                delivered ? (Object) now : null, failed ? (Object) now : null, nextAt, error, seq));
    }

    // ---- files ---------------------------------------------------------------------------------------------

    @Override
    public void upsertFile(FileRow f, long now) {
        with("record file " + f.id(), c -> update(c, """
                INSERT INTO files(id, name, content_type, size, key_id, complete, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, content_type = excluded.content_type,
                size = excluded.size, complete = excluded.complete""",
                f.id(), f.name(), f.contentType(), f.size(), f.keyId(), f.complete(), now));
    }

    @Override
    public FileRow file(String id) {
        return with("read file " + id, c -> one(c, rs -> new FileRow(rs.getString(1), rs.getString(2), rs.getString(3),
                        rs.getLong(4), rs.getString(5), rs.getBoolean(6)),
                "SELECT id, name, content_type, size, key_id, complete FROM files WHERE id = ?", id));
    }

    @Override
    public void insertUploadToken(String token, String fileId, String keyId, long expiresAt) {
        with("insert upload token", c -> update(c,
                "INSERT INTO upload_tokens(token, file_id, key_id, expires_at) VALUES (?, ?, ?, ?)",
                token, fileId, keyId, expiresAt));
    }

    @Override
    public String[] uploadToken(String token, long now) {
        return with("read upload token", c -> one(c, rs -> new String[] {rs.getString(1), rs.getString(2)},
                "SELECT file_id, key_id FROM upload_tokens WHERE token = ? AND expires_at > ?", token, now));
    }

    @Override
    public void deleteUploadToken(String token) {
        with("delete upload token", c -> update(c, "DELETE FROM upload_tokens WHERE token = ?", token));
    }
}
