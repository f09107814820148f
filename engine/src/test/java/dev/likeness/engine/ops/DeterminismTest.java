package dev.likeness.engine.ops;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Same inputs give the same bits, however warm the JIT is: every op the models use is called once "cold" (its kernels
 * still interpreted or C1-compiled), then thousands of times while C2 compiles the kernels, and every result must be
 * bitwise identical to the cold one. On 1 and 2 threads (whose results also agree with each other today, which the
 * product does not promise but this test records).
 *
 * <p>This test runs in its own fresh JVM (surefire execution {@code determinism} in engine/pom.xml, with
 * {@code -Xbatch} so that compiled code is in use as soon as it exists): in a JVM where other tests already warmed the
 * kernels, the first call would not be cold. It fails on kernels whose results depend on compilation, such as the
 * Vector API's {@code reduceLanes(ADD)} (summation order unspecified: sequential when interpreted, a tree when
 * intrinsified) or its transcendental {@code lanewise(EXP/TANH)} (Java fallback when interpreted, a native stub when
 * compiled).
 */
class DeterminismTest {
    /** Calls per op after the cold one; enough for C2 to compile every kernel (checked with -XX:+PrintCompilation). */
    private static final int HOT_CALLS = 2500;

    @Test
    void everyOpGivesTheSameBitsColdAndHot() {
        try (CpuBackend one = new CpuBackend(1); CpuBackend two = new CpuBackend(2)) {
            Map<String, Function<Backend, float[]>> ops = ops();
            List<String> names = new ArrayList<>();
            List<Function<Backend, float[]>> fns = new ArrayList<>();
            List<Backend> backends = new ArrayList<>();
            for (Backend b : List.of(one, two)) {
                for (Map.Entry<String, Function<Backend, float[]>> e : ops.entrySet()) {
                    names.add(e.getKey() + " @" + b.threads() + "t");
                    fns.add(e.getValue());
                    backends.add(b);
                }
            }
            // cold: every op once before any op runs twice
            int[][] cold = new int[names.size()][];
            for (int i = 0; i < cold.length; i++) {
                cold[i] = bits(fns.get(i).apply(backends.get(i)));
            }
            // not promised, but true today: no kernel's arithmetic depends on how the work is split
            List<String> threadDependent = new ArrayList<>();
            for (int i = 0; i < ops.size(); i++) {
                if (!Arrays.equals(cold[i], cold[i + ops.size()])) {
                    threadDependent.add(names.get(i));
                }
            }
            // hot: all ops round-robin, every result compared with the cold one
            Map<String, Integer> firstDiff = new LinkedHashMap<>();
            for (int call = 1; call <= HOT_CALLS; call++) {
                for (int i = 0; i < cold.length; i++) {
                    if (firstDiff.containsKey(names.get(i))) {
                        continue;
                    }
                    int[] hot = bits(fns.get(i).apply(backends.get(i)));
                    if (!Arrays.equals(cold[i], hot)) {
                        firstDiff.put(names.get(i), call + 1);
                    }
                }
            }
            if (!firstDiff.isEmpty()) {
                StringBuilder sb = new StringBuilder("results changed between the cold call and later calls:");
                firstDiff.forEach((n, c) -> sb.append("\n  ").append(n).append(": first differs on call ").append(c));
                fail(sb.toString());
            }
            assertTrue(threadDependent.isEmpty(), "1 and 2 threads give different bits: " + threadDependent);
            assertTrue(cold.length >= 2 * 40, "the op list covers every op the models use");
        }
    }

