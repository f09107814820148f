package dev.likeness.engine;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cpu.CpuData;
import dev.likeness.engine.cpu.CpuStorage;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The views of {@link Tensor} against torch (golden set "views"): for every chain of view ops torch applied to a
 * seeded tensor, the engine must give the same values (bit for bit), shape, strides and storage offset, share the
 * input's storage exactly where torch's result does (a copy only where strides cannot express the result), and fail
 * where torch fails.
 */
class TensorViewTest {
    private static final CpuBackend CPU = new CpuBackend(1);

    @AfterAll
    static void close() {
        CPU.close();
    }

    @TestFactory
    Stream<DynamicTest> viewChainsMatchTorch() {
        return Golden.load("views", CPU).cases().stream()
                .map(c -> DynamicTest.dynamicTest(c.name() + " " + c.params().get("ops"), () -> check(c)));
    }

    private static void check(Golden.Case c) {
        Tensor x0 = c.tensor("x");
        Tensor x = c.has("scale") ? x0.withScale(c.tensor("scale")) : x0;
        JsonNode p = c.params();
        JsonNode ops = p.get("ops");
        String label = c.name() + " " + ops;
        if (p.path("raises").asBoolean()) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> apply(x, ops), label + ": torch fails");
            assertTrue(e instanceof IllegalArgumentException || e instanceof IllegalStateException,
                    label + ": unexpected " + e);
            assertTrue(e.getMessage() != null && e.getMessage().contains("["), label + ": message shows no shape: "
                    + e.getMessage());
            return;
        }
        List<Tensor> outs = apply(x, ops);
        assertEquals(p.get("count").asInt(), outs.size(), label + ": number of pieces");
        boolean javaCopies = p.path("java_copies").asBoolean();
        for (int k = 0; k < outs.size(); k++) {
            Tensor o = outs.get(k);
            String at = label + " piece " + k;
            assertArrayEquals(ints(p.get("shapes").get(k)), o.shape(), at + ": shape");
            boolean shares = p.get("shares").get(k).asBoolean() && !javaCopies;
            assertEquals(shares, o.storage() == x.storage(), at + ": shares the input's storage");
            if (javaCopies) {
                assertEquals(DType.F32, o.dtype(), at + ": the copy of a scaled tensor is dequantized");
                assertNull(o.scale(), at);
            } else {
                assertArrayEquals(longs(p.get("strides").get(k)), o.strides(), at + ": strides");
                assertEquals(p.get("offsets").get(k).asLong(), o.offset(), at + ": storage offset");
            }
            Tensor ref = c.tensor("out" + k);
            assertSameBits(at, ref.toFloatArray(), o.toFloatArray());
            Tensor m = CPU.contiguous(o);
            assertTrue(m.isContiguous(), at + ": contiguous()");
            assertArrayEquals(o.shape(), m.shape(), at + ": contiguous() shape");
            if (o.scale() == null) {
                assertEquals(o.dtype(), m.dtype(), at + ": contiguous() keeps the dtype");
                assertArrayEquals(bytes(ref), bytes(m), at + ": contiguous() bytes vs torch's .contiguous()");
            } else {
                assertSameBits(at + " contiguous()", ref.toFloatArray(), m.toFloatArray());
            }
        }
    }

    /** Applies the golden's op chain; split/chunk give several pieces, "take" picks one to go on with. */
    private static List<Tensor> apply(Tensor x, JsonNode ops) {
        List<Tensor> cur = List.of(x);
        for (JsonNode op : ops) {
            String name = op.get(0).asText();
            int[] a = new int[op.size() - 1];
            for (int i = 1; i < op.size(); i++) {
                JsonNode v = op.get(i);
                a[i - 1] = v.isNull() ? Integer.MIN_VALUE : v.isArray() ? 0 : v.asInt();
            }
            if (name.equals("take")) {
                cur = List.of(cur.get(a[0]));
                continue;
            }
            if (cur.size() != 1) {
                fail("op " + name + " applied to " + cur.size() + " pieces");
            }
            Tensor t = cur.get(0);
            cur = switch (name) {
                case "view" -> List.of(t.view(a));
                case "reshape" -> List.of(t.reshape(a));
                case "permute" -> List.of(t.permute(a));
                case "transpose" -> List.of(t.transpose(a[0], a[1]));
                case "narrow" -> List.of(t.narrow(a[0], a[1], a[2]));
                case "slice" -> List.of(t.slice(a[0], a[1] == Integer.MIN_VALUE ? 0 : a[1],
                        a[2] == Integer.MIN_VALUE ? Integer.MAX_VALUE : a[2], a[3]));
                case "select" -> List.of(t.select(a[0], a[1]));
                case "expand" -> List.of(t.expand(a));
                case "unsqueeze" -> List.of(t.unsqueeze(a[0]));
                case "squeeze" -> List.of(t.squeeze(a[0]));
                case "flatten" -> List.of(t.flatten(a[0], a[1]));
                case "split" -> t.split(a[0], ints(op.get(2)));
                case "chunk" -> t.chunk(a[0], a[1]);
                default -> throw new AssertionError("unknown op " + name);
            };
        }
        return cur;
    }

    private static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = a.get(i).asInt();
        }
        return r;
    }

    private static long[] longs(JsonNode a) {
        long[] r = new long[a.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = a.get(i).asLong();
        }
        return r;
    }

    private static void assertSameBits(String label, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, label + ": number of values");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(actual[i])) {
                fail(label + ": value " + i + " is " + actual[i] + ", torch gives " + expected[i]);
            }
        }
    }

    /** The bytes of a contiguous tensor, little-endian, as they would be in a file. */
    private static byte[] bytes(Tensor t) {
        assertTrue(t.isContiguous(), "bytes() needs a contiguous tensor: " + t);
        CpuStorage s = CpuData.storage(t);
        int bs = t.dtype().byteSize();
        int n = Math.toIntExact(t.numel());
        byte[] out = new byte[n * bs];
        MemorySegment dst = MemorySegment.ofArray(out);
        if (s.floats() != null) {
            MemorySegment.copy(MemorySegment.ofArray(s.floats()), ValueLayout.JAVA_FLOAT, t.offset() * 4L, dst,
                    ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, n);
        } else {
            MemorySegment.copy(s.segment(), t.offset() * bs, dst, 0, (long) n * bs);
        }
        return out;
    }

    // ---------------------------------------------------------------- engine rules beyond the goldens

    private static Tensor arange(int... shape) {
        float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
        for (int i = 0; i < v.length; i++) {
            v[i] = i;
        }
        return CPU.wrap(v, shape);
    }

    @Test
    void viewThrowsWhereOnlyACopyWouldDoAndReshapeCopiesThen() {
        Tensor t = arange(2, 3, 4).transpose(1, 2);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.view(-1));
        assertTrue(e.getMessage().contains("[2, 4, 3]") && e.getMessage().contains("reshape"), e.getMessage());
        Tensor r = t.reshape(-1);
        assertNotSame(t.storage(), r.storage());
        assertArrayEquals(CPU.contiguous(t).toFloatArray(), r.toFloatArray());
        Tensor c = arange(2, 3, 4);
        assertSame(c, CPU.contiguous(c), "contiguous() of a contiguous tensor is the tensor itself");
        assertSame(c.storage(), c.reshape(4, -1).storage());
    }

    @Test
    void scaledViewsCarryTheRightScales() {
        Tensor q = CPU.wrap(MemorySegment.ofArray(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9}), DType.I8, 3, 3)
                .withScale(CPU.fromFloats(new float[] {1f, 10f, 100f}, 3));
        Tensor row = q.select(0, -1);
        assertEquals(1, row.scale().numel(), "a selected row keeps its one scale");
        assertArrayEquals(new float[] {700f, 800f, 900f}, row.toFloatArray());
        assertArrayEquals(new float[] {2f, 50f, 800f}, q.select(1, 1).toFloatArray());
        assertArrayEquals(new float[] {3f, 900f}, q.slice(0, 0, 3, 2).select(1, 2).toFloatArray());
        assertArrayEquals(new float[] {40f, 50f, 60f}, q.squeeze(0).narrow(0, 1, 1).squeeze(0).toFloatArray());
        assertThrows(IllegalStateException.class, () -> q.transpose(0, 1));
        assertThrows(IllegalStateException.class, () -> q.unsqueeze(0));
        assertThrows(IllegalStateException.class, () -> q.expand(2, 3, 3));
        assertThrows(IllegalStateException.class, () -> q.view(9));
        Tensor flat = q.reshape(9);
        assertEquals(DType.F32, flat.dtype(), "reshape across rows dequantizes");
        assertArrayEquals(new float[] {1, 2, 3, 40, 50, 60, 700, 800, 900}, flat.toFloatArray());
    }

    @Test
    void badArgumentsNameTheShape() {
        Tensor t = arange(2, 3);
        for (Runnable r : new Runnable[] {() -> t.narrow(1, 2, 2), () -> t.select(0, 2), () -> t.slice(0, 0, 1, 0),
                () -> t.split(1, 1, 1), () -> t.permute(0), () -> t.flatten(1, 0), () -> t.axis(2),
                () -> t.expand(3, 3)}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
            assertTrue(e.getMessage().contains("[2, 3]") || e.getMessage().contains("[3, 3]"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> t.chunk(0, 0));
        assertThrows(IllegalArgumentException.class, () -> t.reshape(4, -1));
    }

    @Test
    void chunkFollowsTorchForUnevenSizes() {
        List<Integer> sizes = new ArrayList<>();
        for (Tensor p : arange(5).chunk(4, 0)) {
            sizes.add(p.size(0));
        }
        assertEquals(List.of(2, 2, 1), sizes, "torch.arange(5).chunk(4) gives 3 pieces of 2, 2, 1");
        sizes.clear();
        for (Tensor p : arange(10).chunk(4, 0)) {
            sizes.add(p.size(0));
        }
        assertEquals(List.of(3, 3, 3, 1), sizes);
        assertEquals(3, arange(0).chunk(3, 0).size());
        assertEquals(Arrays.asList(0, 0, 0), arange(0).chunk(3, 0).stream().map(p -> p.size(0)).toList());
    }
}
