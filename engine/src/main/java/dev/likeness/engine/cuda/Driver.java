package dev.likeness.engine.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Java bindings (FFM) to the CUDA driver API, {@code libcuda}: the calls the CUDA backend makes and nothing more.
 * Device pointers ({@code CUdeviceptr}) are Java longs; handles (context, stream, module, function, graph) are
 * {@link MemorySegment} addresses. Every failing call throws a {@link CudaException} naming the call and the
 * driver's error name.
 */
public final class Driver {
    /** {@code CU_DEVICE_ATTRIBUTE_*} values used here. */
    public static final int ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    public static final int ATTR_MULTIPROCESSOR_COUNT = 16;
    public static final int ATTR_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int ATTR_COMPUTE_CAPABILITY_MINOR = 76;
    public static final int ATTR_MEMORY_POOLS_SUPPORTED = 115;

    /** {@code CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES}. */
    public static final int FUNC_ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
    /** {@code CU_MEMPOOL_ATTR_RELEASE_THRESHOLD}. */
    public static final int MEMPOOL_ATTR_RELEASE_THRESHOLD = 4;
    /** {@code CU_STREAM_NON_BLOCKING}. */
    public static final int STREAM_NON_BLOCKING = 1;
    /** {@code CU_STREAM_CAPTURE_MODE_THREAD_LOCAL}. */
    public static final int CAPTURE_MODE_THREAD_LOCAL = 1;

    /** {@code CUDA_ERROR_NO_DEVICE}. */
    public static final int ERROR_NO_DEVICE = 100;
    /** {@code CUDA_ERROR_STUB_LIBRARY}: the toolkit's link stub was loaded instead of the driver. */
    public static final int ERROR_STUB_LIBRARY = 34;

    private static final FunctionDescriptor I_I = FunctionDescriptor.of(JAVA_INT, JAVA_INT);
    private static final FunctionDescriptor I_A = FunctionDescriptor.of(JAVA_INT, ADDRESS);
    private static final FunctionDescriptor I_V = FunctionDescriptor.of(JAVA_INT);

    private final NativeLibrary lib;
    private final MethodHandle cuInit;
    private final MethodHandle cuDriverGetVersion;
    private final MethodHandle cuGetErrorName;
    private final MethodHandle cuDeviceGetCount;
    private final MethodHandle cuDeviceGet;
    private final MethodHandle cuDeviceGetName;
    private final MethodHandle cuDeviceGetAttribute;
    private final MethodHandle cuDeviceTotalMem;
    private final MethodHandle cuDevicePrimaryCtxRetain;
    private final MethodHandle cuDevicePrimaryCtxRelease;
    private final MethodHandle cuCtxSetCurrent;
    private final MethodHandle cuCtxSynchronize;
    private final MethodHandle cuMemGetInfo;
    private final MethodHandle cuMemAlloc;
    private final MethodHandle cuMemFree;
    private final MethodHandle cuMemAllocAsync;
    private final MethodHandle cuMemFreeAsync;
    private final MethodHandle cuDeviceGetDefaultMemPool;
    private final MethodHandle cuMemPoolSetAttribute;
    private final MethodHandle cuMemcpyHtoD;
    private final MethodHandle cuMemcpyDtoH;
    private final MethodHandle cuMemcpyDtoDAsync;
    private final MethodHandle cuMemcpyHtoDAsync;
    private final MethodHandle cuMemcpyDtoHAsync;
    private final MethodHandle cuMemsetD8Async;
    private final MethodHandle cuStreamCreate;
    private final MethodHandle cuStreamDestroy;
    private final MethodHandle cuStreamSynchronize;
    private final MethodHandle cuModuleLoadData;
    private final MethodHandle cuModuleUnload;
    private final MethodHandle cuModuleGetFunction;
    private final MethodHandle cuFuncSetAttribute;
    private final MethodHandle cuLaunchKernel;
    private final MethodHandle cuStreamBeginCapture;
    private final MethodHandle cuStreamEndCapture;
    private final MethodHandle cuGraphInstantiate;
    private final MethodHandle cuGraphLaunch;
    private final MethodHandle cuGraphDestroy;
    private final MethodHandle cuGraphExecDestroy;

