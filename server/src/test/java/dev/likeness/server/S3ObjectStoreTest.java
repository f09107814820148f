package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The S3 {@link ObjectStore} against a real S3-compatible server ({@link S3Server}, s3proxy). */
class S3ObjectStoreTest {
    private static S3Server s3;

    @BeforeAll
    static void start() throws Exception {
        s3 = S3Server.startOrSkip();
    }

    @AfterAll
    static void stop() throws Exception {
        if (s3 != null) s3.close();
    }

    @Test
    void putGetExistsDeleteUnderAPrefix() throws Exception {
        String id = FileStore.newId();
        try (S3ObjectStore store = new S3ObjectStore("s3://" + S3Server.ACCESS + ":" + S3Server.SECRET
                + "@objects/some/prefix?endpoint=" + s3.endpoint() + "&create=true")) {
            assertFalse(store.exists(id));
            store.put(id, new byte[] {1, 2, 3});
            assertTrue(store.exists(id));
            assertArrayEquals(new byte[] {1, 2, 3}, store.get(id));
            byte[] big = new byte[200_000];
            for (int i = 0; i < big.length; i++) big[i] = (byte) (i * 31);
            String id2 = FileStore.newId();
            assertEquals(big.length, store.put(id2, new ByteArrayInputStream(big), big.length));
            assertArrayEquals(big, store.get(id2));
            String id3 = FileStore.newId();
            assertEquals(-1, store.put(id3, new ByteArrayInputStream(big), big.length - 1), "over the limit");
            assertFalse(store.exists(id3), "nothing kept");
            store.delete(id);
            assertFalse(store.exists(id));
            IllegalStateException gone = assertThrows(IllegalStateException.class, () -> store.get(id));
            assertTrue(gone.getMessage().startsWith("cannot read file " + id + " from s3://objects/some/prefix/"), gone.getMessage());
            assertThrows(IllegalArgumentException.class, () -> store.get("../etc"));
        }
    }

    @Test
    void badUrlsCredentialsAndBucketsAreClearErrors() {
        IllegalArgumentException url = assertThrows(IllegalArgumentException.class,
                () -> new S3ObjectStore("http://k:hunter2@bucket"));
        assertTrue(url.getMessage().startsWith("storage URL must be s3://"), url.getMessage());
        IllegalStateException creds = assertThrows(IllegalStateException.class,
                () -> new S3ObjectStore("s3://" + S3Server.ACCESS + ":wrong@any?endpoint=" + s3.endpoint() + "&create=true"));
        assertTrue(creds.getMessage().startsWith("cannot use the bucket s3://any/ at " + s3.endpoint()), creds.getMessage());
        IllegalStateException missing = assertThrows(IllegalStateException.class,
                () -> new S3ObjectStore("s3://" + S3Server.ACCESS + ":" + S3Server.SECRET + "@missing?endpoint=" + s3.endpoint()));
        assertTrue(missing.getMessage().startsWith("cannot use the bucket s3://missing/"), missing.getMessage());
        IllegalStateException down = assertThrows(IllegalStateException.class,
                () -> new S3ObjectStore("s3://a:b@bucket?endpoint=http://127.0.0.1:1"));
        assertTrue(down.getMessage().startsWith("cannot reach the bucket s3://bucket/ at http://127.0.0.1:1"), down.getMessage());
    }
}
