package dev.likeness.models;

import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.Checkpoint;
import dev.likeness.engine.safetensors.SafetensorsException;
import dev.likeness.engine.torch.TorchCheckpoint;
import dev.likeness.engine.torch.TorchCheckpointException;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.Function;

/**
 * A model's weights, read by name from a (possibly sharded) safetensors checkpoint or a {@code torch.save} zip
 * checkpoint ({@code .bin}, {@code .pt}, {@code .pth}), with a key prefix, e.g.
 * {@code weights.child("encoder").child("layers.3").get("fc1.weight", 4096, 1024)}. Tensors stay memory-mapped in
 * their stored dtype (the kernels convert in blocks); every shape is checked against what the model's config implies,
 * and a missing tensor or a wrong shape is an error naming the file, the tensor and what was expected
 * ({@link SafetensorsException} for safetensors, {@link TorchCheckpointException} for torch checkpoints).
 */
public final class Weights implements AutoCloseable {
    /** The checkpoint underneath: its names, tensors, and the errors it reports. */
    private interface Source extends AutoCloseable {
        Path path();

        boolean contains(String name);

        Tensor tensor(String name, CpuBackend backend);

        /** The file holding {@code name} (a shard of a sharded checkpoint). */
        Path fileOf(String name);

        RuntimeException error(String message);

        @Override
        void close();
    }

    private record Safetensors(Checkpoint checkpoint) implements Source {
        public Path path() {
            return checkpoint.path();
        }

        public boolean contains(String name) {
            return checkpoint.contains(name);
        }

        public Tensor tensor(String name, CpuBackend backend) {
            return checkpoint.tensor(name, backend);
        }

        public Path fileOf(String name) {
            return checkpoint.shardOf(name);
        }

        public RuntimeException error(String message) {
            return new SafetensorsException(message);
        }

        public void close() {
            checkpoint.close();
        }
    }

    private record Torch(TorchCheckpoint checkpoint) implements Source {
        public Path path() {
            return checkpoint.path();
        }

        public boolean contains(String name) {
            return checkpoint.contains(name);
        }

        public Tensor tensor(String name, CpuBackend backend) {
            return checkpoint.tensor(name, backend);
        }

        public Path fileOf(String name) {
            return checkpoint.path();
        }

        public RuntimeException error(String message) {
            return new TorchCheckpointException(message);
        }

        public void close() {
            checkpoint.close();
        }
    }

    private final Source source;
    private final CpuBackend backend;
    private final String prefix;
    private final boolean owner;

    private Weights(Source source, CpuBackend backend, String prefix, boolean owner) {
        this.source = source;
        this.backend = backend;
        this.prefix = prefix;
        this.owner = owner;
    }

    /**
     * Opens a checkpoint: a directory (safetensors index or single file), an index file, one {@code .safetensors}
     * file, or a {@code torch.save} zip file ({@code .bin}, {@code .pt}, {@code .pth}).
     */
    public static Weights open(Path path, CpuBackend backend) {
        String name = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(Locale.ROOT);
        boolean torch = name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth");
        Function<Path, Source> opener = torch ? p -> new Torch(TorchCheckpoint.open(p))
                : p -> new Safetensors(Checkpoint.open(p));
        return new Weights(opener.apply(path), backend, "", true);
    }

    /** The weights under {@code name + "."}. */
    public Weights child(String name) {
        return new Weights(source, backend, prefix + name + ".", false);
    }

    /** The full key of {@code name} in the checkpoint. */
    public String key(String name) {
        return prefix + name;
    }

    public boolean has(String name) {
        return source.contains(prefix + name);
    }

    /** The tensor {@code prefix + name}, which must have exactly {@code shape}. */
    public Tensor get(String name, int... shape) {
        String k = prefix + name;
        if (!source.contains(k)) {
            throw source.error(source.path() + ": missing tensor '" + k + "' (expected shape "
                    + Arrays.toString(shape) + ")");
        }
        Tensor t = source.tensor(k, backend);
        if (!Arrays.equals(t.shape(), shape)) {
            throw source.error(source.fileOf(k) + ": tensor '" + k + "' has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape));
        }
        if (!t.dtype().isFloatingPoint()) {
            throw source.error(source.fileOf(k) + ": tensor '" + k + "' is " + t.dtype()
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

    /** The checkpoint's path: the file or folder that was opened. */
    public Path path() {
        return source.path();
    }

    /** The safetensors checkpoint underneath; an error for weights over a torch checkpoint. */
    public Checkpoint checkpoint() {
        if (source instanceof Safetensors s) {
            return s.checkpoint();
        }
        throw new IllegalStateException(source.path() + " is a torch checkpoint, not safetensors");
    }

    /** Unmaps the checkpoint (only the weights object returned by {@link #open} owns it). */
    @Override
    public void close() {
        if (owner) {
            source.close();
        }
    }
}
