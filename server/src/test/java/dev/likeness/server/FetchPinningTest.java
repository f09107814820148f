package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The address check and the connection use the same lookup: with a resolver that answers differently on each call
 * (DNS rebinding), the fetch never reaches the address of a later answer.
 */
class FetchPinningTest {
    private static final byte[] IMAGE;

    static {
        try {
            IMAGE = FakeCharacterEndpoint.png(3, 2, 0x112233);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @TempDir
    Path dir;
    private HttpServer local;
    private final AtomicInteger hits = new AtomicInteger();
    private int port;

    @BeforeEach
    void start() throws Exception {
        local = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        local.createContext("/girl.png", ex -> {
            hits.incrementAndGet();
            ex.sendResponseHeaders(200, IMAGE.length);
            ex.getResponseBody().write(IMAGE);
            ex.close();
        });
        local.createContext("/to-rebind", ex -> {
            hits.incrementAndGet();
            ex.getResponseHeaders().add("Location", "http://rebind.test:" + port + "/girl.png");
            ex.sendResponseHeaders(302, -1);
            ex.close();
        });
        local.createContext("/hook", ex -> {
            hits.incrementAndGet();
            ex.getRequestBody().readAllBytes();
            ex.sendResponseHeaders(200, -1);
            ex.close();
        });
        local.start();
        port = local.getAddress().getPort();
    }

    @AfterEach
    void stop() {
        local.stop(0);
    }

    /** Answers {@code first} on the first lookup of each host, then {@code later}; records every lookup. */
    private static OutboundHttp.NameResolver rebinding(List<String> lookups, String first, String later) {
        return host -> {
            lookups.add(host);
            if (host.equals("127.0.0.1")) return new InetAddress[] {InetAddress.getByName(host)};
            if (!host.endsWith(".test")) throw new UnknownHostException(host);
            boolean seen = lookups.subList(0, lookups.size() - 1).contains(host);
            return new InetAddress[] {InetAddress.getByName(seen ? later : first)};
        };
    }

    private ServerConfig config() {
        return new ServerConfig(dir).fetchTimeout(Duration.ofSeconds(2));
    }

    private static String message(EndpointException e) {
        return e.toString() + " " + e.getMessage() + " " + e.body();
    }

    @Test
    void aRebindingAnswerAfterTheCheckIsNeverConnectedTo() {
        List<String> lookups = new CopyOnWriteArrayList<>();
        // 203.0.113.7 (documentation range) counts as public; the second answer is the loopback the local server is on
        try (InputFetcher f = new InputFetcher(null, config(), rebinding(lookups, "203.0.113.7", "127.0.0.1"))) {
            EndpointException e = assertThrows(EndpointException.class,
                    () -> f.read("image_url", "http://rebind.test:" + port + "/girl.png", null, null));
            String m = message(e);
            assertTrue(m.contains("file_download_error"), m);
            assertTrue(m.contains("could not be reached"), "the checked (unreachable) address was the one dialled: " + m);
        }
        assertEquals(0, hits.get(), "the loopback server must not be reached");
        assertEquals(List.of("rebind.test"), lookups, "one lookup, used for both the check and the connection");
    }

    @Test
    void aPrivateFirstAnswerIsRefusedWithoutConnecting() {
        List<String> lookups = new CopyOnWriteArrayList<>();
        try (InputFetcher f = new InputFetcher(null, config(), rebinding(lookups, "127.0.0.1", "203.0.113.7"))) {
            EndpointException e = assertThrows(EndpointException.class,
                    () -> f.read("image_url", "http://rebind.test:" + port + "/girl.png", null, null));
            String m = message(e);
            assertTrue(m.contains("file_download_error") && m.contains("private or link-local address (127.0.0.1)"), m);
        }
        assertEquals(0, hits.get());
    }

    @Test
    void aRedirectHopIsResolvedAndCheckedByTheConnection() {
        List<String> lookups = new CopyOnWriteArrayList<>();
        ServerConfig c = config().fetchAllowHosts(Set.of("127.0.0.1"));
        try (InputFetcher f = new InputFetcher(null, c, rebinding(lookups, "127.0.0.1", "127.0.0.1"))) {
            String url = "http://127.0.0.1:" + port + "/to-rebind";
            EndpointException e = assertThrows(EndpointException.class, () -> f.read("image_url", url, null, null));
            String m = message(e);
            assertTrue(m.contains("private or link-local address (127.0.0.1)") && m.contains(url), m);
        }
        assertEquals(1, hits.get(), "only the allow-listed first hop is fetched");
        assertEquals(List.of("127.0.0.1", "rebind.test"), lookups);
    }

    @Test
    void theConnectionGoesToTheResolversAnswer() {
        // a name the system resolver does not know, allow-listed, answered 127.0.0.1 by the seam: fetched from there
        List<String> lookups = new CopyOnWriteArrayList<>();
        ServerConfig c = config().fetchAllowHosts(Set.of("pics.test"));
        try (InputFetcher f = new InputFetcher(null, c, rebinding(lookups, "127.0.0.1", "127.0.0.1"))) {
            assertArrayEquals(IMAGE, f.read("image_url", "http://pics.test:" + port + "/girl.png", null, null));
        }
        assertEquals(1, hits.get());
        assertEquals(List.of("pics.test"), lookups);
    }

    /** Delivers one webhook to {@code url} with the given resolver; answers the stored row after the attempt. */
    private Database.WebhookRow deliverOnce(String url, ServerConfig c, OutboundHttp.NameResolver dns) throws Exception {
        try (Database db = new Database(dir)) {
            db.insertWebhook("req-1", url, "anonymous", "{\"status\":\"OK\"}", System.currentTimeMillis());
            try (Webhooks hooks = new Webhooks(db, WebhookKey.loadOrCreate(dir), c, dns)) {
                hooks.deliver(db.webhooksOf("req-1").getFirst());
            }
            return db.webhooksOf("req-1").getFirst();
        }
    }

    @Test
    void aWebhookIsNotSentToARebindingAnswer() throws Exception {
        List<String> lookups = new CopyOnWriteArrayList<>();
        Database.WebhookRow w = deliverOnce("http://rebind.test:" + port + "/hook",
                config().webhookTimeout(Duration.ofSeconds(2)), rebinding(lookups, "203.0.113.7", "127.0.0.1"));
        assertEquals(null, w.deliveredAt(), w.toString());
        assertEquals(1, w.attempts());
        assertEquals(null, w.failedAt(), "a connection failure is retried later: " + w);
        assertEquals(0, hits.get(), "the loopback receiver must not be reached");
        assertEquals(List.of("rebind.test"), lookups);
    }

    @Test
    void aWebhookToAPrivateAnswerFailsAtOnce() throws Exception {
        List<String> lookups = new CopyOnWriteArrayList<>();
        Database.WebhookRow w = deliverOnce("http://rebind.test:" + port + "/hook", config(),
                rebinding(lookups, "127.0.0.1", "203.0.113.7"));
        assertTrue(w.failedAt() != null && w.lastError().contains("private or link-local address (127.0.0.1)"), w.toString());
        assertEquals(0, hits.get());
    }

    @Test
    void aWebhookGoesToTheResolversAnswer() throws Exception {
        List<String> lookups = new CopyOnWriteArrayList<>();
        Database.WebhookRow w = deliverOnce("http://hooks.test:" + port + "/hook", config().fetchAllowHosts(Set.of("hooks.test")),
                rebinding(lookups, "127.0.0.1", "127.0.0.1"));
        assertTrue(w.deliveredAt() != null, w.toString());
        assertEquals(1, hits.get());
        assertEquals(List.of("hooks.test"), lookups);
    }
}
