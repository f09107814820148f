package dev.likeness.cli;

import dev.likeness.engine.Backend;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.ModelPaths;
import dev.likeness.pipeline.safety.SafetyChecker;
import dev.likeness.pipeline.safety.SafetyCheckers;
import dev.likeness.server.LikenessServer;
import dev.likeness.server.ServerConfig;
import dev.likeness.server.endpoints.IdeogramCharacterEndpoint;
import dev.likeness.server.endpoints.InstantCharacterEndpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code likeness serve}: the fal-compatible HTTP server ({@code server/README.md}) with {@code fal-ai/instant-character}
 * on the real pipeline. The weights are found as {@code likeness generate} finds them (else the built-in tiny model,
 * with a notice). Runs until SIGTERM / SIGINT, then stops gracefully: it stops listening, asks running requests to
 * stop (they are queued again and run at the next start) and closes the database.
 *
 * <p>Access: with {@code --open} no key is ever needed. Otherwise keys ({@code likeness keys create}) are required as
 * soon as one exists; while none exists the server is open, which is why it binds to 127.0.0.1 unless told.
 *
 * <p>HTTPS: {@code --tls-port} adds an HTTPS listener with the same routes, using {@code --tls-cert}/{@code --tls-key}
 * or else a certificate signed by a local CA generated in {@code DATA/tls/} (the start-up log says where
 * {@code ca.pem} is and how each client trusts it); {@code --tls-host} adds names to the generated certificate.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve fal-ai/instant-character and fal-ai/ideogram/character over fal's HTTP API (queue, status, stream, files, webhooks).")
