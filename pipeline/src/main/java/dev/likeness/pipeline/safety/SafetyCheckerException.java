package dev.likeness.pipeline.safety;

/**
 * A safety checker could not be loaded or run: a missing, truncated or corrupt model file, a missing tensor, a wrong
 * shape. The message names the file (and the tensor) and what was expected.
 */
public final class SafetyCheckerException extends RuntimeException {
    public SafetyCheckerException(String message) {
        super(message);
    }

    public SafetyCheckerException(String message, Throwable cause) {
        super(message, cause);
    }
}
