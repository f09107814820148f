package dev.likeness.bench;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cuda.CudaBackend;
import dev.likeness.engine.cuda.CudaFill;
import dev.likeness.engine.cuda.CudaUnavailableException;
import dev.likeness.models.FluxTransformer;
import dev.likeness.models.InstantCharacterAdapter;
import dev.likeness.models.SyntheticWeights;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * One FLUX.1-dev transformer step (one {@code FluxTransformer.forward}), timed: the full-size architecture (3072 wide,
 * 24 heads × 128, 19 double-stream + 38 single-stream blocks, guidance embedder; 11.9 B parameters) with synthetic
 * weights generated where the backend computes ({@link CudaFill} on a GPU, so the 24 GB of bf16 weights never touch
 * the host), at 4096 image tokens (a 1024×1024 image) and 512 T5 tokens, batch 1, as {@code bench/gpu/diffusers_step.py}
 * runs diffusers.
 *
 * <p>Weights: every Linear's weight is uniform over 256 levels in about ±1/√fan_in ({@link SyntheticWeights}' draws,
 * per tensor name), biases ±0.02, norm weights 1 ± 1/16, so activations stay finite through the 57 blocks; the
 * inputs are uniform in ±1. With {@code --weights fp8} the Linear weights are stored as f8_e4m3 (the draws k/128)
 * with a per-output-channel f32 scale (≈1/√fan_in), the engine's fp8 weight format; biases and norms stay bf16.
 *
 * <p>Timing: {@code --warmup} steps (default 2; kernel compilation, cuBLASLt heuristics and the memory pool's growth
 * happen there), then {@code --steps} timed steps, each ended by a device synchronization; the median counts.
 * Memory: the device's used memory (total − free, {@code cuMemGetInfo}) before the model, after the weights, and its
 * maximum over the steps (the stream-ordered pool keeps what a step needed, so after a step it still shows the
 * step's peak). The output of the last step is read back and must be finite.
 *
 * <p>Prints one JSON line on stdout (also written to {@code --out FILE}). Without a GPU, {@code --backend cuda}
 * (the default) fails with one line, "FluxStepBench: no GPU: reason", exit status 2. {@code --backend cpu --tiny}
 * runs the same code (weight source, inputs, forward, timing, JSON) on the CPU backend with a small configuration,
 * so the harness is testable anywhere; {@code --tiny} on the GPU with {@code --compute f32} gives the same output
 * sum as on the CPU up to f32 rounding, which {@code bench/gpu/run.sh} checks.
 *
 * <p>With {@code --adapter} the run also builds the InstantCharacter adapter ({@link InstantCharacterAdapter}, the
 * published architecture: 2.79 B parameters, synthetic weights by the same rules, fp8 Linear weights with
 * {@code --weights fp8} like the transformer's) and, after the plain steps, times the step as
 * {@code InstantCharacterPipeline} runs it: the timestep-dependent resampler producing the 1024 subject tokens
 * ({@link InstantCharacterAdapter#subjectTokens}), then the transformer with the 57 IP-attention processors at scale 1
 * ({@link InstantCharacterAdapter#attentionHook}). The timestep-free half ({@link InstantCharacterAdapter#features}),
 * which the pipeline computes once per request, is computed before the timing from synthetic inputs of the shapes
 * SigLIP + DINOv2 give it (729 tokens per 384² view, 1152 + 1536 = 2688 channels: 3 × 729 shallow tokens, 729 deep
 * tokens, 4 × 729 tile tokens), uniform in ±1; its own time (one call after a first, warm-up call) is reported as
 * well. The plain step ({@code median_ms}) stays the number compared with diffusers; the adapter step is
 * {@code adapter_median_ms}.
 *
 * <p>Usage: {@code FluxStepBench [--backend cuda|cpu] [--tiny] [--adapter] [--weights bf16|fp8|f32]
 * [--compute bf16|f32] [--steps 10] [--warmup 2] [--image-tokens 4096] [--text-tokens 512] [--seed 1] [--threads N]
 * [--out FILE]}.
 */
public final class FluxStepBench {
    /** FLUX.1-dev's {@code transformer/config.json}. */
    static final FluxTransformer.Config FLUX_DEV = new FluxTransformer.Config(64, 64, 19, 38, 128, 24, 4096, 768,
            true, new int[] {16, 56, 56});
    /** A small configuration with every kind of layer, for CPU runs of the harness. */
    static final FluxTransformer.Config TINY = new FluxTransformer.Config(16, 16, 2, 2, 16, 2, 32, 24, true,
            new int[] {4, 6, 6});

    /** The InstantCharacter adapter as the reference pipeline builds it for FLUX.1-dev. */
    static final InstantCharacterAdapter.Config ADAPTER = InstantCharacterAdapter.Config.PUBLISHED;
    /**
     * A small adapter with every kind of layer that fits {@link #TINY}: 4 processors of width 32 in 2 heads of 16, 16
     * subject tokens of width 24, a projector 32 wide (2 heads × 16, 2 blocks per branch), a resampler 32 wide
     * (2 layers, 2 heads × 16).
     */
    static final InstantCharacterAdapter.Config TINY_ADAPTER = new InstantCharacterAdapter.Config(32, 2, 16, 32, 2,
            32, 2, 16, 2, 16, 32, 24, 2, 32, true, 0, 32, 24, 16, 4);
    /** SigLIP and DINOv2 tokens per 384² view (27 × 27 patches of 14 pixels; DINOv2's class token dropped). */
    static final int SUBJECT_VIEW_TOKENS = 729;
    /** The same for the tiny run. */
    static final int TINY_SUBJECT_VIEW_TOKENS = 9;
    /** The adapter timestep of the timed step: the transformer's t = 0.5 on the scheduler's 0..1000 scale. */
    static final float ADAPTER_TIMESTEP = 500f;
    /** The subject scale of the timed step. */
    static final float ADAPTER_SCALE = 1f;

    private static final double GIB = 1024.0 * 1024 * 1024;

    /** Exit status when the requested backend is not available (no GPU). */
    static final int NO_DEVICE = 2;

    private FluxStepBench() {
    }

    /** The parsed command line. */
    record Options(String backend, boolean tiny, boolean adapter, DType weights, DType compute, int steps, int warmup,
                   int imageTokens, int textTokens, int seed, int threads, Path out) {

        static Options parse(String[] args) {
            String backend = "cuda";
            boolean tiny = false;
            boolean adapter = false;
            DType weights = DType.BF16;
            DType compute = null;
            int steps = 10;
            int warmup = 2;
            Integer imageTokens = null;
            Integer textTokens = null;
            int seed = 1;
            int threads = Runtime.getRuntime().availableProcessors();
            Path out = null;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--tiny")) {
                    tiny = true;
                    continue;
                }
                if (a.equals("--adapter")) {
                    adapter = true;
                    continue;
                }
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(a + " needs a value (" + USAGE + ")");
                }
                String v = args[++i];
                switch (a) {
                    case "--backend" -> backend = switch (v) {
                        case "cuda", "cpu" -> v;
                        default -> throw new IllegalArgumentException("--backend must be cuda or cpu, got " + v);
                    };
                    case "--weights" -> weights = switch (v) {
                        case "bf16" -> DType.BF16;
                        case "fp8" -> DType.F8_E4M3;
                        case "f32" -> DType.F32;
                        default -> throw new IllegalArgumentException("--weights must be bf16, fp8 or f32, got " + v);
                    };
                    case "--compute" -> compute = switch (v) {
                        case "bf16" -> DType.BF16;
                        case "f32" -> DType.F32;
                        default -> throw new IllegalArgumentException("--compute must be bf16 or f32, got " + v);
                    };
                    case "--steps" -> steps = positive(a, v);
                    case "--warmup" -> warmup = nonNegative(a, v);
                    case "--image-tokens" -> imageTokens = positive(a, v);
                    case "--text-tokens" -> textTokens = positive(a, v);
                    case "--seed" -> seed = Integer.parseInt(v);
                    case "--threads" -> threads = positive(a, v);
                    case "--out" -> out = Path.of(v);
                    default -> throw new IllegalArgumentException("unknown argument " + a + " (" + USAGE + ")");
                }
            }
            if (backend.equals("cpu") && compute == DType.BF16) {
                throw new IllegalArgumentException("the CPU backend computes in f32 (--compute bf16 is for cuda)");
            }
            compute = compute != null ? compute : backend.equals("cpu") ? DType.F32 : DType.BF16;
            return new Options(backend, tiny, adapter, weights, compute, steps, warmup,
                    imageTokens != null ? imageTokens : tiny ? 64 : 4096,
                    textTokens != null ? textTokens : tiny ? 16 : 512, seed, threads, out);
        }

        FluxTransformer.Config config() {
            return tiny ? TINY : FLUX_DEV;
        }

        InstantCharacterAdapter.Config adapterConfig() {
            return tiny ? TINY_ADAPTER : ADAPTER;
        }

        int subjectViewTokens() {
            return tiny ? TINY_SUBJECT_VIEW_TOKENS : SUBJECT_VIEW_TOKENS;
        }
    }

    static final String USAGE = "usage: FluxStepBench [--backend cuda|cpu] [--tiny] [--adapter] "
            + "[--weights bf16|fp8|f32] [--compute bf16|f32] [--steps N] [--warmup N] [--image-tokens N] "
            + "[--text-tokens N] [--seed N] [--threads N] [--out FILE]";

    private static int positive(String name, String v) {
        int n = Integer.parseInt(v);
        if (n <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + v);
        }
        return n;
    }

    private static int nonNegative(String name, String v) {
        int n = Integer.parseInt(v);
        if (n < 0) {
            throw new IllegalArgumentException(name + " must be 0 or more, got " + v);
        }
        return n;
    }

    /**
     * Where synthetic tensors are made: on the GPU by {@link CudaFill}, on the CPU from {@link SyntheticWeights}; the
     * two give the same values.
     */
    interface Filler {
        /** {@code SyntheticWeights.values(name, n, scale, offset, seed)} as a tensor of {@code shape} in {@code dtype}. */
        Tensor synthetic(String name, DType dtype, double scale, double offset, int... shape);

        /** An f32 tensor of {@code shape} with every element {@code value}. */
        Tensor constant(float value, int... shape);

        static Filler cuda(CudaBackend gpu, int seed) {
            return new Filler() {
                @Override
                public Tensor synthetic(String name, DType dtype, double scale, double offset, int... shape) {
                    return CudaFill.synthetic(gpu, dtype, SyntheticWeights.streamSeed(name, seed),
                            (float) (scale / 128.0), (float) offset, shape);
                }

                @Override
                public Tensor constant(float value, int... shape) {
                    return CudaFill.constant(gpu, DType.F32, value, shape);
                }
            };
        }

        static Filler cpu(CpuBackend cpu, int seed) {
            return new Filler() {
                @Override
                public Tensor synthetic(String name, DType dtype, double scale, double offset, int... shape) {
                    Tensor t = cpu.fromFloats(SyntheticWeights.values(name, Tensor.numel(shape), scale, offset, seed),
                            shape);
                    return dtype == DType.F32 ? t : cpu.to(t, dtype);
                }

                @Override
                public Tensor constant(float value, int... shape) {
                    float[] v = new float[Math.toIntExact(Tensor.numel(shape))];
                    Arrays.fill(v, value);
                    return cpu.fromFloats(v, shape);
                }
            };
        }
    }

    /**
     * The transformer's or the adapter's parameters, each made once at its first request: Linear weights (rank 2)
     * ±1/√fan_in in {@code weights} (fp8: draws k/128 with a per-row scale 1/√fan_in), biases ±0.02, norm weights
     * (LayerNorm, RMS norm scales) 1 ± 1/16, and the adapter's learned latents [1, queries, dim] ±1/√dim in bf16 (f32
     * when the weights are f32).
     */
    static final class SyntheticParameters implements FluxTransformer.Parameters {
        private final Filler filler;
        private final DType weights;
        private final Map<String, Tensor> made = new HashMap<>();
        private long count;

        SyntheticParameters(Filler filler, DType weights) {
            this.filler = filler;
            this.weights = weights;
        }

        @Override
        public Tensor get(String key, int... shape) {
            Tensor t = made.get(key);
            if (t == null) {
                t = make(key, shape);
                made.put(key, t);
                count += t.numel();
            } else if (!Arrays.equals(t.shape(), shape)) {
                throw new IllegalArgumentException(key + " was made with shape " + Arrays.toString(t.shape())
                        + ", now asked for " + Arrays.toString(shape));
            }
            return t;
        }

        private Tensor make(String key, int[] shape) {
            DType small = weights == DType.F32 ? DType.F32 : DType.BF16;
            if (shape.length == 2) {
                double bound = 1 / Math.sqrt(shape[1]);
                if (weights == DType.F8_E4M3) {
                    Tensor q = filler.synthetic(key, DType.F8_E4M3, 1.0, 0.0, shape);
                    Tensor scale = filler.constant((float) bound, shape[0]);
                    return new Tensor(q.storage(), q.dtype(), q.shape(), q.strides(), q.offset(), scale);
                }
                return filler.synthetic(key, weights, bound, 0.0, shape);
            }
            if (shape.length == 1 && key.endsWith(".bias")) {
                return filler.synthetic(key, small, 0.02, 0.0, shape);
            }
            if (shape.length == 1) { // LayerNorm weights, RMS norm scales
                return filler.synthetic(key, small, 1.0 / 16, 1.0, shape);
            }
            if (shape.length == 3 && key.endsWith("latents")) { // the resampler's queries (randn / √dim)
                return filler.synthetic(key, small, 1 / Math.sqrt(shape[2]), 0.0, shape);
            }
            throw new IllegalArgumentException("no synthetic rule for " + key + " of shape " + Arrays.toString(shape));
        }

        /** Elements made so far. */
        long count() {
            return count;
        }

        /** Bytes of the tensors made so far, with the fp8 weights' f32 scales. */
        long bytes() {
            long b = 0;
            for (Tensor t : made.values()) {
                b += t.numel() * t.dtype().byteSize() + (t.scale() == null ? 0 : t.scale().numel() * 4);
            }
            return b;
        }
    }

    /** Floating-point operations of one step (matrix products and attention; the small vectors are left out). */
    static double flopPerStep(FluxTransformer.Config c, int imageTokens, int textTokens) {
        double d = c.innerDim();
        double m = c.mlpDim();
        double t = imageTokens + textTokens;
        // per token and block: q, k, v, out projections (4 d²) and the MLP (2 d m), as multiply-adds; the single
        // blocks' fused proj_out over [attention, mlp] is the same d² + d m
        double perBlock = 2 * t * (4 * d * d + 2 * d * m) + 4 * t * t * d;
        double embed = 2.0 * imageTokens * c.inChannels() * d + 2.0 * textTokens * c.jointAttentionDim() * d
                + 2.0 * imageTokens * d * c.outChannels();
        return (c.numLayers() + c.numSingleLayers()) * perBlock + embed;
    }

    /**
     * Floating-point operations the adapter adds to one step (matrix products and attention): the resampler over
     * {@code featureTokens} (H's 2 × 729) and its queries, and in each processor the subject tokens' keys and values
     * and the image tokens' attention to them. The timestep-free half is not counted (once per request).
     */
    static double adapterFlopPerStep(InstantCharacterAdapter.Config a, int imageTokens, int featureTokens) {
        double q = a.numQueries();
        double l = featureTokens;
        double dim = a.dim();
        double inner = (double) a.dimHead() * a.heads();
        double ff = (int) (a.dim() * a.ffMult());
        double resampler = 2 * l * a.embeddingDim() * dim + 2 * q * dim * a.outputDim()
                + a.depth() * (2 * q * dim * inner + 2 * (l + q) * dim * 2 * inner + 4 * q * (l + q) * inner
                + 2 * q * inner * dim + 4 * q * dim * ff);
        double processor = 4 * q * a.ipHiddenStatesDim() * a.ipHiddenSize() + 4.0 * imageTokens * q * a.ipHiddenSize();
        return resampler + a.numProcessors() * processor;
    }

    /** The adapter part of a run: its parameters and the timed FLUX + adapter steps. */
    record AdapterResult(long params, double weightsGiB, int subjectTokens, double featuresMs, double[] stepMs,
                         double flop, double outSum, double outMeanAbs, double deltaMeanAbs, boolean finite) {
    }

    /** The result of a run, written as one JSON line. */
    record Result(Options options, String device, long params, double weightsGiB, double[] stepMs, double flop,
                  Double usedBeforeGiB, Double usedAfterWeightsGiB, Double usedPeakGiB, Double totalGiB,
                  double outSum, double outMeanAbs, boolean finite, AdapterResult adapter) {

        double medianMs() {
            return median(stepMs);
        }

        /** Whether every output read back (the plain step's, and the adapter step's with --adapter) is finite. */
        boolean allFinite() {
            return finite && (adapter == null || adapter.finite());
        }

        String json() {
            Options o = options;
            StringBuilder b = new StringBuilder("{");
            field(b, "bench", str("flux_step"));
            field(b, "engine", str("likeness"));
            field(b, "backend", str(o.backend()));
            field(b, "device", str(device));
            field(b, "date", str(java.time.LocalDate.now(java.time.ZoneOffset.UTC).toString()));
            field(b, "config", str(o.tiny() ? "tiny" : "flux1-dev"));
            field(b, "weights", str(o.weights() == DType.F8_E4M3 ? "fp8_e4m3" : o.weights().name().toLowerCase(
                    Locale.ROOT)));
            field(b, "compute", str(o.compute().name().toLowerCase(Locale.ROOT)));
            field(b, "batch", "1");
            field(b, "image_tokens", String.valueOf(o.imageTokens()));
            field(b, "text_tokens", String.valueOf(o.textTokens()));
            field(b, "params", String.valueOf(params));
            field(b, "weights_gib", num(weightsGiB));
            field(b, "warmup", String.valueOf(o.warmup()));
            field(b, "steps", String.valueOf(stepMs.length));
            field(b, "median_ms", num(medianMs()));
            field(b, "min_ms", num(Arrays.stream(stepMs).min().orElseThrow()));
            field(b, "max_ms", num(Arrays.stream(stepMs).max().orElseThrow()));
            field(b, "step_ms", list(stepMs));
            field(b, "tflop_per_step", num(flop * 1e-12));
            field(b, "tflops", num(flop / (medianMs() * 1e-3) * 1e-12));
            field(b, "device_used_before_gib", num(usedBeforeGiB));
            field(b, "device_used_after_weights_gib", num(usedAfterWeightsGiB));
            field(b, "device_used_peak_gib", num(usedPeakGiB));
            field(b, "device_total_gib", num(totalGiB));
            field(b, "out_sum", num(outSum));
            field(b, "out_mean_abs", num(outMeanAbs));
            field(b, "finite", String.valueOf(finite));
            field(b, "adapter", String.valueOf(adapter != null));
            if (adapter != null) {
                AdapterResult a = adapter;
                double median = median(a.stepMs());
                field(b, "adapter_params", String.valueOf(a.params()));
                field(b, "adapter_weights_gib", num(a.weightsGiB()));
                field(b, "adapter_scale", num((double) ADAPTER_SCALE));
                field(b, "adapter_timestep", num((double) ADAPTER_TIMESTEP));
                field(b, "subject_view_tokens", String.valueOf(o.subjectViewTokens()));
                field(b, "subject_tokens", String.valueOf(a.subjectTokens()));
                field(b, "adapter_features_ms", num(a.featuresMs()));
                field(b, "adapter_median_ms", num(median));
                field(b, "adapter_min_ms", num(Arrays.stream(a.stepMs()).min().orElseThrow()));
                field(b, "adapter_max_ms", num(Arrays.stream(a.stepMs()).max().orElseThrow()));
                field(b, "adapter_step_ms", list(a.stepMs()));
                field(b, "adapter_tflop_per_step", num((flop + a.flop()) * 1e-12));
                field(b, "adapter_tflops", num((flop + a.flop()) / (median * 1e-3) * 1e-12));
                field(b, "adapter_out_sum", num(a.outSum()));
                field(b, "adapter_out_mean_abs", num(a.outMeanAbs()));
                field(b, "adapter_delta_mean_abs", num(a.deltaMeanAbs()));
                field(b, "adapter_finite", String.valueOf(a.finite()));
            }
            b.setLength(b.length() - 1);
            return b.append('}').toString();
        }

        private static String list(double[] values) {
            StringBuilder s = new StringBuilder("[");
            for (int i = 0; i < values.length; i++) {
                s.append(i == 0 ? "" : ",").append(num(values[i]));
            }
            return s.append(']').toString();
        }

        private static void field(StringBuilder b, String name, String value) {
            b.append('"').append(name).append("\":").append(value).append(',');
        }

        private static String str(String s) {
            return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
        }

        private static String num(Double v) {
            return v == null || !Double.isFinite(v) ? "null" : String.format(Locale.ROOT, "%.6g", v);
        }
    }

    /** Runs the benchmark; returns the process exit status (0, {@link #NO_DEVICE}, or 1 for a non-finite output). */
    static int run(String[] args, PrintStream out, PrintStream err) throws IOException {
        Options o;
        try {
            o = Options.parse(args);
        } catch (IllegalArgumentException e) {
            err.println("FluxStepBench: " + e.getMessage());
            return 64;
        }
        Result r;
        if (o.backend().equals("cuda")) {
            CudaBackend gpu;
            try {
                gpu = CudaBackend.open(0, o.compute());
            } catch (CudaUnavailableException e) {
                err.println("FluxStepBench: no GPU: " + e.getMessage());
                return NO_DEVICE;
            }
            try (gpu) {
                r = measure(o, gpu, Filler.cuda(gpu, o.seed()), gpu.gpuName(), gpu::synchronize, () -> {
                    long[] info = gpu.driver().memoryInfo();
                    return new long[] {info[1] - info[0], info[1]};
                });
            }
        } else {
            try (CpuBackend cpu = new CpuBackend(o.threads())) {
                r = measure(o, cpu, Filler.cpu(cpu, o.seed()), "cpu, " + o.threads() + " threads", () -> {
                }, null);
            }
        }
        String line = r.json();
        out.println(line);
        if (o.out() != null) {
            Files.writeString(o.out(), line + "\n");
        }
        if (!r.allFinite()) {
            err.println("FluxStepBench: the output has NaN or infinite values"
                    + (r.finite() ? " (with the adapter)" : ""));
            return 1;
        }
        return 0;
    }

    /** Used and total device bytes, or null where the backend has no device memory. */
    @FunctionalInterface
    interface MemoryProbe {
        long[] usedAndTotal();
    }

    private static Result measure(Options o, Backend backend, Filler filler, String device, Runnable sync,
                                  MemoryProbe memory) {
        FluxTransformer.Config c = o.config();
        sync.run();
        long[] before = memory == null ? null : memory.usedAndTotal();
        SyntheticParameters params = new SyntheticParameters(filler, o.weights());
        FluxTransformer model = FluxTransformer.create(c, backend, params);
        SyntheticParameters adapterParams = null;
        InstantCharacterAdapter adapter = null;
        if (o.adapter()) {
            adapterParams = new SyntheticParameters(filler, o.weights());
            adapter = InstantCharacterAdapter.create(o.adapterConfig(), backend, adapterParams);
            adapter.requireCompatible(c);
        }
        sync.run();
        long[] afterWeights = memory == null ? null : memory.usedAndTotal();

        // inputs: uniform ±1 in the compute dtype, FluxPipeline's ids, t = 0.5, guidance 3.5
        DType act = backend.computeDType();
        Tensor hidden = filler.synthetic("input.hidden_states", act, 1.0, 0.0, 1, o.imageTokens(), c.inChannels());
        Tensor text = filler.synthetic("input.encoder_hidden_states", act, 1.0, 0.0, 1, o.textTokens(),
                c.jointAttentionDim());
        Tensor pooled = filler.synthetic("input.pooled_projections", act, 1.0, 0.0, 1, c.pooledProjectionDim());
        Tensor timestep = backend.fromFloats(new float[] {0.5f}, 1);
        Tensor guidance = c.guidanceEmbeds() ? backend.fromFloats(new float[] {3.5f}, 1) : null;
        int rows = gridRows(o.imageTokens());
        Tensor imgIds = FluxTransformer.imageIds(backend, rows, o.imageTokens() / rows);
        Tensor txtIds = backend.zeros(DType.F32, o.textTokens(), c.axesDimsRope().length);

        long[] peakUsed = {afterWeights == null ? 0 : afterWeights[0]};
        Runnable probe = () -> {
            if (memory != null) {
                peakUsed[0] = Math.max(peakUsed[0], memory.usedAndTotal()[0]);
            }
        };
        Timed flux = time(o, sync, probe,
                () -> model.forward(hidden, text, pooled, timestep, guidance, imgIds, txtIds));

        Summary out = summarize(backend, flux.last());
        AdapterResult adapterResult = null;
        if (adapter != null) {
            InstantCharacterAdapter ip = adapter;
            InstantCharacterAdapter.Config a = o.adapterConfig();
            // the subject's SigLIP ⊕ DINOv2 features (encodeSubject's shapes), then H once, as once per request
            int n = o.subjectViewTokens();
            Tensor lowShallow = filler.synthetic("input.low_res_shallow", act, 1.0, 0.0, 1, 3 * n,
                    a.crossAttentionDim());
            Tensor lowDeep = filler.synthetic("input.low_res_deep", act, 1.0, 0.0, 1, n, a.innerDim());
            Tensor highDeep = filler.synthetic("input.high_res_deep", act, 1.0, 0.0, 1, 4 * n, a.crossAttentionDim());
            ip.features(lowShallow, lowDeep, highDeep); // warm-up: compilation, heuristics, pool growth
            sync.run();
            long t0 = System.nanoTime();
            Tensor features = ip.features(lowShallow, lowDeep, highDeep);
            sync.run();
            double featuresMs = (System.nanoTime() - t0) * 1e-6;
            probe.run();
            // each step as the pipeline runs it: E for this timestep, then FLUX with the processors
            Tensor adapterTimestep = backend.fromFloats(new float[] {ADAPTER_TIMESTEP}, 1);
            Timed withAdapter = time(o, sync, probe, () -> {
                Tensor subject = ip.subjectTokens(features, adapterTimestep);
                return model.forward(hidden, text, pooled, timestep, guidance, imgIds, txtIds,
                        ip.attentionHook(subject, ADAPTER_SCALE)).sample();
            });
            Summary adapted = summarize(backend, withAdapter.last());
            double delta = 0;
            for (int i = 0; i < adapted.values().length; i++) {
                delta += Math.abs(adapted.values()[i] - out.values()[i]);
            }
            adapterResult = new AdapterResult(adapterParams.count(), adapterParams.bytes() / GIB, a.numQueries(),
                    featuresMs, withAdapter.ms(), adapterFlopPerStep(a, o.imageTokens(), features.size(1)),
                    adapted.sum(), adapted.meanAbs(), delta / adapted.values().length, adapted.finite());
        }

        return new Result(o, device, params.count(), params.bytes() / GIB, flux.ms(), flopPerStep(c, o.imageTokens(),
                o.textTokens()), before == null ? null : before[0] / GIB,
                afterWeights == null ? null : afterWeights[0] / GIB, memory == null ? null : peakUsed[0] / GIB,
                before == null ? null : before[1] / GIB, out.sum(), out.meanAbs(), out.finite(), adapterResult);
    }

    /** The step times and the last step's output. */
    private record Timed(double[] ms, Tensor last) {
    }

    /**
     * {@code --warmup} untimed steps, then {@code --steps} steps each ended by {@code sync} and timed; {@code probe}
     * after each timed step (the memory peak).
     */
    private static Timed time(Options o, Runnable sync, Runnable probe, Supplier<Tensor> step) {
        Tensor sample = null;
        for (int i = 0; i < o.warmup(); i++) {
            sample = step.get();
            sync.run();
        }
        double[] ms = new double[o.steps()];
        for (int i = 0; i < o.steps(); i++) {
            sample = null; // the previous output may be collected during the step, as in a sampling loop
            long t0 = System.nanoTime();
            sample = step.get();
            sync.run();
            ms[i] = (System.nanoTime() - t0) * 1e-6;
            probe.run();
        }
        return new Timed(ms, sample);
    }

    /** An output read back: its values, sum, mean |x| and finiteness. */
    private record Summary(float[] values, double sum, double meanAbs, boolean finite) {
    }

    private static Summary summarize(Backend backend, Tensor t) {
        float[] v = backend.toFloatArray(t);
        double sum = 0;
        double abs = 0;
        boolean finite = true;
        for (float x : v) {
            finite &= Float.isFinite(x);
            sum += x;
            abs += Math.abs(x);
        }
        return new Summary(v, sum, abs / v.length, finite);
    }

    static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** The packed latent grid's rows: the largest divisor of {@code tokens} not above its square root (64 for 4096). */
    static int gridRows(int tokens) {
        int rows = (int) Math.floor(Math.sqrt(tokens));
        while (tokens % rows != 0) {
            rows--;
        }
        return rows;
    }

    public static void main(String[] args) throws IOException {
        System.exit(run(args, System.out, System.err));
    }
}
