package dev.likeness.server;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Settings of a {@link LikenessServer}. Fluent setters; every value has a usable default except the data directory.
 */
public final class ServerConfig {
    private String host = "127.0.0.1";
    private int port = 8080;
    private int queuePort = -1;
    private Path dataDir;
    private int workers = 1;
    private String publicUrl;
    private Boolean openAccess;
    private long maxBodyBytes = 32L << 20;
    private long maxInputFileBytes = 10L << 20;
    private long maxUploadBytes = 100L << 20;
    private Duration fetchTimeout = Duration.ofSeconds(30);
    private boolean allowPrivateFetch;
    private java.util.Set<String> fetchAllowHosts = java.util.Set.of();
    private Duration keepAlive = Duration.ofSeconds(5);
    private int maxRestartAttempts = 3;
    private int tlsPort = -1;
    private Path tlsCertificate;
    private Path tlsKey;
    private java.util.Set<String> tlsHostNames = java.util.Set.of();
    private Duration retention = Duration.ofDays(7);
    private Duration sweepInterval = Duration.ofMinutes(10);
    private int maxConcurrentPerKey;
    private int maxQueuedPerKey;
    private int webhookAttempts = 10;
    private Duration webhookFirstRetry = Duration.ofSeconds(15);
    private Duration webhookTimeout = Duration.ofSeconds(15);
    private Role role = Role.ALL;
    private String databaseUrl;
    private String storageUrl;
    private Duration lease = Duration.ofSeconds(30);
    private String workerId;

    /**
     * What a process does: {@code API} serves HTTP and runs no requests, {@code WORKER} runs queued requests and serves
     * no HTTP, {@code ALL} (the default) both. API and worker processes share one {@link #databaseUrl} and one
     * {@link #storageUrl}.
     */
    public enum Role { API, WORKER, ALL }

    /** A configuration with defaults, keeping its state in {@code dataDir}. */
    public ServerConfig(Path dataDir) {
        this.dataDir = dataDir;
    }

    /** Interface to bind (default {@code 127.0.0.1}: with no API key the server is open, so it stays local unless told). */
    public ServerConfig host(String v) { host = v; return this; }
    /** Port of the main listener (default 8080; 0 = any free port). */
    public ServerConfig port(int v) { port = v; return this; }
    /** Port of an optional second listener that serves the queue at its root, like {@code queue.fal.run} (-1 = none). */
    public ServerConfig queuePort(int v) { queuePort = v; return this; }
    /** Directory of the database and stored files. */
    public ServerConfig dataDir(Path v) { dataDir = v; return this; }
    /** Number of worker threads running requests (default 1). */
    public ServerConfig workers(int v) { workers = v; return this; }
    /** Public base URL (e.g. {@code https://likeness.example.com}) used in every URL the server hands out; by default
     *  URLs are built from each request's Host / Forwarded headers. */
    public ServerConfig publicUrl(String v) { publicUrl = v == null ? null : v.replaceAll("/+$", ""); return this; }
    /** true: no key needed; false: a key is always needed; null (default): open while no API key exists. */
    public ServerConfig openAccess(Boolean v) { openAccess = v; return this; }
    /** Largest request body accepted (default 32 MiB). */
    public ServerConfig maxBodyBytes(long v) { maxBodyBytes = v; return this; }
    /** Largest input file ({@code image_url}) read (default 10 MiB, the endpoints' limit on reference images). */
    public ServerConfig maxInputFileBytes(long v) { maxInputFileBytes = v; return this; }
    /** Largest file accepted by the storage upload (default 100 MiB). */
    public ServerConfig maxUploadBytes(long v) { maxUploadBytes = v; return this; }
    /** Time limit of fetching one http(s) input file (default 30 s). */
    public ServerConfig fetchTimeout(Duration v) { fetchTimeout = v; return this; }
    /** Whether http(s) inputs may point at loopback, private or link-local addresses (default false). */
    public ServerConfig allowPrivateFetch(boolean v) { allowPrivateFetch = v; return this; }
    /** Hosts (names or address literals, as written in URLs) fetched even when they resolve to private addresses. */
    public ServerConfig fetchAllowHosts(java.util.Set<String> v) { fetchAllowHosts = java.util.Set.copyOf(v); return this; }
    /** Longest silence on a status stream before a {@code : ping} comment (default 5 s; fal-java gives up at 10 s). */
    public ServerConfig keepAlive(Duration v) { keepAlive = v; return this; }
    /** How many times a request interrupted by a restart is run before it is failed (default 3). */
    public ServerConfig maxRestartAttempts(int v) { maxRestartAttempts = v; return this; }
    /** Port of an optional HTTPS listener serving the same routes as the main one (-1 = none, the default; 0 = any
     *  free port). Its certificate is {@link #tlsCertificate}/{@link #tlsKey}, else a generated one (see {@link Tls}). */
    public ServerConfig tlsPort(int v) { tlsPort = v; return this; }
    /** PEM file with the HTTPS certificate chain, server certificate first (null = generate a local one). */
    public ServerConfig tlsCertificate(Path v) { tlsCertificate = v; return this; }
    /** PEM file with the HTTPS private key (PKCS#8 {@code PRIVATE KEY} or {@code RSA PRIVATE KEY}, unencrypted). */
    public ServerConfig tlsKey(Path v) { tlsKey = v; return this; }
    /** Extra host names or addresses the generated certificate is valid for (always: localhost, 127.0.0.1, ::1 and
     *  {@link #host} when it is a specific one). */
    public ServerConfig tlsHostNames(java.util.Set<String> v) { tlsHostNames = java.util.Set.copyOf(v); return this; }

