package dev.likeness.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;

/**
 * The server's ED25519 webhook signing key, generated once and kept in the data directory
 * ({@code webhook-ed25519.pk8}, PKCS#8, owner-only; the public key beside it in {@code webhook-ed25519.pub}), and the signature fal puts on a webhook (fal-protocol.md §10):
 * {@code X-Fal-Webhook-Signature = hex(Ed25519(UTF8(request_id + "\n" + user_id + "\n" + timestamp + "\n" +
 * hex(sha256(body)))))}. The public key is published as a JWKS ({@code /.well-known/jwks.json}):
 * {@code {"keys":[{"kty":"OKP","crv":"Ed25519","x":base64url(raw 32-byte key),"kid",...}]}}.
 */
public final class WebhookKey {
    /** File name of the private key in the data directory. */
    public static final String FILE = "webhook-ed25519.pk8";
    /** File name of the public key (X.509 SubjectPublicKeyInfo) beside it. */
    public static final String PUBLIC_FILE = "webhook-ed25519.pub";
    /** Length of the X.509 SubjectPublicKeyInfo prefix before the raw 32-byte Ed25519 key. */
    private static final int X509_PREFIX = 12;

    private final PrivateKey privateKey;
    private final byte[] rawPublic;
    private final String kid;

    private WebhookKey(PrivateKey privateKey, PublicKey publicKey) {
        this.privateKey = privateKey;
        byte[] x509 = publicKey.getEncoded();
        this.rawPublic = Arrays.copyOfRange(x509, x509.length - 32, x509.length);
        if (x509.length != X509_PREFIX + 32) throw new IllegalStateException("unexpected Ed25519 public key encoding");
        this.kid = Base64.getUrlEncoder().withoutPadding().encodeToString(sha256(rawPublic)).substring(0, 16);
    }

    /** Loads the key pair of a data directory, generating and storing it on first use. */
    public static WebhookKey loadOrCreate(Path dataDir) {
        Path file = dataDir.resolve(FILE);
        Path pub = dataDir.resolve(PUBLIC_FILE);
        try {
            if (!Files.exists(file)) {
                KeyPair pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair();
                Files.createDirectories(dataDir);
                write(dataDir, pub, pair.getPublic().getEncoded(), "rw-r--r--");
                write(dataDir, file, pair.getPrivate().getEncoded(), "rw-------");
            }
            if (!Files.exists(pub)) {
                throw new IllegalStateException("the webhook key " + file + " has no public key beside it (" + pub
                        + "); delete " + file + " to generate a new pair");
            }
            KeyFactory kf = KeyFactory.getInstance("Ed25519");
            PrivateKey priv = kf.generatePrivate(new PKCS8EncodedKeySpec(Files.readAllBytes(file)));
            PublicKey pk = kf.generatePublic(new X509EncodedKeySpec(Files.readAllBytes(pub)));
            WebhookKey key = new WebhookKey(priv, pk);
            key.checkPair(file, pub);
            return key;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or write the webhook key " + file + ": " + e.getMessage(), e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("the webhook key " + file + " / " + pub + " is not an Ed25519 key pair: "
                    + e.getMessage(), e);
        }
    }

    private static void write(Path dir, Path file, byte[] bytes, String perms) throws IOException {
        Path tmp = Files.createTempFile(dir, ".webhook-key", ".tmp");
        try {
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString(perms));
        } catch (UnsupportedOperationException ignored) {
            // not a POSIX file system
        }
        Files.write(tmp, bytes);
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file);
        }
    }

    /** The two files must be one pair: a test signature must verify. */
    private void checkPair(Path file, Path pub) throws GeneralSecurityException, IOException {
        byte[] probe = "likeness webhook key check".getBytes(StandardCharsets.UTF_8);
        Signature s = Signature.getInstance("Ed25519");
        s.initSign(privateKey);
        s.update(probe);
        byte[] sig = s.sign();
        Signature v = Signature.getInstance("Ed25519");
        v.initVerify(KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(Files.readAllBytes(pub))));
        v.update(probe);
        if (!v.verify(sig)) {
            throw new IllegalStateException("the webhook keys " + file + " and " + pub + " are not one pair");
        }
    }

    /** The raw 32-byte public key. */
    public byte[] publicKey() {
        return rawPublic.clone();
    }

    /** The key id published in the JWKS. */
    public String kid() {
        return kid;
    }

    /** The signed message of fal's recipe. */
    public static byte[] message(String requestId, String userId, String timestamp, byte[] body) {
        return (requestId + "\n" + userId + "\n" + timestamp + "\n" + HexFormat.of().formatHex(sha256(body)))
                .getBytes(StandardCharsets.UTF_8);
    }

    /** The hex ED25519 signature of a webhook, as sent in {@code X-Fal-Webhook-Signature}. */
    public String sign(String requestId, String userId, String timestamp, byte[] body) {
        try {
            Signature s = Signature.getInstance("Ed25519");
            s.initSign(privateKey);
            s.update(message(requestId, userId, timestamp, body));
            return HexFormat.of().formatHex(s.sign());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("Ed25519 signing failed", e);
        }
    }

    /** The JWKS document. */
    public ObjectNode jwks() {
        ObjectNode o = Json.object();
        o.putArray("keys").addObject()
                .put("kty", "OKP")
                .put("crv", "Ed25519")
                .put("x", Base64.getUrlEncoder().withoutPadding().encodeToString(rawPublic))
                .put("kid", kid)
                .put("use", "sig")
                .put("alg", "EdDSA");
        return o;
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 missing from the JDK", e);
        }
    }
}
