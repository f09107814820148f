package dev.likeness.server;

import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * TEST ONLY: a real S3-compatible server on a free loopback port: s3proxy (its self-contained jar from Maven Central,
 * copied to {@code target/s3proxy/s3proxy.jar} by the build) in its own JVM, on a filesystem blob store in a temporary
 * directory, accepting only signed (AWS v2/v4) requests.
 */
final class S3Server implements AutoCloseable {
    static final String ACCESS = "likeness-test";
    static final String SECRET = "likeness-test-secret";
    private final Process process;
    private final Path dir;
    private final int port;

    private S3Server(Process process, Path dir, int port) {
        this.process = process;
        this.dir = dir;
        this.port = port;
    }

    /** Starts s3proxy, or skips the calling test when its jar is not there. */
    static S3Server startOrSkip() throws Exception {
        Path jar = Path.of("target", "s3proxy", "s3proxy.jar").toAbsolutePath();
        Assumptions.assumeTrue(Files.isRegularFile(jar), "s3proxy not found at " + jar
                + " (the server module's build copies it from Maven Central in process-test-resources)");
        Path dir = Files.createTempDirectory("likeness-s3");
        Files.createDirectories(dir.resolve("blobs"));
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Files.writeString(dir.resolve("s3proxy.properties"), String.join("\n",
                "s3proxy.endpoint=http://127.0.0.1:" + port,
                "s3proxy.authorization=aws-v2-or-v4",
                "s3proxy.identity=" + ACCESS,
                "s3proxy.credential=" + SECRET,
                "jclouds.provider=filesystem-nio2",
                "jclouds.identity=" + ACCESS,
                "jclouds.credential=" + SECRET,
                "jclouds.filesystem.basedir=" + dir.resolve("blobs")) + "\n");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-Xmx256m", "-jar", jar.toString(), "--properties",
                dir.resolve("s3proxy.properties").toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("s3proxy.log").toFile()).start();
        S3Server s = new S3Server(p, dir, port);
        long end = System.currentTimeMillis() + 60_000;
        while (true) {
            try (Socket sock = new Socket()) {
                sock.connect(new InetSocketAddress("127.0.0.1", port), 200);
                return s;
            } catch (java.io.IOException e) {
                if (!p.isAlive() || System.currentTimeMillis() > end) {
                    String log = Files.readString(dir.resolve("s3proxy.log"));
                    s.close();
                    throw new IllegalStateException("s3proxy did not start:\n" + log);
                }
                Thread.sleep(50);
            }
        }
    }

    String endpoint() {
        return "http://127.0.0.1:" + port;
    }

    /** A storage URL for a bucket (created on first use). */
    String url(String bucket) {
        return "s3://" + ACCESS + ":" + SECRET + "@" + bucket + "?endpoint=" + endpoint() + "&create=true";
    }

    @Override
    public void close() throws Exception {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
