package dev.likeness.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * The input of a request does not match its endpoint's schema. Served as fal serves it: status 422 with
 * {@code {"detail": [FieldError...]}}.
 */
public final class InputError extends Exception {
    private final List<FieldError> errors;

    /** @param errors at least one field error, in schema order */
    public InputError(List<FieldError> errors) {
        super(summary(errors));
        if (errors.isEmpty()) throw new IllegalArgumentException("an InputError needs at least one field error");
        this.errors = List.copyOf(errors);
    }

    /** The field errors, in schema order. */
    public List<FieldError> errors() {
        return errors;
    }

    /** The 422 response body. */
    public ObjectNode body() {
        ObjectNode o = Json.object();
        var detail = o.putArray("detail");
        for (FieldError e : errors) detail.add(e.toJson());
        return o;
    }

    /**
     * The error FastAPI gives for a body that is not valid JSON: {@code json_invalid} at {@code ["body", offset]}
     * with {@code msg "JSON decode error"} and the parser's complaint in {@code ctx.error}.
     */
    public static InputError jsonInvalid(com.fasterxml.jackson.core.JsonProcessingException e) {
        long offset = e.getLocation() == null ? 0 : Math.max(0, e.getLocation().getCharOffset());
        ObjectNode ctx = Json.object().put("error", e.getOriginalMessage());
        return new InputError(List.of(new FieldError("json_invalid", List.of("body", (int) offset), "JSON decode error",
                Json.object(), ctx)));
    }

    private static String summary(List<FieldError> errors) {
        StringBuilder sb = new StringBuilder();
        for (FieldError e : errors) {
            if (!sb.isEmpty()) sb.append("; ");
            sb.append(String.join(".", e.loc().stream().map(String::valueOf).toList())).append(": ").append(e.msg());
        }
        return sb.toString();
    }
}
