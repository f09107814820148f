package dev.likeness.engine.cuda;

/** Java bindings (FFM) to cuBLASLt. */
public final class CublasLt implements AutoCloseable {
    private CublasLt() {
    }

    static CublasLt create(CudaBackend backend) {
        throw new UnsupportedOperationException("TODO(helper gemm)");
    }

    @Override
    public void close() {
    }
}
