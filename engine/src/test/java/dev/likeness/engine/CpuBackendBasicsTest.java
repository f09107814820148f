package dev.likeness.engine;

import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cpu.Parallel;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Creation, movement and dequantization on the CPU backend; the thread splitter. */
class CpuBackendBasicsTest {
    private final CpuBackend cpu = new CpuBackend(2);

    @Test
    void parallelRangeVisitsEveryIndexExactlyOnce() {
        for (int threads : new int[] {1, 2, 3}) {
            try (Parallel p = new Parallel(threads)) {
                for (int n : new int[] {0, 1, 7, 100, 1001}) {
                    AtomicIntegerArray seen = new AtomicIntegerArray(Math.max(n, 1));
                    p.range(n, 3, (s, e) -> {
                        for (int i = s; i < e; i++) {
                            seen.incrementAndGet(i);
                        }
                    });
                    for (int i = 0; i < n; i++) {
                        assertEquals(1, seen.get(i), "threads " + threads + " n " + n + " index " + i);
                    }
                }
            }
        }
    }

    @Test
    void parallelRangePropagatesFailures() {
        try (Parallel p = new Parallel(2)) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> p.range(100, 1, (s, en) -> {
                if (s <= 50 && 50 < en) {
                    throw new IllegalStateException("boom at 50");
                }
            }));
            assertTrue(String.valueOf(e.getMessage()).contains("boom") || e.getCause() != null);
        }
    }

    @Test
    void int8PerChannelScaleDequantizesRows() {
        Tensor q = cpu.to(cpu.fromFloats(new float[] {1, -2, 3, 4, 5, -6}, 2, 3), DType.I32);
        assertArrayEquals(new int[] {1, -2, 3, 4, 5, -6}, cpu.toIntArray(q));
        Tensor w = cpu.contiguous(q); // already contiguous: same tensor
        assertSame(q, w);
        Tensor scaled = cpu.wrap(java.lang.foreign.MemorySegment.ofArray(new byte[] {1, -2, 3, 4, 5, -6}), DType.I8, 2, 3)
                .withScale(cpu.fromFloats(new float[] {0.5f, 2f}, 2));
        assertArrayEquals(new float[] {0.5f, -1f, 1.5f, 8f, 10f, -12f}, scaled.toFloatArray());
        // narrowing rows narrows the scales with them
        assertArrayEquals(new float[] {8f, 10f, -12f}, scaled.narrow(0, 1, 1).toFloatArray());
        // a column slice keeps the row scales
        assertArrayEquals(new float[] {-1f, 10f}, scaled.narrow(1, 1, 1).toFloatArray());
        assertThrows(IllegalStateException.class, () -> scaled.transpose(0, 1));
        assertThrows(IllegalArgumentException.class, () -> scaled.withScale(cpu.fromFloats(new float[] {1, 2, 3}, 3)));
    }

    @Test
    void contiguousCopiesStridedViewsOfAnyDtype() {
        Tensor x = cpu.to(cpu.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3), DType.BF16);
        Tensor t = x.transpose(0, 1);
        Tensor c = cpu.contiguous(t);
        assertNotSame(t, c);
        assertEquals(DType.BF16, c.dtype());
        assertTrue(c.isContiguous());
        assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, c.toFloatArray());
        Tensor e = cpu.fromFloats(new float[] {7, 8}, 2, 1).expand(2, 3);
        assertArrayEquals(new float[] {7, 7, 7, 8, 8, 8}, cpu.contiguous(e).toFloatArray());
    }

    @Test
    void transferBetweenCpuBackendsSharesHostMemory() {
        try (CpuBackend other = new CpuBackend(1)) {
            Tensor x = cpu.fromFloats(new float[] {1, 2, 3, 4}, 2, 2).transpose(0, 1);
            Tensor y = x.to(other);
            assertSame(other, y.backend());
            assertArrayEquals(x.toFloatArray(), y.toFloatArray());
            assertSame(x, x.to(cpu));
        }
    }

    @Test
    void creationChecksSizes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> cpu.fromFloats(new float[5], 2, 3));
        assertTrue(e.getMessage().contains("[2, 3]"), e.getMessage());
        assertEquals(0f, cpu.zeros(DType.BF16, 3, 4).toFloatArray()[11]);
        assertThrows(IllegalArgumentException.class, () -> cpu.to(cpu.zeros(DType.F32, 2), DType.I8));
    }
}
