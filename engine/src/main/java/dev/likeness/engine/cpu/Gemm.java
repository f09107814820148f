package dev.likeness.engine.cpu;

import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;
import java.util.concurrent.ForkJoinTask;

/**
 * Matrix products on the CPU: torch {@code F.linear} and {@code torch.matmul}, computed in f32 by a cache-blocked
 * GEMM (the GotoBLAS / BLIS scheme) around a Vector API register-tile micro-kernel.
 *
 * <p>For {@code C[m, n] = A[m, k] · B[k, n] (+ bias[n])}:
 * <ul>
 *   <li>N is cut into blocks of {@link #NC} columns and K into blocks of {@link #KC}. Each KC × NC block of B is
 *       packed once into a shared buffer of NR-column panels (KC rows of NR consecutive values each), so the
 *       micro-kernel reads B sequentially. Packing is where a weight's storage dtype (bf16, f16, f8, int8 with
 *       its dequantization scale) is converted to f32: block by block, never as a full f32 copy.</li>
 *   <li>M is cut into blocks of about {@link #MC} rows spread over the threads (each thread also takes a part
 *       of the N panels when there are too few row blocks). Rows of A are read in place when they are
 *       contiguous f32 in a heap array, otherwise the block is first copied into a row-major scratch buffer.</li>
 *   <li>The micro-kernel computes an MR × NR tile of C with MR × NV accumulator vectors held in local variables:
 *       per k it loads NV vectors of the packed B panel and broadcasts one A value per row. The tile is
 *       6 × 2 vectors (6 × 32) with 512-bit vectors (AVX-512 has 32 vector registers) and 3 × 3 vectors (3 × 24)
 *       otherwise (AVX2 has 16: 9 accumulators, 3 B vectors and the broadcast, which leaves C2 room to schedule
 *       without spilling an accumulator).</li>
 *   <li>Tiles at the M or N edge are computed into a scratch tile and the valid part is copied out.</li>
 * </ul>
 * A linear layer with only a few rows (a batch of one embedding) skips packing: it is a matrix-vector product
 * that streams each weight row once ({@link #GEMV_ROWS}).
 *
 * <p>The kernels index arrays with offsets derived from validated shapes; they rely on the Vector API bounds checks
 * being switched off ({@code -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0}) for speed, not for correctness.
 */
final class Gemm {
    private Gemm() {
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Floats per vector (16 with AVX-512, 8 with AVX2). */
    private static final int L = S.length();
    private static final boolean WIDE = S.vectorBitSize() >= 512;
    /** Rows of the register tile. */
    static final int MR = WIDE ? 6 : 3;
    /** Columns of the register tile: 2 or 3 vectors. */
    static final int NR = (WIDE ? 2 : 3) * L;
    /** Depth of a packed block: one NR panel of B (KC × NR floats) stays in L1/L2 while MC rows of A stream by. */
    static final int KC = Integer.getInteger("likeness.gemm.kc", 384);
    /** Rows of A per task (a multiple of MR): the A block (MC × KC floats) stays in L2. */
    static final int MC = Math.max(MR, Integer.getInteger("likeness.gemm.mc", 144) / MR * MR);
    /** Columns of B per packed block (a multiple of NR): the packed block (KC × NC floats) lives in L3. */
    static final int NC = Math.max(NR, Integer.getInteger("likeness.gemm.nc", 3072) / NR * NR);
    static final boolean ROWS_OUTER = Boolean.getBoolean("likeness.gemm.rowsouter");
    /** A linear layer with at most this many rows of x runs as matrix-vector products. */
    static final int GEMV_ROWS = Integer.getInteger("likeness.gemm.gemvrows", 4);

    // scratch buffers, one set per thread
    private static final int B_PACKED = 0;
    private static final int A_BLOCK = 1;
    private static final int A_EDGE = 2;
    private static final int C_EDGE = 3;
    private static final int W_ROWS = 4;
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[5][]);

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

    private static String shape(Tensor t) {
        return Arrays.toString(t.shape());
    }

    // ------------------------------------------------------------------ torch entry points

