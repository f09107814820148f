package dev.likeness.server;

import java.nio.file.Path;
import java.util.List;

/**
 * TEST ONLY: runs a server with the {@link FakeCharacterEndpoint} in its own JVM (so a test can kill it with
 * SIGKILL). Arguments: data directory, milliseconds per step. Prints {@code PORT <n>} once listening.
 */
public final class TestServerMain {
    private TestServerMain() {}

    public static void main(String[] args) throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.stepMillis = Long.parseLong(args[1]);
        LikenessServer s = new LikenessServer(new ServerConfig(Path.of(args[0])).host("127.0.0.1").port(0), List.of(ep)).start();
        System.out.println("PORT " + s.port());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
