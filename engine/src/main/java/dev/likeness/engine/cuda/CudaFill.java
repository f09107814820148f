package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;

/**
 * Tensors filled on the device without a host copy (kernels in {@code random.cu}): the deterministic synthetic draws
 * of the models module's {@code SyntheticWeights} and constants. Benchmarks build full-size models this way (FLUX.1's
 * 12 B parameters are 24 GB in bf16, which would take minutes to build and upload from the host).
 *
 * <p>Element {@code i} (row-major) of {@link #synthetic} is {@code offset + step · k}, where
 * {@code k = (fmix32(i · 0x9E3779B9 + streamSeed) >>> 24) − 128} ∈ [−128, 127], the product and the sum each rounded
 * to f32 once, then stored in the tensor's dtype (round to nearest even). With {@code streamSeed} =
 * {@code SyntheticWeights.streamSeed(name, seed)} and {@code step = (float) (scale / 128)} this is exactly
 * {@code SyntheticWeights.values(name, n, scale, offset, seed)}.
 */
public final class CudaFill {
    private CudaFill() {
    }

    /**
     * A new tensor of {@code shape} in {@code dtype} holding the synthetic draws {@code offset + step · k(i)} of the
     * stream {@code streamSeed}: uniform over 256 levels in [offset − 128·step, offset + 127·step].
     */
    public static Tensor synthetic(CudaBackend b, DType dtype, int streamSeed, float step, float offset,
                                   int... shape) {
        int code = storable(dtype);
        if (!Float.isFinite(step) || !Float.isFinite(offset)) {
            throw new IllegalArgumentException("synthetic fill: step and offset must be finite, got step " + step
                    + ", offset " + offset);
        }
        Tensor out = b.empty(dtype, shape);
        long n = out.numel();
        if (n > 0) {
            b.launch1d("random", "lk_fill_synthetic", n,
                    a -> a.ptr(b.base(out)).i32(code).i64(n).i32(streamSeed).f32(step).f32(offset));
        }
        return out;
    }

    /** A new tensor of {@code shape} in {@code dtype} with every element {@code value} (rounded to the dtype). */
    public static Tensor constant(CudaBackend b, DType dtype, float value, int... shape) {
        int code = storable(dtype);
        Tensor out = b.empty(dtype, shape);
        long n = out.numel();
        if (n > 0) {
            b.launch1d("random", "lk_fill_constant", n, a -> a.ptr(b.base(out)).i32(code).i64(n).f32(value));
        }
        return out;
    }

    /** The kernel dtype code of a float dtype the fills can write. */
    private static int storable(DType dtype) {
        return switch (dtype) {
            case F32, F16, BF16, F8_E4M3 -> CudaDTypes.code(dtype);
            default -> throw new IllegalArgumentException("device fills write f32, f16, bf16 or f8_e4m3 tensors, got "
                    + dtype);
        };
    }
}
