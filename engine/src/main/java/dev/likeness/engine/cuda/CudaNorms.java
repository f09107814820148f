package dev.likeness.engine.cuda;

import dev.likeness.engine.Tensor;

/** Normalizations, softmax and reductions on the GPU (kernels in norms.cu). */
final class CudaNorms {
    private CudaNorms() {
    }

    static Tensor layerNorm(CudaBackend b, Tensor x, Tensor weight, Tensor bias, float eps) {
        throw new UnsupportedOperationException("TODO(helper norms)");
    }

    static Tensor rmsNorm(CudaBackend b, Tensor x, Tensor weight, float eps) {
        throw new UnsupportedOperationException("TODO(helper norms)");
    }

    static Tensor groupNorm(CudaBackend b, Tensor x, int groups, Tensor weight, Tensor bias, float eps) {
        throw new UnsupportedOperationException("TODO(helper norms)");
    }

    static Tensor softmax(CudaBackend b, Tensor x, int dim) {
        throw new UnsupportedOperationException("TODO(helper norms)");
    }

    static Tensor mean(CudaBackend b, Tensor x, int dim, boolean keepDim) {
        throw new UnsupportedOperationException("TODO(helper norms)");
    }

    static Tensor var(CudaBackend b, Tensor x, int dim, int correction, boolean keepDim) {
        throw new UnsupportedOperationException("TODO(helper norms)");
    }
}