    /** How long results, logs and files are kept after completion (default 7 days, fal's CDN minimum); then
     *  deleted by a background sweep. Ledger entries are kept. */
    public ServerConfig retention(Duration v) { retention = v; return this; }
    /** How often the retention sweep runs (default 10 min). */
    public ServerConfig sweepInterval(Duration v) { sweepInterval = v; return this; }
    /** Requests of one key running at once before a synchronous run is answered 429 (0 = no limit, the default).
     *  Queued requests never count and are never refused for it (fal: "requests are never rejected due to
     *  concurrency limits" on the queue); they wait. */
    public ServerConfig maxConcurrentPerKey(int v) { maxConcurrentPerKey = v; return this; }
    /** Requests of one key waiting in the queue before a submit is answered 429 (0 = no limit, the default). */
    public ServerConfig maxQueuedPerKey(int v) { maxQueuedPerKey = v; return this; }
    /** Webhook delivery attempts before giving up (default 10, as fal). */
    public ServerConfig webhookAttempts(int v) { webhookAttempts = v; return this; }
    /** Delay before the first webhook retry; each next one doubles (default 15 s: 10 attempts span ~2 h, as fal). */
    public ServerConfig webhookFirstRetry(Duration v) { webhookFirstRetry = v; return this; }
    /** Time limit of one webhook POST (default 15 s). */
    public ServerConfig webhookTimeout(Duration v) { webhookTimeout = v; return this; }

    /** What this process does (default {@link Role#ALL}). */
    public ServerConfig role(Role v) { role = v; return this; }
    /** The shared database, {@code postgresql://user:password@host:5432/db} (null, the default: the embedded SQLite
     *  file in the data directory, one process only). */
    public ServerConfig databaseUrl(String v) { databaseUrl = v; return this; }
    /** The shared file storage, {@code s3://bucket?endpoint=…} (see {@link S3ObjectStore}; null, the default: the
     *  data directory). */
    public ServerConfig storageUrl(String v) { storageUrl = v; return this; }
    /** How long a worker holds a request without a heartbeat before others may take it back (default 30 s; the
     *  heartbeat runs every third of it). Only used with a shared {@link #databaseUrl}. */
    public ServerConfig lease(Duration v) { lease = v; return this; }
    /** This worker's name in the database (default {@code host/pid/random}). */
    public ServerConfig workerId(String v) { workerId = v; return this; }

    public Role role() { return role; }
    public String databaseUrl() { return databaseUrl; }
    public String storageUrl() { return storageUrl; }
    public Duration lease() { return lease; }
    public String workerId() { return workerId; }
    public String host() { return host; }
    public int port() { return port; }
    public int queuePort() { return queuePort; }
    public Path dataDir() { return dataDir; }
    public int workers() { return workers; }
    public String publicUrl() { return publicUrl; }
    public Boolean openAccess() { return openAccess; }
    public long maxBodyBytes() { return maxBodyBytes; }
    public long maxInputFileBytes() { return maxInputFileBytes; }
    public long maxUploadBytes() { return maxUploadBytes; }
    public Duration fetchTimeout() { return fetchTimeout; }
    public boolean allowPrivateFetch() { return allowPrivateFetch; }
    public java.util.Set<String> fetchAllowHosts() { return fetchAllowHosts; }
    public Duration keepAlive() { return keepAlive; }
    public int maxRestartAttempts() { return maxRestartAttempts; }
    public int tlsPort() { return tlsPort; }
    public Path tlsCertificate() { return tlsCertificate; }
    public Path tlsKey() { return tlsKey; }
    public java.util.Set<String> tlsHostNames() { return tlsHostNames; }
    public Duration retention() { return retention; }
    public Duration sweepInterval() { return sweepInterval; }
    public int maxConcurrentPerKey() { return maxConcurrentPerKey; }
    public int maxQueuedPerKey() { return maxQueuedPerKey; }
    public int webhookAttempts() { return webhookAttempts; }
    public Duration webhookFirstRetry() { return webhookFirstRetry; }
    public Duration webhookTimeout() { return webhookTimeout; }
}
