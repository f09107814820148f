package dev.likeness.engine.cpu;

import dev.likeness.engine.DType;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Scaled dot-product attention, torch {@code F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)},
 * computed flash-style: the Lq × Lk score matrix is never materialized.
 *
 * <p>Work is split over (batch, head, group of query blocks). A worker first packs its head's keys [Lk][D] and values
 * [Lk][Dv rounded up to the vector width] row-major into per-thread f32 buffers (converting from any storage dtype
 * and view once per head). Then, for each block of query rows (packed transposed, [D][BQ], and pre-multiplied by the
 * scale) and each block of {@value #BK} keys, it computes the transposed score tile {@code Sᵀ = K·Qᵀ} [keys][queries]
 * and the update {@code O = O·α + P·V}, both with register-blocked Vector API micro-kernels (4 × 4 vectors of
 * accumulators). Holding scores as [keys][queries] makes the online softmax (running maximum m and sum l per query)
 * purely lane-wise across queries, with no horizontal reductions.
 *
 * <p>Semantics as in torch 2.6: the mask is additive (float, any dtype) or boolean (true = may attend), broadcast
 * to [B, H, Lq, Lk]; a query row whose keys are all masked out (every score -inf) gives zeros, as torch 2.6 does
 * (its CPU kernels return 0 there, not NaN); with no keys at all (Lk = 0) every output is 0 too. Results are f32.
 */
final class Attention {
    private Attention() {
    }

    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int L = SP.length();
    /** Rows of a micro-tile (keys in the score kernel, queries in the value kernel). */
    private static final int MR = 4;
    /** Width of a micro-tile in floats: 4 vectors. */
    private static final int TW = 4 * L;
    /** Query rows per block: a multiple of the micro-tile width, 64 where the vector width allows. */
    private static final int BQ = Math.max(TW, 64 / TW * TW);
    /** Keys per block. */
    private static final int BK = 64;

    /** Per-thread buffers, grown on demand and reused across calls (they hold one head's packed keys and values). */
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    static Tensor sdpa(CpuBackend b, Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        OpShapes.Attention sz = OpShapes.attention(q, k, v);
        int batch = sz.batch();
        int heads = sz.heads();
        int lq = sz.lq();
        int d = sz.d();
        int lk = sz.lk();
        int dv = sz.dv();
        Tensor m = mask == null ? null : broadcastMask(b, mask, batch, heads, lq, lk);
        float[] out = new float[Math.toIntExact((long) batch * heads * lq * dv)];
        if (out.length > 0) {
            float s = scale > 0 ? scale : (float) (1.0 / Math.sqrt(d));
            Job job = new Job(CpuData.unscaled(b, q), CpuData.unscaled(b, k), CpuData.unscaled(b, v), m, heads,
                    lq, lk, d, dv, s, out, batch * heads, b.threads());
            int items = batch * heads * job.groups;
            b.parallel().range(items, 1, (start, end) -> {
                Scratch sc = SCRATCH.get();
                sc.ensure(job);
                for (int item = start; item < end; item++) {
                    job.run(item, sc);
                }
            });
        }
        return b.wrap(out, batch, heads, lq, dv);
    }

    /** The mask as a [B, H, Lq, Lk] view (stride 0 on broadcast dimensions), after checking it broadcasts. */
    private static Tensor broadcastMask(CpuBackend b, Tensor mask, int batch, int heads, int lq, int lk) {
        int[] target = {batch, heads, lq, lk};
        if (mask.dtype() != DType.BOOL) {
            CpuData.requireFloat("mask (additive float or boolean)", mask);
        }
        boolean ok = mask.dim() <= 4;
        for (int i = 1; ok && i <= mask.dim(); i++) {
            int have = mask.size(-i);
            ok = have == 1 || have == target[4 - i];
        }
        if (!ok) {
            throw new IllegalArgumentException("attention: mask of shape " + Arrays.toString(mask.shape())
                    + " does not broadcast to [B, H, Lq, Lk] = " + Arrays.toString(target));
        }
        return CpuData.unscaled(b, mask).expand(target);
    }

    /** One call: inputs, sizes, the work split and the output. */
    private static final class Job {
        final Tensor q;
        final Tensor k;
        final Tensor v;
        final Tensor mask;
        final int heads;
        final int lq;
        final int lk;
        final int d;
        final int dv;
        /** Dv rounded up to the vector width: the row length of packed values and accumulators. */
        final int dvp;
        /** Key blocks. */
        final int nkb;
        /** Query blocks. */
        final int nqb;
        /** Query blocks per work item, and work items per head. */
        final int qbPerGroup;
        final int groups;
        final float scale;
        final float[] out;
        /** Identifies this call in a worker's scratch (which head's keys and values it holds). */
        final Object token = new Object();

        Job(Tensor q, Tensor k, Tensor v, Tensor mask, int heads, int lq, int lk, int d, int dv, float scale,
            float[] out, int headsTotal, int threads) {
            this.q = q;
            this.k = k;
            this.v = v;
            this.mask = mask;
            this.heads = heads;
            this.lq = lq;
            this.lk = lk;
            this.d = d;
            this.dv = dv;
            this.dvp = (dv + L - 1) / L * L;
            this.nkb = (lk + BK - 1) / BK;
            this.nqb = (lq + BQ - 1) / BQ;
            this.scale = scale;
            this.out = out;
            // whole heads per work item when there are about three heads per thread (an item packs its head's keys
            // and values once), otherwise heads split into groups of query blocks until there are
            long want = 3L * threads;
            int splits = headsTotal >= want ? 1 : (int) Math.min(nqb, (want + headsTotal - 1) / headsTotal);
            this.qbPerGroup = (nqb + splits - 1) / splits;
            this.groups = (nqb + qbPerGroup - 1) / qbPerGroup;
        }

        void run(int item, Scratch sc) {
            int bh = item / groups;
            int group = item % groups;
            int b = bh / heads;
            int h = bh % heads;
            if (sc.packedFor != token || sc.packedHead != bh) {
                packKeysAndValues(b, h, sc);
                sc.packedFor = token;
                sc.packedHead = bh;
            }
            int qbEnd = Math.min(nqb, (group + 1) * qbPerGroup);
            for (int qb = group * qbPerGroup; qb < qbEnd; qb++) {
                int i0 = qb * BQ;
                queryBlock(b, h, i0, Math.min(BQ, lq - i0), sc);
            }
        }

        /** Packs k[b, h] as [Lk][D] and v[b, h] as [Lk][dvp] (zero-padded columns), row-major f32. */
        private void packKeysAndValues(int b, int h, Scratch sc) {
            CpuStorage ks = CpuData.storage(k);
            CpuStorage vs = CpuData.storage(v);
            long kBase = k.offset() + b * k.stride(0) + h * k.stride(1);
            long vBase = v.offset() + b * v.stride(0) + h * v.stride(1);
            long kRow = k.stride(2);
            long kCol = k.stride(3);
            long vRow = v.stride(2);
            long vCol = v.stride(3);
            for (int j = 0; j < lk; j++) {
                CpuData.readStrided(ks, k.dtype(), kBase + j * kRow, kCol, d, sc.kp, j * d);
                CpuData.readStrided(vs, v.dtype(), vBase + j * vRow, vCol, dv, sc.vp, j * dvp);
                Arrays.fill(sc.vp, j * dvp + dv, (j + 1) * dvp, 0f);
            }
        }

        /** Attention for query rows i0..i0+nr-1 of head (b, h), written to the output. */
        private void queryBlock(int b, int h, int i0, int nr, Scratch sc) {
            packQueries(b, h, i0, nr, sc);
            Arrays.fill(sc.m, Float.NEGATIVE_INFINITY);
            Arrays.fill(sc.l, 0f);
            Arrays.fill(sc.o, 0, nr * dvp, 0f);
            for (int kb = 0; kb < nkb; kb++) {
                int j0 = kb * BK;
                int kn = Math.min(BK, lk - j0);
                scores(sc.kp, j0 * d, kn, d, sc.qt, sc.s, sc.bm);
                if (mask != null) {
                    addMask(b, h, i0, nr, j0, kn, sc);
                    blockMax(sc, kn);
                }
                onlineSoftmax(sc, kn);
                accumulate(sc.s, nr, kn, sc.vp, j0 * dvp, dvp, sc.o, sc.alpha);
            }
            writeOut(b, h, i0, nr, sc);
        }

        /** qt[x][r] = q[b, h, i0 + r, x] · scale for r < nr, zero for the padding rows up to BQ. */
        private void packQueries(int b, int h, int i0, int nr, Scratch sc) {
            CpuStorage qs = CpuData.storage(q);
            long base = q.offset() + b * q.stride(0) + h * q.stride(1);
            float[] row = sc.row;
            float[] qt = sc.qt;
            for (int r = 0; r < nr; r++) {
                CpuData.readStrided(qs, q.dtype(), base + (i0 + r) * q.stride(2), q.stride(3), d, row, 0);
                for (int x = 0; x < d; x++) {
                    qt[x * BQ + r] = row[x] * scale;
                }
            }
            if (nr < BQ) {
                for (int x = 0; x < d; x++) {
                    Arrays.fill(qt, x * BQ + nr, (x + 1) * BQ, 0f);
                }
            }
        }

        /** Adds mask[b, h, i0 + r, j0 + j] to the transposed scores s[j][r] (boolean masks: false becomes -inf). */
        private void addMask(int b, int h, int i0, int nr, int j0, int kn, Scratch sc) {
            CpuStorage ms = CpuData.storage(mask);
            boolean bool = mask.dtype() == DType.BOOL;
            long rs = mask.stride(2);
            long js = mask.stride(3);
            long base = mask.offset() + b * mask.stride(0) + h * mask.stride(1) + i0 * rs + j0 * js;
            float[] s = sc.s;
            float[] vals = sc.maskRow;
            if (rs == 0) {
                // the same mask row for every query (a key-padding mask): one value per row of s
                CpuData.readStrided(ms, mask.dtype(), base, js, kn, vals, 0);
                for (int j = 0; j < kn; j++) {
                    float add = bool ? (vals[j] == 0f ? Float.NEGATIVE_INFINITY : 0f) : vals[j];
                    FloatVector av = FloatVector.broadcast(SP, add);
                    for (int c = 0; c < BQ; c += L) {
                        FloatVector.fromArray(SP, s, j * BQ + c).add(av).intoArray(s, j * BQ + c);
                    }
                }
                return;
            }
            for (int r = 0; r < nr; r++) {
                CpuData.readStrided(ms, mask.dtype(), base + r * rs, js, kn, vals, 0);
                for (int j = 0; j < kn; j++) {
                    float add = bool ? (vals[j] == 0f ? Float.NEGATIVE_INFINITY : 0f) : vals[j];
                    s[j * BQ + r] += add;
                }
            }
        }

        /** bm[r] = max over keys j < kn of s[j][r]: the block maximum after a mask was added to the scores. */
        private static void blockMax(Scratch sc, int kn) {
            float[] s = sc.s;
            for (int c = 0; c < BQ; c += L) {
                FloatVector mx = FloatVector.fromArray(SP, s, c);
                for (int j = 1; j < kn; j++) {
                    mx = mx.max(FloatVector.fromArray(SP, s, j * BQ + c));
                }
                mx.intoArray(sc.bm, c);
            }
        }

        /**
         * Turns the score tile s[j][r] (j < kn), whose per-query maximum is bm[r], into probabilities relative to
         * each query's running maximum, and updates the running maximum m, the running sum l and the factor α by
         * which the accumulators of earlier blocks must be rescaled. A query whose scores are all -inf so far keeps
         * m = -inf, gets probabilities 0 and α = 0 (its accumulators are still 0).
         */
        private static void onlineSoftmax(Scratch sc, int kn) {
            float[] s = sc.s;
            FloatVector negInf = FloatVector.broadcast(SP, Float.NEGATIVE_INFINITY);
            FloatVector zero = FloatVector.zero(SP);
            for (int c = 0; c < BQ; c += L) {
                FloatVector mx = FloatVector.fromArray(SP, sc.bm, c);
                FloatVector mOld = FloatVector.fromArray(SP, sc.m, c);
                FloatVector mNew = mOld.max(mx);
                // exponents relative to 0 where everything is still -inf: exp(-inf - 0) = 0 instead of NaN
                FloatVector ref = mNew.blend(zero, mNew.compare(VectorOperators.EQ, negInf));
                FloatVector sum = zero;
                for (int j = 0; j < kn; j++) {
                    FloatVector e = VMath.exp(FloatVector.fromArray(SP, s, j * BQ + c).sub(ref));
                    e.intoArray(s, j * BQ + c);
                    sum = sum.add(e);
                }
                FloatVector alpha = VMath.exp(mOld.sub(ref));
                alpha.intoArray(sc.alpha, c);
                FloatVector.fromArray(SP, sc.l, c).mul(alpha).add(sum).intoArray(sc.l, c);
                mNew.intoArray(sc.m, c);
            }
        }

        /** out[b, h, i0 + r, :] = O[r, :] / l[r], or 0 where l is 0 (all keys masked out). */
        private void writeOut(int b, int h, int i0, int nr, Scratch sc) {
            int rowBase = ((b * heads + h) * lq + i0) * dv;
            for (int r = 0; r < nr; r++) {
                float lr = sc.l[r];
                float inv = lr == 0f ? 0f : 1f / lr;
                int oo = r * dvp;
                int to = rowBase + r * dv;
                FloatVector iv = FloatVector.broadcast(SP, inv);
                int c = 0;
                for (; c <= dv - L; c += L) {
                    FloatVector.fromArray(SP, sc.o, oo + c).mul(iv).intoArray(out, to + c);
                }
                for (; c < dv; c++) {
                    out[to + c] = sc.o[oo + c] * inv;
                }
            }
        }
    }

    // ------------------------------------------------------------------ micro-kernels

    /**
     * s[j][0..BQ) = kp[ko + j·d, :] · qt for keys j < kn: kp holds key rows of length d, qt is [d][BQ] (queries
     * transposed), s is [BK][BQ]; bm[r] receives the maximum over the block's keys of s[j][r].
     */
    private static void scores(float[] kp, int ko, int kn, int d, float[] qt, float[] s, float[] bm) {
        Arrays.fill(bm, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j + MR <= kn; j += MR) {
            for (int c = 0; c < BQ; c += TW) {
                scoreTile4(kp, ko + j * d, d, qt, c, s, j * BQ + c, bm);
            }
        }
        for (; j < kn; j++) {
            for (int c = 0; c < BQ; c += TW) {
                scoreTile1(kp, ko + j * d, d, qt, c, s, j * BQ + c, bm);
            }
        }
    }

    private static void scoreTile4(float[] kp, int ko, int d, float[] qt, int qo, float[] s, int so, float[] bm) {
        FloatVector a00 = FloatVector.zero(SP), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int k1 = ko + d;
        int k2 = k1 + d;
        int k3 = k2 + d;
        for (int x = 0; x < d; x++) {
            int qx = qo + x * BQ;
            FloatVector q0 = FloatVector.fromArray(SP, qt, qx);
            FloatVector q1 = FloatVector.fromArray(SP, qt, qx + L);
            FloatVector q2 = FloatVector.fromArray(SP, qt, qx + 2 * L);
            FloatVector q3 = FloatVector.fromArray(SP, qt, qx + 3 * L);
            FloatVector w = FloatVector.broadcast(SP, kp[ko + x]);
            a00 = w.fma(q0, a00);
            a01 = w.fma(q1, a01);
            a02 = w.fma(q2, a02);
            a03 = w.fma(q3, a03);
            w = FloatVector.broadcast(SP, kp[k1 + x]);
            a10 = w.fma(q0, a10);
            a11 = w.fma(q1, a11);
            a12 = w.fma(q2, a12);
            a13 = w.fma(q3, a13);
            w = FloatVector.broadcast(SP, kp[k2 + x]);
            a20 = w.fma(q0, a20);
            a21 = w.fma(q1, a21);
            a22 = w.fma(q2, a22);
            a23 = w.fma(q3, a23);
            w = FloatVector.broadcast(SP, kp[k3 + x]);
            a30 = w.fma(q0, a30);
            a31 = w.fma(q1, a31);
            a32 = w.fma(q2, a32);
            a33 = w.fma(q3, a33);
        }
        a00.intoArray(s, so);
        a01.intoArray(s, so + L);
        a02.intoArray(s, so + 2 * L);
        a03.intoArray(s, so + 3 * L);
        so += BQ;
        a10.intoArray(s, so);
        a11.intoArray(s, so + L);
        a12.intoArray(s, so + 2 * L);
        a13.intoArray(s, so + 3 * L);
        so += BQ;
        a20.intoArray(s, so);
        a21.intoArray(s, so + L);
        a22.intoArray(s, so + 2 * L);
        a23.intoArray(s, so + 3 * L);
        so += BQ;
        a30.intoArray(s, so);
        a31.intoArray(s, so + L);
        a32.intoArray(s, so + 2 * L);
        a33.intoArray(s, so + 3 * L);
        a00.max(a10).max(a20.max(a30)).max(FloatVector.fromArray(SP, bm, qo)).intoArray(bm, qo);
        a01.max(a11).max(a21.max(a31)).max(FloatVector.fromArray(SP, bm, qo + L)).intoArray(bm, qo + L);
        a02.max(a12).max(a22.max(a32)).max(FloatVector.fromArray(SP, bm, qo + 2 * L)).intoArray(bm, qo + 2 * L);
        a03.max(a13).max(a23.max(a33)).max(FloatVector.fromArray(SP, bm, qo + 3 * L)).intoArray(bm, qo + 3 * L);
    }

    private static void scoreTile1(float[] kp, int ko, int d, float[] qt, int qo, float[] s, int so, float[] bm) {
        FloatVector a0 = FloatVector.zero(SP), a1 = a0, a2 = a0, a3 = a0;
        for (int x = 0; x < d; x++) {
            int qx = qo + x * BQ;
            FloatVector w = FloatVector.broadcast(SP, kp[ko + x]);
            a0 = w.fma(FloatVector.fromArray(SP, qt, qx), a0);
            a1 = w.fma(FloatVector.fromArray(SP, qt, qx + L), a1);
            a2 = w.fma(FloatVector.fromArray(SP, qt, qx + 2 * L), a2);
            a3 = w.fma(FloatVector.fromArray(SP, qt, qx + 3 * L), a3);
        }
        a0.intoArray(s, so);
        a1.intoArray(s, so + L);
        a2.intoArray(s, so + 2 * L);
        a3.intoArray(s, so + 3 * L);
        a0.max(FloatVector.fromArray(SP, bm, qo)).intoArray(bm, qo);
        a1.max(FloatVector.fromArray(SP, bm, qo + L)).intoArray(bm, qo + L);
        a2.max(FloatVector.fromArray(SP, bm, qo + 2 * L)).intoArray(bm, qo + 2 * L);
        a3.max(FloatVector.fromArray(SP, bm, qo + 3 * L)).intoArray(bm, qo + 3 * L);
    }

    /**
     * o[r, :] = o[r, :] · alpha[r] + Σ_{j < kn} p[j][r] · vp[vo + j·dvp, :] for query rows r < nr; p is the
     * transposed probability tile [BK][BQ], o is [BQ][dvp].
     */
    private static void accumulate(float[] p, int nr, int kn, float[] vp, int vo, int dvp, float[] o,
                                   float[] alpha) {
        int r = 0;
        for (; r + MR <= nr; r += MR) {
            int c = 0;
            for (; c + TW <= dvp; c += TW) {
                valueTile4x4(p, r, kn, vp, vo + c, dvp, o, r * dvp + c, alpha);
            }
            for (; c < dvp; c += L) {
                valueTile4x1(p, r, kn, vp, vo + c, dvp, o, r * dvp + c, alpha);
            }
        }
        for (; r < nr; r++) {
            FloatVector al = FloatVector.broadcast(SP, alpha[r]);
            for (int c = 0; c < dvp; c += L) {
                FloatVector acc = FloatVector.fromArray(SP, o, r * dvp + c).mul(al);
                for (int j = 0; j < kn; j++) {
                    acc = FloatVector.broadcast(SP, p[j * BQ + r]).fma(FloatVector.fromArray(SP, vp, vo + j * dvp + c),
                            acc);
                }
                acc.intoArray(o, r * dvp + c);
            }
        }
    }

    private static void valueTile4x4(float[] p, int r, int kn, float[] vp, int vo, int dvp, float[] o, int oo,
                                     float[] alpha) {
        int o1 = oo + dvp;
        int o2 = o1 + dvp;
        int o3 = o2 + dvp;
        FloatVector w = FloatVector.broadcast(SP, alpha[r]);
        FloatVector a00 = FloatVector.fromArray(SP, o, oo).mul(w);
        FloatVector a01 = FloatVector.fromArray(SP, o, oo + L).mul(w);
        FloatVector a02 = FloatVector.fromArray(SP, o, oo + 2 * L).mul(w);
        FloatVector a03 = FloatVector.fromArray(SP, o, oo + 3 * L).mul(w);
        w = FloatVector.broadcast(SP, alpha[r + 1]);
        FloatVector a10 = FloatVector.fromArray(SP, o, o1).mul(w);
        FloatVector a11 = FloatVector.fromArray(SP, o, o1 + L).mul(w);
        FloatVector a12 = FloatVector.fromArray(SP, o, o1 + 2 * L).mul(w);
        FloatVector a13 = FloatVector.fromArray(SP, o, o1 + 3 * L).mul(w);
        w = FloatVector.broadcast(SP, alpha[r + 2]);
        FloatVector a20 = FloatVector.fromArray(SP, o, o2).mul(w);
        FloatVector a21 = FloatVector.fromArray(SP, o, o2 + L).mul(w);
        FloatVector a22 = FloatVector.fromArray(SP, o, o2 + 2 * L).mul(w);
        FloatVector a23 = FloatVector.fromArray(SP, o, o2 + 3 * L).mul(w);
        w = FloatVector.broadcast(SP, alpha[r + 3]);
        FloatVector a30 = FloatVector.fromArray(SP, o, o3).mul(w);
        FloatVector a31 = FloatVector.fromArray(SP, o, o3 + L).mul(w);
        FloatVector a32 = FloatVector.fromArray(SP, o, o3 + 2 * L).mul(w);
        FloatVector a33 = FloatVector.fromArray(SP, o, o3 + 3 * L).mul(w);
        for (int j = 0; j < kn; j++) {
            int vx = vo + j * dvp;
            int px = j * BQ + r;
            FloatVector v0 = FloatVector.fromArray(SP, vp, vx);
            FloatVector v1 = FloatVector.fromArray(SP, vp, vx + L);
            FloatVector v2 = FloatVector.fromArray(SP, vp, vx + 2 * L);
            FloatVector v3 = FloatVector.fromArray(SP, vp, vx + 3 * L);
            w = FloatVector.broadcast(SP, p[px]);
            a00 = w.fma(v0, a00);
            a01 = w.fma(v1, a01);
            a02 = w.fma(v2, a02);
            a03 = w.fma(v3, a03);
            w = FloatVector.broadcast(SP, p[px + 1]);
            a10 = w.fma(v0, a10);
            a11 = w.fma(v1, a11);
            a12 = w.fma(v2, a12);
            a13 = w.fma(v3, a13);
            w = FloatVector.broadcast(SP, p[px + 2]);
            a20 = w.fma(v0, a20);
            a21 = w.fma(v1, a21);
            a22 = w.fma(v2, a22);
            a23 = w.fma(v3, a23);
            w = FloatVector.broadcast(SP, p[px + 3]);
            a30 = w.fma(v0, a30);
            a31 = w.fma(v1, a31);
            a32 = w.fma(v2, a32);
            a33 = w.fma(v3, a33);
        }
        a00.intoArray(o, oo);
        a01.intoArray(o, oo + L);
        a02.intoArray(o, oo + 2 * L);
        a03.intoArray(o, oo + 3 * L);
        a10.intoArray(o, o1);
        a11.intoArray(o, o1 + L);
        a12.intoArray(o, o1 + 2 * L);
        a13.intoArray(o, o1 + 3 * L);
        a20.intoArray(o, o2);
        a21.intoArray(o, o2 + L);
        a22.intoArray(o, o2 + 2 * L);
        a23.intoArray(o, o2 + 3 * L);
        a30.intoArray(o, o3);
        a31.intoArray(o, o3 + L);
        a32.intoArray(o, o3 + 2 * L);
        a33.intoArray(o, o3 + 3 * L);
    }

    private static void valueTile4x1(float[] p, int r, int kn, float[] vp, int vo, int dvp, float[] o, int oo,
                                     float[] alpha) {
        int o1 = oo + dvp;
        int o2 = o1 + dvp;
        int o3 = o2 + dvp;
        FloatVector a0 = FloatVector.fromArray(SP, o, oo).mul(alpha[r]);
        FloatVector a1 = FloatVector.fromArray(SP, o, o1).mul(alpha[r + 1]);
        FloatVector a2 = FloatVector.fromArray(SP, o, o2).mul(alpha[r + 2]);
        FloatVector a3 = FloatVector.fromArray(SP, o, o3).mul(alpha[r + 3]);
        for (int j = 0; j < kn; j++) {
            FloatVector v0 = FloatVector.fromArray(SP, vp, vo + j * dvp);
            int px = j * BQ + r;
            a0 = FloatVector.broadcast(SP, p[px]).fma(v0, a0);
            a1 = FloatVector.broadcast(SP, p[px + 1]).fma(v0, a1);
            a2 = FloatVector.broadcast(SP, p[px + 2]).fma(v0, a2);
            a3 = FloatVector.broadcast(SP, p[px + 3]).fma(v0, a3);
        }
        a0.intoArray(o, oo);
        a1.intoArray(o, o1);
        a2.intoArray(o, o2);
        a3.intoArray(o, o3);
    }

    /** A worker's buffers. {@code packedFor}/{@code packedHead} name the head whose keys and values kp/vp hold. */
    private static final class Scratch {
        /** Keys [Lk][D] and values [Lk][dvp] of one head. */
        float[] kp = new float[0];
        float[] vp = new float[0];
        /** Scaled queries of one block, transposed: [D][BQ]. */
        float[] qt = new float[0];
        /** Scores, then probabilities, transposed: [BK][BQ]. */
        final float[] s = new float[BK * BQ];
        /** Output accumulators [BQ][dvp]. */
        float[] o = new float[0];
        /** Running maximum, running sum, rescaling factor and the current key block's maximum per query. */
        final float[] m = new float[BQ];
        final float[] l = new float[BQ];
        final float[] alpha = new float[BQ];
        final float[] bm = new float[BQ];
        float[] row = new float[0];
        final float[] maskRow = new float[BK];
        Object packedFor;
        int packedHead = -1;

        void ensure(Job job) {
            kp = atLeast(kp, (long) job.lk * job.d);
            vp = atLeast(vp, (long) job.lk * job.dvp);
            qt = atLeast(qt, (long) BQ * job.d);
            o = atLeast(o, (long) BQ * job.dvp);
            row = atLeast(row, job.d);
        }

        private static float[] atLeast(float[] a, long n) {
            return a.length >= n ? a : new float[Math.toIntExact(n)];
        }
    }
}
