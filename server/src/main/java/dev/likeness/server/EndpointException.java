package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request failed with a definite HTTP status and body, as a fal runner would answer it. The queue stores both;
 * the request's status becomes {@code COMPLETED} with {@code error}/{@code error_type}, and its result route answers
 * with this status and body.
 */
public class EndpointException extends RuntimeException {
    private final int status;
    private final String errorType;
    private final ObjectNode body;

    /**
     * @param status    HTTP status of the result
     * @param errorType machine-readable type ({@code error_type} of the status), never null
     * @param message   human-readable error ({@code error} of the status)
     * @param body      result body
     */
    public EndpointException(int status, String errorType, String message, ObjectNode body) {
        super(message);
        this.status = status;
        this.errorType = errorType;
        this.body = body;
    }

    /** HTTP status of the result. */
    public int status() {
        return status;
    }

    /** Machine-readable error type. */
    public String errorType() {
        return errorType;
    }

    /** The result body. */
    public ObjectNode body() {
        return body;
    }

    /** The request was cancelled by its client: 499 {@code client_cancelled}, as fal's request-error table. */
    public static EndpointException cancelled() {
        return new EndpointException(499, "client_cancelled", "Request cancelled by the client.",
                Json.detail("Request cancelled by the client.", "client_cancelled"));
    }

    /** Validation failed: 422 with the pydantic-style body. */
    public static EndpointException of(InputError e) {
        return new EndpointException(422, e.errors().getFirst().type(), e.getMessage(), e.body());
    }

    /**
     * A model error in fal's documented newer form: 422 {@code {"detail":[{"loc","msg","type","url","input"?,
     * "ctx"?}]}} for one input field, e.g. {@code file_download_error}, {@code image_load_error},
     * {@code file_too_large}.
     *
     * @param field input field name (the loc is {@code ["body", field]})
     * @param type  fal error type
     * @param msg   message
     * @param input offending input, or null to leave it out (data URIs are never echoed)
     * @param ctx   context, or null
     */
    public static EndpointException fieldError(String field, String type, String msg, JsonNode input, ObjectNode ctx) {
        ObjectNode item = Json.object();
        item.putArray("loc").add("body").add(field);
        item.put("msg", msg);
        item.put("type", type);
        item.put("url", "https://docs.fal.ai/errors#" + type);
        if (input != null) item.set("input", input);
        if (ctx != null) item.set("ctx", ctx);
        ObjectNode body = Json.object();
        body.putArray("detail").add(item);
        return new EndpointException(422, type, msg, body);
    }
}
