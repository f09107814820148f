package dev.likeness.engine.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The CUDA C kernel sources shipped in the jar ({@code dev/likeness/engine/cuda/kernels/*.cu}, sharing
 * {@code common.cuh}), compiled by NVRTC for the GPU at hand the first time a module is used and cached on disk
 * (under {@code <cache>/cuda/}, keyed by the source, the options and the NVRTC version), then loaded into the
 * context. A GPU newer than the NVRTC knows gets PTX for the newest architecture NVRTC supports, which the driver
 * compiles.
 */
public final class Kernels {
    /** Where the sources live on the class path. */
    public static final String RESOURCE_DIR = "/dev/likeness/engine/cuda/kernels/";
    /** The kernel modules (one .cu file each). */
    public static final List<String> MODULES = List.of("copy", "elementwise", "norms", "gemm", "conv", "attention",
            "random");

    private final Driver driver;
    private final Nvrtc nvrtc;
    private final int sm;
    private final Path cacheDir;
    private final Map<String, MemorySegment> modules = new ConcurrentHashMap<>();
    private final Map<String, MemorySegment> functions = new ConcurrentHashMap<>();

    /**
     * @param sm the device's compute capability as 10 × major + minor (90 for an H100)
     */
    public Kernels(Driver driver, Nvrtc nvrtc, int sm, Path cacheDir) {
        this.driver = driver;
        this.nvrtc = nvrtc;
        this.sm = sm;
        this.cacheDir = cacheDir;
    }

    /** The default cache: {@code -Dlikeness.cache}, else {@code $LIKENESS_CACHE}, else {@code ~/.cache/likeness}. */
    public static Path defaultCacheDir() {
        String prop = System.getProperty("likeness.cache");
        String env = System.getenv("LIKENESS_CACHE");
        Path base = prop != null && !prop.isBlank() ? Path.of(prop)
                : env != null && !env.isBlank() ? Path.of(env)
                : Path.of(System.getProperty("user.home", "."), ".cache", "likeness");
        return base.resolve("cuda");
    }

    /** The function {@code name} of kernel module {@code module}, compiling and loading the module once. */
    public MemorySegment function(String module, String name) {
        return functions.computeIfAbsent(module + "/" + name,
                k -> driver.function(modules.computeIfAbsent(module, this::load), name));
    }

    private MemorySegment load(String module) {
        return driver.loadModule(compileCached(module));
    }

    /** The compiled image of {@code module} for this GPU, from the disk cache or NVRTC. */
    byte[] compileCached(String module) {
        List<String> options = options(target(nvrtc.supportedArchitectures(), sm));
        String source = source(module);
        Map<String, String> headers = headers();
        String key = cacheKey(module, source, headers, options, nvrtc.version());
        Path file = cacheDir.resolve(module + "-" + key + (isCubin(options) ? ".cubin" : ".ptx"));
        try {
            if (Files.isRegularFile(file)) {
                return Files.readAllBytes(file);
            }
            byte[] image = nvrtc.compile(module + ".cu", source, headers, options).image();
            Files.createDirectories(cacheDir);
            Path tmp = Files.createTempFile(cacheDir, module, ".tmp");
            Files.write(tmp, image);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            return image;
        } catch (IOException e) {
            throw new UncheckedIOException("kernel cache " + file, e);
        }
    }

    /**
     * The architecture to compile for: {@code sm_XY} (a cubin) when NVRTC supports the device's own SM, else
     * {@code compute_XY} (PTX) for the newest SM it supports that is not newer than the device.
     */
    static String target(int[] supported, int sm) {
        int best = -1;
        for (int s : supported) {
            if (s == sm) {
                return "sm_" + sm;
            }
            if (s < sm && s > best) {
                best = s;
            }
        }
        if (best < 0) {
            throw new CudaUnavailableException("NVRTC supports none of the architectures up to sm_" + sm
                    + " (it knows " + java.util.Arrays.toString(supported) + ")");
        }
        return "compute_" + best;
    }

    /** The NVRTC options for {@code arch}: C++17, IEEE division and square root (no fast math). */
    public static List<String> options(String arch) {
        List<String> o = new ArrayList<>();
        o.add("--gpu-architecture=" + arch);
        o.add("--std=c++17");
        o.add("--prec-div=true");
        o.add("--prec-sqrt=true");
        o.add("--fmad=true");
        return o;
    }

    private static boolean isCubin(List<String> options) {
        return options.stream().anyMatch(o -> o.contains("sm_"));
    }

    /** The text of {@code <module>.cu}. */
    public static String source(String module) {
        return resource(module + ".cu");
    }

    /** The headers every module may include, by include name. */
    public static Map<String, String> headers() {
        Map<String, String> h = new LinkedHashMap<>();
        h.put("common.cuh", resource("common.cuh"));
        return h;
    }

    private static String resource(String name) {
        try (InputStream in = Kernels.class.getResourceAsStream(RESOURCE_DIR + name)) {
            if (in == null) {
                throw new IllegalStateException("kernel source " + RESOURCE_DIR + name + " is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String cacheKey(String module, String source, Map<String, String> headers, List<String> options,
                           int[] nvrtcVersion) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(module.getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(source.getBytes(StandardCharsets.UTF_8));
            for (Map.Entry<String, String> e : headers.entrySet()) {
                md.update((byte) 0);
                md.update(e.getKey().getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
                md.update(e.getValue().getBytes(StandardCharsets.UTF_8));
            }
            md.update((String.join("\u0000", options) + "\u0000nvrtc " + nvrtcVersion[0] + "." + nvrtcVersion[1])
                    .getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest(), 0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
