package dev.likeness.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Argument checks and result shapes of the {@link Backend} ops, shared by every backend so that they accept the same
 * arguments and report the same errors (each message names the op, the argument and the shapes involved). Nothing
 * here reads tensor data: only dtypes, shapes and the given sizes.
 */
public final class OpShapes {
    private OpShapes() {
    }

    /** Fails unless {@code t} holds floating-point values (a float dtype, or I8 with a dequantization scale). */
    public static void requireFloat(String what, Tensor t) {
        if (!t.dtype().isFloatingPoint() && !(t.dtype() == DType.I8 && t.scale() != null)) {
            throw new IllegalArgumentException(what + " must be a floating-point tensor, got " + t);
        }
    }

    // ------------------------------------------------------------------ elementwise

    /** torch's broadcast shape of x and y, or an error naming both shapes and the first conflicting dimension. */
    public static int[] broadcastShape(String op, int[] a, int[] c) {
        int rank = Math.max(a.length, c.length);
        int[] out = new int[rank];
        for (int i = 0; i < rank; i++) {
            int da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
            int dc = i < rank - c.length ? 1 : c[i - (rank - c.length)];
            if (da != dc && da != 1 && dc != 1) {
                throw new IllegalArgumentException(op + ": x " + Arrays.toString(a) + " and y " + Arrays.toString(c)
                        + " are not broadcastable (dimension " + (i - rank) + ": " + da + " vs " + dc + ")");
            }
            out[i] = da == 1 ? dc : da;
        }
        return out;
    }

    // ------------------------------------------------------------------ reductions and norms

    /** Dimension {@code dim} of x (negative counts from the end) as an index, or an error naming x's shape. */
    public static int reducedAxis(String op, int[] shape, int dim) {
        int ax = dim < 0 ? dim + shape.length : dim;
        if (ax < 0 || ax >= shape.length) {
            throw new IllegalArgumentException(op + ": dim " + dim + " is out of range for x " + Arrays.toString(shape)
                    + " (rank " + shape.length + ")");
        }
        return ax;
    }

    /** var's correction (Bessel's correction is 1), after checking it is not negative. */
    public static int varCorrection(int correction) {
        if (correction < 0) {
            throw new IllegalArgumentException("var: correction must be >= 0, got " + correction);
        }
        return correction;
    }

