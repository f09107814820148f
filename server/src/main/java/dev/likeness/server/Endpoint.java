package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * One fal endpoint the server serves, e.g. {@code fal-ai/instant-character}: the seam between the HTTP/queue layer
 * and the generation code. The server calls {@link #validate} first (a failure becomes fal's 422), then
 * {@link #run} on a worker thread with the validated input.
 */
public interface Endpoint {

    /** The fal endpoint id, {@code owner/app[/path]}, e.g. {@code fal-ai/instant-character}. */
    String id();

    /**
     * Checks an input against the endpoint's schema and returns it with every default filled in; unknown fields are
     * dropped, as pydantic ignores them.
     *
     * @throws InputError with one {@link FieldError} per offending field
     */
    JsonNode validate(JsonNode input) throws InputError;

    /**
     * Runs one request and returns its output JSON (served as is by the sync and result routes).
     *
     * @param validatedInput what {@link #validate} returned
     * @param ctx            logs, progress, cancellation, input files and output storage of this request
     * @throws EndpointException for failures with a definite fal status and body (bad input file, cancelled);
     *                           any other exception is served as 500 {@code Internal Server Error}
     */
    JsonNode run(JsonNode validatedInput, RunContext ctx) throws Exception;

    /**
     * What a successful run costs, by the endpoint's pricing; null when it is free (the default).
     *
     * @param validatedInput what {@link #validate} returned for the request
     * @param output         what {@link #run} returned
     */
    default Charge charge(JsonNode validatedInput, JsonNode output) {
        return null;
    }

    /**
     * The endpoint's schemas for its OpenAPI document: {@code {"input": name, "output": name, "category"?,
     * "description"?, "schemas": {name: JSON schema, ...}}} (OpenAPI 3.0 schema objects; {@code $ref}s point at
     * {@code #/components/schemas/}); null when the endpoint publishes none (the document then has plain objects).
     */
    default com.fasterxml.jackson.databind.node.ObjectNode schemas() {
        return null;
    }
}
