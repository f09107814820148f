package dev.likeness.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsWriter;
import dev.likeness.models.SyntheticWeights;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * The built-in tiny model: every component of the InstantCharacter pipeline with its real architecture at tiny widths
 * and deterministic synthetic weights ({@link SyntheticWeights}), so the whole product runs on any machine in seconds
 * with nothing downloaded. Its images are noise-like: the weights are not trained.
 *
 * <p>The model is described by the resource {@code tiny/manifest.json} (written by the reference script
 * {@code tools/reference/goldens/pipeline_instantcharacter.py}: every component's config and every tensor's name,
 * shape and value rule) plus the tokenizer files shipped beside it (the real CLIP BPE vocabulary and a small T5
 * Unigram tokenizer, as {@code tokenizer.json}). {@link #materialize} writes it out as the same folder layout real weights use
 * ({@link ModelPaths}), so it loads through exactly the same code; the folder is cached under a name derived from the
 * manifest's hash.
 */
public final class TinyModel {
    private static final String RESOURCES = "/dev/likeness/pipeline/tiny/";
    private static final String[] RESOURCE_FILES = {"manifest.json", "clip-vocab.json.gz", "clip-merges.txt.gz",
            "t5-tokenizer.json.gz"};
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private TinyModel() {
    }

    /**
     * The default cache: the system property {@code likeness.cache}, else {@code $LIKENESS_CACHE}, else
     * {@code ~/.cache/likeness}; then {@code tiny-<hash>}.
     */
    public static Path defaultDirectory() {
        String prop = System.getProperty("likeness.cache");
        String env = System.getenv("LIKENESS_CACHE");
        Path base = prop != null && !prop.isBlank() ? Path.of(prop)
                : env != null && !env.isBlank() ? Path.of(env)
                : Path.of(System.getProperty("user.home"), ".cache", "likeness");
        return base.resolve("tiny-" + manifestHash().substring(0, 16));
    }

    /** Writes the model under {@link #defaultDirectory} unless it is already there, and returns its paths. */
    public static ModelPaths materialize() {
        return materialize(defaultDirectory());
    }

    /**
     * Writes the tiny model's folders into {@code dir} unless a complete copy is already there (a marker file is
     * written last; the folders are built in a sibling temporary directory and moved into place).
     */
    public static synchronized ModelPaths materialize(Path dir) {
        Path marker = dir.resolve(".complete");
        String hash = manifestHash();
        if (isComplete(marker, hash)) {
            return ModelPaths.fromRoot(dir);
        }
        if (Files.exists(dir)) {  // an older build of the model, or an interrupted one: replace it
            deleteRecursively(dir);
        }
        try {
            Files.createDirectories(dir.toAbsolutePath().getParent());
            Path tmp = Files.createTempDirectory(dir.toAbsolutePath().getParent(), ".tiny-");
            try {
                write(tmp);
                Files.writeString(tmp.resolve(".complete"), hash + "\n");
                try {
                    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, dir);
                }
            } catch (IOException | RuntimeException e) {
                deleteRecursively(tmp);
                if (isComplete(marker, hash)) {  // another process won the race
                    return ModelPaths.fromRoot(dir);
                }
                throw e;
            }
        } catch (IOException e) {
            if (isComplete(marker, hash)) {
                return ModelPaths.fromRoot(dir);
            }
            throw new UncheckedIOException("cannot write the built-in tiny model to " + dir + ": " + e.getMessage(), e);
        }
        return ModelPaths.fromRoot(dir);
    }

    /** Whether {@code marker} exists and names this build of the model. */
    private static boolean isComplete(Path marker, String hash) {
        try {
            return Files.isRegularFile(marker) && Files.readString(marker).trim().equals(hash);
        } catch (IOException e) {
            return false;
        }
    }

    /** Writes every component's config and weights, the scheduler config and the tokenizers under {@code root}. */
    static void write(Path root) throws IOException {
        JsonNode manifest = manifest();
        int seed = manifest.path("seed").asInt(0);
        CpuBackend backend = new CpuBackend(1);
        for (Map.Entry<String, JsonNode> e : manifest.path("components").properties()) {
            JsonNode c = e.getValue();
            Path folder = root.resolve(c.path("folder").asText());
            Files.createDirectories(folder);
            if (!c.has("tensors")) {  // the scheduler: its config is the file
                JSON.writeValue(folder.resolve(c.path("file").asText()).toFile(), c.path("config"));
                continue;
            }
            JSON.writeValue(folder.resolve("config.json").toFile(), c.path("config"));
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (JsonNode t : c.path("tensors")) {
                String name = t.get(0).asText();
                int[] shape = new int[t.get(1).size()];
                long count = 1;
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = t.get(1).get(i).asInt();
                    count *= shape[i];
                }
                float[] values = SyntheticWeights.values(name, count, t.get(2).asDouble(), t.get(3).asDouble(), seed);
                tensors.put(name, backend.fromFloats(values, shape));
            }
            SafetensorsWriter.write(folder.resolve(c.path("file").asText()), tensors, Map.of());
        }
        Path tokenizer = Files.createDirectories(root.resolve(ModelPaths.FLUX_DIR).resolve("tokenizer"));
        unzipResource("clip-vocab.json.gz", tokenizer.resolve("vocab.json"));
        unzipResource("clip-merges.txt.gz", tokenizer.resolve("merges.txt"));
        Path tokenizer2 = Files.createDirectories(root.resolve(ModelPaths.FLUX_DIR).resolve("tokenizer_2"));
        unzipResource("t5-tokenizer.json.gz", tokenizer2.resolve("tokenizer.json"));
    }

    static JsonNode manifest() {
        try (InputStream in = resource("manifest.json")) {
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the tiny model manifest: " + e.getMessage(), e);
        }
    }

    /** The SHA-256 of every resource the model is built from (a change to any gives a new cache folder). */
    private static String manifestHash() {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (String name : RESOURCE_FILES) {
                try (InputStream in = resource(name)) {
                    sha.update(name.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                    sha.update(in.readAllBytes());
                }
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static InputStream resource(String name) {
        InputStream in = TinyModel.class.getResourceAsStream(RESOURCES + name);
        if (in == null) {
            throw new IllegalStateException("the built-in tiny model's resource " + RESOURCES + name
                    + " is missing from the jar");
        }
        return in;
    }

    private static void unzipResource(String name, Path target) throws IOException {
        try (InputStream in = new GZIPInputStream(resource(name))) {
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort: a leftover temporary folder is harmless
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }
}
