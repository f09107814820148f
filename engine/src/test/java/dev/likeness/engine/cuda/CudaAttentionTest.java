package dev.likeness.engine.cuda;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GPU-vs-CPU checks of {@link CudaAttention}: both kernel families (tensor-core bf16/f16 and f32), FLUX-like and
 * encoder head sizes, Lq ≠ Lk, masks (none, key padding with -inf and fully masked rows, full additive, boolean,
 * torch.finfo.min), strided views of fused projections, misaligned views, edge sizes. Every allocation is poisoned
 * (NaN), so an output element a kernel did not write fails the comparison. Skips with a "[no GPU]" line without one.
 */
class CudaAttentionTest {
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;
    private static CpuBackend cpu;

    @BeforeAll
    static void cpu() {
        cpu = new CpuBackend(Math.max(1, Runtime.getRuntime().availableProcessors()));
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    /** The mask variants. */
    enum Mask { NONE, KEY_PADDING, FULL, BOOL, FINFO_MIN_ROW }

    /** One comparison: random q/k/v in {@code in} (fresh per call), optional strided layouts, a mask kind. */
    private record Case(int batch, int heads, int lq, int lk, int d, int dv, DType in, Mask mask, boolean fused,
                        float scale) {
        @Override
        public String toString() {
            return "B" + batch + " H" + heads + " Lq" + lq + " Lk" + lk + " D" + d + " Dv" + dv + " " + in + " "
                    + mask + (fused ? " fused-views" : "") + (scale > 0 ? " scale " + scale : "");
        }
    }

    private static void check(Backend gpu, Case c, long seed) {
        Random rnd = new Random(seed);
        Tensor[] host = new Tensor[3];
        Tensor[] dev = new Tensor[3];
        if (c.fused && c.lq == c.lk && c.d == c.dv) {
            // FLUX: one [B, L, 3, H, D] projection, q/k/v = select(2, i) permuted to [B, H, L, D]
            Tensor base = GpuTestSupport.random(cpu, rnd, c.in, 1f, c.batch, c.lq, 3, c.heads, c.d);
            Tensor dbase = gpu.transfer(base);
            for (int i = 0; i < 3; i++) {
                int idx = i;
                UnaryOperator<Tensor> view = t -> t.select(2, idx).permute(0, 2, 1, 3);
                host[i] = view.apply(base);
                dev[i] = view.apply(dbase);
            }
        } else if (c.fused) {
            // image queries [B, Lq, H, D] transposed; keys and values from one [B, Lk, 2, H, D] projection
            Tensor qb = GpuTestSupport.random(cpu, rnd, c.in, 1f, c.batch, c.lq, c.heads, c.d);
            Tensor kvb = GpuTestSupport.random(cpu, rnd, c.in, 1f, c.batch, c.lk, 2, c.heads, c.d);
            host[0] = qb.transpose(1, 2);
            dev[0] = gpu.transfer(qb).transpose(1, 2);
            Tensor dkv = gpu.transfer(kvb);
            for (int i = 1; i < 3; i++) {
                int idx = i - 1;
                UnaryOperator<Tensor> view = t -> t.select(2, idx).permute(0, 2, 1, 3);
                host[i] = view.apply(kvb);
                dev[i] = view.apply(dkv);
            }
        } else {
            int[][] shapes = {{c.batch, c.heads, c.lq, c.d}, {c.batch, c.heads, c.lk, c.d},
                    {c.batch, c.heads, c.lk, c.dv}};
            for (int i = 0; i < 3; i++) {
                host[i] = GpuTestSupport.random(cpu, rnd, c.in, 1f, shapes[i]);
                dev[i] = gpu.transfer(host[i]);
            }
        }
        Tensor hm = mask(c, rnd);
        Tensor dm = hm == null ? null : gpu.transfer(hm);
        Tensor expected = cpu.attention(host[0], host[1], host[2], hm, c.scale);
        Tensor actual = gpu.attention(dev[0], dev[1], dev[2], dm, c.scale);
        assertEquals(gpu.computeDType(), actual.dtype(), c.toString());
        GpuTestSupport.assertClose(expected, actual, GpuTestSupport.tolerance(gpu.computeDType()), c.toString());
    }

    /** A host mask for the case (null for NONE). */
    private static Tensor mask(Case c, Random rnd) {
        switch (c.mask) {
            case NONE -> {
                return null;
            }
            case KEY_PADDING -> {
                // [B, 1, 1, Lk]: batch entry b keeps its first lk - 7 (b + 1) keys (at least 1); with more than one
                // batch entry the last keeps none (fully masked rows: 0, as the CPU backend gives)
                float[] m = new float[c.batch * c.lk];
                for (int b = 0; b < c.batch; b++) {
                    int keep = b == c.batch - 1 && c.batch > 1 ? 0 : Math.max(1, c.lk - 7 * (b + 1));
                    for (int j = keep; j < c.lk; j++) {
                        m[b * c.lk + j] = NEG_INF;
                    }
                }
                return cpu.to(cpu.fromFloats(m, c.batch, 1, 1, c.lk), c.in == DType.F32 ? DType.F32 : DType.BF16);
            }
            case FULL -> {
                // [B, H, Lq, Lk] additive: random biases, some -inf, query row 1 fully masked
                float[] m = new float[c.batch * c.heads * c.lq * c.lk];
                for (int i = 0; i < m.length; i++) {
                    int row = (i / c.lk) % c.lq;
                    m[i] = row == 1 ? NEG_INF : rnd.nextInt(5) == 0 ? NEG_INF : rnd.nextFloat() * 4 - 2;
                }
                return cpu.fromFloats(m, c.batch, c.heads, c.lq, c.lk);
            }
            case BOOL -> {
                // [Lq, Lk] boolean (true = attend), diagonal band of width 16 around i * Lk / Lq
                byte[] m = new byte[c.lq * c.lk];
                for (int i = 0; i < c.lq; i++) {
                    int center = (int) ((long) i * c.lk / c.lq);
                    for (int j = 0; j < c.lk; j++) {
                        m[i * c.lk + j] = (byte) (Math.abs(j - center) < 16 ? 1 : 0);
                    }
                }
                return cpu.wrap(MemorySegment.ofArray(m), DType.BOOL, c.lq, c.lk);
            }
            case FINFO_MIN_ROW -> {
                // [B, 1, Lq, Lk]: finite "minus infinity" as diffusers builds masks; row 0 masked entirely (torch
                // then averages V uniformly, it does not give 0)
                float[] m = new float[c.batch * c.lq * c.lk];
                for (int i = 0; i < m.length; i++) {
                    int row = (i / c.lk) % c.lq;
                    int col = i % c.lk;
                    m[i] = row == 0 || col % 3 == 0 ? -Float.MAX_VALUE : 0f;
                }
                return cpu.fromFloats(m, c.batch, 1, c.lq, c.lk);
            }
            default -> throw new IllegalStateException();
        }
    }

    private static CudaBackend open(DType compute) {
        return GpuTestSupport.gpu(compute, "CudaAttentionTest");
    }

    private static void printPlan(CudaBackend gpu, Case c) {
        AttentionPlan p = AttentionPlan.plan(new AttentionPlan.Problem(gpu.sm(), gpu.sharedMemoryPerBlockOptin(),
                gpu.computeDType(), c.in, c.in, c.in, c.batch, c.heads, c.lq, c.lk, c.d, c.dv, true, true, true));
        System.out.println("CudaAttentionTest " + gpu.gpuName() + " " + c + " -> " + p.function() + " smem "
                + p.sharedBytes());
    }

    @Test
    void bf16TensorCoreKernelMatchesTheCpu() {
        try (CudaBackend gpu = open(DType.BF16)) {
            Case[] cases = {
                    new Case(1, 4, 300, 300, 128, 128, DType.BF16, Mask.NONE, true, 0f),       // FLUX, scaled down
                    new Case(2, 3, 197, 197, 64, 64, DType.BF16, Mask.NONE, false, 0f),       // CLIP / DINOv2
                    new Case(1, 4, 729, 729, 72, 72, DType.BF16, Mask.NONE, false, 0f),       // SigLIP so400m
                    new Case(1, 3, 333, 1031, 128, 128, DType.BF16, Mask.NONE, true, 0f),     // IP attention
                    new Case(2, 2, 77, 77, 64, 64, DType.BF16, Mask.KEY_PADDING, false, 0f),  // T5 padding
                    new Case(2, 2, 70, 90, 64, 64, DType.BF16, Mask.FULL, false, 0.3f),
                    new Case(1, 2, 100, 130, 80, 80, DType.BF16, Mask.BOOL, false, 0f),
                    new Case(2, 2, 40, 50, 64, 64, DType.BF16, Mask.FINFO_MIN_ROW, false, 0f),
                    new Case(1, 2, 65, 129, 256, 256, DType.BF16, Mask.NONE, false, 0f),      // largest bucket
                    new Case(1, 2, 50, 70, 36, 40, DType.BF16, Mask.NONE, false, 0f),         // element-wise loads
                    new Case(1, 1, 1, 1, 64, 64, DType.BF16, Mask.NONE, false, 0f),
                    new Case(3, 1, 17, 5, 96, 96, DType.BF16, Mask.KEY_PADDING, false, 0f),
            };
            long seed = 1;
            for (Case c : cases) {
                printPlan(gpu, c);
                check(gpu, c, seed++);
            }
        }
    }

    @Test
    void f16InputsUseTheF16TensorCoreKernel() {
        try (CudaBackend gpu = open(DType.BF16)) {
            Case[] cases = {
                    new Case(1, 3, 300, 300, 128, 128, DType.F16, Mask.NONE, true, 0f),
                    new Case(2, 2, 70, 150, 64, 64, DType.F16, Mask.FULL, false, 0f),
            };
            long seed = 100;
            for (Case c : cases) {
                printPlan(gpu, c);
                check(gpu, c, seed++);
            }
        }
    }

    @Test
    void f32KernelMatchesTheCpuInF32() {
        try (CudaBackend gpu = open(DType.F32)) {
            Case[] cases = {
                    new Case(1, 3, 300, 300, 128, 128, DType.F32, Mask.NONE, true, 0f),
                    new Case(1, 2, 300, 300, 128, 128, DType.BF16, Mask.NONE, true, 0f),
                    new Case(2, 2, 197, 197, 64, 64, DType.F32, Mask.KEY_PADDING, false, 0f),
                    new Case(1, 2, 129, 257, 72, 72, DType.F32, Mask.FULL, false, 0f),
                    new Case(1, 2, 90, 1031, 128, 128, DType.F32, Mask.NONE, true, 0.2f),
                    new Case(1, 2, 33, 47, 64, 64, DType.F32, Mask.BOOL, false, 0f),
                    new Case(2, 1, 40, 50, 64, 64, DType.F32, Mask.FINFO_MIN_ROW, false, 0f),
                    new Case(1, 2, 20, 40, 300, 300, DType.F32, Mask.NONE, false, 0f),   // D > 256: Dv chunks
                    new Case(1, 2, 31, 33, 5, 17, DType.F32, Mask.NONE, false, 0f),      // odd sizes
                    new Case(1, 1, 1, 1, 1, 1, DType.F32, Mask.NONE, false, 0f),
            };
            long seed = 200;
            for (Case c : cases) {
                printPlan(gpu, c);
                check(gpu, c, seed++);
            }
        }
    }

    @Test
    void bf16ComputeWithF32InputsTakesTheF32Kernel() {
        try (CudaBackend gpu = open(DType.BF16)) {
            Case c = new Case(1, 2, 150, 170, 72, 72, DType.F32, Mask.KEY_PADDING, false, 0f);
            printPlan(gpu, c);
            check(gpu, c, 300);
        }
    }

    @Test
    void misalignedAndTransposedViewsFallBackToElementLoads() {
        for (DType compute : new DType[] {DType.BF16, DType.F32}) {
            try (CudaBackend gpu = open(compute)) {
                Random rnd = new Random(400);
                // q: a view starting one element in (not 16-byte aligned); k: D-major (transposed storage);
                // v: rows of 65 elements
                Tensor qb = GpuTestSupport.random(cpu, rnd, DType.BF16, 1f, 1, 2, 50, 65);
                Tensor kb = GpuTestSupport.random(cpu, rnd, DType.BF16, 1f, 1, 2, 64, 60);
                Tensor vb = GpuTestSupport.random(cpu, rnd, DType.BF16, 1f, 1, 2, 60, 65);
                UnaryOperator<Tensor> qv = t -> t.narrow(3, 1, 64);
                UnaryOperator<Tensor> kv = t -> t.transpose(2, 3);
                UnaryOperator<Tensor> vv = t -> t.narrow(3, 0, 64);
                Tensor expected = cpu.attention(qv.apply(qb), kv.apply(kb), vv.apply(vb), null, 0f);
                Tensor actual = gpu.attention(qv.apply(gpu.transfer(qb)), kv.apply(gpu.transfer(kb)),
                        vv.apply(gpu.transfer(vb)), null, 0f);
                GpuTestSupport.assertClose(expected, actual, GpuTestSupport.tolerance(compute),
                        "misaligned views, " + compute);
            }
        }
    }

    @Test
    void noKeysGivesZerosAndEmptyShapesWork() {
        try (CudaBackend gpu = open(DType.BF16)) {
            Tensor q = gpu.transfer(GpuTestSupport.random(cpu, new Random(5), DType.BF16, 1f, 1, 2, 3, 64));
            Tensor k = gpu.zeros(DType.BF16, 1, 2, 0, 64);
            Tensor v = gpu.zeros(DType.BF16, 1, 2, 0, 32);
            Tensor o = gpu.attention(q, k, v, null, 0f);
            assertArrayEquals(new int[] {1, 2, 3, 32}, o.shape());
            for (float x : gpu.toFloatArray(o)) {
                assertEquals(0f, x);
            }
            Tensor qe = gpu.zeros(DType.BF16, 1, 2, 0, 64);
            Tensor ke = gpu.zeros(DType.BF16, 1, 2, 5, 64);
            assertArrayEquals(new int[] {1, 2, 0, 64}, gpu.attention(qe, ke, ke, null, 0f).shape());
        }
    }

    @Test
    void argumentErrorsNameTheShapes() {
        try (CudaBackend gpu = open(DType.BF16)) {
            Tensor q = gpu.zeros(DType.BF16, 1, 2, 3, 64);
            Tensor k = gpu.zeros(DType.BF16, 1, 2, 5, 32);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> gpu.attention(q, k, k, null, 0f));
            assertTrue(e.getMessage().contains("[1, 2, 5, 32]"), e.getMessage());
            Tensor k2 = gpu.zeros(DType.BF16, 1, 2, 5, 64);
            Tensor badMask = gpu.zeros(DType.F32, 1, 1, 3, 4);
            e = assertThrows(IllegalArgumentException.class, () -> gpu.attention(q, k2, k2, badMask, 0f));
            assertTrue(e.getMessage().contains("[1, 1, 3, 4]"), e.getMessage());
        }
    }

