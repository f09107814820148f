package dev.likeness.models.scheduler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Schedules and steps against diffusers 0.33.1 ({@code tools/reference/goldens/models_scheduler.py}): sigmas,
 * timesteps and mu must be identical, step results identical in f32 and bf16.
 */
class FlowMatchEulerSchedulerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final CpuBackend BACKEND = new CpuBackend(1);

    @AfterAll
    static void close() {
        BACKEND.close();
    }

    private static Path resource(String name) {
        URL url = FlowMatchEulerSchedulerTest.class.getResource("/golden/scheduler/" + name);
        if (url == null) {
            fail("golden/scheduler/" + name + " is missing: run tools/reference/run.sh scheduler");
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static FlowMatchEulerScheduler scheduler(String config) {
        return FlowMatchEulerScheduler.fromConfig(resource(config + "/scheduler_config.json"));
    }

    /** The cases of a golden file: its metadata key "cases" maps each case name to its parameters. */
    private static List<Map.Entry<String, JsonNode>> cases(SafetensorsFile golden) {
        String json = golden.metadata().get("cases");
        if (json == null) {
            fail(golden.path() + " has no \"cases\" metadata: run tools/reference/run.sh scheduler");
        }
        try {
            List<Map.Entry<String, JsonNode>> out = new ArrayList<>(JSON.readTree(json).properties());
            if (out.isEmpty()) {
                fail(golden.path() + " has no cases");
            }
            return out;
        } catch (IOException e) {
            throw new IllegalStateException(golden.path() + ": bad \"cases\" metadata", e);
        }
    }

    @TestFactory
    List<DynamicTest> schedulesMatchDiffusers() {
        SafetensorsFile golden = SafetensorsFile.open(resource("schedules.safetensors"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : cases(golden)) {
            JsonNode p = c.getValue();
            tests.add(DynamicTest.dynamicTest(c.getKey(), () -> {
                FlowMatchEulerScheduler s = scheduler(p.get("config").asText());
                int h = p.get("height").asInt();
                int w = p.get("width").asInt();
                assertEquals(p.get("mu").asDouble(), s.mu(FlowMatchEulerScheduler.imageSeqLen(h, w)), 0.0, "mu");
                FlowMatchEulerScheduler.Schedule schedule = s.fluxSchedule(p.get("steps").asInt(), h, w);
                assertArrayEquals(golden.tensor(c.getKey() + "/sigmas", BACKEND).toFloatArray(), schedule.sigmas(),
                        "sigmas");
                assertArrayEquals(golden.tensor(c.getKey() + "/timesteps", BACKEND).toFloatArray(),
                        schedule.timesteps(), "timesteps");
            }));
        }
        assertTrue(tests.size() >= 200, "expected the 200 FLUX schedules and more, found " + tests.size());
        return tests;
    }

    @TestFactory
    List<DynamicTest> stepsMatchDiffusers() {
        SafetensorsFile golden = SafetensorsFile.open(resource("steps.safetensors"));
        List<DynamicTest> tests = new ArrayList<>();
        for (Map.Entry<String, JsonNode> c : cases(golden)) {
            JsonNode p = c.getValue();
            tests.add(DynamicTest.dynamicTest(c.getKey(), () -> {
                FlowMatchEulerScheduler.Schedule schedule = scheduler(p.get("config").asText())
                        .fluxSchedule(p.get("steps").asInt(), p.get("height").asInt(), p.get("width").asInt());
                Tensor sample = golden.tensor(c.getKey() + "/sample", BACKEND);
                Tensor v = golden.tensor(c.getKey() + "/model_output", BACKEND);
                Tensor ref = golden.tensor(c.getKey() + "/out", BACKEND);
                Tensor out = schedule.step(BACKEND, p.get("index").asInt(), sample, v);
                assertEquals(ref.dtype(), out.dtype(), "dtype");
                assertArrayEquals(ref.shape(), out.shape(), "shape");
                float[] a = out.toFloatArray();
                float[] r = ref.toFloatArray();
                double num = 0;
                double den = 0;
                for (int k = 0; k < a.length; k++) {
                    num += ((double) a[k] - r[k]) * ((double) a[k] - r[k]);
                    den += (double) r[k] * r[k];
                }
                assertArrayEquals(r, a, "step " + c.getKey() + ": relative L2 error " + Math.sqrt(num / den));
            }));
        }
        return tests;
    }

    @Test
    void fluxConfigFileEqualsBuiltInDefaults() {
        assertEquals(FlowMatchEulerScheduler.Config.flux(), scheduler("flux").config());
        // research notes: mu = 1.15 at 1024², 28 steps start 1.0, 0.988409, ... 0.104721, 0
        FlowMatchEulerScheduler flux = new FlowMatchEulerScheduler(FlowMatchEulerScheduler.Config.flux());
        assertEquals(1.15, flux.mu(4096), 1e-15);
        float[] s = flux.fluxSchedule(28, 1024, 1024).sigmas();
        assertEquals(0.988409f, s[1], 1e-6f);
        assertEquals(0.104721f, s[27], 1e-6f);
        assertEquals(0f, s[28]);
    }

    @Test
    void linspaceIsNumpys() {
        assertArrayEquals(new double[]{1.0}, FlowMatchEulerScheduler.linspace(1.0, 1.0, 1));
        double[] y = FlowMatchEulerScheduler.linspace(1.0, 1.0 / 3, 3);
        assertArrayEquals(new double[]{1.0, 1.0 + (1.0 / 3 - 1.0) / 2, 1.0 / 3}, y);
    }

    @Test
    void badInputsAreRefused(@TempDir Path dir) throws IOException {
        Path karras = dir.resolve("scheduler_config.json");
        Files.writeString(karras, "{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"use_karras_sigmas\": true}");
        var e = assertThrows(IllegalArgumentException.class, () -> FlowMatchEulerScheduler.fromConfig(karras));
        assertTrue(e.getMessage().contains("use_karras_sigmas") && e.getMessage().contains(karras.toString()),
                e.getMessage());
        Files.writeString(karras, "{\"_class_name\": \"EulerDiscreteScheduler\"}");
        e = assertThrows(IllegalArgumentException.class, () -> FlowMatchEulerScheduler.fromConfig(karras));
        assertTrue(e.getMessage().contains("EulerDiscreteScheduler"), e.getMessage());

        FlowMatchEulerScheduler.Schedule s = scheduler("flux").fluxSchedule(4, 512, 512);
        Tensor x = BACKEND.fromFloats(new float[4], 4);
        assertThrows(IllegalArgumentException.class, () -> s.step(BACKEND, 4, x, x));
        assertThrows(IllegalArgumentException.class, () -> s.step(BACKEND, 0, x, BACKEND.to(x, DType.F8_E4M3)));
        assertThrows(IllegalArgumentException.class, () -> scheduler("flux").fluxSchedule(0, 512, 512));
        assertTrue(Arrays.equals(s.sigmas(), scheduler("flux").fluxSchedule(4, 512, 512).sigmas()));
    }
}
