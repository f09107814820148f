package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Quantize;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.Checkpoint;
import dev.likeness.engine.safetensors.SafetensorsException;
import dev.likeness.engine.torch.TorchCheckpoint;
import dev.likeness.engine.torch.TorchCheckpointException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Callable;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * A model's weights, read by name from a (possibly sharded) safetensors checkpoint or a {@code torch.save} zip
 * checkpoint ({@code .bin}, {@code .pt}, {@code .pth}), with a key prefix, e.g.
 * {@code weights.child("encoder").child("layers.3").get("fc1.weight", 4096, 1024)}. Tensors stay memory-mapped in
 * their stored dtype (the kernels convert in blocks); every shape is checked against what the model's config implies,
 * and a missing tensor or a wrong shape is an error naming the file, the tensor and what was expected
 * ({@link SafetensorsException} for safetensors, {@link TorchCheckpointException} for torch checkpoints).
 *
 * <p>The tensors are read on the host (a {@link CpuBackend}: memory-mapped views) and handed out on the target
 * backend the weights were opened for: on a CPU backend the mapped views themselves; on another backend (a GPU)
 * each tensor is transferred once, in its stored dtype (bf16 stays bf16), and the copy is kept, so asking again
 * does not upload again. Closing the weights that {@link #open} returned releases those copies.
 */
public final class Weights implements AutoCloseable {
    /** Set while {@link #audit} runs: where problems are collected instead of thrown. */
    private static final ScopedValue<Audit> AUDIT = ScopedValue.newInstance();

    /**
     * What an {@link #audit} found: every missing, mis-shaped or non-floating tensor (each naming the file, the tensor
     * and what was expected) and, per checkpoint, the tensors the model never asked for.
     */
    public static final class Audit {
        private final List<String> problems = Collections.synchronizedList(new ArrayList<>());
        private final List<String> unused = Collections.synchronizedList(new ArrayList<>());
        private final List<Weights> opened = Collections.synchronizedList(new ArrayList<>());

        public List<String> problems() {
            return List.copyOf(problems);
        }

        /** One line per checkpoint that holds tensors the model does not use (a hint of a wrong file). */
        public List<String> unused() {
            return List.copyOf(unused);
        }

        /** Records an error that stopped a model from being checked further. */
        public void problem(String message) {
            problems.add(message);
        }
    }

    /**
     * Runs {@code load} (which opens and binds models as usual) in audit mode: a missing, mis-shaped or non-floating
     * tensor is recorded in {@code audit} and replaced by a zero placeholder of the expected shape (no memory: a
     * broadcast view) so the model goes on binding and every problem is found, not just the first. For checking
     * weight folders only: the placeholders are not weights.
     */
    public static <T> T audit(Audit audit, Callable<T> load) throws Exception {
        try {
            return ScopedValue.where(AUDIT, audit).call(load::call);
        } finally {
            synchronized (audit.opened) {
                for (Weights w : audit.opened) {
                    w.reportUnused(audit);
                }
                audit.opened.clear();
            }
        }
    }

    /** The checkpoint underneath: its names, tensors, and the errors it reports. */
    private interface Source extends AutoCloseable {
        Path path();

        Set<String> names();

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

        public Set<String> names() {
            return checkpoint.names();
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

        public Set<String> names() {
            return checkpoint.names();
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
    /** Where the checkpoint's tensors are read: memory-mapped host views. */
    private final CpuBackend host;
    /** Where the model runs: the tensors {@link #get} returns live there. */
    private final Backend target;
    /** Whether {@link #host} was made here for a non-CPU target (closed with the owning weights). */
    private final boolean ownsHost;
    private final String prefix;
    private final boolean owner;
    /** The full keys asked for, shared by a checkpoint's children; only kept in audit mode. */
    private final Set<String> used;
    /** Full key → the tensor on {@link #target}, shared by a checkpoint's children; null when target is the host
     * and nothing is quantized. */
    private final Map<String, Tensor> onTarget;
    /** Full keys of the 2-D weights to quantize to fp8 at load ({@link Quantize#fp8Rows}); null: none. */
    private final Predicate<String> fp8;

    private Weights(Source source, CpuBackend host, Backend target, boolean ownsHost, String prefix, boolean owner,
                    Set<String> used, Map<String, Tensor> onTarget, Predicate<String> fp8) {
        this.source = source;
        this.host = host;
        this.target = target;
        this.ownsHost = ownsHost;
        this.prefix = prefix;
        this.owner = owner;
        this.used = used;
        this.onTarget = onTarget;
        this.fp8 = fp8;
    }

    /**
     * Opens a checkpoint: a directory (safetensors index or single file), an index file, one {@code .safetensors}
     * file, or a {@code torch.save} zip file ({@code .bin}, {@code .pt}, {@code .pth}). The tensors are handed out
     * on {@code backend}: mapped views on a {@link CpuBackend}, copies made once on any other backend.
     */
    public static Weights open(Path path, Backend backend) {
        return open(path, backend, null);
    }

    /**
     * {@link #open(Path, Backend)}, quantizing the 2-D floating weights whose full key {@code fp8} accepts to float8
     * e4m3 with per-row scales as they are read ({@link Quantize#fp8Rows}: on the host, before any upload, so the
     * target only ever holds the fp8 copy). Weights already stored in an 8-bit dtype are left as they are.
     */
    public static Weights open(Path path, Backend backend, Predicate<String> fp8) {
        String name = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(Locale.ROOT);
        boolean torch = name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth");
        Function<Path, Source> opener = torch ? p -> new Torch(TorchCheckpoint.open(p))
                : p -> new Safetensors(Checkpoint.open(p));
        Audit audit = AUDIT.isBound() ? AUDIT.get() : null;
        Source source = opener.apply(path);
        boolean onHost = backend instanceof CpuBackend;
        CpuBackend host = onHost ? (CpuBackend) backend : new CpuBackend(1);
        Weights w = new Weights(source, host, backend, !onHost, "", true,
                audit == null ? null : Collections.synchronizedSet(new LinkedHashSet<>()),
                onHost && fp8 == null ? null : new ConcurrentHashMap<>(), fp8);
        if (audit != null) {
            audit.opened.add(w);
        }
        return w;
    }

    /** The weights under {@code name + "."}. */
    public Weights child(String name) {
        return new Weights(source, host, target, false, prefix + name + ".", false, used, onTarget, fp8);
    }

    /** The full key of {@code name} in the checkpoint. */
    public String key(String name) {
        return prefix + name;
    }

    public boolean has(String name) {
        if (used != null) {
            used.add(prefix + name);
        }
        return source.contains(prefix + name);
    }

    /** The tensor {@code prefix + name}, which must have exactly {@code shape}. */
    public Tensor get(String name, int... shape) {
        String k = prefix + name;
        if (used != null) {
            used.add(k);
        }
        if (!source.contains(k)) {
            return fail(source.path() + ": missing tensor '" + k + "' (expected shape " + Arrays.toString(shape)
                    + ")", shape);
        }
        if (onTarget != null) {
            Tensor cached = onTarget.get(k);
            if (cached != null) {
                return checked(k, cached, shape);
            }
        }
        Tensor read = source.tensor(k, host);
        Tensor checked = checked(k, read, shape);
        if (checked != read) {
            return checked;
        }
        if (onTarget == null) {
            return quantized(k, read);
        }
        // moved once, in its stored dtype (or quantized first); concurrent first requests keep one copy
        return onTarget.computeIfAbsent(k, key -> target.transfer(quantized(key, read)));
    }

    /** {@code t}, or its fp8 quantization when the weights were opened to quantize {@code key}. */
    private Tensor quantized(String key, Tensor t) {
        if (fp8 == null || t.dim() != 2 || t.dtype().byteSize() == 1 || !fp8.test(key)) {
            return t;
        }
        return Quantize.fp8Rows(host, t);
    }

    /** {@code t} when it has {@code shape} and a floating dtype; else the failure (or audit placeholder). */
    private Tensor checked(String k, Tensor t, int[] shape) {
        if (!Arrays.equals(t.shape(), shape)) {
            return fail(source.fileOf(k) + ": tensor '" + k + "' has shape " + Arrays.toString(t.shape())
                    + ", expected " + Arrays.toString(shape), shape);
        }
        if (!t.dtype().isFloatingPoint()) {
            return fail(source.fileOf(k) + ": tensor '" + k + "' is " + t.dtype()
                    + ", expected a floating-point dtype", shape);
        }
        return t;
    }

    /** Throws, or in audit mode records the problem and returns a zero placeholder of {@code shape}. */
    private Tensor fail(String message, int[] shape) {
        if (!AUDIT.isBound()) {
            throw source.error(message);
        }
        AUDIT.get().problems.add(message);
        int[] ones = new int[shape.length];
        Arrays.fill(ones, 1);
        return target.zeros(dev.likeness.engine.DType.F32, ones).expand(shape);
    }

    private void reportUnused(Audit audit) {
        Set<String> left = new TreeSet<>(source.names());
        left.removeAll(used);
        if (!left.isEmpty()) {
            audit.unused.add(source.path() + ": " + left.size() + " tensor(s) the model does not use, e.g. '"
                    + left.iterator().next() + "'");
        }
    }

    /** Like {@link #get} but null when the checkpoint has no such tensor (an optional bias). */
    public Tensor optional(String name, int... shape) {
        return has(name) ? get(name, shape) : null;
    }

    /** The backend the tensors are handed out on (the one the model runs on). */
    public Backend backend() {
        return target;
    }

    /** The host backend the checkpoint is read with (the target itself when that is a CPU backend). */
    public CpuBackend host() {
        return host;
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
            if (onTarget != null) {
                // the model that owned these weights is closed: give its device copies back now, not at GC
                for (Tensor t : onTarget.values()) {
                    t.storage().release();
                }
                onTarget.clear();
            }
            source.close();
            if (ownsHost) {
                host.close();
            }
        }
    }
}
