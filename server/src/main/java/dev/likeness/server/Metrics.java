package dev.likeness.server;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * Prometheus metrics ({@code GET /metrics}, text exposition format 0.0.4): queue depth and running requests (read
 * from the database when scraped), completions and errors by endpoint and error type, and latency histograms
 * (submit → completion, queue wait, run time) per endpoint. Counters count since the process started.
 */
public final class Metrics {
    /** Histogram bucket bounds in seconds (a CPU request takes seconds to many minutes). */
    static final double[] BUCKETS = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};

    private final Store db;
    private final Map<String, AtomicLong> completed = new TreeMap<>();
    private final Map<String, AtomicLong> errors = new TreeMap<>();
    private final Map<String, Histogram> total = new TreeMap<>();
    private final Map<String, Histogram> wait = new TreeMap<>();
    private final Map<String, Histogram> run = new TreeMap<>();

    public Metrics(Store db) {
        this.db = db;
    }

    /** Counts a completed request. */
    public synchronized void completed(Database.RequestRow r) {
        boolean ok = r.resultStatus() != null && r.resultStatus() == 200;
        String ep = label(r.endpoint());
        completed.computeIfAbsent("endpoint=\"" + ep + "\",outcome=\"" + (ok ? "ok" : "error") + "\"",
                k -> new AtomicLong()).incrementAndGet();
        if (!ok) {
            String type = r.errorType() == null ? "unknown" : r.errorType();
            errors.computeIfAbsent("endpoint=\"" + ep + "\",error_type=\"" + label(type) + "\"",
                    k -> new AtomicLong()).incrementAndGet();
        }
        if (r.completedAt() != null) {
            String key = "endpoint=\"" + ep + "\"";
            total.computeIfAbsent(key, k -> new Histogram()).observe((r.completedAt() - r.createdAt()) / 1000.0);
            if (r.startedAt() != null) {
                wait.computeIfAbsent(key, k -> new Histogram()).observe((r.startedAt() - r.createdAt()) / 1000.0);
                run.computeIfAbsent(key, k -> new Histogram()).observe((r.completedAt() - r.startedAt()) / 1000.0);
            }
        }
    }

    /** The exposition text. */
    public synchronized String scrape() {
        StringBuilder b = new StringBuilder();
        gauge(b, "likeness_queue_depth", "Requests waiting in the queue.", db.count("IN_QUEUE"));
        gauge(b, "likeness_running", "Requests running.", db.count("IN_PROGRESS"));
        counter(b, "likeness_requests_completed_total", "Requests completed, by endpoint and outcome.", completed);
        counter(b, "likeness_request_errors_total", "Requests that ended in an error, by endpoint and error type.", errors);
        histogram(b, "likeness_request_duration_seconds", "Submit to completion.", total);
        histogram(b, "likeness_request_queue_wait_seconds", "Submit to start of the (last) run.", wait);
        histogram(b, "likeness_request_run_seconds", "Start of the (last) run to completion.", run);
        return b.toString();
    }

    private static void gauge(StringBuilder b, String name, String help, long value) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" gauge\n");
        b.append(name).append(' ').append(value).append('\n');
    }

    private static void counter(StringBuilder b, String name, String help, Map<String, AtomicLong> values) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" counter\n");
        for (var e : values.entrySet()) {
            b.append(name).append('{').append(e.getKey()).append("} ").append(e.getValue().get()).append('\n');
        }
    }

    private static void histogram(StringBuilder b, String name, String help, Map<String, Histogram> values) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" histogram\n");
        for (var e : values.entrySet()) {
            Histogram h = e.getValue();
            long cumulative = 0;
            for (int i = 0; i <= BUCKETS.length; i++) {
                cumulative += h.counts[i];
                String le = i < BUCKETS.length ? number(BUCKETS[i]) : "+Inf";
                b.append(name).append("_bucket{").append(e.getKey()).append(",le=\"").append(le).append("\"} ")
                        .append(cumulative).append('\n');
            }
            b.append(name).append("_sum{").append(e.getKey()).append("} ").append(number(h.sum.sum())).append('\n');
            b.append(name).append("_count{").append(e.getKey()).append("} ").append(cumulative).append('\n');
        }
    }

    private static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%.6g", v);
    }

    /** A label value with Prometheus escaping. */
    static String label(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    /** Counts per bucket (the last is +Inf) and the sum. */
    static final class Histogram {
        final long[] counts = new long[BUCKETS.length + 1];
        final DoubleAdder sum = new DoubleAdder();

        void observe(double seconds) {
            int i = 0;
            while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
            counts[i]++;
            sum.add(seconds);
        }
    }
}
