package dev.likeness.engine.safetensors;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.likeness.engine.DType;
import dev.likeness.engine.MappedFile;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One {@code .safetensors} file, memory-mapped whole (any size: FFM segments are not limited to 2 GiB) and read
 * lazily: opening parses and validates only the JSON header; {@link #tensor} returns a zero-copy view of the mapped
 * bytes in the stored dtype.
 *
 * <p>Format: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * {@code {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}},
 * then the data; offsets are relative to the end of the header.
 *
 * <p>Validation follows the reference implementation (Rust crate {@code safetensors}, {@code tensor.rs}): the header
 * is at most 100 MB of valid UTF-8 JSON holding one object; {@code __metadata__} maps strings to strings; each entry
 * has a known dtype, a shape of non-negative integers and {@code [begin, end]} offsets spanning exactly
 * numel × element size bytes; sorted by offset, the tensors tile the data section without holes or overlaps and end
 * exactly at the end of the file. On top of that, duplicate names and trailing text after the JSON object are refused.
 * Every inconsistency is a {@link SafetensorsException} naming the file and, where there is one, the tensor.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** Header entry of one tensor. {@code begin}/{@code end} are absolute file offsets. */
    public record Info(String name, DType dtype, int[] shape, long begin, long end) {
        public Info {
            shape = shape.clone();
        }

        /** The shape (a copy). */
        @Override
        public int[] shape() {
            return shape.clone();
        }

        public long numel() {
            return Tensor.numel(shape);
        }

        /** Bytes of data, {@code end - begin}. */
        public long byteSize() {
            return end - begin;
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape);
        }
    }

    /** Strict JSON: duplicate keys and anything after the top-level value are errors. */
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    /** Same cap as the reference implementation: a header above 100 MB is refused as corrupt. */
    static final long MAX_HEADER = 100_000_000L;
    static final String METADATA_KEY = "__metadata__";

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final Map<String, Info> infos;
    private final Map<String, String> metadata;
    private volatile boolean closed;

    private SafetensorsFile(Path path, Arena arena, MemorySegment file, Map<String, Info> infos,
                            Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.infos = infos;
        this.metadata = metadata;
    }

    /** Maps the file and validates its header. */
    public static SafetensorsFile open(Path path) {
        return MappedFile.open(path, (arena, file) -> parse(path, arena, file), SafetensorsException::new);
    }

    private static SafetensorsException bad(Path path, String what) {
        return new SafetensorsException(path + ": " + what);
    }

    private static SafetensorsException bad(Path path, String tensor, String what) {
        return new SafetensorsException(path + ": tensor '" + tensor + "': " + what);
    }

    private static SafetensorsFile parse(Path path, Arena arena, MemorySegment file) {
        long size = file.byteSize();
        if (size < 8) {
            throw bad(path, "truncated: " + size + " bytes, too short for the 8-byte header length");
        }
        long n = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 0 || n > MAX_HEADER) {
            throw bad(path, "bad header length " + Long.toUnsignedString(n) + ": above the " + MAX_HEADER
                    + "-byte limit (not a safetensors file, or corrupt)");
        }
        if (n < 2) {
            throw bad(path, "bad header length " + n + ": too short for a JSON object (not a safetensors file, "
                    + "or corrupt)");
        }
        if (n > size - 8) {
            throw bad(path, "truncated: the header length says " + n + " bytes of JSON, but only " + (size - 8)
                    + " bytes follow it");
        }
        String json;
        try {
            json = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(file.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE)))
                    .toString();
        } catch (CharacterCodingException e) {
            throw bad(path, "bad header: not valid UTF-8");
        }
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            throw bad(path, "bad header: not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
        if (root == null || !root.isObject()) {
            throw bad(path, "bad header: the JSON is not an object but " + (root == null ? "empty" : root.getNodeType()));
        }
        long dataStart = 8 + n;
        long dataLen = size - dataStart;
        Map<String, Info> infos = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals(METADATA_KEY)) {
                if (!v.isObject()) {
                    throw bad(path, "bad header: " + METADATA_KEY + " is not an object but " + v.getNodeType());
                }
                for (Map.Entry<String, JsonNode> m : v.properties()) {
                    if (!m.getValue().isTextual()) {
                        throw bad(path, "bad header: " + METADATA_KEY + " must map names to strings, '" + m.getKey()
                                + "' is " + m.getValue());
                    }
                    metadata.put(m.getKey(), m.getValue().textValue());
                }
                continue;
            }
            infos.put(name, parseInfo(path, name, v, dataStart, dataLen));
        }
        checkLayout(path, infos.values(), dataStart, dataLen);
        return new SafetensorsFile(path, arena, file, Collections.unmodifiableMap(infos),
                Collections.unmodifiableMap(metadata));
    }

    private static Info parseInfo(Path path, String name, JsonNode v, long dataStart, long dataLen) {
        if (!v.isObject()) {
            throw bad(path, name, "header entry must be an object with dtype, shape and data_offsets, got " + v);
        }
        for (String field : new String[] {"dtype", "shape", "data_offsets"}) {
            if (!v.has(field)) {
                throw bad(path, name, "header entry has no '" + field + "' (it needs dtype, shape and data_offsets): "
                        + v);
            }
        }
        JsonNode dt = v.get("dtype");
        if (!dt.isTextual()) {
            throw bad(path, name, "dtype must be a string, got " + dt);
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensors(dt.textValue());
        } catch (IllegalArgumentException ex) {
            throw bad(path, name, ex.getMessage());
        }
        JsonNode sh = v.get("shape");
        if (!sh.isArray()) {
            throw bad(path, name, "shape must be an array of sizes, got " + sh);
        }
        int[] shape = new int[sh.size()];
        long bytes = dtype.byteSize();
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.longValue() < 0) {
                throw bad(path, name, "bad size " + d + " in shape " + sh);
            }
            if (d.longValue() > Integer.MAX_VALUE) {
                throw bad(path, name, "size " + d + " in shape " + sh + " exceeds this engine's limit of "
                        + Integer.MAX_VALUE + " per dimension");
            }
            shape[i] = d.intValue();
            try {
                bytes = Math.multiplyExact(bytes, shape[i]);
            } catch (ArithmeticException ex) {
                throw bad(path, name, "shape " + sh + " of " + dtype + " overflows 64-bit byte counts");
            }
        }
        JsonNode off = v.get("data_offsets");
        if (!off.isArray() || off.size() != 2) {
            throw bad(path, name, "data_offsets must be [begin, end], got " + off);
        }
        for (JsonNode o : off) {
            if (!o.isIntegralNumber() || !o.canConvertToLong() || o.longValue() < 0) {
                throw bad(path, name, "data_offsets must be two non-negative integers, got " + off);
            }
        }
        long b = off.get(0).longValue();
        long e = off.get(1).longValue();
        if (e < b) {
            throw bad(path, name, "misordered data_offsets [" + b + ", " + e + "]: end before begin");
        }
        if (e - b != bytes) {
            throw bad(path, name, dtype.safetensorsName() + Arrays.toString(shape) + " needs " + bytes
                    + " bytes, data_offsets [" + b + ", " + e + "] span " + (e - b));
        }
        if (e > dataLen) {
            throw bad(path, name, "truncated: its data_offsets [" + b + ", " + e + "] reach past the data section, "
                    + "which has only " + dataLen + " bytes");
        }
        return new Info(name, dtype, shape, dataStart + b, dataStart + e);
    }

    /** Sorted by offset, the tensors must tile the data section exactly: no hole, no overlap, nothing after. */
    private static void checkLayout(Path path, Iterable<Info> infos, long dataStart, long dataLen) {
        List<Info> sorted = new ArrayList<>();
        infos.forEach(sorted::add);
        sorted.sort(Comparator.comparingLong(Info::begin).thenComparingLong(Info::end));
        long cursor = 0;
        Info previous = null;
        for (Info i : sorted) {
            long b = i.begin() - dataStart;
            if (b < cursor) {
                throw bad(path, i.name(), "data_offsets [" + b + ", " + (i.end() - dataStart) + "] overlap tensor '"
                        + previous.name() + "' at [" + (previous.begin() - dataStart) + ", " + cursor + "]");
            }
            if (b > cursor) {
                throw bad(path, i.name(), "data_offsets [" + b + ", " + (i.end() - dataStart) + "] leave a hole: bytes "
                        + cursor + ".." + b + " of the data section belong to no tensor");
            }
            cursor = i.end() - dataStart;
            previous = i;
        }
        if (cursor != dataLen) {
            throw bad(path, "the data section has " + dataLen + " bytes but the tensors cover only " + cursor
                    + " (extra bytes at the end of the file, or a bad header)");
        }
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

    /** Size of the file in bytes. */
    public long byteSize() {
        return file.byteSize();
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
        if (closed) {
            throw new SafetensorsException(path + ": tensor '" + name + "' asked for after the file was closed");
        }
        return backend.wrap(file.asSlice(i.begin(), i.byteSize()), i.dtype(), i.shape());
    }

    /**
     * Like {@link #tensor(String, CpuBackend)}, checking the shape the model expects (and the dtype if
     * {@code dtype} is non-null); a mismatch is an error naming the file and tensor.
     */
    public Tensor tensor(String name, CpuBackend backend, DType dtype, int... shape) {
        Info i = info(name);
        if (dtype != null && i.dtype() != dtype) {
            throw new SafetensorsException(path + ": tensor '" + name + "' is " + i.dtype().safetensorsName()
                    + Arrays.toString(i.shape()) + ", expected " + dtype.safetensorsName());
        }
        if (!Arrays.equals(i.shape(), shape)) {
            throw new SafetensorsException(path + ": tensor '" + name + "' has shape " + Arrays.toString(i.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        return tensor(name, backend);
    }

    /**
     * Unmaps the file (idempotent). Tensors obtained from it must not be used afterwards: reading them throws
     * {@link IllegalStateException} rather than touching unmapped memory.
     */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }
}
