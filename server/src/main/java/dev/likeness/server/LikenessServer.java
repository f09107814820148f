package dev.likeness.server;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * The Likeness HTTP server: fal-compatible routes ({@link FalHandler}) over Jetty, the durable {@link RequestQueue}
 * with its workers, API {@link Keys} and the {@link FileStore}, all kept in the configured data directory.
 */
public final class LikenessServer implements AutoCloseable {
    private static final java.util.logging.Logger LOG = java.util.logging.Logger.getLogger(LikenessServer.class.getName());
    private final ServerConfig config;
    private final Database db;
    private final FileStore files;
    private final Keys keys;
    private final RequestQueue queue;
    private final Webhooks webhooks;
    private final Ledger ledger;
    private final Metrics metrics;
    private final java.util.concurrent.ScheduledExecutorService sweeper;
    private final FalHandler handler;
    private final Server jetty;
    private final ServerConnector main;
    private final ServerConnector queueConnector;

    /** Builds the server (nothing listens or runs until {@link #start()}). */
    public LikenessServer(ServerConfig config, List<Endpoint> endpoints) {
        this.config = config;
        Map<String, Endpoint> byId = new LinkedHashMap<>();
        for (Endpoint e : endpoints) {
            if (byId.put(e.id(), e) != null) throw new IllegalArgumentException("endpoint '" + e.id() + "' given twice");
        }
        this.db = new Database(config.dataDir());
        this.files = new FileStore(db, config.dataDir());
        this.keys = new Keys(db, config.openAccess());
        this.queue = new RequestQueue(db, files, new InputFetcher(files, config), config, byId);
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
        jetty.setHandler(handler);
    }

    /** Recovers the queue, starts the workers, then listens. */
    public LikenessServer start() throws Exception {
        queue.start();
        ledger.recover();
        webhooks.start();
        long every = Math.max(1, config.sweepInterval().toMillis());
        sweeper.scheduleWithFixedDelay(this::sweepQuietly, 0, every, java.util.concurrent.TimeUnit.MILLISECONDS);
        jetty.start();
        return this;
    }

    /** The port of the main listener (the bound one when configured as 0). */
    public int port() {
        return main.getLocalPort();
    }

    /** The port of the queue listener, or -1. */
    public int queuePort() {
        return queueConnector == null ? -1 : queueConnector.getLocalPort();
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
                java.nio.file.Files.deleteIfExists(files.path(id));
            } catch (java.io.IOException | RuntimeException e) {
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
    public Database database() {
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
        jetty.stop();
        db.close();
    }
}
