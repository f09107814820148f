package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuData;
import dev.likeness.engine.cpu.CpuStorage;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Elementwise, broadcasting, positional and gather ops on the GPU (kernels in elementwise.cu). Inputs are read in
 * their storage dtype through their strided layout (scaled tensors are dequantized to f32 first); results are new
 * contiguous tensors in the compute dtype; argument checks and messages are the CPU backend's.
 */
final class CudaElementwise {
    static final int ADD = 0;
    static final int SUB = 1;
    static final int MUL = 2;
    static final int DIV = 3;

    static final int GELU = 0;
    static final int GELU_TANH = 1;
    static final int QUICK_GELU = 2;
    static final int SILU = 3;
    static final int SQRT = 4;

    private static final String MODULE = "elementwise";
    private static final String[] BINARY_NAMES = {"add", "sub", "mul", "div"};
    private static final String[] UNARY_NAMES = {"gelu", "gelu", "quickGelu", "silu", "sqrt"};

    private CudaElementwise() {
    }

    /** torch {@code x op y} with broadcasting. */
    static Tensor binary(CudaBackend b, int op, Tensor x, Tensor y) {
        String name = BINARY_NAMES[op];
        if (x == null || y == null) {
            throw new IllegalArgumentException(name + ": " + (x == null ? "x" : "y") + " must not be null");
        }
        Tensor dx = CudaPlan.readable(b, name + ": x", x);
        Tensor dy = CudaPlan.readable(b, name + ": y", y);
        int[] shape = OpShapes.broadcastShape(name, dx.shape(), dy.shape());
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, shape);
        long n = out.numel();
        if (n == 0) {
            return out;
        }
        if (vectorizable(b, out, dx, shape) && vectorizable(b, out, dy, shape)) {
            b.launch1d(MODULE, "lk_binary_vec4", (n + 3) / 4, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt))
                    .i64(n).i32(op).ptr(b.address(dx)).i32(CudaDTypes.code(dx.dtype())).ptr(b.address(dy))
                    .i32(CudaDTypes.code(dy.dtype())));
            return out;
        }
        StridedLayout lx = StridedLayout.of(dx, shape);
        StridedLayout ly = StridedLayout.of(dy, shape);
        b.launch1d(MODULE, "lk_binary", n, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt)).i64(n).i32(op)
                .ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype())).struct(lx.toStruct(a.arena()))
                .i32(CudaPlan.viewFlags(lx, n))
                .ptr(b.base(dy)).i32(CudaDTypes.code(dy.dtype())).struct(ly.toStruct(a.arena()))
                .i32(CudaPlan.viewFlags(ly, n)));
        return out;
    }

    /**
     * Whether {@code t} can be read by the four-wide kernel for an output {@code out} of {@code shape}: the same
     * shape, contiguous, f32 or bf16 like the output, and its first element aligned for a 4-element load.
     */
    private static boolean vectorizable(CudaBackend b, Tensor out, Tensor t, int[] shape) {
        return Arrays.equals(t.shape(), shape) && t.isContiguous() && vectorDtype(t.dtype())
                && vectorDtype(out.dtype()) && b.address(t) % (4L * t.dtype().byteSize()) == 0
                && b.address(out) % (4L * out.dtype().byteSize()) == 0;
    }

    private static boolean vectorDtype(DType d) {
        return d == DType.F32 || d == DType.BF16;
    }

    /** {@code x * s + t}, rounded after the multiply and after the add. */
    static Tensor affine(CudaBackend b, Tensor x, float s, float t) {
        if (x == null) {
            throw new IllegalArgumentException("affine: x must not be null");
        }
        Tensor dx = CudaPlan.readable(b, "affine: x", x);
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, dx.shape());
        long n = out.numel();
        if (n == 0) {
            return out;
        }
        if (vectorizable(b, out, dx, dx.shape())) {
            map4(b, out, -1, s, t, dx);
            return out;
        }
        StridedLayout lx = StridedLayout.of(dx);
        b.launch1d(MODULE, "lk_affine", n, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt)).i64(n)
                .ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype())).struct(lx.toStruct(a.arena()))
                .i32(CudaPlan.viewFlags(lx, n)).f32(s).f32(t));
        return out;
    }

    /** The activations: gelu (erf or tanh form), quick-gelu, silu, sqrt. */
    static Tensor unary(CudaBackend b, int op, Tensor x) {
        String name = UNARY_NAMES[op];
        if (x == null) {
            throw new IllegalArgumentException(name + ": x must not be null");
        }
        Tensor dx = CudaPlan.readable(b, name + ": x", x);
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, dx.shape());
        long n = out.numel();
        if (n == 0) {
            return out;
        }
        if (vectorizable(b, out, dx, dx.shape())) {
            map4(b, out, op, 0f, 0f, dx);
            return out;
        }
        StridedLayout lx = StridedLayout.of(dx);
        b.launch1d(MODULE, "lk_unary", n, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt)).i64(n).i32(op)
                .ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype())).struct(lx.toStruct(a.arena()))
                .i32(CudaPlan.viewFlags(lx, n)));
        return out;
    }

    /** The four-wide kernel of affine (op -1: x * s + t) and the activations (op ≥ 0) over contiguous x. */
    private static void map4(CudaBackend b, Tensor out, int op, float s, float t, Tensor x) {
        long n = out.numel();
        b.launch1d(MODULE, "lk_map_vec4", (n + 3) / 4, a -> a.ptr(b.address(out))
                .i32(CudaDTypes.code(out.dtype())).i64(n).i32(op).f32(s).f32(t).ptr(b.address(x))
                .i32(CudaDTypes.code(x.dtype())));
    }

    /** FLUX rotary embedding: x [..., S, D], cos and sin [S, D]. */
    static Tensor rope(CudaBackend b, Tensor x, Tensor cos, Tensor sin) {
        if (x == null || cos == null || sin == null) {
            throw new IllegalArgumentException("rope: " + (x == null ? "x" : cos == null ? "cos" : "sin")
                    + " must not be null");
        }
        Tensor dx = CudaPlan.readable(b, "x", x);
        Tensor dc = CudaPlan.readable(b, "cos", cos);
        Tensor ds = CudaPlan.readable(b, "sin", sin);
        if (dx.dim() < 2) {
            throw new IllegalArgumentException("rope: x must be [..., S, D], got " + Arrays.toString(dx.shape()));
        }
        int seq = dx.size(-2);
        int d = dx.size(-1);
        if (d % 2 != 0) {
            throw new IllegalArgumentException("rope: the last dimension of x must be even (pairs), got x "
                    + Arrays.toString(dx.shape()));
        }
        int[] table = {seq, d};
        if (!Arrays.equals(dc.shape(), table) || !Arrays.equals(ds.shape(), table)) {
            throw new IllegalArgumentException("rope: cos and sin must be [S, D] = " + Arrays.toString(table)
                    + " for x " + Arrays.toString(dx.shape()) + "; got cos " + Arrays.toString(dc.shape())
                    + ", sin " + Arrays.toString(ds.shape()));
        }
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, dx.shape());
        long n = out.numel();
        if (n == 0) {
            return out;
        }
        StridedLayout lx = StridedLayout.of(dx);
        StridedLayout lc = StridedLayout.of(dc);
        StridedLayout ls = StridedLayout.of(ds);
        long tableSize = (long) seq * d;
        b.launch1d(MODULE, "lk_rope", n / 2, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt)).i64(n / 2)
                .i32(seq).i32(d)
                .ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype())).struct(lx.toStruct(a.arena()))
                .i32(CudaPlan.viewFlags(lx, n))
                .ptr(b.base(dc)).i32(CudaDTypes.code(dc.dtype())).struct(lc.toStruct(a.arena()))
                .i32(CudaPlan.viewFlags(lc, tableSize))
                .ptr(b.base(ds)).i32(CudaDTypes.code(ds.dtype())).struct(ls.toStruct(a.arena()))
                .i32(CudaPlan.viewFlags(ls, tableSize)));
        return out;
    }

    /** torch {@code F.interpolate(x, size=(outH, outW), mode="nearest")} for x [N, C, H, W]. */
    static Tensor upsampleNearest(CudaBackend b, Tensor x, int outH, int outW) {
        String op = "upsampleNearest";
        if (x == null) {
            throw new IllegalArgumentException(op + ": input x is null");
        }
        if (x.dim() != 4) {
            throw new IllegalArgumentException(op + ": input x must be 4-D [N, C, H, W], got shape "
                    + Arrays.toString(x.shape()));
        }
        Tensor dx = CudaPlan.readable(b, op + ": input x", x);
        int[] shape = dx.shape();
        if (shape[2] <= 0 || shape[3] <= 0 || outH <= 0 || outW <= 0) {
            throw new IllegalArgumentException(op + ": input and output sizes must be positive, got input "
                    + Arrays.toString(shape) + " and output size (" + outH + ", " + outW + ")");
        }
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, shape[0], shape[1], outH, outW);
        long n = out.numel();
        if (n == 0) {
            return out;
        }
        int h = shape[2];
        int w = shape[3];
        float sh = CudaPlan.nearestScale(h, outH);
        float sw = CudaPlan.nearestScale(w, outW);
        StridedLayout lx = StridedLayout.of(dx);
        b.launch1d(MODULE, "lk_upsample_nearest", n, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt)).i64(n)
                .i32(h).i32(w).i32(outH).i32(outW).f32(sh).f32(sw)
                .ptr(b.base(dx)).i32(CudaDTypes.code(dx.dtype())).struct(lx.toStruct(a.arena()))
                .i32(CudaPlan.viewFlags(lx, dx.numel())));
        return out;
    }

    /**
     * torch {@code cat(tensors, dim)}: same rank, equal sizes except in {@code dim}; tensors of shape [0] are
     * skipped. Mixed input dtypes give the compute dtype (as the CPU backend gives its compute dtype, f32).
     */
    static Tensor cat(CudaBackend b, int dim, List<Tensor> ts) {
        OpShapes.Cat c = OpShapes.cat(dim, ts);
        List<Tensor> parts = c.parts();
        List<Integer> positions = c.positions();
        DType outDt = b.computeDType();
        if (parts.isEmpty()) {
            return b.empty(outDt, 0);
        }
        int ax = c.axis();
        int[] outShape = c.outShape();
        long total = outShape[ax];
        List<Tensor> device = new ArrayList<>(parts.size());
        for (int k = 0; k < parts.size(); k++) {
            device.add(CudaPlan.readable(b, "cat: tensor " + positions.get(k), parts.get(k)));
        }
        Tensor out = b.empty(outDt, outShape);
        long[] oni = CudaPlan.around(outShape, ax);
        long outer = oni[0];
        long inner = oni[2];
        long outRow = total * inner;
        long col = 0;
        for (Tensor t : device) {
            long run = t.size(ax) * inner;
            long n = outer * run;
            if (n > 0) {
                StridedLayout l = StridedLayout.of(t);
                long at = col;
                b.launch1d(MODULE, "lk_cat_part", n, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt)).i64(n)
                        .i64(run).i64(outRow).i64(at)
                        .ptr(b.base(t)).i32(CudaDTypes.code(t.dtype())).struct(l.toStruct(a.arena()))
                        .i32(CudaPlan.viewFlags(l, n)));
            }
            col += run;
        }
        return out;
    }

    /**
     * torch {@code F.embedding(ids, weight)}: ids (I32 or I64, any shape) → rows of weight [V, E], in the compute
     * dtype. The ids are read back to the host and checked (an id outside [0, V) is an error naming it), then the
     * rows are gathered on the GPU.
     */
    static Tensor embedding(CudaBackend b, Tensor w, Tensor ids) {
        int[] outShape = OpShapes.embedding(w, ids);
        int vocab = w.size(0);
        int e = w.size(1);
        int[] rows = checkIds(idValues(b, ids), ids.shape(), vocab, w.shape());
        DType outDt = b.computeDType();
        Tensor out = b.empty(outDt, outShape);
        long n = out.numel();
        if (n == 0) {
            return out;
        }
        Tensor onDevice = b.onDevice(w);
        // kernels read no int8: an int8 weight is dequantized (its scale applied) first
        Tensor dw = onDevice.dtype() == DType.I8 ? b.to(onDevice, DType.F32) : onDevice;
        CudaDTypes.code(dw.dtype());
        Tensor scale = dw.scale() == null ? null : b.contiguous(b.to(dw.scale(), DType.F32));
        Tensor dev = b.fromInts(rows, rows.length);
        StridedLayout lw = StridedLayout.of(dw);
        b.launch1d(MODULE, "lk_embedding", n, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(outDt)).i64(n).i32(e)
                .ptr(b.address(dev)).ptr(b.base(dw)).i32(CudaDTypes.code(dw.dtype())).struct(lw.toStruct(a.arena()))
                .i32(CudaPlan.viewFlags(lw, dw.numel()))
                .ptr(scale == null ? 0 : b.address(scale)).i32(scale == null ? 0 : (int) scale.numel()));
        return out;
    }

    /** The ids in row-major order, read on the host (a device tensor is copied back). */
    private static long[] idValues(CudaBackend b, Tensor ids) {
        Tensor h = ids.storage() instanceof CpuStorage ? ids : b.toHost(ids);
        h = b.host().contiguous(h);
        CpuStorage s = CpuData.storage(h);
        long[] v = new long[Math.toIntExact(h.numel())];
        for (int i = 0; i < v.length; i++) {
            v[i] = CpuData.readLong(s, h.dtype(), h.offset() + i);
        }
        return v;
    }

    /**
     * The ids as row numbers, each checked to be within [0, vocab): otherwise an error naming the first one outside
     * with its index (the CPU backend's message).
     */
    static int[] checkIds(long[] ids, int[] shape, int vocab, int[] weightShape) {
        int[] rows = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            rows[i] = (int) ids[i];
            if (ids[i] < 0 || ids[i] >= vocab) {
                int[] idx = new int[shape.length];
                long r = i;
                for (int d = shape.length - 1; d >= 0; d--) {
                    idx[d] = (int) (r % shape[d]);
                    r /= shape[d];
                }
                throw new IllegalArgumentException("embedding: id " + ids[i] + " at index " + Arrays.toString(idx)
                        + " of ids " + Arrays.toString(shape) + " is out of range for a vocabulary of " + vocab
                        + " rows (weight " + Arrays.toString(weightShape) + ")");
            }
        }
        return rows;
    }
}
