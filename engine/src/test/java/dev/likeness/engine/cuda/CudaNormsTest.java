package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cuda.CudaOpCheck.Input;
import dev.likeness.engine.cuda.CudaOpCheck.Layout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.likeness.engine.cuda.CudaOpCheck.check;
import static dev.likeness.engine.cuda.CudaOpCheck.input;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA normalization family (layer norm, RMS norm, group norm, softmax, mean, var) against the CPU backend,
 * computing in f32 and in bf16: row lengths 1, 33, 3072 and 4097 (warp-per-row, block-per-row, with and without the
 * shared-memory row cache), many rows, contiguous / permuted / narrowed views of f32, bf16 and f16 inputs, optional
 * weights and biases in bf16, segments split over blocks, reductions over every dimension; and the argument errors.
 * Skips with a "[no GPU]" line where there is no GPU.
 */
class CudaNormsTest {
    private static CpuBackend cpu;
    private static List<CudaBackend> gpus;

    @BeforeAll
    static void open() {
        cpu = new CpuBackend(1);
        gpus = GpuTestSupport.gpus("CudaNormsTest");
    }

    @AfterAll
    static void close() {
        GpuTestSupport.close(gpus, cpu);
    }

    private static final DType[] INPUT_DTYPES = {DType.F32, DType.BF16, DType.F16};
    private static final int[] ROW_LENGTHS = {1, 33, 1024, 3072, 4097};
    private static final int[] ROW_COUNTS = {1, 7, 300};

    /** A 1-D parameter in dtype dt (or null), on the host and the GPU. */
    private static Tensor[] param(CudaBackend gpu, Random rnd, DType dt, int n, float shift) {
        if (dt == null) {
            return new Tensor[] {null, null};
        }
        Tensor h = GpuTestSupport.random(cpu, rnd, DType.F32, 1f, n);
        h = cpu.affine(h, 1f, shift);
        if (dt != DType.F32) {
            h = cpu.to(h, dt);
        }
        return new Tensor[] {h, gpu.transfer(h)};
    }

    @Test
    void layerNormMatchesTheCpu() {
        Random rnd = new Random(11);
        DType[][] params = {{null, null}, {DType.F32, DType.F32}, {DType.BF16, null}, {null, DType.BF16},
                {DType.BF16, DType.F16}};
        for (CudaBackend gpu : gpus) {
            for (int n : ROW_LENGTHS) {
                for (int rows : ROW_COUNTS) {
                    for (Layout l : Layout.values()) {
                        DType dt = INPUT_DTYPES[rnd.nextInt(3)];
                        DType[] p = params[rnd.nextInt(params.length)];
                        // an offset mean: the two-pass variance must not cancel it away
                        Input x = input(cpu, gpu, rnd, dt, 2f, 3f, l, rows, n);
                        Tensor[] w = param(gpu, rnd, p[0], n, 1f);
                        Tensor[] b = param(gpu, rnd, p[1], n, 0f);
                        check(gpu, cpu.layerNorm(x.host(), w[0], b[0], 1e-6f),
                                gpu.layerNorm(x.device(), w[1], b[1], 1e-6f),
                                gpu.computeDType() + " layerNorm " + x.name() + " weight " + p[0] + " bias " + p[1]);
                    }
                }
            }
            // every parameter combination on one shape, and a 3-D input
            for (DType[] p : params) {
                Input x = input(cpu, gpu, rnd, DType.F32, 1f, 0f, Layout.PERMUTED, 2, 5, 3072);
                Tensor[] w = param(gpu, rnd, p[0], 3072, 1f);
                Tensor[] b = param(gpu, rnd, p[1], 3072, 0f);
                check(gpu, cpu.layerNorm(x.host(), w[0], b[0], 1e-5f), gpu.layerNorm(x.device(), w[1], b[1], 1e-5f),
                        gpu.computeDType() + " layerNorm 3-D weight " + p[0] + " bias " + p[1]);
            }
        }
    }

