package dev.likeness.models;

import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.Checkpoint;
import dev.likeness.engine.safetensors.SafetensorsException;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * A model's weights, read by name from a (possibly sharded) safetensors checkpoint with a key prefix, e.g.
 * {@code weights.child("encoder").child("layers.3").get("fc1.weight", 4096, 1024)}. Tensors stay memory-mapped in
 * their stored dtype (the kernels convert in blocks); every shape is checked against what the model's config implies,
 * and a missing tensor or a wrong shape is an error naming the file, the tensor and what was expected.
 */
public final class Weights implements AutoCloseable {
    private final Checkpoint checkpoint;
    private final CpuBackend backend;
    private final String prefix;
    private final boolean owner;

    private Weights(Checkpoint checkpoint, CpuBackend backend, String prefix, boolean owner) {
        this.checkpoint = checkpoint;
        this.backend = backend;
        this.prefix = prefix;
        this.owner = owner;
    }

    /** Opens a checkpoint: a directory (index or single file), an index file, or one {@code .safetensors} file. */
    public static Weights open(Path path, CpuBackend backend) {
        return new Weights(Checkpoint.open(path), backend, "", true);
    }

    /** The weights under {@code name + "."}. */
    public Weights child(String name) {
        return new Weights(checkpoint, backend, prefix + name + ".", false);
    }

    /** The full key of {@code name} in the checkpoint. */
    public String key(String name) {
        return prefix + name;
    }

    public boolean has(String name) {
        return checkpoint.contains(prefix + name);
    }

    /** The tensor {@code prefix + name}, which must have exactly {@code shape}. */
    public Tensor get(String name, int... shape) {
        String k = prefix + name;
        if (!checkpoint.contains(k)) {
            throw new SafetensorsException(checkpoint.path() + ": missing tensor '" + k + "' (expected shape "
                    + Arrays.toString(shape) + ")");
        }
        Tensor t = checkpoint.tensor(k, backend);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new SafetensorsException(checkpoint.shardOf(k) + ": tensor '" + k + "' has shape "
                    + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(shape));
        }
        if (!t.dtype().isFloatingPoint()) {
            throw new SafetensorsException(checkpoint.shardOf(k) + ": tensor '" + k + "' is " + t.dtype()
                    + ", expected a floating-point dtype");
        }
        return t;
    }

    /** Like {@link #get} but null when the checkpoint has no such tensor (an optional bias). */
    public Tensor optional(String name, int... shape) {
        return has(name) ? get(name, shape) : null;
    }

    public CpuBackend backend() {
        return backend;
    }

    public Checkpoint checkpoint() {
        return checkpoint;
    }

    /** Unmaps the checkpoint (only the weights object returned by {@link #open} owns it). */
    @Override
    public void close() {
        if (owner) {
            checkpoint.close();
        }
    }
}
