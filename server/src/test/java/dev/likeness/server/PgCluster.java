package dev.likeness.server;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * TEST ONLY: a private PostgreSQL cluster in a temporary directory on a free loopback port, from the server binaries of
 * Debian's {@code postgresql} package ({@code /usr/lib/postgresql/<version>/bin}; {@code $LIKENESS_PG_BIN} overrides),
 * which {@code scripts/test.sh} installs. PostgreSQL refuses to run as root: as root, the cluster runs as the
 * {@code postgres} user the package creates ({@code runuser}). When no binaries exist the calling test is skipped,
 * naming what is missing.
 */
final class PgCluster implements AutoCloseable {
    private final Path bin;
    private final Path dir;
    private final int port;
    private final boolean asPostgres;
    private int databases;

    private PgCluster(Path bin, Path dir, int port, boolean asPostgres) {
        this.bin = bin;
        this.dir = dir;
        this.port = port;
        this.asPostgres = asPostgres;
    }

    /** The server binaries, or null. */
    static Path findBin() throws IOException {
        String env = System.getenv("LIKENESS_PG_BIN");
        if (env != null && Files.isExecutable(Path.of(env, "pg_ctl"))) return Path.of(env);
        Path debian = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(debian)) {
            try (Stream<Path> s = Files.list(debian)) {
                List<Path> bins = new ArrayList<>(s.map(p -> p.resolve("bin"))
                        .filter(p -> Files.isExecutable(p.resolve("initdb")) && Files.isExecutable(p.resolve("pg_ctl"))).toList());
                bins.sort(Comparator.comparingInt(p -> -versionOf(p.getParent().getFileName().toString())));
                if (!bins.isEmpty()) return bins.getFirst();
            }
        }
        return null;
    }

    private static int versionOf(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** Starts a cluster, or skips the calling test with the reason it cannot. */
    static PgCluster startOrSkip() throws Exception {
        Path bin = findBin();
        Assumptions.assumeTrue(bin != null, "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin or "
                + "$LIKENESS_PG_BIN): install Debian's postgresql package (scripts/test.sh does when it can)");
        boolean root = "root".equals(System.getProperty("user.name"));
        if (root) {
            Assumptions.assumeTrue(run(List.of("id", "-u", "postgres"), 10) == 0,
                    "running as root and no 'postgres' user exists to run PostgreSQL as");
        }
        Path dir = Files.createTempDirectory("likeness-pg");
        if (root && run(List.of("chown", "-R", "postgres:", dir.toString()), 10) != 0) {
            throw new IllegalStateException("cannot chown " + dir + " to postgres");
        }
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        PgCluster c = new PgCluster(bin, dir, port, root);
        c.pg(60, "initdb", "-D", dir.resolve("data").toString(), "-U", "likeness", "-A", "trust", "--no-sync",
                "-E", "UTF8", "--locale=C");
        c.pg(60, "pg_ctl", "-D", dir.resolve("data").toString(), "-l", dir.resolve("log").toString(), "-w", "-o",
                "-p " + port + " -k " + dir + " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
                        + " -c max_connections=200", "start");
        return c;
    }

    private void pg(int timeoutSeconds, String tool, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        if (asPostgres) cmd.addAll(List.of("runuser", "-u", "postgres", "--"));
        cmd.add(bin.resolve(tool).toString());
        cmd.addAll(List.of(args));
        int rc = run(cmd, timeoutSeconds);
        if (rc != 0) {
            String log = Files.exists(dir.resolve("log")) ? Files.readString(dir.resolve("log")) : "";
            throw new IllegalStateException(tool + " failed (exit " + rc + "): " + String.join(" ", cmd) + "\n" + log);
        }
    }

    private static int run(List<String> cmd, int timeoutSeconds) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }

    /** A new empty database in the cluster, as a {@code postgresql://} URL. */
    synchronized String newDatabase() throws Exception {
        String name = "likeness" + (++databases);
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres", "likeness", "");
             Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        }
        return "postgresql://likeness@127.0.0.1:" + port + "/" + name;
    }

    int port() {
        return port;
    }

    @Override
    public void close() throws Exception {
        try {
            pg(60, "pg_ctl", "-D", dir.resolve("data").toString(), "-m", "immediate", "-w", "stop");
        } finally {
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }
}
