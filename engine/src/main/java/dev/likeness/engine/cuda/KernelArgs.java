package dev.likeness.engine.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The {@code void** kernelParams} of a launch: each argument is written to its own slot, in the order of the
 * kernel's C signature, and the array holds their addresses. Device pointers are {@link #ptr}, C {@code int} is
 * {@link #i32}, {@code long long} is {@link #i64}, {@code float} is {@link #f32}; a struct passed by value is
 * {@link #struct} with its bytes laid out as the C compiler does (see {@link StridedLayout}).
 */
public final class KernelArgs {
    private final Arena arena;
    private final List<MemorySegment> slots = new ArrayList<>();

    /** Arguments allocated in {@code arena}, which must stay open until the launch call returns. */
    public KernelArgs(Arena arena) {
        this.arena = arena;
    }

    /** A device pointer: a 64-bit value, as {@link #i64}. */
    public KernelArgs ptr(long devicePointer) {
        return i64(devicePointer);
    }

    public KernelArgs i32(int v) {
        MemorySegment s = arena.allocate(JAVA_INT);
        s.set(JAVA_INT, 0, v);
        slots.add(s);
        return this;
    }

    public KernelArgs i64(long v) {
        MemorySegment s = arena.allocate(JAVA_LONG);
        s.set(JAVA_LONG, 0, v);
        slots.add(s);
        return this;
    }

    public KernelArgs f32(float v) {
        MemorySegment s = arena.allocate(JAVA_FLOAT);
        s.set(JAVA_FLOAT, 0, v);
        slots.add(s);
        return this;
    }

    /** A struct by value: {@code bytes} must match the C struct's size and layout (8-byte aligned here). */
    public KernelArgs struct(MemorySegment bytes) {
        MemorySegment s = arena.allocate(bytes.byteSize(), 8);
        s.copyFrom(bytes);
        slots.add(s);
        return this;
    }

    /** The arena the arguments live in (for building struct arguments). */
    public Arena arena() {
        return arena;
    }

    public int count() {
        return slots.size();
    }

    /** The {@code void*[]} to pass to {@code cuLaunchKernel}. */
    public MemorySegment array() {
        MemorySegment a = arena.allocate(ADDRESS, Math.max(1, slots.size()));
        for (int i = 0; i < slots.size(); i++) {
            a.setAtIndex(ADDRESS, i, slots.get(i));
        }
        return a;
    }

    /** The argument slots (tests read them back). */
    List<MemorySegment> slots() {
        return slots;
    }
}
