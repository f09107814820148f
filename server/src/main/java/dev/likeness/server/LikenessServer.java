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
    private final ServerConfig config;
    private final Database db;
    private final FileStore files;
    private final Keys keys;
    private final RequestQueue queue;
    private final Webhooks webhooks;
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
        queue.onCompleted(webhooks::completed);
        this.handler = new FalHandler(queue, keys, files, db, config, webhooks);

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
        webhooks.start();
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
        queue.close();
        webhooks.close();
        jetty.stop();
        db.close();
    }
}
