package dev.likeness.engine.cpu;

import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Matrix products on the CPU: torch {@code F.linear} and {@code torch.matmul}, computed in f32 by a cache-blocked
 * GEMM (the GotoBLAS / BLIS scheme) around a Vector API register-tile micro-kernel.
 *
 * <p>For {@code C[m, n] = A[m, k] · B[k, n] (+ bias[n])} (see {@link #gemmBySlabs}):
 * <ul>
 *   <li>The columns of B are cut into slabs of up to {@link #NB} columns, the tasks that the threads share. A task
 *       packs its slab, up to {@link #KB} rows at a time, into NR-column panels (rows of NR consecutive values), so
 *       that the micro-kernel reads B sequentially. Packing is where a weight's storage dtype (bf16, f16, f8, int8
 *       with its dequantization scale) is converted to f32: block by block, never as a full f32 copy. A weight
 *       [N, K] used transposed, as F.linear does, is transposed L × L values at a time with vector shuffles.</li>
 *   <li>The task then multiplies the rows of A with its slab: {@link #MC} rows at a time (their A slice stays in
 *       L2 while it meets every panel), {@link #KC} deep at a time (one panel slice, KC × NR floats, is what the
 *       micro-kernel streams). Rows of A are read in place when they are contiguous f32 in a heap array.</li>
 *   <li>The micro-kernel computes an MR × NR tile of C with MR × NV accumulator vectors held in local variables:
 *       per k it loads the NV vectors of the panel row and broadcasts one A value per row. The tile is 6 × 2
 *       vectors (6 × 32 floats) with 512-bit vectors (AVX-512 has 32 vector registers) and 3 × 3 vectors (3 × 24
 *       with AVX2) otherwise: with 16 registers, 9 accumulators, 3 B vectors and the broadcasts leave C2 room to
 *       schedule without spilling an accumulator, which a 6 × 2 tile does not.</li>
 *   <li>Tiles at the M or N edge are computed into a scratch tile and the valid part is copied out.</li>
 * </ul>
 * A linear layer with at most {@link #GEMV_ROWS} rows skips packing: it is a matrix-vector product that converts
 * each weight row once and dots it with every row of x.
 *
 * <p>The block sizes were chosen by measurement on a 2-core AMD EPYC (Zen 4; L1d 32 KiB, L2 1 MiB per core),
 * both with 512-bit vectors and restricted to AVX2 ({@code -XX:UseAVX=2}), against OpenBLAS at the same shapes.
 * The kernels index arrays with offsets derived from validated shapes; they rely on the Vector API bounds checks
 * being switched off ({@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0}) for speed, not for correctness.
 */
final class Gemm {
    private Gemm() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Floats per vector (16 with AVX-512, 8 with AVX2). */
    private static final int L = S.length();
    /** Whether the machine has 512-bit vectors (and so 32 vector registers). */
    private static final boolean WIDE = S.vectorBitSize() >= 512;
    /** Rows of the register tile. */
    static final int MR = WIDE ? 6 : 3;
    /** Columns of the register tile: 2 or 3 vectors. */
    static final int NR = (WIDE ? 2 : 3) * L;
    /** Depth of one micro-kernel call: a panel slice is KC × NR floats (64 KiB or 48 KiB, read from L2). */
    static final int KC = 512;
    /** Rows of A per block (a multiple of MR): their KC-deep slice (144 KiB) stays in L2. */
    static final int MC = 72;
    /** Columns of B per task (a multiple of NR). */
    static final int NB = 256 / NR * NR;
    /** Rows of B packed at once: a packed slab is at most KB × NB floats (3 MiB). */
    static final int KB = 3072;
    /** A linear layer with at most this many rows of x runs as matrix-vector products. */
    static final int GEMV_ROWS = 4;

    // scratch buffers, one set per thread
    private static final int B_PACKED = 0;
    private static final int C_EDGE = 1;
    private static final int W_ROWS = 2;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[3][]);

    /** A thread-local buffer of at least {@code size} floats (contents undefined). */
    private static float[] scratch(int slot, int size) {
        float[][] s = SCRATCH.get();
        if (s[slot] == null || s[slot].length < size) {
            s[slot] = new float[size];
        }
        return s[slot];
    }

    private static int roundUp(int v, int m) {
        return (v + m - 1) / m * m;
    }

    private static int ceilDiv(int v, int m) {
        return (v + m - 1) / m;
    }

    // ------------------------------------------------------------------ operands

    /**
     * A matrix operand. Either f32 values in a heap array, element (r, c) at {@code data[off + r * rs + c * cs]},
     * or ({@code w != null}) a 2-D weight tensor in its storage dtype used transposed, as F.linear does:
     * element (r, c) = {@code w[c, r] * scale[c]}.
     */
    private record Mat(float[] data, int off, int rs, int cs, Tensor w, CpuStorage ws, float[] scales) {
        static Mat of(float[] data, long off, long rs, long cs) {
            return new Mat(data, Math.toIntExact(off), Math.toIntExact(rs), Math.toIntExact(cs), null, null, null);
        }

        static Mat transposedWeight(Tensor w) {
            return new Mat(null, 0, 0, 0, w, CpuData.storage(w), CpuData.rowScales(w));
        }
    }

    /** The backing array if {@code t} is an unscaled f32 tensor in a heap array, else null. */
    private static float[] heapFloats(Tensor t) {
        return t.scale() == null ? CpuData.storage(t).floats() : null;
    }

    // ------------------------------------------------------------------ torch entry points

    /**
     * torch {@code F.linear(x, w, bias)}: x [..., K] (any view and dtype) times w [N, K] transposed, plus bias [N]
     * (nullable). The weight is read in its storage dtype, dequantized by its scale ([N] or [1]) while packing.
     */
    static Tensor linear(CpuBackend be, Tensor x, Tensor w, Tensor bias) {
        int[] outShape = OpShapes.linear(x, w, bias);
        int k = x.size(-1);
        int n = w.size(0);
        int m = Math.toIntExact(Tensor.numel(Arrays.copyOf(outShape, outShape.length - 1)));
        float[] out = new float[Math.toIntExact((long) m * n)];
        Mat a = rowsOf(x);
        float[] wf = heapFloats(w);
        Mat b = wf != null ? Mat.of(wf, w.offset(), w.stride(1), w.stride(0)) : Mat.transposedWeight(w);
        float[] bv = bias == null ? null : Arrays.copyOf(CpuData.floats(bias), roundUp(n, NR));
        if (m <= GEMV_ROWS) {
            gemv(be.parallel(), m, n, k, a, b, out, bv);
        } else {
            gemm(be.parallel(), m, n, k, a, b, out, 0, n, bv);
        }
        return be.wrap(out, outShape);
    }

    /** x [..., K] as an [M, K] operand: in place when the rows of an f32 heap tensor are evenly spaced, else copied. */
    private static Mat rowsOf(Tensor x) {
        float[] f = heapFloats(x);
        if (f != null && (x.stride(-1) == 1 || x.size(-1) <= 1)) {
            long rs = -1;
            long next = 0;
            boolean even = true;
            for (int d = x.dim() - 2; d >= 0 && even; d--) {
                if (x.size(d) == 1) {
                    continue;
                }
                if (rs < 0) {
                    rs = x.stride(d);
                } else {
                    even = x.stride(d) == next;
                }
                next = x.stride(d) * x.size(d);
            }
            if (even) {
                return Mat.of(f, x.offset(), rs < 0 ? x.size(-1) : rs, 1);
            }
        }
        return Mat.of(CpuData.copyFloats(x), 0, x.size(-1), 1);
    }

    /**
     * torch {@code matmul(a, b)} for a [..., M, K] and b [..., K, N] with broadcast batch dimensions; a 1-D a is a
     * row vector and a 1-D b a column vector, and their dimension is dropped from the result, as torch does.
     */
    static Tensor matmul(CpuBackend be, Tensor a, Tensor bb) {
        OpShapes.Matmul mm = OpShapes.matmul(a, bb);
        int[] batch = mm.batch();
        Tensor a2 = heapF32(be, a);
        Tensor b2 = heapF32(be, bb);
        if (a.dim() == 1) {
            a2 = a2.unsqueeze(0);
        }
        if (bb.dim() == 1) {
            b2 = b2.unsqueeze(1);
        }
        int m = mm.m();
        int k = mm.k();
        int n = mm.n();
        // the batch dimensions (right-aligned) and each operand's strides along them, 0 where it is broadcast
        int ra = a2.dim() - 2;
        int rb = b2.dim() - 2;
        int rank = batch.length;
        long[] sa = new long[rank];
        long[] sb = new long[rank];
        for (int d = 0; d < rank; d++) {
            int da = d - (rank - ra);
            int db = d - (rank - rb);
            int na = da >= 0 ? a2.size(da) : 1;
            int nb = db >= 0 ? b2.size(db) : 1;
            sa[d] = na == 1 ? 0 : a2.stride(da);
            sb[d] = nb == 1 ? 0 : b2.stride(db);
        }
        int nBatch = Math.toIntExact(Tensor.numel(batch));
        int[] aOff = new int[nBatch];
        int[] bOff = new int[nBatch];
        int[] idx = new int[rank];
        for (int i = 0; i < nBatch; i++) {
            long oa = a2.offset();
            long ob = b2.offset();
            for (int d = 0; d < rank; d++) {
                oa += idx[d] * sa[d];
                ob += idx[d] * sb[d];
            }
            aOff[i] = Math.toIntExact(oa);
            bOff[i] = Math.toIntExact(ob);
            for (int d = rank - 1; d >= 0; d--) {
                if (++idx[d] < batch[d]) {
                    break;
                }
                idx[d] = 0;
            }
        }
        float[] out = new float[Math.toIntExact((long) nBatch * m * n)];
        float[] ad = heapFloats(a2);
        float[] bd = heapFloats(b2);
        long ars = a2.stride(-2);
        long acs = a2.stride(-1);
        long brs = b2.stride(-2);
        long bcs = b2.stride(-1);
        Parallel par = be.parallel();
        Parallel.Range body = (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                gemm(par, m, n, k, Mat.of(ad, aOff[i], ars, acs), Mat.of(bd, bOff[i], brs, bcs), out, i * m * n, n,
                        null);
            }
        };
        int t = par.threads();
        if (nBatch > 1 && t > 1 && (nBatch % t == 0 || nBatch >= 4 * t)) {
            par.range(nBatch, 1, body); // one product per task; the products run single-threaded inside
        } else {
            body.run(0, nBatch);
        }
        return be.wrap(out, mm.outShape());
    }

    /** {@code t} itself if it is an unscaled f32 heap tensor, else an f32 heap copy (dequantized). */
    private static Tensor heapF32(CpuBackend be, Tensor t) {
        return heapFloats(t) != null ? t : be.wrap(CpuData.copyFloats(t), t.shape());
    }

    // ------------------------------------------------------------------ blocked product

    /**
     * {@code C[m, n] = A[m, k] · B[k, n] + bias[n]} into {@code c} (row stride {@code ldc}, from {@code cOff}),
     * overwriting C. {@code bias} is null or holds at least {@code roundUp(n, NR)} values. Runs on the threads of
     * {@code par}, or on the calling thread alone when called from inside a parallel task.
     */
    private static void gemm(Parallel par, int m, int n, int k, Mat a, Mat b, float[] c, int cOff, int ldc,
                             float[] bias) {
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0) {
            for (int i = 0; i < m; i++) {
                int row = cOff + i * ldc;
                if (bias != null) {
                    System.arraycopy(bias, 0, c, row, n);
                } else {
                    Arrays.fill(c, row, row + n, 0f);
                }
            }
            return;
        }
        Rows rows = new Rows(a.cs == 1 ? a : copyRows(a, m, k), m, k, c, cOff, ldc);
        int threads = ForkJoinTask.inForkJoinPool() ? 1 : par.threads();
        gemmBySlabs(par, threads, rows, n, k, b, bias);
    }

    /**
     * B is cut into slabs of up to NB columns (narrower when there are few columns, so that every thread gets
     * several) and, when there are few slabs, the rows into parts; each task packs its slab (KB rows at a time,
     * reading each weight row in one sweep) into its own buffer and multiplies its rows with it: row block by row
     * block (MC rows, whose A slice stays in L2), KC deep at a time, panel by panel.
     */
    private static void gemmBySlabs(Parallel par, int threads, Rows rows, int n, int k, Mat b, float[] bias) {
        int units = ceilDiv(rows.m, MR);
        int nb = Math.min(NB, Math.max(NR, roundUp(ceilDiv(n, 4 * threads), NR)));
        int slabs = ceilDiv(n, nb);
        int parts = threads > 1 && slabs < 2 * threads ? Math.min(units, ceilDiv(2 * threads, slabs)) : 1;
        int kbMax = Math.min(KB, k);
        int tasks = slabs * parts;
        AtomicInteger next = new AtomicInteger();
        // one loop per thread taking tasks in order: a thread slowed down by the machine simply takes fewer
        par.range(Math.min(threads, tasks), 1, (w0, w1) -> {
            float[] bp = scratch(B_PACKED, kbMax * nb);
            for (int t = next.getAndIncrement(); t < tasks; t = next.getAndIncrement()) {
                int jc = t / parts * nb;
                int part = t % parts;
                int width = Math.min(nb, n - jc);
                int panels = ceilDiv(width, NR);
                int u0 = part * units / parts;
                int u1 = (part + 1) * units / parts;
                for (int kb0 = 0; kb0 < k; kb0 += KB) {
                    int kb = Math.min(KB, k - kb0);
                    for (int q = 0; q < panels; q++) {
                        packB(b, kb0, kb, jc + q * NR, Math.min(NR, width - q * NR), bp, q * kb * NR);
                    }
                    for (int ub = u0; ub < u1; ub += MC / MR) {
                        int r0 = ub * MR;
                        int r1 = Math.min(rows.m, Math.min(u1, ub + MC / MR) * MR);
                        for (int pc = kb0; pc < kb0 + kb; pc += KC) {
                            int kc = Math.min(KC, kb0 + kb - pc);
                            for (int q = 0; q < panels; q++) {
                                int n0 = jc + q * NR;
                                rows.timesPanel(r0, r1, pc, kc, bp, q * kb * NR + (pc - kb0) * NR, n0,
                                        Math.min(NR, n - n0), pc > 0, pc == 0 ? bias : null);
                            }
                        }
                    }
                }
            }
        });
    }

    /**
     * The A side of a product and its output C: A rows are read in place (row i at {@code a.off + i * a.rs}); the
     * last m % MR rows also sit zero-padded to a full MR-row tile in {@code edge} (row stride k).
     */
    private static final class Rows {
        final float[] a;
        final int off;
        final int lda;
        final int m;
        final int full;
        final float[] edge;
        final float[] c;
        final int cOff;
        final int ldc;

        Rows(Mat am, int m, int k, float[] c, int cOff, int ldc) {
            this.a = am.data;
            this.off = am.off;
            this.lda = am.rs;
            this.m = m;
            this.full = m / MR * MR;
            this.c = c;
            this.cOff = cOff;
            this.ldc = ldc;
            if (full < m) {
                edge = new float[MR * k];
                for (int i = full; i < m; i++) {
                    System.arraycopy(a, off + i * lda, edge, (i - full) * k, k);
                }
            } else {
                edge = null;
            }
        }

        /**
         * C[r0..r1, n0..n0+nr] = (add ? C : bias) + A[r0..r1, pc..pc+kc] · panel, for a packed panel at
         * {@code bp[bo..]}; r0 is a multiple of MR.
         */
        void timesPanel(int r0, int r1, int pc, int kc, float[] bp, int bo, int n0, int nr, boolean add,
                        float[] bias) {
            int end = Math.min(r1, full);
            int ir = r0;
            if (nr == NR) {
                for (; ir + MR <= end; ir += MR) {
                    kernel(a, off + ir * lda + pc, lda, bp, bo, kc, c, cOff + ir * ldc + n0, ldc, add, bias, n0);
                }
            }
            for (; ir < r1; ir += MR) {
                float[] tile = scratch(C_EDGE, MR * NR);
                if (ir < full) {
                    kernel(a, off + ir * lda + pc, lda, bp, bo, kc, tile, 0, NR, false, bias, n0);
                } else {
                    kernel(edge, pc, edge.length / MR, bp, bo, kc, tile, 0, NR, false, bias, n0);
                }
                int rows = Math.min(MR, r1 - ir);
                int co = cOff + ir * ldc + n0;
                for (int i = 0; i < rows; i++) {
                    int row = co + i * ldc;
                    for (int j = 0; j < nr; j++) {
                        c[row + j] = add ? c[row + j] + tile[i * NR + j] : tile[i * NR + j];
                    }
                }
            }
        }
    }

    /** A row-major copy of A [m, k] (for an A whose rows are not contiguous). */
    private static Mat copyRows(Mat a, int m, int k) {
        float[] d = a.data;
        float[] out = new float[m * k];
        for (int i = 0; i < m; i++) {
            int src = a.off + i * a.rs;
            for (int kk = 0; kk < k; kk++) {
                out[i * k + kk] = d[src + kk * a.cs];
            }
        }
        return Mat.of(out, 0, k, 1);
    }

    // ------------------------------------------------------------------ packing B

    /**
     * Packs rows k0..k0+kc, columns n0..n0+nr of B as kc rows of NR values at {@code bp[bo..]}; columns past
     * nr are zero.
     */
    private static void packB(Mat b, int k0, int kc, int n0, int nr, float[] bp, int bo) {
        if (b.w != null) {
            packWeight(b, k0, kc, n0, nr, bp, bo);
            return;
        }
        float[] d = b.data;
        if (b.cs == 1) {
            for (int kk = 0; kk < kc; kk++) {
                System.arraycopy(d, b.off + (k0 + kk) * b.rs + n0, bp, bo + kk * NR, nr);
                Arrays.fill(bp, bo + kk * NR + nr, bo + (kk + 1) * NR, 0f);
            }
        } else if (b.rs == 1) {
            // B is the transpose of a row-major matrix: columns of B are contiguous runs
            int g = 0;
            for (; g + L <= nr; g += L) {
                transposeRuns(d, b.off + k0 + (n0 + g) * b.cs, b.cs, kc, bp, bo + g);
            }
            for (int j = g; j < NR; j++) {
                int src = b.off + k0 + (n0 + j) * b.cs;
                for (int kk = 0; kk < kc; kk++) {
                    bp[bo + kk * NR + j] = j < nr ? d[src + kk] : 0f;
                }
            }
        } else {
            for (int kk = 0; kk < kc; kk++) {
                for (int j = 0; j < NR; j++) {
                    bp[bo + kk * NR + j] = j < nr ? d[b.off + (k0 + kk) * b.rs + (n0 + j) * b.cs] : 0f;
                }
            }
        }
    }

    /**
     * Packs a block of a weight w [N, K] used transposed: L rows of w at a time are converted (and dequantized)
     * into a scratch block, which is then transposed into the panel.
     */
    private static void packWeight(Mat b, int k0, int kc, int n0, int nr, float[] bp, int bo) {
        float[] rows = scratch(W_ROWS, L * kc);
        for (int g = 0; g < NR; g += L) {
            for (int j = 0; j < L; j++) {
                if (g + j < nr) {
                    weightRow(b, n0 + g + j, k0, kc, rows, j * kc);
                } else {
                    Arrays.fill(rows, j * kc, (j + 1) * kc, 0f);
                }
            }
            transposeRuns(rows, 0, kc, kc, bp, bo + g);
        }
    }

    /** Row {@code row} of the weight, columns k0..k0+len, dequantized to f32 into {@code dst[off..]}. */
    private static void weightRow(Mat b, int row, int k0, int len, float[] dst, int off) {
        Tensor w = b.w;
        long s1 = w.stride(1);
        long src = w.offset() + row * w.stride(0) + k0 * s1;
        if (s1 == 1) {
            CpuData.readRun(b.ws, w.dtype(), src, dst, off, len);
        } else {
            for (int i = 0; i < len; i++) {
                CpuData.readRun(b.ws, w.dtype(), src + i * s1, dst, off + i, 1);
            }
        }
        if (b.scales != null) {
            float s = b.scales[row];
            for (int i = 0; i < len; i++) {
                dst[off + i] *= s;
            }
        }
    }

    /**
     * Transposes L runs of {@code len} floats (run j at {@code src[so + j * stride ..]}) into {@code len} rows of
     * L values at {@code dst[dOff + kk * NR ..]}: L × L blocks through vector shuffles, the rest one by one.
     */
    private static void transposeRuns(float[] src, int so, int stride, int len, float[] dst, int dOff) {
        int kk = 0;
        if (L == 16) {
            for (; kk + 16 <= len; kk += 16) {
                transpose16(src, so + kk, stride, dst, dOff + kk * NR);
            }
        } else if (L == 8) {
            for (; kk + 8 <= len; kk += 8) {
                transpose8(src, so + kk, stride, dst, dOff + kk * NR);
            }
        }
        for (; kk < len; kk++) {
            for (int j = 0; j < L; j++) {
                dst[dOff + kk * NR + j] = src[so + j * stride + kk];
            }
        }
    }

    /** Shuffle indices interleaving the low halves (and the high halves) of two vectors. */
    private static final float[] ZIP_LO = new float[L];
    private static final float[] ZIP_HI = new float[L];

    static {
        for (int i = 0; i < L / 2; i++) {
            ZIP_LO[2 * i] = i;
            ZIP_LO[2 * i + 1] = L + i;
            ZIP_HI[2 * i] = L / 2 + i;
            ZIP_HI[2 * i + 1] = L + L / 2 + i;
        }
    }

    /**
     * 16 × 16 transpose: four rounds of the perfect shuffle (row 2i ← zip-low(row i, row i + 8), row 2i + 1 ←
     * zip-high(row i, row i + 8)) turn rows into columns.
     */
    private static void transpose16(float[] s, int so, int st, float[] d, int dOff) {
        FloatVector lo = FloatVector.fromArray(S, ZIP_LO, 0);
        FloatVector hi = FloatVector.fromArray(S, ZIP_HI, 0);
        FloatVector r0 = FloatVector.fromArray(S, s, so);
        FloatVector r1 = FloatVector.fromArray(S, s, so + st);
        FloatVector r2 = FloatVector.fromArray(S, s, so + 2 * st);
        FloatVector r3 = FloatVector.fromArray(S, s, so + 3 * st);
        FloatVector r4 = FloatVector.fromArray(S, s, so + 4 * st);
        FloatVector r5 = FloatVector.fromArray(S, s, so + 5 * st);
        FloatVector r6 = FloatVector.fromArray(S, s, so + 6 * st);
        FloatVector r7 = FloatVector.fromArray(S, s, so + 7 * st);
        FloatVector r8 = FloatVector.fromArray(S, s, so + 8 * st);
        FloatVector r9 = FloatVector.fromArray(S, s, so + 9 * st);
        FloatVector r10 = FloatVector.fromArray(S, s, so + 10 * st);
        FloatVector r11 = FloatVector.fromArray(S, s, so + 11 * st);
        FloatVector r12 = FloatVector.fromArray(S, s, so + 12 * st);
        FloatVector r13 = FloatVector.fromArray(S, s, so + 13 * st);
        FloatVector r14 = FloatVector.fromArray(S, s, so + 14 * st);
        FloatVector r15 = FloatVector.fromArray(S, s, so + 15 * st);
        for (int round = 0; round < 4; round++) {
            FloatVector t0 = lo.selectFrom(r0, r8);
            FloatVector t1 = hi.selectFrom(r0, r8);
            FloatVector t2 = lo.selectFrom(r1, r9);
            FloatVector t3 = hi.selectFrom(r1, r9);
            FloatVector t4 = lo.selectFrom(r2, r10);
            FloatVector t5 = hi.selectFrom(r2, r10);
            FloatVector t6 = lo.selectFrom(r3, r11);
            FloatVector t7 = hi.selectFrom(r3, r11);
            FloatVector t8 = lo.selectFrom(r4, r12);
            FloatVector t9 = hi.selectFrom(r4, r12);
            FloatVector t10 = lo.selectFrom(r5, r13);
            FloatVector t11 = hi.selectFrom(r5, r13);
            FloatVector t12 = lo.selectFrom(r6, r14);
            FloatVector t13 = hi.selectFrom(r6, r14);
            FloatVector t14 = lo.selectFrom(r7, r15);
            FloatVector t15 = hi.selectFrom(r7, r15);
            r0 = t0;
            r1 = t1;
            r2 = t2;
            r3 = t3;
            r4 = t4;
            r5 = t5;
            r6 = t6;
            r7 = t7;
            r8 = t8;
            r9 = t9;
            r10 = t10;
            r11 = t11;
            r12 = t12;
            r13 = t13;
            r14 = t14;
            r15 = t15;
        }
        r0.intoArray(d, dOff);
        r1.intoArray(d, dOff + NR);
        r2.intoArray(d, dOff + 2 * NR);
        r3.intoArray(d, dOff + 3 * NR);
        r4.intoArray(d, dOff + 4 * NR);
        r5.intoArray(d, dOff + 5 * NR);
        r6.intoArray(d, dOff + 6 * NR);
        r7.intoArray(d, dOff + 7 * NR);
        r8.intoArray(d, dOff + 8 * NR);
        r9.intoArray(d, dOff + 9 * NR);
        r10.intoArray(d, dOff + 10 * NR);
        r11.intoArray(d, dOff + 11 * NR);
        r12.intoArray(d, dOff + 12 * NR);
        r13.intoArray(d, dOff + 13 * NR);
        r14.intoArray(d, dOff + 14 * NR);
        r15.intoArray(d, dOff + 15 * NR);
    }

    /** 8 × 8 transpose: three rounds of the perfect shuffle (see {@link #transpose16}). */
    private static void transpose8(float[] s, int so, int st, float[] d, int dOff) {
        FloatVector lo = FloatVector.fromArray(S, ZIP_LO, 0);
        FloatVector hi = FloatVector.fromArray(S, ZIP_HI, 0);
        FloatVector r0 = FloatVector.fromArray(S, s, so);
        FloatVector r1 = FloatVector.fromArray(S, s, so + st);
        FloatVector r2 = FloatVector.fromArray(S, s, so + 2 * st);
        FloatVector r3 = FloatVector.fromArray(S, s, so + 3 * st);
        FloatVector r4 = FloatVector.fromArray(S, s, so + 4 * st);
        FloatVector r5 = FloatVector.fromArray(S, s, so + 5 * st);
        FloatVector r6 = FloatVector.fromArray(S, s, so + 6 * st);
        FloatVector r7 = FloatVector.fromArray(S, s, so + 7 * st);
        for (int round = 0; round < 3; round++) {
            FloatVector t0 = lo.selectFrom(r0, r4);
            FloatVector t1 = hi.selectFrom(r0, r4);
            FloatVector t2 = lo.selectFrom(r1, r5);
            FloatVector t3 = hi.selectFrom(r1, r5);
            FloatVector t4 = lo.selectFrom(r2, r6);
            FloatVector t5 = hi.selectFrom(r2, r6);
            FloatVector t6 = lo.selectFrom(r3, r7);
            FloatVector t7 = hi.selectFrom(r3, r7);
            r0 = t0;
            r1 = t1;
            r2 = t2;
            r3 = t3;
            r4 = t4;
            r5 = t5;
            r6 = t6;
            r7 = t7;
        }
        r0.intoArray(d, dOff);
        r1.intoArray(d, dOff + NR);
        r2.intoArray(d, dOff + 2 * NR);
        r3.intoArray(d, dOff + 3 * NR);
        r4.intoArray(d, dOff + 4 * NR);
        r5.intoArray(d, dOff + 5 * NR);
        r6.intoArray(d, dOff + 6 * NR);
        r7.intoArray(d, dOff + 7 * NR);
    }

    // ------------------------------------------------------------------ matrix-vector path

    /**
     * {@code out[m, n] = A[m, k] · B[k, n] + bias} for a handful of rows: each column of B (a weight row) is
     * converted once and dotted with the rows of A, four at a time. Threads split the columns.
     */
    private static void gemv(Parallel par, int m, int n, int k, Mat a, Mat b, float[] out, float[] bias) {
        par.range(n, 64, (j0, j1) -> {
            float[] row = b.data != null && b.rs == 1 ? null : scratch(W_ROWS, k);
            for (int j = j0; j < j1; j++) {
                float[] wv;
                int wo;
                if (row == null) {
                    wv = b.data;
                    wo = b.off + j * b.cs;
                } else if (b.w != null) {
                    weightRow(b, j, 0, k, row, 0);
                    wv = row;
                    wo = 0;
                } else {
                    for (int kk = 0; kk < k; kk++) {
                        row[kk] = b.data[b.off + kk * b.rs + j * b.cs];
                    }
                    wv = row;
                    wo = 0;
                }
                float bj = bias == null ? 0f : bias[j];
                for (int i = 0; i < m; i += 4) {
                    int xo = a.off + i * a.rs;
                    if (m - i == 1) {
                        out[i * n + j] = dot(a.data, xo, wv, wo, k) + bj;
                    } else {
                        dots(a.data, xo, a.rs, Math.min(4, m - i), wv, wo, k, out, i * n + j, n, bj);
                    }
                }
            }
        });
    }

    /** The dot product of x[xo..xo+len] and y[yo..yo+len]. */
    private static float dot(float[] x, int xo, float[] y, int yo, int len) {
        FloatVector s0 = FloatVector.zero(S);
        FloatVector s1 = FloatVector.zero(S);
        FloatVector s2 = FloatVector.zero(S);
        FloatVector s3 = FloatVector.zero(S);
        int i = 0;
        for (; i + 4 * L <= len; i += 4 * L) {
            s0 = FloatVector.fromArray(S, x, xo + i).fma(FloatVector.fromArray(S, y, yo + i), s0);
            s1 = FloatVector.fromArray(S, x, xo + i + L).fma(FloatVector.fromArray(S, y, yo + i + L), s1);
            s2 = FloatVector.fromArray(S, x, xo + i + 2 * L).fma(FloatVector.fromArray(S, y, yo + i + 2 * L), s2);
            s3 = FloatVector.fromArray(S, x, xo + i + 3 * L).fma(FloatVector.fromArray(S, y, yo + i + 3 * L), s3);
        }
        for (; i + L <= len; i += L) {
            s0 = FloatVector.fromArray(S, x, xo + i).fma(FloatVector.fromArray(S, y, yo + i), s0);
        }
        float s = VMath.sum(s0.add(s1).add(s2.add(s3)));
        for (; i < len; i++) {
            s += x[xo + i] * y[yo + i];
        }
        return s;
    }

    /**
     * {@code out[oo + i * ldo] = x_i · w + bias} for the {@code rows} (2 to 4) rows x_i at {@code x[xo + i * lda ..]}:
     * one pass over w serves all rows (missing rows repeat row 0 and are not stored).
     */
    private static void dots(float[] x, int xo, int lda, int rows, float[] w, int wo, int len, float[] out, int oo,
                             int ldo, float bias) {
        int x1 = xo + lda;
        int x2 = rows > 2 ? xo + 2 * lda : xo;
        int x3 = rows > 3 ? xo + 3 * lda : xo;
        FloatVector s0 = FloatVector.zero(S);
        FloatVector s1 = FloatVector.zero(S);
        FloatVector s2 = FloatVector.zero(S);
        FloatVector s3 = FloatVector.zero(S);
        int i = 0;
        for (; i + L <= len; i += L) {
            FloatVector wv = FloatVector.fromArray(S, w, wo + i);
            s0 = FloatVector.fromArray(S, x, xo + i).fma(wv, s0);
            s1 = FloatVector.fromArray(S, x, x1 + i).fma(wv, s1);
            s2 = FloatVector.fromArray(S, x, x2 + i).fma(wv, s2);
            s3 = FloatVector.fromArray(S, x, x3 + i).fma(wv, s3);
        }
        float r0 = VMath.sum(s0);
        float r1 = VMath.sum(s1);
        float r2 = VMath.sum(s2);
        float r3 = VMath.sum(s3);
        for (; i < len; i++) {
            float wk = w[wo + i];
            r0 += x[xo + i] * wk;
            r1 += x[x1 + i] * wk;
            r2 += x[x2 + i] * wk;
            r3 += x[x3 + i] * wk;
        }
        out[oo] = r0 + bias;
        out[oo + ldo] = r1 + bias;
        if (rows > 2) {
            out[oo + 2 * ldo] = r2 + bias;
        }
        if (rows > 3) {
            out[oo + 3 * ldo] = r3 + bias;
        }
    }

    // ------------------------------------------------------------------ micro-kernels

    /**
     * One MR × NR tile: {@code C = (add ? C : bias) + A·B} over kc, where row i of A is
     * {@code a[ao + i * lda ..]}, the packed B panel is kc rows of NR values at {@code bp[bo..]}, C starts at
     * {@code c[co]} with row stride ldc and {@code bias} (null for none) is read at {@code bias[bio..]}.
     */
    private static void kernel(float[] a, int ao, int lda, float[] bp, int bo, int kc, float[] c, int co, int ldc,
                               boolean add, float[] bias, int bio) {
        if (WIDE) {
            kernel6x2(a, ao, lda, bp, bo, kc, c, co, ldc, add, bias, bio);
        } else {
            kernel3x3(a, ao, lda, bp, bo, kc, c, co, ldc, add, bias, bio);
        }
    }

    private static void put(float[] c, int p, FloatVector v, boolean add) {
        (add ? v.add(FloatVector.fromArray(S, c, p)) : v).intoArray(c, p);
    }

    /** The 6 x 2L register tile (see {@link #kernel}). */
    private static void kernel6x2(float[] a, int ao, int lda, float[] bp, int bo, int kc, float[] c, int co,
                                   int ldc, boolean add, float[] bias, int bio) {
        FloatVector z0 = bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, bio);
        FloatVector z1 = bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, bio + L);
        FloatVector c00 = z0, c01 = z1;
        FloatVector c10 = z0, c11 = z1;
        FloatVector c20 = z0, c21 = z1;
        FloatVector c30 = z0, c31 = z1;
        FloatVector c40 = z0, c41 = z1;
        FloatVector c50 = z0, c51 = z1;
        int r0 = ao, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda;
        for (int k = 0; k < kc; k++) {
            int pb = bo + k * 2 * L;
            FloatVector b0 = FloatVector.fromArray(S, bp, pb);
            FloatVector b1 = FloatVector.fromArray(S, bp, pb + L);
            FloatVector a0 = FloatVector.broadcast(S, a[r0 + k]);
            c00 = a0.fma(b0, c00); c01 = a0.fma(b1, c01);
            FloatVector a1 = FloatVector.broadcast(S, a[r1 + k]);
            c10 = a1.fma(b0, c10); c11 = a1.fma(b1, c11);
            FloatVector a2 = FloatVector.broadcast(S, a[r2 + k]);
            c20 = a2.fma(b0, c20); c21 = a2.fma(b1, c21);
            FloatVector a3 = FloatVector.broadcast(S, a[r3 + k]);
            c30 = a3.fma(b0, c30); c31 = a3.fma(b1, c31);
            FloatVector a4 = FloatVector.broadcast(S, a[r4 + k]);
            c40 = a4.fma(b0, c40); c41 = a4.fma(b1, c41);
            FloatVector a5 = FloatVector.broadcast(S, a[r5 + k]);
            c50 = a5.fma(b0, c50); c51 = a5.fma(b1, c51);
        }
        put(c, co, c00, add); put(c, co + L, c01, add);
        put(c, co + ldc, c10, add); put(c, co + ldc + L, c11, add);
        put(c, co + 2 * ldc, c20, add); put(c, co + 2 * ldc + L, c21, add);
        put(c, co + 3 * ldc, c30, add); put(c, co + 3 * ldc + L, c31, add);
        put(c, co + 4 * ldc, c40, add); put(c, co + 4 * ldc + L, c41, add);
        put(c, co + 5 * ldc, c50, add); put(c, co + 5 * ldc + L, c51, add);
    }

    /** The 3 x 3L register tile (see {@link #kernel}). */
    private static void kernel3x3(float[] a, int ao, int lda, float[] bp, int bo, int kc, float[] c, int co,
                                   int ldc, boolean add, float[] bias, int bio) {
        FloatVector z0 = bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, bio);
        FloatVector z1 = bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, bio + L);
        FloatVector z2 = bias == null ? FloatVector.zero(S) : FloatVector.fromArray(S, bias, bio + 2 * L);
        FloatVector c00 = z0, c01 = z1, c02 = z2;
        FloatVector c10 = z0, c11 = z1, c12 = z2;
        FloatVector c20 = z0, c21 = z1, c22 = z2;
        int r0 = ao, r1 = r0 + lda, r2 = r1 + lda;
        for (int k = 0; k < kc; k++) {
            int pb = bo + k * 3 * L;
            FloatVector b0 = FloatVector.fromArray(S, bp, pb);
            FloatVector b1 = FloatVector.fromArray(S, bp, pb + L);
            FloatVector b2 = FloatVector.fromArray(S, bp, pb + 2 * L);
            FloatVector a0 = FloatVector.broadcast(S, a[r0 + k]);
            c00 = a0.fma(b0, c00); c01 = a0.fma(b1, c01); c02 = a0.fma(b2, c02);
            FloatVector a1 = FloatVector.broadcast(S, a[r1 + k]);
            c10 = a1.fma(b0, c10); c11 = a1.fma(b1, c11); c12 = a1.fma(b2, c12);
            FloatVector a2 = FloatVector.broadcast(S, a[r2 + k]);
            c20 = a2.fma(b0, c20); c21 = a2.fma(b1, c21); c22 = a2.fma(b2, c22);
        }
        put(c, co, c00, add); put(c, co + L, c01, add); put(c, co + 2 * L, c02, add);
        put(c, co + ldc, c10, add); put(c, co + ldc + L, c11, add); put(c, co + ldc + 2 * L, c12, add);
        put(c, co + 2 * ldc, c20, add); put(c, co + 2 * ldc + L, c21, add); put(c, co + 2 * ldc + 2 * L, c22, add);
    }
}