    /**
     * torch {@code F.linear(x, w, bias)}: x [..., K] (any view and dtype) times w [N, K] transposed, plus bias [N]
     * (nullable). The weight is read in its storage dtype, dequantized by its scale ([N] or [1]) while packing.
     */
    static Tensor linear(CpuBackend be, Tensor x, Tensor w, Tensor bias) {
        CpuData.requireFloat("linear: x", x);
        CpuData.requireFloat("linear: w", w);
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
            CpuData.requireFloat("linear: bias", bias);
            if (bias.dim() != 1 || bias.size(0) != n) {
                throw new IllegalArgumentException("linear: bias must be [" + n + "] for w " + shape(w) + ", got "
                        + shape(bias));
            }
        }
        int[] outShape = x.shape();
        outShape[outShape.length - 1] = n;
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
        CpuData.requireFloat("matmul: a", a);
        CpuData.requireFloat("matmul: b", bb);
        if (a.dim() == 0 || bb.dim() == 0) {
            throw new IllegalArgumentException("matmul: both arguments need at least 1 dimension, got a " + shape(a)
                    + " and b " + shape(bb));
        }
        Tensor a2 = heapF32(be, a);
        Tensor b2 = heapF32(be, bb);
        if (a.dim() == 1) {
            a2 = a2.unsqueeze(0);
        }
        if (bb.dim() == 1) {
            b2 = b2.unsqueeze(1);
        }
        int m = a2.size(-2);
        int k = a2.size(-1);
        int n = b2.size(-1);
        if (b2.size(-2) != k) {
            throw new IllegalArgumentException("matmul: a " + shape(a) + " has K=" + k + " columns but b " + shape(bb)
                    + " has " + b2.size(-2) + " rows");
        }
        // broadcast the batch dimensions (right-aligned)
        int ra = a2.dim() - 2;
        int rb = b2.dim() - 2;
        int rank = Math.max(ra, rb);
        int[] batch = new int[rank];
        long[] sa = new long[rank];
        long[] sb = new long[rank];
        for (int d = 0; d < rank; d++) {
            int da = d - (rank - ra);
            int db = d - (rank - rb);
            int na = da >= 0 ? a2.size(da) : 1;
            int nb = db >= 0 ? b2.size(db) : 1;
            if (na != nb && na != 1 && nb != 1) {
                throw new IllegalArgumentException("matmul: batch dimensions of a " + shape(a) + " and b " + shape(bb)
                        + " do not broadcast");
            }
            batch[d] = Math.max(na, nb);
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
        int[] outShape = new int[rank + 2 - (a.dim() == 1 ? 1 : 0) - (bb.dim() == 1 ? 1 : 0)];
        System.arraycopy(batch, 0, outShape, 0, rank);
        int p = rank;
        if (a.dim() != 1) {
            outShape[p++] = m;
        }
        if (bb.dim() != 1) {
            outShape[p] = n;
        }
        return be.wrap(out, outShape);
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
        int threads = ForkJoinTask.inForkJoinPool() ? 1 : par.threads();
        int units = ceilDiv(m, MR);
        int mBlocks = Math.min(units, threads == 1 ? ceilDiv(m, MC) : roundUp(ceilDiv(m, MC), threads));
        float[] bp = scratch(B_PACKED, Math.min(KC, k) * Math.min(NC, roundUp(n, NR)));
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            int panels = ceilDiv(nc, NR);
            int nParts = threads == 1 || mBlocks >= 2 * threads ? 1 : Math.min(panels, ceilDiv(2 * threads, mBlocks));
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                Block blk = new Block(m, n, a, b, c, cOff, ldc, pc == 0 ? bias : null, pc > 0, bp, jc, nc, pc, kc,
                        units, mBlocks, nParts);
                par.range(panels, 1, blk::pack);
                par.range(mBlocks * nParts, 1, blk::compute);
            }
        }
    }

    /** One KC × NC block step of {@link #gemm}: packing its B panels, then the tasks over row blocks and panels. */
    private record Block(int m, int n, Mat a, Mat b, float[] c, int cOff, int ldc, float[] bias, boolean add,
                         float[] bp, int jc, int nc, int pc, int kc, int units, int mBlocks, int nParts) {

        /** Packs panels [p0, p1) of this block of B. */
        void pack(int p0, int p1) {
            for (int p = p0; p < p1; p++) {
                packB(b, pc, kc, jc + p * NR, Math.min(NR, nc - p * NR), bp, p * kc * NR);
            }
        }

        /** Runs tasks [t0, t1): task t covers row block t / nParts and part t % nParts of the panels. */
        void compute(int t0, int t1) {
            float[] edgeA = null;
            float[] tile = null;
            float[] rowsA = null;
            int prepared = -1;
            float[] ad = a.data;
            int abase = 0;
            int lda = 0;
            int panels = ceilDiv(nc, NR);
            for (int t = t0; t < t1; t++) {
                int ib = t / nParts;
                int part = t % nParts;
                int r0 = Math.min(m, ib * units / mBlocks * MR);
                int r1 = Math.min(m, (ib + 1) * units / mBlocks * MR);
                int full = (r1 - r0) / MR * MR;
                if (prepared != ib) {
                    if (a.cs == 1) {
                        ad = a.data;
                        abase = a.off + r0 * a.rs + pc;
                        lda = a.rs;
                    } else {
                        rowsA = scratch(A_BLOCK, (r1 - r0) * kc);
                        copyRows(a, r0, r1 - r0, pc, kc, rowsA);
                        ad = rowsA;
                        abase = 0;
                        lda = kc;
                    }
                    if (full < r1 - r0) {
                        edgeA = scratch(A_EDGE, MR * kc);
                        for (int i = 0; i < MR; i++) {
                            if (full + i < r1 - r0) {
                                System.arraycopy(ad, abase + (full + i) * lda, edgeA, i * kc, kc);
                            } else {
                                Arrays.fill(edgeA, i * kc, (i + 1) * kc, 0f);
                            }
                        }
                    }
                    prepared = ib;
                }
                int q0 = part * panels / nParts;
                int q1 = (part + 1) * panels / nParts;
                if (ROWS_OUTER) {
                    for (int ir = 0; ir < r1 - r0; ir += MR) {
                        boolean edgeRows = ir >= full;
                        for (int q = q0; q < q1; q++) {
                            int n0 = jc + q * NR;
                            int nr = Math.min(NR, n - n0);
                            int bo = q * kc * NR;
                            int co = cOff + (r0 + ir) * ldc + n0;
                            if (nr == NR && !edgeRows) {
                                kernel(ad, abase + ir * lda, lda, bp, bo, kc, c, co, ldc, add, bias, n0);
                            } else {
                                tile = tile != null ? tile : scratch(C_EDGE, MR * NR);
                                if (edgeRows) {
                                    kernel(edgeA, 0, kc, bp, bo, kc, tile, 0, NR, false, bias, n0);
                                } else {
                                    kernel(ad, abase + ir * lda, lda, bp, bo, kc, tile, 0, NR, false, bias, n0);
                                }
                                copyTile(tile, Math.min(MR, r1 - r0 - ir), nr, c, co, ldc, add);
                            }
                        }
                    }
                    continue;
                }
                for (int q = q0; q < q1; q++) {
                    int n0 = jc + q * NR;
                    int nr = Math.min(NR, n - n0);
                    int bo = q * kc * NR;
                    int co = cOff + r0 * ldc + n0;
                    for (int ir = 0; ir < full; ir += MR) {
                        if (nr == NR) {
                            kernel(ad, abase + ir * lda, lda, bp, bo, kc, c, co + ir * ldc, ldc, add, bias, n0);
                        } else {
                            tile = tile != null ? tile : scratch(C_EDGE, MR * NR);
                            kernel(ad, abase + ir * lda, lda, bp, bo, kc, tile, 0, NR, false, bias, n0);
                            copyTile(tile, MR, nr, c, co + ir * ldc, ldc, add);
                        }
                    }
                    if (full < r1 - r0) {
                        tile = tile != null ? tile : scratch(C_EDGE, MR * NR);
                        kernel(edgeA, 0, kc, bp, bo, kc, tile, 0, NR, false, bias, n0);
                        copyTile(tile, r1 - r0 - full, nr, c, co + full * ldc, ldc, add);
                    }
                }
            }
        }
    }

    /** Writes (or adds) the top-left rows × cols of an MR × NR scratch tile into C. */
    private static void copyTile(float[] tile, int rows, int cols, float[] c, int co, int ldc, boolean add) {
        for (int i = 0; i < rows; i++) {
            int row = co + i * ldc;
            for (int j = 0; j < cols; j++) {
                c[row + j] = add ? c[row + j] + tile[i * NR + j] : tile[i * NR + j];
            }
        }
    }

    /** Copies rows r0..r0+rows, columns k0..k0+kc of A into {@code dst} row-major (row stride kc). */
    private static void copyRows(Mat a, int r0, int rows, int k0, int kc, float[] dst) {
        float[] d = a.data;
        for (int i = 0; i < rows; i++) {
            int src = a.off + (r0 + i) * a.rs + k0 * a.cs;
            for (int kk = 0; kk < kc; kk++) {
                dst[i * kc + kk] = d[src + kk * a.cs];
            }
        }
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
     * converted once and dotted with every row of A. Threads split the columns.
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
                for (int i = 0; i < m; i++) {
                    out[i * n + j] = dot(a.data, a.off + i * a.rs, wv, wo, k) + bj;
                }
            }
        });
    }

    /** The dot product of x[xo..xo+len] and y[yo..yo+len]. */
    private static float dot(float[] x, int xo, float[] y, int yo, int len) {
        FloatVector s0 = FloatVector.zero(S);
        FloatVector s1 = FloatVector.zero(S);
        int i = 0;
        for (; i + 2 * L <= len; i += 2 * L) {
            s0 = FloatVector.fromArray(S, x, xo + i).fma(FloatVector.fromArray(S, y, yo + i), s0);
            s1 = FloatVector.fromArray(S, x, xo + i + L).fma(FloatVector.fromArray(S, y, yo + i + L), s1);
        }
        float s = s0.add(s1).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
        for (; i < len; i++) {
            s += x[xo + i] * y[yo + i];
        }
        return s;
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
