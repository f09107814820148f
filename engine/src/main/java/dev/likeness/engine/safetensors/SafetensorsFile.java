package dev.likeness.engine.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One {@code .safetensors} file, memory-mapped whole (any size: FFM segments are not limited to 2 GiB) and read
 * lazily: opening parses only the JSON header; {@link #tensor} returns a zero-copy view of the mapped bytes in the
 * stored dtype.
 *
 * <p>Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * {@code {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}},
 * then the data; offsets are relative to the end of the header. Every inconsistency is a
 * {@link SafetensorsException} naming the file and, where there is one, the tensor.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** Header entry of one tensor. {@code begin}/{@code end} are absolute file offsets. */
    public record Info(String name, DType dtype, int[] shape, long begin, long end) {
        public long numel() {
            return Tensor.numel(shape);
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Same cap as the reference implementation: a header above 100 MB is refused as corrupt. */
    static final long MAX_HEADER = 100_000_000L;

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final Map<String, Info> infos;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, MemorySegment file, Map<String, Info> infos,
                            Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.infos = infos;
        this.metadata = metadata;
    }

    /** Maps and validates the file's header. */
    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment file;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            }
            return parse(path, arena, file);
        } catch (IOException e) {
            arena.close();
            throw new SafetensorsException(path + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static SafetensorsException bad(Path path, String what) {
        return new SafetensorsException(path + ": " + what);
    }

    private static SafetensorsFile parse(Path path, Arena arena, MemorySegment file) {
        long size = file.byteSize();
        if (size < 8) {
            throw bad(path, "truncated: " + size + " bytes, too short for the 8-byte header length");
        }
        long n = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 2 || n > MAX_HEADER) {
            throw bad(path, "bad header length " + n + " (not a safetensors file, or corrupt)");
        }
        if (8 + n > size) {
            throw bad(path, "truncated: header says " + n + " bytes of JSON, the file has only " + (size - 8)
                    + " after the length");
        }
        String json = new String(file.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            throw bad(path, "bad header: not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
        if (root == null || !root.isObject()) {
            throw bad(path, "bad header: the JSON is not an object");
        }
        long dataStart = 8 + n;
        long dataLen = size - dataStart;
        Map<String, Info> infos = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.properties().iterator(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) {
                    throw bad(path, "bad header: __metadata__ is not an object");
                }
                v.properties().forEach(m -> metadata.put(m.getKey(), m.getValue().isTextual()
                        ? m.getValue().asText() : m.getValue().toString()));
                continue;
            }
            infos.put(name, parseInfo(path, name, v, dataStart, dataLen));
        }
        return new SafetensorsFile(path, arena, file, Collections.unmodifiableMap(infos),
                Collections.unmodifiableMap(metadata));
    }

    private static Info parseInfo(Path path, String name, JsonNode v, long dataStart, long dataLen) {
        String where = "tensor '" + name + "': ";
        if (!v.isObject() || !v.has("dtype") || !v.has("shape") || !v.has("data_offsets")) {
            throw bad(path, where + "header entry needs dtype, shape and data_offsets, got " + v);
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensors(v.get("dtype").asText());
        } catch (IllegalArgumentException ex) {
            throw bad(path, where + ex.getMessage());
        }
        JsonNode sh = v.get("shape");
        if (!sh.isArray()) {
            throw bad(path, where + "shape is not an array: " + sh);
        }
        int[] shape = new int[sh.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || d.asLong() < 0 || d.asLong() > Integer.MAX_VALUE) {
                throw bad(path, where + "bad dimension " + d + " in shape " + sh);
            }
            shape[i] = d.asInt();
        }
        JsonNode off = v.get("data_offsets");
        if (!off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber() || !off.get(1).isIntegralNumber()) {
            throw bad(path, where + "data_offsets must be [begin, end], got " + off);
        }
        long b = off.get(0).asLong();
        long e = off.get(1).asLong();
        if (b < 0 || e < b) {
            throw bad(path, where + "bad data_offsets [" + b + ", " + e + "]");
        }
        long expect = Tensor.numel(shape) * dtype.byteSize();
        if (e - b != expect) {
            throw bad(path, where + dtype + Arrays.toString(shape) + " needs " + expect + " bytes, data_offsets span "
                    + (e - b));
        }
        if (e > dataLen) {
            throw bad(path, where + "truncated: data ends at byte " + e + " of the data section, which has only "
                    + dataLen + " bytes");
        }
        return new Info(name, dtype, shape, dataStart + b, dataStart + e);
    }

    public Path path() {
        return path;
    }

    /** The {@code __metadata__} string map (empty if absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensor names in header order. */
    public Set<String> names() {
        return infos.keySet();
    }

    public boolean contains(String name) {
        return infos.containsKey(name);
    }

    /** The header entry of {@code name}; a missing tensor is an error naming the file. */
    public Info info(String name) {
        Info i = infos.get(name);
        if (i == null) {
            throw new SafetensorsException(path + ": no tensor named '" + name + "' (the file has " + infos.size()
                    + " tensors" + (infos.isEmpty() ? "" : ", e.g. '" + infos.keySet().iterator().next() + "'") + ")");
        }
        return i;
    }

    /** A zero-copy view of the stored bytes as a tensor of the stored dtype and shape. */
    public Tensor tensor(String name, CpuBackend backend) {
        Info i = info(name);
        return backend.wrap(file.asSlice(i.begin(), i.end() - i.begin()), i.dtype(), i.shape());
    }

    /**
     * Like {@link #tensor(String, CpuBackend)}, checking the shape the model expects (and the dtype if
     * {@code dtype} is non-null); a mismatch is an error naming the file and tensor.
     */
    public Tensor tensor(String name, CpuBackend backend, DType dtype, int... shape) {
        Info i = info(name);
        if (dtype != null && i.dtype() != dtype) {
            throw new SafetensorsException(path + ": tensor '" + name + "' is " + i.dtype() + ", expected " + dtype);
        }
        if (!Arrays.equals(i.shape(), shape)) {
            throw new SafetensorsException(path + ": tensor '" + name + "' has shape " + Arrays.toString(i.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        return tensor(name, backend);
    }

    /** Unmaps the file. Tensors obtained from it must not be used afterwards. */
    @Override
    public void close() {
        arena.close();
    }
}
