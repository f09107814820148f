package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.Set;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The host-side attention planning: path choice, geometry, shared memory, mask strides, the AttnParams bytes. */
class AttentionPlanTest {
    private static final int H100_OPTIN = 232448;   // 227 KiB
    private static final int ADA_OPTIN = 101376;    // 99 KiB
    private static final int TURING_OPTIN = 65536;

    private static AttentionPlan.Problem problem(int sm, int optin, DType compute, DType in, int lq, int lk, int d,
                                                 int dv) {
        return new AttentionPlan.Problem(sm, optin, compute, in, in, in, 1, 24, lq, lk, d, dv, true, true, true);
    }

    @Test
    void fluxOnHopperTakesTheBf16TensorCoreKernelWithOptInSharedMemory() {
        AttentionPlan p = AttentionPlan.plan(problem(90, H100_OPTIN, DType.BF16, DType.BF16, 4608, 4608, 128, 128));
        assertEquals(AttentionPlan.Path.MMA_BF16, p.path());
        assertEquals("lk_attn_mma_bf16_d128", p.function());
        assertEquals(72, p.gridX());
        assertEquals(24, p.gridY());
        assertEquals(1, p.gridZ());
        assertEquals(128, p.block());
        assertEquals(128, p.paddedD());
        assertEquals(64, p.keyTile());
        assertEquals(64, p.queryTile());
        // 2 stages x (K + V) x 64 keys x (128 + 8) x 2 bytes
        assertEquals(4 * 64 * 136 * 2, p.sharedBytes());
        assertTrue(p.sharedBytes() > AttentionPlan.DEFAULT_SHARED);
        assertEquals(AttentionPlan.VEC_Q | AttentionPlan.VEC_K | AttentionPlan.VEC_V, p.flags());
    }

    @Test
    void headSizesArePaddedToTheNextBucket() {
        int[][] cases = {{1, 64}, {32, 64}, {64, 64}, {65, 80}, {72, 80}, {80, 80}, {81, 128}, {96, 128},
                {128, 128}, {129, 256}, {200, 256}, {256, 256}};
        for (int[] c : cases) {
            AttentionPlan p = AttentionPlan.plan(problem(80, 166912, DType.BF16, DType.BF16, 300, 300, c[0], c[0]));
            assertEquals(AttentionPlan.Path.MMA_BF16, p.path(), "D=" + c[0]);
            assertEquals(c[1], p.paddedD(), "D=" + c[0]);
            assertEquals("lk_attn_mma_bf16_d" + c[1], p.function());
        }
        // D and Dv differ: the larger decides
        assertEquals(128, AttentionPlan.plan(problem(80, 166912, DType.BF16, DType.BF16, 10, 10, 64, 100))
                .paddedD());
    }

    @Test
    void siglipHeadSize72UsesTheD80KernelWithinTheDefaultSharedMemory() {
        AttentionPlan p = AttentionPlan.plan(problem(89, ADA_OPTIN, DType.BF16, DType.BF16, 729, 729, 72, 72));
        assertEquals("lk_attn_mma_bf16_d80", p.function());
        assertEquals(4 * 64 * 88 * 2, p.sharedBytes());
        assertTrue(p.sharedBytes() <= AttentionPlan.DEFAULT_SHARED);
        assertEquals(12, p.gridX());
    }

    @Test
    void d256KeepsQueriesInSharedMemoryAndFitsAda() {
        AttentionPlan p = AttentionPlan.plan(problem(89, ADA_OPTIN, DType.BF16, DType.F16, 100, 100, 256, 256));
        assertEquals(AttentionPlan.Path.MMA_F16, p.path());
        assertEquals("lk_attn_mma_f16_d256", p.function());
        assertEquals(32, p.keyTile());
        assertEquals(4 * 32 * 264 * 2 + 64 * 264 * 2, p.sharedBytes());
        assertTrue(p.sharedBytes() <= ADA_OPTIN);
        // a device with less shared memory gets the f32 kernel rather than a failing launch
        AttentionPlan small = AttentionPlan.plan(problem(87, 65536, DType.BF16, DType.BF16, 100, 100, 256, 256));
        assertEquals(AttentionPlan.Path.F32, small.path());
    }

