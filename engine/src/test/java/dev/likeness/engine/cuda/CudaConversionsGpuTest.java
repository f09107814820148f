package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * On a GPU (skipped without one): {@code to()} into the f8 dtypes rounds as the CPU backend (torch) does, overflow
 * included, and int8 tensors with a scale are read by {@code to}, {@code contiguous}, the elementwise ops and
 * {@code embedding}.
 */
class CudaConversionsGpuTest {
    private static CpuBackend cpu;
    private static CudaBackend gpu;

    @BeforeAll
    static void open() {
        cpu = new CpuBackend(1);
        gpu = GpuTestSupport.gpu(DType.F32, "CudaConversionsGpuTest");
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
        if (cpu != null) {
            cpu.close();
        }
    }

    @Test
    void toF8RoundsAsTheCpuIncludingOverflowAndNaN() {
        Random rnd = new Random(11);
        float[] v = new float[4096];
        float[] special = {0f, -0f, 448f, 449f, 464f, 464.1f, -465f, 480f, 57344f, 61439f, 61440f, 65536f, 1e9f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 1e-9f, -3e-3f, 0.0107421875f};
        for (int i = 0; i < v.length; i++) {
            v[i] = i < special.length ? special[i]
                    : (float) (rnd.nextGaussian() * Math.scalb(1.0, rnd.nextInt(36) - 18));
        }
        Tensor h = cpu.fromFloats(v, 64, 64);
        Tensor d = gpu.transfer(h);
        for (DType dt : new DType[] {DType.F8_E4M3, DType.F8_E5M2, DType.BF16, DType.F16}) {
            float[] expected = cpu.toFloatArray(cpu.to(h, dt));
            float[] actual = gpu.toFloatArray(gpu.to(d, dt));
            assertArrayEquals(expected, actual, 0f, "to(" + dt + ")");
            // a strided view converts the same way
            float[] expectedT = cpu.toFloatArray(cpu.to(h.transpose(0, 1), dt));
            float[] actualT = gpu.toFloatArray(gpu.to(d.transpose(0, 1), dt));
            assertArrayEquals(expectedT, actualT, 0f, "to(" + dt + ") of a transposed view");
        }
    }

    @Test
    void scaledInt8TensorsAreReadByEveryPath() {
        Random rnd = new Random(12);
        int rows = 37;
        int cols = 19;
        byte[] q = new byte[rows * cols];
        rnd.nextBytes(q);
        float[] s = new float[rows];
        for (int i = 0; i < rows; i++) {
            s[i] = 0.01f + rnd.nextFloat() / 64;
        }
        Tensor hq = cpu.wrap(MemorySegment.ofArray(q), DType.I8, rows, cols).withScale(cpu.fromFloats(s, rows));
        Tensor dq = gpu.transfer(hq);
        double tol = GpuTestSupport.tolerance(DType.F32);
        for (DType dt : new DType[] {DType.F32, DType.BF16}) {
            GpuTestSupport.assertClose(cpu.to(hq, dt), gpu.to(dq, dt), tol, "to(" + dt + ") of int8 × scale");
        }
        GpuTestSupport.assertClose(cpu.contiguous(hq), gpu.contiguous(dq), tol, "contiguous of int8 × scale");
        Tensor y = GpuTestSupport.random(cpu, rnd, DType.F32, 1f, rows, cols);
        GpuTestSupport.assertClose(cpu.add(hq, y), gpu.add(dq, gpu.transfer(y)), tol, "add(int8 × scale, y)");
        GpuTestSupport.assertClose(cpu.silu(hq), gpu.silu(dq), tol, "silu(int8 × scale)");
        GpuTestSupport.assertClose(cpu.softmax(hq, -1), gpu.softmax(dq, -1), tol, "softmax(int8 × scale)");
        Tensor ids = cpu.fromInts(new int[] {0, 36, 5, 5, 17}, 5);
        GpuTestSupport.assertClose(cpu.embedding(hq, ids), gpu.embedding(dq, gpu.transfer(ids)), tol,
                "embedding(int8 × scale)");
        // one scale for the whole tensor
        Tensor one = cpu.wrap(MemorySegment.ofArray(q), DType.I8, rows, cols).withScale(cpu.fromFloats(
                new float[] {0.125f}, 1));
        GpuTestSupport.assertClose(cpu.to(one, DType.F32), gpu.to(gpu.transfer(one), DType.F32), tol,
                "to(f32) of int8 × one scale");
    }
}
