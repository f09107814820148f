package dev.likeness.engine.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cpu.CpuData;
import dev.likeness.engine.cpu.CpuStorage;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The safetensors reader: every dtype of a file written by the reference writer (golden set "safetensors_dtypes"),
 * every way a file can be corrupt (each a {@link SafetensorsException} naming the file and the tensor), and a
 * sparse file larger than 2 GiB read near its end.
 */
class SafetensorsFileTest {
    private static final CpuBackend CPU = new CpuBackend(1);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble DOUBLE_LE =
            ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @TempDir
    Path dir;

    @AfterAll
    static void close() {
        CPU.close();
    }

    // ---------------------------------------------------------------- the reference writer's file, every dtype

    /** Parses a value as Python's repr wrote it ("inf", "nan", "-0.0", "5e-324", ...). */
    private static double pyFloat(String s) {
        return switch (s) {
            case "inf" -> Double.POSITIVE_INFINITY;
            case "-inf" -> Double.NEGATIVE_INFINITY;
            case "nan" -> Double.NaN;
            default -> Double.parseDouble(s);
        };
    }

    @Test
    void readsEveryDtypeWrittenByTheReferenceWriter() {
        Golden.Case c = Golden.load("safetensors_dtypes", CPU).cases().get(0);
        JsonNode p = c.params();
        int checked = 0;
        for (Map.Entry<String, JsonNode> e : p.get("dtypes").properties()) {
            String role = e.getKey();
            DType dtype = DType.fromSafetensors(e.getValue().asText());
            Tensor t = c.tensor(role);
            assertEquals(dtype, t.dtype(), role);
            int[] shape = new int[p.get("shapes").get(role).size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = p.get("shapes").get(role).get(i).asInt();
            }
            assertArrayEquals(shape, t.shape(), role + " shape");
            JsonNode values = p.get("values").get(role);
            assertEquals(values.size(), t.numel(), role + " numel");
            CpuStorage s = CpuData.storage(t);
            float[] asFloats = t.toFloatArray();
            for (int i = 0; i < values.size(); i++) {
                String v = values.get(i).asText();
                String at = role + " (" + dtype + ") element " + i + ": expected " + v;
                if (dtype == DType.F64) {
                    double d = s.segment().get(DOUBLE_LE, (t.offset() + i) * 8L);
                    assertEquals(Double.doubleToLongBits(pyFloat(v)), Double.doubleToLongBits(d), at + ", read " + d);
                    assertEquals(Float.floatToIntBits((float) pyFloat(v)), Float.floatToIntBits(asFloats[i]), at);
                } else if (dtype.isFloatingPoint()) {
                    float expected = (float) pyFloat(v);
                    assertEquals(Float.floatToIntBits(expected), Float.floatToIntBits(asFloats[i]),
                            at + ", read " + asFloats[i]);
                } else {
                    long expected = dtype == DType.BOOL ? (v.equals("true") ? 1 : 0) : Long.parseLong(v);
                    assertEquals(expected, CpuData.readLong(s, dtype, t.offset() + i), at);
                    assertEquals((float) expected, asFloats[i], at + " (as f32)");
                }
                checked++;
            }
        }
        assertTrue(checked > 200, "values checked: " + checked);
        for (DType d : DType.values()) {
            assertTrue(p.get("dtypes").toString().contains("\"" + d.safetensorsName() + "\""), "golden lacks " + d);
        }
    }

    // ---------------------------------------------------------------- corrupt files

