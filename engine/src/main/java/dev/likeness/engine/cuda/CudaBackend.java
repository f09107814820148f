package dev.likeness.engine.cuda;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cpu.CpuStorage;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Reference;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The CUDA backend: the {@link Backend} op set on one NVIDIA GPU, through the driver API ({@link Driver}), cuBLASLt
 * ({@link CublasLt}) for GEMMs and NVRTC-compiled kernels ({@link Kernels}) for everything else. One stream per
 * backend instance: ops are queued in order and the host waits only when it reads values back.
 *
 * <p>Results are in the compute dtype: bf16 by default (as diffusers runs FLUX), f32 with
 * {@code -Dlikeness.cuda.compute=f32} (for comparisons against the CPU backend). Kernels accumulate in f32 either
 * way. Each op family lives in its own class ({@link CudaElementwise}, {@link CudaNorms}, {@link CudaGemm},
 * {@link CudaConv}, {@link CudaAttention}); this class holds the device, the memory and the routing.
 *
 * <p>With {@code -Dlikeness.cuda.poison=true} every new allocation is filled with 0xFF bytes (NaN in every float
 * dtype) so that an element a kernel forgot to write shows up in the tests.
 */
public final class CudaBackend implements Backend {
    private final Driver driver;
    private final int ordinal;
    private final int device;
    private final MemorySegment context;
    private final MemorySegment stream;
    private final Kernels kernels;
    private final CpuBackend host;
    private final DType compute;
    private final String gpuName;
    private final int sm;
    private final int multiprocessors;
    private final boolean poison;
    private final AtomicLong allocated = new AtomicLong();
    private final AtomicLong sinceCollection = new AtomicLong();
    private final long collectEvery;
    /**
     * The backend whose context this thread made current last. Per thread and shared by all backends: with a flag per
     * backend, a thread (the storage cleaner's, or one driving two GPUs) that switched to another device's context
     * would never switch back.
     */
    private static final ThreadLocal<CudaBackend> CURRENT = new ThreadLocal<>();
    private volatile boolean closed;
    private volatile CublasLt cublas;

