package dev.likeness.bench;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Measures the CPU backend's matrix products and attention in GFLOP/s: f32 {@code linear}, {@code linear} with a
 * bf16 weight (converted while packing), and {@code attention} at FLUX-like shapes, on 1 and 2 threads. Each case is
 * warmed up, then timed several times; the best time counts. Results go to stdout and, as tab-separated lines
 * ({@code case  threads  gflops  best_ms}), to the file named by {@code --out}. {@code bench/run.sh} runs this
 * beside numpy's OpenBLAS and prints the comparison table.
 *
 * <p>Usage: {@code EngineBench [--threads 1,2] [--quick] [--out results.tsv] [--min-seconds 2]}.
 */
public final class EngineBench {

    /** One benchmark case: a name, the work in FLOP, and how to run it once on a backend. */
    private record Case(String name, double flop, Op op) {
    }

    @FunctionalInterface
    private interface Op {
        /** Prepares the inputs on {@code cpu}; the returned action is what gets timed. */
        Runnable prepare(CpuBackend cpu);
    }

    private static float[] random(long seed, long n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return v;
    }

    /** y = x w^T for x [m, k], w [n, k] stored as f32 or bf16. */
    private static Case linear(int m, int k, int n, DType wType) {
        String name = (wType == DType.F32 ? "gemm_f32" : "gemm_bf16w") + " " + m + "x" + k + "x" + n;
        return new Case(name, 2.0 * m * k * n, cpu -> {
            Tensor x = cpu.fromFloats(random(1, (long) m * k), m, k);
            Tensor w = cpu.fromFloats(random(2, (long) n * k), n, k);
            Tensor wt = wType == DType.F32 ? w : cpu.to(w, wType);
            return () -> cpu.linear(x, wt, null);
        });
    }

    /** softmax(q k^T / sqrt(d)) v for q, k, v [1, heads, tokens, dim]: 4 · heads · tokens² · dim FLOP. */
    private static Case attention(int tokens, int heads, int dim) {
        String name = "attention " + tokens + "tok x " + heads + "h x " + dim + "d";
        return new Case(name, 4.0 * heads * (double) tokens * tokens * dim, cpu -> {
            long n = (long) heads * tokens * dim;
            Tensor q = cpu.fromFloats(random(3, n), 1, heads, tokens, dim);
            Tensor k = cpu.fromFloats(random(4, n), 1, heads, tokens, dim);
            Tensor v = cpu.fromFloats(random(5, n), 1, heads, tokens, dim);
            return () -> cpu.attention(q, k, v, null, 0f);
        });
    }

    private static List<Case> cases(boolean quick) {
        List<Case> cases = new ArrayList<>();
        int[][] shapes = quick
                ? new int[][] {{512, 3072, 3072}}
                : new int[][] {{1024, 3072, 3072}, {4608, 3072, 3072}, {1024, 3072, 12288}, {1024, 12288, 3072}};
        for (DType t : new DType[] {DType.F32, DType.BF16}) {
            for (int[] s : shapes) {
                cases.add(linear(s[0], s[1], s[2], t));
            }
        }
        cases.add(attention(quick ? 512 : 1024, 24, 128));
        return cases;
    }

    /** Best wall time of one run, in seconds, after one warm-up run; at least 3 timed runs and minSeconds in all. */
    private static double bestSeconds(Runnable run, double minSeconds) {
        run.run();
        double best = Double.MAX_VALUE;
        double total = 0;
        for (int i = 0; i < 3 || total < minSeconds; i++) {
            long t0 = System.nanoTime();
            run.run();
            double s = (System.nanoTime() - t0) * 1e-9;
            best = Math.min(best, s);
            total += s;
        }
        return best;
    }

    /**
     * Runs smaller versions of every kind of case a few times, so that the JIT has compiled the kernels (on a
     * 2-core machine its compiler threads would otherwise compete with the first timed runs).
     */
    private static void warmUp(CpuBackend cpu) {
        List<Case> small = List.of(linear(256, 1024, 1024, DType.F32), linear(256, 1024, 1024, DType.BF16),
                attention(256, 4, 64));
        for (Case c : small) {
            Runnable run = c.op().prepare(cpu);
            for (int i = 0; i < 20; i++) {
                run.run();
            }
        }
    }

    public static void main(String[] args) throws IOException {
        int[] threads = {1, 2};
        boolean quick = false;
        Path out = null;
        double minSeconds = 2;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads" -> threads = java.util.Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt)
                        .toArray();
                case "--quick" -> quick = true;
                case "--out" -> out = Path.of(args[++i]);
                case "--min-seconds" -> minSeconds = Double.parseDouble(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + " (use --threads 1,2 --quick --out FILE --min-seconds S)");
            }
        }
        StringBuilder tsv = new StringBuilder();
        PrintStream o = System.out;
        for (int t : threads) {
            try (CpuBackend cpu = new CpuBackend(t)) {
                warmUp(cpu);
                for (Case c : cases(quick)) {
                    Runnable run = c.op().prepare(cpu);
                    double s = bestSeconds(run, minSeconds);
                    double gflops = c.flop() / s * 1e-9;
                    tsv.append(String.format(Locale.ROOT, "%s\t%d\t%.2f\t%.2f", c.name(), t, gflops, s * 1e3))
                            .append('\n');
                    o.printf(Locale.ROOT, "%-40s threads=%d  %8.1f GFLOP/s  (%.1f ms)%n", c.name(), t, gflops, s * 1e3);
                }
            }
        }
        if (out != null) {
            Files.writeString(out, tsv);
        }
    }
}
