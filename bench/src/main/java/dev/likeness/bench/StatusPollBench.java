package dev.likeness.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The status-poll benchmark: load from this process on a running Likeness server over loopback. It submits one
 * {@code fal-ai/instant-character} request (tiny size, one step), waits until it is COMPLETED, then, for each
 * concurrency level, runs that many closed-loop clients for a fixed time, each sending
 * {@code GET /queue/fal-ai/instant-character/requests/{id}/status[?logs=1]} as fast as answers come, and reports
 * polls per second and latency percentiles (p50, p90, p99, max) of the answers. Every answer must be 200 with
 * {@code "status":"COMPLETED"}; anything else is counted as an error.
 *
 * <p>Usage: {@code StatusPollBench --base http://127.0.0.1:PORT [--concurrency 1,8,32,64] [--seconds 10]
 * [--warmup 3] [--key id:secret] [--out results.md]}.
 */
public final class StatusPollBench {
    private static final Pattern STATUS_URL = Pattern.compile("\"status_url\"\\s*:\\s*\"([^\"]+)\"");

    private StatusPollBench() {
    }

    /** One measured level. */
    record Level(String route, int clients, long polls, long errors, double seconds, long[] sortedNanos) {
        double rate() {
            return polls / seconds;
        }

        double ms(double q) {
            if (sortedNanos.length == 0) return Double.NaN;
            int i = (int) Math.min(sortedNanos.length - 1, Math.ceil(q * sortedNanos.length) - 1);
            return sortedNanos[Math.max(0, i)] / 1e6;
        }
    }

    public static void main(String[] args) throws Exception {
        String base = null;
        int[] levels = {1, 8, 32, 64};
        double seconds = 10;
        double warmup = 3;
        String key = null;
        Path out = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--base" -> base = args[++i].replaceAll("/+$", "");
                case "--concurrency" -> levels = Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Double.parseDouble(args[++i]);
                case "--key" -> key = args[++i];
                case "--out" -> out = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (base == null) throw new IllegalArgumentException("--base URL is required");
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        String statusUrl = completedRequest(http, base, key);
        System.err.println("bench: polling " + statusUrl);

        List<Level> results = new ArrayList<>();
        for (String route : List.of("status", "status?logs=1")) {
            String url = route.endsWith("?logs=1") ? statusUrl + "?logs=1" : statusUrl;
            for (int clients : levels) {
                run(http, url, key, clients, warmup, route);  // warm-up: JIT, connections
                Level l = run(http, url, key, clients, seconds, route);
                results.add(l);
                System.err.printf(Locale.ROOT, "bench: %-13s %3d clients: %9.0f polls/s  p50 %.2f ms  p99 %.2f ms  errors %d%n",
                        route, clients, l.rate(), l.ms(0.50), l.ms(0.99), l.errors());
            }
        }
        String table = table(results);
        System.out.print(table);
        if (out != null) Files.writeString(out, table);
    }

    /** Submits a small request and waits for it to complete; returns its status URL. */
    private static String completedRequest(HttpClient http, String base, String key) throws Exception {
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(48, 64, java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 64; y++) for (int x = 0; x < 48; x++) img.setRGB(x, y, (x * 5) << 16 | (y * 4) << 8 | 90);
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "png", bytes);
        String png = Base64.getEncoder().encodeToString(bytes.toByteArray());
        String body = "{\"prompt\":\"bench\",\"image_url\":\"data:image/png;base64," + png
                + "\",\"image_size\":{\"width\":32,\"height\":32},\"num_inference_steps\":1,\"seed\":1}";
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + "/queue/fal-ai/instant-character"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) b.header("Authorization", "Key " + key);
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) throw new IOException("submit failed: " + r.statusCode() + " " + r.body());
        Matcher m = STATUS_URL.matcher(r.body());
        if (!m.find()) throw new IOException("no status_url in " + r.body());
        String statusUrl = m.group(1);
        long end = System.nanoTime() + 300_000_000_000L;
        while (System.nanoTime() < end) {
            HttpResponse<String> s = http.send(request(statusUrl, key), HttpResponse.BodyHandlers.ofString());
            if (s.body().contains("\"COMPLETED\"")) {
                if (s.body().contains("\"error\"")) throw new IOException("the bench request failed: " + s.body());
                return statusUrl;
            }
            Thread.sleep(100);
        }
        throw new IOException("the bench request did not complete in 300 s");
    }

    private static HttpRequest request(String url, String key) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30)).GET();
        if (key != null) b.header("Authorization", "Key " + key);
        return b.build();
    }

    /** {@code clients} closed-loop pollers for {@code seconds}. */
    private static Level run(HttpClient http, String url, String key, int clients, double seconds, String route)
            throws InterruptedException {
        HttpRequest req = request(url, key);
        long[][] lat = new long[clients][];
        int[] counts = new int[clients];
        AtomicLong errors = new AtomicLong();
        long start = System.nanoTime();
        long end = start + (long) (seconds * 1e9);
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int id = c;
            lat[c] = new long[1 << 16];
            threads.add(Thread.ofPlatform().start(() -> {
                long[] mine = lat[id];
                int n = 0;
                while (System.nanoTime() < end) {
                    long t0 = System.nanoTime();
                    try {
                        HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
                        if (r.statusCode() != 200 || !r.body().contains("\"COMPLETED\"")) errors.incrementAndGet();
                    } catch (IOException e) {
                        errors.incrementAndGet();
                    } catch (InterruptedException e) {
                        return;
                    }
                    long dt = System.nanoTime() - t0;
                    if (n == mine.length) mine = Arrays.copyOf(mine, n * 2);
                    mine[n++] = dt;
                }
                lat[id] = mine;
                counts[id] = n;
            }));
        }
        for (Thread t : threads) t.join();
        double elapsed = (System.nanoTime() - start) / 1e9;
        int total = 0;
        for (int n : counts) total += n;
        long[] all = new long[total];
        int at = 0;
        for (int c = 0; c < clients; c++) {
            System.arraycopy(lat[c], 0, all, at, counts[c]);
            at += counts[c];
        }
        Arrays.sort(all);
        return new Level(route, clients, total, errors.get(), elapsed, all);
    }

    private static String table(List<Level> results) {
        StringBuilder b = new StringBuilder();
        b.append("| route | clients | polls/s | p50 ms | p90 ms | p99 ms | max ms | errors |\n");
        b.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Level l : results) {
            b.append(String.format(Locale.ROOT, "| GET …/%s | %d | %.0f | %.2f | %.2f | %.2f | %.1f | %d |%n", l.route(),
                    l.clients(), l.rate(), l.ms(0.5), l.ms(0.9), l.ms(0.99), l.ms(1.0), l.errors()));
        }
        return b.toString();
    }
}
