package dev.likeness.server;

import com.fasterxml.jackson.databind.node.TextNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.client.InputStreamResponseListener;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;

/**
 * Reads the file an input URL field names: a {@code data:} URI, a file of this server's storage (read from disk), or
 * an http(s) URL (fetched with a size and time limit, following at most 5 redirects, each hop refused when it
 * resolves to a loopback, private, link-local, multicast or unspecified address unless the configuration allows
 * private fetches or lists the host in {@link ServerConfig#fetchAllowHosts}). The connection goes to exactly the
 * addresses that were checked, so a DNS answer that changes after the check is never used ({@link OutboundHttp}).
 * Every failure is a 422 in fal's model-error form ({@code file_download_error},
 * {@code file_too_large}) naming the field.
 */
public final class InputFetcher implements AutoCloseable {
    private static final int MAX_REDIRECTS = 5;

    private final FileStore files;
    private final ServerConfig config;
    private final OutboundHttp http;

    public InputFetcher(FileStore files, ServerConfig config) {
        this(files, config, OutboundHttp.SYSTEM);
    }

    /** With a given name resolution (tests). */
    InputFetcher(FileStore files, ServerConfig config, OutboundHttp.NameResolver dns) {
        this.files = files;
        this.config = config;
        this.http = new OutboundHttp(config, "likeness-fetch", config.fetchTimeout(), dns);
    }

    /** Stops the HTTP client. */
    @Override
    public void close() {
        http.close();
    }

    /**
     * @param field   input field (for the error loc)
     * @param url     the field's value
     * @param selfBase base URL the request was submitted on; URLs under {@code <selfBase>/files/} (or the configured
     *                 public URL) are read from local storage
     * @param keyId    the request's key (null in open mode): a stored file of another key is answered as missing,
     *                 as {@code GET /files/…} with that key is (404)
     */
    public byte[] read(String field, String url, String selfBase, String keyId) {
        long limit = config.maxInputFileBytes();
        if (url.regionMatches(true, 0, "data:", 0, 5)) return dataUri(field, url, limit);
        String local = localId(url, selfBase);
        if (local == null && config.publicUrl() != null) local = localId(url, config.publicUrl());
        if (local != null) {
            Database.FileRow f = files.find(local);
            if (f == null || !Objects.equals(f.keyId(), keyId)) throw downloadError(field, url, "no such file on this server");
            if (f.size() > limit) throw tooLarge(field, url, limit);
            return files.read(local);
        }
        URI uri;
        try {
            uri = new URI(url);
        } catch (Exception e) {
            throw downloadError(field, url, "the URL is not valid");
        }
        return fetch(field, url, uri, limit);
    }

    private static String localId(String url, String base) {
        if (base == null) return null;
        String prefix = base + "/files/";
        if (!url.startsWith(prefix)) return null;
        String rest = url.substring(prefix.length());
        int slash = rest.indexOf('/');
        return slash < 0 ? rest : rest.substring(0, slash);
    }

