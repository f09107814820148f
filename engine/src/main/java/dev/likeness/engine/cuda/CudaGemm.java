package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * linear and matmul on cuBLASLt. {@link GemmPlan} maps the row-major product onto cuBLAS's column-major one
 * (operand order, transposes, leading dimensions, batch strides); this class prepares the operands and queues the
 * calls.
 *
 * <p>Operands are multiplied in the compute dtype (bf16 or f32) with f32 accumulation ({@code CUBLAS_COMPUTE_32F},
 * no TF32) and the result is in the compute dtype. Activations in another dtype are converted first; weights stored
 * in the compute dtype are read in place, others (f16 under bf16 compute, bf16 under f32 compute, scaled or f8 /
 * int8 weights) are converted into a temporary per call. The exception is an FP8 (e4m3) weight on Ada / Hopper
 * (sm_89+): the activation is quantized to e4m3 with a per-tensor scale (amax / 448) and cuBLASLt's FP8 GEMM runs
 * with both dequantization scales; a per-output-channel weight scale is applied after the GEMM. Bias is added by
 * cuBLASLt's BIAS epilogue where it can be, else by a small kernel after the GEMM.
 *
 * <p>Temporaries are released as soon as their work is queued (the pool frees them in stream order).
 */
final class CudaGemm {
    /** More separate calls than this for a non-contiguous operand: copy it instead (one strided-batch call). */
    static final int MAX_CALLS = 8;
    /** {@code -Dlikeness.cuda.fp8gemm=false} dequantizes FP8 weights instead of using FP8 tensor cores. */
    static final boolean FP8_GEMM = !"false".equalsIgnoreCase(System.getProperty("likeness.cuda.fp8gemm", "true"));

    /** Problems (backend, rows × n × k, dtypes, bias) for which cuBLASLt offered no FP8 algorithm. */
    private static final java.util.Set<String> NO_FP8_ALGORITHM = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private CudaGemm() {
    }

    // ------------------------------------------------------------------ linear

    /** torch {@code F.linear(x, w, bias)}: x [..., K], w [N, K] in its storage dtype, bias [N] or null. */
    static Tensor linear(CudaBackend b, Tensor x, Tensor w, Tensor bias) {
        int[] outShape = OpShapes.linear(x, w, bias);
        int k = x.size(-1);
        int n = w.size(0);
        DType cd = b.computeDType();
        Tensor out = b.empty(cd, outShape);
        if (out.numel() == 0) {
            return out;
        }
        long rows = out.numel() / n;
        List<Tensor> temps = new ArrayList<>();
        try {
            Tensor biasD = bias == null ? null : readable(b, bias, temps);
            if (k == 0) {
                epilogue(b, out, n, null, biasD, true);
                return out;
            }
            Tensor wDev = keep(b.onDevice(w), w, temps);
            String fp8Key = b.name() + " " + rows + "x" + n + "x" + k + " " + x.dtype() + " " + out.dtype() + " "
                    + (biasD != null);
            if (fp8Eligible(b, wDev, k, n) && !NO_FP8_ALGORITHM.contains(fp8Key)) {
                try {
                    linearFp8(b, x, wDev, biasD, out, rows, temps);
                    return out;
                } catch (CublasLt.NoAlgorithmException e) {
                    // no FP8 kernel for this problem on this GPU: dequantize the weight below, and from now on
                    // go there directly for this problem (no activation quantization that would be thrown away)
                    NO_FP8_ALGORITHM.add(fp8Key);
                }
            }
            Tensor xd = compute(b, x, temps);
            Tensor wd = compute(b, wDev, temps);
            GemmPlan.View xv = linearInput(xd);
            if (!GemmPlan.expressible(xv)) {
                xd = keep(b.contiguous(xd), xd, temps);
                xv = linearInput(xd);
            }
            GemmPlan.View yv = linearWeight(xv, wd);
            if (!GemmPlan.expressible(yv)) {
                wd = keep(b.contiguous(wd), wd, temps);
                yv = linearWeight(xv, wd);
            }
            int[] os = xv.shape().clone();
            os[os.length - 1] = n;
            GemmPlan.View ov = new GemmPlan.View(os, GemmPlan.contiguousStrides(os), 0);
            GemmPlan plan = GemmPlan.plan(xv, yv, ov);
            if (plan.calls.size() > MAX_CALLS && !xd.isContiguous()) {
                xd = keep(b.contiguous(xd), xd, temps);
                xv = linearInput(xd);
                plan = GemmPlan.plan(xv, linearWeight(xv, wd), ov);
            }
            multiplyWithBias(b, plan, wd, xd, out, n, biasD, temps);
            return out;
        } finally {
            release(temps);
        }
    }

