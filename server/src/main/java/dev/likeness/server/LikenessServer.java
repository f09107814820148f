package dev.likeness.server;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The Likeness HTTP server: fal-compatible routes ({@link FalHandler}) over Jetty, the durable {@link RequestQueue}
 * with its workers, API {@link Keys} and the {@link FileStore}, all kept in the configured data directory. Listeners:
 * HTTP ({@code port}), optionally HTTPS ({@code tlsPort}, see {@link Tls}) and a queue-only one ({@code queuePort}).
 */
public final class LikenessServer implements AutoCloseable {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(LikenessServer.class.getName());
    private final ServerConfig config;
    private final Store db;
    private final ObjectStore objects;
    private final FileStore files;
    private final Keys keys;
    private final RequestQueue queue;
    private final Webhooks webhooks;
    private final InputFetcher fetcher;
    private final Ledger ledger;
    private final Metrics metrics;
    private final java.util.concurrent.ScheduledExecutorService sweeper;
    private final FalHandler handler;
    private final Server jetty;
    private final ServerConnector main;
    private final ServerConnector queueConnector;
    private final ServerConnector tlsConnector;
    private final Tls.Identity tls;

    /** Builds the server (nothing listens or runs until {@link #start()}). */
    public LikenessServer(ServerConfig config, List<Endpoint> endpoints) {
        this.config = config;
        Map<String, Endpoint> byId = new LinkedHashMap<>();
        for (Endpoint e : endpoints) {
            if (byId.put(e.id(), e) != null) throw new IllegalArgumentException("endpoint '" + e.id() + "' given twice");
        }
        try {
            // before anything is opened: a bad certificate or key fails the construction cleanly
            this.tls = config.tlsPort() >= 0 ? Tls.identity(config) : null;
        } catch (java.io.IOException | java.security.GeneralSecurityException e) {
            throw new IllegalStateException("TLS: " + e.getMessage(), e);
        }
        this.db = config.databaseUrl() == null ? new Database(config.dataDir())
                : new PostgresDatabase(config.databaseUrl(), 2 * config.webhookTimeout().toMillis() + 10_000);
        ObjectStore objects;
        try {
            objects = config.storageUrl() == null ? new LocalObjectStore(config.dataDir().resolve("files"))
                    : new S3ObjectStore(config.storageUrl());
        } catch (RuntimeException e) {
            db.close();
            throw e;
        }
        this.objects = objects;
        this.files = new FileStore(db, objects);
        this.keys = new Keys(db, config.openAccess());
        this.queue = new RequestQueue(db, files, fetcher = new InputFetcher(files, config), config, byId);
        this.webhooks = new Webhooks(db, WebhookKey.loadOrCreate(config.dataDir()), config);
        this.ledger = new Ledger(db, byId);
        this.metrics = new Metrics(db);
        queue.onCompleted(ledger::completed);
        queue.onCompleted(metrics::completed);
        queue.onCompleted(webhooks::completed);
        this.handler = new FalHandler(queue, keys, files, db, config, webhooks, ledger, metrics);
        this.sweeper = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("likeness-retention").daemon(true).factory());

