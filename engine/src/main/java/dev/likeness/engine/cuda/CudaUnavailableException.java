package dev.likeness.engine.cuda;

/** No usable CUDA on this host: a library is missing, the driver reports no device, or the driver is too old. */
public final class CudaUnavailableException extends RuntimeException {
    public CudaUnavailableException(String message) {
        super(message);
    }

    public CudaUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
