package dev.likeness.engine;

import dev.likeness.engine.cpu.CpuBackend;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * Weight quantization done once, at load time, on the host.
 *
 * <p>{@link #fp8Rows}: float8 e4m3fn with one f32 scale per output row (per output channel of a linear layer):
 * {@code scale[n] = max|w[n, :]| / 448}, {@code q = e4m3(w / scale)} rounded to nearest even as torch's
 * {@code .to(torch.float8_e4m3fn)}. Half the bytes of bf16; GPUs with fp8 tensor cores (Ada, Hopper) multiply it
 * directly, every backend can read it (value = stored × scale[row]).
 */
public final class Quantize {
    /** The largest finite e4m3fn value. */
    public static final float E4M3_MAX = 448f;

    private Quantize() {
    }

    /**
     * {@code w} [N, K] (any float dtype, any view, on the host) as an F8_E4M3 tensor [N, K] with an F32 scale [N].
     * A row of zeros gets scale 1.
     */
    public static Tensor fp8Rows(CpuBackend host, Tensor w) {
        if (w.dim() != 2) {
            throw new IllegalArgumentException("fp8Rows quantizes a 2-D weight [out, in], got shape "
                    + Arrays.toString(w.shape()));
        }
        if (!w.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("fp8Rows quantizes a floating-point weight, got " + w.dtype());
        }
        int n = w.size(0);
        int k = w.size(1);
        float[] values = host.toFloatArray(w);
        byte[] q = new byte[Math.toIntExact((long) n * k)];
        float[] scales = new float[n];
        IntStream.range(0, n).parallel().forEach(row -> {
            int base = row * k;
            float amax = 0;
            for (int j = 0; j < k; j++) {
                amax = Math.max(amax, Math.abs(values[base + j]));
            }
            float scale = amax > 0 && Float.isFinite(amax) ? amax / E4M3_MAX : 1f;
            scales[row] = scale;
            for (int j = 0; j < k; j++) {
                q[base + j] = Dtypes.f32ToE4M3(values[base + j] / scale);
            }
        });
        Tensor data = host.wrap(MemorySegment.ofArray(q), DType.F8_E4M3, n, k);
        return new Tensor(data.storage(), DType.F8_E4M3, data.shape(), data.strides(), 0, host.fromFloats(scales, n));
    }
}
