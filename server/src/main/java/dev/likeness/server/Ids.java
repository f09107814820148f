package dev.likeness.server;

import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.UUID;

/** Identifiers: time-ordered request ids (UUID version 7, the form fal's ids take) and random tokens. */
public final class Ids {
    private static final SecureRandom RANDOM = new SecureRandom();

    private Ids() {}

    /** A UUIDv7 (48-bit millisecond time, then random bits), as text. */
    public static String requestId() {
        long ms = System.currentTimeMillis();
        long hi = (ms << 16) | 0x7000L | (RANDOM.nextInt() & 0x0fffL);
        long lo = (RANDOM.nextLong() & 0x3fffffffffffffffL) | 0x8000000000000000L;
        return new UUID(hi, lo).toString();
    }

    /** {@code bytes} random bytes as lowercase hex. */
    public static String token(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }
}