    @Test
    void theF32KernelTakesEverythingElse() {
        // f32 compute
        assertEquals(AttentionPlan.Path.F32,
                AttentionPlan.plan(problem(90, H100_OPTIN, DType.F32, DType.BF16, 300, 300, 128, 128)).path());
        // Turing: no bf16 mma.sync / cp.async
        assertEquals(AttentionPlan.Path.F32,
                AttentionPlan.plan(problem(75, TURING_OPTIN, DType.BF16, DType.BF16, 300, 300, 128, 128)).path());
        // f32 or f8 inputs
        assertEquals(AttentionPlan.Path.F32,
                AttentionPlan.plan(problem(90, H100_OPTIN, DType.BF16, DType.F32, 300, 300, 64, 64)).path());
        assertEquals(AttentionPlan.Path.F32,
                AttentionPlan.plan(problem(90, H100_OPTIN, DType.BF16, DType.F8_E4M3, 300, 300, 64, 64)).path());
        // mixed bf16 / f16
        AttentionPlan mixed = AttentionPlan.plan(new AttentionPlan.Problem(90, H100_OPTIN, DType.BF16, DType.BF16,
                DType.F16, DType.BF16, 1, 2, 10, 10, 64, 64, true, true, true));
        assertEquals(AttentionPlan.Path.F32, mixed.path());
        // head size beyond the largest bucket
        assertEquals(AttentionPlan.Path.F32,
                AttentionPlan.plan(problem(90, H100_OPTIN, DType.BF16, DType.BF16, 30, 30, 300, 64)).path());
    }

    @Test
    void f32GeometryAndSharedMemory() {
        AttentionPlan p = AttentionPlan.plan(problem(90, H100_OPTIN, DType.F32, DType.F32, 300, 1000, 128, 128));
        assertEquals("lk_attn_f32_c4", p.function());
        assertEquals(10, p.gridX());            // ceil(300 / 32)
        assertEquals(24, p.gridY());            // one Dv chunk of 128 columns
        assertEquals(1, p.dvChunks());
        assertEquals(AttentionPlan.Q_FULL, p.flags());
        assertEquals(4 * (32 * 128 + 32 * 65 + 32 * 128), p.sharedBytes());
        assertTrue(p.sharedBytes() <= AttentionPlan.DEFAULT_SHARED);

        assertEquals("lk_attn_f32_c1",
                AttentionPlan.plan(problem(75, TURING_OPTIN, DType.BF16, DType.BF16, 5, 5, 8, 32)).function());
        assertEquals("lk_attn_f32_c2",
                AttentionPlan.plan(problem(75, TURING_OPTIN, DType.BF16, DType.BF16, 5, 5, 8, 33)).function());
        // wide Dv: several blocks along y per head
        AttentionPlan wide = AttentionPlan.plan(problem(90, H100_OPTIN, DType.F32, DType.F32, 5, 5, 64, 300));
        assertEquals(3, wide.dvChunks());
        assertEquals(24 * 3, wide.gridY());
        // large D on Turing: Q no longer fits and is streamed per chunk
        AttentionPlan big = AttentionPlan.plan(problem(75, TURING_OPTIN, DType.F32, DType.F32, 5, 5, 512, 64));
        assertEquals(0, big.flags() & AttentionPlan.Q_FULL);
        assertEquals(4 * (32 * 64 + 32 * 65 + 32 * 64), big.sharedBytes());
        AttentionPlan bigH = AttentionPlan.plan(problem(90, H100_OPTIN, DType.F32, DType.F32, 5, 5, 512, 64));
        assertEquals(AttentionPlan.Q_FULL, bigH.flags());
    }

    @Test
    void edgeSizesAreNotMultiplesOfTheTiles() {
        AttentionPlan p = AttentionPlan.plan(problem(80, 166912, DType.BF16, DType.BF16, 65, 1, 64, 64));
        assertEquals(2, p.gridX());
        AttentionPlan one = AttentionPlan.plan(problem(80, 166912, DType.BF16, DType.BF16, 1, 1, 64, 64));
        assertEquals(1, one.gridX());
        assertThrows(IllegalArgumentException.class,
                () -> AttentionPlan.plan(problem(80, 166912, DType.BF16, DType.BF16, 1, 0, 64, 64)));
    }