    /** x [..., K] as the planner's x: [1, K] for a vector. */
    private static GemmPlan.View linearInput(Tensor x) {
        if (x.dim() == 1) {
            return new GemmPlan.View(new int[] {1, x.size(0)}, new long[] {Math.max(1, x.size(0)), x.stride(0)},
                    x.offset());
        }
        return new GemmPlan.View(x.shape(), x.strides(), x.offset());
    }

    /** wᵀ [K, N] broadcast over x's batch dimensions. */
    private static GemmPlan.View linearWeight(GemmPlan.View x, Tensor w) {
        int rank = x.shape().length;
        int[] shape = x.shape().clone();
        shape[rank - 2] = w.size(1);
        shape[rank - 1] = w.size(0);
        long[] strides = new long[rank];
        strides[rank - 2] = w.stride(1);
        strides[rank - 1] = w.stride(0);
        return new GemmPlan.View(shape, strides, w.offset());
    }

    /**
     * Runs the plan with the bias in the epilogue (bias converted to the output dtype, 16-byte aligned); if cuBLASLt
     * has no epilogue kernel for the problem, without it, then adds the bias with a kernel.
     */
    private static void multiplyWithBias(CudaBackend b, GemmPlan plan, Tensor y, Tensor x, Tensor out, int n,
                                         Tensor biasD, List<Tensor> temps) {
        if (biasD == null) {
            run(b, plan, y, x, out, 0, -1, 0, 0);
            return;
        }
        Tensor eb = alignedCopy(b, biasD, out.dtype(), temps);
        try {
            run(b, plan, y, x, out, b.address(eb), -1, 0, 0);
        } catch (CublasLt.NoAlgorithmException e) {
            run(b, plan, y, x, out, 0, -1, 0, 0);
            epilogue(b, out, n, null, biasD, false);
        }
    }

    // ------------------------------------------------------------------ FP8

    /** Whether {@code w} can go through cuBLASLt's FP8 GEMM (TN layout, 16-byte aligned rows and pointer). */
    static boolean fp8Eligible(CudaBackend b, Tensor w, int k, int n) {
        if (!FP8_GEMM || w.dtype() != DType.F8_E4M3 || b.sm() < 89 || k % 16 != 0 || n % 16 != 0) {
            return false;
        }
        if (!(w.storage() instanceof CudaStorage s) || s.backend() != b) {
            return false;
        }
        if (w.stride(1) != 1 || w.stride(0) != k || b.address(w) % 16 != 0) {
            return false;
        }
        Tensor sc = w.scale();
        return sc == null || sc.numel() == 1 || sc.numel() == n;
    }

