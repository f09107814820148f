package dev.likeness.server;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The HTTPS listener's key and certificate chain.
 *
 * <p>Either given by path ({@link ServerConfig#tlsCertificate}, {@link ServerConfig#tlsKey}: PEM, the certificate
 * file holding the server certificate first and then any intermediates; the key as PKCS#8 {@code PRIVATE KEY} or
 * PKCS#1 {@code RSA PRIVATE KEY}, unencrypted), or generated for local use: a private certificate authority
 * ({@code tls/ca.pem}, the file clients are told to trust, with its key {@code tls/ca-key.pem}, owner-only) and a server
 * certificate it signed for {@code localhost}, {@code 127.0.0.1}, {@code ::1}, the bind address (or, bound to every
 * interface, this machine's name and addresses) and {@link ServerConfig#tlsHostNames}
 * ({@code tls/cert.pem}, {@code tls/key.pem}), kept in the data directory and issued again (by the same CA) when a
 * name is missing or it expires within a day. ECDSA P-256 with SHA-256 throughout. The certificates are written with a small DER
 * encoder ({@link Der}) since the JDK has no public API for issuing them.
 */
public final class Tls {
    /** The store password of the in-memory key store handed to Jetty (never written anywhere). */
    static final char[] STORE_PASSWORD = "likeness".toCharArray();
    private static final Pattern PEM = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*([A-Za-z0-9+/=\\s]*?)-----END \\1-----");

    private Tls() {}

    /** A key with its certificate chain (server certificate first), and the generated CA file if any. */
    public record Identity(PrivateKey key, List<X509Certificate> chain, Path caFile) {
        /** A PKCS#12 key store in memory holding this identity under the alias {@code likeness}. */
        public KeyStore keyStore() throws GeneralSecurityException, IOException {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("likeness", key, STORE_PASSWORD, chain.toArray(new Certificate[0]));
            return ks;
        }
    }

    /** The identity the configuration asks for: the given PEM files, else the generated one in the data directory. */
    public static Identity identity(ServerConfig config) throws IOException, GeneralSecurityException {
        if (config.tlsCertificate() != null || config.tlsKey() != null) {
            if (config.tlsCertificate() == null || config.tlsKey() == null) {
                throw new IllegalArgumentException("TLS needs both a certificate and a key file (got only "
                        + (config.tlsCertificate() != null ? "the certificate " + config.tlsCertificate()
                        : "the key " + config.tlsKey()) + ")");
            }
            return load(config.tlsCertificate(), config.tlsKey());
        }
        Set<String> names = new LinkedHashSet<>(List.of("localhost", "127.0.0.1", "::1"));
        String host = config.host();
        if (host == null || host.isBlank() || host.equals("0.0.0.0") || host.equals("::")) {
            names.addAll(localNames());
        } else {
            names.add(host);
        }
        names.addAll(config.tlsHostNames());
        return selfSigned(config.dataDir().resolve("tls"), names);
    }

    /** For a server bound to every interface: this machine's name and its non-loopback, non-link-local addresses. */
    static Set<String> localNames() {
        Set<String> names = new LinkedHashSet<>();
        try {
            String h = InetAddress.getLocalHost().getHostName();
            if (h.matches("[A-Za-z0-9.-]+")) names.add(h.toLowerCase(java.util.Locale.ROOT));
        } catch (IOException e) {
            // no resolvable host name
        }
        try {
            var interfaces = java.net.NetworkInterface.getNetworkInterfaces();
            while (interfaces != null && interfaces.hasMoreElements()) {
                var ni = interfaces.nextElement();
                if (!ni.isUp() || ni.isLoopback()) continue;
                for (var a : java.util.Collections.list(ni.getInetAddresses())) {
                    if (a.isLinkLocalAddress() || a.isLoopbackAddress()) continue;
                    names.add(a.getHostAddress().replaceAll("%.*$", ""));
                }
            }
        } catch (IOException e) {
            // no interface list
        }
        return names;
    }

    /** Reads a PEM certificate chain and a PEM private key; errors name the file and what was expected. */
    public static Identity load(Path certFile, Path keyFile) throws IOException, GeneralSecurityException {
        List<X509Certificate> chain = new ArrayList<>();
        try (InputStream in = Files.newInputStream(certFile)) {
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                chain.add((X509Certificate) c);
            }
        } catch (java.security.cert.CertificateException e) {
            throw new IOException("TLS certificate " + certFile + ": not a PEM X.509 certificate chain (" + e.getMessage() + ")", e);
        }
        if (chain.isEmpty()) throw new IOException("TLS certificate " + certFile + ": no certificate found (expected PEM 'BEGIN CERTIFICATE')");
        PrivateKey key = readKey(keyFile);
        checkPair(key, chain.getFirst().getPublicKey(), certFile, keyFile);
        return new Identity(key, List.copyOf(chain), null);
    }

    private static PrivateKey readKey(Path keyFile) throws IOException {
        String text = Files.readString(keyFile, StandardCharsets.US_ASCII);
        Matcher m = PEM.matcher(text);
        while (m.find()) {
            String type = m.group(1);
            if (!type.endsWith("PRIVATE KEY")) continue;
            byte[] der = Base64.getMimeDecoder().decode(m.group(2));
            byte[] pkcs8 = switch (type) {
                case "PRIVATE KEY" -> der;
                case "RSA PRIVATE KEY" -> Der.seq(Der.integer(BigInteger.ZERO),
                        Der.seq(Der.oid("1.2.840.113549.1.1.1"), Der.NULL), Der.octets(der));
                default -> throw new IOException("TLS key " + keyFile + ": '" + type + "' is not supported; expected an "
                        + "unencrypted PKCS#8 'PRIVATE KEY' (convert with: openssl pkcs8 -topk8 -nocrypt -in KEY -out key.pem)");
            };
            for (String alg : List.of("EC", "RSA", "Ed25519", "RSASSA-PSS")) {
                try {
                    return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
                } catch (GeneralSecurityException tryNext) {
                    // another algorithm
                }
            }
            throw new IOException("TLS key " + keyFile + ": '" + type + "' block is not an RSA, EC or Ed25519 private key");
        }
        throw new IOException("TLS key " + keyFile + ": no PEM private key found (expected 'BEGIN PRIVATE KEY' or 'BEGIN RSA PRIVATE KEY')");
    }

    /** Signs a probe with the key and checks it against the certificate's public key. */
    private static void checkPair(PrivateKey key, PublicKey pub, Path certFile, Path keyFile) throws IOException {
        String alg = switch (key.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            default -> key.getAlgorithm();
        };
        try {
            byte[] probe = "likeness".getBytes(StandardCharsets.US_ASCII);
            Signature s = Signature.getInstance(alg);
            s.initSign(key);
            s.update(probe);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(alg);
            v.initVerify(pub);
            v.update(probe);
            if (v.verify(sig)) return;
        } catch (GeneralSecurityException e) {
            // fall through to the error
        }
        throw new IOException("TLS key " + keyFile + " does not match the first certificate of " + certFile);
    }

    // ---- generated identity --------------------------------------------------------------------------------

    /**
     * The generated identity in {@code dir} ({@code ca.pem}, {@code cert.pem}, {@code key.pem}), made again when a
     * name is missing from the server certificate or it expires within a day; the CA is kept.
     */
    static Identity selfSigned(Path dir, Set<String> names) throws IOException, GeneralSecurityException {
        Path ca = dir.resolve("ca.pem"), cert = dir.resolve("cert.pem"), key = dir.resolve("key.pem");
        if (Files.exists(ca) && Files.exists(cert) && Files.exists(key)) {
            Identity existing = load(cert, key);
            if (covers(existing.chain().getFirst(), names)) return new Identity(existing.key(), existing.chain(), ca);
        }
        Files.createDirectories(dir);
        SecureRandom random = new SecureRandom();
        Path caKeyFile = dir.resolve("ca-key.pem");
        KeyPair caKeys;
        byte[] caDer;
        ZonedDateTime now = ZonedDateTime.now(ZoneOffset.UTC).withNano(0);
        if (Files.exists(ca) && Files.exists(caKeyFile)) {
            // keep the CA users already trust; only the server certificate is issued again
            Identity old = load(ca, caKeyFile);
            caDer = old.chain().getFirst().getEncoded();
            caKeys = new KeyPair(old.chain().getFirst().getPublicKey(), old.key());
        } else {
            caKeys = ecKeys(random);
            String suffix = Long.toHexString(random.nextLong() & 0xffffffffL);
            byte[] name = Der.name("Likeness local CA " + suffix);
            caDer = certificate(name, name, caKeys.getPublic(), caKeys.getPrivate(), now.minusHours(1), now.plusYears(10),
                    random, Der.seq(
                            extension("2.5.29.19", true, Der.seq(Der.bool(true))),
                            extension("2.5.29.15", true, Der.bits(0x06, 1)),   // keyCertSign, cRLSign
                            extension("2.5.29.14", false, Der.octets(keyId(caKeys.getPublic())))));
            writePrivate(caKeyFile, pem("PRIVATE KEY", caKeys.getPrivate().getEncoded()));
            writeAtomically(ca, pem("CERTIFICATE", caDer));
        }
        X509Certificate caCert = (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new java.io.ByteArrayInputStream(caDer));
        byte[] caName = caCert.getSubjectX500Principal().getEncoded();
        byte[] caKeyId = keyId(caKeys.getPublic());
        KeyPair serverKeys = ecKeys(random);
        List<byte[]> altNames = new ArrayList<>();
        for (String n : names) {
            if (n.matches("[0-9.]+") || n.contains(":")) {
                altNames.add(Der.tagged(0x87, InetAddress.getByName(n).getAddress()));
            } else {
                altNames.add(Der.tagged(0x82, n.getBytes(StandardCharsets.US_ASCII)));
            }
        }
        byte[] serverDer = certificate(caName, Der.name(names.iterator().next()), serverKeys.getPublic(), caKeys.getPrivate(),
                now.minusHours(1), now.plusDays(825), random, Der.seq(
                        extension("2.5.29.19", true, Der.seq()),
                        extension("2.5.29.15", true, Der.bits(0x80, 7)),   // digitalSignature
                        extension("2.5.29.37", false, Der.seq(Der.oid("1.3.6.1.5.5.7.3.1"))),   // serverAuth
                        extension("2.5.29.17", false, Der.seq(altNames.toArray(new byte[0][]))),
                        extension("2.5.29.14", false, Der.octets(keyId(serverKeys.getPublic()))),
                        extension("2.5.29.35", false, Der.seq(Der.tagged(0x80, caKeyId)))));
        writePrivate(key, pem("PRIVATE KEY", serverKeys.getPrivate().getEncoded()));
        writeAtomically(cert, pem("CERTIFICATE", serverDer) + pem("CERTIFICATE", caDer));
        Identity made = load(cert, key);
        made.chain().getFirst().verify(caKeys.getPublic());
        return new Identity(made.key(), made.chain(), ca);
    }

    private static boolean covers(X509Certificate c, Set<String> names) throws GeneralSecurityException {
        if (c.getNotAfter().getTime() < System.currentTimeMillis() + 86_400_000L) return false;
        Collection<List<?>> alt = c.getSubjectAlternativeNames();
        if (alt == null) return false;
        Set<String> have = new LinkedHashSet<>();
        for (List<?> a : alt) {
            Object v = a.get(1);
            if (v instanceof String s) {
                try {
                    have.add(((Integer) a.get(0)) == 7 ? InetAddress.getByName(s).getHostAddress() : s.toLowerCase());
                } catch (IOException e) {
                    have.add(s);
                }
            }
        }
        for (String n : names) {
            String want;
            try {
                want = n.matches("[0-9.]+") || n.contains(":") ? InetAddress.getByName(n).getHostAddress() : n.toLowerCase();
            } catch (IOException e) {
                return false;
            }
            if (!have.contains(want)) return false;
        }
        return true;
    }

    private static KeyPair ecKeys(SecureRandom random) throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), random);
        return g.generateKeyPair();
    }

    /** SHA-1 of the encoded public key, the usual key identifier. */
    private static byte[] keyId(PublicKey k) throws GeneralSecurityException {
        return MessageDigest.getInstance("SHA-1").digest(k.getEncoded());
    }

    private static byte[] extension(String oid, boolean critical, byte[] value) {
        return critical ? Der.seq(Der.oid(oid), Der.bool(true), Der.octets(value)) : Der.seq(Der.oid(oid), Der.octets(value));
    }

    /** An X.509 v3 certificate (RFC 5280 §4.1) signed with ECDSA-SHA256 by {@code signer}. */
    private static byte[] certificate(byte[] issuer, byte[] subject, PublicKey pub, PrivateKey signer, ZonedDateTime from,
                                      ZonedDateTime to, SecureRandom random, byte[] extensions) throws GeneralSecurityException {
        byte[] serial = new byte[16];
        random.nextBytes(serial);
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        byte[] algorithm = Der.seq(Der.oid("1.2.840.10045.4.3.2"));
        byte[] tbs = Der.seq(Der.tagged(0xa0, Der.integer(BigInteger.TWO)), Der.integer(new BigInteger(serial)), algorithm,
                issuer, Der.seq(Der.time(from), Der.time(to)), subject, pub.getEncoded(), Der.tagged(0xa3, extensions));
        Signature s = Signature.getInstance("SHA256withECDSA");
        s.initSign(signer);
        s.update(tbs);
        return Der.seq(tbs, algorithm, Der.bits(s.sign(), 0));
    }

    static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    /** Writes a key file readable by its owner only (where the file system has POSIX permissions). */
    private static void writePrivate(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        Files.createFile(tmp);
        try {
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system
        }
        Files.writeString(tmp, text, StandardCharsets.US_ASCII);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.US_ASCII);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The few DER (X.690) encodings a certificate needs. */
    static final class Der {
        static final byte[] NULL = {0x05, 0x00};

        private Der() {}

        static byte[] tagged(int tag, byte[] content) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(tag);
            int n = content.length;
            if (n < 0x80) {
                out.write(n);
            } else {
                int bytes = (32 - Integer.numberOfLeadingZeros(n) + 7) / 8;
                out.write(0x80 | bytes);
                for (int i = bytes - 1; i >= 0; i--) out.write(n >>> (8 * i));
            }
            out.writeBytes(content);
            return out.toByteArray();
        }

        static byte[] seq(byte[]... items) {
            return tagged(0x30, concat(items));
        }

        static byte[] set(byte[]... items) {
            return tagged(0x31, concat(items));
        }

        static byte[] integer(BigInteger v) {
            return tagged(0x02, v.toByteArray());
        }

        static byte[] bool(boolean v) {
            return tagged(0x01, new byte[] {(byte) (v ? 0xff : 0)});
        }

        static byte[] octets(byte[] v) {
            return tagged(0x04, v);
        }

        /** A BIT STRING of one byte with {@code unused} trailing bits. */
        static byte[] bits(int oneByte, int unused) {
            return tagged(0x03, new byte[] {(byte) unused, (byte) oneByte});
        }

        static byte[] bits(byte[] v, int unused) {
            byte[] c = new byte[v.length + 1];
            c[0] = (byte) unused;
            System.arraycopy(v, 0, c, 1, v.length);
            return tagged(0x03, c);
        }

        static byte[] oid(String dotted) {
            String[] p = dotted.split("\\.");
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(Integer.parseInt(p[0]) * 40 + Integer.parseInt(p[1]));
            for (int i = 2; i < p.length; i++) {
                long v = Long.parseLong(p[i]);
                int groups = Math.max(1, (64 - Long.numberOfLeadingZeros(v) + 6) / 7);
                for (int g = groups - 1; g >= 0; g--) out.write((int) ((v >>> (7 * g)) & 0x7f) | (g > 0 ? 0x80 : 0));
            }
            return tagged(0x06, out.toByteArray());
        }

        /** A Name with a single common name. */
        static byte[] name(String commonName) {
            return seq(set(seq(oid("2.5.4.3"), tagged(0x0c, commonName.getBytes(StandardCharsets.UTF_8)))));
        }

        /** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5). */
        static byte[] time(ZonedDateTime t) {
            ZonedDateTime u = t.withZoneSameInstant(ZoneOffset.UTC);
            boolean utc = u.getYear() < 2050;
            String s = u.format(DateTimeFormatter.ofPattern(utc ? "yyMMddHHmmss" : "yyyyMMddHHmmss")) + "Z";
            return tagged(utc ? 0x17 : 0x18, s.getBytes(StandardCharsets.US_ASCII));
        }

        private static byte[] concat(byte[]... items) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (byte[] i : items) out.writeBytes(i);
            return out.toByteArray();
        }
    }
}
