package dev.likeness.engine;

import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cuda.CudaBackend;
import dev.likeness.engine.cuda.CudaException;
import dev.likeness.engine.cuda.CudaUnavailableException;

import java.util.Locale;
import java.util.function.Consumer;

/**
 * Opens the backend a user asked for with {@code --device} (or {@code $LIKENESS_DEVICE}):
 * <ul>
 *   <li>{@code cpu}: the pure-Java backend;</li>
 *   <li>{@code cuda} or {@code cuda:N}: GPU 0 (or N); an error when CUDA cannot be used;</li>
 *   <li>{@code auto} (the default): the GPU when CUDA can be used, otherwise the CPU backend, saying why in one
 *       log line.</li>
 * </ul>
 */
public final class Backends {
    /** The environment variable read when no {@code --device} is given. */
    public static final String DEVICE_ENV = "LIKENESS_DEVICE";
    /** What {@code --device} accepts, for messages and help texts. */
    public static final String ALLOWED = "cpu, cuda, cuda:N (GPU number N) or auto";

    private Backends() {
    }

    /** The device to use: {@code flag} when given, else {@code $LIKENESS_DEVICE} when set, else {@code auto}. */
    public static String device(String flag) {
        return device(flag, System.getenv(DEVICE_ENV));
    }

    static String device(String flag, String env) {
        if (flag != null && !flag.isBlank()) {
            return flag.strip();
        }
        if (env != null && !env.isBlank()) {
            return env.strip();
        }
        return "auto";
    }

    /**
     * Opens the backend {@code device} names.
     *
     * @param device  {@code cpu}, {@code cuda}, {@code cuda:N} or {@code auto} (null or blank means auto)
     * @param threads CPU worker threads (null: all processors, or {@code -Dlikeness.threads})
     * @param log     receives the one line saying why {@code auto} fell back to the CPU
     * @throws IllegalArgumentException for any other device name, naming the allowed values
     * @throws CudaUnavailableException for {@code cuda}/{@code cuda:N} when no usable GPU is found, with one line
     *                                  starting with {@code "--device cuda: "}
     */
    public static Backend open(String device, Integer threads, Consumer<String> log) {
        String d = validate(device);
        if (threads != null && threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        switch (d) {
            case "cpu" -> {
                return cpu(threads);
            }
            case "auto" -> {
                try {
                    return CudaBackend.open(0);
                } catch (CudaUnavailableException | CudaException e) {
                    log.accept("CUDA not available (" + oneLine(e.getMessage()) + "); using the CPU backend");
                    return cpu(threads);
                }
            }
            default -> {
                int ordinal = cudaOrdinal(d);
                try {
                    return CudaBackend.open(ordinal);
                } catch (CudaUnavailableException | CudaException e) {
                    throw new CudaUnavailableException("--device " + d + ": " + oneLine(e.getMessage()), e);
                }
            }
        }
    }

    /**
     * {@code device} normalized ("auto" for null or blank, lower case), without opening anything: for checking a
     * flag before any work starts.
     *
     * @throws IllegalArgumentException for a name {@link #open} does not accept, naming the allowed values
     */
    public static String validate(String device) {
        String d = device == null || device.isBlank() ? "auto" : device.strip().toLowerCase(Locale.ROOT);
        if (!d.equals("cpu") && !d.equals("auto") && cudaOrdinal(d) < 0) {
            throw new IllegalArgumentException("unknown device '" + device.strip() + "': use " + ALLOWED);
        }
        return d;
    }

    /** One line describing {@code backend} for the startup log: "cuda:0 (NVIDIA H100 80GB HBM3, bf16)". */
    public static String describe(Backend backend) {
        if (backend instanceof CudaBackend c) {
            return c.name() + " (" + c.gpuName() + ", " + c.computeDType().name().toLowerCase(Locale.ROOT) + ")";
        }
        int n = backend.threads();
        return backend.name() + " (" + n + (n == 1 ? " thread)" : " threads)");
    }

    private static Backend cpu(Integer threads) {
        return threads == null ? new CpuBackend() : new CpuBackend(threads);
    }

    /** N for "cuda" (0) and "cuda:N", or -1 when {@code d} is neither. */
    private static int cudaOrdinal(String d) {
        if (d.equals("cuda")) {
            return 0;
        }
        if (!d.startsWith("cuda:")) {
            return -1;
        }
        String n = d.substring(5);
        if (n.isEmpty() || n.length() > 4 || !n.chars().allMatch(Character::isDigit)) {
            return -1;
        }
        return Integer.parseInt(n);
    }

    private static String oneLine(String message) {
        if (message == null) {
            return "no reason given";
        }
        return message.replaceAll("\\s*\\R\\s*", " ").strip();
    }
}
