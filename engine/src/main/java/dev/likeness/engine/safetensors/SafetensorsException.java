package dev.likeness.engine.safetensors;

/** A safetensors file or checkpoint that cannot be used as asked; the message names the file and tensor. */
public class SafetensorsException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
