package dev.likeness.server;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpHeader;

/**
 * The playground web page (see {@code server/README.md}, "Playground"): static files kept in this module's resources
 * under {@code dev/likeness/server/playground/} (plain ES modules, HTML and CSS; no build step, nothing fetched from
 * elsewhere). The page itself talks to the server through the public API only: the endpoint's OpenAPI document, the
 * storage upload flow, the queue and its status stream.
 *
 * <ul>
 *   <li>{@code GET /}, {@code GET /playground[/]}, {@code GET /playground/{endpoint}}: the page;</li>
 *   <li>{@code GET /playground/endpoints.json}: {@code {"endpoints": [ids]}} (sorted);</li>
 *   <li>{@code GET /playground/assets/{name}}: a module, style sheet or icon.</li>
 * </ul>
 * No key is needed for these (they hold no data); every call the page makes is authenticated like any client's.
 */
final class Playground {
    private static final Pattern ASSET = Pattern.compile("[a-z0-9][a-z0-9-]*\\.(js|css|html|svg)");
    private static final Map<String, String> TYPES = Map.of(
            "js", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8",
            "html", "text/html; charset=utf-8",
            "svg", "image/svg+xml");
    /** Only the server itself: scripts, styles and API calls; images may also be data / blob URIs (previews, local
     *  files) or http(s) URLs a user typed as a reference. */
    static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            + "img-src 'self' data: blob: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            + "form-action 'none'";
    private static final Map<String, byte[]> CACHE = new ConcurrentHashMap<>();

    private Playground() {}

    /** Answers the request if it is one of the playground's routes; false to let the API routes have it. */
    static boolean handle(Exchange x, List<String> seg, RequestQueue queue) {
        if (!x.method().equals("GET")) return false;
        if (seg.isEmpty()) {
            page(x);
            return true;
        }
        if (!seg.getFirst().equals("playground")) return false;
        if (seg.size() == 1) {
            page(x);
            return true;
        }
        if (seg.size() == 2 && seg.get(1).equals("endpoints.json")) {
            var list = Json.object();
            var arr = list.putArray("endpoints");
            queue.endpointIds().forEach(arr::add);
            x.resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
            x.json(200, list);
            return true;
        }
        if (seg.size() == 3 && seg.get(1).equals("assets")) {
            String name = seg.get(2);
            var m = ASSET.matcher(name);
            byte[] body = m.matches() ? asset(name) : null;
            if (body == null) throw HttpError.detail(404, "Path /playground/assets/" + name + " not found");
            x.resp.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
            x.resp.getHeaders().put("X-Content-Type-Options", "nosniff");
            x.bytes(200, TYPES.get(m.group(1)), body);
            return true;
        }
        if (queue.endpoint(String.join("/", seg.subList(1, seg.size()))) != null) {
            page(x);
            return true;
        }
        return false;
    }

    private static void page(Exchange x) {
        byte[] body = asset("index.html");
        if (body == null) throw new IllegalStateException("missing resource dev/likeness/server/playground/index.html");
        var h = x.resp.getHeaders();
        h.put(HttpHeader.CACHE_CONTROL, "no-cache");
        h.put("Content-Security-Policy", CSP);
        h.put("X-Content-Type-Options", "nosniff");
        h.put("Referrer-Policy", "no-referrer");
        x.bytes(200, TYPES.get("html"), body);
    }

    /** A resource under {@code playground/}, or null when there is none. */
    private static byte[] asset(String name) {
        byte[] b = CACHE.get(name);
        if (b != null) return b;
        try (InputStream in = Playground.class.getResourceAsStream("playground/" + name)) {
            if (in == null) return null;
            b = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read playground resource " + name, e);
        }
        CACHE.put(name, b);
        return b;
    }
}
