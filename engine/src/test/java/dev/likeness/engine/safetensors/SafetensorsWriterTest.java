package dev.likeness.engine.safetensors;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cpu.CpuData;
import dev.likeness.engine.cpu.CpuStorage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The writer: byte-identical to the reference writer, any dtype and view written contiguous, header format. */
class SafetensorsWriterTest {
    private static final CpuBackend CPU = new CpuBackend(1);

    @TempDir
    Path dir;

    @AfterAll
    static void close() {
        CPU.close();
    }

    private static Path golden(String name) {
        try {
            return Path.of(SafetensorsWriterTest.class.getResource("/golden/ops/" + name + ".safetensors").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The golden file was written by {@code safetensors.torch.save_file} with every dtype and one metadata entry;
     * rewriting its tensors (given in another order) with the same metadata must give the same bytes.
     */
    @Test
    void reproducesTheReferenceWriterByteForByte() throws IOException {
        Path ref = golden("safetensors_dtypes");
        Path out = dir.resolve("again.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(ref)) {
            SafetensorsWriter w = new SafetensorsWriter();
            f.metadata().forEach(w::metadata);
            List<String> names = new ArrayList<>(f.names());
            Collections.reverse(names);
            for (String n : names) {
                w.add(n, f.tensor(n, CPU));
            }
            w.write(out);
        }
        assertArrayEquals(Files.readAllBytes(ref), Files.readAllBytes(out));
    }

    /** A seeded tensor of {@code dtype} and {@code shape}, contiguous. */
    private static Tensor random(Random r, DType dtype, int... shape) {
        int n = Math.toIntExact(Tensor.numel(shape));
        if (dtype == DType.F32) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) r.nextGaussian();
            }
            return CPU.wrap(v, shape);
        }
        byte[] b = new byte[n * dtype.byteSize()];
        r.nextBytes(b);
        if (dtype == DType.BOOL) {
            for (int i = 0; i < n; i++) {
                b[i] &= 1;
            }
        }
        return CPU.wrap(MemorySegment.ofArray(b), dtype, shape);
    }

