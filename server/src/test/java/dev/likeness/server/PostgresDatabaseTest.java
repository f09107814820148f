package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The PostgreSQL {@link Store} against a real server ({@link PgCluster}): claims, leases, hand-outs, the schema. */
class PostgresDatabaseTest {
    private static PgCluster pg;

    @BeforeAll
    static void start() throws Exception {
        pg = PgCluster.startOrSkip();
    }

    @AfterAll
    static void stop() throws Exception {
        if (pg != null) pg.close();
    }

    private static void submit(Store db, String id, int priority, long now) {
        db.insertRequest(id, "fal-ai/x", null, "{}", priority, false, "http://h", null, now);
    }

    @Test
    void concurrentClaimsTakeEachRequestOnceInOrder() throws Exception {
        try (PostgresDatabase db = new PostgresDatabase(pg.newDatabase() + "?pool=16", 60_000)) {
            for (int i = 0; i < 200; i++) submit(db, String.format("r%03d", i), i % 2, i);
            List<String> claimed = Collections.synchronizedList(new ArrayList<>());
            long t0 = System.nanoTime();
            ExecutorService pool = Executors.newFixedThreadPool(12);
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 12; t++) {
                String worker = "w" + t;
                fs.add(pool.submit(() -> {
                    Database.RequestRow r;
                    while ((r = db.claimNext(System.currentTimeMillis(), 0, worker, System.currentTimeMillis() + 60_000)) != null) {
                        assertEquals("IN_PROGRESS", r.status());
                        assertEquals(1, r.attempts());
                        claimed.add(r.id());
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get();
            pool.shutdown();
            System.out.printf("postgres: 200 claims by 12 threads in %.3f s%n", (System.nanoTime() - t0) / 1e9);
            assertEquals(200, claimed.size());
            assertEquals(200, new HashSet<>(claimed).size(), "no request was claimed twice");
            assertEquals(0, db.queueLength());
            assertEquals(200, db.count("IN_PROGRESS"));
        }
        try (PostgresDatabase db = new PostgresDatabase(pg.newDatabase(), 60_000)) {
            submit(db, "low", 1, 1);
            submit(db, "normal", 0, 2);
            assertEquals("normal", db.claimNext(3).id(), "priority first");
            assertEquals("low", db.claimNext(3).id());
            assertNull(db.claimNext(3));
        }
    }

    @Test
    void leasesHeartbeatsAndTakingBack() throws Exception {
        try (PostgresDatabase db = new PostgresDatabase(pg.newDatabase(), 60_000)) {
            submit(db, "a", 0, 1);
            Database.RequestRow r = db.claimNext(1000, 0, "w1", 2000);
            assertEquals("w1", db.workerOf("a"));
            Store.Heartbeat hb = db.heartbeat("w1", List.of("a"), 3000);
            assertEquals(Set.of(), hb.lost());
            assertEquals(Set.of(), hb.cancelRequested());
            assertTrue(db.expiredLeases(2500).isEmpty(), "the heartbeat moved the lease to 3000");
            assertFalse(db.requeueExpired("a", 2500));
            assertTrue(db.requestCancel("a"));
            assertEquals(Set.of("a"), db.heartbeat("w1", List.of("a"), 3000).cancelRequested());
            // w1 goes silent: at 3001 the lease has run out; one taker wins
            assertEquals(List.of("a"), db.expiredLeases(3001).stream().map(Database.RequestRow::id).toList());
            assertTrue(db.requeueExpired("a", 3001));
            assertFalse(db.requeueExpired("a", 3001));
            assertEquals("IN_QUEUE", db.request("a").status());
            Database.RequestRow again = db.claimNext(4000, 0, "w2", 5000);
            assertEquals(r.id(), again.id());
            assertEquals(2, again.attempts());
            // w1 comes back: it no longer holds the request
            assertEquals(Set.of("a"), db.heartbeat("w1", List.of("a"), 9000).lost());
            assertFalse(db.completeRun("a", "w1", 200, "{\"from\":\"w1\"}", null, null, 4400), "w1 lost it");
            assertEquals("IN_PROGRESS", db.request("a").status());
            assertEquals(Set.of(), db.heartbeat("w2", List.of("a"), 9000).lost());
            assertTrue(db.completeRun("a", "w2", 200, "{}", null, null, 4500));
            assertFalse(db.completeRun("a", "w2", 200, "{}", null, null, 4500), "completed once");
            assertFalse(db.complete("a", 500, "{}", "x", "y", 4600), "completed once");
            assertEquals(200, db.request("a").resultStatus());
            assertEquals(Set.of("a"), db.heartbeat("w2", List.of("a"), 9000).lost(), "completed: not held any more");
        }
    }

    @Test
    void perKeyLimitLeavesOtherKeysRunning() throws Exception {
        try (PostgresDatabase db = new PostgresDatabase(pg.newDatabase(), 60_000)) {
            db.insertRequest("k1a", "fal-ai/x", "k1", "{}", 0, false, "http://h", null, 1);
            db.insertRequest("k1b", "fal-ai/x", "k1", "{}", 0, false, "http://h", null, 2);
            db.insertRequest("k2a", "fal-ai/x", "k2", "{}", 0, false, "http://h", null, 3);
            assertEquals("k1a", db.claimNext(5, 1).id());
            assertEquals("k2a", db.claimNext(5, 1).id(), "k1 is at its limit");
            assertNull(db.claimNext(5, 1));
            assertEquals(1, db.countFor("k1", "IN_QUEUE"));
        }
    }

    @Test
    void webhookDeliveriesAreHandedToOneSenderAtATime() throws Exception {
        try (PostgresDatabase db = new PostgresDatabase(pg.newDatabase(), 60_000)) {
            db.insertWebhook("r1", "http://hook", "u", "{}", 100);
            assertEquals(1, db.dueWebhooks(100, 16).size());
            assertEquals(0, db.dueWebhooks(100, 16).size(), "reserved for the first sender");
            long seq = db.webhooksOf("r1").getFirst().seq();
            db.webhookAttempt(seq, false, false, 200, "503", 150);
            assertEquals(0, db.dueWebhooks(199, 16).size());
            Database.WebhookRow w = db.dueWebhooks(200, 16).getFirst();
            assertEquals(1, w.attempts());
            assertEquals("503", w.lastError());
            db.webhookAttempt(seq, true, false, 300, null, 250);
            assertNull(db.nextWebhookAt());
        }
    }

    @Test
    void keysUsageFilesTokensAndRetention() throws Exception {
        try (PostgresDatabase db = new PostgresDatabase(pg.newDatabase(), 60_000)) {
            db.insertKey("k1", "hash", 10);
            assertEquals("hash", db.keySecretHash("k1"));
            assertEquals(1, db.activeKeyCount());
            assertTrue(db.revokeKey("k1", 20));
            assertNull(db.keySecretHash("k1"));
            assertEquals(20L, db.keys().getFirst().revokedAt());

            db.insertUsage(new Database.UsageRow("r1", null, "fal-ai/x", "images", 2, 50_000, 100_000, 30));
            db.insertUsage(new Database.UsageRow("r1", null, "fal-ai/x", "images", 9, 50_000, 900_000, 30));
            List<Database.UsageRow> u = db.usage(null, 0, 100);
            assertEquals(1, u.size(), "recorded once");
            assertEquals(100_000, u.getFirst().costMicros());

            db.upsertFile(new Database.FileRow("f1", "a.png", "image/png", 0, "k1", false), 40);
            db.upsertFile(new Database.FileRow("f1", "a.png", "image/png", 5, "k1", true), 41);
            Database.FileRow f = db.file("f1");
            assertTrue(f.complete());
            assertEquals(5, f.size());
            db.insertUploadToken("t1", "f1", "k1", 1000);
            assertEquals("f1", db.uploadToken("t1", 999)[0]);
            assertNull(db.uploadToken("t1", 1000), "expired");

            submit(db, "old", 0, 1);
            db.claimNext(2);
            db.complete("old", 200, "{}", null, null, 50);
            db.addLog("old", 50, "INFO", "USER", "hi");
            Database.Swept s = db.sweep(60, 2000);
            assertEquals(1, s.requests());
            assertEquals(List.of("f1"), s.fileIds());
            assertNull(db.request("old"));
            assertTrue(db.logs("old", 0).isEmpty());
            assertNull(db.uploadToken("t1", 0), "expired tokens swept");
            assertEquals(1, db.usage(null, 0, 100).size(), "the ledger is kept");
        }
    }

    @Test
    void badUrlsAndUnreachableServersNameTheDatabaseWithoutItsPassword() {
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> new PostgresDatabase("mysql://u:hunter2@h/db", 1000));
        assertTrue(bad.getMessage().contains("postgresql://") && bad.getMessage().contains("u:***@h/db"), bad.getMessage());
        assertFalse(bad.getMessage().contains("hunter2"));
        IllegalStateException down = assertThrows(IllegalStateException.class,
                () -> new PostgresDatabase("postgresql://u:hunter2@127.0.0.1:1/db?connectTimeout=2", 1000));
        assertTrue(down.getMessage().startsWith("cannot open the database postgresql://u:***@127.0.0.1:1/db"), down.getMessage());
        assertFalse(down.getMessage().contains("hunter2"));
        assertNotNull(down.getCause());
    }
}
