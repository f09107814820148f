package dev.likeness.cli;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Backends;

import java.io.PrintWriter;

/** {@code --device} of {@code generate} and {@code serve}: opens the backend and says which one runs. */
final class DeviceOption {
    /** The flag's help text (picocli). */
    static final String DESCRIPTION = "Where the engine runs: cpu, cuda, cuda:N (GPU N) or auto. auto uses the GPU "
            + "when CUDA is usable (an NVIDIA driver and GPU) and otherwise the CPU, saying why; cuda fails instead. "
            + "Default: $" + Backends.DEVICE_ENV + ", else auto.";

    private DeviceOption() {
    }

    /**
     * The device {@code flag} (else {@code $LIKENESS_DEVICE}, else auto) names, checked without opening it.
     *
     * @throws Likeness.UsageError for an unknown device name (exit 2), naming the flag or the variable
     */
    static String validated(String flag) {
        String source = flag != null && !flag.isBlank() ? "--device" : Backends.DEVICE_ENV;
        try {
            return Backends.validate(Backends.device(flag));
        } catch (IllegalArgumentException e) {
            throw new Likeness.UsageError(source + ": " + e.getMessage());
        }
    }

    /**
     * The backend {@code flag} (else {@code $LIKENESS_DEVICE}, else auto) names, with {@code threads} CPU threads;
     * prints the "backend: ..." line (and auto's fallback line) to {@code err}.
     *
     * @throws Likeness.UsageError for an unknown device name (exit 2)
     * @throws dev.likeness.engine.cuda.CudaUnavailableException for cuda without a usable GPU: one line starting
     *                                                           with "--device cuda: " (exit 1)
     */
    static Backend open(String flag, Integer threads, PrintWriter err) {
        Backend backend = Backends.open(validated(flag), threads, line -> err.println("likeness: " + line));
        err.println("likeness: backend: " + Backends.describe(backend));
        err.flush();
        return backend;
    }
}
