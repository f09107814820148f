package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static dev.likeness.engine.cuda.GpuTestSupport.assertClose;
import static dev.likeness.engine.cuda.GpuTestSupport.random;
import static dev.likeness.engine.cuda.GpuTestSupport.tolerance;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * conv2d on the GPU against the CPU backend (1×1 and 3×3 kernels, stride 2, padding, groups, depthwise, strided
 * inputs, several bands per image, weight dtypes, bias), plus the host-side shape checks and band sizing, which
 * need no GPU.
 */
class CudaConvTest {
    private static final CpuBackend CPU = new CpuBackend(1);

    @AfterAll
    static void closeCpu() {
        CPU.close();
    }

    /** {n, c, h, w, o, kh, kw, sh, sw, ph, pw, groups}. */
    private static final int[][] CASES = {
            {2, 4, 9, 7, 6, 3, 3, 1, 1, 1, 1, 1},
            {1, 8, 5, 5, 4, 1, 1, 1, 1, 0, 0, 1},
            {2, 6, 4, 3, 5, 1, 1, 1, 1, 0, 0, 1},
            {1, 3, 10, 11, 5, 3, 3, 2, 2, 1, 1, 1},
            {1, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 2},
            {2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 4},
            {1, 5, 7, 6, 3, 3, 1, 1, 1, 1, 0, 1},
            {1, 3, 9, 8, 4, 4, 4, 2, 3, 0, 2, 1},
            {1, 2, 3, 3, 3, 3, 3, 1, 1, 0, 0, 1},
            {1, 16, 12, 12, 8, 1, 1, 2, 2, 0, 0, 1},
    };

    private static Tensor conv(dev.likeness.engine.Backend b, Tensor x, Tensor w, Tensor bias, int[] c) {
        return b.conv2d(x, w, bias, c[7], c[8], c[9], c[10], c[11]);
    }

    @Test
    void conv2dMatchesTheCpu() {
        for (DType cd : new DType[] {DType.F32, DType.BF16}) {
            try (CudaBackend g = GpuTestSupport.gpu(cd, "CudaConvTest")) {
                Random rnd = new Random(1);
                for (int[] c : CASES) {
                    for (DType wd : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                        for (boolean withBias : new boolean[] {false, true}) {
                            Tensor x = random(CPU, rnd, DType.F32, 1f, c[0], c[1], c[2], c[3]);
                            Tensor w = random(CPU, rnd, wd, 0.5f, c[4], c[1] / c[11], c[5], c[6]);
                            Tensor bias = withBias ? random(CPU, rnd, DType.F32, 1f, c[4]) : null;
                            Tensor got = conv(g, g.transfer(x), g.transfer(w), bias == null ? null : g.transfer(bias),
                                    c);
                            assertEquals(cd, got.dtype());
                            assertClose(conv(CPU, x, w, bias, c), got, tolerance(cd), cd + " conv2d "
                                    + Arrays.toString(c) + " w " + wd + (withBias ? " + bias" : ""));
                        }
                    }
                }
            }
        }
    }

