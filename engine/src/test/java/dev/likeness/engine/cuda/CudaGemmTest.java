package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Dtypes;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;

import static dev.likeness.engine.cuda.GpuTestSupport.assertClose;
import static dev.likeness.engine.cuda.GpuTestSupport.random;
import static dev.likeness.engine.cuda.GpuTestSupport.tolerance;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * linear and matmul on the GPU against the CPU backend, for both compute dtypes: odd K, N = 1, batched and broadcast
 * products, transposed and strided views, bf16 / f16 / fp8 / int8 weights, with and without bias. Skips with a
 * "[no GPU]" line on a machine without one.
 */
class CudaGemmTest {
    private static final DType[] COMPUTES = {DType.F32, DType.BF16};
    private static final CpuBackend CPU = new CpuBackend(1);

    @AfterAll
    static void closeCpu() {
        CPU.close();
    }

    private static CudaBackend gpu(DType compute) {
        return GpuTestSupport.gpu(compute, "CudaGemmTest");
    }

    @Test
    void linearMatchesTheCpuForOddShapesWeightDtypesAndBias() {
        int[][] shapes = {{1, 8, 1}, {5, 7, 3}, {3, 64, 1}, {17, 33, 65}, {4, 96, 48}, {2, 1, 5}};
        DType[] weights = {DType.F32, DType.BF16, DType.F16};
        for (DType cd : COMPUTES) {
            try (CudaBackend g = gpu(cd)) {
                Random rnd = new Random(1);
                for (int[] s : shapes) {
                    for (DType wd : weights) {
                        for (boolean withBias : new boolean[] {false, true}) {
                            Tensor x = random(CPU, rnd, DType.F32, 1f, s[0], s[1]);
                            Tensor w = random(CPU, rnd, wd, 0.5f, s[2], s[1]);
                            Tensor bias = withBias ? random(CPU, rnd, DType.F32, 1f, s[2]) : null;
                            Tensor got = g.linear(g.transfer(x), g.transfer(w), bias == null ? null : g.transfer(bias));
                            assertEquals(cd, got.dtype());
                            assertClose(CPU.linear(x, w, bias), got, tolerance(cd), cd + " linear " + Arrays.toString(s)
                                    + " w " + wd + (withBias ? " + bias" : ""));
                        }
                    }
                }
            }
        }
    }

    @Test
    void linearOnBatchedStridedAndTransposedViews() {
        for (DType cd : COMPUTES) {
            try (CudaBackend g = gpu(cd)) {
                Random rnd = new Random(2);
                // x [2, 3, 40] contiguous (batch folded into M), bf16 input converted to the compute dtype
                Tensor x3 = random(CPU, rnd, DType.BF16, 1f, 2, 3, 40);
                Tensor w = random(CPU, rnd, DType.BF16, 0.5f, 24, 40);
                Tensor bias = random(CPU, rnd, DType.BF16, 1f, 24);
                assertClose(CPU.linear(x3, w, bias), g.linear(g.transfer(x3), g.transfer(w), g.transfer(bias)),
                        tolerance(cd), cd + " linear batched");
                // x a transposed view [M, K] of a [K, M] tensor; w a transposed view [N, K] of a [K, N] tensor
                Tensor xt = random(CPU, rnd, DType.F32, 1f, 40, 6);
                Tensor wt = random(CPU, rnd, DType.F32, 0.5f, 40, 10);
                assertClose(CPU.linear(xt.transpose(0, 1), wt.transpose(0, 1), null),
                        g.linear(g.transfer(xt).transpose(0, 1), g.transfer(wt).transpose(0, 1), null), tolerance(cd),
                        cd + " linear transposed views");
                // rows with gaps (every other row), batch dims that do not fold, a 1-D x, a strided bias
                Tensor xs = random(CPU, rnd, DType.F32, 1f, 3, 8, 40);
                Tensor bias2 = random(CPU, rnd, DType.F32, 1f, 48);
                assertClose(CPU.linear(xs.slice(1, 0, 8, 2), w, bias2.slice(0, 0, 48, 2)),
                        g.linear(g.transfer(xs).slice(1, 0, 8, 2), g.transfer(w), g.transfer(bias2).slice(0, 0, 48, 2)),
                        tolerance(cd), cd + " linear strided rows");
                Tensor xp = random(CPU, rnd, DType.F32, 1f, 4, 3, 40);
                assertClose(CPU.linear(xp.permute(1, 0, 2), w, null), g.linear(g.transfer(xp).permute(1, 0, 2),
                        g.transfer(w), null), tolerance(cd), cd + " linear permuted batch");
                Tensor x1 = random(CPU, rnd, DType.F32, 1f, 40);
                assertClose(CPU.linear(x1, w, bias), g.linear(g.transfer(x1), g.transfer(w), g.transfer(bias)),
                        tolerance(cd), cd + " linear 1-D x");
            }
        }
    }

