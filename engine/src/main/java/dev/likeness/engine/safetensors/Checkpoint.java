package dev.likeness.engine.safetensors;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model checkpoint: one {@code .safetensors} file, or several shards tied together by a Hugging Face index
 * ({@code model.safetensors.index.json}: {@code {"metadata": {...}, "weight_map": {"tensor name":
 * "model-00001-of-00002.safetensors", ...}}}, shard names relative to the index's folder).
 *
 * <p>Shards are mapped lazily: opening reads only the index (and checks that every shard file it names exists);
 * a shard is mapped, and its header validated, the first time one of its tensors (or its header entry) is asked for.
 * Tensors are zero-copy views of the mapped files and stay valid until {@link #close()}, which unmaps every shard.
 * Errors are {@link SafetensorsException}s naming the index, the shard and the tensor involved.
 */
public final class Checkpoint implements AutoCloseable {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    private static final String INDEX_SUFFIX = ".safetensors.index.json";
    private static final String FILE_SUFFIX = ".safetensors";

    /** What was opened: the single file or the index file. */
    private final Path path;
    /** Null for a single file. */
    private final Path index;
    /** Tensor name → shard file, in index (or header) order. */
    private final Map<String, Path> weightMap;
    private final Map<String, String> metadata;
    /** Shard file → mapped file, for the shards opened so far. */
    private final Map<Path, SafetensorsFile> mapped = new LinkedHashMap<>();
    private boolean closed;

    private Checkpoint(Path path, Path index, Map<String, Path> weightMap, Map<String, String> metadata) {
        this.path = path;
        this.index = index;
        this.weightMap = weightMap;
        this.metadata = metadata;
    }

    /**
     * Opens a checkpoint: a directory (its single {@code *.safetensors.index.json}, or else its single
     * {@code *.safetensors}), an index file ({@code *.json}) or a {@code .safetensors} file.
     */
    public static Checkpoint open(Path path) {
        if (Files.isDirectory(path)) {
            return open(findIn(path));
        }
        if (path.getFileName() != null && path.getFileName().toString().endsWith(".json")) {
            return openIndex(path);
        }
        SafetensorsFile file = SafetensorsFile.open(path);
        Map<String, Path> map = new LinkedHashMap<>();
        for (String name : file.names()) {
            map.put(name, path);
        }
        Checkpoint c = new Checkpoint(path, null, Collections.unmodifiableMap(map), file.metadata());
        c.mapped.put(path, file);
        return c;
    }

    /** The index file of a directory, or its only safetensors file. */
    private static Path findIn(Path dir) {
        List<Path> indexes = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (n.endsWith(INDEX_SUFFIX)) {
                    indexes.add(p);
                } else if (n.endsWith(FILE_SUFFIX) && Files.isRegularFile(p)) {
                    files.add(p);
                }
            }
        } catch (IOException e) {
            throw new SafetensorsException(dir + ": cannot list the directory: " + e, e);
        }
        Collections.sort(indexes);
        Collections.sort(files);
        if (indexes.size() == 1) {
            return indexes.get(0);
        }
        if (indexes.size() > 1) {
            throw new SafetensorsException(dir + ": several checkpoint indexes " + names(indexes)
                    + "; open the one you mean");
        }
        if (files.size() == 1) {
            return files.get(0);
        }
        if (files.isEmpty()) {
            throw new SafetensorsException(dir + ": no *" + INDEX_SUFFIX + " and no *" + FILE_SUFFIX + " file");
        }
        throw new SafetensorsException(dir + ": several safetensors files " + names(files) + " and no *"
                + INDEX_SUFFIX + " to tie them together; open one file");
    }

    private static List<String> names(List<Path> paths) {
        return paths.stream().map(p -> p.getFileName().toString()).toList();
    }

    private static Checkpoint openIndex(Path index) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(index));
        } catch (IOException e) {
            throw new SafetensorsException(index + ": cannot read the checkpoint index: " + e, e);
        }
        if (root == null || !root.isObject()) {
            throw new SafetensorsException(index + ": the checkpoint index is not a JSON object");
        }
        JsonNode wm = root.get("weight_map");
        if (wm == null || !wm.isObject()) {
            throw new SafetensorsException(index + ": the checkpoint index has no \"weight_map\" object");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        JsonNode meta = root.get("metadata");
        if (meta != null && !meta.isNull()) {
            if (!meta.isObject()) {
                throw new SafetensorsException(index + ": \"metadata\" of the checkpoint index is not an object");
            }
            for (Map.Entry<String, JsonNode> e : meta.properties()) {
                metadata.put(e.getKey(), e.getValue().isTextual() ? e.getValue().textValue() : e.getValue().toString());
            }
        }
        Path dir = index.toAbsolutePath().getParent();
        Map<String, Path> map = new LinkedHashMap<>();
        Set<Path> shards = new LinkedHashSet<>();
        for (Map.Entry<String, JsonNode> e : wm.properties()) {
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (!v.isTextual()) {
                throw new SafetensorsException(index + ": weight_map entry of tensor '" + name
                        + "' must be a shard file name, got " + v);
            }
            String shard = v.textValue();
            Path rel = Path.of(shard);
            if (shard.isEmpty() || rel.isAbsolute() || rel.getNameCount() != 1 || shard.equals("..")
                    || shard.equals(".")) {
                throw new SafetensorsException(index + ": weight_map entry of tensor '" + name + "' names shard '"
                        + shard + "', which is not a plain file name in the index's folder");
            }
            Path file = dir.resolve(rel);
            if (shards.add(file) && !Files.isRegularFile(file)) {
                throw new SafetensorsException(index + ": shard '" + shard + "' (holding tensor '" + name
                        + "' and maybe others) does not exist: " + file);
            }
            map.put(name, file);
        }
        return new Checkpoint(index, index, Collections.unmodifiableMap(map), Collections.unmodifiableMap(metadata));
    }

    /** The file that was opened: the index of a sharded checkpoint, or the single safetensors file. */
    public Path path() {
        return path;
    }

    /** True if the checkpoint was opened through an index. */
    public boolean isSharded() {
        return index != null;
    }

    /**
     * The index's {@code "metadata"} (non-string values as JSON text, e.g. {@code total_size}), or the single
     * file's {@code __metadata__}.
     */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor name, in index (or header) order. Needs no shard to be mapped. */
    public Set<String> names() {
        return weightMap.keySet();
    }

    public boolean contains(String name) {
        return weightMap.containsKey(name);
    }

    /** The distinct shard files, in order of first appearance (one element for a single file). */
    public List<Path> shards() {
        return List.copyOf(new LinkedHashSet<>(weightMap.values()));
    }

    /** The shard file holding {@code name}, without mapping it. */
    public Path shardOf(String name) {
        Path p = weightMap.get(name);
        if (p == null) {
            throw new SafetensorsException(path + ": no tensor named '" + name + "' (the checkpoint has "
                    + weightMap.size() + " tensors" + (weightMap.isEmpty() ? ""
                    : ", e.g. '" + weightMap.keySet().iterator().next() + "'") + ")");
        }
        return p;
    }

    /** The shard files mapped so far (lazy loading made observable). */
    public synchronized Set<Path> mappedShards() {
        return Set.copyOf(mapped.keySet());
    }

    /** The mapped shard holding {@code name}, mapping it on first use; checks that it really has the tensor. */
    private synchronized SafetensorsFile fileOf(String name) {
        Path shard = shardOf(name);
        if (closed) {
            throw new SafetensorsException(path + ": tensor '" + name + "' asked for after the checkpoint was closed");
        }
        SafetensorsFile f = mapped.get(shard);
        if (f == null) {
            f = SafetensorsFile.open(shard);
            mapped.put(shard, f);
        }
        if (!f.contains(name)) {
            throw new SafetensorsException(index + ": the weight_map puts tensor '" + name + "' in shard '"
                    + shard.getFileName() + "', but " + shard + " has no such tensor");
        }
        return f;
    }

    /** The header entry of {@code name} (maps its shard). */
    public SafetensorsFile.Info info(String name) {
        return fileOf(name).info(name);
    }

    /** A zero-copy view of tensor {@code name} in its stored dtype and shape (maps its shard). */
    public Tensor tensor(String name, CpuBackend backend) {
        return fileOf(name).tensor(name, backend);
    }

    /**
     * Like {@link #tensor(String, CpuBackend)}, checking the shape the model expects (and the dtype if
     * {@code dtype} is non-null); a mismatch is an error naming the shard file and the tensor.
     */
    public Tensor tensor(String name, CpuBackend backend, DType dtype, int... shape) {
        return fileOf(name).tensor(name, backend, dtype, shape);
    }

    /** Unmaps every mapped shard (idempotent); tensors obtained from the checkpoint must not be used afterwards. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException first = null;
        for (SafetensorsFile f : mapped.values()) {
            try {
                f.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        mapped.clear();
        if (first != null) {
            throw first;
        }
    }

    @Override
    public String toString() {
        return "Checkpoint(" + path + ", " + weightMap.size() + " tensors in " + shards().size() + " file(s))";
    }
}