    private byte[] fetch(String field, String original, URI uri, long limit) {
        long timeout = config.fetchTimeout().toMillis();
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            if (!scheme.equals("http") && !scheme.equals("https")) {
                throw downloadError(field, original, "only http, https and data URLs are supported");
            }
            if (uri.getHost() == null) throw downloadError(field, original, "the URL has no host");
            // the host is resolved and checked by the client's resolver, which connects only to the checked addresses
            Request request = http.client().newRequest(uri).method(HttpMethod.GET).followRedirects(false);
            InputStreamResponseListener listener = new InputStreamResponseListener();
            request.send(listener);
            Response resp;
            try {
                resp = listener.get(timeout, TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                throw unreachable(field, original, uri.getHost(), e.getCause());
            } catch (TimeoutException e) {
                request.abort(e);
                throw downloadError(field, original, "the server could not be reached (HttpTimeoutException)");
            } catch (InterruptedException e) {
                request.abort(e);
                Thread.currentThread().interrupt();
                throw downloadError(field, original, "interrupted");
            }
            InputStream body = listener.getInputStream();
            int code = resp.getStatus();
            String location = resp.getHeaders().get(HttpHeader.LOCATION);
            if (code >= 300 && code < 400 && location != null) {
                close(body);
                uri = uri.resolve(location);
                continue;
            }
            if (code != 200) {
                close(body);
                throw downloadError(field, original, "the server answered HTTP " + code);
            }
            long declared = resp.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH);
            if (declared > limit) {
                close(body);
                throw tooLarge(field, original, limit);
            }
            try (InputStream in = body) {
                byte[] data = in.readNBytes((int) Math.min(limit + 1, Integer.MAX_VALUE - 8));
                if (data.length > limit) throw tooLarge(field, original, limit);
                return data;
            } catch (IOException e) {
                throw downloadError(field, original, "the download broke off (" + rootName(e) + ")");
            }
        }
        throw downloadError(field, original, "more than " + MAX_REDIRECTS + " redirects");
    }

    /** The error of a request that got no response: refused address, unknown host, or the connection failed. */
    private static EndpointException unreachable(String field, String url, String host, Throwable failure) {
        OutboundHttp.RefusedAddressException refused = OutboundHttp.refusal(failure);
        if (refused != null) {
            return downloadError(field, url, "the host resolves to a loopback, private or link-local address ("
                    + refused.address().getHostAddress() + "), which this server does not fetch");
        }
        if (OutboundHttp.unknownHost(failure) != null) return downloadError(field, url, "the host '" + host + "' does not resolve");
        return downloadError(field, url, "the server could not be reached (" + rootName(failure) + ")");
    }

    private static String rootName(Throwable t) {
        Throwable root = t;
        for (int depth = 0; root.getCause() != null && depth < 16; depth++) root = root.getCause();
        return root.getClass().getSimpleName();
    }

    private static void close(InputStream in) {
        try {
            in.close();
        } catch (IOException ignored) {
            // the body is abandoned either way
        }
    }

    /** Whether an address is a public unicast address (IPv4-mapped IPv6 addresses arrive here as IPv4). */
    static boolean isPublic(InetAddress a) {
        if (a.isAnyLocalAddress() || a.isLoopbackAddress() || a.isLinkLocalAddress() || a.isSiteLocalAddress()
                || a.isMulticastAddress()) {
            return false;
        }
        byte[] b = a.getAddress();
        if (a instanceof Inet4Address) {
            int b0 = b[0] & 0xff, b1 = b[1] & 0xff;
            if (b0 == 0) return false;                          // 0.0.0.0/8
            if (b0 == 100 && (b1 & 0xc0) == 64) return false;   // 100.64.0.0/10 shared address space
            if (b0 == 198 && (b1 == 18 || b1 == 19)) return false; // benchmarking
            if (b0 >= 240) return false;                        // reserved, broadcast
            return true;
        }
        if (a instanceof Inet6Address) {
            if ((b[0] & 0xfe) == 0xfc) return false;            // fc00::/7 unique local
            boolean v4compatible = true;                         // ::a.b.c.d (deprecated IPv4-compatible)
            for (int i = 0; i < 12; i++) v4compatible &= b[i] == 0;
            if (v4compatible) return false;
            if ((b[0] & 0xff) == 0x00 && (b[1] & 0xff) == 0x64 && (b[2] & 0xff) == 0xff && (b[3] & 0xff) == 0x9b) {
                return false;                                    // 64:ff9b::/96 NAT64 can reach anything
            }
        }
        return true;
    }

    private static byte[] dataUri(String field, String url, long limit) {
        int comma = url.indexOf(',');
        if (comma < 0) throw downloadError(field, null, "the data URI has no ',' before its payload");
        String meta = url.substring(5, comma).toLowerCase(Locale.ROOT);
        String payload = url.substring(comma + 1);
        boolean base64 = meta.endsWith(";base64");
        if (base64 && (long) payload.length() / 4 * 3 > limit + 3) throw tooLarge(field, null, limit);
        byte[] data;
        try {
            data = base64 ? Base64.getMimeDecoder().decode(payload)
                    : URLDecoder.decode(payload.replace("+", "%2B"), StandardCharsets.UTF_8).getBytes(StandardCharsets.ISO_8859_1);
        } catch (IllegalArgumentException e) {
            throw downloadError(field, null, "the data URI payload is not valid " + (base64 ? "base64" : "percent-encoding"));
        }
        if (data.length > limit) throw tooLarge(field, null, limit);
        return data;
    }

    private static EndpointException downloadError(String field, String url, String reason) {
        return EndpointException.fieldError(field, "file_download_error",
                "Failed to download the file: " + reason + ". Please check if the URL is accessible.",
                url == null ? null : TextNode.valueOf(url), null);
    }

    private static EndpointException tooLarge(String field, String url, long limit) {
        return EndpointException.fieldError(field, "file_too_large",
                "File is too large: the limit is " + limit + " bytes.",
                url == null ? null : TextNode.valueOf(url), Json.object().put("max_size", limit));
    }
}
