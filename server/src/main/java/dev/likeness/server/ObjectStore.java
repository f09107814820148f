package dev.likeness.server;

import java.io.IOException;
import java.io.InputStream;

/**
 * Where the bytes of stored files live, by file id (metadata stays in the {@link Store}): a local directory
 * ({@link LocalObjectStore}, the embedded profile) or any S3-compatible bucket ({@link S3ObjectStore}, the scale-out
 * profile, shared by every API and worker process). Objects are written whole and never changed.
 */
public interface ObjectStore extends AutoCloseable {

    /** Writes the bytes of object {@code id} (readers never see a partial object). */
    void put(String id, byte[] data);

    /**
     * Copies a stream into object {@code id}, refusing more than {@code limit} bytes; returns the size, or -1 when the
     * limit was passed (nothing is kept then).
     */
    long put(String id, InputStream in, long limit) throws IOException;

    /** The bytes of an object. */
    byte[] get(String id);

    /** Whether the object exists. */
    boolean exists(String id);

    /** Deletes an object (nothing when absent). */
    void delete(String id);

    /** Where the objects are, for logs and errors. */
    String describe();

    @Override
    default void close() {}

    /** Copies at most {@code limit} bytes of a stream into memory; null when there are more. */
    static byte[] readLimited(InputStream in, long limit) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        long n = 0;
        int r;
        while ((r = in.read(buf)) > 0) {
            n += r;
            if (n > limit) return null;
            out.write(buf, 0, r);
        }
        return out.toByteArray();
    }
}