    /** x quantized as the FP8 path does: per-tensor scale amax / 448, round to e4m3, saturating at ±448. */
    private static Tensor quantizedE4m3(Tensor x) {
        float[] v = CPU.toFloatArray(x);
        float amax = 0;
        for (float f : v) {
            amax = Math.max(amax, Math.abs(f));
        }
        float scale = amax > 0 ? amax / 448f : 1f;
        float inv = 1f / scale;
        float[] q = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            float s = Math.max(-448f, Math.min(448f, v[i] * inv));
            q[i] = Dtypes.e4m3ToF32(Dtypes.f32ToE4M3(s)) * scale;
        }
        return CPU.fromFloats(q, x.shape());
    }

    @Test
    void fp8AndInt8WeightsWithPerTensorAndPerRowScales() {
        for (DType cd : COMPUTES) {
            try (CudaBackend g = gpu(cd)) {
                Random rnd = new Random(3);
                int[][] shapes = {{6, 64, 32}, {5, 40, 24}, {1, 48, 16}};
                for (int[] s : shapes) {
                    int m = s[0];
                    int k = s[1];
                    int n = s[2];
                    Tensor x = random(CPU, rnd, DType.F32, 1f, m, k);
                    Tensor w8 = CPU.to(random(CPU, rnd, DType.F32, 2f, n, k), DType.F8_E4M3);
                    float[] rows = new float[n];
                    for (int i = 0; i < n; i++) {
                        rows[i] = 0.01f + rnd.nextFloat() * 0.05f;
                    }
                    Tensor bias = random(CPU, rnd, DType.F32, 1f, n);
                    boolean fp8Path = g.sm() >= 89 && k % 16 == 0 && n % 16 == 0;
                    Tensor xRef = fp8Path ? quantizedE4m3(x) : x;
                    // with fp8 tensor cores the products are exact and f32 sums differ only in order
                    double tol = cd == DType.F32 && fp8Path ? 1e-3 : tolerance(cd);
                    for (Tensor scale : new Tensor[] {CPU.fromFloats(new float[] {0.03f}, 1), CPU.fromFloats(rows, n)}) {
                        Tensor w = w8.withScale(scale);
                        for (Tensor b : new Tensor[] {null, bias}) {
                            assertClose(CPU.linear(xRef, w, b), g.linear(g.transfer(x), g.transfer(w),
                                    b == null ? null : g.transfer(b)), tol, cd + " fp8 " + Arrays.toString(s) + " scale "
                                    + scale.numel() + (b == null ? "" : " + bias") + (fp8Path ? " (fp8 GEMM)" : ""));
                        }
                    }
                    // int8 with a per-row scale: dequantized to the compute dtype, then an ordinary GEMM
                    byte[] q = new byte[n * k];
                    for (int i = 0; i < q.length; i++) {
                        q[i] = (byte) (rnd.nextInt(255) - 127);
                    }
                    Tensor w8i = CPU.wrap(MemorySegment.ofArray(q), DType.I8, n, k).withScale(CPU.fromFloats(rows, n));
                    assertClose(CPU.linear(x, w8i, bias), g.linear(g.transfer(x), g.transfer(w8i), g.transfer(bias)),
                            tolerance(cd), cd + " int8 " + Arrays.toString(s));
                }
            }
        }
    }

    @Test
    void matmulBatchedBroadcastAndTransposed() {
        for (DType cd : COMPUTES) {
            try (CudaBackend g = gpu(cd)) {
                Random rnd = new Random(4);
                int[][][] pairs = {
                        {{2, 3, 4, 5}, {2, 3, 5, 6}},
                        {{4, 5}, {2, 3, 5, 6}},
                        {{2, 3, 4, 5}, {5, 6}},
                        {{2, 1, 4, 5}, {1, 3, 5, 6}},
                        {{5}, {5, 7}},
                        {{3, 5}, {5}},
                        {{2, 4, 5}, {5}},
                        {{5}, {5}},
                        {{7, 9}, {9, 1}},
                        {{1, 9}, {9, 13}},
                };
                for (int[][] p : pairs) {
                    for (DType in : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                        Tensor a = random(CPU, rnd, in, 1f, p[0]);
                        Tensor b = random(CPU, rnd, in, 1f, p[1]);
                        assertClose(CPU.matmul(a, b), g.matmul(g.transfer(a), g.transfer(b)), tolerance(cd),
                                cd + " matmul " + Arrays.toString(p[0]) + " x " + Arrays.toString(p[1]) + " " + in);
                    }
                }
                // attention-style permuted views: q [B, S, H, D] → [B, H, S, D], k → [B, H, D, S]
                Tensor q = random(CPU, rnd, DType.F32, 1f, 2, 7, 3, 8);
                Tensor k = random(CPU, rnd, DType.F32, 1f, 2, 9, 3, 8);
                assertClose(CPU.matmul(q.permute(0, 2, 1, 3), k.permute(0, 2, 3, 1)),
                        g.matmul(g.transfer(q).permute(0, 2, 1, 3), g.transfer(k).permute(0, 2, 3, 1)), tolerance(cd),
                        cd + " matmul permuted");
                // a broadcast (expanded) operand and a transposed one
                Tensor e = random(CPU, rnd, DType.F32, 1f, 1, 6, 5);
                Tensor t = random(CPU, rnd, DType.F32, 1f, 4, 7, 5);
                assertClose(CPU.matmul(e.expand(4, 6, 5), t.transpose(1, 2)),
                        g.matmul(g.transfer(e).expand(4, 6, 5), g.transfer(t).transpose(1, 2)), tolerance(cd),
                        cd + " matmul expanded x transposed");
                // many irregular batch calls (more than CudaGemm.MAX_CALLS) on non-contiguous operands
                Tensor u = random(CPU, rnd, DType.F32, 1f, 12, 1, 4, 5);
                Tensor v = random(CPU, rnd, DType.F32, 1f, 1, 3, 6, 5);
                assertClose(CPU.matmul(u, v.transpose(2, 3)), g.matmul(g.transfer(u), g.transfer(v).transpose(2, 3)),
                        tolerance(cd), cd + " matmul irregular broadcast");
            }
        }
    }

    @Test
    void emptyAndZeroDepthProducts() {
        for (DType cd : COMPUTES) {
            try (CudaBackend g = gpu(cd)) {
                Random rnd = new Random(5);
                Tensor x = CPU.zeros(DType.F32, 3, 0);
                Tensor w = CPU.zeros(DType.F32, 4, 0);
                Tensor bias = random(CPU, rnd, DType.F32, 1f, 4);
                assertClose(CPU.linear(x, w, bias), g.linear(g.transfer(x), g.transfer(w), g.transfer(bias)),
                        tolerance(cd), cd + " linear K = 0 with bias");
                assertClose(CPU.linear(x, w, null), g.linear(g.transfer(x), g.transfer(w), null), tolerance(cd),
                        cd + " linear K = 0");
                Tensor a = CPU.zeros(DType.F32, 2, 3, 0);
                Tensor b = CPU.zeros(DType.F32, 2, 0, 5);
                assertClose(CPU.matmul(a, b), g.matmul(g.transfer(a), g.transfer(b)), tolerance(cd), cd + " matmul K=0");
                Tensor e = CPU.zeros(DType.F32, 0, 7);
                assertEquals(0, g.linear(g.transfer(e), g.transfer(random(CPU, rnd, DType.F32, 1f, 3, 7)), null)
                        .numel());
            }
        }
    }

    @Test
    void argumentErrorsNameTheShapes() {
        try (CudaBackend g = gpu(DType.F32)) {
            Tensor x = g.zeros(DType.F32, 2, 5);
            Tensor w = g.zeros(DType.F32, 3, 4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> g.linear(x, w, null));
            assertTrue(e.getMessage().contains("linear: x [2, 5] has K=5"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> g.linear(x, g.zeros(DType.F32, 3, 5),
                    g.zeros(DType.F32, 4)));
            assertTrue(e.getMessage().contains("bias must be [3]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> g.matmul(g.zeros(DType.F32, 2, 3, 4),
                    g.zeros(DType.F32, 3, 4, 5)));
            assertTrue(e.getMessage().contains("do not broadcast"), e.getMessage());
        }
    }
}