    private CudaBackend(Driver driver, int ordinal, DType compute) {
        this.driver = driver;
        this.ordinal = ordinal;
        int count = driver.deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaUnavailableException("GPU " + ordinal + " requested, the driver sees " + count);
        }
        this.device = driver.device(ordinal);
        this.gpuName = driver.deviceName(device);
        this.sm = 10 * driver.attribute(device, Driver.ATTR_COMPUTE_CAPABILITY_MAJOR)
                + driver.attribute(device, Driver.ATTR_COMPUTE_CAPABILITY_MINOR);
        if (sm < 75) {
            throw new CudaUnavailableException(gpuName + " is compute capability " + sm / 10 + "." + sm % 10
                    + "; Likeness needs 7.5 or newer (bf16 kernels)");
        }
        this.multiprocessors = driver.attribute(device, Driver.ATTR_MULTIPROCESSOR_COUNT);
        // NVRTC first: if it is missing nothing has been retained yet (a failed open holds no context)
        Nvrtc nvrtc = Nvrtc.get();
        this.context = driver.retainPrimaryContext(device);
        makeCurrent();
        this.stream = driver.createStream();
        // keep freed activations in the pool between steps instead of handing them back at every synchronization
        driver.setPoolReleaseThreshold(device, Long.MAX_VALUE);
        this.kernels = new Kernels(driver, nvrtc, sm, Kernels.defaultCacheDir());
        this.host = new CpuBackend(1);
        this.compute = compute;
        this.poison = Boolean.getBoolean("likeness.cuda.poison");
        this.collectEvery = Math.max(1L << 30, driver.totalMemory(device) / 8);
    }

    /** GPU {@code ordinal} with the compute dtype of {@code -Dlikeness.cuda.compute} (bf16 unless set to f32). */
    public static CudaBackend open(int ordinal) {
        String c = System.getProperty("likeness.cuda.compute", "bf16").toLowerCase(Locale.ROOT);
        DType compute = switch (c) {
            case "bf16" -> DType.BF16;
            case "f32" -> DType.F32;
            default -> throw new IllegalArgumentException("likeness.cuda.compute must be bf16 or f32, got " + c);
        };
        return open(ordinal, compute);
    }

    /**
     * GPU {@code ordinal} computing in {@code compute} (BF16 or F32).
     *
     * @throws CudaUnavailableException with one line saying what is missing
     */
    public static CudaBackend open(int ordinal, DType compute) {
        if (compute != DType.BF16 && compute != DType.F32) {
            throw new IllegalArgumentException("compute dtype must be bf16 or f32, got " + compute);
        }
        return new CudaBackend(Driver.get(), ordinal, compute);
    }

    @Override
    public String name() {
        return "cuda:" + ordinal;
    }

    /** The GPU's name ("NVIDIA H100 80GB HBM3"). */
    public String gpuName() {
        return gpuName;
    }

    /** Compute capability as 10 × major + minor (90 on Hopper). */
    public int sm() {
        return sm;
    }

    public int multiprocessors() {
        return multiprocessors;
    }

    /** The most dynamic shared memory one block may use after opting in ({@link Driver#setMaxDynamicSharedMemory}). */
    public int sharedMemoryPerBlockOptin() {
        return driver.attribute(device, Driver.ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
    }

    @Override
    public DType computeDType() {
        return compute;
    }

    @Override
    public int threads() {
        return 1;
    }

    public Driver driver() {
        return driver;
    }

    public Kernels kernels() {
        return kernels;
    }

    public MemorySegment stream() {
        return stream;
    }

    /** A one-thread CPU backend for the small host-side computations (position tables, read-back decoding). */
    public CpuBackend host() {
        return host;
    }

    /** cuBLASLt on this backend's stream, loaded at the first GEMM. */
    public CublasLt cublas() {
        CublasLt c = cublas;
        if (c == null) {
            synchronized (this) {
                c = cublas;
                if (c == null) {
                    makeCurrent();
                    c = CublasLt.create(this);
                    cublas = c;
                }
            }
        }
        return c;
    }

    /** Bytes of device memory held by live tensors of this backend. */
    public long allocatedBytes() {
        return allocated.get();
    }

    /** Makes this backend's context current on the calling thread (a driver call only when another one was). */
    public void makeCurrent() {
        if (CURRENT.get() != this) {
            driver.setCurrent(context);
            CURRENT.set(this);
        }
    }

    /** Waits until every queued op has finished. */
    public void synchronize() {
        makeCurrent();
        driver.synchronize(stream);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        synchronize();
        CublasLt c = cublas;
        if (c != null) {
            c.close();
        }
        closed = true;
        driver.destroyStream(stream);
        driver.releasePrimaryContext(device);
        host.close();
    }

    // ------------------------------------------------------------------ memory

    /**
     * {@code bytes} of device memory from the pool. When the device is full, unreachable tensors are collected
     * (their memory returns to the pool) and the allocation is tried again before failing.
     */
    public CudaStorage allocate(long bytes) {
        makeCurrent();
        long size = Math.max(bytes, 1);
        long ptr = 0;
        for (int attempt = 0; ; attempt++) {
            try {
                ptr = driver.mallocAsync(size, stream);
                break;
            } catch (CudaException e) {
                if (e.status() != 2 || attempt == 3) { // CUDA_ERROR_OUT_OF_MEMORY
                    if (e.status() == 2) {
                        throw new CudaException("allocating " + size + " bytes on " + gpuName + " ("
                                + allocated.get() + " bytes held by live tensors)", e.status(), "out of memory");
                    }
                    throw e;
                }
                System.gc();
                try {
                    Thread.sleep(20L << attempt);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
                driver.synchronize(stream);
            }
        }
        allocated.addAndGet(size);
        if (sinceCollection.addAndGet(size) > collectEvery) {
            // device memory is freed when tensors become unreachable, but the Java heap (a few bytes per tensor)
            // gives the collector no reason to run: ask for a collection every eighth of the device's memory
            sinceCollection.set(0);
            System.gc();
        }
        if (poison) {
            driver.memsetAsync(ptr, (byte) 0xFF, size, stream);
        }
        return new CudaStorage(this, ptr, size);
    }

    /** Returns memory to the pool (stream-ordered: after every op queued so far). Called by {@link CudaStorage}. */
    void free(long ptr, long bytes) {
        if (closed) {
            return;
        }
        makeCurrent();
        driver.freeAsync(ptr, stream);
        allocated.addAndGet(-bytes);
    }

    /** A new contiguous tensor whose contents are undefined (poisoned in tests): kernels write every element. */
    public Tensor empty(DType dtype, int... shape) {
        return new Tensor(allocate(Tensor.numel(shape) * dtype.byteSize()), dtype, shape);
    }

    /** The device address of byte 0 of the tensor's storage (kernels add the view offset themselves). */
    public long base(Tensor t) {
        return storage(t).pointer();
    }

    /** The device address of the tensor's first element (for contiguous fast paths). */
    public long address(Tensor t) {
        return storage(t).pointer() + t.offset() * t.dtype().byteSize();
    }

    private CudaStorage storage(Tensor t) {
        if (t.storage() instanceof CudaStorage s && s.backend() == this) {
            return s;
        }
        throw new IllegalArgumentException("tensor " + t + " is on " + t.backend().name() + ", not " + name()
                + " (transfer it first)");
    }

    /** {@code t} on this device: transferred if it lives elsewhere. */
    public Tensor onDevice(Tensor t) {
        return t.storage() instanceof CudaStorage s && s.backend() == this ? t : transfer(t);
    }

    // ------------------------------------------------------------------ launches

    /** Threads per block of {@link #launch1d}. */
    public static final int BLOCK = 256;

    /** Launches {@code module/function} over {@code n} elements with a grid-stride loop (kernels use LK_FOR). */
    public void launch1d(String module, String function, long n, Consumer<KernelArgs> args) {
        long blocks = Math.max(1, Math.min((n + BLOCK - 1) / BLOCK, (long) multiprocessors * 32));
        launch(module, function, (int) blocks, 1, 1, BLOCK, 1, 1, 0, args);
    }

    /** Launches {@code module/function} with an explicit geometry; {@code args} fills the kernel's parameters. */
    public void launch(String module, String function, int gridX, int gridY, int gridZ, int blockX, int blockY,
                       int blockZ, int sharedBytes, Consumer<KernelArgs> args) {
        makeCurrent();
        MemorySegment f = kernels.function(module, function);
        try (Arena arena = Arena.ofConfined()) {
            KernelArgs ka = new KernelArgs(arena);
            args.accept(ka);
            driver.launch(f, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes, stream, ka.array());
        } finally {
            // the argument lambda captures the tensors whose addresses it packed: keep them reachable until the
            // launch is queued, so that a collection cannot queue their (stream-ordered) free ahead of the kernel
            Reference.reachabilityFence(args);
        }
    }

    // ------------------------------------------------------------------ creation and movement

    @Override
    public Tensor zeros(DType dtype, int... shape) {
        Tensor t = empty(dtype, shape);
        driver.memsetAsync(base(t), (byte) 0, Math.max(1, t.numel() * dtype.byteSize()), stream);
        return t;
    }

    @Override
    public Tensor fromFloats(float[] data, int... shape) {
        checkCount(data.length, shape);
        return upload(MemorySegment.ofArray(data), DType.F32, shape);
    }

    @Override
    public Tensor fromInts(int[] data, int... shape) {
        checkCount(data.length, shape);
        return upload(MemorySegment.ofArray(data), DType.I32, shape);
    }

    private static void checkCount(int length, int[] shape) {
        if (Tensor.numel(shape) != length) {
            throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " needs "
                    + Tensor.numel(shape) + " values, got " + length);
        }
    }

    /** Copies a contiguous host segment into a new device tensor. */
    public Tensor upload(MemorySegment src, DType dtype, int... shape) {
        long bytes = Tensor.numel(shape) * dtype.byteSize();
        Tensor t = empty(dtype, shape);
        copyIn(base(t), src.asSlice(0, bytes));
        return t;
    }

    private static final long STAGING = 64L << 20;

    /**
     * Copies on this backend's stream, so the copy is ordered after the allocation (and poison fill) queued before
     * it and before the kernels queued after it; returns once the bytes are on the device (the host memory may be
     * reused at once).
     */
    private void copyIn(long dst, MemorySegment src) {
        makeCurrent();
        if (src.isNative()) {
            driver.copyToDeviceAsync(dst, src, src.byteSize(), stream);
            driver.synchronize(stream);
            return;
        }
        // heap memory cannot be handed to the driver: stage it through native memory in slices
        try (Arena a = Arena.ofConfined()) {
            MemorySegment stage = a.allocate(Math.min(STAGING, Math.max(1, src.byteSize())), 64);
            for (long off = 0; off < src.byteSize(); off += stage.byteSize()) {
                long n = Math.min(stage.byteSize(), src.byteSize() - off);
                MemorySegment.copy(src, off, stage, 0, n);
                driver.copyToDeviceAsync(dst + off, stage, n, stream);
                driver.synchronize(stream);
            }
        }
    }

    /** The bytes of a contiguous device tensor, copied to a new host array (waits for the queued work). */
    public byte[] download(Tensor t) {
        if (!t.isContiguous()) {
            throw new IllegalArgumentException("download needs a contiguous tensor, got strides "
                    + java.util.Arrays.toString(t.strides()));
        }
        makeCurrent();
        long bytes = t.numel() * t.dtype().byteSize();
        byte[] out = new byte[Math.toIntExact(bytes)];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment stage = a.allocate(Math.max(1, bytes), 64);
            if (bytes > 0) {
                driver.copyToHostAsync(stage, address(t), bytes, stream);
            }
            driver.synchronize(stream);
            MemorySegment.copy(stage, ValueLayout.JAVA_BYTE, 0, out, 0, out.length);
        } finally {
            Reference.reachabilityFence(t); // not collected (its free queued) before the copy is
        }
        return out;
    }

    /** The tensor on the host (same dtype and shape, scale included): for read-back and host fallbacks. */
    public Tensor toHost(Tensor t) {
        Tensor c = sameDtypeContiguous(t);
        Tensor h = host.wrap(MemorySegment.ofArray(download(c)), c.dtype(), c.shape());
        if (t.scale() != null) {
            Tensor s = toHost(t.scale());
            h = new Tensor(h.storage(), h.dtype(), h.shape(), h.strides(), h.offset(), s);
        }
        return h;
    }

    private Tensor sameDtypeContiguous(Tensor t) {
        Tensor d = onDevice(t);
        if (d.isContiguous()) {
            return d;
        }
        Tensor out = empty(d.dtype(), d.shape());
        StridedLayout l = StridedLayout.of(d);
        long n = d.numel();
        launch1d("copy", "lk_gather", n, a -> a.ptr(base(out)).i64(n).ptr(base(d)).struct(l.toStruct(arenaOf(a)))
                .i32(d.dtype().byteSize()));
        return out;
    }

    /** {@code t} itself when it already lives on the host, else its host copy ({@link #toHost}). */
    private Tensor hostView(Tensor t) {
        return t.storage() instanceof CpuStorage ? t : toHost(t);
    }

    @Override
    public float[] toFloatArray(Tensor t) {
        return host.toFloatArray(hostView(t));
    }

    @Override
    public int[] toIntArray(Tensor t) {
        return host.toIntArray(hostView(t));
    }

    @Override
    public Tensor contiguous(Tensor t) {
        Tensor d = onDevice(t);
        if (d.scale() != null) {
            return to(d, DType.F32);
        }
        return sameDtypeContiguous(d);
    }

    @Override
    public Tensor to(Tensor t, DType dtype) {
        Tensor d = onDevice(t);
        CudaDTypes.code(dtype);
        if (d.dtype() == dtype && d.scale() == null) {
            return sameDtypeContiguous(d);
        }
        if (d.dtype() == DType.I8) {
            // int8 (with or without its scale): the dequantizing kernel of the GEMM module reads it
            List<Tensor> temps = new java.util.ArrayList<>();
            Tensor out = CudaGemm.dequantizeI8(this, d, dtype, temps);
            CudaGemm.release(temps);
            return out;
        }
        Tensor out = empty(dtype, d.shape());
        long n = d.numel();
        StridedLayout l = StridedLayout.of(d);
        Tensor scale = d.scale() == null ? null : contiguous(to(d.scale(), DType.F32));
        long rowSize = d.dim() == 0 || d.size(0) == 0 ? 1 : Math.max(1, n / d.size(0));
        launch1d("copy", "lk_convert", n, a -> a.ptr(base(out)).i32(CudaDTypes.code(dtype)).i64(n)
                .ptr(base(d)).i32(CudaDTypes.code(d.dtype())).struct(l.toStruct(arenaOf(a)))
                .ptr(scale == null ? 0 : address(scale)).i64(rowSize).i32(scale == null ? 0 : (int) scale.numel()));
        return out;
    }

    @Override
    public Tensor transfer(Tensor t) {
        if (t.storage() instanceof CudaStorage s && s.backend() == this) {
            return t;
        }
        Tensor h;
        if (t.storage() instanceof CpuStorage) {
            h = t;
        } else if (t.storage() instanceof CudaStorage s) {
            h = s.backend().toHost(t);
        } else {
            h = host.fromFloats(t.backend().toFloatArray(t), t.shape());
        }
        // same dtype, contiguous on the host, then one copy
        Tensor c = host.contiguous(h.scale() == null ? h : new Tensor(h.storage(), h.dtype(), h.shape(), h.strides(),
                h.offset(), null));
        CpuStorage cs = (CpuStorage) c.storage();
        long elem = c.dtype().byteSize();
        MemorySegment seg = cs.floats() != null ? MemorySegment.ofArray(cs.floats()) : cs.segment();
        Tensor d = upload(seg.asSlice(c.offset() * elem, c.numel() * elem), c.dtype(), c.shape());
        if (h.scale() != null) {
            Tensor sc = transfer(h.scale());
            d = new Tensor(d.storage(), d.dtype(), d.shape(), d.strides(), d.offset(), sc);
        }
        return d;
    }

    /** The arena a {@link KernelArgs} allocates in (for struct arguments built inside the argument lambda). */
    static Arena arenaOf(KernelArgs a) {
        return a.arena();
    }

    // ------------------------------------------------------------------ linear algebra

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor bias) {
        return CudaGemm.linear(this, x, w, bias);
    }

    @Override
    public Tensor matmul(Tensor a, Tensor b) {
        return CudaGemm.matmul(this, a, b);
    }

    // ------------------------------------------------------------------ elementwise

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return CudaElementwise.binary(this, CudaElementwise.ADD, a, b);
    }

    @Override
    public Tensor sub(Tensor a, Tensor b) {
        return CudaElementwise.binary(this, CudaElementwise.SUB, a, b);
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return CudaElementwise.binary(this, CudaElementwise.MUL, a, b);
    }

    @Override
    public Tensor div(Tensor a, Tensor b) {
        return CudaElementwise.binary(this, CudaElementwise.DIV, a, b);
    }

    @Override
    public Tensor affine(Tensor a, float s, float t) {
        return CudaElementwise.affine(this, a, s, t);
    }

    @Override
    public Tensor gelu(Tensor x, boolean tanhApproximation) {
        return CudaElementwise.unary(this, tanhApproximation ? CudaElementwise.GELU_TANH : CudaElementwise.GELU, x);
    }

    @Override
    public Tensor quickGelu(Tensor x) {
        return CudaElementwise.unary(this, CudaElementwise.QUICK_GELU, x);
    }

    @Override
    public Tensor silu(Tensor x) {
        return CudaElementwise.unary(this, CudaElementwise.SILU, x);
    }

    @Override
    public Tensor sqrt(Tensor x) {
        return CudaElementwise.unary(this, CudaElementwise.SQRT, x);
    }

    // ------------------------------------------------------------------ normalization

    @Override
    public Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, float eps) {
        return CudaNorms.layerNorm(this, x, weight, bias, eps);
    }

    @Override
    public Tensor rmsNorm(Tensor x, Tensor weight, float eps) {
        return CudaNorms.rmsNorm(this, x, weight, eps);
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor weight, Tensor bias, float eps) {
        return CudaNorms.groupNorm(this, x, groups, weight, bias, eps);
    }

    @Override
    public Tensor softmax(Tensor x, int dim) {
        return CudaNorms.softmax(this, x, dim);
    }

    // ------------------------------------------------------------------ attention and positions

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        return CudaAttention.attention(this, q, k, v, mask, scale);
    }

    @Override
    public Tensor rope(Tensor x, Tensor cos, Tensor sin) {
        return CudaElementwise.rope(this, x, cos, sin);
    }

    /** Position tables are small and computed in f64: on the host, then uploaded (f32, as on the CPU backend). */
    @Override
    public List<Tensor> ropeFrequencies(Tensor ids, int[] axesDim, double theta) {
        return host.ropeFrequencies(hostView(ids), axesDim, theta).stream().map(this::transfer).toList();
    }

    /** Computed on the host (a few thousand values per step), then uploaded in f32. */
    @Override
    public Tensor timestepEmbedding(Tensor t, int dim, boolean flipSinToCos, float downscaleFreqShift, float scale,
                                    int maxPeriod) {
        return transfer(host.timestepEmbedding(hostView(t), dim, flipSinToCos, downscaleFreqShift, scale, maxPeriod));
    }

    // ------------------------------------------------------------------ convolution and resampling

    @Override
    public Tensor conv2d(Tensor x, Tensor w, Tensor bias, int strideH, int strideW, int padH, int padW, int groups) {
        return CudaConv.conv2d(this, x, w, bias, strideH, strideW, padH, padW, groups);
    }

    @Override
    public Tensor upsampleNearest(Tensor x, int outH, int outW) {
        return CudaElementwise.upsampleNearest(this, x, outH, outW);
    }

    /**
     * Only the image encoders' position-embedding resize and preprocessing use this, on small tensors: computed on
     * the host with the CPU backend's (PyTorch-exact) kernels, then uploaded in the compute dtype.
     */
    @Override
    public Tensor interpolate(Tensor x, int outH, int outW, Interpolation mode, boolean alignCorners,
                              boolean antialias) {
        return to(transfer(host.interpolate(hostView(x), outH, outW, mode, alignCorners, antialias)), compute);
    }

    // ------------------------------------------------------------------ shape ops that produce data

    @Override
    public Tensor cat(int dim, List<Tensor> tensors) {
        return CudaElementwise.cat(this, dim, tensors);
    }

    @Override
    public Tensor embedding(Tensor weight, Tensor ids) {
        return CudaElementwise.embedding(this, weight, ids);
    }

    // ------------------------------------------------------------------ reductions

    @Override
    public Tensor mean(Tensor x, int dim, boolean keepDim) {
        return CudaNorms.mean(this, x, dim, keepDim);
    }

    @Override
    public Tensor var(Tensor x, int dim, int correction, boolean keepDim) {
        return CudaNorms.var(this, x, dim, correction, keepDim);
    }
}