    /** The row-major element bytes of any view, gathered one element at a time (the slow obvious way). */
    private static byte[] elementBytes(Tensor t) {
        int bs = t.dtype().byteSize();
        int n = Math.toIntExact(t.numel());
        byte[] out = new byte[n * bs];
        CpuStorage s = CpuData.storage(t);
        int[] shape = t.shape();
        long[] st = t.strides();
        int[] idx = new int[shape.length];
        ByteBuffer le = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            long e = t.offset();
            for (int d = 0; d < shape.length; d++) {
                e += idx[d] * st[d];
            }
            if (s.floats() != null) {
                le.clear();
                le.putFloat(s.floats()[(int) e]);
                System.arraycopy(le.array(), 0, out, i * bs, 4);
            } else {
                MemorySegment.copy(s.segment(), e * bs, MemorySegment.ofArray(out), (long) i * bs, bs);
            }
            for (int d = shape.length - 1; d >= 0; d--) {
                if (++idx[d] < shape[d]) {
                    break;
                }
                idx[d] = 0;
            }
        }
        return out;
    }

    @Test
    void writesEveryDtypeAndAnyViewContiguous() throws IOException {
        Random r = new Random(42);
        Map<String, Tensor> views = new LinkedHashMap<>();
        for (DType d : DType.values()) {
            String n = d.safetensorsName().toLowerCase();
            Tensor t = random(r, d, 3, 5, 7);
            views.put(n + ".contiguous", t);
            views.put(n + ".permuted", t.permute(2, 0, 1));
            views.put(n + ".stepped", t.slice(2, 1, Integer.MAX_VALUE, 3).narrow(0, 1, 2));
            views.put(n + ".broadcast", t.select(1, 4).unsqueeze(1).expand(3, 4, 7));
            views.put(n + ".scalar", t.select(0, 2).select(0, 1).select(0, 6));
            views.put(n + ".empty", t.narrow(1, 2, 0));
        }
        Path p = dir.resolve("views.safetensors");
        SafetensorsWriter.write(p, views, Map.of("note", "every dtype, every view"));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(views.keySet(), Set.copyOf(f.names()));
            assertEquals(Map.of("note", "every dtype, every view"), f.metadata());
            for (Map.Entry<String, Tensor> e : views.entrySet()) {
                Tensor back = f.tensor(e.getKey(), CPU);
                SafetensorsFile.Info info = f.info(e.getKey());
                assertEquals(e.getValue().dtype(), back.dtype(), e.getKey());
                assertArrayEquals(e.getValue().shape(), back.shape(), e.getKey());
                assertEquals(0, info.begin() % e.getValue().dtype().byteSize(),
                        e.getKey() + " starts at a multiple of its element size");
                assertArrayEquals(elementBytes(e.getValue()), elementBytes(back), e.getKey());
                assertArrayEquals(e.getValue().toFloatArray(), back.toFloatArray(), e.getKey());
            }
        }
    }

    @Test
    void headerFormat() throws IOException {
        Path p = dir.resolve("h.safetensors");
        new SafetensorsWriter()
                .metadata("quote\"back\\slash", "new\nline\ttab \u0001 é ✓")
                .add("b", CPU.fromFloats(new float[] {1, 2, 3}, 3))
                .add("a", CPU.wrap(MemorySegment.ofArray(new byte[] {1, 0, 1}), DType.BOOL, 3))
                .write(p);
        byte[] all = Files.readAllBytes(p);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8, "header padded to a multiple of 8");
        String json = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        assertEquals("{\"__metadata__\":{\"quote\\\"back\\\\slash\":\"new\\nline\\ttab \\u0001 é ✓\"},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                + "\"a\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[12,15]}}", json.stripTrailing());
        assertTrue(json.endsWith(" ") || json.endsWith("}"));
        assertEquals(8 + n + 15, all.length);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals("new\nline\ttab \u0001 é ✓", f.metadata().get("quote\"back\\slash"));
        }
        // an empty file is exactly the reference's: length 8, "{}" and six spaces
        Path e = dir.resolve("e.safetensors");
        new SafetensorsWriter().write(e);
        assertArrayEquals(new byte[] {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '},
                Files.readAllBytes(e));
    }

    @Test
    void refusesWhatTheFileCannotHold() {
        SafetensorsWriter w = new SafetensorsWriter().add("x", CPU.fromFloats(new float[] {1}, 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> w.add("x", CPU.fromFloats(new float[] {2}, 1)));
        assertTrue(e.getMessage().contains("'x'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> w.add("__metadata__", CPU.fromFloats(new float[] {2}, 1)));
        Tensor scaled = CPU.wrap(MemorySegment.ofArray(new byte[] {1, 2}), DType.I8, 2, 1)
                .withScale(CPU.fromFloats(new float[] {0.5f, 2f}, 2));
        e = assertThrows(IllegalArgumentException.class, () -> w.add("q", scaled));
        assertTrue(e.getMessage().contains("'q'") && e.getMessage().contains("scale"), e.getMessage());
    }

    /** The new file replaces the old one by rename: a mapping of the old file stays valid, no partial file stays. */
    @Test
    void replacesAnExistingFileWithoutDisturbingItsReaders() throws IOException {
        Path p = dir.resolve("r.safetensors");
        SafetensorsWriter.write(p, Map.of("t", CPU.fromFloats(new float[] {1, 2}, 2)), Map.of());
        try (SafetensorsFile old = SafetensorsFile.open(p)) {
            Tensor t = old.tensor("t", CPU);
            SafetensorsWriter.write(p, Map.of("t", CPU.fromFloats(new float[] {5, 6, 7}, 3)), Map.of());
            assertArrayEquals(new float[] {1, 2}, t.toFloatArray());
        }
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertArrayEquals(new float[] {5, 6, 7}, f.tensor("t", CPU).toFloatArray());
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(p), files.toList(), "no temporary file left behind");
        }
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsWriter.write(
                dir.resolve("no-such-dir").resolve("x.safetensors"), Map.of(), Map.of()));
        assertTrue(e.getMessage().contains("x.safetensors"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("no-such-dir")));
    }
}
