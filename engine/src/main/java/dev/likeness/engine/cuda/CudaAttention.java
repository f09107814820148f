package dev.likeness.engine.cuda;

import dev.likeness.engine.Tensor;

/** Fused flash attention on the GPU. */
final class CudaAttention {
    private CudaAttention() {
    }

    static Tensor attention(CudaBackend b, Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        throw new UnsupportedOperationException("TODO(helper attention)");
    }
}
