package dev.likeness.engine.cuda;

import dev.likeness.engine.Tensor;

import java.util.List;

/** Elementwise, broadcasting, positional and gather ops on the GPU (kernels in elementwise.cu). */
final class CudaElementwise {
    static final int ADD = 0;
    static final int SUB = 1;
    static final int MUL = 2;
    static final int DIV = 3;

    static final int GELU = 0;
    static final int GELU_TANH = 1;
    static final int QUICK_GELU = 2;
    static final int SILU = 3;
    static final int SQRT = 4;

    private CudaElementwise() {
    }

    static Tensor binary(CudaBackend b, int op, Tensor x, Tensor y) {
        throw new UnsupportedOperationException("TODO(helper elementwise)");
    }

    static Tensor affine(CudaBackend b, Tensor x, float s, float t) {
        throw new UnsupportedOperationException("TODO(helper elementwise)");
    }

    static Tensor unary(CudaBackend b, int op, Tensor x) {
        throw new UnsupportedOperationException("TODO(helper elementwise)");
    }

    static Tensor rope(CudaBackend b, Tensor x, Tensor cos, Tensor sin) {
        throw new UnsupportedOperationException("TODO(helper elementwise)");
    }

    static Tensor upsampleNearest(CudaBackend b, Tensor x, int outH, int outW) {
        throw new UnsupportedOperationException("TODO(helper elementwise)");
    }

    static Tensor cat(CudaBackend b, int dim, List<Tensor> tensors) {
        throw new UnsupportedOperationException("TODO(helper elementwise)");
    }

    static Tensor embedding(CudaBackend b, Tensor weight, Tensor ids) {
        throw new UnsupportedOperationException("TODO(helper elementwise)");
    }
}
