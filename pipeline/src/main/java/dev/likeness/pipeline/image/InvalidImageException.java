package dev.likeness.pipeline.image;

/**
 * A reference image that cannot be used: not a supported format, damaged, or too large. The message names the
 * request field and says what is wrong (for example {@code "image_url: not a PNG, JPEG or WebP image"}), written to be
 * returned to the client as is with a 4xx status; {@link #kind()} tells the causes apart.
 */
public final class InvalidImageException extends RuntimeException {

    /** Why the image was refused. */
    public enum Kind {
        /** The bytes are not a PNG, JPEG or WebP file. */
        UNSUPPORTED_FORMAT,
        /** The file starts like a supported format but cannot be decoded (truncated, damaged, zero-sized). */
        CORRUPT,
        /** The file or its pixel count is over the decoder's limits (checked before decoding the pixels). */
        TOO_LARGE
    }

    private final Kind kind;
    private final String field;

    /** An exception whose message is {@code field + ": " + problem}. */
    public InvalidImageException(Kind kind, String field, String problem, Throwable cause) {
        super(field + ": " + problem, cause);
        this.kind = kind;
        this.field = field;
    }

    /** Why the image was refused. */
    public Kind kind() {
        return kind;
    }

    /** The request field that held the image (for example {@code image_url}). */
    public String field() {
        return field;
    }
}