    /**
     * out = (x quantized to e4m3 with scale sx) · wᵀ, dequantized by sx and w's per-tensor scale in the GEMM; a
     * per-row scale and (unless the epilogue takes it) the bias are applied after it.
     */
    private static void linearFp8(CudaBackend b, Tensor x, Tensor w, Tensor biasD, Tensor out, long rows,
                                  List<Tensor> temps) {
        int k = w.size(1);
        int n = w.size(0);
        Tensor xs = readable(b, x, temps);
        long count = xs.numel();
        StridedLayout lx = StridedLayout.of(xs);
        int xdt = CudaDTypes.code(xs.dtype());
        // [amax bits, activation scale]
        Tensor amax = keep(b.zeros(DType.I32, 2), null, temps);
        long amaxPtr = b.address(amax);
        b.launch1d("gemm", "lk_amax", count, a -> a.ptr(amaxPtr).i64(count).ptr(b.base(xs)).i32(xdt)
                .struct(lx.toStruct(CudaBackend.arenaOf(a))));
        Tensor xq = keep(b.empty(DType.F8_E4M3, Math.toIntExact(rows), k), null, temps);
        b.launch1d("gemm", "lk_quantize_e4m3", count, a -> a.ptr(b.address(xq)).ptr(amaxPtr + 4).i64(count)
                .ptr(b.base(xs)).i32(xdt).struct(lx.toStruct(CudaBackend.arenaOf(a))).ptr(amaxPtr));

        GemmPlan.View xv = new GemmPlan.View(new int[] {Math.toIntExact(rows), k}, new long[] {k, 1}, 0);
        GemmPlan.View yv = new GemmPlan.View(new int[] {k, n}, new long[] {1, k}, w.offset());
        GemmPlan.View ov = new GemmPlan.View(new int[] {Math.toIntExact(rows), n}, new long[] {n, 1}, 0);
        GemmPlan plan = GemmPlan.plan(xv, yv, ov);
        if (!plan.isTN() || plan.calls.size() != 1) {
            throw new IllegalStateException("FP8 GEMM needs one TN call, planned " + plan);
        }
        Tensor sc = w.scale();
        Tensor scF = sc == null ? null : f32Contiguous(b, sc, temps);
        boolean perRow = scF != null && scF.numel() > 1;
        long scaleA = scF != null && !perRow ? b.address(scF) : 0;
        // FP8 with a bf16 output takes a bf16 bias in the epilogue; with an f32 output the bias type rules differ,
        // and a per-row scale must come before the bias: those add it afterwards
        boolean biasInGemm = biasD != null && !perRow && out.dtype() == DType.BF16;
        long biasPtr = biasInGemm ? b.address(alignedCopy(b, biasD, DType.BF16, temps)) : 0;
        run(b, plan, w, xq, out, biasPtr, biasInGemm ? CublasLt.CUDA_R_16BF : -1, scaleA, amaxPtr + 4);
        if (perRow || (biasD != null && !biasInGemm)) {
            epilogue(b, out, n, perRow ? scF : null, biasInGemm ? null : biasD, false);
        }
    }

    // ------------------------------------------------------------------ matmul

    /**
     * torch {@code matmul(a, b)} for a [..., M, K] and b [..., K, N] with broadcast batch dimensions; a 1-D a is a
     * row vector and a 1-D b a column vector, their dimension dropped from the result.
     */
    static Tensor matmul(CudaBackend b, Tensor a, Tensor bb) {
        OpShapes.Matmul mm = OpShapes.matmul(a, bb);
        int[] batch = mm.batch();
        int rank = batch.length;
        int m = mm.m();
        int k = mm.k();
        int n = mm.n();
        int[] outShape = mm.outShape();
        DType cd = b.computeDType();
        if (Tensor.numel(outShape) == 0) {
            return b.empty(cd, outShape);
        }
        if (k == 0) {
            return b.zeros(cd, outShape);
        }
        Tensor out = b.empty(cd, outShape);
        List<Tensor> temps = new ArrayList<>();
        try {
            Tensor a2 = compute(b, a, temps);
            Tensor b2 = compute(b, bb, temps);
            GemmPlan.View xv = batched(a2.dim() == 1 ? a2.unsqueeze(0) : a2, batch);
            GemmPlan.View yv = batched(b2.dim() == 1 ? b2.unsqueeze(1) : b2, batch);
            if (!GemmPlan.expressible(xv)) {
                a2 = keep(b.contiguous(a2), a2, temps);
                xv = batched(a2.dim() == 1 ? a2.unsqueeze(0) : a2, batch);
            }
            if (!GemmPlan.expressible(yv)) {
                b2 = keep(b.contiguous(b2), b2, temps);
                yv = batched(b2.dim() == 1 ? b2.unsqueeze(1) : b2, batch);
            }
            int[] os = Arrays.copyOf(batch, rank + 2);
            os[rank] = m;
            os[rank + 1] = n;
            GemmPlan.View ov = new GemmPlan.View(os, GemmPlan.contiguousStrides(os), 0);
            GemmPlan plan = GemmPlan.plan(xv, yv, ov);
            if (plan.calls.size() > MAX_CALLS && (!a2.isContiguous() || !b2.isContiguous())) {
                a2 = keep(b.contiguous(a2), a2, temps);
                b2 = keep(b.contiguous(b2), b2, temps);
                xv = batched(a2.dim() == 1 ? a2.unsqueeze(0) : a2, batch);
                yv = batched(b2.dim() == 1 ? b2.unsqueeze(1) : b2, batch);
                plan = GemmPlan.plan(xv, yv, ov);
            }
            run(b, plan, b2, a2, out, 0, -1, 0, 0);
            return out;
        } finally {
            release(temps);
        }
    }

