package dev.likeness.bench;

import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.image.RgbImage;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The harness of the GPU pipeline check, run here on two CPU backends (1 and 2 threads: deterministic, so equal). */
class PipelineDeviceCheckTest {
    @Test
    void twoCpuBackendsGiveTheSameImages() {
        PipelineDeviceCheck.Outcome o;
        try (CpuBackend one = new CpuBackend(1); CpuBackend two = new CpuBackend(2)) {
            o = PipelineDeviceCheck.run(one, two, "cpu", "f32", 32, 2, 0);
        }
        assertEquals(0.0, o.relRms(), o.json());
        assertEquals(0, o.maxPixelDiff(), o.json());
        assertTrue(o.pass(), o.json());
        assertTrue(o.json().startsWith("{\"check\":\"pipeline_device\"") && o.json().contains("\"pass\":true"), o.json());
    }

    @Test
    void differencesBeyondTheToleranceOrNonFiniteValuesFail() {
        float[] ref = {0.5f, -0.25f, 0.75f};
        RgbImage img = new RgbImage(1, 1, new byte[] {10, 20, 30});
        RgbImage off = new RgbImage(1, 1, new byte[] {10, 23, 30});
        PipelineDeviceCheck.Outcome close = PipelineDeviceCheck.compare(ref, new float[] {0.5f, -0.25f, 0.7501f}, img,
                img, "cuda", "f32", 16, 1, 0, 0, 1e-3);
        assertTrue(close.pass(), close.json());
        PipelineDeviceCheck.Outcome far = PipelineDeviceCheck.compare(ref, new float[] {0.5f, -0.2f, 0.75f}, img, off,
                "cuda", "f32", 16, 1, 0, 0, 1e-3);
        assertFalse(far.pass(), far.json());
        assertEquals(3, far.maxPixelDiff());
        PipelineDeviceCheck.Outcome nan = PipelineDeviceCheck.compare(ref, new float[] {0.5f, Float.NaN, 0.75f}, img,
                img, "cuda", "f32", 16, 1, 0, 0, 1e9);
        assertFalse(nan.pass(), nan.json());
    }
}