    @Test
    void fullSizeFluxAttention() {
        // B 1, H 24, L 4608 (4096 image + 512 text tokens), D 128, q/k/v views of one fused projection; the CPU
        // reference covers 3 of the 24 heads (the GPU computes all of them in one launch)
        try (CudaBackend gpu = open(DType.BF16)) {
            int l = 4608;
            int h = 24;
            int d = 128;
            Random rnd = new Random(500);
            Tensor base = GpuTestSupport.random(cpu, rnd, DType.BF16, 1f, 1, l, 3, h, d);
            Tensor dbase = gpu.transfer(base);
            Tensor[] dev = new Tensor[3];
            Tensor[] host = new Tensor[3];
            for (int i = 0; i < 3; i++) {
                dev[i] = dbase.select(2, i).permute(0, 2, 1, 3);
                host[i] = base.select(2, i).permute(0, 2, 1, 3).narrow(1, 5, 3);
            }
            long t0 = System.nanoTime();
            Tensor actual = gpu.attention(dev[0], dev[1], dev[2], null, 0f);
            gpu.synchronize();
            long t1 = System.nanoTime();
            Tensor again = gpu.attention(dev[0], dev[1], dev[2], null, 0f);
            gpu.synchronize();
            long t2 = System.nanoTime();
            System.out.printf("CudaAttentionTest FLUX attention on %s: first call %.2f ms (incl. kernel load), "
                    + "second %.2f ms%n", gpu.gpuName(), (t1 - t0) / 1e6, (t2 - t1) / 1e6);
            Tensor expected = cpu.attention(host[0], host[1], host[2], null, 0f);
            GpuTestSupport.assertClose(expected, actual.narrow(1, 5, 3), GpuTestSupport.tolerance(DType.BF16),
                    "FLUX full size");
            assertTrue(Arrays.equals(gpu.toFloatArray(actual), gpu.toFloatArray(again)), "deterministic");
        }
    }
}
