package dev.likeness.engine.cuda;

import dev.likeness.engine.Tensor;

/** conv2d on the GPU. */
final class CudaConv {
    private CudaConv() {
    }

    static Tensor conv2d(CudaBackend b, Tensor x, Tensor w, Tensor bias, int strideH, int strideW, int padH,
                         int padW, int groups) {
        throw new UnsupportedOperationException("TODO(helper gemm)");
    }
}
