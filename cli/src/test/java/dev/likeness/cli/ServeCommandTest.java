package dev.likeness.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.likeness.server.ServerConfig;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code likeness serve} as a user runs it: a child JVM on the tiny model, a request over HTTP, API keys created with
 * {@code likeness keys} while it runs, then SIGTERM and a graceful stop.
 */
class ServeCommandTest {
    private static final Path CHARACTER = Path.of("..", "examples", "character.png");
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Likeness.commandLine(new PrintWriter(out, true), new PrintWriter(err, true)).execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    /** A running child server: the process, its log file, its base URL. */
    private record Child(Process process, Path log, String base) {
    }

    private static Child startServer(Path dir, Path data, String logName, String... extra) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (a.startsWith("--add-modules") || a.startsWith("--enable-native-access")) {
                cmd.add(a);
            }
        }
        if (System.getProperty("likeness.cache") != null) cmd.add("-Dlikeness.cache=" + System.getProperty("likeness.cache"));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Likeness.class.getName(), "serve",
                "--port", "0", "--data-dir", data.toString(), "--threads", "2"));
        cmd.addAll(List.of(extra));
        Path logFile = dir.resolve(logName);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(logFile.toFile());
        pb.environment().remove("LIKENESS_MODELS");
        pb.environment().remove("LIKENESS_DEVICE");
        pb.environment().put("LIKENESS_CONFIG", dir.resolve("no-config.properties").toString());
        Process p = pb.start();
        String marker = "serving fal-ai/instant-character at ";
        String log = "";
        long end = System.currentTimeMillis() + 120_000;
        while (p.isAlive() && System.currentTimeMillis() < end) {
            Thread.sleep(50);
            log = Files.readString(logFile);
            int at = log.indexOf(marker);
            if (at >= 0 && log.indexOf('\n', at) > 0) {
                return new Child(p, logFile, log.substring(at + marker.length()).split("[ \n]")[0]);
            }
        }
        p.destroyForcibly();
        throw new AssertionError("the server did not start:\n" + log);
    }

    @Test
    void servesARequestRequiresKeysOnceCreatedAndStopsOnSigterm(@TempDir Path dir) throws Exception {
        Path data = dir.resolve("data");
        Child child = startServer(dir, data, "serve.log");
        Process p = child.process();
        String base = child.base();
        String id;
        try {
            assertTrue(Files.readString(child.log()).contains("built-in tiny model"));
            String started = Files.readString(child.log());
            assertEquals(1, started.lines().filter(l -> l.startsWith("likeness: backend: ")).count(), started);
            assertTrue(started.contains("likeness: backend: cpu (2 threads)")
                    || started.contains("likeness: backend: cuda:0 ("), started);
            String body = "{\"prompt\":\"a robot\",\"image_url\":\"data:image/png;base64,"
                    + Base64.getEncoder().encodeToString(Files.readAllBytes(CHARACTER))
                    + "\",\"image_size\":{\"width\":32,\"height\":32},\"num_inference_steps\":1,\"seed\":3}";
            HttpResponse<String> open = post(base + "/fal-ai/instant-character", body, null);
            assertEquals(200, open.statusCode(), open.body());
            JsonNode img = JSON.readTree(open.body()).get("images").get(0);
            assertEquals(32, img.get("width").asInt());
            assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(img.get("url").asText())).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode());

            // a key created while the server runs closes it
            Run created = run("keys", "create", "--data-dir", data.toString());
            assertEquals(0, created.exit(), created.err());
            String key = created.out().strip();
            assertTrue(key.matches("[0-9a-f-]+:[A-Za-z0-9_-]+"), key);
            assertEquals(401, post(base + "/fal-ai/instant-character", body, null).statusCode());
            assertEquals(200, post(base + "/fal-ai/instant-character", body, key).statusCode());
            Run listed = run("keys", "list", "--data-dir", data.toString());
            assertTrue(listed.out().startsWith(key.substring(0, key.indexOf(':')) + "\t"), listed.out());
            assertTrue(listed.out().contains("active"), listed.out());
            Run revoked = run("keys", "revoke", key.substring(0, key.indexOf(':')), "--data-dir", data.toString());
            assertEquals(0, revoked.exit(), revoked.err());
            assertTrue(run("keys", "list", "--data-dir", data.toString()).out().contains("revoked"));
            assertEquals(2, run("keys", "revoke", "nope", "--data-dir", data.toString()).exit());

            // SIGTERM while a queued request is generating: it stops between steps and is queued again
            String longer = body.replace("\"width\":32,\"height\":32},\"num_inference_steps\":1",
                    "\"width\":512,\"height\":512},\"num_inference_steps\":40");
            JsonNode sub = JSON.readTree(post(base + "/queue/fal-ai/instant-character", longer, null).body());
            id = sub.get("request_id").asText();
            long end = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < end && !get(sub.get("status_url").asText() + "?logs=1").contains("step 1/40")) {
                Thread.sleep(20);
            }
            p.destroy();  // SIGTERM
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the server did not stop on SIGTERM");
            String rest = Files.readString(child.log());
            assertTrue(rest.contains("likeness: stopping") && rest.contains("likeness: stopped"), rest);
        } finally {
            p.destroyForcibly();
        }

        // the next start runs it to the end; it also serves HTTPS with a generated local CA
        Child again = startServer(dir, data, "serve2.log", "--tls-port", "0", "--tls-host", "likeness.test,10.9.8.7");
        try {
            String log = waitForLine(again, "likeness: HTTPS certificate signed by the local CA ");
            Path ca = data.resolve("tls").resolve("ca.pem").toAbsolutePath();
            assertTrue(log.startsWith(ca + ";") && log.contains("NODE_EXTRA_CA_CERTS=" + ca)
                    && log.contains("SSL_CERT_FILE=" + ca), log);
            String httpsBase = waitForLine(again, "likeness: serving HTTPS at ").split(" ")[0];
            assertTrue(httpsBase.matches("https://127\\.0\\.0\\.1:[0-9]+"), httpsBase);
            HttpClient https = HttpClient.newBuilder().sslContext(trusting(ca)).connectTimeout(Duration.ofSeconds(5)).build();
            String status = httpsBase + "/queue/fal-ai/instant-character/requests/" + id + "/status?logs=1";
            String last = "";
            long end = System.currentTimeMillis() + 120_000;
            HttpResponse<String> polled = null;
            while (System.currentTimeMillis() < end && !last.contains("\"COMPLETED\"")) {
                Thread.sleep(100);
                polled = https.send(HttpRequest.newBuilder(URI.create(status)).build(), HttpResponse.BodyHandlers.ofString());
                last = polled.body();
            }
            // the certificate names the extra hosts given with --tls-host
            X509Certificate leaf = (X509Certificate) polled.sslSession().orElseThrow().getPeerCertificates()[0];
            String sans = String.valueOf(leaf.getSubjectAlternativeNames());
            assertTrue(sans.contains("likeness.test") && sans.contains("10.9.8.7") && sans.contains("localhost"), sans);
            assertTrue(JSON.readTree(last).get("response_url").asText().startsWith("https://"), last);
            JsonNode done = JSON.readTree(last);
            assertEquals("COMPLETED", done.get("status").asText(), last);
            assertTrue(!done.has("error"), last);
            assertTrue(last.contains("The server is shutting down; the request was queued again."), last);
            assertTrue(last.contains("step 40/40"), last);
            JsonNode out = JSON.readTree(get(again.base() + "/queue/fal-ai/instant-character/requests/" + id));
            assertEquals(512, out.get("images").get(0).get("width").asInt());
        } finally {
            again.process().destroy();
            again.process().waitFor(30, TimeUnit.SECONDS);
            again.process().destroyForcibly();
        }
    }

    /** Waits for a log line starting with {@code prefix}; returns the rest of that line. */
    private static String waitForLine(Child child, String prefix) throws Exception {
        long end = System.currentTimeMillis() + 30_000;
        String log = "";
        while (System.currentTimeMillis() < end) {
            log = Files.readString(child.log());
            int at = log.indexOf(prefix);
            if (at >= 0 && log.indexOf('\n', at) > 0) return log.substring(at + prefix.length(), log.indexOf('\n', at));
            Thread.sleep(50);
        }
        throw new AssertionError("no line '" + prefix + "' in:\n" + log);
    }

    /** An SSL context trusting only the given CA certificate (PEM). */
    private static SSLContext trusting(Path caPem) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (var in = Files.newInputStream(caPem)) {
            trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        return ssl;
    }

    @Test
    void tlsFlagsMapToTheServerConfig(@TempDir Path dir) {
        ServeCommand cmd = new ServeCommand();
        new CommandLine(cmd).parseArgs("--tls-port", "8443", "--tls-host", "a.example,b.example", "--tls-host", "10.0.0.5");
        ServerConfig c = cmd.config(dir);
        assertEquals(8443, c.tlsPort());
        assertEquals(Set.of("a.example", "b.example", "10.0.0.5"), c.tlsHostNames());
        assertNull(c.tlsCertificate());

        ServeCommand given = new ServeCommand();
        new CommandLine(given).parseArgs("--tls-port", "0", "--tls-cert", "c.pem", "--tls-key", "k.pem");
        ServerConfig g = given.config(dir);
        assertEquals(0, g.tlsPort());
        assertEquals(Path.of("c.pem"), g.tlsCertificate());
        assertEquals(Path.of("k.pem"), g.tlsKey());

        ServeCommand none = new ServeCommand();
        new CommandLine(none).parseArgs();
        assertEquals(-1, none.config(dir).tlsPort());
    }

    @Test
    void badTlsArguments() {
        Run half = run("serve", "--tls-port", "0", "--tls-cert", "c.pem");
        assertEquals(2, half.exit());
        assertTrue(half.err().contains("--tls-cert and --tls-key go together (got only --tls-cert)"), half.err());
        Run noPort = run("serve", "--tls-host", "a.example");
        assertEquals(2, noPort.exit());
        assertTrue(noPort.err().contains("need --tls-port"), noPort.err());
        Run range = run("serve", "--tls-port", "70000");
        assertEquals(2, range.exit());
        assertTrue(range.err().contains("--tls-port must be between 0 and 65535"), range.err());
    }

    @Test
    void aMissingKeyFileIsRefusedBeforeLoadingModels(@TempDir Path dir) throws Exception {
        Path cert = dir.resolve("cert.pem");
        Files.writeString(cert, "-----BEGIN CERTIFICATE-----\n");
        Path key = dir.resolve("missing-key.pem");
        Run r = run("serve", "--port", "0", "--data-dir", dir.resolve("data").toString(), "--tls-port", "0",
                "--tls-cert", cert.toString(), "--tls-key", key.toString());
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("cannot read --tls-key file " + key.toAbsolutePath()), r.err());
        assertTrue(!r.err().contains("models loaded"), r.err());
    }

    private String get(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    @Test
    void badServeArguments() {
        Run r = run("serve", "--workers", "0");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--workers must be between 1 and 64"), r.err());
        r = run("serve", "--role", "gpu");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--role must be api, worker or all, got 'gpu'"), r.err());
        r = run("serve", "--role", "worker");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--role worker needs a shared --db postgresql://"), r.err());
        r = run("serve", "--db", "mysql://u:secret@h/db");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--db must be a postgresql:// URL, got 'mysql://u:***@h/db'"), r.err());
        r = run("serve", "--storage", "gs://bucket");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--storage must be an s3:// URL"), r.err());
    }

    private HttpResponse<String> post(String url, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("Authorization", "Key " + key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
