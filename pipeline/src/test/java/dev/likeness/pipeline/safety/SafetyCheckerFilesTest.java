package dev.likeness.pipeline.safety;

import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Broken checker files give a clear error at load time, naming the file (and the tensor) and what was expected. */
class SafetyCheckerFilesTest {
    private static CpuBackend backend;

    @BeforeAll
    static void open() {
        backend = new CpuBackend(1);
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    /** A copy of the built-in nsfwjs files in {@code dir}. */
    private static Path copy(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (String name : new String[] {"model.min.js", "group1-shard1of1.min.js"}) {
            try (InputStream in = SafetyCheckerFilesTest.class.getResourceAsStream(NsfwjsClassifier.RESOURCE_DIR
                    + name)) {
                Files.write(dir.resolve(name), in.readAllBytes());
            }
        }
        return dir;
    }

    private static String shard(Path dir) throws IOException {
        return Files.readString(dir.resolve("group1-shard1of1.min.js"), StandardCharsets.UTF_8);
    }

    @Test
    void intactCopyLoads(@TempDir Path tmp) throws IOException {
        NsfwjsClassifier.load(copy(tmp.resolve("ok")), backend);
    }

    @Test
    void truncatedShard(@TempDir Path tmp) throws IOException {
        Path dir = copy(tmp.resolve("m"));
        String s = shard(dir);
        int quote = s.indexOf("exports=\"") + "exports=".length();
        // drop 4000 base64 characters (3000 bytes) from the end of the weights string
        int end = s.indexOf('"', quote + 1);
        Files.writeString(dir.resolve("group1-shard1of1.min.js"), s.substring(0, end - 4000) + s.substring(end));
        SafetyCheckerException e = assertThrows(SafetyCheckerException.class, () -> NsfwjsClassifier.load(dir,
                backend));
        assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("truncated or corrupt shard")
                && e.getMessage().contains("dense_2/kernel"), e.getMessage());
    }

    @Test
    void garbageInShard(@TempDir Path tmp) throws IOException {
        Path dir = copy(tmp.resolve("m"));
        String s = shard(dir);
        int at = s.indexOf("exports=\"") + 100;
        Files.writeString(dir.resolve("group1-shard1of1.min.js"), s.substring(0, at) + "%%%%" + s.substring(at + 4));
        SafetyCheckerException e = assertThrows(SafetyCheckerException.class, () -> NsfwjsClassifier.load(dir,
                backend));
        assertTrue(e.getMessage().contains("group1-shard1of1.min.js") && e.getMessage().contains("base64"),
                e.getMessage());
    }

    @Test
    void corruptModelJson(@TempDir Path tmp) throws IOException {
        Path dir = copy(tmp.resolve("m"));
        byte[] bytes = Files.readAllBytes(dir.resolve("model.min.js"));
        byte[] cut = Arrays.copyOf(bytes, bytes.length / 2);
        Files.write(dir.resolve("model.min.js"), cut);
        SafetyCheckerException e = assertThrows(SafetyCheckerException.class, () -> NsfwjsClassifier.load(dir,
                backend));
        assertTrue(e.getMessage().contains("model.min.js"), e.getMessage());
        Files.writeString(dir.resolve("model.min.js"), new String(bytes, StandardCharsets.UTF_8)
                .replace("filters:1280", "filters:1281"));
        e = assertThrows(SafetyCheckerException.class, () -> NsfwjsClassifier.load(dir, backend));
        assertTrue(e.getMessage().contains("Conv_1/kernel") && e.getMessage().contains("expected [1, 1, 320, 1281]"),
                e.getMessage());
    }

    @Test
    void missingShard(@TempDir Path tmp) throws IOException {
        Path dir = copy(tmp.resolve("m"));
        Files.delete(dir.resolve("group1-shard1of1.min.js"));
        SafetyCheckerException e = assertThrows(SafetyCheckerException.class, () -> NsfwjsClassifier.load(dir,
                backend));
        assertEquals(dir + "/group1-shard1of1.min.js: missing", e.getMessage());
    }

    @Test
    void brokenStableDiffusionCheckerFolder(@TempDir Path tmp) throws IOException {
        Path models = tmp.resolve("models");
        Path dir = Files.createDirectories(models.resolve(SafetyCheckers.SD_CHECKER_DIR));
        SafetyCheckerException e = assertThrows(SafetyCheckerException.class, () -> SafetyCheckers.load(models,
                backend));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("missing"), e.getMessage());
        Path tiny = ClipSafetyCheckerTest.tinyModel();
        Files.copy(tiny.resolve("config.json"), dir.resolve("config.json"));
        byte[] weights = Files.readAllBytes(tiny.resolve("model.safetensors"));
        Files.write(dir.resolve("model.safetensors"), Arrays.copyOf(weights, 1000));
        e = assertThrows(SafetyCheckerException.class, () -> SafetyCheckers.load(models, backend));
        assertTrue(e.getMessage().contains("model.safetensors")
                && e.getMessage().startsWith("cannot load the Stable Diffusion safety checker"), e.getMessage());
    }
}
