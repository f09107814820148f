package dev.likeness.server;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpCookieStore;
import org.eclipse.jetty.util.Promise;
import org.eclipse.jetty.util.SocketAddressResolver;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.util.thread.ScheduledExecutorScheduler;

/**
 * The HTTP client of the server's outgoing calls (input fetches, webhooks). Its connections go only to addresses it
 * checked itself: the host is resolved once, in the client's {@link SocketAddressResolver}, every answer is checked
 * with {@link InputFetcher#isPublic}, and the connector is handed exactly those addresses. There is no second lookup
 * between the check and the connection, so a DNS answer that changes in between (rebinding) cannot send the call to
 * a loopback, private, link-local or metadata address. Each redirect hop is a new request, resolved and checked the
 * same way; a pooled connection is reused only for its own origin, whose address was checked when it was opened.
 * A host the configuration trusts ({@link ServerConfig#allowPrivateFetch}, {@link ServerConfig#fetchAllowHosts}) is
 * connected to whatever it resolves to. https URLs are verified against the URL's host name (SNI and endpoint
 * identification use the name, not the address). Redirects, cookies and authentication are left to the callers.
 */
final class OutboundHttp implements AutoCloseable {
    /** Name resolution: all addresses of a host (the JVM's resolver in production; a seam for tests). */
    @FunctionalInterface
    interface NameResolver {
        InetAddress[] resolve(String host) throws UnknownHostException;
    }

    /** The system resolver. */
    static final NameResolver SYSTEM = InetAddress::getAllByName;

    /** A host resolved to an address this server does not call; the connection was not attempted. */
    static final class RefusedAddressException extends IOException {
        private final transient InetAddress address;

        RefusedAddressException(String host, InetAddress address) {
            super("the host '" + host + "' resolves to a loopback, private or link-local address (" + address.getHostAddress() + ")");
            this.address = address;
        }

        /** The refused address. */
        InetAddress address() {
            return address;
        }
    }

    private final ServerConfig config;
    private final NameResolver dns;
    private final HttpClient client;

    /**
     * @param name    thread name prefix
     * @param timeout connect and idle timeout
     */
    OutboundHttp(ServerConfig config, String name, Duration timeout, NameResolver dns) {
        this.config = config;
        this.dns = dns;
        SslContextFactory.Client tls = new SslContextFactory.Client();
        tls.setEndpointIdentificationAlgorithm("HTTPS");
        client = new HttpClient();
        client.setSslContextFactory(tls);
        QueuedThreadPool pool = new QueuedThreadPool(32, 2);
        pool.setName(name);
        pool.setDaemon(true);
        client.setExecutor(pool);
        client.setScheduler(new ScheduledExecutorScheduler(name + "-scheduler", true));
        client.setSocketAddressResolver(this::resolve);
        client.setFollowRedirects(false);
        client.setHttpCookieStore(new HttpCookieStore.Empty());
        client.setConnectTimeout(timeout.toMillis());
        client.setIdleTimeout(timeout.toMillis());
        client.setUserAgentField(null);
        try {
            client.start();
        } catch (Exception e) {
            throw new IllegalStateException("could not start the outgoing HTTP client", e);
        }
    }

    /** The client (its requests follow no redirects). */
    HttpClient client() {
        return client;
    }

    /** Whether the configuration trusts a host with any address. */
    boolean trusted(String host) {
        return config.allowPrivateFetch() || config.fetchAllowHosts().contains(host.toLowerCase(Locale.ROOT));
    }

    /** The client's resolver: one lookup, every answer checked, only checked addresses handed on. */
    private void resolve(String host, int port, Map<String, Object> context, Promise<List<InetSocketAddress>> promise) {
        try {
            promise.succeeded(checked(host, port));
        } catch (IOException e) {
            promise.failed(e);
        }
    }

    List<InetSocketAddress> checked(String host, int port) throws IOException {
        String bare = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        InetAddress[] addresses = dns.resolve(bare);
        if (addresses == null || addresses.length == 0) throw new UnknownHostException(bare);
        boolean trusted = trusted(bare);
        List<InetSocketAddress> out = new ArrayList<>(addresses.length);
        for (InetAddress a : addresses) {
            // any non-public answer refuses the host (not just that address): a name that points inside is not called
            if (!trusted && !InputFetcher.isPublic(a)) throw new RefusedAddressException(bare, a);
            out.add(new InetSocketAddress(a, port));
        }
        return out;
    }

    /** The refusal in a failure's cause chain, or null. */
    static RefusedAddressException refusal(Throwable t) {
        for (int depth = 0; t != null && depth < 16; t = t.getCause(), depth++) {
            if (t instanceof RefusedAddressException r) return r;
            for (Throwable s : t.getSuppressed()) if (s instanceof RefusedAddressException r) return r;
        }
        return null;
    }

    /** The unresolvable host in a failure's cause chain, or null. */
    static UnknownHostException unknownHost(Throwable t) {
        for (int depth = 0; t != null && depth < 16; t = t.getCause(), depth++) {
            if (t instanceof UnknownHostException u) return u;
        }
        return null;
    }

    @Override
    public void close() {
        try {
            client.stop();
        } catch (Exception e) {
            // stopping is best effort
        }
    }
}
