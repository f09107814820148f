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
    private final ServerConfig config;
    private final Database db;
    private final FileStore files;
    private final Keys keys;
    private final RequestQueue queue;
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
        this.db = new Database(config.dataDir());
        this.files = new FileStore(db, config.dataDir());
        this.keys = new Keys(db, config.openAccess());
        this.queue = new RequestQueue(db, files, new InputFetcher(files, config), config, byId);
        this.handler = new FalHandler(queue, keys, files, db, config);

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

    /** Recovers the queue, starts the workers, then listens. */
    public LikenessServer start() throws Exception {
        queue.start();
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

    /** The configuration. */
    public ServerConfig config() {
        return config;
    }

    /** Stops listening, asks running requests to stop (they are queued again) and closes the database. */
    @Override
    public void close() throws Exception {
        handler.closing();
        queue.close();
        jetty.stop();
        db.close();
    }
}
