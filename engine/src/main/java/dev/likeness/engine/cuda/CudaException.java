package dev.likeness.engine.cuda;

/** A CUDA library call returned an error: the call, the library's status code and its name. */
public final class CudaException extends RuntimeException {
    private final int status;

    public CudaException(String call, int status, String statusName) {
        super(call + " failed: " + statusName + " (" + status + ")");
        this.status = status;
    }

    /** The library's status code (CUresult, nvrtcResult, cublasStatus_t). */
    public int status() {
        return status;
    }
}
