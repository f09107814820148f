package dev.likeness.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The OpenAPI document of one endpoint, in the form fal publishes at
 * {@code https://fal.ai/api/openapi/queue/openapi.json?endpoint_id=...}: the queue surface (submit, status, cancel,
 * result) on this server's queue base URL, the {@code Authorization: Key} scheme, {@code QueueStatus}, and the
 * endpoint's input and output schemas ({@link Endpoint#schemas()}). Served at {@code GET /{endpoint}/openapi.json}
 * and at fal's {@code GET /api/openapi/queue/openapi.json?endpoint_id=}.
 */
public final class OpenApi {
    private OpenApi() {}

    /** A schema resource of this module ({@code dev/likeness/server/schemas/NAME}). */
    public static ObjectNode resource(String name) {
        try (InputStream in = OpenApi.class.getResourceAsStream("schemas/" + name)) {
            if (in == null) throw new IllegalStateException("missing schema resource dev/likeness/server/schemas/" + name);
            return (ObjectNode) Json.MAPPER.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read schema resource " + name, e);
        }
    }

    /** The document for an endpoint, with {@code queueBase} (e.g. {@code http://host:8080/queue}) as its server. */
    public static ObjectNode document(Endpoint ep, String queueBase) {
        ObjectNode own = ep.schemas();
        String input = own == null ? null : own.path("input").asText(null);
        String output = own == null ? null : own.path("output").asText(null);
        String id = ep.id();
        String app = RequestQueue.appPrefix(id);

        ObjectNode doc = Json.object();
        doc.put("openapi", "3.0.4");
        ObjectNode info = doc.putObject("info");
        info.put("title", "Queue OpenAPI for " + id);
        info.put("version", "1.0.0");
        if (own != null && own.hasNonNull("description")) info.put("description", own.get("description").asText());
        ObjectNode meta = info.putObject("x-fal-metadata");
        meta.put("endpointId", id);
        if (own != null && own.hasNonNull("category")) meta.put("category", own.get("category").asText());

        ObjectNode components = doc.putObject("components");
        components.putObject("securitySchemes").putObject("apiKeyAuth").put("type", "apiKey").put("in", "header")
                .put("name", "Authorization").put("description", "Key <key id>:<secret> (likeness keys create)");
        ObjectNode schemas = components.putObject("schemas");
        schemas.set("QueueStatus", queueStatus());
        if (own != null) own.path("schemas").properties().forEach(e -> schemas.set(e.getKey(), e.getValue()));

        ObjectNode paths = doc.putObject("paths");
        String requestPath = "/" + app + "/requests/{request_id}";
        ObjectNode status = paths.putObject(requestPath + "/status").putObject("get");
        status.putArray("parameters").add(requestIdParam())
                .add(Json.object().put("name", "logs").put("in", "query").put("required", false)
                        .put("description", "Whether to include logs (`1`) in the response or not (`0`).")
                        .set("schema", Json.object().put("type", "number")));
        status.set("responses", Json.object()
                .set("200", response("The request status.", ref("QueueStatus"))));
        ObjectNode cancel = paths.putObject(requestPath + "/cancel").putObject("put");
        cancel.putArray("parameters").add(requestIdParam());
        ObjectNode cancelOk = Json.object().put("type", "object");
        cancelOk.putObject("properties").putObject("success").put("type", "boolean")
                .put("description", "Whether the request was cancelled successfully.");
        cancel.set("responses", Json.object().set("200", response("The request was cancelled.", cancelOk)));
        ObjectNode submit = paths.putObject("/" + id).putObject("post");
        submit.set("requestBody", Json.object().put("required", true).set("content",
                Json.object().set("application/json", Json.object().set("schema", input != null ? ref(input) : Json.object().put("type", "object")))));
        submit.set("responses", Json.object().set("200", response("The request status.", ref("QueueStatus"))));
        ObjectNode result = paths.putObject(requestPath).putObject("get");
        result.putArray("parameters").add(requestIdParam());
        result.set("responses", Json.object().set("200", response("Result of the request.",
                output != null ? ref(output) : Json.object().put("type", "object"))));

        doc.putArray("servers").addObject().put("url", queueBase);
        doc.putArray("security").addObject().putArray("apiKeyAuth");
        return doc;
    }

    private static ObjectNode queueStatus() {
        ObjectNode s = Json.object().put("type", "object").put("title", "QueueStatus");
        ObjectNode p = s.putObject("properties");
        p.putObject("status").put("type", "string").putArray("enum").add("IN_QUEUE").add("IN_PROGRESS").add("COMPLETED");
        p.putObject("request_id").put("type", "string").put("description", "The request id.");
        p.putObject("response_url").put("type", "string").put("description", "The response url.");
        p.putObject("status_url").put("type", "string").put("description", "The status url.");
        p.putObject("cancel_url").put("type", "string").put("description", "The cancel url.");
        p.putObject("logs").put("type", "object").put("description", "The logs.").put("additionalProperties", true);
        p.putObject("metrics").put("type", "object").put("description", "The metrics.").put("additionalProperties", true);
        p.putObject("queue_position").put("type", "integer").put("description", "The queue position.");
        ArrayNode req = s.putArray("required");
        req.add("status").add("request_id");
        return s;
    }

    private static ObjectNode requestIdParam() {
        return Json.object().put("name", "request_id").put("in", "path").put("required", true)
                .put("description", "Request ID").set("schema", Json.object().put("type", "string"));
    }

    private static ObjectNode ref(String name) {
        return Json.object().put("$ref", "#/components/schemas/" + name);
    }

    private static ObjectNode response(String description, ObjectNode schema) {
        return Json.object().put("description", description).set("content",
                Json.object().set("application/json", Json.object().set("schema", schema)));
    }
}
