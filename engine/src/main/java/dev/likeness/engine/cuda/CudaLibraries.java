package dev.likeness.engine.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds the NVIDIA shared libraries on the host at run time: nothing CUDA is needed to build Likeness.
 *
 * <p>Search order, first match wins, for each library:
 * <ol>
 *   <li>the directories in {@code -Dlikeness.cuda.path} or else {@code $LIKENESS_CUDA_PATH} (colon-separated); when
 *       set, a library found there is used even if the system has another one;</li>
 *   <li>the dynamic loader by soname ({@code libcuda.so.1}, {@code libnvrtc.so.13}, ...): {@code LD_LIBRARY_PATH} and
 *       the {@code ldconfig} cache;</li>
 *   <li>{@code $CUDA_HOME/lib64}, {@code $CUDA_PATH/lib64}, {@code /usr/local/cuda/lib64},
 *       {@code /usr/local/nvidia/lib64}, {@code /usr/lib/x86_64-linux-gnu}, {@code /usr/lib64},
 *       {@code /usr/lib/wsl/lib};</li>
 *   <li>the NVIDIA wheels of a Python environment ({@code nvidia/cu13/lib}, {@code nvidia/cublas/lib},
 *       {@code nvidia/cuda_nvrtc/lib} under {@code $VIRTUAL_ENV}, {@code $CONDA_PREFIX}, {@code ~/.local} and
 *       {@code /usr/local}): a machine with PyTorch installed has cuBLASLt and NVRTC there. Only the files are
 *       used; no Python runs.</li>
 * </ol>
 * The driver ({@code libcuda}) comes with the NVIDIA driver, never with a toolkit or a wheel.
 */
public final class CudaLibraries {
    /** The system property naming extra library directories. */
    public static final String PATH_PROPERTY = "likeness.cuda.path";
    /** The environment variable naming extra library directories. */
    public static final String PATH_ENV = "LIKENESS_CUDA_PATH";

    /** One library the backend needs: a name for messages and the file names to try, preferred first. */
    public record Library(String what, List<String> fileNames) {
    }

    public static final Library DRIVER = new Library("CUDA driver (libcuda, installed with the NVIDIA driver)",
            List.of("libcuda.so.1", "libcuda.so"));
    public static final Library NVRTC = new Library("NVRTC (CUDA runtime compiler)",
            List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"));
    public static final Library CUBLASLT = new Library("cuBLASLt",
            List.of("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"));

    /** A loaded library: its symbols and where it was found (a path, or the soname the loader resolved). */
    public record Loaded(Library library, SymbolLookup symbols, String from) {
    }

    private CudaLibraries() {
    }

    /**
     * Loads {@code library} into the global arena (it stays loaded for the life of the process).
     *
     * @throws CudaUnavailableException naming the library and every place that was tried
     */
    public static Loaded load(Library library) {
        return load(library, userDirectories(), defaultDirectories(), true);
    }

    /** {@link #load(Library)} with explicit directory lists (tests); {@code useLoader}: also ask the dynamic loader. */
    static Loaded load(Library library, List<Path> userDirs, List<Path> defaultDirs, boolean useLoader) {
        List<String> tried = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        Loaded found = tryDirectories(library, userDirs, tried, failures);
        if (found != null) {
            return found;
        }
        if (useLoader) {
            for (String name : library.fileNames()) {
                try {
                    SymbolLookup lookup = SymbolLookup.libraryLookup(name, Arena.global());
                    return new Loaded(library, lookup, name);
                } catch (IllegalArgumentException e) {
                    tried.add(name + " (dynamic loader)");
                }
            }
        }
        found = tryDirectories(library, defaultDirs, tried, failures);
        if (found != null) {
            return found;
        }
        StringBuilder msg = new StringBuilder(library.what() + " not found");
        if (!failures.isEmpty()) {
            msg.append("; present but not loadable: ").append(String.join("; ", failures));
        }
        msg.append(" (tried ").append(summarize(tried)).append("; set ").append(PATH_ENV)
                .append(" to the directory that holds ").append(library.fileNames().getFirst()).append(")");
        throw new CudaUnavailableException(msg.toString());
    }

    private static Loaded tryDirectories(Library library, List<Path> dirs, List<String> tried, List<String> failures) {
        for (Path dir : dirs) {
            for (String name : library.fileNames()) {
                Path file = dir.resolve(name);
                if (!Files.exists(file)) {
                    continue;
                }
                try {
                    SymbolLookup lookup = SymbolLookup.libraryLookup(file, Arena.global());
                    return new Loaded(library, lookup, file.toString());
                } catch (IllegalArgumentException e) {
                    failures.add(file + ": " + e.getMessage());
                }
            }
            tried.add(dir.toString());
        }
        return null;
    }

    private static String summarize(List<String> tried) {
        if (tried.size() <= 8) {
            return String.join(", ", tried);
        }
        return String.join(", ", tried.subList(0, 8)) + " and " + (tried.size() - 8) + " more";
    }

    /** The directories named by {@code -Dlikeness.cuda.path} or {@code $LIKENESS_CUDA_PATH}. */
    public static List<Path> userDirectories() {
        String spec = System.getProperty(PATH_PROPERTY);
        if (spec == null || spec.isBlank()) {
            spec = System.getenv(PATH_ENV);
        }
        List<Path> dirs = new ArrayList<>();
        if (spec != null) {
            for (String part : spec.split(":")) {
                if (!part.isBlank()) {
                    dirs.add(Path.of(part.strip()));
                }
            }
        }
        return dirs;
    }

    /** The fixed places searched after the dynamic loader, in order (only existing directories). */
    public static List<Path> defaultDirectories() {
        return defaultDirectories(System.getenv(), Path.of(System.getProperty("user.home", "/root")));
    }

    static List<Path> defaultDirectories(Map<String, String> env, Path home) {
        Set<Path> dirs = new LinkedHashSet<>();
        for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) {
                dirs.add(Path.of(v, "lib64"));
                dirs.add(Path.of(v, "lib"));
            }
        }
        for (String d : List.of("/usr/local/cuda/lib64", "/usr/local/nvidia/lib64", "/usr/lib/x86_64-linux-gnu",
                "/usr/lib64", "/usr/lib/wsl/lib")) {
            dirs.add(Path.of(d));
        }
        List<Path> roots = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) {
                roots.add(Path.of(v, "lib"));
            }
        }
        roots.add(home.resolve(".local/lib"));
        roots.add(Path.of("/usr/local/lib"));
        roots.add(Path.of("/usr/lib"));
        for (Path root : roots) {
            for (Path py : children(root, "python3*")) {
                for (String site : List.of("site-packages", "dist-packages")) {
                    Path nvidia = py.resolve(site).resolve("nvidia");
                    for (String sub : List.of("cu13/lib", "cublas/lib", "cuda_nvrtc/lib")) {
                        dirs.add(nvidia.resolve(sub));
                    }
                }
            }
        }
        List<Path> existing = new ArrayList<>();
        for (Path d : dirs) {
            if (Files.isDirectory(d)) {
                existing.add(d);
            }
        }
        return existing;
    }

    private static List<Path> children(Path dir, String glob) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, glob)) {
            for (Path p : ds) {
                out.add(p);
            }
        } catch (IOException e) {
            // unreadable directory: nothing to search there
        }
        out.sort(null);
        return out.reversed();
    }
}
