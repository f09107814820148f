package dev.likeness.engine.torch;

import dev.likeness.engine.DType;
import dev.likeness.engine.MappedFile;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cpu.CpuStorage;
import dev.likeness.engine.torch.RestrictedUnpickler.StorageRef;
import dev.likeness.engine.torch.RestrictedUnpickler.TensorRef;
import dev.likeness.engine.torch.RestrictedUnpickler.Tuple;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A PyTorch checkpoint written by {@code torch.save} in its zip format (the default since PyTorch 1.6; the
 * InstantCharacter adapter {@code instantcharacter_ip-adapter.bin} is one), read without running any Python.
 *
 * <p>The archive holds {@code <name>/data.pkl}, a pickle of the saved object in which every tensor is a call
 * {@code torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)} whose storage is a persistent id
 * {@code ('storage', torch.BFloat16Storage, key, location, numel)}, and one STORED record {@code <name>/data/<key>}
 * per storage holding its raw little-endian elements. The file is memory-mapped whole; the pickle is read by
 * {@link RestrictedUnpickler}, which refuses every global but plain containers, the tensor rebuild functions and
 * storage classes. Tensors are zero-copy strided views of their storage records (dtype, shape, strides and storage
 * offset as saved; several tensors may share one storage), valid until {@link #close()}.
 *
 * <p>Nested dicts, OrderedDicts, lists and tuples are flattened to dotted names in pickle order:
 * {@code {"ip_adapter": {"0.to_k_ip.weight": t}}} gives {@code ip_adapter.0.to_k_ip.weight}, list items are named by
 * their index. Non-tensor leaves (an epoch number, a note) are not tensors and are left out. The location a tensor
 * was saved from ({@code cpu}, {@code cuda:0}) is ignored: everything is read to the CPU.
 *
 * <p>The legacy pre-1.6 format (a bare pickle stream followed by the storages) is refused with a message saying so.
 * Errors are {@link TorchCheckpointException}s naming the file and, where there is one, the tensor.
 */
public final class TorchCheckpoint implements AutoCloseable {
    private final Path path;
    private final Arena arena;
    private final StoredZip zip;
    /** The record folder inside the archive, e.g. {@code "archive/"}. */
    private final String prefix;
    private final Map<String, TensorRef> tensors;
    private volatile boolean closed;

    private TorchCheckpoint(Path path, Arena arena, StoredZip zip, String prefix, Map<String, TensorRef> tensors) {
        this.path = path;
        this.arena = arena;
        this.zip = zip;
        this.prefix = prefix;
        this.tensors = tensors;
    }

    /** Maps {@code path} and reads its pickle; no tensor data is touched until asked for. */
    public static TorchCheckpoint open(Path path) {
        return MappedFile.open(path, (arena, file) -> read(path, arena, file), TorchCheckpointException::new);
    }

    private static TorchCheckpoint read(Path path, Arena arena, MemorySegment file) {
        refuseLegacy(path, file);
        StoredZip zip = StoredZip.read(path, file);
        List<String> pickles = zip.names().stream()
                .filter(n -> n.endsWith("/data.pkl") && n.indexOf('/') == n.length() - "/data.pkl".length())
                .toList();
        if (pickles.size() != 1) {
            throw new TorchCheckpointException(path + ": expected one '<name>/data.pkl' record in the archive, found "
                    + (pickles.isEmpty() ? "none (not a torch.save checkpoint?)" : pickles));
        }
        String pkl = pickles.get(0);
        String prefix = pkl.substring(0, pkl.length() - "data.pkl".length());
        String order = prefix + "byteorder";
        if (zip.contains(order)) {
            String bo = new String(zip.data(order).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII).strip();
            if (!bo.equals("little")) {
                throw new TorchCheckpointException(path + ": saved with byte order '" + bo
                        + "'; only little-endian checkpoints are read");
            }
        }
        Object root = RestrictedUnpickler.load(path + " (" + pkl + ")", zip.data(pkl));
        Map<String, TensorRef> tensors = new LinkedHashMap<>();
        flatten(path, "", root, tensors);
        return new TorchCheckpoint(path, arena, zip, prefix, Collections.unmodifiableMap(tensors));
    }

    /** The legacy formats start with a pickle (protocol 2) or are tar archives; neither is a zip. */
    private static void refuseLegacy(Path path, MemorySegment file) {
        long size = file.byteSize();
        if (size >= 2 && Byte.toUnsignedInt(file.get(ValueLayout.JAVA_BYTE, 0)) == 0x80) {
            throw new TorchCheckpointException(path + ": a legacy (pre-1.6, non-zip) torch.save file; re-save it "
                    + "with a current torch.save (zip format) or convert it to safetensors");
        }
        if (size >= 262 && new String(file.asSlice(257, 5).toArray(ValueLayout.JAVA_BYTE),
                StandardCharsets.US_ASCII).equals("ustar")) {
            throw new TorchCheckpointException(path + ": a legacy tar-format torch.save file; re-save it with a "
                    + "current torch.save (zip format) or convert it to safetensors");
        }
    }

    private static void flatten(Path path, String name, Object value, Map<String, TensorRef> out) {
        if (value instanceof TensorRef t) {
            if (out.put(name, t) != null) {
                throw new TorchCheckpointException(path + ": two tensors flatten to the name '" + name + "'");
            }
        } else if (value instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) {
                flatten(path, join(name, String.valueOf(e.getKey())), e.getValue(), out);
            }
        } else if (value instanceof List<?> l) {
            for (int i = 0; i < l.size(); i++) {
                flatten(path, join(name, Integer.toString(i)), l.get(i), out);
            }
        } else if (value instanceof Tuple t) {
            flatten(path, name, t.items(), out);
        }
    }

    private static String join(String prefix, String key) {
        return prefix.isEmpty() ? key : prefix + "." + key;
    }

    public Path path() {
        return path;
    }

    /** Every tensor name (dotted), in pickle order. */
    public Set<String> names() {
        return tensors.keySet();
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    private TensorRef ref(String name) {
        TensorRef t = tensors.get(name);
        if (t == null) {
            throw new TorchCheckpointException(path + ": no tensor named '" + name + "' (the checkpoint has "
                    + tensors.size() + " tensors" + (tensors.isEmpty() ? "" : ", e.g. '"
                    + tensors.keySet().iterator().next() + "'") + ")");
        }
        return t;
    }

    /** The stored dtype of {@code name}. */
    public DType dtype(String name) {
        return ref(name).storage().dtype();
    }

    /** The shape of {@code name}. */
    public int[] shape(String name) {
        return shapeOf(name, ref(name));
    }

    private int[] shapeOf(String name, TensorRef t) {
        int[] shape = new int[t.size().length];
        for (int i = 0; i < shape.length; i++) {
            long s = t.size()[i];
            if (s < 0 || s > Integer.MAX_VALUE) {
                throw new TorchCheckpointException(path + ": tensor '" + name + "': size " + Arrays.toString(t.size())
                        + " has a dimension outside 0.." + Integer.MAX_VALUE);
            }
            shape[i] = (int) s;
        }
        return shape;
    }

    /**
     * A zero-copy view of tensor {@code name} over its storage record, in the stored dtype, shape, strides and
     * storage offset. The view is checked to lie inside the storage, and the storage inside its record.
     */
    public Tensor tensor(String name, CpuBackend backend) {
        TensorRef t = ref(name);
        if (closed) {
            throw new TorchCheckpointException(path + ": tensor '" + name + "' asked for after the checkpoint was "
                    + "closed");
        }
        StorageRef s = t.storage();
        int[] shape = shapeOf(name, t);
        String record = prefix + "data/" + s.key();
        if (!zip.contains(record)) {
            throw new TorchCheckpointException(path + ": tensor '" + name + "': its storage record '" + record
                    + "' is missing from the archive");
        }
        MemorySegment data = zip.data(record);
        long bytes = Math.multiplyExact(s.numel(), (long) s.dtype().byteSize());
        if (data.byteSize() < bytes) {
            throw new TorchCheckpointException(path + ": tensor '" + name + "': storage '" + record + "' should hold "
                    + s.numel() + " " + s.dtype().safetensorsName() + " elements (" + bytes + " bytes) but has " + data.byteSize()
                    + " bytes");
        }
        long last = t.offset();
        boolean empty = false;
        for (int i = 0; i < shape.length; i++) {
            if (t.stride()[i] < 0) {
                throw new TorchCheckpointException(path + ": tensor '" + name + "': negative stride in "
                        + Arrays.toString(t.stride()));
            }
            empty |= shape[i] == 0;
            last += (shape[i] - 1L) * t.stride()[i];
        }
        if (t.offset() < 0 || (!empty && last >= s.numel())) {
            throw new TorchCheckpointException(path + ": tensor '" + name + "': size " + Arrays.toString(shape)
                    + ", stride " + Arrays.toString(t.stride()) + " at offset " + t.offset() + " reaches element "
                    + last + " of a storage of " + s.numel());
        }
        CpuStorage storage = CpuStorage.ofSegment(backend, data.asSlice(0, bytes));
        return new Tensor(storage, s.dtype(), shape, t.stride(), t.offset(), null);
    }

    /**
     * Like {@link #tensor(String, CpuBackend)}, checking the shape the model expects (and the dtype if
     * {@code dtype} is non-null); a mismatch is an error naming the file and the tensor.
     */
    public Tensor tensor(String name, CpuBackend backend, DType dtype, int... shape) {
        TensorRef t = ref(name);
        int[] actual = shapeOf(name, t);
        if (dtype != null && t.storage().dtype() != dtype) {
            throw new TorchCheckpointException(path + ": tensor '" + name + "' is "
                    + t.storage().dtype().safetensorsName() + Arrays.toString(actual) + ", expected "
                    + dtype.safetensorsName());
        }
        if (!Arrays.equals(actual, shape)) {
            throw new TorchCheckpointException(path + ": tensor '" + name + "' has shape " + Arrays.toString(actual)
                    + ", expected " + Arrays.toString(shape));
        }
        return tensor(name, backend);
    }

    /** Unmaps the file (idempotent); tensors obtained from the checkpoint must not be used afterwards. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "TorchCheckpoint(" + path + ", " + tensors.size() + " tensors)";
    }
}