final class ServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--port", defaultValue = "8080", description = "Port to listen on (0: any). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--host", defaultValue = "127.0.0.1",
            description = "Interface to bind. Default: ${DEFAULT-VALUE} (local only; use 0.0.0.0 with API keys).")
    String host;

    @Option(names = "--queue-port", defaultValue = "-1",
            description = "Optional second port serving the queue at its root, like queue.fal.run (-1: none).")
    int queuePort;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "Database, stored files and webhook key. Default: $LIKENESS_DATA, else ~/.local/share/likeness/server.")
    Path dataDir;

    @Option(names = "--models", paramLabel = "DIR",
            description = "Folder with the real weights; default $LIKENESS_MODELS, else 'models' in the config file, "
                    + "else the built-in tiny model.")
    Path models;

    @Option(names = "--workers", defaultValue = "1",
            description = "Requests taken from the queue at once. Generation itself runs one at a time (it uses every "
                    + "core); more workers fetch and decode the next inputs meanwhile. Default: ${DEFAULT-VALUE}.")
    int workers;

    @Option(names = "--threads", description = "CPU threads of the engine (default: all cores).")
    Integer threads;

    @Option(names = "--device", paramLabel = "DEVICE", description = DeviceOption.DESCRIPTION)
    String device;

    @Option(names = "--keep-encoders",
            description = "Keep the text and image encoders loaded between requests (faster requests, more memory; "
                    + "by default they are unmapped after their phase, which real weights need on a 32 GB machine).")
    boolean keepEncoders;

    @Option(names = "--fp8", negatable = false, description = GenerateCommand.FP8_DESCRIPTION)
    boolean fp8;

    @Option(names = "--open", description = "Open local mode: no API key is needed, even when keys exist.")
    boolean open;

    @Option(names = "--public-url", paramLabel = "URL",
            description = "Base URL put in every URL the server hands out (default: from each request's Host).")
    String publicUrl;

    @Option(names = "--retention", paramLabel = "DURATION", defaultValue = "P7D",
            description = "How long results and files are kept, ISO-8601 (P7D, PT12H). Default: ${DEFAULT-VALUE}.")
    Duration retention;

    @Option(names = "--max-concurrent-per-key", defaultValue = "0",
            description = "Running requests per key before synchronous runs get 429 (0: no limit).")
    int maxConcurrentPerKey;

    @Option(names = "--max-queued-per-key", defaultValue = "0",
            description = "Queued requests per key before submits get 429 (0: no limit).")
    int maxQueuedPerKey;

    @Option(names = "--role", paramLabel = "ROLE", defaultValue = "all",
            description = "api: serve HTTP, run no requests; worker: run queued requests, no HTTP; all: both. "
                    + "api and worker processes share --db and --storage (server/README.md, Scale-out). Default: ${DEFAULT-VALUE}.")
    String role;

    @Option(names = "--db", paramLabel = "URL",
            description = "Shared database, postgresql://user:password@host:5432/likeness (default: $LIKENESS_DB, "
                    + "else the embedded SQLite file in the data directory, one process only).")
    String db;

    @Option(names = "--storage", paramLabel = "URL",
            description = "Shared file storage, s3://[key:secret@]bucket[/prefix]?endpoint=https://host&region=... "
                    + "(default: $LIKENESS_STORAGE, else the data directory).")
    String storage;

    @Option(names = "--lease", paramLabel = "DURATION", defaultValue = "PT30S",
            description = "With --db: how long a dead worker's request stays claimed before another worker takes it "
                    + "back (heartbeat every third of it). Default: ${DEFAULT-VALUE}.")
    Duration lease;
    @Option(names = "--tls-port", defaultValue = "-1",
            description = "Also serve HTTPS on this port (0: any; -1: no HTTPS, the default). The Python client "
                    + "fal-client only speaks HTTPS.")
    int tlsPort;

    @Option(names = "--tls-cert", paramLabel = "PEM",
            description = "Certificate chain for HTTPS (PEM, server certificate first). Default: a certificate "
                    + "signed by a local CA generated in DATA/tls/ (clients trust DATA/tls/ca.pem).")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM",
            description = "Private key of --tls-cert (PEM, PKCS#8 or PKCS#1, unencrypted).")
    Path tlsKey;

    @Option(names = "--tls-host", paramLabel = "NAME", split = ",",
            description = "Extra host name or address for the generated certificate (repeatable or comma-separated; "
                    + "localhost, 127.0.0.1, ::1 and the bind address are always in it).")
    List<String> tlsHosts = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        if (workers < 1 || workers > 64) throw new Likeness.UsageError("--workers must be between 1 and 64, got " + workers);
        if (port < 0 || port > 65535) throw new Likeness.UsageError("--port must be between 0 and 65535, got " + port);
        if (tlsPort < -1 || tlsPort > 65535) {
            throw new Likeness.UsageError("--tls-port must be between 0 and 65535 (or -1: no HTTPS), got " + tlsPort);
        }
        if ((tlsCert == null) != (tlsKey == null)) {
            throw new Likeness.UsageError("--tls-cert and --tls-key go together (got only "
                    + (tlsCert != null ? "--tls-cert" : "--tls-key") + ")");
        }
        if (tlsPort < 0 && (tlsCert != null || !tlsHosts.isEmpty())) {
            throw new Likeness.UsageError("--tls-cert, --tls-key and --tls-host need --tls-port");
        }
        for (Path f : new Path[] {tlsCert, tlsKey}) {
            if (f != null && !java.nio.file.Files.isReadable(f)) {
                throw new Likeness.UsageError("cannot read " + (f == tlsCert ? "--tls-cert" : "--tls-key") + " file "
                        + f.toAbsolutePath());
            }
        }
        if (tlsCert != null && !tlsHosts.isEmpty()) {
            throw new Likeness.UsageError("--tls-host names the generated certificate's hosts; it has no effect "
                    + "with --tls-cert");
        }
        DeviceOption.validated(device);
        Path data = dataDir != null ? dataDir : defaultDataDir();
        ServerConfig config = config(data);

        Backend backend = DeviceOption.open(device, threads, err);
        Path modelsRoot = GenerateCommand.modelsRoot(models);
        ModelPaths paths = GenerateCommand.modelPaths(modelsRoot, err);
        long t0 = System.nanoTime();
        InstantCharacterPipeline pipeline = paths.load(backend, !keepEncoders, fp8);
        err.printf(Locale.ROOT, "likeness: models loaded in %.1f s%n", (System.nanoTime() - t0) / 1e9);
        SafetyChecker safety = SafetyCheckers.load(modelsRoot, backend);
        err.println("likeness: safety checker " + safety.name() + " (requests may turn it off with "
                + "enable_safety_checker=false)");
        LikenessServer server;
        InstantCharacterEndpoint endpoint = new InstantCharacterEndpoint(pipeline, backend, safety);
        IdeogramCharacterEndpoint ideogram = new IdeogramCharacterEndpoint(pipeline, backend, safety);
        try {
            server = new LikenessServer(config, List.of(endpoint, ideogram)).start();
        } catch (Exception e) {
            pipeline.close();
            backend.close();
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            err.println("likeness: stopping (running requests are queued again)...");
            try {
                server.close();
                if (endpoint.awaitIdle(Duration.ofSeconds(10)) && ideogram.awaitIdle(Duration.ofSeconds(10))) {
                    pipeline.close();
                    backend.close();
                } else {
                    err.println("likeness: a generation is still inside a denoising step; exiting without closing "
                            + "the models (its request was queued again)");
                }
            } catch (Exception e) {
                err.println("likeness: error while stopping: " + e.getMessage());
            }
            err.println("likeness: stopped");
            err.flush();
            stopped.countDown();
        }, "likeness-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);

        if (config.databaseUrl() != null || config.storageUrl() != null) {
            err.println("likeness: role " + config.role().name().toLowerCase(Locale.ROOT) + ", worker id "
                    + server.queue().workerId() + ", database " + (config.databaseUrl() != null ? "PostgreSQL" : "embedded")
                    + ", files " + (config.storageUrl() != null ? "S3" : "in " + data.resolve("files")));
        }
        if (config.role() == ServerConfig.Role.WORKER) {
            err.println("likeness: worker running queued requests (no HTTP listener)");
            err.flush();
            stopped.await();
            return 0;
        }
        String base = "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + server.port();
        err.println("likeness: serving fal-ai/instant-character at " + base + " (data in " + data.toAbsolutePath() + ")");
        err.println("likeness: serving fal-ai/ideogram/character at " + base);
        err.println("likeness: playground at " + base + "/");
        if (server.queuePort() >= 0) err.println("likeness: queue listener on port " + server.queuePort());
        if (server.tlsPort() >= 0) {
            err.println("likeness: serving HTTPS at https://" + (host.contains(":") ? "[" + host + "]" : host) + ":"
                    + server.tlsPort() + " (same routes)");
            Path ca = server.tlsCaFile();
            if (ca != null) {
                Path abs = ca.toAbsolutePath();
                err.println("likeness: HTTPS certificate signed by the local CA " + abs + "; trust it in clients: "
                        + "Node NODE_EXTRA_CA_CERTS=" + abs + ", Python SSL_CERT_FILE=" + abs + ", curl --cacert " + abs
                        + ", Java keytool -importcert -alias likeness -file " + abs);
            } else {
                err.println("likeness: HTTPS certificate " + tlsCert.toAbsolutePath());
            }
        }
        if (open) {
            err.println("likeness: open mode: no API key is needed");
        } else if (server.keys().open()) {
            err.println("likeness: no API key exists, so no key is needed until one is created "
                    + "('likeness keys create " + (config.databaseUrl() != null ? "--db <the same URL>" : "--data-dir " + data) + "')");
            if (!isLoopback(host)) {
                err.println("likeness: WARNING: listening on " + host + " without API keys: anyone who can reach "
                        + "this port can use it");
            }
        } else {
            err.println("likeness: API keys required (Authorization: Key <id>:<secret>)");
        }
        err.println("likeness: try: curl -X POST " + base + "/fal-ai/instant-character -H 'Content-Type: application/json' "
                + "-d '{\"prompt\":\"...\",\"image_url\":\"data:image/png;base64,...\"}'");
        err.flush();
        stopped.await();
        return 0;
    }

    ServerConfig config(Path data) {
        ServerConfig c = new ServerConfig(data).host(host).port(port).queuePort(queuePort).workers(workers)
                .publicUrl(publicUrl).retention(retention).maxConcurrentPerKey(maxConcurrentPerKey)
                .maxQueuedPerKey(maxQueuedPerKey);
        if (open) c.openAccess(true);
        ServerConfig.Role r;
        try {
            r = ServerConfig.Role.valueOf(role.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new Likeness.UsageError("--role must be api, worker or all, got '" + role + "'");
        }
        String dbUrl = db != null ? db : blankToNull(System.getenv("LIKENESS_DB"));
        String storageUrl = storage != null ? storage : blankToNull(System.getenv("LIKENESS_STORAGE"));
        if (r != ServerConfig.Role.ALL && dbUrl == null) {
            throw new Likeness.UsageError("--role " + role + " needs a shared --db postgresql://... (the embedded "
                    + "database serves one process)");
        }
        if (dbUrl != null && !dbUrl.matches("(?i)(postgres|postgresql|jdbc:postgresql):.*")) {
            throw new Likeness.UsageError("--db must be a postgresql:// URL, got '" + dbUrl.replaceAll(":[^:@/]*@", ":***@") + "'");
        }
        if (storageUrl != null && !storageUrl.startsWith("s3://")) {
            throw new Likeness.UsageError("--storage must be an s3:// URL, got '" + storageUrl.replaceAll(":[^:@/]*@", ":***@") + "'");
        }
        if (lease.isNegative() || lease.toMillis() < 300) throw new Likeness.UsageError("--lease must be at least PT0.3S");
        if (tlsPort >= 0) {
            c.tlsPort(tlsPort).tlsCertificate(tlsCert).tlsKey(tlsKey).tlsHostNames(new java.util.LinkedHashSet<>(tlsHosts));
        }
        return c.role(r).databaseUrl(dbUrl).storageUrl(storageUrl).lease(lease);
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }

    /** {@code $LIKENESS_DATA}, else {@code ~/.local/share/likeness/server}. */
    static Path defaultDataDir() {
        String env = System.getenv("LIKENESS_DATA");
        if (env != null && !env.isBlank()) return Path.of(env);
        return Path.of(System.getProperty("user.home"), ".local", "share", "likeness", "server");
    }

    private static boolean isLoopback(String host) {
        return host.equals("127.0.0.1") || host.equals("localhost") || host.equals("::1") || host.startsWith("127.");
    }
}