    @Test
    void tooManyHeadsIsAnErrorNamingThem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AttentionPlan.plan(
                new AttentionPlan.Problem(90, H100_OPTIN, DType.F32, DType.F32, DType.F32, DType.F32, 1, 30000, 4,
                        4, 64, 300, true, true, true)));
        assertTrue(e.getMessage().contains("30000 heads"), e.getMessage());
    }

    @Test
    void vectorizableRowsNeedAlignmentUnitStrideAndMultiplesOf8() {
        int[] shape = {1, 24, 4608, 128};
        long[] contiguous = Tensor.contiguousStrides(shape);
        assertTrue(AttentionPlan.rowsVectorizable(0x1000, shape, contiguous, 128));
        // FLUX: q, k, v as views of a fused [B, L, 3, H, D] projection permuted to [B, H, L, D]
        long[] fused = {4608L * 3 * 24 * 128, 128, 3 * 24 * 128, 1};
        assertTrue(AttentionPlan.rowsVectorizable(0x1000 + 2 * 24 * 128 * 2, shape, fused, 128));
        assertFalse(AttentionPlan.rowsVectorizable(0x1002, shape, contiguous, 128));       // misaligned start
        assertFalse(AttentionPlan.rowsVectorizable(0x1000, new int[] {1, 2, 3, 72},
                new long[] {432, 216, 1, 3}, 72));                                          // transposed
        assertFalse(AttentionPlan.rowsVectorizable(0x1000, new int[] {1, 2, 3, 36},
                Tensor.contiguousStrides(new int[] {1, 2, 3, 36}), 36));                   // 36 % 8 != 0
        assertFalse(AttentionPlan.rowsVectorizable(0x1000, new int[] {2, 2, 3, 64},
                new long[] {390, 195, 65, 1}, 64));                                         // row stride 65
        // a stride of a size-1 dimension does not matter
        assertTrue(AttentionPlan.rowsVectorizable(0x1000, new int[] {1, 2, 3, 64},
                new long[] {7, 192, 64, 1}, 64));
    }

    @Test
    void maskStridesBroadcast() {
        // [B, 1, 1, Lk] padding mask
        assertArrayEquals(new long[] {50, 0, 0, 1},
                AttentionPlan.maskStrides(new int[] {2, 1, 1, 50}, new long[] {50, 50, 50, 1}, 2, 8, 30, 50));
        // full mask
        assertArrayEquals(new long[] {8 * 30 * 50, 30 * 50, 50, 1}, AttentionPlan.maskStrides(
                new int[] {2, 8, 30, 50}, Tensor.contiguousStrides(new int[] {2, 8, 30, 50}), 2, 8, 30, 50));
        // lower rank: [Lq, Lk] and [Lk]
        assertArrayEquals(new long[] {0, 0, 50, 1},
                AttentionPlan.maskStrides(new int[] {30, 50}, new long[] {50, 1}, 2, 8, 30, 50));
        assertArrayEquals(new long[] {0, 0, 0, 1},
                AttentionPlan.maskStrides(new int[] {50}, new long[] {1}, 2, 8, 30, 50));
        // a transposed view keeps its strides
        assertArrayEquals(new long[] {0, 0, 1, 30},
                AttentionPlan.maskStrides(new int[] {1, 1, 30, 50}, new long[] {1500, 1500, 1, 30}, 2, 8, 30, 50));
        // batch 1, heads 1: size-1 dims broadcast even where the target is 1 too
        assertArrayEquals(new long[] {0, 0, 0, 1},
                AttentionPlan.maskStrides(new int[] {1, 1, 1, 5}, new long[] {5, 5, 5, 1}, 1, 1, 1, 5));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AttentionPlan.maskStrides(new int[] {2, 1, 1, 49}, new long[] {49, 49, 49, 1}, 2, 8, 30, 50));
        assertTrue(e.getMessage().contains("[2, 1, 1, 49]") && e.getMessage().contains("[2, 8, 30, 50]"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> AttentionPlan.maskStrides(new int[] {1, 2, 1, 1, 50}, new long[5], 2, 8, 30, 50));
    }

    @Test
    void defaultScaleIsOneOverSqrtD() {
        assertEquals((float) (1 / Math.sqrt(128)), AttentionPlan.resolveScale(0f, 128));
        assertEquals((float) (1 / Math.sqrt(72)), AttentionPlan.resolveScale(-1f, 72));
        assertEquals(0.5f, AttentionPlan.resolveScale(0.5f, 72));
    }

    @Test
    void paramsBytesFollowTheCStruct() {
        AttentionPlan p = AttentionPlan.plan(problem(90, H100_OPTIN, DType.F32, DType.F32, 5, 5, 64, 300));
        AttentionPlan.Operands o = new AttentionPlan.Operands(0x1000, 0x2000, 0x3000, 0x4000, 0x5000,
                new long[] {1, 2, 3, 4}, new long[] {5, 6, 7, 8}, new long[] {9, 10, 11, 12},
                new long[] {13, 14, 15, 16}, 2, 24, 5, 6, 64, 300, 0, 1, 2, 100, 2, 0.125f);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = p.params(a, o);
            assertEquals(AttentionPlan.PARAMS_BYTES, s.byteSize());
            assertEquals(0x1000, s.get(JAVA_LONG, 0));
            assertEquals(0x5000, s.get(JAVA_LONG, 32));
            for (int i = 0; i < 16; i++) {
                assertEquals(i + 1, s.get(JAVA_LONG, 40 + 8L * i), "stride " + i);
            }
            int[] ints = {2, 24, 5, 6, 64, 300, 0, 1, 2, 100, 2, AttentionPlan.Q_FULL};
            for (int i = 0; i < ints.length; i++) {
                assertEquals(ints[i], s.get(JAVA_INT, 168 + 4L * i), "int field " + i);
            }
            assertEquals(0.125f, s.get(JAVA_FLOAT, 216));
            assertEquals(3, s.get(JAVA_INT, 220));
        }
        // the C side asserts the same size
        assertTrue(Kernels.source("attention").contains("sizeof(AttnParams) == " + AttentionPlan.PARAMS_BYTES));
    }

    @Test
    void everyKernelThePlannerNamesExistsInTheModule() {
        Set<String> names = new LinkedHashSet<>();
        for (int b : AttentionPlan.MMA_BUCKETS) {
            for (DType t : new DType[] {DType.BF16, DType.F16}) {
                names.add(AttentionPlan.plan(problem(90, H100_OPTIN, DType.BF16, t, 10, 10, b, b)).function());
            }
        }
        for (int dv : new int[] {16, 64, 128}) {
            names.add(AttentionPlan.plan(problem(90, H100_OPTIN, DType.F32, DType.F32, 10, 10, 64, dv)).function());
        }
        assertEquals(11, names.size(), names.toString());
        String src = Kernels.source("attention");
        for (String n : names) {
            assertTrue(src.contains("(" + n + ",") || src.contains(n.replaceAll("_c(\\d)$", "_c##DVC")),
                    n + " not in attention.cu");
        }
        // and in the compiled module, where NVRTC is available (PTX only: no ptxas, quick)
        Nvrtc nvrtc;
        try {
            nvrtc = Nvrtc.get();
        } catch (CudaUnavailableException e) {
            System.out.println("[no NVRTC] AttentionPlanTest: kernel names checked in the source only");
            assumeTrue(false, "no NVRTC");
            return;
        }
        Nvrtc.Output out = nvrtc.compile("attention.cu", Kernels.source("attention"), Kernels.headers(),
                Kernels.options("compute_80"));
        String ptx = new String(out.image(), StandardCharsets.US_ASCII);
        for (String n : names) {
            assertTrue(ptx.contains(".entry " + n + "("), n + " missing from the PTX");
        }
    }

    @Test
    void cpuReferenceSemanticsTheKernelsFollow() {
        // the CPU backend, which the GPU tests compare against, gives 0 for a fully masked row
        try (CpuBackend cpu = new CpuBackend(1)) {
            Tensor q = cpu.fromFloats(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
            Tensor k = cpu.fromFloats(new float[] {1, 0, 0, 1}, 1, 1, 2, 2);
            Tensor v = cpu.fromFloats(new float[] {5, 6, 7, 8}, 1, 1, 2, 2);
            float ninf = Float.NEGATIVE_INFINITY;
            Tensor mask = cpu.fromFloats(new float[] {ninf, ninf, 0, ninf}, 1, 1, 2, 2);
            float[] o = cpu.toFloatArray(cpu.attention(q, k, v, mask, 0f));
            assertArrayEquals(new float[] {0, 0, 5, 6}, o);
        }
    }
}
