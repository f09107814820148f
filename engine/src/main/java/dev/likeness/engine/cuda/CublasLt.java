package dev.likeness.engine.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Java bindings (FFM) to cuBLASLt, {@code libcublasLt}: one handle per backend, a workspace allocated with it, and
 * {@link #matmul} for a column-major {@code D = alpha · scaleA · scaleB · op(A) · op(B) (+ bias)} with strided batch
 * on the backend's stream. The algorithm chosen by {@code cublasLtMatmulAlgoGetHeuristic} is cached per problem
 * (shape, leading dimensions, batch strides, dtypes, transposes, epilogue, pointer alignments).
 *
 * <p>Enum values and struct layouts are those of the published headers: {@code cublasLt.h} and
 * {@code cublas_api.h} of the {@code nvidia-cublas} 13.0.0.19 wheel and {@code library_types.h} of
 * {@code nvidia-cuda-runtime} 13.0.96 (the values have been stable since CUDA 11/12, so libcublasLt.so.12 works too).
 */
public final class CublasLt implements AutoCloseable {
    // cudaDataType_t (library_types.h)
    public static final int CUDA_R_32F = 0;
    public static final int CUDA_R_16F = 2;
    public static final int CUDA_R_8I = 3;
    public static final int CUDA_R_16BF = 14;
    public static final int CUDA_R_8F_E4M3 = 28;
    public static final int CUDA_R_8F_E5M2 = 29;
    // cublasComputeType_t (cublas_api.h): f32 accumulation, no TF32 down-conversion of f32 inputs
    public static final int CUBLAS_COMPUTE_32F = 68;
    // cublasOperation_t (cublas_api.h)
    public static final int CUBLAS_OP_N = 0;
    public static final int CUBLAS_OP_T = 1;
    // cublasLtMatmulDescAttributes_t (cublasLt.h)
    static final int DESC_TRANSA = 3;                     // int32_t
    static final int DESC_TRANSB = 4;                     // int32_t
    static final int DESC_EPILOGUE = 7;                   // uint32_t
    static final int DESC_BIAS_POINTER = 8;               // const void*
    static final int DESC_A_SCALE_POINTER = 17;           // const void* (device, f32 for COMPUTE_32F)
    static final int DESC_B_SCALE_POINTER = 18;           // const void*
    static final int DESC_BIAS_DATA_TYPE = 26;            // int32_t (cudaDataType), default -1 = D's type
    // cublasLtEpilogue_t (cublasLt.h)
    static final int EPILOGUE_DEFAULT = 1;
    static final int EPILOGUE_BIAS = 4;
    // cublasLtMatrixLayoutAttribute_t (cublasLt.h)
    static final int LAYOUT_BATCH_COUNT = 5;              // int32_t
    static final int LAYOUT_STRIDED_BATCH_OFFSET = 6;     // int64_t, elements
    // cublasLtMatmulPreferenceAttributes_t (cublasLt.h)
    static final int PREF_MAX_WORKSPACE_BYTES = 1;        // uint64_t
    static final int PREF_MIN_ALIGNMENT_A_BYTES = 5;      // uint32_t, default 256
    static final int PREF_MIN_ALIGNMENT_B_BYTES = 6;
    static final int PREF_MIN_ALIGNMENT_C_BYTES = 7;
    static final int PREF_MIN_ALIGNMENT_D_BYTES = 8;
    /** {@code cublasLtMatmulAlgo_t}: {@code uint64_t data[8]}. */
    static final int ALGO_BYTES = 64;
    /**
     * {@code cublasLtMatmulHeuristicResult_t}: algo (64 bytes), {@code size_t workspaceSize} at 64,
     * {@code cublasStatus_t state} at 72, {@code float wavesCount} at 76, {@code int reserved[4]} at 80: 96 bytes.
     */
    static final int HEURISTIC_RESULT_BYTES = 96;
    static final int HEURISTIC_WORKSPACE_OFFSET = 64;
    static final int HEURISTIC_STATE_OFFSET = 72;
    /** {@code CUBLAS_STATUS_NOT_SUPPORTED}. */
    static final int STATUS_NOT_SUPPORTED = 15;
    /** Workspace given to cuBLASLt (split-K and stream-K kernels use it); Hopper kernels want up to 32 MiB. */
    public static final long WORKSPACE_BYTES = 32L << 20;

    /** The bound functions of one loaded libcublasLt. Binding and the descriptor calls need no GPU. */
    static final class Api {
        private final NativeLibrary lib;
        final MethodHandle cublasLtCreate;
        final MethodHandle cublasLtDestroy;
        final MethodHandle cublasLtGetVersion;
        final MethodHandle cublasLtGetStatusName;
        final MethodHandle cublasLtMatmulDescCreate;
        final MethodHandle cublasLtMatmulDescDestroy;
        final MethodHandle cublasLtMatmulDescSetAttribute;
        final MethodHandle cublasLtMatrixLayoutCreate;
        final MethodHandle cublasLtMatrixLayoutDestroy;
        final MethodHandle cublasLtMatrixLayoutSetAttribute;
        final MethodHandle cublasLtMatmulPreferenceCreate;
        final MethodHandle cublasLtMatmulPreferenceDestroy;
        final MethodHandle cublasLtMatmulPreferenceSetAttribute;
        final MethodHandle cublasLtMatmulAlgoGetHeuristic;
        final MethodHandle cublasLtMatmul;

        Api(CudaLibraries.Loaded loaded) {
            lib = new NativeLibrary(loaded);
            FunctionDescriptor setAttr = FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
            FunctionDescriptor onePtr = FunctionDescriptor.of(JAVA_INT, ADDRESS);
            cublasLtCreate = lib.bind("cublasLtCreate", onePtr);
            cublasLtDestroy = lib.bind("cublasLtDestroy", onePtr);
            cublasLtGetVersion = lib.bind("cublasLtGetVersion", FunctionDescriptor.of(JAVA_LONG));
            cublasLtGetStatusName = lib.bindOptional("cublasLtGetStatusName", FunctionDescriptor.of(ADDRESS, JAVA_INT));
            cublasLtMatmulDescCreate = lib.bind("cublasLtMatmulDescCreate",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
            cublasLtMatmulDescDestroy = lib.bind("cublasLtMatmulDescDestroy", onePtr);
            cublasLtMatmulDescSetAttribute = lib.bind("cublasLtMatmulDescSetAttribute", setAttr);
            cublasLtMatrixLayoutCreate = lib.bind("cublasLtMatrixLayoutCreate",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
            cublasLtMatrixLayoutDestroy = lib.bind("cublasLtMatrixLayoutDestroy", onePtr);
            cublasLtMatrixLayoutSetAttribute = lib.bind("cublasLtMatrixLayoutSetAttribute", setAttr);
            cublasLtMatmulPreferenceCreate = lib.bind("cublasLtMatmulPreferenceCreate", onePtr);
            cublasLtMatmulPreferenceDestroy = lib.bind("cublasLtMatmulPreferenceDestroy", onePtr);
            cublasLtMatmulPreferenceSetAttribute = lib.bind("cublasLtMatmulPreferenceSetAttribute", setAttr);
            cublasLtMatmulAlgoGetHeuristic = lib.bind("cublasLtMatmulAlgoGetHeuristic",
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                            JAVA_INT, ADDRESS, ADDRESS));
            cublasLtMatmul = lib.bind("cublasLtMatmul", FunctionDescriptor.of(JAVA_INT,
                    ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                    ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        }

        String from() {
            return lib.from();
        }

        /** {@code cublasLtGetVersion()}: major × 10000 + minor × 100 + patch (130000 for 13.0.0). */
        long version() {
            try {
                return (long) cublasLtGetVersion.invokeExact();
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        String statusName(int status) {
            if (cublasLtGetStatusName != null) {
                try {
                    MemorySegment p = (MemorySegment) cublasLtGetStatusName.invokeExact(status);
                    if (p.address() != 0) {
                        return p.reinterpret(256).getString(0);
                    }
                } catch (Throwable t) {
                    throw NativeLibrary.rethrow(t);
                }
            }
            return "cublasStatus_t " + status;
        }

        void check(String call, int status) {
            if (status != 0) {
                throw new CudaException(call, status, statusName(status));
            }
        }

        MemorySegment createMatmulDesc(int computeType, int scaleType) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ADDRESS);
                check("cublasLtMatmulDescCreate", (int) cublasLtMatmulDescCreate.invokeExact(p, computeType,
                        scaleType));
                return p.get(ADDRESS, 0);
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        void destroyMatmulDesc(MemorySegment desc) {
            try {
                check("cublasLtMatmulDescDestroy", (int) cublasLtMatmulDescDestroy.invokeExact(desc));
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        void setDescInt(MemorySegment desc, int attribute, int value) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment v = a.allocate(JAVA_INT);
                v.set(JAVA_INT, 0, value);
                check("cublasLtMatmulDescSetAttribute(" + attribute + ")",
                        (int) cublasLtMatmulDescSetAttribute.invokeExact(desc, attribute, v, 4L));
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        /** A pointer-valued (8-byte) matmul attribute. */
        void setDescPointer(MemorySegment desc, int attribute, long pointer) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment v = a.allocate(JAVA_LONG);
                v.set(JAVA_LONG, 0, pointer);
                check("cublasLtMatmulDescSetAttribute(" + attribute + ")",
                        (int) cublasLtMatmulDescSetAttribute.invokeExact(desc, attribute, v, 8L));
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        MemorySegment createLayout(int type, long rows, long cols, long ld) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ADDRESS);
                check("cublasLtMatrixLayoutCreate(" + rows + " x " + cols + ", ld " + ld + ")",
                        (int) cublasLtMatrixLayoutCreate.invokeExact(p, type, rows, cols, ld));
                return p.get(ADDRESS, 0);
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        void destroyLayout(MemorySegment layout) {
            try {
                check("cublasLtMatrixLayoutDestroy", (int) cublasLtMatrixLayoutDestroy.invokeExact(layout));
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        /** Sets BATCH_COUNT (int32) and STRIDED_BATCH_OFFSET (int64) of a layout. */
        void setBatch(MemorySegment layout, int count, long stride) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment c = a.allocate(JAVA_INT);
                c.set(JAVA_INT, 0, count);
                check("cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)",
                        (int) cublasLtMatrixLayoutSetAttribute.invokeExact(layout, LAYOUT_BATCH_COUNT, c, 4L));
                MemorySegment s = a.allocate(JAVA_LONG);
                s.set(JAVA_LONG, 0, stride);
                check("cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)",
                        (int) cublasLtMatrixLayoutSetAttribute.invokeExact(layout, LAYOUT_STRIDED_BATCH_OFFSET, s,
                                8L));
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        MemorySegment createPreference() {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ADDRESS);
                check("cublasLtMatmulPreferenceCreate", (int) cublasLtMatmulPreferenceCreate.invokeExact(p));
                return p.get(ADDRESS, 0);
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        void destroyPreference(MemorySegment pref) {
            try {
                check("cublasLtMatmulPreferenceDestroy", (int) cublasLtMatmulPreferenceDestroy.invokeExact(pref));
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }

        /** MAX_WORKSPACE_BYTES (uint64) and the four MIN_ALIGNMENT_*_BYTES (uint32) of a preference. */
        void setPreference(MemorySegment pref, long workspaceBytes, int alignA, int alignB, int alignC, int alignD) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment w = a.allocate(JAVA_LONG);
                w.set(JAVA_LONG, 0, workspaceBytes);
                check("cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)",
                        (int) cublasLtMatmulPreferenceSetAttribute.invokeExact(pref, PREF_MAX_WORKSPACE_BYTES, w,
                                8L));
                int[] attrs = {PREF_MIN_ALIGNMENT_A_BYTES, PREF_MIN_ALIGNMENT_B_BYTES, PREF_MIN_ALIGNMENT_C_BYTES,
                        PREF_MIN_ALIGNMENT_D_BYTES};
                int[] values = {alignA, alignB, alignC, alignD};
                MemorySegment v = a.allocate(JAVA_INT);
                for (int i = 0; i < 4; i++) {
                    v.set(JAVA_INT, 0, values[i]);
                    check("cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT)",
                            (int) cublasLtMatmulPreferenceSetAttribute.invokeExact(pref, attrs[i], v, 4L));
                }
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            }
        }
    }

    private static volatile Api sharedApi;

    /** libcublasLt, found by {@link CudaLibraries} and bound once per process. */
    static Api api() {
        Api a = sharedApi;
        if (a == null) {
            synchronized (CublasLt.class) {
                a = sharedApi;
                if (a == null) {
                    a = new Api(CudaLibraries.load(CudaLibraries.CUBLASLT));
                    sharedApi = a;
                }
            }
        }
        return a;
    }

    /**
     * One {@code cublasLtMatmul}: column-major {@code D (m × n, ld ldd) = alpha · op(A) · op(B) [+ bias]}, C = D with
     * beta = 0. Pointers are device addresses of the first element of batch 0; {@code bias} is 0 for none (else a
     * vector of m values of type {@code biasType}, -1 = D's type); {@code scaleA} / {@code scaleB} are 0 or device
     * pointers to one f32 (the FP8 dequantization scales).
     */
    record Matmul(long m, long n, long k, int typeA, int typeB, int typeD, GemmPlan.Operand a, GemmPlan.Operand b,
                  long ldd, int batch, long strideA, long strideB, long strideD, long ptrA, long ptrB, long ptrD,
                  long bias, int biasType, long scaleA, long scaleB, float alpha) {
    }

    /** What the cached heuristic depends on: everything but the pointer values (their alignment is included). */
    private record Key(long m, long n, long k, int typeA, int typeB, int typeD, GemmPlan.Operand a,
                       GemmPlan.Operand b, long ldd, int batch, long strideA, long strideB, long strideD, int alignA,
                       int alignB, int alignD, int alignBias, boolean bias, int biasType, boolean scaleA,
                       boolean scaleB) {
    }

    /** A chosen algorithm: the 64 algo bytes and the workspace it needs. */
    private record Algo(byte[] algo, long workspace) {
    }

    private final Api api;
    private final CudaBackend backend;
    private final MemorySegment handle;
    private final long workspace;
    private final Map<Key, Algo> cache = new ConcurrentHashMap<>();
    private boolean closed;

    private CublasLt(Api api, CudaBackend backend, MemorySegment handle, long workspace) {
        this.api = api;
        this.backend = backend;
        this.handle = handle;
        this.workspace = workspace;
    }

    /** A handle and a workspace on {@code backend}'s device (its context must be current). */
    static CublasLt create(CudaBackend backend) {
        Api api = api();
        MemorySegment h;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            api.check("cublasLtCreate (libcublasLt at " + api.from() + ")", (int) api.cublasLtCreate.invokeExact(p));
            h = p.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
        long ws;
        try {
            ws = backend.driver().malloc(WORKSPACE_BYTES);
        } catch (RuntimeException e) {
            try {
                int ignored = (int) api.cublasLtDestroy.invokeExact(h);
            } catch (Throwable t) {
                e.addSuppressed(t);
            }
            throw e;
        }
        return new CublasLt(api, backend, h, ws);
    }

    /** {@code cublasLtGetVersion()} of the loaded library. */
    public long version() {
        return api.version();
    }

    /** Where libcublasLt was found. */
    public String from() {
        return api.from();
    }

    /** Number of distinct problems whose algorithm is cached. */
    int cachedAlgorithms() {
        return cache.size();
    }

    /** The largest power of two (≤ 256) that divides {@code address}: what the MIN_ALIGNMENT preferences take. */
    static int alignment(long address) {
        if (address == 0) {
            return 256;
        }
        return (int) Math.min(256, Long.lowestOneBit(address));
    }

    /**
     * The alignment cuBLASLt may assume for a matrix of a strided batch: that of its first element's address and,
     * when there are several matrices, of the byte step between them (matrix t starts at address + t · stride).
     */
    static int alignment(long address, int cudaType, int batch, long stride) {
        int a = alignment(address);
        if (batch > 1 && stride != 0) {
            a = Math.min(a, alignment(stride * bytes(cudaType)));
        }
        return a;
    }

    /** Bytes of one element of a cudaDataType this class passes. */
    static int bytes(int cudaType) {
        return switch (cudaType) {
            case CUDA_R_32F -> 4;
            case CUDA_R_16F, CUDA_R_16BF -> 2;
            case CUDA_R_8I, CUDA_R_8F_E4M3, CUDA_R_8F_E5M2 -> 1;
            default -> throw new IllegalArgumentException("cudaDataType " + cudaType);
        };
    }

    /** Thrown when cuBLASLt has no algorithm for a problem (callers may fall back to another formulation). */
    static final class NoAlgorithmException extends RuntimeException {
        NoAlgorithmException(String message) {
            super(message);
        }
    }

    /** Builds the matmul and layout descriptors of {@code mm}. Needs no GPU (tests call it through the Api). */
    static MemorySegment[] describe(Api api, Matmul mm) {
        MemorySegment desc = api.createMatmulDesc(CUBLAS_COMPUTE_32F, CUDA_R_32F);
        MemorySegment la = null;
        MemorySegment lb = null;
        MemorySegment ld = null;
        try {
            api.setDescInt(desc, DESC_TRANSA, mm.a().transpose() ? CUBLAS_OP_T : CUBLAS_OP_N);
            api.setDescInt(desc, DESC_TRANSB, mm.b().transpose() ? CUBLAS_OP_T : CUBLAS_OP_N);
            if (mm.bias() != 0) {
                api.setDescInt(desc, DESC_EPILOGUE, EPILOGUE_BIAS);
                api.setDescPointer(desc, DESC_BIAS_POINTER, mm.bias());
                if (mm.biasType() >= 0) {
                    api.setDescInt(desc, DESC_BIAS_DATA_TYPE, mm.biasType());
                }
            } else {
                api.setDescInt(desc, DESC_EPILOGUE, EPILOGUE_DEFAULT);
            }
            if (mm.scaleA() != 0) {
                api.setDescPointer(desc, DESC_A_SCALE_POINTER, mm.scaleA());
            }
            if (mm.scaleB() != 0) {
                api.setDescPointer(desc, DESC_B_SCALE_POINTER, mm.scaleB());
            }
            la = api.createLayout(mm.typeA(), mm.a().rows(), mm.a().cols(), mm.a().ld());
            lb = api.createLayout(mm.typeB(), mm.b().rows(), mm.b().cols(), mm.b().ld());
            ld = api.createLayout(mm.typeD(), mm.m(), mm.n(), mm.ldd());
            if (mm.batch() > 1) {
                api.setBatch(la, mm.batch(), mm.strideA());
                api.setBatch(lb, mm.batch(), mm.strideB());
                api.setBatch(ld, mm.batch(), mm.strideD());
            }
            return new MemorySegment[] {desc, la, lb, ld};
        } catch (RuntimeException e) {
            release(api, new MemorySegment[] {desc, la, lb, ld});
            throw e;
        }
    }

    /** Destroys what {@link #describe} created (nulls skipped). */
    static void release(Api api, MemorySegment[] d) {
        if (d[0] != null) {
            api.destroyMatmulDesc(d[0]);
        }
        for (int i = 1; i < d.length; i++) {
            if (d[i] != null) {
                api.destroyLayout(d[i]);
            }
        }
    }

    /**
     * Queues {@code mm} on the backend's stream.
     *
     * @throws NoAlgorithmException when cuBLASLt offers no algorithm for the problem
     */
    public void matmul(Matmul mm) {
        if (mm.m() == 0 || mm.n() == 0 || mm.batch() == 0) {
            return;
        }
        if (mm.k() == 0) {
            throw new IllegalArgumentException("cublasLtMatmul with k = 0 (callers fill the output instead)");
        }
        Key key = new Key(mm.m(), mm.n(), mm.k(), mm.typeA(), mm.typeB(), mm.typeD(), mm.a(), mm.b(), mm.ldd(),
                mm.batch(), mm.strideA(), mm.strideB(), mm.strideD(),
                alignment(mm.ptrA(), mm.typeA(), mm.batch(), mm.strideA()),
                alignment(mm.ptrB(), mm.typeB(), mm.batch(), mm.strideB()),
                alignment(mm.ptrD(), mm.typeD(), mm.batch(), mm.strideD()), alignment(mm.bias()), mm.bias() != 0,
                mm.biasType(), mm.scaleA() != 0, mm.scaleB() != 0);
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("cuBLASLt handle is closed");
            }
            backend.makeCurrent();
            MemorySegment[] d = describe(api, mm);
            try (Arena arena = Arena.ofConfined()) {
                Algo algo = cache.get(key);
                if (algo == null) {
                    algo = heuristic(arena, d, mm, key);
                    cache.put(key, algo);
                }
                MemorySegment algoSeg = arena.allocate(ALGO_BYTES, 8);
                algoSeg.copyFrom(MemorySegment.ofArray(algo.algo()));
                MemorySegment alpha = arena.allocate(JAVA_FLOAT);
                alpha.set(JAVA_FLOAT, 0, mm.alpha());
                MemorySegment beta = arena.allocate(JAVA_FLOAT);
                beta.set(JAVA_FLOAT, 0, 0f);
                MemorySegment pa = MemorySegment.ofAddress(mm.ptrA());
                MemorySegment pb = MemorySegment.ofAddress(mm.ptrB());
                MemorySegment pd = MemorySegment.ofAddress(mm.ptrD());
                MemorySegment ws = MemorySegment.ofAddress(workspace);
                MemorySegment stream = backend.stream();
                int rc = (int) api.cublasLtMatmul.invokeExact(handle, d[0], alpha, pa, d[1], pb, d[2], beta, pd,
                        d[3], pd, d[3], algoSeg, ws, algo.workspace(), stream);
                api.check("cublasLtMatmul(" + describe(mm) + ")", rc);
            } catch (Throwable t) {
                throw NativeLibrary.rethrow(t);
            } finally {
                release(api, d);
            }
        }
    }

    private Algo heuristic(Arena arena, MemorySegment[] d, Matmul mm, Key key) throws Throwable {
        MemorySegment pref = api.createPreference();
        try {
            api.setPreference(pref, WORKSPACE_BYTES, key.alignA(), key.alignB(), key.alignD(), key.alignD());
            MemorySegment results = arena.allocate(HEURISTIC_RESULT_BYTES, 8);
            MemorySegment count = arena.allocate(JAVA_INT);
            int rc = (int) api.cublasLtMatmulAlgoGetHeuristic.invokeExact(handle, d[0], d[1], d[2], d[3], d[3], pref,
                    1, results, count);
            if (rc == STATUS_NOT_SUPPORTED || (rc == 0 && (count.get(JAVA_INT, 0) < 1
                    || results.get(JAVA_INT, HEURISTIC_STATE_OFFSET) != 0))) {
                throw new NoAlgorithmException("cuBLASLt (" + api.from() + ") has no algorithm for " + describe(mm)
                        + " on " + backend.gpuName());
            }
            api.check("cublasLtMatmulAlgoGetHeuristic(" + describe(mm) + ")", rc);
            byte[] algo = results.asSlice(0, ALGO_BYTES).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            long wsNeeded = results.get(JAVA_LONG, HEURISTIC_WORKSPACE_OFFSET);
            return new Algo(algo, wsNeeded);
        } finally {
            api.destroyPreference(pref);
        }
    }

    /** The problem in words, for error messages. */
    static String describe(Matmul mm) {
        return "m=" + mm.m() + " n=" + mm.n() + " k=" + mm.k() + " A " + typeName(mm.typeA())
                + (mm.a().transpose() ? "ᵀ" : "") + " " + mm.a().rows() + "x" + mm.a().cols() + " ld " + mm.a().ld()
                + ", B " + typeName(mm.typeB()) + (mm.b().transpose() ? "ᵀ" : "") + " " + mm.b().rows() + "x"
                + mm.b().cols() + " ld " + mm.b().ld() + ", D " + typeName(mm.typeD()) + " ld " + mm.ldd()
                + (mm.batch() > 1 ? ", batch " + mm.batch() + " strides " + Arrays.toString(
                new long[] {mm.strideA(), mm.strideB(), mm.strideD()}) : "")
                + (mm.bias() != 0 ? ", bias" : "") + (mm.scaleA() != 0 || mm.scaleB() != 0 ? ", scaled" : "");
    }

    static String typeName(int cudaType) {
        return switch (cudaType) {
            case CUDA_R_32F -> "f32";
            case CUDA_R_16F -> "f16";
            case CUDA_R_16BF -> "bf16";
            case CUDA_R_8I -> "i8";
            case CUDA_R_8F_E4M3 -> "e4m3";
            case CUDA_R_8F_E5M2 -> "e5m2";
            default -> "cudaDataType " + cudaType;
        };
    }

    /** The cudaDataType of a storage dtype cuBLASLt multiplies directly. */
    static int cudaType(dev.likeness.engine.DType dtype) {
        return switch (dtype) {
            case F32 -> CUDA_R_32F;
            case F16 -> CUDA_R_16F;
            case BF16 -> CUDA_R_16BF;
            case F8_E4M3 -> CUDA_R_8F_E4M3;
            case F8_E5M2 -> CUDA_R_8F_E5M2;
            default -> throw new IllegalArgumentException("cuBLASLt does not multiply " + dtype + " matrices here");
        };
    }

    /** The symbols bound, for the binding test. */
    static List<String> symbols() {
        return List.of("cublasLtCreate", "cublasLtDestroy", "cublasLtGetVersion", "cublasLtGetStatusName",
                "cublasLtMatmulDescCreate", "cublasLtMatmulDescDestroy", "cublasLtMatmulDescSetAttribute",
                "cublasLtMatrixLayoutCreate", "cublasLtMatrixLayoutDestroy", "cublasLtMatrixLayoutSetAttribute",
                "cublasLtMatmulPreferenceCreate", "cublasLtMatmulPreferenceDestroy",
                "cublasLtMatmulPreferenceSetAttribute", "cublasLtMatmulAlgoGetHeuristic", "cublasLtMatmul");
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            cache.clear();
            try {
                backend.makeCurrent();
                backend.driver().free(workspace);
            } finally {
                try {
                    api.check("cublasLtDestroy", (int) api.cublasLtDestroy.invokeExact(handle));
                } catch (Throwable t) {
                    throw NativeLibrary.rethrow(t);
                }
            }
        }
    }
}
