package dev.likeness.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/** One HTTP request and its response, with the helpers the routes need. Every answer carries {@code x-fal-request-id}. */
final class Exchange {
    final Request req;
    final Response resp;
    final Callback cb;
    /** The id sent as {@code x-fal-request-id}: the queue request's id once known, otherwise a fresh one. */
    String requestId = Ids.requestId();
    boolean done;

    Exchange(Request req, Response resp, Callback cb) {
        this.req = req;
        this.resp = resp;
        this.cb = cb;
    }

    String method() {
        return req.getMethod();
    }

    String header(String name) {
        return req.getHeaders().get(name);
    }

    /** Reads the whole body, refusing more than {@code limit} bytes with 413. */
    byte[] body(long limit) {
        long declared = req.getLength();
        if (declared > limit) throw tooLarge(limit);
        try (InputStream in = Content.Source.asInputStream(req)) {
            byte[] data = in.readNBytes((int) Math.min(limit + 1, Integer.MAX_VALUE - 8));
            if (data.length > limit) throw tooLarge(limit);
            return data;
        } catch (IOException e) {
            throw HttpError.detail(400, "Could not read the request body: " + e.getMessage());
        }
    }

    InputStream bodyStream() {
        return Content.Source.asInputStream(req);
    }

    private static HttpError tooLarge(long limit) {
        return HttpError.detail(413, "Request body too large: the limit is " + limit + " bytes");
    }

    /**
     * The base URL clients reached us at: the configured public URL, else scheme and host from {@code Forwarded},
     * {@code X-Forwarded-Proto}/{@code X-Forwarded-Host}, then {@code Host}.
     */
    String base(String publicUrl) {
        if (publicUrl != null) return publicUrl;
        String proto = null, host = null;
        String fwd = header("Forwarded");
        if (fwd != null) {
            for (String part : fwd.split(",")[0].split(";")) {
                String[] kv = part.strip().split("=", 2);
                if (kv.length != 2) continue;
                String v = kv[1].strip().replace("\"", "");
                if (kv[0].equalsIgnoreCase("proto")) proto = v;
                if (kv[0].equalsIgnoreCase("host")) host = v;
            }
        }
        if (proto == null && header("X-Forwarded-Proto") != null) proto = header("X-Forwarded-Proto").split(",")[0].strip();
        if (host == null && header("X-Forwarded-Host") != null) host = header("X-Forwarded-Host").split(",")[0].strip();
        if (proto == null) proto = req.getConnectionMetaData().isSecure() ? "https" : "http";
        if (host == null) host = header("Host");
        if (host == null) host = Request.getServerName(req) + ":" + Request.getServerPort(req);
        return proto.toLowerCase(Locale.ROOT) + "://" + host;
    }

    void json(int status, JsonNode body) {
        bytes(status, "application/json", Json.write(body).getBytes(StandardCharsets.UTF_8));
    }

    /** A JSON body given as text (stored results). */
    void jsonText(int status, String body) {
        bytes(status, "application/json", body.getBytes(StandardCharsets.UTF_8));
    }

    void bytes(int status, String contentType, byte[] body) {
        resp.setStatus(status);
        headers();
        if (contentType != null) resp.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        resp.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        done = true;
        resp.write(true, ByteBuffer.wrap(body), cb);
    }

    void empty(int status) {
        bytes(status, null, new byte[0]);
    }

    void headers() {
        resp.getHeaders().put("x-fal-request-id", requestId);
    }
}
