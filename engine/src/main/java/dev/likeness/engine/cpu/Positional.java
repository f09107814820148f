package dev.likeness.engine.cpu;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;

import java.util.List;

/** PLACEHOLDER: kernels being written in parallel; this file is replaced before the first commit. */
final class Positional {
    private Positional() {
    }

    static Tensor rope(CpuBackend b, Tensor x, Tensor cos, Tensor sin) { throw pending(); }
    static List<Tensor> ropeFrequencies(CpuBackend b, Tensor ids, int[] axesDim, double theta) { throw pending(); }
    static Tensor timestepEmbedding(CpuBackend b, Tensor t, int dim, boolean flip, float shift, float scale, int maxPeriod) { throw pending(); }
    private static RuntimeException pending() {
        return new UnsupportedOperationException("pending");
    }
}
