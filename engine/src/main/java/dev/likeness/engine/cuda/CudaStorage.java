package dev.likeness.engine.cuda;

import dev.likeness.engine.Storage;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Device memory of one allocation. Freed (stream-ordered, back into the pool) when {@link #release()} is called or
 * when the storage becomes unreachable, whichever comes first.
 */
public final class CudaStorage implements Storage {
    private static final Cleaner CLEANER = Cleaner.create();

    private final CudaBackend backend;
    private final long pointer;
    private final long bytes;
    private final Freer freer;
    private final Cleaner.Cleanable cleanable;

    CudaStorage(CudaBackend backend, long pointer, long bytes) {
        this.backend = backend;
        this.pointer = pointer;
        this.bytes = bytes;
        this.freer = new Freer(backend, pointer, bytes);
        this.cleanable = CLEANER.register(this, freer);
    }

    /** The device address of byte 0. */
    public long pointer() {
        if (freer.done.get()) {
            throw new IllegalStateException("device memory of " + bytes + " bytes was already released");
        }
        return pointer;
    }

    @Override
    public CudaBackend backend() {
        return backend;
    }

    @Override
    public long byteSize() {
        return bytes;
    }

    @Override
    public void release() {
        cleanable.clean();
    }

    /** The free action; holds no reference to the storage object. */
    private static final class Freer implements Runnable {
        private final CudaBackend backend;
        private final long pointer;
        private final long bytes;
        private final AtomicBoolean done = new AtomicBoolean();

        Freer(CudaBackend backend, long pointer, long bytes) {
            this.backend = backend;
            this.pointer = pointer;
            this.bytes = bytes;
        }

        @Override
        public void run() {
            if (done.compareAndSet(false, true)) {
                backend.free(pointer, bytes);
            }
        }
    }
}
