package dev.likeness.engine.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;

/**
 * Splits loops over the backend's worker threads. One instance per {@link CpuBackend}; with one thread everything
 * runs inline on the caller.
 */
public final class Parallel implements AutoCloseable {

    /** The body of a parallel loop: handles indices [start, end). */
    @FunctionalInterface
    public interface Range {
        void run(int start, int end);
    }

    private final int threads;
    private final ForkJoinPool pool;

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.pool = threads == 1 ? null : new ForkJoinPool(threads);
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body} over [0, n) in chunks of at least {@code grain} indices, spread over the threads
     * (a few chunks per thread for balance). Exceptions from any chunk are rethrown.
     */
    public void range(int n, int grain, Range body) {
        if (n <= 0) {
            return;
        }
        int g = Math.max(1, grain);
        int maxChunks = (n + g - 1) / g;
        int chunks = Math.min(maxChunks, threads == 1 ? 1 : threads * 4);
        if (chunks <= 1 || pool == null || ForkJoinTask.inForkJoinPool()) {
            body.run(0, n);
            return;
        }
        int per = (n + chunks - 1) / chunks;
        pool.invoke(new Split(body, 0, n, per));
    }

    /** One task per index in [0, n): for coarse, unequal work items. */
    public void each(int n, Range body) {
        range(n, 1, body);
    }

    private static final class Split extends RecursiveAction {
        private final Range body;
        private final int start;
        private final int end;
        private final int per;

        Split(Range body, int start, int end, int per) {
            this.body = body;
            this.start = start;
            this.end = end;
            this.per = per;
        }

        @Override
        protected void compute() {
            if (end - start <= per) {
                body.run(start, end);
                return;
            }
            int mid = start + ((end - start) / per / 2) * per;
            if (mid == start) {
                mid = start + per;
            }
            invokeAll(new Split(body, start, mid, per), new Split(body, mid, end, per));
        }
    }

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdown();
        }
    }
}