    @Test
    void stridedInputsBandsAndBf16Inputs() {
        for (DType cd : new DType[] {DType.F32, DType.BF16}) {
            try (CudaBackend g = GpuTestSupport.gpu(cd, "CudaConvTest")) {
                Random rnd = new Random(2);
                // a [N, C, W, H] tensor transposed to [N, C, H, W]: im2col reads the strides; 1×1 cannot go direct
                Tensor xt = random(CPU, rnd, DType.BF16, 1f, 2, 4, 7, 5);
                Tensor w1 = random(CPU, rnd, DType.BF16, 0.5f, 3, 4, 1, 1);
                Tensor w3 = random(CPU, rnd, DType.BF16, 0.5f, 3, 4, 3, 3);
                Tensor b = random(CPU, rnd, DType.BF16, 1f, 3);
                for (Tensor w : new Tensor[] {w1, w3}) {
                    assertClose(CPU.conv2d(xt.transpose(2, 3), w, b, 1, 1, w.size(2) / 2, w.size(3) / 2, 1),
                            g.conv2d(g.transfer(xt).transpose(2, 3), g.transfer(w), g.transfer(b), 1, 1, w.size(2) / 2,
                                    w.size(3) / 2, 1), tolerance(cd), cd + " conv2d transposed input " + w);
                }
                // a channel slice: 1×1 direct with a channel stride larger than the pixels
                Tensor xc = random(CPU, rnd, DType.F32, 1f, 1, 8, 6, 6);
                assertClose(CPU.conv2d(xc.slice(1, 0, 8, 2), w1, null, 1, 1, 0, 0, 1),
                        g.conv2d(g.transfer(xc).slice(1, 0, 8, 2), g.transfer(w1), null, 1, 1, 0, 0, 1),
                        tolerance(cd), cd + " conv2d channel slice");
                // several bands per image: shrink the column budget to a few rows
                long saved = CudaConv.columnBudget;
                try {
                    CudaConv.columnBudget = 36L * 13 * cd.byteSize() * 3;  // 3 output rows of a 13-wide output
                    Tensor xb = random(CPU, rnd, DType.F32, 1f, 2, 4, 11, 13);
                    Tensor wb = random(CPU, rnd, DType.F32, 0.5f, 6, 4, 3, 3);
                    Tensor bb = random(CPU, rnd, DType.F32, 1f, 6);
                    assertClose(CPU.conv2d(xb, wb, bb, 1, 1, 1, 1, 1),
                            g.conv2d(g.transfer(xb), g.transfer(wb), g.transfer(bb), 1, 1, 1, 1, 1), tolerance(cd),
                            cd + " conv2d in bands");
                    Tensor wg = random(CPU, rnd, DType.F32, 0.5f, 6, 2, 3, 3);
                    assertClose(CPU.conv2d(xb, wg, bb, 2, 2, 1, 1, 2),
                            g.conv2d(g.transfer(xb), g.transfer(wg), g.transfer(bb), 2, 2, 1, 1, 2), tolerance(cd),
                            cd + " grouped strided conv2d in bands");
                } finally {
                    CudaConv.columnBudget = saved;
                }
            }
        }
    }

    @Test
    void shapeChecksNameTheArguments() {
        Tensor x = CPU.zeros(DType.F32, 1, 4, 8, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaConv.check(x, CPU.zeros(DType.F32, 6, 3, 3, 3), null, 1, 1, 1, 1, 1));
        assertTrue(e.getMessage().contains("weight w has 3 input channels per group"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CudaConv.check(x, CPU.zeros(DType.F32, 6, 2, 3, 3), null, 1, 1, 1, 1, 3));
        assertTrue(e.getMessage().contains("C = 4 must be a positive multiple of groups"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CudaConv.check(x, CPU.zeros(DType.F32, 6, 4, 3, 3), CPU.zeros(DType.F32, 5), 1, 1, 1, 1, 1));
        assertTrue(e.getMessage().contains("bias must have shape [6]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CudaConv.check(x, CPU.zeros(DType.F32, 6, 4, 11, 3), null, 1, 1, 1, 1, 1));
        assertTrue(e.getMessage().contains("larger than the padded input"), e.getMessage());
        CudaConv.Shape s = CudaConv.check(x, CPU.zeros(DType.F32, 6, 2, 3, 3), null, 2, 2, 1, 1, 2);
        assertEquals(4, s.oh());
        assertEquals(4, s.ow());
        assertEquals(18, s.kGroup());
    }

    @Test
    void vaeSizedConvolutionsRunInBandsWithinTheBudget() {
        // 512 channels at 128×128 and 128 channels at 1024×1024, 3×3, bf16 columns
        int[][] vae = {{512, 128, 512}, {128, 1024, 128}, {256, 512, 256}, {128, 1024, 3}};
        for (int[] v : vae) {
            CudaConv.Shape s = new CudaConv.Shape(1, v[0], v[1], v[1], v[2], 3, 3, 1, 1, 1, 1, 1, v[0], v[2], v[1],
                    v[1]);
            int rows = CudaConv.bandRows(s, 2);
            long bytes = s.kFull() * rows * s.ow() * 2;
            assertTrue(rows >= 1 && bytes <= CudaConv.COLUMN_BUDGET, Arrays.toString(v) + ": " + rows + " rows, "
                    + bytes + " bytes");
            assertTrue(bytes > CudaConv.COLUMN_BUDGET / 2 || rows == s.oh(), "bands use the budget: " + bytes);
        }
    }
}