    private static int[] bits(float[] v) {
        int[] r = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = Float.floatToRawIntBits(v[i]);
        }
        return r;
    }

    private static float[] rand(Random r, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * scale);
        }
        return v;
    }

    /** Every op with fixed random inputs (sizes with vector tails), in a fixed order. */
    private static Map<String, Function<Backend, float[]>> ops() {
        Random r = new Random(20261123);
        Map<String, Function<Backend, float[]>> ops = new LinkedHashMap<>();
        // gemm: matrix-vector paths (1 row: one dot per output; 3 rows: four dots at once) and the blocked kernel
        float[] w = rand(r, 33 * 70, 0.2f);
        float[] bias = rand(r, 33, 0.5f);
        for (int m : new int[] {1, 3, 21}) {
            float[] x = rand(r, m * 70, 1f);
            ops.put("linear m=" + m, b -> out(b, b.linear(b.fromFloats(x, m, 70), b.fromFloats(w, 33, 70),
                    b.fromFloats(bias, 33))));
            ops.put("linear bf16 weight m=" + m, b -> out(b, b.linear(b.fromFloats(x, m, 70),
                    b.to(b.fromFloats(w, 33, 70), DType.BF16), null)));
        }
        float[] ma = rand(r, 2 * 9 * 37, 1f);
        float[] mb = rand(r, 2 * 37 * 11, 1f);
        ops.put("matmul", b -> out(b, b.matmul(b.fromFloats(ma, 2, 9, 37), b.fromFloats(mb, 2, 37, 11))));
        ops.put("matmul m=1", b -> out(b, b.matmul(b.fromFloats(ma, 2, 9, 37).narrow(1, 0, 1),
                b.fromFloats(mb, 2, 37, 11))));

        // attention: no mask, additive mask, boolean mask, explicit scale; 70 keys (a full key block and a partial one)
        float[] q = rand(r, 2 * 19 * 24, 1.5f);
        float[] k = rand(r, 2 * 70 * 24, 1.5f);
        float[] v = rand(r, 2 * 70 * 20, 1f);
        float[] add = rand(r, 19 * 70, 2f);
        byte[] bool = new byte[19 * 70];
        for (int i = 0; i < bool.length; i++) {
            bool[i] = (byte) (r.nextInt(4) == 0 ? 0 : 1);
        }
        ops.put("attention", b -> out(b, b.attention(b.fromFloats(q, 1, 2, 19, 24), b.fromFloats(k, 1, 2, 70, 24),
                b.fromFloats(v, 1, 2, 70, 20), null, 0f)));
        ops.put("attention additive mask, scale", b -> out(b, b.attention(b.fromFloats(q, 1, 2, 19, 24),
                b.fromFloats(k, 1, 2, 70, 24), b.fromFloats(v, 1, 2, 70, 20), b.fromFloats(add, 19, 70), 0.3f)));
        ops.put("attention boolean mask", b -> out(b, b.attention(b.fromFloats(q, 1, 2, 19, 24),
                b.fromFloats(k, 1, 2, 70, 24), b.fromFloats(v, 1, 2, 70, 20),
                ((CpuBackend) b).wrap(MemorySegment.ofArray(bool), DType.BOOL, 1, 1, 19, 70), 0f)));
        ops.put("attention key-padding mask", b -> out(b, b.attention(b.fromFloats(q, 1, 2, 19, 24),
                b.fromFloats(k, 1, 2, 70, 24), b.fromFloats(v, 1, 2, 70, 20),
                b.fromFloats(add, 19, 70).narrow(0, 0, 1), 0f)));

        // softmax along the last dimension (vector part + tail) and along a strided one
        float[] sx = rand(r, 7 * 45, 4f);
        ops.put("softmax last", b -> out(b, b.softmax(b.fromFloats(sx, 7, 45), -1)));
        ops.put("softmax strided", b -> out(b, b.softmax(b.fromFloats(sx, 7, 45), 0)));
        ops.put("softmax strided short", b -> out(b, b.softmax(b.fromFloats(sx, 45, 7), 0)));

        // norms
        float[] nx = rand(r, 5 * 77, 2f);
        float[] ng = rand(r, 77, 1f);
        float[] nb = rand(r, 77, 1f);
        ops.put("layerNorm", b -> out(b, b.layerNorm(b.fromFloats(nx, 5, 77), b.fromFloats(ng, 77),
                b.fromFloats(nb, 77), 1e-6f)));
        ops.put("layerNorm no affine", b -> out(b, b.layerNorm(b.fromFloats(nx, 5, 77), null, null, 1e-6f)));
        ops.put("rmsNorm", b -> out(b, b.rmsNorm(b.fromFloats(nx, 5, 77), b.fromFloats(ng, 77), 1e-6f)));
        float[] gx = rand(r, 2 * 8 * 25, 2f);
        float[] gg = rand(r, 8, 1f);
        float[] gb = rand(r, 8, 1f);
        ops.put("groupNorm", b -> out(b, b.groupNorm(b.fromFloats(gx, 2, 8, 5, 5), 4, b.fromFloats(gg, 8),
                b.fromFloats(gb, 8), 1e-6f)));
        ops.put("groupNorm no affine", b -> out(b, b.groupNorm(b.fromFloats(gx, 2, 8, 5, 5), 2, null, null,
                1e-5f)));

        // activations: a wide range of arguments (exp and tanh saturate, erf's two branches)
        float[] ax = rand(r, 1001, 4f);
        for (int i = 0; i < 40; i++) {
            ax[i] = (i - 20) * 0.6f;
        }
        ops.put("gelu erf", b -> out(b, b.gelu(b.fromFloats(ax, 1001), false)));
        ops.put("gelu tanh", b -> out(b, b.gelu(b.fromFloats(ax, 1001), true)));
        ops.put("quickGelu", b -> out(b, b.quickGelu(b.fromFloats(ax, 1001))));
        ops.put("silu", b -> out(b, b.silu(b.fromFloats(ax, 1001))));
        float[] px = new float[1001];
        for (int i = 0; i < px.length; i++) {
            px[i] = Math.abs(ax[i]);
        }
        ops.put("sqrt", b -> out(b, b.sqrt(b.fromFloats(px, 1001))));

        // positions
        float[] ids = new float[23 * 3];
        for (int i = 0; i < 23; i++) {
            ids[3 * i + 1] = i / 5;
            ids[3 * i + 2] = i % 5;
        }
        ops.put("ropeFrequencies", b -> {
            List<Tensor> cs = b.ropeFrequencies(b.fromFloats(ids, 23, 3), new int[] {4, 6, 6}, 10000);
            return concat(b.toFloatArray(cs.get(0)), b.toFloatArray(cs.get(1)));
        });
        float[] rx = rand(r, 2 * 23 * 16, 1f);
        ops.put("rope", b -> {
            List<Tensor> cs = b.ropeFrequencies(b.fromFloats(ids, 23, 3), new int[] {4, 6, 6}, 10000);
            return out(b, b.rope(b.fromFloats(rx, 1, 2, 23, 16), cs.get(0), cs.get(1)));
        });
        float[] tv = {0f, 1f, 999f, 500.5f};
        ops.put("timestepEmbedding", b -> out(b, b.timestepEmbedding(b.fromFloats(tv, 4), 256, true, 0f, 1000f,
                10000)));
        ops.put("timestepEmbedding odd", b -> out(b, b.timestepEmbedding(b.fromFloats(tv, 4), 33, false, 1f, 1f,
                10000)));

        // convolution and resampling
        float[] cx = rand(r, 4 * 9 * 9, 1f);
        float[] cw = rand(r, 6 * 4 * 9, 0.3f);
        float[] cb = rand(r, 6, 0.3f);
        float[] dw = rand(r, 4 * 9, 0.3f);
        ops.put("conv2d", b -> out(b, b.conv2d(b.fromFloats(cx, 1, 4, 9, 9), b.fromFloats(cw, 6, 4, 3, 3),
                b.fromFloats(cb, 6), 1, 1, 1, 1, 1)));
        ops.put("conv2d stride 2", b -> out(b, b.conv2d(b.fromFloats(cx, 1, 4, 9, 9), b.fromFloats(cw, 6, 4, 3, 3),
                null, 2, 2, 0, 0, 1)));
        ops.put("conv2d 1x1", b -> out(b, b.conv2d(b.fromFloats(cx, 1, 4, 9, 9),
                b.contiguous(b.fromFloats(cw, 6, 4, 3, 3).narrow(2, 0, 1).narrow(3, 0, 1)), b.fromFloats(cb, 6),
                1, 1, 0, 0, 1)));
        ops.put("conv2d depthwise", b -> out(b, b.conv2d(b.fromFloats(cx, 1, 4, 9, 9), b.fromFloats(dw, 4, 1, 3, 3),
                null, 1, 1, 1, 1, 4)));
        ops.put("upsampleNearest", b -> out(b, b.upsampleNearest(b.fromFloats(cx, 1, 4, 9, 9), 14, 20)));
        for (Backend.Interpolation mode : Backend.Interpolation.values()) {
            ops.put("interpolate " + mode + " up", b -> out(b, b.interpolate(b.fromFloats(cx, 1, 4, 9, 9), 13, 17,
                    mode, false, false)));
            ops.put("interpolate " + mode + " align corners", b -> out(b, b.interpolate(b.fromFloats(cx, 1, 4, 9, 9),
                    13, 17, mode, true, false)));
            ops.put("interpolate " + mode + " antialias down", b -> out(b,
                    b.interpolate(b.fromFloats(cx, 1, 4, 9, 9), 4, 6, mode, false, true)));
        }

        // reductions
        ops.put("mean last", b -> out(b, b.mean(b.fromFloats(nx, 5, 77), -1, false)));
        ops.put("mean first", b -> out(b, b.mean(b.fromFloats(nx, 5, 77), 0, true)));
        ops.put("var last", b -> out(b, b.var(b.fromFloats(nx, 5, 77), -1, 1, false)));
        ops.put("var first", b -> out(b, b.var(b.fromFloats(nx, 5, 77), 0, 0, true)));

        // elementwise, conversions, shape ops that produce data
        float[] ey = rand(r, 5 * 77, 1f);
        ops.put("add", b -> out(b, b.add(b.fromFloats(nx, 5, 77), b.fromFloats(ey, 5, 77))));
        ops.put("add broadcast", b -> out(b, b.add(b.fromFloats(nx, 5, 77), b.fromFloats(ng, 77))));
        ops.put("sub", b -> out(b, b.sub(b.fromFloats(nx, 5, 77), b.fromFloats(ey, 5, 77))));
        ops.put("mul", b -> out(b, b.mul(b.fromFloats(nx, 5, 77), b.fromFloats(ey, 5, 77))));
        ops.put("div", b -> out(b, b.div(b.fromFloats(nx, 5, 77), b.fromFloats(ey, 5, 77))));
        ops.put("affine", b -> out(b, b.affine(b.fromFloats(nx, 5, 77), 0.7f, -0.3f)));
        ops.put("to bf16", b -> out(b, b.to(b.fromFloats(nx, 5, 77), DType.BF16)));
        ops.put("to f16", b -> out(b, b.to(b.fromFloats(nx, 5, 77), DType.F16)));
        ops.put("bf16 to f32", b -> out(b, b.to(b.to(b.fromFloats(nx, 5, 77), DType.BF16), DType.F32)));
        ops.put("contiguous transposed", b -> out(b, b.contiguous(b.fromFloats(nx, 5, 77).transpose(0, 1))));
        ops.put("cat", b -> out(b, b.cat(1, List.of(b.fromFloats(nx, 5, 77), b.fromFloats(ey, 5, 77)))));
        ops.put("embedding", b -> out(b, b.embedding(b.fromFloats(nx, 5, 77), b.fromInts(new int[] {4, 0, 2, 2}, 4))));
        return ops;
    }

    private static float[] out(Backend b, Tensor t) {
        return b.toFloatArray(t);
    }

    private static float[] concat(float[] a, float[] c) {
        float[] r = new float[a.length + c.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(c, 0, r, a.length, c.length);
        return r;
    }
}