    /**
     * Binds every symbol without initializing the driver. Package-private for DriverStubTest, which binds a stub
     * library to check each call site against its descriptor; everything else goes through {@link #open}.
     */
    Driver(NativeLibrary lib) {
        this.lib = lib;
        cuInit = lib.bind("cuInit", I_I);
        cuDriverGetVersion = lib.bind("cuDriverGetVersion", I_A);
        cuGetErrorName = lib.bind("cuGetErrorName", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
        cuDeviceGetCount = lib.bind("cuDeviceGetCount", I_A);
        cuDeviceGet = lib.bind("cuDeviceGet", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuDeviceGetName = lib.bind("cuDeviceGetName", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        cuDeviceGetAttribute = lib.bind("cuDeviceGetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        cuDeviceTotalMem = lib.bind("cuDeviceTotalMem_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuDevicePrimaryCtxRetain = lib.bind("cuDevicePrimaryCtxRetain",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuDevicePrimaryCtxRelease = lib.bind("cuDevicePrimaryCtxRelease_v2", I_I);
        cuCtxSetCurrent = lib.bind("cuCtxSetCurrent", I_A);
        cuCtxSynchronize = lib.bind("cuCtxSynchronize", I_V);
        cuMemGetInfo = lib.bind("cuMemGetInfo_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cuMemAlloc = lib.bind("cuMemAlloc_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        cuMemFree = lib.bind("cuMemFree_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
        cuMemAllocAsync = lib.bind("cuMemAllocAsync", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS));
        cuMemFreeAsync = lib.bind("cuMemFreeAsync", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS));
        cuDeviceGetDefaultMemPool = lib.bind("cuDeviceGetDefaultMemPool",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuMemPoolSetAttribute = lib.bind("cuMemPoolSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        cuMemcpyHtoD = lib.bind("cuMemcpyHtoD_v2", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG));
        cuMemcpyDtoH = lib.bind("cuMemcpyDtoH_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
        cuMemcpyDtoDAsync = lib.bind("cuMemcpyDtoDAsync_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS));
        cuMemcpyHtoDAsync = lib.bind("cuMemcpyHtoDAsync_v2",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS));
        cuMemcpyDtoHAsync = lib.bind("cuMemcpyDtoHAsync_v2",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS));
        cuMemsetD8Async = lib.bind("cuMemsetD8Async",
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS));
        cuStreamCreate = lib.bind("cuStreamCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuStreamDestroy = lib.bind("cuStreamDestroy_v2", I_A);
        cuStreamSynchronize = lib.bind("cuStreamSynchronize", I_A);
        cuModuleLoadData = lib.bind("cuModuleLoadData", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cuModuleUnload = lib.bind("cuModuleUnload", I_A);
        cuModuleGetFunction = lib.bind("cuModuleGetFunction",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        cuFuncSetAttribute = lib.bind("cuFuncSetAttribute",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        cuLaunchKernel = lib.bind("cuLaunchKernel", FunctionDescriptor.of(JAVA_INT, ADDRESS,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        cuStreamBeginCapture = lib.bind("cuStreamBeginCapture_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        cuStreamEndCapture = lib.bind("cuStreamEndCapture", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cuGraphInstantiate = lib.bind("cuGraphInstantiateWithFlags",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        cuGraphLaunch = lib.bind("cuGraphLaunch", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        cuGraphDestroy = lib.bind("cuGraphDestroy", I_A);
        cuGraphExecDestroy = lib.bind("cuGraphExecDestroy", I_A);
    }

    private static volatile Driver instance;

    /**
     * The driver, loaded and initialized once per process.
     *
     * @throws CudaUnavailableException with one line saying why (no libcuda, the toolkit stub, no device, too old)
     */
    public static Driver get() {
        Driver d = instance;
        if (d == null) {
            synchronized (Driver.class) {
                d = instance;
                if (d == null) {
                    d = open(CudaLibraries.load(CudaLibraries.DRIVER));
                    instance = d;
                }
            }
        }
        return d;
    }

    /** Binds and initializes the driver found as {@code loaded}. */
    static Driver open(CudaLibraries.Loaded loaded) {
        Driver d = new Driver(new NativeLibrary(loaded));
        int rc = d.callInt(d.cuInit, 0);
        if (rc == ERROR_STUB_LIBRARY) {
            throw new CudaUnavailableException("the CUDA driver at " + loaded.from()
                    + " is the toolkit's link stub, not a driver (no NVIDIA driver installed)");
        }
        if (rc == ERROR_NO_DEVICE) {
            throw new CudaUnavailableException("the CUDA driver at " + loaded.from() + " reports no GPU");
        }
        if (rc != 0) {
            throw new CudaUnavailableException("cuInit failed: " + d.errorName(rc) + " (" + rc + ") with the driver at "
                    + loaded.from());
        }
        return d;
    }

    /** Where libcuda was found. */
    public String from() {
        return lib.from();
    }

    // ------------------------------------------------------------------ errors

    /** The driver's name for a CUresult ("CUDA_ERROR_OUT_OF_MEMORY"). */
    public String errorName(int status) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            int rc = (int) cuGetErrorName.invokeExact(status, p);
            if (rc != 0) {
                return "CUresult " + status;
            }
            return p.get(ADDRESS, 0).reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    void check(String call, int status) {
        if (status != 0) {
            throw new CudaException(call, status, errorName(status));
        }
    }

    private int callInt(MethodHandle h, int arg) {
        try {
            return (int) h.invokeExact(arg);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    // ------------------------------------------------------------------ version and devices

    /** The driver's CUDA version as 1000 × major + 10 × minor (13000 for CUDA 13.0). */
    public int version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("cuDriverGetVersion", (int) cuDriverGetVersion.invokeExact(v));
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("cuDeviceGetCount", (int) cuDeviceGetCount.invokeExact(v));
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** The CUdevice handle of device {@code ordinal}. */
    public int device(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("cuDeviceGet(" + ordinal + ")", (int) cuDeviceGet.invokeExact(v, ordinal));
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public String deviceName(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(256);
            check("cuDeviceGetName", (int) cuDeviceGetName.invokeExact(s, 256, device));
            return s.getString(0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public int attribute(int device, int attribute) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("cuDeviceGetAttribute(" + attribute + ")", (int) cuDeviceGetAttribute.invokeExact(v, attribute,
                    device));
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public long totalMemory(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            check("cuDeviceTotalMem", (int) cuDeviceTotalMem.invokeExact(v, device));
            return v.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** Free and total device memory of the current context's device, in bytes. */
    public long[] memoryInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(JAVA_LONG);
            MemorySegment total = a.allocate(JAVA_LONG);
            check("cuMemGetInfo", (int) cuMemGetInfo.invokeExact(free, total));
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    // ------------------------------------------------------------------ contexts

    /** Retains the device's primary context (shared with any other CUDA user in the process). */
    public MemorySegment retainPrimaryContext(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check("cuDevicePrimaryCtxRetain", (int) cuDevicePrimaryCtxRetain.invokeExact(p, device));
            return p.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void releasePrimaryContext(int device) {
        check("cuDevicePrimaryCtxRelease", callInt(cuDevicePrimaryCtxRelease, device));
    }

    /** Makes {@code context} current on the calling thread (every thread that calls the driver must). */
    public void setCurrent(MemorySegment context) {
        try {
            check("cuCtxSetCurrent", (int) cuCtxSetCurrent.invokeExact(context));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void synchronizeContext() {
        try {
            check("cuCtxSynchronize", (int) cuCtxSynchronize.invokeExact());
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    // ------------------------------------------------------------------ memory

    public long malloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(JAVA_LONG);
            check("cuMemAlloc(" + bytes + " bytes)", (int) cuMemAlloc.invokeExact(p, bytes));
            return p.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void free(long ptr) {
        try {
            check("cuMemFree", (int) cuMemFree.invokeExact(ptr));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** Stream-ordered allocation from the device's memory pool. */
    public long mallocAsync(long bytes, MemorySegment stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(JAVA_LONG);
            check("cuMemAllocAsync(" + bytes + " bytes)", (int) cuMemAllocAsync.invokeExact(p, bytes, stream));
            return p.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void freeAsync(long ptr, MemorySegment stream) {
        try {
            check("cuMemFreeAsync", (int) cuMemFreeAsync.invokeExact(ptr, stream));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /**
     * Keeps up to {@code bytes} of freed memory in the device's default pool instead of returning it to the
     * driver at every synchronization (the activation pool).
     */
    public void setPoolReleaseThreshold(int device, long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pool = a.allocate(ADDRESS);
            check("cuDeviceGetDefaultMemPool", (int) cuDeviceGetDefaultMemPool.invokeExact(pool, device));
            MemorySegment v = a.allocate(JAVA_LONG);
            v.set(JAVA_LONG, 0, bytes);
            check("cuMemPoolSetAttribute", (int) cuMemPoolSetAttribute.invokeExact(pool.get(ADDRESS, 0),
                    MEMPOOL_ATTR_RELEASE_THRESHOLD, v));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** Synchronous host → device copy. */
    public void copyToDevice(long dst, MemorySegment src, long bytes) {
        try {
            check("cuMemcpyHtoD(" + bytes + " bytes)", (int) cuMemcpyHtoD.invokeExact(dst, src, bytes));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** Synchronous device → host copy (waits for the work queued before it on the legacy stream semantics). */
    public void copyToHost(MemorySegment dst, long src, long bytes) {
        try {
            check("cuMemcpyDtoH(" + bytes + " bytes)", (int) cuMemcpyDtoH.invokeExact(dst, src, bytes));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /**
     * Host → device copy queued on {@code stream} (ordered with the kernels on it). The host memory must stay valid
     * until the stream has been synchronized.
     */
    public void copyToDeviceAsync(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        try {
            check("cuMemcpyHtoDAsync(" + bytes + " bytes)", (int) cuMemcpyHtoDAsync.invokeExact(dst, src, bytes,
                    stream));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** Device → host copy queued on {@code stream}; the data is there once the stream has been synchronized. */
    public void copyToHostAsync(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        try {
            check("cuMemcpyDtoHAsync(" + bytes + " bytes)", (int) cuMemcpyDtoHAsync.invokeExact(dst, src, bytes,
                    stream));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void copyDeviceAsync(long dst, long src, long bytes, MemorySegment stream) {
        try {
            check("cuMemcpyDtoDAsync", (int) cuMemcpyDtoDAsync.invokeExact(dst, src, bytes, stream));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void memsetAsync(long dst, byte value, long bytes, MemorySegment stream) {
        try {
            check("cuMemsetD8Async", (int) cuMemsetD8Async.invokeExact(dst, value, bytes, stream));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    // ------------------------------------------------------------------ streams

    public MemorySegment createStream() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check("cuStreamCreate", (int) cuStreamCreate.invokeExact(p, STREAM_NON_BLOCKING));
            return p.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void destroyStream(MemorySegment stream) {
        try {
            check("cuStreamDestroy", (int) cuStreamDestroy.invokeExact(stream));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void synchronize(MemorySegment stream) {
        try {
            check("cuStreamSynchronize", (int) cuStreamSynchronize.invokeExact(stream));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    // ------------------------------------------------------------------ modules and launches

    /** Loads a cubin or PTX image (the bytes are copied by the driver). */
    public MemorySegment loadModule(byte[] image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment img = a.allocate(image.length + 1L);
            MemorySegment.copy(image, 0, img, JAVA_BYTE, 0, image.length);
            MemorySegment p = a.allocate(ADDRESS);
            check("cuModuleLoadData", (int) cuModuleLoadData.invokeExact(p, img));
            return p.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void unloadModule(MemorySegment module) {
        try {
            check("cuModuleUnload", (int) cuModuleUnload.invokeExact(module));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public MemorySegment function(MemorySegment module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check("cuModuleGetFunction(" + name + ")", (int) cuModuleGetFunction.invokeExact(p, module,
                    a.allocateFrom(name)));
            return p.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** Allows {@code bytes} of dynamic shared memory per block (needed above 48 KiB). */
    public void setMaxDynamicSharedMemory(MemorySegment function, int bytes) {
        try {
            check("cuFuncSetAttribute", (int) cuFuncSetAttribute.invokeExact(function,
                    FUNC_ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** {@code cuLaunchKernel} with the argument array built by {@link KernelArgs}. */
    public void launch(MemorySegment function, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
                       int sharedBytes, MemorySegment stream, MemorySegment params) {
        try {
            int rc = (int) cuLaunchKernel.invokeExact(function, gridX, gridY, gridZ, blockX, blockY, blockZ,
                    sharedBytes, stream, params, MemorySegment.NULL);
            if (rc != 0) {
                throw new CudaException("cuLaunchKernel(grid " + gridX + "x" + gridY + "x" + gridZ + ", block "
                        + blockX + "x" + blockY + "x" + blockZ + ", smem " + sharedBytes + ")", rc, errorName(rc));
            }
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    // ------------------------------------------------------------------ graphs

    public void beginCapture(MemorySegment stream) {
        try {
            check("cuStreamBeginCapture", (int) cuStreamBeginCapture.invokeExact(stream, CAPTURE_MODE_THREAD_LOCAL));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** Ends a capture and instantiates the graph; returns the executable graph. */
    public MemorySegment endCapture(MemorySegment stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = a.allocate(ADDRESS);
            check("cuStreamEndCapture", (int) cuStreamEndCapture.invokeExact(stream, g));
            MemorySegment graph = g.get(ADDRESS, 0);
            MemorySegment e = a.allocate(ADDRESS);
            try {
                check("cuGraphInstantiate", (int) cuGraphInstantiate.invokeExact(e, graph, 0L));
            } finally {
                check("cuGraphDestroy", (int) cuGraphDestroy.invokeExact(graph));
            }
            return e.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void launchGraph(MemorySegment graphExec, MemorySegment stream) {
        try {
            check("cuGraphLaunch", (int) cuGraphLaunch.invokeExact(graphExec, stream));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    public void destroyGraph(MemorySegment graphExec) {
        try {
            check("cuGraphExecDestroy", (int) cuGraphExecDestroy.invokeExact(graphExec));
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }
}
