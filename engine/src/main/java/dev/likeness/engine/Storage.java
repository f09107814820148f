package dev.likeness.engine;

/**
 * The memory behind one or more tensors: a Java array, a host {@link java.lang.foreign.MemorySegment}
 * (possibly a memory-mapped file), or — in the CUDA backend — device memory. Views share one storage.
 */
public interface Storage {
    /** The backend whose kernels can read this storage directly. */
    Backend backend();

    /** Size in bytes. */
    long byteSize();

    /** Releases what can be released early (device memory); a no-op for garbage-collected host memory. */
    default void release() {
    }
}