    /** A matrix operand [..., R, C] broadcast to {@code batch} + [R, C] (stride 0 on broadcast dimensions). */
    private static GemmPlan.View batched(Tensor t, int[] batch) {
        int rank = batch.length;
        int tr = t.dim() - 2;
        int[] shape = Arrays.copyOf(batch, rank + 2);
        long[] strides = new long[rank + 2];
        for (int d = 0; d < rank; d++) {
            int dt = d - (rank - tr);
            strides[d] = dt >= 0 && t.size(dt) != 1 ? t.stride(dt) : 0;
        }
        shape[rank] = t.size(-2);
        shape[rank + 1] = t.size(-1);
        strides[rank] = t.stride(-2);
        strides[rank + 1] = t.stride(-1);
        return new GemmPlan.View(shape, strides, t.offset());
    }

    // ------------------------------------------------------------------ shared pieces

    /** Queues every call of {@code plan}: cuBLAS A = y, B = x, D = out. */
    static void run(CudaBackend b, GemmPlan plan, Tensor y, Tensor x, Tensor out, long bias, int biasType,
                    long scaleA, long scaleB) {
        CublasLt lt = b.cublas();
        int ta = CublasLt.cudaType(y.dtype());
        int tb = CublasLt.cudaType(x.dtype());
        int td = CublasLt.cudaType(out.dtype());
        long ea = y.dtype().byteSize();
        long eb = x.dtype().byteSize();
        long ed = out.dtype().byteSize();
        long baseA = b.base(y);
        long baseB = b.base(x);
        long baseD = b.base(out);
        for (GemmPlan.Call c : plan.calls) {
            lt.matmul(new CublasLt.Matmul(plan.m, plan.n, plan.k, ta, tb, td, plan.a, plan.b, plan.ldd, plan.batch,
                    plan.strideA, plan.strideB, plan.strideD, baseA + c.offsetA() * ea, baseB + c.offsetB() * eb,
                    baseD + c.offsetD() * ed, bias, biasType, scaleA, scaleB, 1f));
        }
    }

    /**
     * On the contiguous output [rows, cols]: {@code (overwrite ? 0 : out · colScale) + bias} per column; colScale
     * f32 ([1] or [cols]) or null, bias readable by kernels or null.
     */
    static void epilogue(CudaBackend b, Tensor out, int cols, Tensor colScale, Tensor bias, boolean overwrite) {
        long total = out.numel();
        int dt = CudaDTypes.code(out.dtype());
        b.launch1d("gemm", "lk_gemm_epilogue", total, a -> a.ptr(b.address(out)).i32(dt).i64(total).i32(cols)
                .ptr(colScale == null ? 0 : b.address(colScale)).i32(colScale == null ? 0 : (int) colScale.numel())
                .ptr(bias == null ? 0 : b.base(bias)).i32(bias == null ? 0 : CudaDTypes.code(bias.dtype()))
                .i64(bias == null ? 0 : bias.offset()).i64(bias == null ? 0 : bias.stride(0)).i32(overwrite ? 1 : 0));
    }

