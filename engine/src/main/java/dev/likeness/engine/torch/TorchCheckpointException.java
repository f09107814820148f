package dev.likeness.engine.torch;

/** A PyTorch checkpoint that cannot be read (or must not be): the message names the file and what is wrong. */
public final class TorchCheckpointException extends RuntimeException {
    public TorchCheckpointException(String message) {
        super(message);
    }

    public TorchCheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
