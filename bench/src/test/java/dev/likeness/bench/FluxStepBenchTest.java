package dev.likeness.bench;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.models.FluxTransformer;
import dev.likeness.models.InstantCharacterAdapter;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The FLUX step benchmark's harness, run on the CPU backend with the tiny configuration (the same weight source,
 * inputs, forward, timing and JSON as the GPU run), and its GPU path: without a GPU it must fail with the one "no GPU"
 * line; with one, the tiny model computed in f32 on the GPU must give the CPU's output.
 */
class FluxStepBenchTest {

    /** Exit status, stdout and stderr of one run. */
    private record Run(int status, String out, String err) {
        String field(String name) {
            Matcher m = Pattern.compile("\"" + name + "\":(\"[^\"]*\"|\\[[^]]*]|[^,}]+)").matcher(out);
            assertTrue(m.find(), "no field " + name + " in " + out);
            return m.group(1);
        }

        double number(String name) {
            return Double.parseDouble(field(name));
        }
    }

    private static Run run(String... args) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            status = FluxStepBench.run(args, o, e);
        }
        return new Run(status, out.toString(StandardCharsets.UTF_8).strip(), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void cpuTinyRunPrintsOneJsonLineWithTheTimedSteps() throws IOException {
        Run r = run("--backend", "cpu", "--tiny", "--steps", "3", "--warmup", "1", "--threads", "1");
        assertEquals(0, r.status(), r.err());
        assertEquals(1, r.out().lines().count(), r.out());
        assertTrue(r.out().startsWith("{") && r.out().endsWith("}"), r.out());
        assertEquals("\"flux_step\"", r.field("bench"));
        assertEquals("\"tiny\"", r.field("config"));
        assertEquals("3", r.field("steps"));
        assertEquals("64", r.field("image_tokens"));
        assertEquals("16", r.field("text_tokens"));
        // diffusers' FluxTransformer2DModel of the same config has 131,920 parameters: every one was made, once
        assertEquals(131920, r.number("params"));
        assertEquals("true", r.field("finite"));
        assertTrue(r.number("median_ms") > 0);
        assertTrue(r.number("out_mean_abs") > 1e-6, r.out());
        assertEquals("null", r.field("device_used_peak_gib"));
        String times = r.field("step_ms");
        assertEquals(3, times.split(",").length, times);
    }

    @Test
    void cpuTinyRunWithTheAdapterTimesBothSteps() throws IOException {
        Run r = run("--backend", "cpu", "--tiny", "--adapter", "--steps", "2", "--warmup", "1", "--threads", "1");
        assertEquals(0, r.status(), r.err());
        assertEquals(1, r.out().lines().count(), r.out());
        assertEquals("true", r.field("adapter"));
        // the plain FLUX step is still there and is the same computation as without --adapter
        assertEquals(131920, r.number("params"));
        Run plain = run("--backend", "cpu", "--tiny", "--steps", "1", "--warmup", "0", "--threads", "1");
        assertEquals("false", plain.field("adapter"));
        assertEquals(plain.number("out_sum"), r.number("out_sum"));
        // the tiny adapter's every parameter made once: 132,936 (counted by hand from TINY_ADAPTER's shapes)
        assertEquals(132936, r.number("adapter_params"));
        assertEquals("16", r.field("subject_tokens"));
        assertEquals("9", r.field("subject_view_tokens"));
        assertEquals(1.0, r.number("adapter_scale"));
        assertEquals("true", r.field("adapter_finite"));
        assertTrue(r.number("adapter_weights_gib") > 0, r.out());
        assertTrue(r.number("adapter_features_ms") > 0, r.out());
        assertTrue(r.number("adapter_median_ms") > 0, r.out());
        assertEquals(2, r.field("adapter_step_ms").split(",").length, r.out());
        assertTrue(r.number("adapter_tflop_per_step") > r.number("tflop_per_step"), r.out());
        // the subject attention changes the output: mean |FLUX+adapter − FLUX| is not 0, and not everything
        double delta = r.number("adapter_delta_mean_abs");
        assertTrue(delta > 1e-3 * r.number("out_mean_abs") && delta < r.number("out_mean_abs"), r.out());
        assertNotEquals(r.number("out_sum"), r.number("adapter_out_sum"), r.out());
    }

    @Test
    void adapterWithFp8Weights() throws IOException {
        Run r = run("--backend", "cpu", "--tiny", "--adapter", "--weights", "fp8", "--steps", "1", "--warmup", "0");
        assertEquals(0, r.status(), r.err());
        assertEquals("true", r.field("adapter_finite"));
        double bf16 = run("--backend", "cpu", "--tiny", "--adapter", "--steps", "1", "--warmup", "0")
                .number("adapter_weights_gib");
        assertTrue(r.number("adapter_weights_gib") < bf16, r.out());
    }

    @Test
    void sameSeedSameOutputOtherSeedOtherOutput() throws IOException {
        double a = run("--backend", "cpu", "--tiny", "--steps", "1", "--warmup", "0", "--seed", "7").number("out_sum");
        double b = run("--backend", "cpu", "--tiny", "--steps", "1", "--warmup", "0", "--seed", "7").number("out_sum");
        double c = run("--backend", "cpu", "--tiny", "--steps", "1", "--warmup", "0", "--seed", "8").number("out_sum");
        assertEquals(a, b);
        assertNotEquals(a, c);
    }

    @Test
    void fp8WeightsRunWithPerChannelScales() throws IOException {
        Run r = run("--backend", "cpu", "--tiny", "--weights", "fp8", "--steps", "1", "--warmup", "0");
        assertEquals(0, r.status(), r.err());
        assertEquals("\"fp8_e4m3\"", r.field("weights"));
        assertEquals("true", r.field("finite"));
        // one byte per Linear weight element plus 4-byte row scales: under the bf16 run's bytes
        double bf16 = run("--backend", "cpu", "--tiny", "--steps", "1", "--warmup", "0").number("weights_gib");
        assertTrue(r.number("weights_gib") < bf16, r.out());
    }

    @Test
    void gpuRunFailsWithOneNoGpuLineOrMatchesTheCpu() throws IOException {
        Run gpu = run("--backend", "cuda", "--tiny", "--adapter", "--compute", "f32", "--steps", "1", "--warmup", "1");
        if (gpu.status() == FluxStepBench.NO_DEVICE) {
            assertEquals("", gpu.out());
            assertEquals(1, gpu.err().strip().lines().count(), gpu.err());
            assertTrue(gpu.err().startsWith("FluxStepBench: no GPU: "), gpu.err());
            System.out.println("[no GPU] FluxStepBenchTest GPU comparison skipped: " + gpu.err().strip());
            Assumptions.abort("no GPU: " + gpu.err().strip());
        }
        assertEquals(0, gpu.status(), gpu.err());
        Run cpu = run("--backend", "cpu", "--tiny", "--adapter", "--steps", "1", "--warmup", "0");
        for (String prefix : new String[] {"", "adapter_"}) {
            double ref = cpu.number(prefix + "out_mean_abs");
            assertEquals(ref, gpu.number(prefix + "out_mean_abs"), 1e-4 * ref, gpu.out() + " vs " + cpu.out());
            assertEquals(cpu.number(prefix + "out_sum"), gpu.number(prefix + "out_sum"), 1e-3 * ref * 64 * 16,
                    gpu.out() + " vs " + cpu.out());
        }
        // what the adapter adds, on its own: the same on both within f32 rounding
        double delta = cpu.number("adapter_delta_mean_abs");
        assertEquals(delta, gpu.number("adapter_delta_mean_abs"), 1e-3 * delta, gpu.out() + " vs " + cpu.out());
    }

    @Test
    void badArgumentsAreRejectedWithTheirName() throws IOException {
        Run r = run("--steps", "0");
        assertEquals(64, r.status());
        assertTrue(r.err().contains("--steps"), r.err());
        r = run("--backend", "cpu", "--compute", "bf16");
        assertEquals(64, r.status());
        assertTrue(r.err().contains("f32"), r.err());
        r = run("--frobnicate", "1");
        assertEquals(64, r.status());
        assertTrue(r.err().contains("--frobnicate"), r.err());
    }

    @Test
    void fullConfigurationHasFluxDevShapes() {
        // every parameter as a broadcast view of one element: the shapes are checked, nothing is allocated
        try (CpuBackend cpu = new CpuBackend(1)) {
            Tensor one = cpu.zeros(DType.BF16, 1, 1);
            long[] count = {0};
            Set<String> seen = new HashSet<>();
            FluxTransformer.create(FluxStepBench.FLUX_DEV, cpu, (key, shape) -> {
                if (seen.add(key)) { // norm_out.linear is asked for twice (its scale and shift halves)
                    count[0] += Tensor.numel(shape);
                }
                return shape.length == 2 ? one.expand(shape) : one.view(1).expand(shape);
            });
            // diffusers FluxTransformer2DModel with FLUX.1-dev's config.json: 11,901,408,320 parameters
            assertEquals(11_901_408_320L, count[0]);
        }
        double tflop = FluxStepBench.flopPerStep(FluxStepBench.FLUX_DEV, 4096, 512) * 1e-12;
        assertEquals(74.4, tflop, 0.5);
        assertEquals(64, FluxStepBench.gridRows(4096));
        assertEquals(32, FluxStepBench.gridRows(32 * 48));
    }

    /** A filler whose tensors are broadcast views of one element: shapes and rules checked, nothing allocated. */
    private static FluxStepBench.Filler views(CpuBackend cpu) {
        return new FluxStepBench.Filler() {
            @Override
            public Tensor synthetic(String name, DType dtype, double scale, double offset, int... shape) {
                int[] ones = new int[shape.length];
                java.util.Arrays.fill(ones, 1);
                return cpu.zeros(dtype, ones).expand(shape);
            }

            @Override
            public Tensor constant(float value, int... shape) {
                return synthetic("constant", DType.F32, 0, value, shape);
            }
        };
    }

    @Test
    void fullAdapterHasThePublishedShapes() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            for (DType weights : new DType[] {DType.BF16, DType.F8_E4M3}) {
                FluxStepBench.SyntheticParameters params = new FluxStepBench.SyntheticParameters(views(cpu), weights);
                InstantCharacterAdapter adapter = InstantCharacterAdapter.create(FluxStepBench.ADAPTER, cpu, params);
                adapter.requireCompatible(FluxStepBench.FLUX_DEV);
                // the published instantcharacter_ip-adapter.bin (image_proj + ip_adapter): 2,794,932,864 parameters
                assertEquals(2_794_932_864L, params.count(), weights.toString());
            }
        }
        // the tiny adapter fits the tiny transformer
        try (CpuBackend cpu = new CpuBackend(1)) {
            InstantCharacterAdapter.create(FluxStepBench.TINY_ADAPTER, cpu,
                            new FluxStepBench.SyntheticParameters(views(cpu), DType.BF16))
                    .requireCompatible(FluxStepBench.TINY);
        }
        // the resampler and the 57 processors' keys, values and attention at 4096 image tokens, H of 2 × 729 tokens
        double tflop = FluxStepBench.adapterFlopPerStep(FluxStepBench.ADAPTER, 4096, 2 * 729) * 1e-12;
        assertEquals(6.15, tflop, 0.02);
    }
}
