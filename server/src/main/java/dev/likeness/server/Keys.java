package dev.likeness.server;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * API keys in fal's form {@code <key id>:<secret>}, sent as {@code Authorization: Key <key id>:<secret>}. Only the
 * SHA-256 of the secret is stored. In open mode (configured, or by default while no key exists) no key is needed and
 * every caller is the same anonymous owner.
 */
public final class Keys {
    /** An authenticated caller: its key id, or null in open mode. */
    public record Caller(String keyId) {}

    /** The caller could not be authenticated; served as 401. */
    public static final class Unauthorized extends Exception {
        Unauthorized(String message) {
            super(message);
        }
    }

    private final Store db;
    private final Boolean openAccess;

    /** @param openAccess true/false to force open or closed mode; null: open while no key exists */
    public Keys(Store db, Boolean openAccess) {
        this.db = db;
        this.openAccess = openAccess;
    }

    /** Creates a key and returns it in full ({@code id:secret}); only its hash is kept. */
    public String create() {
        String id = Ids.requestId();
        String secret = Ids.token(32);
        db.insertKey(id, sha256(secret), System.currentTimeMillis());
        return id + ":" + secret;
    }

    /** Revokes a key by id. */
    public boolean revoke(String id) {
        return db.revokeKey(id, System.currentTimeMillis());
    }

    /** Every key (id, creation and revocation times), oldest first. */
    public java.util.List<Database.KeyRow> list() {
        return db.keys();
    }

    /** Whether keys are currently not required. */
    public boolean open() {
        return openAccess != null ? openAccess : db.activeKeyCount() == 0;
    }

    /** Authenticates an {@code Authorization} header value (null when absent). */
    public Caller authenticate(String authorization) throws Unauthorized {
        if (open()) return new Caller(null);
        if (authorization == null || authorization.isBlank()) throw new Unauthorized("Missing credentials: send 'Authorization: Key <key>'");
        String value = authorization.strip();
        if (!value.regionMatches(true, 0, "Key ", 0, 4)) throw new Unauthorized("Unsupported authorization scheme: use 'Key <key>'");
        String key = value.substring(4).strip();
        int colon = key.indexOf(':');
        if (colon <= 0) throw new Unauthorized("Invalid key credentials");
        String stored = db.keySecretHash(key.substring(0, colon));
        if (stored == null || !MessageDigest.isEqual(stored.getBytes(StandardCharsets.US_ASCII),
                sha256(key.substring(colon + 1)).getBytes(StandardCharsets.US_ASCII))) {
            throw new Unauthorized("Invalid key credentials");
        }
        return new Caller(key.substring(0, colon));
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from the JDK", e);
        }
    }
}
