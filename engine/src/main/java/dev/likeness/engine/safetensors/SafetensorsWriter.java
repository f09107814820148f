package dev.likeness.engine.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuData;
import dev.likeness.engine.cpu.CpuStorage;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a {@code .safetensors} file: tensors of any dtype and any view (strided, permuted, broadcast — written
 * contiguous, row-major, little-endian, in their storage dtype) plus {@code __metadata__} strings.
 *
 * <p>The layout is the reference writer's ({@code safetensors.torch.save_file}), byte for byte: the data is ordered
 * by decreasing element alignment (I64, F64, F32, I32, BF16, F16, I16, F8_E4M3, F8_E5M2, I8, U8, BOOL), then by
 * name (UTF-8 byte order), so every tensor starts at a multiple of its element size; the header is compact JSON
 * ({@code __metadata__} first, then the tensors in data order) padded with spaces to a multiple of 8 bytes, after
 * an 8-byte little-endian length. The data is streamed (no whole-file buffer), into a temporary file that replaces
 * {@code path} only once complete.
 *
 * <pre>{@code
 * new SafetensorsWriter().metadata("format", "pt").add("w", weight).add("b", bias).write(path);
 * }</pre>
 */
public final class SafetensorsWriter {
    /** Data order of the reference writer: decreasing alignment, ties in this order. */
    private static final List<DType> DATA_ORDER = List.of(DType.I64, DType.F64, DType.F32, DType.I32, DType.BF16,
            DType.F16, DType.I16, DType.F8_E4M3, DType.F8_E5M2, DType.I8, DType.U8, DType.BOOL);
    private static final int STAGE_BYTES = 1 << 20;
    private static final ValueLayout.OfFloat FLOAT_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /**
     * Adds a tensor (host memory, any dtype and view). A tensor with a dequantization {@link Tensor#scale()} is
     * refused: its scale would be lost — write {@code backend.to(t, F32)}, or the raw tensor and its scale under
     * two names.
     */
    public SafetensorsWriter add(String name, Tensor t) {
        if (name == null || name.equals(SafetensorsFile.METADATA_KEY)) {
            throw new IllegalArgumentException("tensor name '" + name + "' is reserved or missing");
        }
        if (tensors.containsKey(name)) {
            throw new IllegalArgumentException("tensor '" + name + "' added twice");
        }
        if (t.scale() != null) {
            throw new IllegalArgumentException("tensor '" + name + "' " + t + " has a dequantization scale, which the "
                    + "file cannot carry; write backend.to(t, F32), or the raw tensor and its scale separately");
        }
        CpuData.storage(t);
        tensors.put(name, t);
        return this;
    }

    /** Adds a {@code __metadata__} entry (later values replace earlier ones). */
    public SafetensorsWriter metadata(String key, String value) {
        if (key == null || value == null) {
            throw new IllegalArgumentException("metadata key and value must be non-null, got " + key + " = " + value);
        }
        metadata.put(key, value);
        return this;
    }

