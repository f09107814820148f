package dev.likeness.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** The one JSON mapper of the server, and small helpers around it. */
public final class Json {
    /** Shared, thread-safe mapper. */
    public static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {}

    /** A new empty JSON object. */
    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    /** A new empty JSON array. */
    public static ArrayNode array() {
        return MAPPER.createArrayNode();
    }

    /** Parses JSON text; throws {@link JsonProcessingException} on malformed input. */
    public static JsonNode parse(String text) throws JsonProcessingException {
        return MAPPER.readTree(text);
    }

    /** Compact JSON text of a node. */
    public static String write(JsonNode node) {
        try {
            return MAPPER.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise JSON", e);
        }
    }

    /** {@code {"detail": text}}, the body of fal's platform errors, with {@code error_type} when given. */
    public static ObjectNode detail(String text, String errorType) {
        ObjectNode o = object().put("detail", text);
        if (errorType != null) o.put("error_type", errorType);
        return o;
    }
}
