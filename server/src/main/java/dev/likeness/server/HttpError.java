package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;

/** An HTTP error answer with a JSON body, thrown inside the route handlers. */
final class HttpError extends RuntimeException {
    final int status;
    final JsonNode body;
    /** Extra response headers. */
    final java.util.Map<String, String> headers = new java.util.LinkedHashMap<>();

    HttpError(int status, JsonNode body) {
        super(body.toString(), null, false, false);
        this.status = status;
        this.body = body;
    }

    /** {@code {"detail": text}} with a status. */
    static HttpError detail(int status, String text) {
        return new HttpError(status, Json.detail(text, null));
    }
}
