package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;

/** The dtype codes kernels take ({@code LK_F32} ... in {@code common.cuh}). */
public final class CudaDTypes {
    public static final int F32 = 0;
    public static final int F16 = 1;
    public static final int BF16 = 2;
    public static final int F8_E4M3 = 3;
    public static final int F8_E5M2 = 4;
    public static final int I32 = 5;
    public static final int I64 = 6;

    private CudaDTypes() {
    }

    /** The kernel code of {@code dtype}; dtypes kernels cannot read are named in the exception. */
    public static int code(DType dtype) {
        return switch (dtype) {
            case F32 -> F32;
            case F16 -> F16;
            case BF16 -> BF16;
            case F8_E4M3 -> F8_E4M3;
            case F8_E5M2 -> F8_E5M2;
            case I32 -> I32;
            case I64 -> I64;
            default -> throw new IllegalArgumentException("CUDA kernels do not read " + dtype
                    + " tensors (f32, f16, bf16, f8_e4m3, f8_e5m2, i32, i64)");
        };
    }
}
