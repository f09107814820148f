package dev.likeness.engine.ops;

import com.fasterxml.jackson.databind.JsonNode;
import dev.likeness.engine.Backend.Interpolation;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.golden.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.TreeMap;

import static dev.likeness.engine.ops.ConvTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * upsampleNearest and interpolate against torch's F.interpolate (golden set "resample": every mode x align_corners x
 * antialias on many size pairs), plus argument errors and thread/view invariances.
 */
class ResampleTest {
    private static final CpuBackend CPU = new CpuBackend(3);

    @AfterAll
    static void close() {
        CPU.close();
    }

    /** The case input, rebuilt as the view the case describes (permuted from NHWC, or every other column). */
    private static Tensor input(Golden.Case c) {
        if (c.has("x_nhwc")) {
            return c.tensor("x_nhwc").permute(0, 3, 1, 2);
        }
        if (c.has("x_wide")) {
            Tensor wide = c.tensor("x_wide");
            return wide.slice(3, 0, wide.size(3), 2);
        }
        return c.tensor("x");
    }

    @Test
    void nearestMatchesTorch() {
        int checked = 0;
        double worst = 0;
        for (Golden.Case c : Golden.load("upsample_nearest", CPU).cases()) {
            int[] size = c.ints("size");
            worst = Math.max(worst, c.check(CPU.upsampleNearest(input(c), size[0], size[1]), "out"));
            checked++;
        }
        System.out.println("upsample_nearest: " + checked + " golden cases, worst relative error " + worst);
        assertTrue(checked >= 11, "expected every nearest golden case, got " + checked);
    }

    @Test
    void interpolateMatchesTorchInEveryMode() {
        int checked = 0;
        TreeMap<String, Double> worst = new TreeMap<>();
        for (Golden.Case c : Golden.load("interpolate", CPU).cases()) {
            int[] size = c.ints("size");
            Tensor x = input(c);
            for (JsonNode v : c.params().get("variants")) {
                String variant = v.asText();
                String[] parts = variant.split("_");
                Interpolation mode = Interpolation.valueOf(parts[0].toUpperCase());
                boolean alignCorners = parts[1].equals("ac1");
                boolean antialias = parts[2].equals("aa1");
                double err = c.check(CPU.interpolate(x, size[0], size[1], mode, alignCorners, antialias), variant);
                worst.merge(variant + " " + c.params().get("precision").asText(), err, Math::max);
                checked++;
            }
        }
        System.out.println("interpolate: " + checked + " golden outputs, worst relative errors " + worst);
        assertEquals(8, worst.keySet().stream().filter(k -> k.endsWith("f32")).count(),
                "every mode x align_corners x antialias combination must be covered: " + worst.keySet());
        assertTrue(checked >= 100, "expected every interpolate golden output, got " + checked);
    }

    @Test
    void resultsDoNotDependOnThreadsOrStorage() {
        Random r = new Random(5);
        float[] data = new float[2 * 150 * 130];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) r.nextGaussian();
        }
        Tensor x = CPU.fromFloats(data, 1, 2, 150, 130);
        Tensor bf16 = CPU.to(x, DType.BF16);
        Tensor upcast = CPU.to(bf16, DType.F32);
        try (CpuBackend one = new CpuBackend(1); CpuBackend many = new CpuBackend(7)) {
            for (Interpolation mode : Interpolation.values()) {
                for (boolean aa : new boolean[] {false, true}) {
                    for (int[] size : new int[][] {{61, 47}, {301, 140}, {150, 33}}) {
                        float[] a = one.interpolate(x, size[0], size[1], mode, false, aa).toFloatArray();
                        float[] b = many.interpolate(x, size[0], size[1], mode, false, aa).toFloatArray();
                        assertArrayEquals(a, b, mode + " aa=" + aa + " threads");
                        assertArrayEquals(many.interpolate(upcast, size[0], size[1], mode, true, aa).toFloatArray(),
                                many.interpolate(bf16, size[0], size[1], mode, true, aa).toFloatArray(),
                                mode + " aa=" + aa + " bf16 storage");
                    }
                }
            }
            assertArrayEquals(one.upsampleNearest(x, 300, 260).toFloatArray(),
                    many.upsampleNearest(x, 300, 260).toFloatArray());
            assertArrayEquals(many.upsampleNearest(upcast, 77, 301).toFloatArray(),
                    many.upsampleNearest(bf16, 77, 301).toFloatArray());
        }
    }

    @Test
    void rejectsBadArgumentsWithClearMessages() {
        Tensor x = CPU.zeros(DType.F32, 1, 2, 4, 5);
        assertMessage(() -> CPU.upsampleNearest(CPU.zeros(DType.F32, 2, 4, 5), 8, 10), "4-D", "[2, 4, 5]");
        assertMessage(() -> CPU.upsampleNearest(x, 0, 10), "must be positive", "[1, 2, 4, 5]", "(0, 10)");
        assertMessage(() -> CPU.interpolate(CPU.zeros(DType.F32, 4, 5), 8, 10, Interpolation.BILINEAR, false, false),
                "4-D", "[4, 5]");
        assertMessage(() -> CPU.interpolate(x, 3, -1, Interpolation.BICUBIC, false, true), "must be positive",
                "(3, -1)");
        assertMessage(() -> CPU.interpolate(CPU.zeros(DType.F32, 1, 2, 0, 5), 3, 3, Interpolation.BICUBIC, false,
                false), "must be positive", "[1, 2, 0, 5]");
        assertMessage(() -> CPU.interpolate(x, 3, 3, null, false, false), "mode");
        assertMessage(() -> CPU.upsampleNearest(CPU.fromInts(new int[40], 1, 2, 4, 5), 8, 10), "floating-point");
    }
}
