package dev.likeness.engine.cuda;

import dev.likeness.engine.Tensor;

/** linear and matmul on cuBLASLt. */
final class CudaGemm {
    private CudaGemm() {
    }

    static Tensor linear(CudaBackend b, Tensor x, Tensor w, Tensor bias) {
        throw new UnsupportedOperationException("TODO(helper gemm)");
    }

    static Tensor matmul(CudaBackend b, Tensor x, Tensor y) {
        throw new UnsupportedOperationException("TODO(helper gemm)");
    }
}
