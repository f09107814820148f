package dev.likeness.engine.cpu;

import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * Shape ops that produce new data: torch {@code cat} and {@code F.embedding}. Values of any storage dtype are
 * converted to f32 on the way (a cat of f32, bf16 and f16 tensors gives torch's promoted f32 result; an embedding
 * row of a bf16 or scaled int8 table is converted as it is copied).
 */
final class Shapes {
    private Shapes() {
    }

    /** Elements per parallel chunk of a copy, roughly. */
    private static final int GRAIN = 1 << 16;

    /**
     * torch {@code cat(tensors, dim)}: all tensors have the same rank and equal sizes except in {@code dim}
     * (negative counts from the end). As in torch, tensors of shape [0] are skipped, whatever the others' shape.
     */
    static Tensor cat(CpuBackend b, int dim, List<Tensor> ts) {
        OpShapes.Cat c = OpShapes.cat(dim, ts);
        List<Tensor> parts = c.parts();
        if (parts.isEmpty()) {
            return b.wrap(new float[0], 0);
        }
        int ax = c.axis();
        int[] outShape = c.outShape();
        int[] shape = parts.get(0).shape();
        int rank = shape.length;
        int total = outShape[ax];
        int outer = Reductions.product(shape, 0, ax);
        int inner = Reductions.product(shape, ax + 1, rank);
        float[] out = new float[Math.toIntExact(Tensor.numel(outShape))];
        int outRow = total * inner;
        int at = 0;
        for (Tensor t : parts) {
            int run = t.size(ax) * inner;
            if (run > 0) {
                float[] src = CpuData.floats(t);
                int col = at;
                b.parallel().range(outer, Math.max(1, GRAIN / run), (start, end) -> {
                    for (int o = start; o < end; o++) {
                        System.arraycopy(src, o * run, out, o * outRow + col, run);
                    }
                });
            }
            at += run;
        }
        return b.wrap(out, outShape);
    }

    /**
     * torch {@code F.embedding(ids, weight)}: row {@code ids[...]} of weight [V, E] for every id; the result has the
     * shape of ids plus a last dimension E. ids must be I32 or I64; an id outside [0, V) is an error naming it.
     */
    static Tensor embedding(CpuBackend b, Tensor w, Tensor ids) {
        int[] outShape = OpShapes.embedding(w, ids);
        int vocab = w.size(0);
        int e = w.size(1);
        int[] rows = rowIds(ids, vocab, w);
        float[] out = new float[Math.toIntExact((long) rows.length * e)];
        if (e > 0) {
            b.parallel().range(rows.length, Math.max(1, GRAIN / e), (start, end) -> {
                for (int i = start; i < end; i++) {
                    CpuData.readRow(w, rows[i], 0, e, out, i * e);
                }
            });
        }
        return b.wrap(out, outShape);
    }

    /** The ids in row-major order of their (possibly strided) view, each checked against the vocabulary size. */
    private static int[] rowIds(Tensor ids, int vocab, Tensor w) {
        CpuStorage s = CpuData.storage(ids);
        int[] shape = ids.shape();
        long[] st = ids.strides();
        int n = Math.toIntExact(ids.numel());
        int[] out = new int[n];
        int[] idx = new int[shape.length];
        long e = ids.offset();
        for (int i = 0; i < n; i++) {
            long id = CpuData.readLong(s, ids.dtype(), e);
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("embedding: id " + id + " at index " + Arrays.toString(idx)
                        + " of ids " + Arrays.toString(shape) + " is out of range for a vocabulary of " + vocab
                        + " rows (weight " + Arrays.toString(w.shape()) + ")");
            }
            out[i] = (int) id;
            for (int d = shape.length - 1; d >= 0; d--) {
                e += st[d];
                if (++idx[d] < shape[d]) {
                    break;
                }
                e -= st[d] * shape[d];
                idx[d] = 0;
            }
        }
        return out;
    }
}
