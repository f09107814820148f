package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TlsTest {
    @TempDir
    Path dir;

    /** A java.net.http client that trusts only the given CA file and checks host names. */
    static HttpClient trusting(Path caFile) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        try (InputStream in = Files.newInputStream(caFile)) {
            int i = 0;
            for (var c : CertificateFactory.getInstance("X.509").generateCertificates(in)) trust.setCertificateEntry("ca" + i++, c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return HttpClient.newBuilder().sslContext(ctx).version(HttpClient.Version.HTTP_1_1).build();
    }

    @Test
    void generatedCertificateServesHttpsNextToHttp() throws Exception {
        try (Harness h = new Harness(dir, List.of(new FakeCharacterEndpoint()), c -> c.tlsPort(0).tlsHostNames(Set.of("likeness.test")))) {
            Path ca = h.server.tlsCaFile();
            assertEquals(dir.resolve("tls/ca.pem"), ca);
            HttpClient https = trusting(ca);
            for (String host : List.of("127.0.0.1", "localhost")) {
                var r = https.send(HttpRequest.newBuilder(URI.create("https://" + host + ":" + h.server.tlsPort() + "/health")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), host);
            }
            // URLs handed out over HTTPS are https URLs; the HTTP listener still answers
            var submit = https.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + h.server.tlsPort() + "/queue/fal-ai/instant-character"))
                    .POST(HttpRequest.BodyPublishers.ofString(Harness.input().toString())).header("Content-Type", "application/json").build(),
                    HttpResponse.BodyHandlers.ofString());
            JsonNode s = Json.parse(submit.body());
            assertTrue(s.get("status_url").asText().startsWith("https://127.0.0.1:" + h.server.tlsPort() + "/queue/"), s.toString());
            assertEquals(200, h.get("/health").statusCode());

            X509Certificate leaf = (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificates(Files.newInputStream(dir.resolve("tls/cert.pem"))).iterator().next();
            var names = leaf.getSubjectAlternativeNames().stream().map(l -> l.get(1).toString()).toList();
            assertTrue(names.containsAll(List.of("localhost", "127.0.0.1", "likeness.test")), names.toString());
            assertEquals(-1, leaf.getBasicConstraints());
            assertTrue(leaf.getExtendedKeyUsage().contains("1.3.6.1.5.5.7.3.1"));
            if (!System.getProperty("os.name").startsWith("Windows")) {
                assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
                        Files.getPosixFilePermissions(dir.resolve("tls/key.pem"))));
            }
        }
    }

    @Test
    void generatedIdentityIsKeptAndReissuedByTheSameCaForNewNames() throws Exception {
        Path tls = dir.resolve("tls");
        Tls.Identity a = Tls.selfSigned(tls, Set.of("localhost"));
        String ca = Files.readString(tls.resolve("ca.pem"));
        Tls.Identity b = Tls.selfSigned(tls, Set.of("localhost"));
        assertEquals(a.chain().getFirst(), b.chain().getFirst());
        Tls.Identity c = Tls.selfSigned(tls, Set.of("localhost", "other.test"));
        assertNotEquals(a.chain().getFirst(), c.chain().getFirst());
        assertEquals(ca, Files.readString(tls.resolve("ca.pem")));
        c.chain().getFirst().verify(a.chain().get(1).getPublicKey());
    }

    @Test
    void wildcardBindCoversThisMachinesNamesAndAddresses() throws Exception {
        Tls.Identity id = Tls.identity(new ServerConfig(dir).host("0.0.0.0"));
        var names = id.chain().getFirst().getSubjectAlternativeNames().stream()
                .map(l -> l.get(1).toString().replaceAll("^0:0:0:0:0:0:0:1$", "::1")).toList();
        assertTrue(names.contains("localhost") && names.contains("127.0.0.1"), names.toString());
        for (String n : Tls.localNames()) {
            String want = n.contains(":") ? java.net.InetAddress.getByName(n).getHostAddress() : n;
            assertTrue(names.contains(want), want + " not in " + names);
        }
    }

    @Test
    void certificateAndKeyGivenByPath() throws Exception {
        // an RSA key in PKCS#1 form and a certificate made by openssl, as a user would bring them
        Path key = dir.resolve("k.pem"), cert = dir.resolve("c.pem");
        openssl("genrsa", "-traditional", "-out", key.toString(), "2048");
        openssl("req", "-x509", "-new", "-key", key.toString(), "-out", cert.toString(), "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1");
        assertTrue(Files.readString(key).contains("BEGIN RSA PRIVATE KEY"));
        try (Harness h = new Harness(dir.resolve("data"), List.of(new FakeCharacterEndpoint()),
                c -> c.tlsPort(0).tlsCertificate(cert).tlsKey(key))) {
            assertEquals(null, h.server.tlsCaFile());
            var r = trusting(cert).send(HttpRequest.newBuilder(URI.create("https://localhost:" + h.server.tlsPort() + "/health")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            // a client that trusts another CA refuses the connection
            Tls.selfSigned(dir.resolve("other"), Set.of("localhost"));
            assertThrows(SSLHandshakeException.class, () -> trusting(dir.resolve("other/ca.pem")).send(
                    HttpRequest.newBuilder(URI.create("https://localhost:" + h.server.tlsPort() + "/health")).build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
    }

    private static void openssl(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (java.io.IOException e) {
            org.junit.jupiter.api.Assumptions.abort("openssl is not installed: " + e.getMessage());
            return;
        }
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0, "openssl " + String.join(" ", args) + ": " + out);
    }

    @Test
    void badFilesAreNamedInTheError() throws Exception {
        Tls.selfSigned(dir.resolve("a"), Set.of("localhost"));
        Tls.selfSigned(dir.resolve("b"), Set.of("localhost"));
        var mismatch = assertThrows(java.io.IOException.class, () -> Tls.load(dir.resolve("a/cert.pem"), dir.resolve("b/key.pem")));
        assertTrue(mismatch.getMessage().contains("does not match"), mismatch.getMessage());
        var noKey = assertThrows(java.io.IOException.class, () -> Tls.load(dir.resolve("a/cert.pem"), dir.resolve("a/cert.pem")));
        assertTrue(noKey.getMessage().contains("no PEM private key") && noKey.getMessage().contains("cert.pem"), noKey.getMessage());
        Path ec = dir.resolve("ec.pem");
        Files.writeString(ec, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        var enc = assertThrows(java.io.IOException.class, () -> Tls.load(dir.resolve("a/cert.pem"), ec));
        assertTrue(enc.getMessage().contains("not supported"), enc.getMessage());
        var noCert = assertThrows(java.io.IOException.class, () -> Tls.load(dir.resolve("a/key.pem"), dir.resolve("a/key.pem")));
        assertTrue(noCert.getMessage().contains("key.pem"), noCert.getMessage());
        var half = assertThrows(IllegalArgumentException.class, () -> new LikenessServer(new ServerConfig(dir.resolve("d")).port(0)
                .tlsPort(0).tlsKey(dir.resolve("a/key.pem")), List.of()));
        assertTrue(half.getMessage().contains("both a certificate and a key"), half.getMessage());
    }
}
