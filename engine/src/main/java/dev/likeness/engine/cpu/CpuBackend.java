package dev.likeness.engine.cpu;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Dtypes;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cuda.CudaBackend;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The pure-Java backend: f32 compute on heap arrays, Vector API kernels, parallel over {@link #threads()} cores.
 * Each op family lives in its own kernel class ({@link Gemm}, {@link Attention}, {@link Norms}, ...); this class
 * only routes.
 */
public final class CpuBackend implements Backend {
    private final Parallel parallel;

    /** A backend using all available processors (or the {@code likeness.threads} system property). */
    public CpuBackend() {
        this(Integer.getInteger("likeness.threads", Runtime.getRuntime().availableProcessors()));
    }

    public CpuBackend(int threads) {
        this.parallel = new Parallel(threads);
    }

    public Parallel parallel() {
        return parallel;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public DType computeDType() {
        return DType.F32;
    }

    @Override
    public int threads() {
        return parallel.threads();
    }

    @Override
    public void close() {
        parallel.close();
    }

    // ------------------------------------------------------------------ creation and movement

    /** Wraps {@code data} (not copied) as a contiguous f32 tensor: the way kernels return results. */
    public Tensor wrap(float[] data, int... shape) {
        if (Tensor.numel(shape) != data.length) {
            throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " needs "
                    + Tensor.numel(shape) + " values, got " + data.length);
        }
        return new Tensor(CpuStorage.ofFloats(this, data), DType.F32, shape);
    }

    /** Wraps a host segment (for example a memory-mapped safetensors slice) as a contiguous tensor. */
    public Tensor wrap(MemorySegment segment, DType dtype, int... shape) {
        long need = Tensor.numel(shape) * dtype.byteSize();
        if (segment.byteSize() < need) {
            throw new IllegalArgumentException("a " + dtype + java.util.Arrays.toString(shape) + " tensor needs " + need
                    + " bytes, the segment has " + segment.byteSize());
        }
        return new Tensor(CpuStorage.ofSegment(this, segment), dtype, shape);
    }

    @Override
    public Tensor zeros(DType dtype, int... shape) {
        long n = Tensor.numel(shape);
        if (dtype == DType.F32) {
            return wrap(new float[Math.toIntExact(n)], shape);
        }
        return wrap(MemorySegment.ofArray(new byte[Math.toIntExact(n * dtype.byteSize())]), dtype, shape);
    }

    @Override
    public Tensor fromFloats(float[] data, int... shape) {
        return wrap(data.clone(), shape);
    }

    @Override
    public Tensor fromInts(int[] data, int... shape) {
        if (Tensor.numel(shape) != data.length) {
            throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " needs "
                    + Tensor.numel(shape) + " values, got " + data.length);
        }
        return wrap(MemorySegment.ofArray(data.clone()), DType.I32, shape);
    }

    @Override
    public float[] toFloatArray(Tensor t) {
        return CpuData.copyFloats(t);
    }

    @Override
    public int[] toIntArray(Tensor t) {
        return CpuData.ints(t);
    }

    @Override
    public Tensor contiguous(Tensor t) {
        if (t.backend() == this && t.isContiguous() && t.scale() == null) {
            return t;
        }
        if (t.dtype() == DType.F32 || t.scale() != null) {
            return wrap(CpuData.copyFloats(t), t.shape());
        }
        // same dtype, gathered element by element through f32 would lose integer/f64 precision: copy bytes
        int bs = t.dtype().byteSize();
        MemorySegment src = CpuData.storage(t).segment();
        MemorySegment dst = MemorySegment.ofArray(new byte[Math.toIntExact(t.numel() * bs)]);
        CpuData.forEachElement(t, (i, e) -> MemorySegment.copy(src, e * bs, dst, (long) i * bs, bs));
        return wrap(dst, t.dtype(), t.shape());
    }

    @Override
    public Tensor to(Tensor t, DType dtype) {
        if (t.dtype() == dtype && t.scale() == null) {
            return t.backend() == this ? t : transfer(t);
        }
        if (!dtype.isFloatingPoint() || dtype == DType.F64) {
            if (dtype != DType.I32) {
                throw new IllegalArgumentException("conversion to " + dtype + " is not supported (use F32, BF16, F16, "
                        + "F8_E4M3, F8_E5M2 or I32)");
            }
            int[] v = t.dtype().isFloatingPoint() ? truncate(CpuData.copyFloats(t)) : CpuData.ints(t);
            return wrap(MemorySegment.ofArray(v), DType.I32, t.shape());
        }
        float[] v = CpuData.copyFloats(t);
        int[] shape = t.shape();
        return switch (dtype) {
            case F32 -> wrap(v, shape);
            case BF16, F16 -> {
                short[] h = new short[v.length];
                for (int i = 0; i < v.length; i++) {
                    h[i] = dtype == DType.BF16 ? Dtypes.f32ToBf16(v[i]) : Dtypes.f32ToF16(v[i]);
                }
                yield wrap(MemorySegment.ofArray(h), dtype, shape);
            }
            case F8_E4M3, F8_E5M2 -> {
                byte[] b = new byte[v.length];
                for (int i = 0; i < v.length; i++) {
                    b[i] = dtype == DType.F8_E4M3 ? Dtypes.f32ToE4M3(v[i]) : Dtypes.f32ToE5M2(v[i]);
                }
                yield wrap(MemorySegment.ofArray(b), dtype, shape);
            }
            default -> throw new IllegalStateException("unreachable: " + dtype);
        };
    }

    private static int[] truncate(float[] v) {
        int[] r = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = (int) v[i];
        }
        return r;
    }

    @Override
    public Tensor transfer(Tensor t) {
        if (t.backend() == this) {
            return t;
        }
        if (t.storage() instanceof CpuStorage s) {
            // another CPU backend instance (other thread count): host memory is shared, re-home the view
            CpuStorage mine = s.floats() != null ? CpuStorage.ofFloats(this, s.floats())
                    : CpuStorage.ofSegment(this, s.segment());
            Tensor sc = t.scale() == null ? null : transfer(t.scale());
            return new Tensor(mine, t.dtype(), t.shape(), t.strides(), t.offset(), sc);
        }
        if (t.backend() instanceof CudaBackend gpu) {
            // device -> host in the tensor's own dtype (a bf16 weight stays bf16), then re-homed on this backend
            return transfer(gpu.toHost(t));
        }
        // any other backend: its values in f32
        return wrap(t.backend().toFloatArray(t), t.shape());
    }

    // ------------------------------------------------------------------ linear algebra

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        return Gemm.linear(this, x, w, bias);
    }

    @Override
    public Tensor matmul(Tensor a, Tensor b) {
        return Gemm.matmul(this, a, b);
    }

    // ------------------------------------------------------------------ elementwise

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return Elementwise.binary(this, Elementwise.Op.ADD, a, b);
    }

    @Override
    public Tensor sub(Tensor a, Tensor b) {
        return Elementwise.binary(this, Elementwise.Op.SUB, a, b);
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return Elementwise.binary(this, Elementwise.Op.MUL, a, b);
    }

    @Override
    public Tensor div(Tensor a, Tensor b) {
        return Elementwise.binary(this, Elementwise.Op.DIV, a, b);
    }

    @Override
    public Tensor affine(Tensor a, float s, float t) {
        return Elementwise.affine(this, a, s, t);
    }

    @Override
    public Tensor gelu(Tensor x, boolean tanhApproximation) {
        return Activations.gelu(this, x, tanhApproximation);
    }

    @Override
    public Tensor quickGelu(Tensor x) {
        return Activations.quickGelu(this, x);
    }

    @Override
    public Tensor silu(Tensor x) {
        return Activations.silu(this, x);
    }

    @Override
    public Tensor sqrt(Tensor x) {
        return Activations.sqrt(this, x);
    }

    // ------------------------------------------------------------------ normalization

    @Override
    public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        return Norms.layerNorm(this, x, weight, bias, eps);
    }

    @Override
    public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        return Norms.rmsNorm(this, x, weight, eps);
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, float eps) {
        return Norms.groupNorm(this, x, groups, weight, bias, eps);
    }

    @Override
    public Tensor softmax(Tensor x, int dim) {
        return Softmax.softmax(this, x, dim);
    }

    // ------------------------------------------------------------------ attention and positions

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        return Attention.sdpa(this, q, k, v, mask, scale);
    }

    @Override
    public Tensor rope(Tensor x, Tensor cos, Tensor sin) {
        return Positional.rope(this, x, cos, sin);
    }

    @Override
    public List<Tensor> ropeFrequencies(Tensor ids, int[] axesDim, double theta) {
        return Positional.ropeFrequencies(this, ids, axesDim, theta);
    }

    @Override
    public Tensor timestepEmbedding(Tensor t, int dim, boolean flipSinToCos, float downscaleFreqShift, float scale,
                                    int maxPeriod) {
        return Positional.timestepEmbedding(this, t, dim, flipSinToCos, downscaleFreqShift, scale, maxPeriod);
    }

    // ------------------------------------------------------------------ convolution and resampling

    @Override
    public Tensor conv2d(Tensor x, Tensor w, Tensor bias, int strideH, int strideW, int padH, int padW, int groups) {
        return Conv.conv2d(this, x, w, bias, strideH, strideW, padH, padW, groups);
    }

    @Override
    public Tensor upsampleNearest(Tensor x, int outH, int outW) {
        return Resample.nearest(this, x, outH, outW);
    }

    @Override
    public Tensor interpolate(Tensor x, int outH, int outW, Interpolation mode, boolean alignCorners,
                              boolean antialias) {
        return Resample.interpolate(this, x, outH, outW, mode, alignCorners, antialias);
    }

    // ------------------------------------------------------------------ data-producing shape ops, reductions

    @Override
    public Tensor cat(int dim, List<Tensor> tensors) {
        return Shapes.cat(this, dim, tensors);
    }

    @Override
    public Tensor embedding(Tensor weight, Tensor ids) {
        return Shapes.embedding(this, weight, ids);
    }

    @Override
    public Tensor mean(Tensor x, int dim, boolean keepDim) {
        return Reductions.mean(this, x, dim, keepDim);
    }

    @Override
    public Tensor var(Tensor x, int dim, int correction, boolean keepDim) {
        return Reductions.var(this, x, dim, correction, keepDim);
    }
}
