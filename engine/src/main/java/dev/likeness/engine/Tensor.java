package dev.likeness.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An n-dimensional view of a {@link Storage}: dtype, shape, strides (in elements) and an element offset.
 *
 * <p>View operations ({@link #reshape}, {@link #permute}, {@link #transpose}, {@link #narrow}, {@link #slice},
 * {@link #expand}, {@link #unsqueeze}, {@link #squeeze}, {@link #select}, {@link #split}, {@link #chunk},
 * {@link #flatten}) follow the PyTorch methods of the same name and never copy unless the result cannot be expressed
 * with strides (only {@code reshape} and {@code flatten} then copy, as in PyTorch; {@code view} throws).
 * Computation goes through the {@link Backend}; models never touch the storage directly.
 *
 * <p>A tensor may carry a dequantization {@link #scale()}: an F32 tensor of shape [size(0)] (per output channel,
 * the int8 / fp8 weight case) or [1] (one scale for the whole tensor). Value = stored value × scale[row].
 */
public final class Tensor {
    private final Storage storage;
    private final DType dtype;
    private final int[] shape;
    private final long[] strides;
    private final long offset;
    private final Tensor scale;

    public Tensor(Storage storage, DType dtype, int[] shape, long[] strides, long offset, Tensor scale) {
        if (shape.length != strides.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " and strides "
                    + Arrays.toString(strides) + " differ in rank");
        }
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
        }
        this.storage = storage;
        this.dtype = dtype;
        this.shape = shape.clone();
        this.strides = strides.clone();
        this.offset = offset;
        this.scale = scale;
    }

    /** A contiguous (row-major) tensor over the storage, starting at element 0. */
    public Tensor(Storage storage, DType dtype, int... shape) {
        this(storage, dtype, shape, contiguousStrides(shape), 0, null);
    }

    public static long[] contiguousStrides(int[] shape) {
        long[] st = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            st[i] = s;
            s *= Math.max(shape[i], 1);
        }
        return st;
    }

    public static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    // ---------------------------------------------------------------- accessors

    public Storage storage() {
        return storage;
    }

    public Backend backend() {
        return storage.backend();
    }

    public DType dtype() {
        return dtype;
    }

    public int[] shape() {
        return shape.clone();
    }

    public long[] strides() {
        return strides.clone();
    }

    /** Offset of element [0,...,0] in the storage, in elements. */
    public long offset() {
        return offset;
    }

    /** The dequantization scale, or null. */
    public Tensor scale() {
        return scale;
    }

    public int dim() {
        return shape.length;
    }

    /** Size of dimension {@code d}; negative counts from the end. */
    public int size(int d) {
        return shape[axis(d)];
    }

    public long stride(int d) {
        return strides[axis(d)];
    }

    public long numel() {
        return numel(shape);
    }

    /** Normalizes a possibly negative dimension index, with a clear error when out of range. */
    public int axis(int d) {
        int r = d < 0 ? d + shape.length : d;
        if (r < 0 || r >= shape.length) {
            throw new IllegalArgumentException("dimension " + d + " out of range for a tensor of rank " + shape.length
                    + " (shape " + Arrays.toString(shape) + ")");
        }
        return r;
    }

    /** torch {@code is_contiguous()}: row-major strides, ignoring size-1 dimensions; an empty tensor always is. */
    public boolean isContiguous() {
        if (numel() == 0) {
            return true;
        }
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && strides[i] != s) {
                return false;
            }
            s *= shape[i];
        }
        return true;
    }

    public Tensor withScale(Tensor newScale) {
        if (newScale != null) {
            if (newScale.dtype != DType.F32 || newScale.dim() != 1
                    || (newScale.size(0) != 1 && (shape.length == 0 || newScale.size(0) != shape[0]))) {
                throw new IllegalArgumentException("a scale must be F32 of shape [1] or [" + (shape.length == 0 ? 1 : shape[0])
                        + "], got " + newScale.dtype + Arrays.toString(newScale.shape));
            }
        }
        return new Tensor(storage, dtype, shape, strides, offset, newScale);
    }

    // ---------------------------------------------------------------- views

    private Tensor view(int[] newShape, long[] newStrides, long newOffset) {
        return new Tensor(storage, dtype, newShape, newStrides, newOffset, scale);
    }

    private void requireNoRowScale(String op) {
        if (scale != null && scale.size(0) != 1) {
            throw new IllegalStateException(op + " would separate a per-channel scaled tensor from its scales; "
                    + "dequantize it first (backend.to(t, F32))");
        }
    }

    /** Resolves one -1 entry and checks the element count. */
    private int[] inferShape(int[] newShape) {
        int[] out = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < out.length; i++) {
            if (out[i] == -1) {
                if (infer >= 0) {
                    throw new IllegalArgumentException("only one dimension can be -1 in " + Arrays.toString(newShape));
                }
                infer = i;
            } else if (out[i] < 0) {
                throw new IllegalArgumentException("invalid shape " + Arrays.toString(newShape));
            } else {
                known *= out[i];
            }
        }
        long n = numel();
        if (infer >= 0) {
            if (known == 0 || n % known != 0) {
                throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " into "
                        + Arrays.toString(newShape));
            }
            out[infer] = (int) (n / known);
        } else if (known != n) {
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " (" + n + " elements) into "
                    + Arrays.toString(newShape));
        }
        return out;
    }

    /**
     * Strides for viewing this tensor with {@code newShape} without copying, or null if impossible
     * (the algorithm of PyTorch's {@code computeStride}: chunks of dimensions that are contiguous among themselves).
     */
    private long[] viewStrides(int[] newShape) {
        long[] ns = new long[newShape.length];
        if (shape.length == 0) {
            Arrays.fill(ns, 1);
            return ns;
        }
        if (numel() == 0) {
            return Arrays.equals(shape, newShape) ? strides.clone() : contiguousStrides(newShape);
        }
        int viewD = newShape.length - 1;
        long chunkBaseStride = strides.length == 0 ? 1 : strides[strides.length - 1];
        long tensorNumel = 1;
        long viewNumel = 1;
        for (int td = shape.length - 1; td >= 0; td--) {
            tensorNumel *= shape[td];
            if (td == 0 || (shape[td - 1] != 1 && strides[td - 1] != tensorNumel * chunkBaseStride)) {
                while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1)) {
                    ns[viewD] = viewNumel * chunkBaseStride;
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) {
                    return null;
                }
                if (td > 0) {
                    chunkBaseStride = strides[td - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        if (viewD != -1) {
            return null;
        }
        return ns;
    }

    /** True if a per-channel scale still lines up with dimension 0 after reshaping to {@code newShape}. */
    private boolean keepsRowScale(int[] newShape) {
        return scale == null || scale.size(0) == 1 || (newShape.length > 0 && newShape[0] == shape[0]);
    }

    /**
     * torch {@code view(*shape)}: a view with a new shape (one entry may be -1) sharing the storage; throws
     * {@link IllegalStateException} if the strides do not allow it (use {@link #reshape}). A per-channel scaled
     * tensor keeps its scales when dimension 0 is unchanged.
     */
    public Tensor view(int... newShape) {
        int[] ns = inferShape(newShape);
        long[] st = viewStrides(ns);
        if (st == null) {
            throw new IllegalStateException("view " + Arrays.toString(newShape) + " is impossible on a tensor of shape "
                    + Arrays.toString(shape) + " and strides " + Arrays.toString(strides) + "; use reshape()");
        }
        if (!keepsRowScale(ns)) {
            requireNoRowScale("view changing dimension 0");
        }
        return view(ns, st, offset);
    }

    /**
     * torch {@code reshape(*shape)}: a view when the strides allow it (see {@link #view}), otherwise a contiguous
     * copy through the backend. A per-channel scaled tensor whose dimension 0 changes is dequantized by the copy.
     */
    public Tensor reshape(int... newShape) {
        int[] ns = inferShape(newShape);
        long[] st = viewStrides(ns);
        if (st != null && keepsRowScale(ns)) {
            return view(ns, st, offset);
        }
        return backend().contiguous(this).view(ns);
    }

    /**
     * torch {@code flatten(start_dim, end_dim)}: dimensions start..end (inclusive) merged into one, as a view when
     * possible (a copy otherwise, like {@link #reshape}); a 0-d tensor becomes shape [1].
     */
    public Tensor flatten(int start, int end) {
        if (shape.length == 0) {
            axisOrZero(start);
            axisOrZero(end);
            return reshape(1);
        }
        int s = axis(start);
        int e = axis(end);
        if (s > e) {
            throw new IllegalArgumentException("flatten: start dimension " + start + " comes after end dimension " + end
                    + " (shape " + Arrays.toString(shape) + ")");
        }
        int[] ns = new int[shape.length - (e - s)];
        int j = 0;
        for (int i = 0; i < s; i++) {
            ns[j++] = shape[i];
        }
        int m = 1;
        for (int i = s; i <= e; i++) {
            m *= shape[i];
        }
        ns[j++] = m;
        for (int i = e + 1; i < shape.length; i++) {
            ns[j++] = shape[i];
        }
        return reshape(ns);
    }

    /** A 0-d tensor accepts dimension 0 or -1 where torch wraps dimensions as if it had one. */
    private void axisOrZero(int d) {
        if (d != 0 && d != -1) {
            throw new IllegalArgumentException("dimension " + d + " out of range for a 0-d tensor");
        }
    }

    /** torch {@code permute(*dims)}: dimension i of the result is dimension dims[i] of this tensor. */
    public Tensor permute(int... dims) {
        if (dims.length != shape.length) {
            throw new IllegalArgumentException("permute " + Arrays.toString(dims) + " needs " + shape.length
                    + " dimensions (shape " + Arrays.toString(shape) + ")");
        }
        if (dims.length == 0) {
            return this;
        }
        boolean[] seen = new boolean[dims.length];
        int[] ns = new int[dims.length];
        long[] st = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            int d = axis(dims[i]);
            if (seen[d]) {
                throw new IllegalArgumentException("permute " + Arrays.toString(dims) + " repeats dimension " + d);
            }
            seen[d] = true;
            ns[i] = shape[d];
            st[i] = strides[d];
        }
        if (axis(dims[0]) != 0) {
            requireNoRowScale("permute moving dimension 0");
        }
        return view(ns, st, offset);
    }

    /** torch {@code transpose(a, b)}: dimensions a and b swapped. */
    public Tensor transpose(int a, int b) {
        int[] p = new int[shape.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = i;
        }
        int x = axis(a);
        int y = axis(b);
        p[x] = y;
        p[y] = x;
        return permute(p);
    }

    /**
     * torch {@code narrow(d, start, length)}: elements start..start+length-1 of dimension {@code d}; a negative
     * start counts from the end. Unlike {@link #slice}, the range must lie inside the dimension.
     */
    public Tensor narrow(int d, int start, int length) {
        int ax = axis(d);
        int n = shape[ax];
        int s = start < 0 ? start + n : start;
        if (s < 0 || s > n || length < 0 || length > n - s) {
            throw new IllegalArgumentException("narrow(" + d + ", " + start + ", " + length + ") out of range for "
                    + "dimension " + d + " of size " + n + " (shape " + Arrays.toString(shape) + ")");
        }
        return slice(ax, s, s + length, 1);
    }

    /**
     * Python/torch slicing {@code t[..., start:end:step, ...]} on dimension {@code d}: negative start/end count
     * from the end, out-of-range bounds are clamped (an empty range gives size 0), step must be positive. Pass
     * {@link Integer#MAX_VALUE} as end for an open end.
     */
    public Tensor slice(int d, int start, int end, int step) {
        int ax = axis(d);
        int n = shape[ax];
        if (step <= 0) {
            throw new IllegalArgumentException("slice step must be positive, got " + step + " (dimension " + d
                    + ", shape " + Arrays.toString(shape) + ")");
        }
        int s = clampIndex(start, n);
        int e = Math.max(clampIndex(end, n), s);
        int[] ns = shape.clone();
        long[] st = strides.clone();
        ns[ax] = (e - s + step - 1) / step;
        st[ax] = strides[ax] * step;
        Tensor sc = scale;
        if (ax == 0 && scale != null && scale.size(0) != 1) {
            sc = scale.slice(0, s, e, step);
        }
        return new Tensor(storage, dtype, ns, st, offset + s * strides[ax], sc);
    }

    /** A slice bound: negative counts from the end, then clamped to [0, n]. */
    private static int clampIndex(int i, int n) {
        long r = i < 0 ? (long) i + n : i;
        return (int) Math.min(Math.max(r, 0), n);
    }

    /**
     * torch {@code select(d, index)}: removes dimension {@code d} by taking index {@code index} of it (negative
     * counts from the end). Selecting row i of a per-channel scaled tensor keeps scale[i] as a one-element scale.
     */
    public Tensor select(int d, int index) {
        int ax = axis(d);
        int i = index < 0 ? index + shape[ax] : index;
        if (i < 0 || i >= shape[ax]) {
            throw new IllegalArgumentException("index " + index + " out of range for dimension " + d + " of size "
                    + shape[ax] + " (shape " + Arrays.toString(shape) + ")");
        }
        Tensor sc = scale;
        if (ax == 0 && scale != null && scale.size(0) != 1) {
            sc = scale.narrow(0, i, 1);
        }
        int[] ns = new int[shape.length - 1];
        long[] st = new long[shape.length - 1];
        for (int k = 0, j = 0; k < shape.length; k++) {
            if (k != ax) {
                ns[j] = shape[k];
                st[j++] = strides[k];
            }
        }
        return new Tensor(storage, dtype, ns, st, offset + i * strides[ax], sc);
    }

    /** torch {@code expand(*sizes)}: broadcasts size-1 dimensions (stride 0) and may prepend new ones; -1 keeps a size. */
    public Tensor expand(int... newShape) {
        if (newShape.length < shape.length) {
            throw new IllegalArgumentException("expand " + Arrays.toString(newShape) + " has fewer dimensions than "
                    + Arrays.toString(shape));
        }
        int lead = newShape.length - shape.length;
        int[] ns = new int[newShape.length];
        long[] st = new long[newShape.length];
        for (int i = 0; i < newShape.length; i++) {
            if (i < lead) {
                if (newShape[i] < 0) {
                    throw new IllegalArgumentException("expand: -1 is not allowed for a new leading dimension");
                }
                ns[i] = newShape[i];
                st[i] = 0;
            } else {
                int old = shape[i - lead];
                if (newShape[i] < -1) {
                    throw new IllegalArgumentException("expand: invalid size " + newShape[i] + " in "
                            + Arrays.toString(newShape));
                }
                int want = newShape[i] == -1 ? old : newShape[i];
                if (old == want) {
                    ns[i] = old;
                    st[i] = strides[i - lead];
                } else if (old == 1) {
                    ns[i] = want;
                    st[i] = 0;
                } else {
                    throw new IllegalArgumentException("cannot expand " + Arrays.toString(shape) + " to "
                            + Arrays.toString(newShape) + ": dimension " + i + " is " + old + ", not 1");
                }
            }
        }
        if (lead > 0 || (shape.length > 0 && ns[0] != shape[0])) {
            requireNoRowScale("expand");
        }
        return view(ns, st, offset);
    }

    /** torch {@code unsqueeze(d)}: a new size-1 dimension at {@code d} (negative counts from rank + 1). */
    public Tensor unsqueeze(int d) {
        int ax = d < 0 ? d + shape.length + 1 : d;
        if (ax < 0 || ax > shape.length) {
            throw new IllegalArgumentException("unsqueeze dimension " + d + " out of range for rank " + shape.length);
        }
        if (ax == 0) {
            requireNoRowScale("unsqueeze(0)");
        }
        int[] ns = new int[shape.length + 1];
        long[] st = new long[shape.length + 1];
        for (int i = 0, j = 0; i < ns.length; i++) {
            if (i == ax) {
                ns[i] = 1;
                st[i] = ax < shape.length ? strides[ax] * shape[ax] : 1;
            } else {
                ns[i] = shape[j];
                st[i] = strides[j++];
            }
        }
        return view(ns, st, offset);
    }

    /** torch {@code squeeze(d)}: removes dimension {@code d} if it has size 1, else returns the tensor unchanged. */
    public Tensor squeeze(int d) {
        if (shape.length == 0) {
            axisOrZero(d);
            return this;
        }
        int ax = axis(d);
        return shape[ax] == 1 ? select(ax, 0) : this;
    }

    /** torch {@code split(sizes, dim=d)} with a list of sizes: views of consecutive pieces of dimension {@code d}. */
    public List<Tensor> split(int d, int... sizes) {
        int ax = axis(d);
        long total = 0;
        for (int s : sizes) {
            if (s < 0) {
                throw new IllegalArgumentException("split sizes " + Arrays.toString(sizes)
                        + " contain a negative size (shape " + Arrays.toString(shape) + ")");
            }
            total += s;
        }
        if (total != shape[ax]) {
            throw new IllegalArgumentException("split sizes " + Arrays.toString(sizes) + " sum to " + total
                    + ", dimension " + d + " of shape " + Arrays.toString(shape) + " has " + shape[ax]);
        }
        List<Tensor> out = new ArrayList<>(sizes.length);
        int start = 0;
        for (int s : sizes) {
            out.add(narrow(ax, start, s));
            start += s;
        }
        return out;
    }

    /**
     * torch {@code chunk(n, dim=d)}: pieces of ceil(size/n) (the last may be smaller, and there are fewer than
     * {@code n} pieces when they run out, e.g. size 5 in 4 chunks gives 2, 2, 1); an empty dimension gives n empty pieces.
     */
    public List<Tensor> chunk(int n, int d) {
        if (n <= 0) {
            throw new IllegalArgumentException("chunk: the number of chunks must be positive, got " + n + " (shape "
                    + Arrays.toString(shape) + ")");
        }
        int ax = axis(d);
        int size = shape[ax];
        List<Tensor> out = new ArrayList<>(Math.min(n, Math.max(size, 1)));
        if (size == 0) {
            for (int k = 0; k < n; k++) {
                out.add(narrow(ax, 0, 0));
            }
            return out;
        }
        int step = (int) (((long) size + n - 1) / n);
        for (int start = 0; start < size; start += step) {
            out.add(narrow(ax, start, Math.min(step, size - start)));
        }
        return out;
    }

    // ---------------------------------------------------------------- convenience

    /** The values as a new row-major f32 array (computed by the backend; dequantized). */
    public float[] toFloatArray() {
        return backend().toFloatArray(this);
    }

    /** This tensor on another backend (a no-op if it is already there). */
    public Tensor to(Backend target) {
        return target == backend() ? this : target.transfer(this);
    }

    @Override
    public String toString() {
        return "Tensor(" + dtype + Arrays.toString(shape) + (isContiguous() ? "" : " strides=" + Arrays.toString(strides))
                + (scale != null ? " scaled" : "") + " on " + backend().name() + ")";
    }
}
