package dev.likeness.server;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * TEST ONLY: a {@code --role worker} process with the {@link FakeCharacterEndpoint}, in its own JVM so a test can kill
 * it with SIGKILL. Arguments: database URL, storage URL, data directory, milliseconds per step, lease milliseconds,
 * worker id. Prints {@code READY} once its workers run.
 */
public final class ScaleOutWorkerMain {
    private ScaleOutWorkerMain() {}

    public static void main(String[] args) throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        ep.stepMillis = Long.parseLong(args[3]);
        ServerConfig c = new ServerConfig(Path.of(args[2])).role(ServerConfig.Role.WORKER).databaseUrl(args[0])
                .storageUrl(args[1]).lease(Duration.ofMillis(Long.parseLong(args[4]))).workerId(args[5])
                .allowPrivateFetch(true);
        new LikenessServer(c, List.of(ep)).start();
        System.out.println("READY " + args[5]);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