    @Test
    void rmsNormMatchesTheCpu() {
        Random rnd = new Random(12);
        for (CudaBackend gpu : gpus) {
            for (int n : ROW_LENGTHS) {
                for (int rows : ROW_COUNTS) {
                    for (Layout l : Layout.values()) {
                        DType dt = INPUT_DTYPES[rnd.nextInt(3)];
                        DType wd = new DType[] {null, DType.F32, DType.BF16}[rnd.nextInt(3)];
                        Input x = input(cpu, gpu, rnd, dt, 2f, 0.5f, l, rows, n);
                        Tensor[] w = param(gpu, rnd, wd, n, 1f);
                        check(gpu, cpu.rmsNorm(x.host(), w[0], 1e-6f), gpu.rmsNorm(x.device(), w[1], 1e-6f),
                                gpu.computeDType() + " rmsNorm " + x.name() + " weight " + wd);
                    }
                }
            }
            // FLUX's q/k norm: [B, H, S, 128] from a [B, S, H, 128] projection, many short rows
            Input qk = input(cpu, gpu, rnd, DType.BF16, 3f, 0f, Layout.CONTIGUOUS, 1, 512, 24, 128);
            Tensor[] w = param(gpu, rnd, DType.BF16, 128, 1f);
            check(gpu, cpu.rmsNorm(qk.host().transpose(1, 2), w[0], 1e-6f),
                    gpu.rmsNorm(qk.device().transpose(1, 2), w[1], 1e-6f), gpu.computeDType() + " rmsNorm q/k");
        }
    }

