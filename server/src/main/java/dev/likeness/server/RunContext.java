package dev.likeness.server;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** What a running request may do: log, report progress, notice cancellation, read input files, store outputs. */
public interface RunContext {

    /** Log levels of fal's {@code RequestLog}. */
    enum Level { DEBUG, INFO, WARN, ERROR, STDOUT, STDERR }

    /** The queue id of this request. */
    String requestId();

    /** Appends a log line (level INFO); it shows in the status {@code logs} and on the status stream. */
    default void log(String message) {
        log(Level.INFO, message);
    }

    /** Appends a log line at a level. */
    void log(Level level, String message);

    /**
     * Reports progress of a phase, e.g. {@code progress("denoise", 3, 28)}; shown to clients as a log line
     * {@code "denoise 3/28"}. Also checks for cancellation (see {@link #checkCancelled()}).
     */
    void progress(String phase, int step, int total);

    /** Whether the client asked to cancel this request. */
    boolean cancelled();

    /** Throws {@link EndpointException#cancelled()} if the client asked to cancel this request. */
    default void checkCancelled() {
        if (cancelled()) throw EndpointException.cancelled();
    }

    /**
     * Reads an input file named by a URL field: a {@code data:} URI, a file on this server's storage, or an
     * {@code http(s)} URL (fetched with the configured size and time limits).
     *
     * @param field the input field, for the error's {@code loc}
     * @param url   the field's value
     * @throws EndpointException 422 {@code file_download_error} / {@code file_too_large} when it cannot be read
     */
    byte[] readInputFile(String field, String url);

    /**
     * Stores an output image and returns its fal {@code Image} object {@code {url, content_type, file_name,
     * file_size, width, height}}. With {@code inline} (the input's {@code sync_mode}) nothing is stored and
     * {@code url} is a {@code data:} URI.
     *
     * @param data        encoded image bytes
     * @param contentType e.g. {@code image/png}, {@code image/jpeg}
     */
    ObjectNode storeImage(byte[] data, String contentType, int width, int height, boolean inline);

    /** Stores any output file; returns its fal {@code File} object {@code {url, content_type, file_name, file_size}}. */
    ObjectNode storeFile(byte[] data, String contentType, String fileName, boolean inline);

    /**
     * Whether someone is watching this request's step previews (a status stream opened with {@code previews=1}, as
     * the playground does); endpoints compute previews only then.
     */
    default boolean previewsWanted() {
        return false;
    }

    /**
     * Publishes a low-resolution look at step {@code step} of {@code steps} (a small PNG); status streams opened
     * with {@code previews=1} send the latest one. Never stored, never in the logs.
     */
    default void preview(int step, int steps, byte[] png) {
    }
}