    /** {@code t} on the device in the compute dtype with no scale (converted into a temporary where needed). */
    static Tensor compute(CudaBackend b, Tensor t, List<Tensor> temps) {
        DType cd = b.computeDType();
        Tensor d = keep(b.onDevice(t), t, temps);
        if (d.dtype() == DType.I8) {
            return keep(dequantizeI8(b, d, cd, temps), d, temps);
        }
        if (d.dtype() != cd || d.scale() != null) {
            return keep(b.to(d, cd), d, temps);
        }
        return d;
    }

    /** {@code t} on the device in a dtype kernels read, with no scale (scaled tensors dequantized to f32). */
    static Tensor readable(CudaBackend b, Tensor t, List<Tensor> temps) {
        Tensor d = keep(b.onDevice(t), t, temps);
        if (d.dtype() == DType.I8) {
            return keep(dequantizeI8(b, d, DType.F32, temps), d, temps);
        }
        if (d.scale() != null) {
            return keep(b.to(d, DType.F32), d, temps);
        }
        CudaDTypes.code(d.dtype());
        return d;
    }

    /** An int8 tensor times its scale ([1] or one per row of dimension 0), contiguous in {@code dtype}. */
    static Tensor dequantizeI8(CudaBackend b, Tensor t, DType dtype, List<Tensor> temps) {
        Tensor out = b.empty(dtype, t.shape());
        long n = t.numel();
        if (n == 0) {
            return out;
        }
        Tensor sc = t.scale() == null ? null : f32Contiguous(b, t.scale(), temps);
        long rowSize = t.dim() == 0 || t.size(0) == 0 ? 1 : Math.max(1, n / t.size(0));
        StridedLayout l = StridedLayout.of(t);
        b.launch1d("gemm", "lk_dequant_i8", n, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(dtype)).i64(n)
                .ptr(b.base(t)).struct(l.toStruct(CudaBackend.arenaOf(a))).ptr(sc == null ? 0 : b.address(sc))
                .i64(rowSize).i32(sc == null ? 0 : (int) sc.numel()));
        return out;
    }

    /** A scale tensor as contiguous f32 on the device. */
    private static Tensor f32Contiguous(CudaBackend b, Tensor sc, List<Tensor> temps) {
        Tensor d = keep(b.onDevice(sc), sc, temps);
        if (d.dtype() == DType.F32 && d.scale() == null && d.isContiguous()) {
            return d;
        }
        return keep(b.to(d, DType.F32), d, temps);
    }

    /** A fresh contiguous, 256-byte aligned copy of a (readable) vector in {@code dtype}, unless it already is one. */
    static Tensor alignedCopy(CudaBackend b, Tensor v, DType dtype, List<Tensor> temps) {
        if (v.dtype() == dtype && v.scale() == null && v.isContiguous() && b.address(v) % 16 == 0) {
            return v;
        }
        Tensor out = keep(b.empty(dtype, v.shape()), null, temps);
        long n = v.numel();
        StridedLayout l = StridedLayout.of(v);
        b.launch1d("copy", "lk_convert", n, a -> a.ptr(b.address(out)).i32(CudaDTypes.code(dtype)).i64(n)
                .ptr(b.base(v)).i32(CudaDTypes.code(v.dtype())).struct(l.toStruct(CudaBackend.arenaOf(a)))
                .ptr(0).i64(1).i32(0));
        return out;
    }

    /** Records {@code t} as a temporary when it does not share storage with {@code from} (null: always). */
    static Tensor keep(Tensor t, Tensor from, List<Tensor> temps) {
        if (from == null || t.storage() != from.storage()) {
            temps.add(t);
        }
        return t;
    }

    /** Releases the temporaries (stream-ordered: after the work queued on them). */
    static void release(List<Tensor> temps) {
        for (Tensor t : temps) {
            t.storage().release();
        }
        temps.clear();
    }
}