    /** Writes {@code tensors} and {@code metadata} to {@code path} in one call. */
    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        SafetensorsWriter w = new SafetensorsWriter();
        metadata.forEach(w::metadata);
        tensors.forEach(w::add);
        w.write(path);
    }

    private record Entry(String name, Tensor tensor, byte[] utf8Name, long bytes) {
    }

    /** Writes the file (replacing {@code path} atomically where the file system allows). */
    public void write(Path path) {
        List<Entry> order = new ArrayList<>();
        tensors.forEach((name, t) -> order.add(new Entry(name, t, name.getBytes(StandardCharsets.UTF_8),
                t.numel() * t.dtype().byteSize())));
        order.sort((a, b) -> {
            int c = Integer.compare(DATA_ORDER.indexOf(a.tensor.dtype()), DATA_ORDER.indexOf(b.tensor.dtype()));
            return c != 0 ? c : Arrays.compareUnsigned(a.utf8Name, b.utf8Name);
        });
        byte[] header = header(order);
        Path abs = path.toAbsolutePath();
        Path tmp = null;
        try {
            tmp = Files.createTempFile(abs.getParent(), "." + abs.getFileName(), ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                Stage stage = new Stage(ch);
                for (Entry e : order) {
                    stage.tensor(e.tensor);
                }
                stage.flush();
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new SafetensorsException(path + ": cannot write: " + e, e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write already failed; that failure is the one to report
                }
            }
        }
    }

    /** The JSON header in the reference writer's compact form, padded with spaces to a multiple of 8 bytes. */
    private byte[] header(List<Entry> order) {
        StringBuilder sb = new StringBuilder("{");
        if (!metadata.isEmpty()) {
            quote(sb, SafetensorsFile.METADATA_KEY).append(":{");
            boolean first = true;
            for (Map.Entry<String, String> m : metadata.entrySet()) {
                if (!first) {
                    sb.append(',');
                }
                first = false;
                quote(sb, m.getKey()).append(':');
                quote(sb, m.getValue());
            }
            sb.append('}');
        }
        long offset = 0;
        for (Entry e : order) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            quote(sb, e.name).append(":{\"dtype\":");
            quote(sb, e.tensor.dtype().safetensorsName()).append(",\"shape\":[");
            int[] shape = e.tensor.shape();
            for (int i = 0; i < shape.length; i++) {
                sb.append(i == 0 ? "" : ",").append(shape[i]);
            }
            sb.append("],\"data_offsets\":[").append(offset).append(',').append(offset + e.bytes).append("]}");
            offset += e.bytes;
        }
        sb.append('}');
        byte[] json = sb.toString().getBytes(StandardCharsets.UTF_8);
        if (json.length > SafetensorsFile.MAX_HEADER) {
            throw new IllegalArgumentException("the header would take " + json.length + " bytes, above the "
                    + SafetensorsFile.MAX_HEADER + "-byte limit of the format");
        }
        int padded = (json.length + 7) & ~7;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /** A JSON string literal, escaped as serde_json does (quote, backslash, control characters). */
    private static StringBuilder quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"');
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /**
     * Writes a Hugging Face checkpoint index ({@code *.safetensors.index.json}) tying shard files together:
     * {@code {"metadata": {"total_size": totalSize}, "weight_map": {name: shard file name}}}, keys sorted, two-space
     * indent, as {@code transformers} writes it. Shard names are plain file names in the index's folder.
     */
    public static void writeIndex(Path index, Map<String, String> weightMap, long totalSize) {
        ObjectMapper json = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();
        ObjectNode root = json.createObjectNode();
        root.putObject("metadata").put("total_size", totalSize);
        ObjectNode wm = root.putObject("weight_map");
        new TreeMap<>(weightMap).forEach(wm::put);
        try {
            Files.writeString(index, json.writeValueAsString(root) + "\n");
        } catch (IOException e) {
            throw new SafetensorsException(index + ": cannot write the checkpoint index: " + e, e);
        }
    }

    /** A staging buffer: tensor elements are gathered into it in row-major order and flushed to the channel. */
    private static final class Stage {
        private final FileChannel ch;
        private final byte[] buf = new byte[STAGE_BYTES];
        private final MemorySegment seg = MemorySegment.ofArray(buf);
        private int fill;

        Stage(FileChannel ch) {
            this.ch = ch;
        }

        void flush() throws IOException {
            writeFully(ch, ByteBuffer.wrap(buf, 0, fill));
            fill = 0;
        }

        /** Appends the elements of {@code t} in row-major order, as little-endian bytes of its dtype. */
        void tensor(Tensor t) throws IOException {
            if (t.numel() == 0) {
                return;
            }
            CpuStorage s = CpuData.storage(t);
            int rank = t.dim();
            int[] shape = t.shape();
            long[] st = t.strides();
            if (rank == 0 || t.isContiguous()) {
                run(s, t.dtype(), t.offset(), t.numel());
                return;
            }
            int inner = shape[rank - 1];
            long innerStride = st[rank - 1];
            long rows = t.numel() / inner;
            int[] idx = new int[rank - 1];
            for (long r = 0; r < rows; r++) {
                long base = t.offset();
                for (int d = 0; d < rank - 1; d++) {
                    base += idx[d] * st[d];
                }
                if (innerStride == 1) {
                    run(s, t.dtype(), base, inner);
                } else {
                    for (int i = 0; i < inner; i++) {
                        run(s, t.dtype(), base + i * innerStride, 1);
                    }
                }
                for (int d = rank - 2; d >= 0; d--) {
                    if (++idx[d] < shape[d]) {
                        break;
                    }
                    idx[d] = 0;
                }
            }
        }

        /** Appends {@code n} consecutive storage elements starting at element {@code elem}. */
        private void run(CpuStorage s, DType dt, long elem, long n) throws IOException {
            int bs = dt.byteSize();
            MemorySegment src = s.floats() != null ? MemorySegment.ofArray(s.floats()) : s.segment();
            while (n > 0) {
                int room = (STAGE_BYTES - fill) / bs;
                if (room == 0) {
                    flush();
                    continue;
                }
                int k = (int) Math.min(n, room);
                if (s.floats() != null) {
                    // heap floats are in the platform's order; the file is little-endian
                    MemorySegment.copy(src, ValueLayout.JAVA_FLOAT, elem * 4, seg, FLOAT_LE, fill, k);
                } else {
                    MemorySegment.copy(src, elem * bs, seg, fill, (long) k * bs);
                }
                fill += k * bs;
                elem += k;
                n -= k;
            }
        }
    }

}