    /** A file: 8-byte little-endian {@code headerLength}, then {@code rest} (header bytes and data). */
    private Path raw(String name, long headerLength, byte[] rest) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + rest.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLength).put(rest);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    /** A file with a correct header length for {@code json}, followed by {@code dataBytes} bytes of data. */
    private Path file(String name, String json, int dataBytes) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        byte[] rest = new byte[h.length + dataBytes];
        System.arraycopy(h, 0, rest, 0, h.length);
        for (int i = h.length; i < rest.length; i++) {
            rest[i] = (byte) i;
        }
        return raw(name, h.length, rest);
    }

    private static SafetensorsException fails(Path p, String... mustContain) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), "the message names the file: " + e.getMessage());
        for (String s : mustContain) {
            assertTrue(e.getMessage().contains(s), "the message should contain '" + s + "': " + e.getMessage());
        }
        return e;
    }

    private static final String A = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    @Test
    void truncatedFiles() throws IOException {
        Files.write(dir.resolve("empty.safetensors"), new byte[0]);
        fails(dir.resolve("empty.safetensors"), "truncated");
        Files.write(dir.resolve("five.safetensors"), new byte[5]);
        fails(dir.resolve("five.safetensors"), "truncated");
        fails(raw("short-header.safetensors", 100, "{\"a\":".getBytes(StandardCharsets.UTF_8)), "truncated", "100");
        fails(file("short-data.safetensors", A + "}", 5), "truncated", "'a'", "[0, 8]");
        // a valid file cut short by one byte
        Path ok = file("ok.safetensors", A + ",\"b\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[8,11]}}", 11);
        SafetensorsFile.open(ok).close();
        byte[] all = Files.readAllBytes(ok);
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, Arrays.copyOf(all, all.length - 1));
        fails(cut, "truncated", "'b'");
    }

    @Test
    void badHeaderLength() throws IOException {
        fails(raw("huge.safetensors", -2, new byte[16]), "bad header length", "18446744073709551614");
        fails(raw("over-limit.safetensors", 100_000_001, new byte[16]), "bad header length");
        fails(raw("zero.safetensors", 0, new byte[16]), "bad header length 0");
        fails(raw("one.safetensors", 1, "{}".getBytes(StandardCharsets.UTF_8)), "bad header length 1");
    }

    @Test
    void headerThatIsNotAJsonObject() throws IOException {
        fails(file("not-json.safetensors", "{not json}", 0), "not valid JSON");
        fails(file("array.safetensors", "[1, 2]  ", 0), "not an object");
        fails(file("string.safetensors", "\"abc\"", 0), "not an object");
        fails(file("trailing.safetensors", "{} xyz", 0), "not valid JSON");
        fails(file("two-objects.safetensors", "{}{}", 0), "not valid JSON");
        fails(raw("latin1.safetensors", 4, new byte[] {'{', '"', (byte) 0xe9, '}'}), "UTF-8");
        fails(file("duplicate.safetensors", A + ",\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "not valid JSON", "'a'");
        fails(file("meta-array.safetensors", "{\"__metadata__\":[1]}", 0), "__metadata__");
        fails(file("meta-number.safetensors", "{\"__metadata__\":{\"k\":5}}", 0), "__metadata__", "'k'");
    }

    @Test
    void wrongEntryFields() throws IOException {
        fails(file("entry-number.safetensors", "{\"t\":5}", 0), "'t'", "object");
        fails(file("no-dtype.safetensors", "{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "'t'", "'dtype'");
        fails(file("no-shape.safetensors", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "'t'", "'shape'");
        fails(file("no-offsets.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "'t'", "'data_offsets'");
        fails(file("dtype-unknown.safetensors", "{\"t\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4),
                "'t'", "unknown dtype 'U16'");
        fails(file("dtype-number.safetensors", "{\"t\":{\"dtype\":3,\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "'t'", "dtype must be a string");
        fails(file("shape-object.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,8]}}", 8),
                "'t'", "shape");
        fails(file("shape-negative.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
                8), "'t'", "bad size -2");
        fails(file("shape-fraction.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}",
                8), "'t'", "bad size 2.5");
        fails(file("shape-huge.safetensors", "{\"t\":{\"dtype\":\"U8\",\"shape\":[3000000000],"
                + "\"data_offsets\":[0,3000000000]}}", 0), "'t'", "exceeds");
        fails(file("shape-overflow.safetensors", "{\"t\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,"
                + "2147483647],\"data_offsets\":[0,8]}}", 8), "'t'", "overflow");
        fails(file("offsets-one.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8),
                "'t'", "data_offsets");
        fails(file("offsets-text.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",8]}}",
                8), "'t'", "data_offsets");
        fails(file("offsets-negative.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}",
                8), "'t'", "data_offsets");
    }

    @Test
    void dtypeOrShapeInconsistentWithTheOffsets() throws IOException {
        fails(file("span.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20),
                "'t'", "needs 24 bytes", "span 20");
        fails(file("span-dtype.safetensors", "{\"t\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16),
                "'t'", "needs 8 bytes");
    }

    @Test
    void overlappingMisorderedOrOutOfRangeOffsets() throws IOException {
        fails(file("misordered.safetensors", "{\"t\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8),
                "'t'", "misordered");
        fails(file("overlap.safetensors", A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
                "'b'", "overlap", "'a'");
        fails(file("same-bytes.safetensors", A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                "overlap", "'a'", "'b'");
        fails(file("hole.safetensors", A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20),
                "'b'", "hole", "8..12");
        fails(file("hole-first.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
                "'t'", "hole", "0..4");
        fails(file("out-of-range.safetensors", A + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                12), "'b'", "truncated", "12 bytes");
        fails(file("extra-bytes.safetensors", A + "}", 9), "9 bytes", "cover only 8");
    }

    @Test
    void acceptsWhatTheReferenceAccepts() throws IOException {
        // header entries in any order (sorted by offset for the layout check), a 0-d tensor, an empty tensor,
        // trailing spaces, unknown extra fields in an entry, no tensors at all
        Path p = file("ok.safetensors", "{\"b\":{\"dtype\":\"I8\",\"shape\":[],\"data_offsets\":[8,9],\"x\":1},"
                + "\"e\":{\"dtype\":\"BF16\",\"shape\":[0,4],\"data_offsets\":[9,9]},"
                + "\"__metadata__\":{\"format\":\"pt\"}," + A.substring(1) + "}   ", 9);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(List.of("b", "e", "a"), List.copyOf(f.names()));
            assertEquals(Map.of("format", "pt"), f.metadata());
            assertArrayEquals(new int[0], f.tensor("b", CPU).shape());
            assertEquals(0, f.tensor("e", CPU).numel());
            assertEquals(2, f.tensor("a", CPU).numel());
            assertEquals(Files.size(p) - 9, f.info("a").begin(), "absolute offset of the first data byte");
        }
        try (SafetensorsFile f = SafetensorsFile.open(file("nothing.safetensors", "{}      ", 0))) {
            assertTrue(f.names().isEmpty());
        }
    }

    @Test
    void missingTensorOrMismatchNamesFileAndTensor() throws IOException {
        Path p = file("m.safetensors", A + "}", 8);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.tensor("nope", CPU));
            assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("'nope'"), e.getMessage());
            e = assertThrows(SafetensorsException.class, () -> f.tensor("a", CPU, DType.BF16, 2));
            assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("'a'")
                    && e.getMessage().contains("F32") && e.getMessage().contains("BF16"), e.getMessage());
            e = assertThrows(SafetensorsException.class, () -> f.tensor("a", CPU, DType.F32, 1, 2));
            assertTrue(e.getMessage().contains(p.toString()) && e.getMessage().contains("'a'")
                    && e.getMessage().contains("[2]") && e.getMessage().contains("[1, 2]"), e.getMessage());
            assertArrayEquals(new int[] {2}, f.tensor("a", CPU, DType.F32, 2).shape());
            assertArrayEquals(new int[] {2}, f.tensor("a", CPU, null, 2).shape());
        }
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> SafetensorsFile.open(dir.resolve("absent.safetensors")));
        assertTrue(e.getMessage().contains("absent.safetensors") && e.getMessage().contains("no such file"),
                e.getMessage());
    }

    @Test
    void closeUnmapsAndLaterUseFailsCleanly() throws IOException {
        Path p = file("c.safetensors", A + "}", 8);
        SafetensorsFile f = SafetensorsFile.open(p);
        Tensor t = f.tensor("a", CPU);
        t.toFloatArray();
        f.close();
        f.close();
        assertThrows(IllegalStateException.class, t::toFloatArray, "a tensor of a closed file is unmapped");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.tensor("a", CPU));
        assertTrue(e.getMessage().contains("closed") && e.getMessage().contains("'a'"), e.getMessage());
    }

    // ---------------------------------------------------------------- beyond 2 GiB

    /**
     * A sparse file of 2 GiB + 100 bytes: "head" F32[4], "big" F32[2, 268435460] (its data ends 2^31 + 32 bytes
     * into the data section) and "tail" I64[3] at the very end. Only a few pages hold data; the rest is a hole.
     */
    @Test
    void mapsFilesLargerThan2GiB() throws IOException {
        int cols = 268_435_460;
        long bigBytes = 2L * cols * 4;
        long tailBegin = 16 + bigBytes;
        String json = "{\"head\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"big\":{\"dtype\":\"F32\",\"shape\":[2," + cols + "],\"data_offsets\":[16," + tailBegin + "]},"
                + "\"tail\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[" + tailBegin + "," + (tailBegin + 24)
                + "]}}";
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        long dataStart = 8 + header.length;
        long total = dataStart + tailBegin + 24;
        Path p = dir.resolve("big.safetensors");
        float[] last = {1.5f, -2.25f, 3e-3f, 4e7f, -5f, 6.125f, 7f, Float.MIN_VALUE};
        // big's elements around the 2^31-byte boundary of the file
        long crossElem = (0x8000_0000L - dataStart - 16) / 4 - 2;
        float[] cross = {11f, 12f, 13f, 14f};
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength(total);
            ByteBuffer b = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(header.length).put(header);
            raf.write(b.array());
            raf.write(floats(1f, 2f, 3f, 4f));
            raf.seek(dataStart + 16 + crossElem * 4);
            raf.write(floats(cross));
            raf.seek(dataStart + tailBegin - 32);
            raf.write(floats(last));
            ByteBuffer tail = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
            tail.putLong(Long.MIN_VALUE).putLong(1L << 40).putLong(-7);
            raf.write(tail.array());
        }
        assertTrue(Files.size(p) > (1L << 31));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(total, f.byteSize());
            assertTrue(f.info("tail").end() > (1L << 31) && f.info("big").end() > (1L << 31));
            assertArrayEquals(new float[] {1f, 2f, 3f, 4f}, f.tensor("head", CPU).toFloatArray());
            Tensor big = f.tensor("big", CPU, DType.F32, 2, cols);
            assertArrayEquals(last, big.select(0, 1).narrow(0, cols - 8, 8).toFloatArray());
            assertArrayEquals(last, big.slice(1, -8, Integer.MAX_VALUE, 1).select(0, -1).toFloatArray());
            assertArrayEquals(cross, big.select(0, (int) (crossElem / cols)).narrow(0, (int) (crossElem % cols), 4)
                    .toFloatArray(), "elements straddling byte 2^31 of the file");
            assertArrayEquals(new float[] {0f, 0f}, big.select(0, 1).narrow(0, 1000, 2).toFloatArray(), "a hole");
            Tensor tail = f.tensor("tail", CPU);
            CpuStorage s = CpuData.storage(tail);
            assertEquals(Long.MIN_VALUE, CpuData.readLong(s, DType.I64, 0));
            assertEquals(1L << 40, CpuData.readLong(s, DType.I64, 1));
            assertEquals(-7L, s.segment().get(LONG_LE, 16));
        }
    }

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }

    @Test
    void messagesShowTheFileEvenForUnreadableFiles() {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(dir));
        assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
    }

    @Test
    void tensorsAreZeroCopySlicesOfTheMapping() throws IOException {
        Path p = file("z.safetensors", A + "}", 8);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            MemorySegment seg = CpuData.storage(f.tensor("a", CPU)).segment();
            assertTrue(seg.isMapped(), "a slice of the mapped file: " + seg);
            assertEquals(8, seg.byteSize());
        }
    }
}
