package dev.likeness.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The playground's routes without a browser (PlaygroundBrowserTest drives the page itself): the page at {@code /},
 * {@code /playground} and {@code /playground/{endpoint}} with its security headers, every asset it references served
 * with its type, the endpoint list, and 404s for unknown assets and endpoints; the API routes unchanged beside them.
 */
class PlaygroundTest {
    @TempDir
    Path dir;

    @Test
    void pageAssetsAndEndpointList() throws Exception {
        FakeCharacterEndpoint ep = new FakeCharacterEndpoint();
        try (Harness h = new Harness(dir, ep, Conformance.renamed(ep, "acme/studio/character"))) {
            for (String path : new String[] {"/", "/playground", "/playground/", "/playground/fal-ai/instant-character",
                    "/playground/acme/studio/character"}) {
                HttpResponse<String> page = h.get(path);
                assertEquals(200, page.statusCode(), path);
                assertTrue(page.headers().firstValue("Content-Type").orElse("").startsWith("text/html"), path);
                assertEquals(Playground.CSP, page.headers().firstValue("Content-Security-Policy").orElse(null), path);
                assertTrue(page.body().contains("<title>Likeness playground</title>"), path);
            }
            String html = h.get("/").body();
            Matcher m = Pattern.compile("(?:src|href)=\"(/playground/assets/[^\"]+)\"").matcher(html);
            int assets = 0;
            while (m.find()) {
                HttpResponse<String> a = h.get(m.group(1));
                assertEquals(200, a.statusCode(), m.group(1));
                assertTrue(a.body().length() > 50, m.group(1));
                assets++;
            }
            assertTrue(assets >= 3, "assets referenced by the page: " + assets);
            for (String module : new String[] {"app.js", "api.js", "form.js", "snippets.js"}) {
                HttpResponse<String> js = h.get("/playground/assets/" + module);
                assertEquals(200, js.statusCode(), module);
                assertEquals("text/javascript; charset=utf-8", js.headers().firstValue("Content-Type").orElse(null), module);
                assertTrue(!Pattern.compile("(import|from|fetch\\()\\s*[\"'`]https?:").matcher(js.body()).find(),
                        module + " must not load anything from another origin");
            }
            HttpResponse<String> css = h.get("/playground/assets/style.css");
            assertEquals("text/css; charset=utf-8", css.headers().firstValue("Content-Type").orElse(null));
            assertTrue(!css.body().contains("url(") && !css.body().contains("@import"), "the style sheet loads nothing");

            HttpResponse<String> list = h.get("/playground/endpoints.json");
            assertEquals(200, list.statusCode());
            assertEquals("[\"acme/studio/character\",\"fal-ai/instant-character\"]", Json.parse(list.body()).get("endpoints").toString());

            assertEquals(404, h.get("/playground/assets/missing.js").statusCode());
            int traversal = h.get("/playground/assets/..%2Fschemas%2Finstant-character.json").statusCode();
            assertTrue(traversal == 400 || traversal == 404, "encoded traversal: " + traversal);   // Jetty answers 400
            assertEquals(404, h.get("/playground/assets/..schemas.js").statusCode());
            assertEquals(404, h.get("/playground/assets/Index.HTML").statusCode());
            assertEquals(404, h.get("/playground/no/such/endpoint").statusCode());
            // the API beside it
            assertEquals(200, h.get("/health").statusCode());
            assertEquals(200, h.get("/fal-ai/instant-character/openapi.json").statusCode());
            assertEquals(405, h.get("/fal-ai/instant-character").statusCode());
        }
    }
}
