package dev.likeness.engine.cpu;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;

import java.util.List;

/** PLACEHOLDER: kernels being written in parallel; this file is replaced before the first commit. */
final class Activations {
    private Activations() {
    }

    static Tensor gelu(CpuBackend b, Tensor x, boolean tanh) { throw pending(); }
    static Tensor quickGelu(CpuBackend b, Tensor x) { throw pending(); }
    static Tensor silu(CpuBackend b, Tensor x) { throw pending(); }
    private static RuntimeException pending() {
        return new UnsupportedOperationException("pending");
    }
}