        QueuedThreadPool pool = new QueuedThreadPool();
        pool.setName("likeness-http");
        pool.setVirtualThreadsExecutor(Executors.newVirtualThreadPerTaskExecutor());
        jetty = new Server(pool);
        jetty.setStopTimeout(3000);
        main = new ServerConnector(jetty);
        main.setHost(config.host());
        main.setPort(config.port());
        jetty.addConnector(main);
        if (config.queuePort() >= 0) {
            queueConnector = new ServerConnector(jetty);
            queueConnector.setName(FalHandler.QUEUE_CONNECTOR);
            queueConnector.setHost(config.host());
            queueConnector.setPort(config.queuePort());
            jetty.addConnector(queueConnector);
        } else {
            queueConnector = null;
        }
        if (config.tlsPort() >= 0) {
            SslContextFactory.Server ssl = new SslContextFactory.Server();
            try {
                ssl.setKeyStore(tls.keyStore());
            } catch (java.io.IOException | java.security.GeneralSecurityException e) {
                throw new IllegalStateException("TLS key store: " + e.getMessage(), e);
            }
            ssl.setKeyStorePassword(new String(Tls.STORE_PASSWORD));
            HttpConfiguration https = new HttpConfiguration();
            SecureRequestCustomizer secure = new SecureRequestCustomizer();
            secure.setSniHostCheck(false);   // clients reach us by address (127.0.0.1) as often as by name
            https.addCustomizer(secure);
            tlsConnector = new ServerConnector(jetty, new SslConnectionFactory(ssl, "http/1.1"), new HttpConnectionFactory(https));
            tlsConnector.setName("https");
            tlsConnector.setHost(config.host());
            tlsConnector.setPort(config.tlsPort());
            jetty.addConnector(tlsConnector);
        } else {
            tlsConnector = null;
        }
        jetty.setHandler(handler);
    }

    /**
     * Recovers the queue, starts the workers, then listens. By {@link ServerConfig#role()}: an API process runs no
     * workers; a worker process neither listens nor sends webhooks (an API process sends those it queues).
     */
    public LikenessServer start() throws Exception {
        queue.start();
        ledger.recover();
        if (config.role() != ServerConfig.Role.WORKER) webhooks.start();
        long every = Math.max(1, config.sweepInterval().toMillis());
        sweeper.scheduleWithFixedDelay(this::sweepQuietly, 0, every, java.util.concurrent.TimeUnit.MILLISECONDS);
        if (config.role() != ServerConfig.Role.WORKER) jetty.start();
        return this;
    }

    /** The request queue (its {@link RequestQueue#workerId()}). */
    public RequestQueue queue() {
        return queue;
    }

    /** The port of the main listener (the bound one when configured as 0; -1 for a worker, which does not listen). */
    public int port() {
        return main.getLocalPort();
    }

    /** The port of the queue listener, or -1. */
    public int queuePort() {
        return queueConnector == null ? -1 : queueConnector.getLocalPort();
    }

    /** The port of the HTTPS listener, or -1. */
    public int tlsPort() {
        return tlsConnector == null ? -1 : tlsConnector.getLocalPort();
    }

    /** The generated CA certificate file clients should trust for the HTTPS listener (null without TLS, or when the
     *  certificate was given by path). */
    public java.nio.file.Path tlsCaFile() {
        return tls == null ? null : tls.caFile();
    }

    /** API key management. */
    public Keys keys() {
        return keys;
    }

    /**
     * Deletes what is past the retention ({@link ServerConfig#retention()}): completed requests with their results
     * and logs, stored files (outputs and uploads) and their bytes, expired upload tokens. The usage ledger is kept.
     * Runs in the background every {@link ServerConfig#sweepInterval()}; returns what it deleted.
     */
    public Database.Swept sweep() {
        long now = System.currentTimeMillis();
        Database.Swept s = db.sweep(now - config.retention().toMillis(), now);
        for (String id : s.fileIds()) {
            try {
                files.delete(id);
            } catch (RuntimeException e) {
                LOG.warning("retention: cannot delete file " + id + ": " + e.getMessage());
            }
        }
        if (s.requests() > 0 || !s.fileIds().isEmpty()) {
            LOG.info("retention: deleted " + s.requests() + " request(s) and " + s.fileIds().size() + " file(s)");
        }
        return s;
    }

    private void sweepQuietly() {
        try {
            sweep();
        } catch (RuntimeException e) {
            LOG.log(java.util.logging.Level.WARNING, "retention sweep failed", e);
        }
    }

    /** The webhook sender and its signing key. */
    public Webhooks webhooks() {
        return webhooks;
    }

    /** The database (tests, the command line). */
    public Store database() {
        return db;
    }

    /** The configuration. */
    public ServerConfig config() {
        return config;
    }

    /** Stops listening, asks running requests to stop (they are queued again) and closes the database. */
    @Override
    public void close() throws Exception {
        handler.closing();
        sweeper.shutdownNow();
        queue.close();
        webhooks.close();
        fetcher.close();
        jetty.stop();
        objects.close();
        db.close();
    }
}
