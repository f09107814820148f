package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * One item of a FastAPI/pydantic validation error body: {@code {"type", "loc", "msg", "input", "ctx"?}}, the shape
 * fal's runners return under {@code detail} with status 422 (fal SDK {@code request_val_exception_handler}, which
 * encodes pydantic v2 {@code errors()} without the documentation {@code url}).
 *
 * @param type  pydantic error type, e.g. {@code missing}, {@code less_than_equal}, {@code literal_error}
 * @param loc   location, starting with {@code "body"}; elements are strings or integers
 * @param msg   human-readable message, worded as pydantic words it
 * @param input the offending input value ({@code null} node when none)
 * @param ctx   extra context such as {@code {"le": 2}}, or {@code null}
 */
public record FieldError(String type, List<Object> loc, String msg, JsonNode input, ObjectNode ctx) {

    /** The JSON item as it appears in {@code detail}. */
    public ObjectNode toJson() {
        ObjectNode o = Json.object();
        o.put("type", type);
        var l = o.putArray("loc");
        for (Object part : loc) {
            if (part instanceof Integer i) l.add(i);
            else l.add(String.valueOf(part));
        }
        o.put("msg", msg);
        o.set("input", input == null ? Json.MAPPER.nullNode() : input);
        if (ctx != null) o.set("ctx", ctx);
        return o;
    }
}