    @Test
    void rowNormArgumentErrors() {
        CudaBackend gpu = gpus.get(0);
        Tensor x = gpu.zeros(DType.F32, 2, 8);
        assertEquals("layerNorm: weight must have shape [8] to match x [2, 8], got [7]",
                assertThrows(IllegalArgumentException.class,
                        () -> gpu.layerNorm(x, gpu.zeros(DType.F32, 7), null, 1e-5f)).getMessage());
        assertEquals("layerNorm: bias must have shape [8] to match x [2, 8], got [1, 8]",
                assertThrows(IllegalArgumentException.class,
                        () -> gpu.layerNorm(x, null, gpu.zeros(DType.F32, 1, 8), 1e-5f)).getMessage());
        assertEquals("rmsNorm: weight must have shape [8] to match x [2, 8], got [16]",
                assertThrows(IllegalArgumentException.class,
                        () -> gpu.rmsNorm(x, gpu.zeros(DType.F32, 16), 1e-5f)).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> gpu.rmsNorm(gpu.zeros(DType.F32), null, 1e-5f)).getMessage()
                .startsWith("rmsNorm: x must have at least one dimension, got a scalar "));
        assertEquals("layerNorm: x must not be null",
                assertThrows(IllegalArgumentException.class, () -> gpu.layerNorm(null, null, null, 1e-5f))
                        .getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> gpu.layerNorm(gpu.fromInts(new int[] {1, 2}, 2), null, null, 1e-5f)).getMessage()
                .startsWith("layerNorm: x must be a floating-point tensor, got "));
    }

    @Test
    void groupNormMatchesTheCpu() {
        Random rnd = new Random(13);
        int[][] shapes = {{2, 32, 8, 8}, {1, 64, 33, 17}, {3, 6}, {2, 6, 5}, {1, 128, 128, 128}, {2, 4, 1, 1}};
        int[] groupsOf = {8, 32, 3, 2, 32, 4};
        DType[][] params = {{null, null}, {DType.F32, DType.F32}, {DType.BF16, null}, {null, DType.BF16}};
        for (CudaBackend gpu : gpus) {
            for (int s = 0; s < shapes.length; s++) {
                int[] shape = shapes[s];
                int c = shape[1];
                for (Layout l : Layout.values()) {
                    DType dt = INPUT_DTYPES[(s + l.ordinal()) % 3];
                    DType[] p = params[(s + l.ordinal()) % params.length];
                    Input x = input(cpu, gpu, rnd, dt, 2f, 1f, l, shape);
                    Tensor[] w = param(gpu, rnd, p[0], c, 1f);
                    Tensor[] b = param(gpu, rnd, p[1], c, 0f);
                    check(gpu, cpu.groupNorm(x.host(), groupsOf[s], w[0], b[0], 1e-6f),
                            gpu.groupNorm(x.device(), groupsOf[s], w[1], b[1], 1e-6f),
                            gpu.computeDType() + " groupNorm " + groupsOf[s] + " groups " + x.name() + " weight "
                                    + p[0] + " bias " + p[1]);
                }
            }
            // channels-last storage viewed as [N, C, H, W]
            Input nhwc = input(cpu, gpu, rnd, DType.BF16, 1f, 0f, Layout.CONTIGUOUS, 2, 9, 11, 64);
            Tensor[] w = param(gpu, rnd, DType.F32, 64, 1f);
            Tensor[] b = param(gpu, rnd, DType.F32, 64, 0f);
            check(gpu, cpu.groupNorm(nhwc.host().permute(0, 3, 1, 2), 32, w[0], b[0], 1e-6f),
                    gpu.groupNorm(nhwc.device().permute(0, 3, 1, 2), 32, w[1], b[1], 1e-6f),
                    gpu.computeDType() + " groupNorm channels-last");
        }
        CudaBackend gpu = gpus.get(0);
        Tensor x = gpu.zeros(DType.F32, 2, 6, 4);
        assertEquals("groupNorm: the 6 channels of x [2, 6, 4] cannot be split into 4 groups",
                assertThrows(IllegalArgumentException.class, () -> gpu.groupNorm(x, 4, null, null, 1e-5f))
                        .getMessage());
        assertEquals("groupNorm: the 6 channels of x [2, 6, 4] cannot be split into 0 groups",
                assertThrows(IllegalArgumentException.class, () -> gpu.groupNorm(x, 0, null, null, 1e-5f))
                        .getMessage());
        assertEquals("groupNorm: x must be [N, C, *] (at least 2 dimensions), got [6]",
                assertThrows(IllegalArgumentException.class,
                        () -> gpu.groupNorm(gpu.zeros(DType.F32, 6), 2, null, null, 1e-5f)).getMessage());
        assertEquals("groupNorm: weight must have shape [6] to match x [2, 6, 4], got [4]",
                assertThrows(IllegalArgumentException.class,
                        () -> gpu.groupNorm(x, 2, gpu.zeros(DType.F32, 4), null, 1e-5f)).getMessage());
    }

    @Test
    void softmaxMatchesTheCpuAlongEveryDimension() {
        Random rnd = new Random(14);
        for (CudaBackend gpu : gpus) {
            for (int n : ROW_LENGTHS) {
                for (int rows : ROW_COUNTS) {
                    for (Layout l : Layout.values()) {
                        Input x = input(cpu, gpu, rnd, INPUT_DTYPES[rnd.nextInt(3)], 8f, 0f, l, rows, n);
                        check(gpu, cpu.softmax(x.host(), -1), gpu.softmax(x.device(), -1),
                                gpu.computeDType() + " softmax last " + x.name());
                    }
                }
            }
            for (int dim : new int[] {0, 1, 2, -2}) {
                for (Layout l : Layout.values()) {
                    Input x = input(cpu, gpu, rnd, INPUT_DTYPES[rnd.nextInt(3)], 8f, 0f, l, 3, 33, 5);
                    check(gpu, cpu.softmax(x.host(), dim), gpu.softmax(x.device(), dim),
                            gpu.computeDType() + " softmax dim " + dim + " " + x.name());
                }
            }
            Input big = input(cpu, gpu, rnd, DType.F32, 8f, 0f, Layout.CONTIGUOUS, 4097, 3);
            check(gpu, cpu.softmax(big.host(), 0), gpu.softmax(big.device(), 0),
                    gpu.computeDType() + " softmax over a long first dimension");
            // a scalar, and rows with -inf (masked) entries; a row that is all -inf is NaN in both
            Tensor scalar = cpu.fromFloats(new float[] {2.5f});
            check(gpu, cpu.softmax(scalar, 0), gpu.softmax(gpu.transfer(scalar), -1),
                    gpu.computeDType() + " softmax scalar");
            float ninf = Float.NEGATIVE_INFINITY;
            Tensor masked = cpu.fromFloats(new float[] {1, ninf, 3, ninf, ninf, ninf, 0, 0, ninf}, 3, 3);
            check(gpu, cpu.softmax(masked, -1), gpu.softmax(gpu.transfer(masked), -1),
                    gpu.computeDType() + " softmax masked");
            check(gpu, cpu.softmax(masked, 0), gpu.softmax(gpu.transfer(masked), 0),
                    gpu.computeDType() + " softmax masked columns");
        }
        CudaBackend gpu = gpus.get(0);
        assertEquals("softmax: dimension 1 out of range for a 0-dimensional tensor (use 0 or -1)",
                assertThrows(IllegalArgumentException.class, () -> gpu.softmax(gpu.zeros(DType.F32), 1))
                        .getMessage());
        assertEquals("dimension 2 out of range for a tensor of rank 2 (shape [3, 4])",
                assertThrows(IllegalArgumentException.class, () -> gpu.softmax(gpu.zeros(DType.F32, 3, 4), 2))
                        .getMessage());
    }

    @Test
    void meanAndVarMatchTheCpu() {
        Random rnd = new Random(15);
        int[][] shapes = {{7, 33}, {3, 4097, 5}, {300, 3072}, {1, 1}, {4, 1, 6}, {2, 3, 4, 5}};
        for (CudaBackend gpu : gpus) {
            for (int[] shape : shapes) {
                for (int dim = -shape.length; dim < shape.length; dim++) {
                    for (Layout l : Layout.values()) {
                        Input x = input(cpu, gpu, rnd, INPUT_DTYPES[rnd.nextInt(3)], 2f, 5f, l, shape);
                        boolean keep = rnd.nextBoolean();
                        String what = gpu.computeDType() + " dim " + dim + " keep " + keep + " " + x.name();
                        check(gpu, cpu.mean(x.host(), dim, keep), gpu.mean(x.device(), dim, keep), "mean " + what);
                        for (int correction = 0; correction <= 2; correction++) {
                            check(gpu, cpu.var(x.host(), dim, correction, keep),
                                    gpu.var(x.device(), dim, correction, keep), "var " + correction + " " + what);
                        }
                    }
                }
            }
            // few long rows: the segments are split over blocks and combined
            for (int n : new int[] {1 << 20, 3 * 4096 + 17, 8193}) {
                Input x = input(cpu, gpu, rnd, DType.BF16, 1f, 100f, Layout.CONTIGUOUS, 2, n);
                check(gpu, cpu.mean(x.host(), 1, false), gpu.mean(x.device(), 1, false),
                        gpu.computeDType() + " mean of long rows " + n);
                check(gpu, cpu.var(x.host(), -1, 1, true), gpu.var(x.device(), -1, 1, true),
                        gpu.computeDType() + " var of long rows " + n);
            }
        }
        CudaBackend gpu = gpus.get(0);
        Tensor x = gpu.zeros(DType.F32, 3, 4);
        // n - correction <= 0: NaN (0 / 0) as in torch
        float[] v = gpu.toFloatArray(gpu.var(gpu.transfer(cpu.fromFloats(new float[] {1, 2, 3}, 3, 1)), 1, 1, false));
        assertTrue(Float.isNaN(v[0]) && Float.isNaN(v[1]) && Float.isNaN(v[2]), Arrays.toString(v));
        assertArrayEquals(new int[] {3, 1}, gpu.mean(x, 1, true).shape());
        assertArrayEquals(new int[] {4}, gpu.var(x, 0, 1, false).shape());
        assertEquals("var: correction must be >= 0, got -1",
                assertThrows(IllegalArgumentException.class, () -> gpu.var(x, 0, -1, false)).getMessage());
        assertEquals("mean: dim 2 is out of range for x [3, 4] (rank 2)",
                assertThrows(IllegalArgumentException.class, () -> gpu.mean(x, 2, false)).getMessage());
        assertEquals("var: dim -3 is out of range for x [3, 4] (rank 2)",
                assertThrows(IllegalArgumentException.class, () -> gpu.var(x, -3, 0, false)).getMessage());
    }
}
