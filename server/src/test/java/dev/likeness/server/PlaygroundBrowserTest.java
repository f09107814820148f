package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.TinyModel;
import dev.likeness.pipeline.safety.NsfwjsSafetyChecker;
import dev.likeness.pipeline.safety.SafetyChecker;
import dev.likeness.server.endpoints.IdeogramCharacterEndpoint;
import dev.likeness.server.endpoints.InstantCharacterEndpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The playground page in a real browser: Debian's Chromium ({@code /usr/bin/chromium}, or {@code $LIKENESS_CHROMIUM};
 * headless, no sandbox, background networking off) driven by {@code playwright-core} (installed from npm at test
 * time into {@code ~/.cache/likeness-conformance/}, never committed) through the script
 * {@code src/test/clients/browser/playground.cjs}, against a server with both endpoints on the built-in tiny model
 * the default safety checker (as {@code likeness serve}) and one API key. The script: a run without a key asks for one; the key entered in the page; a validation error
 * shown at its field; a reference uploaded by drag-and-drop through the storage flow; a run with live progress and
 * the final image, seed and timings; the code snippets; the history; a queued request cancelled; the ideogram form; a phone-sized viewport;
 * and no request to any other origin. A screenshot of the finished run is written to
 * {@code target/playground/finished-run.png} (printed in the log). Skipped, with the reason, when Chromium, node or
 * the package is missing.
 */
class PlaygroundBrowserTest {
    static final String PLAYWRIGHT = "1.65.1";

    @TempDir
    Path dir;

    private static final class Tiny {
        static final CpuBackend BACKEND = new CpuBackend();
        static final InstantCharacterPipeline PIPELINE = TinyModel.materialize().load(BACKEND);
        static final SafetyChecker SAFETY = NsfwjsSafetyChecker.load(BACKEND);
    }

    static Path chromium() {
        String env = System.getenv("LIKENESS_CHROMIUM");
        Path p = Path.of(env != null && !env.isBlank() ? env : "/usr/bin/chromium");
        Conformance.skipUnless(Files.isExecutable(p), p + " is not installed (apt-get install chromium; scripts/test.sh "
                + "installs it when it can): cannot run the playground browser test");
        return p;
    }

    static Path installPlaywright() {
        String[] node = Conformance.tryRun(List.of("node", "--version"), Path.of("."), 30, Map.of());
        Conformance.skipUnless(node != null && node[0].equals("0"), "node is not installed: cannot run the playground browser test");
        Path d = Conformance.cacheDir("playwright-core-" + PLAYWRIGHT);
        Path marker = d.resolve("node_modules/playwright-core/package.json");
        if (Files.exists(marker)) return d;
        try {
            Files.createDirectories(d);
            Files.writeString(d.resolve("package.json"), "{\"private\": true}\n");
        } catch (java.io.IOException e) {
            Conformance.skipUnless(false, "cannot create " + d + ": " + e.getMessage());
        }
        String[] npm = Conformance.tryRun(List.of("npm", "install", "--no-audit", "--no-fund", "--no-package-lock",
                "--loglevel=error", "playwright-core@" + PLAYWRIGHT), d, 240, Map.of("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"));
        Conformance.skipUnless(npm != null && npm[0].equals("0") && Files.exists(marker),
                "could not install playwright-core@" + PLAYWRIGHT + " from npm (no network?): "
                        + (npm == null ? "npm is not installed" : npm[1]));
        return d;
    }

    @Test
    void playgroundInChromium() throws Exception {
        Path chromium = chromium();
        Path pw = installPlaywright();
        Path reference = dir.resolve("reference.png");
        Files.write(reference, FakeCharacterEndpoint.png(48, 48, 0x8844cc));
        Path shots = Files.createDirectories(Path.of("target").toAbsolutePath().resolve("playground"));
        try (LikenessServer server = new LikenessServer(new ServerConfig(dir.resolve("data")).host("127.0.0.1").port(0),
                List.of(new InstantCharacterEndpoint(Tiny.PIPELINE, Tiny.BACKEND, Tiny.SAFETY),
                        new IdeogramCharacterEndpoint(Tiny.PIPELINE, Tiny.BACKEND, Tiny.SAFETY))).start()) {
            String key = server.keys().create();
            var config = Json.object().put("base", "http://127.0.0.1:" + server.port()).put("key", key)
                    .put("chromium", chromium.toString()).put("reference", reference.toString())
                    .put("screenshots", shots.toString());
            Path cfg = dir.resolve("config.json");
            Files.writeString(cfg, Json.write(config));
            long t0 = System.nanoTime();
            Conformance.ScriptRun run = Conformance.runScript("playground-browser",
                    List.of("node", Conformance.scripts().resolve("browser/playground.cjs").toString(), cfg.toString()),
                    Map.of("PLAYWRIGHT_DIR", pw.toString()), dir, 120);
            System.out.printf("playground browser test: %.1f s%n", (System.nanoTime() - t0) / 1e9);
            System.out.print(run.stdout());
            JsonNode r = run.result();
            assertEquals("[]", r.path("failures").toString(), "failed checks: " + r.path("failures"));
            assertTrue(r.path("checks").size() >= 10, "too few checks ran: " + r.path("checks"));
            Path shot = Path.of(r.path("screenshot").asText());
            assertTrue(Files.size(shot) > 1000, "screenshot " + shot);
            System.out.println("playground screenshot of the finished run: " + shot);
        }
    }
}
