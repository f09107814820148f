package dev.likeness.engine.cpu;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Storage;

import java.lang.foreign.MemorySegment;

/**
 * Host memory: either a Java {@code float[]} (every f32 tensor the CPU backend computes: the vector kernels are
 * fastest on arrays) or a {@link MemorySegment} in any dtype (a memory-mapped safetensors file, an off-heap buffer,
 * or a heap segment over a {@code short[]} / {@code byte[]}).
 */
public final class CpuStorage implements Storage {
    private final Backend backend;
    private final float[] floats;
    private final MemorySegment segment;

    private CpuStorage(Backend backend, float[] floats, MemorySegment segment) {
        this.backend = backend;
        this.floats = floats;
        this.segment = segment;
    }

    public static CpuStorage ofFloats(Backend backend, float[] data) {
        return new CpuStorage(backend, data, null);
    }

    public static CpuStorage ofSegment(Backend backend, MemorySegment segment) {
        return new CpuStorage(backend, null, segment);
    }

    /** The backing array of an f32 heap storage, or null. */
    public float[] floats() {
        return floats;
    }

    /** The backing segment of a segment storage, or null. */
    public MemorySegment segment() {
        return segment;
    }

    @Override
    public Backend backend() {
        return backend;
    }

    @Override
    public long byteSize() {
        return floats != null ? 4L * floats.length : segment.byteSize();
    }
}
