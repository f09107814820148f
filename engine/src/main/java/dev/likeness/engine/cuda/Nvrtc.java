package dev.likeness.engine.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Java bindings (FFM) to NVRTC, the CUDA runtime compiler: CUDA C source in, PTX or a cubin for one GPU
 * architecture out. NVRTC needs no GPU and no driver, so the kernel sources are compiled in CPU-only CI too.
 */
public final class Nvrtc {
    private final NativeLibrary lib;
    private final MethodHandle nvrtcVersion;
    private final MethodHandle nvrtcGetErrorString;
    private final MethodHandle nvrtcCreateProgram;
    private final MethodHandle nvrtcCompileProgram;
    private final MethodHandle nvrtcDestroyProgram;
    private final MethodHandle nvrtcGetProgramLogSize;
    private final MethodHandle nvrtcGetProgramLog;
    private final MethodHandle nvrtcGetPTXSize;
    private final MethodHandle nvrtcGetPTX;
    private final MethodHandle nvrtcGetCUBINSize;
    private final MethodHandle nvrtcGetCUBIN;
    private final MethodHandle nvrtcGetNumSupportedArchs;
    private final MethodHandle nvrtcGetSupportedArchs;

    private Nvrtc(NativeLibrary lib) {
        this.lib = lib;
        nvrtcVersion = lib.bind("nvrtcVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetErrorString = lib.bind("nvrtcGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        nvrtcCreateProgram = lib.bind("nvrtcCreateProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS,
                ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        nvrtcCompileProgram = lib.bind("nvrtcCompileProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT,
                ADDRESS));
        nvrtcDestroyProgram = lib.bind("nvrtcDestroyProgram", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        nvrtcGetProgramLogSize = lib.bind("nvrtcGetProgramLogSize", FunctionDescriptor.of(JAVA_INT, ADDRESS,
                ADDRESS));
        nvrtcGetProgramLog = lib.bind("nvrtcGetProgramLog", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetPTXSize = lib.bind("nvrtcGetPTXSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetPTX = lib.bind("nvrtcGetPTX", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetCUBINSize = lib.bind("nvrtcGetCUBINSize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetCUBIN = lib.bind("nvrtcGetCUBIN", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        nvrtcGetNumSupportedArchs = lib.bind("nvrtcGetNumSupportedArchs", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        nvrtcGetSupportedArchs = lib.bind("nvrtcGetSupportedArchs", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    private static volatile Nvrtc instance;

    /** NVRTC, found by {@link CudaLibraries} and loaded once per process. */
    public static Nvrtc get() {
        Nvrtc n = instance;
        if (n == null) {
            synchronized (Nvrtc.class) {
                n = instance;
                if (n == null) {
                    n = of(CudaLibraries.load(CudaLibraries.NVRTC));
                    instance = n;
                }
            }
        }
        return n;
    }

    /** NVRTC from an already loaded library (tests). */
    static Nvrtc of(CudaLibraries.Loaded loaded) {
        preloadBuiltins(loaded.from());
        return new Nvrtc(new NativeLibrary(loaded));
    }

    /**
     * libnvrtc opens its companion {@code libnvrtc-builtins.so.X.Y} by soname at the first compilation; when libnvrtc
     * came from a directory the dynamic loader does not search (a wheel, {@code LIKENESS_CUDA_PATH}), load the
     * companion from that directory first so the soname is already resolved.
     */
    private static void preloadBuiltins(String from) {
        java.nio.file.Path lib = java.nio.file.Path.of(from);
        java.nio.file.Path dir = lib.getParent();
        if (dir == null || !java.nio.file.Files.isDirectory(dir)) {
            return;
        }
        try (var files = java.nio.file.Files.list(dir)) {
            java.util.List<java.nio.file.Path> builtins = files
                    .filter(p -> p.getFileName().toString().startsWith("libnvrtc-builtins.so."))
                    .sorted().toList();
            for (java.nio.file.Path b : builtins) {
                java.lang.foreign.SymbolLookup.libraryLookup(b, Arena.global());
            }
        } catch (java.io.IOException | IllegalArgumentException e) {
            throw new CudaUnavailableException("NVRTC at " + from + ": its libnvrtc-builtins could not be loaded: "
                    + e.getMessage(), e);
        }
    }

    /** Where libnvrtc was found. */
    public String from() {
        return lib.from();
    }

    /** {major, minor}. */
    public int[] version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment major = a.allocate(JAVA_INT);
            MemorySegment minor = a.allocate(JAVA_INT);
            check("nvrtcVersion", (int) nvrtcVersion.invokeExact(major, minor));
            return new int[] {major.get(JAVA_INT, 0), minor.get(JAVA_INT, 0)};
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    /** The SM versions this NVRTC can compile for (75, 80, 86, 89, 90, ...). */
    public int[] supportedArchitectures() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            check("nvrtcGetNumSupportedArchs", (int) nvrtcGetNumSupportedArchs.invokeExact(n));
            MemorySegment archs = a.allocate(JAVA_INT, n.get(JAVA_INT, 0));
            check("nvrtcGetSupportedArchs", (int) nvrtcGetSupportedArchs.invokeExact(archs));
            return archs.toArray(JAVA_INT);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    private String errorString(int status) {
        try {
            MemorySegment s = (MemorySegment) nvrtcGetErrorString.invokeExact(status);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    private void check(String call, int status) {
        if (status != 0) {
            throw new CudaException(call, status, errorString(status));
        }
    }

    /** What a compilation produced: the image (PTX text or cubin) and the compiler's log. */
    public record Output(byte[] image, boolean cubin, String log) {
    }

    /** A compilation error, with NVRTC's log (file:line: error ...). */
    public static final class CompileException extends RuntimeException {
        private final String log;

        public CompileException(String name, String log) {
            super("NVRTC could not compile " + name + ":\n" + log);
            this.log = log;
        }

        public String log() {
            return log;
        }
    }

    /**
     * Compiles {@code source} (named {@code name} in messages) with {@code headers} (include name → text) and
     * NVRTC {@code options}. With an {@code --gpu-architecture=sm_XY} option the result is a cubin for that GPU;
     * with {@code compute_XY} it is PTX.
     */
    public Output compile(String name, String source, Map<String, String> headers, List<String> options) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(ADDRESS);
            int nh = headers.size();
            MemorySegment hdrText = a.allocate(ADDRESS, Math.max(1, nh));
            MemorySegment hdrNames = a.allocate(ADDRESS, Math.max(1, nh));
            int i = 0;
            for (Map.Entry<String, String> h : headers.entrySet()) {
                hdrNames.setAtIndex(ADDRESS, i, a.allocateFrom(h.getKey()));
                hdrText.setAtIndex(ADDRESS, i, a.allocateFrom(h.getValue()));
                i++;
            }
            MemorySegment texts = nh == 0 ? MemorySegment.NULL : hdrText;
            MemorySegment names = nh == 0 ? MemorySegment.NULL : hdrNames;
            check("nvrtcCreateProgram(" + name + ")", (int) nvrtcCreateProgram.invokeExact(prog, a.allocateFrom(source),
                    a.allocateFrom(name), nh, texts, names));
            MemorySegment p = prog.get(ADDRESS, 0);
            try {
                MemorySegment opts = a.allocate(ADDRESS, Math.max(1, options.size()));
                for (int k = 0; k < options.size(); k++) {
                    opts.setAtIndex(ADDRESS, k, a.allocateFrom(options.get(k)));
                }
                int rc = (int) nvrtcCompileProgram.invokeExact(p, options.size(), opts);
                String log = log(a, p);
                if (rc != 0) {
                    throw new CompileException(name, log.isBlank() ? errorString(rc) : log);
                }
                boolean cubin = options.stream().anyMatch(o -> o.contains("sm_"));
                MemorySegment size = a.allocate(JAVA_LONG);
                byte[] image;
                if (cubin) {
                    check("nvrtcGetCUBINSize", (int) nvrtcGetCUBINSize.invokeExact(p, size));
                    MemorySegment out = a.allocate(size.get(JAVA_LONG, 0));
                    check("nvrtcGetCUBIN", (int) nvrtcGetCUBIN.invokeExact(p, out));
                    image = out.toArray(JAVA_BYTE);
                } else {
                    check("nvrtcGetPTXSize", (int) nvrtcGetPTXSize.invokeExact(p, size));
                    MemorySegment out = a.allocate(size.get(JAVA_LONG, 0));
                    check("nvrtcGetPTX", (int) nvrtcGetPTX.invokeExact(p, out));
                    // PTX is NUL-terminated text: keep the terminator off
                    image = out.asSlice(0, Math.max(0, out.byteSize() - 1)).toArray(JAVA_BYTE);
                }
                return new Output(image, cubin, log);
            } finally {
                int ignored = (int) nvrtcDestroyProgram.invokeExact(prog);
            }
        } catch (Throwable t) {
            throw NativeLibrary.rethrow(t);
        }
    }

    private String log(Arena a, MemorySegment p) throws Throwable {
        MemorySegment size = a.allocate(JAVA_LONG);
        check("nvrtcGetProgramLogSize", (int) nvrtcGetProgramLogSize.invokeExact(p, size));
        long n = size.get(JAVA_LONG, 0);
        if (n <= 1) {
            return "";
        }
        MemorySegment out = a.allocate(n);
        check("nvrtcGetProgramLog", (int) nvrtcGetProgramLog.invokeExact(p, out));
        return out.getString(0);
    }
}
