package dev.likeness.engine.torch;

import dev.likeness.engine.DType;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A pickle reader (protocols 2 to 5, the binary opcodes of Python's {@code pickletools}) that builds plain data
 * and nothing else: it is the Java counterpart of {@code torch.load(..., weights_only=True)}.
 *
 * <p>Values become Java objects: {@code None} → null, bool → {@link Boolean}, int → {@link Long}, float →
 * {@link Double}, str → {@link String}, bytes → {@code byte[]}, list → {@link ArrayList}, tuple → {@link Tuple},
 * dict and {@code collections.OrderedDict} → {@link LinkedHashMap} (insertion order kept).
 *
 * <p>The only globals accepted are {@code collections.OrderedDict}, {@code torch._utils._rebuild_tensor_v2},
 * {@code torch._utils._rebuild_parameter} (and {@code _rebuild_parameter_with_state}), the typed storage classes
 * {@code torch.FloatStorage}, {@code torch.BFloat16Storage}, ... with {@code torch.UntypedStorage}, and the torch
 * dtypes ({@code torch.float32}, ...). Any other global ({@code os.system}, {@code builtins.eval}, a model class)
 * is refused when the {@code GLOBAL} opcode names it, before anything could be called; so are the opcodes that
 * instantiate classes ({@code NEWOBJ}, {@code INST}, {@code OBJ}) or use the copyreg extension registry. Calls
 * ({@code REDUCE}) are interpreted, never executed: an OrderedDict call makes an empty map, a rebuild call makes a
 * {@link TensorRef}. The persistent ids {@code ('storage', storage class, key, location, numel)} of torch's zip
 * format become {@link StorageRef}s.
 */
final class RestrictedUnpickler {

    /** A Python tuple. */
    record Tuple(List<Object> items) {
        Tuple {
            items = Collections.unmodifiableList(new ArrayList<>(items)); // None items are nulls
        }

        Object get(int i) {
            return items.get(i);
        }

        int size() {
            return items.size();
        }
    }

    /** An allowed global, named by module and qualified name. */
    record Global(String module, String name) {
        @Override
        public String toString() {
            return module + "." + name;
        }
    }

    /** A storage record: {@code data/<key>} of the archive, {@code numel} elements of {@code dtype}. */
    record StorageRef(String key, DType dtype, long numel) {
    }

    /** A tensor: a strided view of a storage (sizes, strides and offset in elements). */
    record TensorRef(StorageRef storage, long offset, long[] size, long[] stride) {
    }

    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong F64_BITS = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** torch.<Name>Storage → engine dtype (the classes torch's zip format names in persistent ids). */
    private static final Map<String, DType> STORAGES = Map.ofEntries(
            Map.entry("DoubleStorage", DType.F64), Map.entry("FloatStorage", DType.F32),
            Map.entry("HalfStorage", DType.F16), Map.entry("BFloat16Storage", DType.BF16),
            Map.entry("Float8_e4m3fnStorage", DType.F8_E4M3), Map.entry("Float8_e5m2Storage", DType.F8_E5M2),
            Map.entry("LongStorage", DType.I64), Map.entry("IntStorage", DType.I32),
            Map.entry("ShortStorage", DType.I16), Map.entry("CharStorage", DType.I8),
            Map.entry("ByteStorage", DType.U8), Map.entry("BoolStorage", DType.BOOL),
            Map.entry("UntypedStorage", DType.U8));
    /** The torch dtype objects a checkpoint may mention (pickled as globals such as torch.bfloat16). */
    private static final Set<String> DTYPES = Set.of("float64", "float32", "float16", "bfloat16", "float8_e4m3fn",
            "float8_e5m2", "int64", "int32", "int16", "int8", "uint8", "bool");
    private static final Global ORDERED_DICT = new Global("collections", "OrderedDict");
    private static final Global REBUILD_TENSOR = new Global("torch._utils", "_rebuild_tensor_v2");
    private static final Global REBUILD_PARAMETER = new Global("torch._utils", "_rebuild_parameter");
    private static final Global REBUILD_PARAMETER_STATE = new Global("torch._utils", "_rebuild_parameter_with_state");

    private final String source;
    private final MemorySegment in;
    private long pos;
    private final List<Object> stack = new ArrayList<>();
    private final List<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();

    private RestrictedUnpickler(String source, MemorySegment in) {
        this.source = source;
        this.in = in;
    }

    /** Unpickles {@code pickle}; {@code source} (file and record) prefixes every error message. */
    static Object load(String source, MemorySegment pickle) {
        return new RestrictedUnpickler(source, pickle).run();
    }

    private TorchCheckpointException bad(long at, String what) {
        return new TorchCheckpointException(source + ": byte " + at + " of the pickle: " + what);
    }

    private Object run() {
        while (true) {
            long at = pos;
            int op = u8();
            switch (op) {
                case 0x80 -> { // PROTO
                    int proto = u8();
                    if (proto < 2 || proto > 5) {
                        throw bad(at, "pickle protocol " + proto + " (this reader handles protocols 2 to 5)");
                    }
                }
                case 0x95 -> take(8); // FRAME: a length hint only
                case '.' -> { // STOP
                    if (stack.size() != 1 || !marks.isEmpty()) {
                        throw bad(at, "STOP with " + stack.size() + " values on the stack (expected exactly one)");
                    }
                    return stack.get(0);
                }
                case '(' -> marks.add(stack.size());
                case '0' -> pop(at);
                case '1' -> popMark(at);
                case '2' -> push(peek(at));
                case 'N' -> push(null);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'J' -> push((long) in.get(I32, take(4)));
                case 'K' -> push((long) u8());
                case 'M' -> push((long) (u8() | u8() << 8));
                case 0x8a -> push(longOf(at, bytes(u8())));
                case 0x8b -> push(longOf(at, bytes(length(at, 4))));
                case 'G' -> push(Double.longBitsToDouble(in.get(F64_BITS, take(8))));
                case 'X' -> push(utf8(length(at, 4)));
                case 0x8c -> push(utf8(u8()));
                case 0x8d -> push(utf8(length(at, 8)));
                case 'U' -> push(new String(bytes(u8()), StandardCharsets.ISO_8859_1));
                case 'T' -> push(new String(bytes(length(at, 4)), StandardCharsets.ISO_8859_1));
                case 'C' -> push(bytes(u8()));
                case 'B' -> push(bytes(length(at, 4)));
                case 0x8e -> push(bytes(length(at, 8)));
                case ')' -> push(new Tuple(List.of()));
                case 't' -> push(new Tuple(popMark(at)));
                case 0x85 -> push(new Tuple(popN(at, 1)));
                case 0x86 -> push(new Tuple(popN(at, 2)));
                case 0x87 -> push(new Tuple(popN(at, 3)));
                case ']' -> push(new ArrayList<>());
                case 'l' -> push(new ArrayList<>(popMark(at)));
                case 'a' -> {
                    Object v = pop(at);
                    listAt(at).add(v);
                }
                case 'e' -> {
                    List<Object> items = popMark(at);
                    listAt(at).addAll(items);
                }
                case '}' -> push(new LinkedHashMap<>());
                case 'd' -> {
                    Map<Object, Object> m = new LinkedHashMap<>();
                    putAll(at, m, popMark(at));
                    push(m);
                }
                case 's' -> {
                    Object v = pop(at);
                    Object k = pop(at);
                    mapAt(at).put(key(at, k), v);
                }
                case 'u' -> {
                    List<Object> items = popMark(at);
                    putAll(at, mapAt(at), items);
                }
                case 'q' -> memo.put((long) u8(), peek(at));
                case 'r' -> memo.put(Integer.toUnsignedLong(in.get(I32, take(4))), peek(at));
                case 0x94 -> memo.put((long) memo.size(), peek(at));
                case 'h' -> push(memo(at, u8()));
                case 'j' -> push(memo(at, Integer.toUnsignedLong(in.get(I32, take(4)))));
                case 'c' -> push(global(at, line(at), line(at)));
                case 0x93 -> {
                    Object name = pop(at);
                    Object module = pop(at);
                    if (!(module instanceof String m) || !(name instanceof String n)) {
                        throw bad(at, "STACK_GLOBAL needs two strings, got " + module + " and " + name);
                    }
                    push(global(at, m, n));
                }
                case 'Q' -> push(persistent(at, pop(at)));
                case 'R' -> {
                    Object args = pop(at);
                    Object fn = pop(at);
                    push(reduce(at, fn, args));
                }
                case 'b' -> {
                    Object state = pop(at);
                    build(at, peek(at), state);
                }
                case 0x81, 0x92, 'i', 'o' -> throw bad(at, "opcode " + opName(op)
                        + " creates an instance of a class; refused (only plain data and tensors are loaded)");
                case 0x82, 0x83, 0x84 -> throw bad(at, "opcode EXT" + (op == 0x82 ? 1 : op == 0x83 ? 2 : 4)
                        + " loads a global from the copyreg extension registry; refused");
                default -> throw bad(at, "unsupported pickle opcode " + opName(op)
                        + " (a protocol 0/1 text opcode, or not a pickle; corrupt?)");
            }
        }
    }

    private static String opName(int op) {
        return String.format("0x%02x", op) + (op >= 0x20 && op < 0x7f ? " '" + (char) op + "'" : "");
    }

    /** Resolves a GLOBAL: only the allowlisted names; everything else is refused before it can be used. */
    private Object global(long at, String module, String name) {
        Global g = new Global(module, name);
        if (g.equals(ORDERED_DICT) || g.equals(REBUILD_TENSOR) || g.equals(REBUILD_PARAMETER)
                || g.equals(REBUILD_PARAMETER_STATE)) {
            return g;
        }
        if ((module.equals("torch") || module.equals("torch.storage")) && STORAGES.containsKey(name)) {
            return g;
        }
        if (module.equals("torch") && DTYPES.contains(name)) {
            return g;
        }
        throw bad(at, "refused global '" + module + "." + name + "': a checkpoint may only name "
                + "collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch storage "
                + "classes and torch dtypes (loading it would run code chosen by the file)");
    }

    /** BINPERSID: {@code ('storage', storage class, key, location, numel)}. */
    private Object persistent(long at, Object pid) {
        if (!(pid instanceof Tuple t) || t.size() != 5 || !"storage".equals(t.get(0))) {
            throw bad(at, "persistent id " + describe(pid) + " is not ('storage', class, key, location, numel)");
        }
        if (!(t.get(1) instanceof Global g) || !STORAGES.containsKey(g.name())) {
            throw bad(at, "persistent id names " + describe(t.get(1)) + " where a torch storage class belongs");
        }
        if (!(t.get(2) instanceof String key) || !(t.get(4) instanceof Long numel) || numel < 0) {
            throw bad(at, "persistent id " + describe(pid) + " needs a string key and a non-negative element count");
        }
        return new StorageRef(key, STORAGES.get(g.name()), numel);
    }

    /** REDUCE: the allowed callables, interpreted. */
    private Object reduce(long at, Object fn, Object args) {
        if (!(fn instanceof Global g)) {
            throw bad(at, "REDUCE calls " + describe(fn) + ", which is not a callable global");
        }
        if (!(args instanceof Tuple a)) {
            throw bad(at, "REDUCE of " + g + " with arguments " + describe(args) + " instead of a tuple");
        }
        if (g.equals(ORDERED_DICT)) {
            if (a.size() != 0) {
                throw bad(at, "collections.OrderedDict called with " + a.size() + " arguments (torch.save writes "
                        + "OrderedDict() and then its items)");
            }
            return new LinkedHashMap<>();
        }
        if (g.equals(REBUILD_TENSOR)) {
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            if (a.size() < 6 || !(a.get(0) instanceof StorageRef storage) || !(a.get(1) instanceof Long offset)) {
                throw bad(at, "_rebuild_tensor_v2 needs (storage, offset, size, stride, requires_grad, hooks), got "
                        + describe(a));
            }
            long[] size = longs(at, "size", a.get(2));
            long[] stride = longs(at, "stride", a.get(3));
            if (size.length != stride.length) {
                throw bad(at, "_rebuild_tensor_v2 with size " + describe(a.get(2)) + " and stride "
                        + describe(a.get(3)) + " of different rank");
            }
            return new TensorRef(storage, offset, size, stride);
        }
        if (g.equals(REBUILD_PARAMETER) || g.equals(REBUILD_PARAMETER_STATE)) {
            // (data, requires_grad, backward_hooks[, state]): a Parameter is its data
            if (a.size() < 3 || !(a.get(0) instanceof TensorRef data)) {
                throw bad(at, g.name() + " needs (tensor, requires_grad, hooks), got " + describe(a));
            }
            return data;
        }
        throw bad(at, "REDUCE calls " + g + ", which is not a function (only OrderedDict and the torch rebuild "
                + "functions may be called)");
    }

    /** BUILD on a dict: the instance state of an OrderedDict (state_dict's {@code _metadata}), dropped. */
    private void build(long at, Object target, Object state) {
        if (!(target instanceof Map<?, ?>) || !(state instanceof Map<?, ?> || state == null)) {
            throw bad(at, "BUILD sets the state " + describe(state) + " of " + describe(target)
                    + " (only an OrderedDict's attribute dict is accepted)");
        }
    }

    private long[] longs(long at, String what, Object o) {
        if (!(o instanceof Tuple t)) {
            throw bad(at, "_rebuild_tensor_v2 " + what + " is " + describe(o) + ", not a tuple of ints");
        }
        long[] out = new long[t.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.get(i) instanceof Long v)) {
                throw bad(at, "_rebuild_tensor_v2 " + what + " " + describe(o) + " holds a non-integer");
            }
            out[i] = v;
        }
        return out;
    }

    private static String describe(Object o) {
        if (o == null) {
            return "None";
        }
        if (o instanceof String s) {
            return "'" + s + "'";
        }
        if (o instanceof Tuple t) {
            return "(" + String.join(", ", t.items().stream().map(RestrictedUnpickler::describe).toList()) + ")";
        }
        if (o instanceof byte[] b) {
            return "bytes[" + b.length + "]";
        }
        if (o instanceof Map<?, ?> m) {
            return "a dict of " + m.size();
        }
        if (o instanceof List<?> l) {
            return "a list of " + l.size();
        }
        return String.valueOf(o);
    }

    private Object key(long at, Object k) {
        if (k == null || k instanceof String || k instanceof Long || k instanceof Boolean || k instanceof Double
                || k instanceof Tuple) {
            return k;
        }
        throw bad(at, "dict key " + describe(k) + " is not hashable plain data");
    }

    private void putAll(long at, Map<Object, Object> m, List<Object> items) {
        if (items.size() % 2 != 0) {
            throw bad(at, "odd number of items (" + items.size() + ") for dict keys and values");
        }
        for (int i = 0; i < items.size(); i += 2) {
            m.put(key(at, items.get(i)), items.get(i + 1));
        }
    }

    @SuppressWarnings("unchecked")
    private List<Object> listAt(long at) {
        if (!(peek(at) instanceof ArrayList<?> l)) {
            throw bad(at, "APPEND to " + describe(peek(at)) + ", which is not a list");
        }
        return (List<Object>) l;
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> mapAt(long at) {
        if (!(peek(at) instanceof LinkedHashMap<?, ?> m)) {
            throw bad(at, "SETITEM on " + describe(peek(at)) + ", which is not a dict");
        }
        return (Map<Object, Object>) m;
    }

    private Object memo(long at, long index) {
        if (!memo.containsKey(index)) {
            throw bad(at, "memo entry " + index + " fetched before it was stored");
        }
        return memo.get(index);
    }

    private void push(Object o) {
        stack.add(o);
    }

    private Object peek(long at) {
        if (stack.isEmpty() || stack.size() == lastMark()) {
            throw bad(at, "the stack is empty (corrupt pickle)");
        }
        return stack.get(stack.size() - 1);
    }

    private Object pop(long at) {
        Object o = peek(at);
        stack.remove(stack.size() - 1);
        return o;
    }

    private int lastMark() {
        return marks.isEmpty() ? 0 : marks.get(marks.size() - 1);
    }

    /** The values above the last MARK, removed from the stack with the mark. */
    private List<Object> popMark(long at) {
        if (marks.isEmpty()) {
            throw bad(at, "no MARK on the stack (corrupt pickle)");
        }
        int m = marks.remove(marks.size() - 1);
        List<Object> sub = new ArrayList<>(stack.subList(m, stack.size()));
        stack.subList(m, stack.size()).clear();
        return sub;
    }

    private List<Object> popN(long at, int n) {
        if (stack.size() - lastMark() < n) {
            throw bad(at, "a tuple of " + n + " needs " + n + " values on the stack (corrupt pickle)");
        }
        List<Object> sub = new ArrayList<>(stack.subList(stack.size() - n, stack.size()));
        stack.subList(stack.size() - n, stack.size()).clear();
        return sub;
    }

    private Object longOf(long at, byte[] twosComplementLittleEndian) {
        if (twosComplementLittleEndian.length == 0) {
            return 0L;
        }
        byte[] big = new byte[twosComplementLittleEndian.length];
        for (int i = 0; i < big.length; i++) {
            big[i] = twosComplementLittleEndian[big.length - 1 - i];
        }
        BigInteger v = new BigInteger(big);
        if (v.bitLength() > 63) {
            throw bad(at, "integer " + v + " does not fit in 64 bits");
        }
        return v.longValue();
    }

    private int u8() {
        return Byte.toUnsignedInt(in.get(ValueLayout.JAVA_BYTE, take(1)));
    }

    /** Reserves {@code n} bytes at the current position and returns where they start. */
    private long take(long n) {
        if (n < 0 || pos + n > in.byteSize()) {
            throw bad(pos, "the pickle ends after " + in.byteSize() + " bytes, before its STOP opcode (truncated)");
        }
        long at = pos;
        pos += n;
        return at;
    }

    private long length(long at, int width) {
        long n = width == 4 ? Integer.toUnsignedLong(in.get(I32, take(4))) : in.get(I64, take(8));
        if (n < 0 || n > in.byteSize() - pos) {
            throw bad(at, "a length of " + Long.toUnsignedString(n) + " bytes reaches past the end of the pickle "
                    + "(truncated or corrupt)");
        }
        return n;
    }

    private byte[] bytes(long n) {
        return in.asSlice(take(n), n).toArray(ValueLayout.JAVA_BYTE);
    }

    private String utf8(long n) {
        return new String(bytes(n), StandardCharsets.UTF_8);
    }

    /** A newline-terminated ASCII line (the operands of GLOBAL). */
    private String line(long at) {
        StringBuilder sb = new StringBuilder();
        while (true) {
            int c = u8();
            if (c == '\n') {
                return sb.toString();
            }
            if (sb.length() > 1000) {
                throw bad(at, "GLOBAL operand longer than 1000 bytes (corrupt pickle)");
            }
            sb.append((char) c);
        }
    }
}