    /** The shape of a reduction over {@code axis}: that dimension set to 1 (keep) or removed. */
    public static int[] reducedShape(int[] shape, int axis, boolean keep) {
        if (keep) {
            int[] s = shape.clone();
            s[axis] = 1;
            return s;
        }
        int[] s = new int[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i != axis) {
                s[j++] = shape[i];
            }
        }
        return s;
    }

    /** The channel count C of group_norm's x [N, C, *], after checking that it splits into {@code groups}. */
    public static int groupNormChannels(int[] shape, int groups) {
        if (shape.length < 2) {
            throw new IllegalArgumentException("groupNorm: x must be [N, C, *] (at least 2 dimensions), got "
                    + Arrays.toString(shape));
        }
        int c = shape[1];
        if (groups <= 0 || c % groups != 0) {
            throw new IllegalArgumentException("groupNorm: the " + c + " channels of x " + Arrays.toString(shape)
                    + " cannot be split into " + groups + " groups");
        }
        return c;
    }

    // ------------------------------------------------------------------ cat

    /**
     * The checked arguments of torch {@code cat}: the tensors that take part (shape-[0] tensors skipped), their
     * positions in the argument list, the concatenation axis and the result shape. With no part, axis is -1 and the
     * result shape [0].
     */
    public record Cat(List<Tensor> parts, List<Integer> positions, int axis, int[] outShape) {
    }

    /**
     * torch {@code cat(tensors, dim)}: all tensors have the same rank and equal sizes except in {@code dim}
     * (negative counts from the end). As in torch, tensors of shape [0] are skipped, whatever the others' shape.
     */
    public static Cat cat(int dim, List<Tensor> ts) {
        if (ts == null || ts.isEmpty()) {
            throw new IllegalArgumentException("cat: expected a non-empty list of tensors");
        }
        List<Tensor> parts = new ArrayList<>(ts.size());
        List<Integer> positions = new ArrayList<>(ts.size());
        for (int i = 0; i < ts.size(); i++) {
            Tensor t = ts.get(i);
            if (t == null) {
                throw new IllegalArgumentException("cat: tensor " + i + " is null");
            }
            if (t.dim() == 1 && t.size(0) == 0) {
                continue;
            }
            if (t.dim() == 0) {
                throw new IllegalArgumentException("cat: tensor " + i + " is zero-dimensional and cannot be "
                        + "concatenated");
            }
            parts.add(t);
            positions.add(i);
        }
        if (parts.isEmpty()) {
            return new Cat(List.of(), List.of(), -1, new int[] {0});
        }
        int[] shape = parts.get(0).shape();
        int rank = shape.length;
        int ax = dim < 0 ? dim + rank : dim;
        if (ax < 0 || ax >= rank) {
            throw new IllegalArgumentException("cat: dim " + dim + " is out of range for tensors of rank " + rank
                    + " (tensor " + positions.get(0) + " has shape " + Arrays.toString(shape) + ")");
        }
        long total = 0;
        for (int k = 0; k < parts.size(); k++) {
            int[] s = parts.get(k).shape();
            boolean ok = s.length == rank;
            for (int d = 0; ok && d < rank; d++) {
                ok = d == ax || s[d] == shape[d];
            }
            if (!ok) {
                throw new IllegalArgumentException("cat: sizes must match except in dimension " + dim + ": tensor "
                        + positions.get(0) + " has shape " + Arrays.toString(shape) + ", tensor " + positions.get(k)
                        + " has shape " + Arrays.toString(s));
            }
            total += s[ax];
        }
        int[] outShape = shape.clone();
        outShape[ax] = Math.toIntExact(total);
        return new Cat(List.copyOf(parts), List.copyOf(positions), ax, outShape);
    }

    // ------------------------------------------------------------------ embedding

    /**
     * torch {@code F.embedding(ids, weight)}: weight [V, E] (floating point), ids I32 or I64 of any shape. Returns the
     * result shape: ids' shape plus a last dimension E. (The ids' values are the backend's to check.)
     */
    public static int[] embedding(Tensor w, Tensor ids) {
        if (w == null || ids == null) {
            throw new IllegalArgumentException("embedding: " + (w == null ? "weight" : "ids") + " must not be null");
        }
        requireFloat("embedding: weight", w);
        if (w.dim() != 2) {
            throw new IllegalArgumentException("embedding: weight must be 2-D [vocabulary, dim], got shape "
                    + Arrays.toString(w.shape()));
        }
        if (ids.dtype() != DType.I32 && ids.dtype() != DType.I64) {
            throw new IllegalArgumentException("embedding: ids must be an I32 or I64 tensor, got " + ids);
        }
        int[] idShape = ids.shape();
        int[] outShape = Arrays.copyOf(idShape, idShape.length + 1);
        outShape[idShape.length] = w.size(1);
        return outShape;
    }

    // ------------------------------------------------------------------ linear and matmul

    /**
     * torch {@code F.linear(x, w, bias)}: x [..., K] (floating point), w [N, K], bias [N] or null. Returns the result
     * shape [..., N].
     */
    public static int[] linear(Tensor x, Tensor w, Tensor bias) {
        requireFloat("linear: x", x);
        requireFloat("linear: w", w);
        if (x.dim() < 1 || w.dim() != 2) {
            throw new IllegalArgumentException("linear: x must have at least 1 dimension and w must be 2-D [N, K], got x "
                    + shape(x) + " and w " + shape(w));
        }
        int k = x.size(-1);
        int n = w.size(0);
        if (w.size(1) != k) {
            throw new IllegalArgumentException("linear: x " + shape(x) + " has K=" + k + " features but w " + shape(w)
                    + " expects " + w.size(1));
        }
        if (bias != null) {
            requireFloat("linear: bias", bias);
            if (bias.dim() != 1 || bias.size(0) != n) {
                throw new IllegalArgumentException("linear: bias must be [" + n + "] for w " + shape(w) + ", got "
                        + shape(bias));
            }
        }
        int[] outShape = x.shape();
        outShape[outShape.length - 1] = n;
        return outShape;
    }

    /**
     * The sizes of one matmul: the broadcast batch dimensions, M, K, N (M = 1 for a 1-D a, N = 1 for a 1-D b), and
     * the result shape (batch, then M unless a is 1-D, then N unless b is 1-D).
     */
    public record Matmul(int[] batch, int m, int k, int n, int[] outShape) {
    }

    /**
     * torch {@code matmul(a, b)} for a [..., M, K] and b [..., K, N] with broadcast batch dimensions; a 1-D a is a
     * row vector and a 1-D b a column vector, and their dimension is dropped from the result, as torch does.
     */
    public static Matmul matmul(Tensor a, Tensor b) {
        requireFloat("matmul: a", a);
        requireFloat("matmul: b", b);
        if (a.dim() == 0 || b.dim() == 0) {
            throw new IllegalArgumentException("matmul: both arguments need at least 1 dimension, got a " + shape(a)
                    + " and b " + shape(b));
        }
        int k = a.size(-1);
        int kb = b.dim() == 1 ? b.size(0) : b.size(-2);
        if (kb != k) {
            throw new IllegalArgumentException("matmul: a " + shape(a) + " has K=" + k + " columns but b " + shape(b)
                    + " has " + kb + " rows");
        }
        int ra = Math.max(0, a.dim() - 2);
        int rb = Math.max(0, b.dim() - 2);
        int rank = Math.max(ra, rb);
        int[] batch = new int[rank];
        for (int d = 0; d < rank; d++) {
            int da = d - (rank - ra);
            int db = d - (rank - rb);
            int na = da >= 0 ? a.size(da) : 1;
            int nb = db >= 0 ? b.size(db) : 1;
            if (na != nb && na != 1 && nb != 1) {
                throw new IllegalArgumentException("matmul: batch dimensions of a " + shape(a) + " and b " + shape(b)
                        + " do not broadcast");
            }
            batch[d] = Math.max(na, nb);
        }
        int m = a.dim() == 1 ? 1 : a.size(-2);
        int n = b.dim() == 1 ? 1 : b.size(-1);
        int[] outShape = new int[rank + 2 - (a.dim() == 1 ? 1 : 0) - (b.dim() == 1 ? 1 : 0)];
        System.arraycopy(batch, 0, outShape, 0, rank);
        int p = rank;
        if (a.dim() != 1) {
            outShape[p++] = m;
        }
        if (b.dim() != 1) {
            outShape[p] = n;
        }
        return new Matmul(batch, m, k, n, outShape);
    }

    // ------------------------------------------------------------------ attention

    /** The sizes of one attention call: q [batch, heads, lq, d], k [batch, heads, lk, d], v [batch, heads, lk, dv]. */
    public record Attention(int batch, int heads, int lq, int lk, int d, int dv) {
        /** The result shape [batch, heads, lq, dv]. */
        public int[] outShape() {
            return new int[] {batch, heads, lq, dv};
        }
    }

    /** The checks of scaled dot-product attention's q, k and v (the mask is the backend's to check). */
    public static Attention attention(Tensor q, Tensor k, Tensor v) {
        requireFloat("q", q);
        requireFloat("k", k);
        requireFloat("v", v);
        if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) {
            throw new IllegalArgumentException("attention expects q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv]; "
                    + "got " + attentionShapes(q, k, v));
        }
        int batch = q.size(0);
        int heads = q.size(1);
        int lq = q.size(2);
        int d = q.size(3);
        int lk = k.size(2);
        int dv = v.size(3);
        if (k.size(0) != batch || v.size(0) != batch || k.size(1) != heads || v.size(1) != heads) {
            throw new IllegalArgumentException("attention: q, k and v must have the same batch and head dimensions; "
                    + "got " + attentionShapes(q, k, v));
        }
        if (k.size(3) != d) {
            throw new IllegalArgumentException("attention: k's head size must equal q's (D); got "
                    + attentionShapes(q, k, v));
        }
        if (v.size(2) != lk) {
            throw new IllegalArgumentException("attention: v must have as many keys as k (Lk); got "
                    + attentionShapes(q, k, v));
        }
        if (d == 0) {
            throw new IllegalArgumentException("attention: the head size D of q and k must be positive; got "
                    + attentionShapes(q, k, v));
        }
        return new Attention(batch, heads, lq, lk, d, dv);
    }

    /** "q [..], k [..], v [..]" for attention's messages. */
    public static String attentionShapes(Tensor q, Tensor k, Tensor v) {
        return "q " + shape(q) + ", k " + shape(k) + ", v " + shape(v);
    }

    // ------------------------------------------------------------------ conv2d

    /**
     * The validated sizes of one conv2d: input [n, c, h, w], weight [o, cg = c / groups, kh, kw], stride (sh, sw),
     * padding (ph, pw), og = o / groups output channels per group, output oh × ow.
     */
    public record Conv2d(int n, int c, int h, int w, int o, int kh, int kw, int sh, int sw, int ph, int pw,
                         int groups, int cg, int og, int oh, int ow) {
        /** " (input x [..], weight w [..], groups g)" for messages about this convolution. */
        public String describe() {
            return describe(new int[] {n, c, h, w}, new int[] {o, cg, kh, kw}, groups);
        }

        private static String describe(int[] xs, int[] ws, int groups) {
            return " (input x " + Arrays.toString(xs) + ", weight w " + Arrays.toString(ws) + ", groups " + groups
                    + ")";
        }
    }

    /**
     * torch {@code F.conv2d(x, w, bias, stride, padding, dilation=1, groups)}: x [N, C, H, W], w [O, C/groups, kh,
     * kw], bias [O] or null.
     */
    public static Conv2d conv2d(Tensor x, Tensor w, Tensor bias, int sh, int sw, int ph, int pw, int groups) {
        if (x == null || w == null) {
            throw new IllegalArgumentException("conv2d: input x and weight w must not be null");
        }
        if (x.dim() != 4) {
            throw new IllegalArgumentException("conv2d: input x must be 4-D [N, C, H, W], got shape "
                    + Arrays.toString(x.shape()));
        }
        if (w.dim() != 4) {
            throw new IllegalArgumentException("conv2d: weight w must be 4-D [O, C/groups, kh, kw], got shape "
                    + Arrays.toString(w.shape()));
        }
        requireFloat("conv2d: input x", x);
        requireFloat("conv2d: weight w", w);
        if (sh < 1 || sw < 1) {
            throw new IllegalArgumentException("conv2d: stride must be positive, got (" + sh + ", " + sw + ")");
        }
        if (ph < 0 || pw < 0) {
            throw new IllegalArgumentException("conv2d: padding must be non-negative, got (" + ph + ", " + pw + ")");
        }
        if (groups < 1) {
            throw new IllegalArgumentException("conv2d: groups must be positive, got " + groups);
        }
        int[] xs = x.shape();
        int[] ws = w.shape();
        int c = xs[1];
        int o = ws[0];
        String shapes = Conv2d.describe(xs, ws, groups);
        if (c == 0 || c % groups != 0) {
            throw new IllegalArgumentException("conv2d: input channels C = " + c
                    + " must be a positive multiple of groups" + shapes);
        }
        if (o == 0 || o % groups != 0) {
            throw new IllegalArgumentException("conv2d: weight out channels O = " + o
                    + " must be a positive multiple of groups" + shapes);
        }
        if (ws[1] != c / groups) {
            throw new IllegalArgumentException("conv2d: weight w has " + ws[1]
                    + " input channels per group, the input gives C / groups = " + c / groups + shapes);
        }
        if (ws[2] < 1 || ws[3] < 1) {
            throw new IllegalArgumentException("conv2d: kernel size must be positive" + shapes);
        }
        long paddedH = xs[2] + 2L * ph;
        long paddedW = xs[3] + 2L * pw;
        if (ws[2] > paddedH || ws[3] > paddedW) {
            throw new IllegalArgumentException("conv2d: kernel " + ws[2] + "x" + ws[3]
                    + " is larger than the padded input " + paddedH + "x" + paddedW + shapes);
        }
        if (bias != null) {
            requireFloat("conv2d: bias", bias);
            if (bias.dim() != 1 || bias.size(0) != o) {
                throw new IllegalArgumentException("conv2d: bias must have shape [" + o + "], got "
                        + Arrays.toString(bias.shape()) + shapes);
            }
        }
        int oh = (int) ((paddedH - ws[2]) / sh + 1);
        int ow = (int) ((paddedW - ws[3]) / sw + 1);
        return new Conv2d(xs[0], c, xs[2], xs[3], o, ws[2], ws[3], sh, sw, ph, pw, groups, c / groups, o / groups,
                oh, ow);
    }

    private static String shape(Tensor t) {
        return Arrays.toString(t.shape());
    }
}
