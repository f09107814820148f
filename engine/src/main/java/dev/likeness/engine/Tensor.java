package dev.likeness.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An n-dimensional view of a {@link Storage}: dtype, shape, strides (in elements) and an element offset.
 *
 * <p>View operations ({@link #reshape}, {@link #permute}, {@link #transpose}, {@link #narrow}, {@link #slice},
 * {@link #expand}, {@link #unsqueeze}, {@link #squeeze}, {@link #select}, {@link #split}, {@link #chunk}) never copy
 * unless the result cannot be expressed with strides (only {@code reshape} of a non-contiguous tensor copies, as in
 * PyTorch). Computation goes through the {@link Backend}; models never touch the storage directly.
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

    public boolean isContiguous() {
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
        if (numel() == 0) {
            return contiguousStrides(newShape);
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

    /** A view with a new shape (one entry may be -1); throws if the strides do not allow it. */
    public Tensor view(int... newShape) {
        int[] ns = inferShape(newShape);
        long[] st = viewStrides(ns);
        if (st == null) {
            throw new IllegalStateException("view " + Arrays.toString(newShape) + " is impossible on a tensor of shape "
                    + Arrays.toString(shape) + " and strides " + Arrays.toString(strides) + "; use reshape()");
        }
        if (scale != null && scale.size(0) != 1 && (ns.length == 0 || ns[0] != shape[0])) {
            requireNoRowScale("view changing dimension 0");
        }
        return view(ns, st, offset);
    }

    /** Like {@link #view} but copies (through the backend) when the strides do not allow a view. */
    public Tensor reshape(int... newShape) {
        int[] ns = inferShape(newShape);
        long[] st = viewStrides(ns);
        if (st != null) {
            return view(ns);
        }
        return backend().contiguous(this).view(ns);
    }

    /** Flattens dimensions start..end (inclusive) into one. */
    public Tensor flatten(int start, int end) {
        int s = axis(start);
        int e = axis(end);
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

    public Tensor permute(int... dims) {
        if (dims.length != shape.length) {
            throw new IllegalArgumentException("permute " + Arrays.toString(dims) + " needs " + shape.length + " dimensions");
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

    /** Elements start..start+length-1 of dimension {@code d}. */
    public Tensor narrow(int d, int start, int length) {
        return slice(d, start, start + length, 1);
    }

    /** Python-style {@code t[..., start:end:step, ...]} on dimension {@code d}; negative start/end count from the end. */
    public Tensor slice(int d, int start, int end, int step) {
        int ax = axis(d);
        int n = shape[ax];
        if (step <= 0) {
            throw new IllegalArgumentException("slice step must be positive, got " + step);
        }
        int s = start < 0 ? start + n : start;
        int e = end < 0 ? end + n : end;
        if (s < 0 || e > n || s > e) {
            throw new IllegalArgumentException("slice [" + start + ":" + end + "] out of range for dimension " + d
                    + " of size " + n + " (shape " + Arrays.toString(shape) + ")");
        }
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

    /** Removes dimension {@code d} by taking index {@code index} of it. */
    public Tensor select(int d, int index) {
        int ax = axis(d);
        int i = index < 0 ? index + shape[ax] : index;
        if (i < 0 || i >= shape[ax]) {
            throw new IllegalArgumentException("index " + index + " out of range for dimension " + d + " of size " + shape[ax]);
        }
        if (ax == 0) {
            requireNoRowScale("select on dimension 0");
        }
        int[] ns = new int[shape.length - 1];
        long[] st = new long[shape.length - 1];
        for (int k = 0, j = 0; k < shape.length; k++) {
            if (k != ax) {
                ns[j] = shape[k];
                st[j++] = strides[k];
            }
        }
        return view(ns, st, offset + i * strides[ax]);
    }

    /** Broadcasts size-1 dimensions (stride 0) and may prepend new ones; -1 keeps a size. */
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

    /** Removes dimension {@code d}, which must have size 1. */
    public Tensor squeeze(int d) {
        int ax = axis(d);
        if (shape[ax] != 1) {
            throw new IllegalArgumentException("squeeze: dimension " + d + " has size " + shape[ax] + ", not 1");
        }
        return select(ax, 0);
    }

    /** Splits dimension {@code d} into pieces of the given sizes (views). */
    public List<Tensor> split(int d, int... sizes) {
        int ax = axis(d);
        long total = 0;
        for (int s : sizes) {
            total += s;
        }
        if (total != shape[ax]) {
            throw new IllegalArgumentException("split sizes " + Arrays.toString(sizes) + " sum to " + total
                    + ", dimension " + d + " has " + shape[ax]);
        }
        List<Tensor> out = new ArrayList<>(sizes.length);
        int start = 0;
        for (int s : sizes) {
            out.add(narrow(ax, start, s));
            start += s;
        }
        return out;
    }

    /** torch.chunk: {@code n} pieces of ceil(size/n) (the last may be smaller; fewer pieces if they run out). */
    public List<Tensor> chunk(int n, int d) {
        int ax = axis(d);
        int size = shape[ax];
        int step = (size + n - 1) / n;
        List<Tensor> out = new ArrayList<>(n);
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
