package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cuda.CudaOpCheck.Input;
import dev.likeness.engine.cuda.CudaOpCheck.Layout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.likeness.engine.cuda.CudaOpCheck.check;
import static dev.likeness.engine.cuda.CudaOpCheck.input;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA elementwise family (add/sub/mul/div, affine, gelu/quick-gelu/silu/sqrt, rope, nearest upsampling, cat,
 * embedding) against the CPU backend, computing in f32 and in bf16, on contiguous, permuted, narrowed and broadcast
 * views of f32, bf16 and f16 inputs, odd sizes included; and the argument errors. Skips with a "[no GPU]" line where
 * there is no GPU.
 */
class CudaElementwiseTest {
    private static CpuBackend cpu;
    private static List<CudaBackend> gpus;

    @BeforeAll
    static void open() {
        cpu = new CpuBackend(1);
        gpus = GpuTestSupport.gpus("CudaElementwiseTest");
    }

    @AfterAll
    static void close() {
        GpuTestSupport.close(gpus, cpu);
    }

    private static final DType[] INPUT_DTYPES = {DType.F32, DType.BF16, DType.F16};

    // ------------------------------------------------------------------ binary

    @Test
    void binaryOpsMatchTheCpuForEveryLayoutAndBroadcast() {
        int[][][] shapes = {
                {{7, 33}, {7, 33}},          // vector path, tail of 3
                {{3, 4097}, {3, 4097}},
                {{4, 3072}, {3072}},         // bias row
                {{5, 1, 33}, {1, 7, 33}},    // both broadcast
                {{2, 3, 5}, {1}},            // scalar-like
                {{6, 1}, {6, 9}},            // per-row value
                {{}, {4}},                   // 0-dim operand
                {{1}, {1}},
                {{0, 3}, {3}},               // empty result
        };
        Random rnd = new Random(1);
        for (CudaBackend gpu : gpus) {
            for (int op = CudaElementwise.ADD; op <= CudaElementwise.DIV; op++) {
                for (int[][] s : shapes) {
                    for (Layout lx : Layout.values()) {
                        for (DType dx : INPUT_DTYPES) {
                            DType dy = INPUT_DTYPES[rnd.nextInt(3)];
                            Layout ly = Layout.values()[rnd.nextInt(3)];
                            Input x = input(cpu, gpu, rnd, dx, 2f, 0f, lx, s[0]);
                            // divisors away from zero so the reference stays well scaled
                            Input y = op == CudaElementwise.DIV ? input(cpu, gpu, rnd, dy, 0.5f, 1f, ly, s[1])
                                    : input(cpu, gpu, rnd, dy, 2f, 0f, ly, s[1]);
                            checkBinary(gpu, op, x, y);
                            checkBinary(gpu, op, y, x);
                        }
                    }
                }
            }
        }
    }

    private static void checkBinary(CudaBackend gpu, int op, Input x, Input y) {
        String what = gpu.computeDType() + " op " + op + ": " + x.name() + " with " + y.name();
        Tensor expected = switch (op) {
            case CudaElementwise.ADD -> cpu.add(x.host(), y.host());
            case CudaElementwise.SUB -> cpu.sub(x.host(), y.host());
            case CudaElementwise.MUL -> cpu.mul(x.host(), y.host());
            default -> cpu.div(x.host(), y.host());
        };
        Tensor actual = switch (op) {
            case CudaElementwise.ADD -> gpu.add(x.device(), y.device());
            case CudaElementwise.SUB -> gpu.sub(x.device(), y.device());
            case CudaElementwise.MUL -> gpu.mul(x.device(), y.device());
            default -> gpu.div(x.device(), y.device());
        };
        check(gpu, expected, actual, what);
    }

    @Test
    void binaryOnTheVectorPathIsExactInF32() {
        CudaBackend gpu = gpus.get(0);
        Random rnd = new Random(2);
        for (int n : new int[] {1, 2, 3, 4, 5, 33, 4097}) {
            Input x = input(cpu, gpu, rnd, DType.F32, 3f, 0f, Layout.CONTIGUOUS, n);
            Input y = input(cpu, gpu, rnd, DType.F32, 3f, 0.25f, Layout.CONTIGUOUS, n);
            // one correctly rounded IEEE operation per element: bit for bit
            assertArrayEquals(cpu.toFloatArray(cpu.div(x.host(), y.host())),
                    gpu.toFloatArray(gpu.div(x.device(), y.device())), "div " + n);
            assertArrayEquals(cpu.toFloatArray(cpu.mul(x.host(), y.host())),
                    gpu.toFloatArray(gpu.mul(x.device(), y.device())), "mul " + n);
        }
        // a view starting one element in is not 16-byte aligned: the strided kernel takes it, same result
        Input base = input(cpu, gpu, rnd, DType.F32, 1f, 0f, Layout.CONTIGUOUS, 34);
        Tensor hx = base.host().narrow(0, 1, 33);
        Tensor dx = base.device().narrow(0, 1, 33);
        assertArrayEquals(cpu.toFloatArray(cpu.add(hx, hx)), gpu.toFloatArray(gpu.add(dx, dx)));
    }

    @Test
    void binaryArgumentErrors() {
        CudaBackend gpu = gpus.get(0);
        Tensor a = gpu.zeros(DType.F32, 2, 3);
        Tensor b = gpu.zeros(DType.F32, 4);
        assertEquals("add: x [2, 3] and y [4] are not broadcastable (dimension -1: 3 vs 4)",
                assertThrows(IllegalArgumentException.class, () -> gpu.add(a, b)).getMessage());
        assertEquals("mul: y must not be null",
                assertThrows(IllegalArgumentException.class, () -> gpu.mul(a, null)).getMessage());
        Tensor ints = gpu.fromInts(new int[] {1, 2, 3}, 3);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> gpu.sub(ints, a)).getMessage()
                .startsWith("sub: x must be a floating-point tensor, got "));
    }

    // ------------------------------------------------------------------ affine and activations

    @Test
    void affineMatchesTheCpu() {
        Random rnd = new Random(3);
        for (CudaBackend gpu : gpus) {
            for (int[] shape : new int[][] {{1}, {33}, {7, 3072}, {3, 4097}, {2, 3, 5}}) {
                for (Layout l : Layout.values()) {
                    for (DType dt : INPUT_DTYPES) {
                        Input x = input(cpu, gpu, rnd, dt, 4f, 0f, l, shape);
                        check(gpu, cpu.affine(x.host(), 1.7f, -0.3f), gpu.affine(x.device(), 1.7f, -0.3f),
                                gpu.computeDType() + " affine " + x.name());
                    }
                }
            }
        }
        // f32 compute: the multiply and the add rounded separately, as on the CPU: bit for bit
        CudaBackend gpu = gpus.get(0);
        Input x = input(cpu, gpu, rnd, DType.F32, 4f, 0f, Layout.CONTIGUOUS, 4097);
        assertArrayEquals(cpu.toFloatArray(cpu.affine(x.host(), 1.1f, 0.7f)),
                gpu.toFloatArray(gpu.affine(x.device(), 1.1f, 0.7f)), "four-wide kernel");
        Input p = input(cpu, gpu, rnd, DType.F32, 4f, 0f, Layout.PERMUTED, 33, 65);
        assertArrayEquals(cpu.toFloatArray(cpu.affine(p.host(), 1.1f, 0.7f)),
                gpu.toFloatArray(gpu.affine(p.device(), 1.1f, 0.7f)), "strided kernel");
        assertArrayEquals(cpu.toFloatArray(cpu.sqrt(p.host())), gpu.toFloatArray(gpu.sqrt(p.device())),
                "sqrt, strided kernel");
        assertArrayEquals(cpu.toFloatArray(cpu.sqrt(x.host())), gpu.toFloatArray(gpu.sqrt(x.device())),
                "sqrt, four-wide kernel");
        assertEquals("affine: x must not be null",
                assertThrows(IllegalArgumentException.class, () -> gpu.affine(null, 1f, 0f)).getMessage());
    }

    @Test
    void activationsMatchTheCpu() {
        Random rnd = new Random(4);
        for (CudaBackend gpu : gpus) {
            for (int[] shape : new int[][] {{1}, {33}, {7, 3072}, {3, 4097}, {2, 3, 5}}) {
                for (Layout l : Layout.values()) {
                    for (DType dt : INPUT_DTYPES) {
                        Input x = input(cpu, gpu, rnd, dt, 6f, 0f, l, shape);
                        String what = gpu.computeDType() + " " + x.name();
                        check(gpu, cpu.gelu(x.host(), false), gpu.gelu(x.device(), false), "gelu " + what);
                        check(gpu, cpu.gelu(x.host(), true), gpu.gelu(x.device(), true), "gelu tanh " + what);
                        check(gpu, cpu.quickGelu(x.host()), gpu.quickGelu(x.device()), "quickGelu " + what);
                        check(gpu, cpu.silu(x.host()), gpu.silu(x.device()), "silu " + what);
                        // negative values give NaN in both, at the same places
                        check(gpu, cpu.sqrt(x.host()), gpu.sqrt(x.device()), "sqrt " + what);
                    }
                }
            }
        }
    }

    @Test
    void activationEdgeValues() {
        float[] v = {0f, -0f, 1e-30f, -1e-30f, 88f, -88f, 100f, -100f, Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY, Float.NaN, 4f, -4f, 0.5f};
        Tensor h = cpu.fromFloats(v, v.length);
        CudaBackend gpu = gpus.get(0);
        Tensor d = gpu.transfer(h);
        float[] sqrt = gpu.toFloatArray(gpu.sqrt(d));
        float[] ref = cpu.toFloatArray(cpu.sqrt(h));
        assertArrayEquals(ref, sqrt, "sqrt is correctly rounded, NaN below zero");
        float[] silu = gpu.toFloatArray(gpu.silu(d));
        float[] siluRef = cpu.toFloatArray(cpu.silu(h));
        for (int i = 0; i < v.length; i++) {
            assertEquals(Float.isNaN(siluRef[i]), Float.isNaN(silu[i]), "silu(" + v[i] + ")");
            if (!Float.isNaN(siluRef[i])) {
                assertEquals(siluRef[i], silu[i], Math.abs(siluRef[i]) * 1e-6 + 1e-37, "silu(" + v[i] + ")");
            }
        }
        assertEquals("silu: x must not be null",
                assertThrows(IllegalArgumentException.class, () -> gpu.silu(null)).getMessage());
    }

    // ------------------------------------------------------------------ rope

    @Test
    void ropeMatchesTheCpu() {
        Random rnd = new Random(5);
        int[] axes = {16, 56, 56};
        for (CudaBackend gpu : gpus) {
            for (int seq : new int[] {1, 33, 300}) {
                float[] ids = new float[seq * 3];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = rnd.nextInt(64);
                }
                List<Tensor> tables = cpu.ropeFrequencies(cpu.fromFloats(ids, seq, 3), axes, 10000);
                for (DType tableDt : new DType[] {DType.F32, DType.BF16}) {
                    Tensor hc = tableDt == DType.F32 ? tables.get(0) : cpu.to(tables.get(0), tableDt);
                    Tensor hs = tableDt == DType.F32 ? tables.get(1) : cpu.to(tables.get(1), tableDt);
                    Tensor dc = gpu.transfer(hc);
                    Tensor ds = gpu.transfer(hs);
                    for (DType dt : INPUT_DTYPES) {
                        for (Layout l : Layout.values()) {
                            Input x = input(cpu, gpu, rnd, dt, 3f, 0f, l, 2, 3, seq, 128);
                            check(gpu, cpu.rope(x.host(), hc, hs), gpu.rope(x.device(), dc, ds),
                                    gpu.computeDType() + " rope " + x.name() + " tables " + tableDt);
                        }
                        // FLUX's layout: [B, S, H, D] stored, viewed as [B, H, S, D]
                        Input bshd = input(cpu, gpu, rnd, dt, 3f, 0f, Layout.CONTIGUOUS, 2, seq, 3, 128);
                        check(gpu, cpu.rope(bshd.host().transpose(1, 2), hc, hs),
                                gpu.rope(bshd.device().transpose(1, 2), dc, ds),
                                gpu.computeDType() + " rope transposed " + bshd.name());
                    }
                }
            }
        }
        // f32 compute on f32 inputs: each product and the sum rounded as on the CPU: bit for bit
        CudaBackend gpu = gpus.get(0);
        List<Tensor> t = cpu.ropeFrequencies(cpu.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3), axes, 10000);
        Input x = input(cpu, gpu, rnd, DType.F32, 3f, 0f, Layout.PERMUTED, 1, 2, 2, 128);
        assertArrayEquals(cpu.toFloatArray(cpu.rope(x.host(), t.get(0), t.get(1))),
                gpu.toFloatArray(gpu.rope(x.device(), gpu.transfer(t.get(0)), gpu.transfer(t.get(1)))));
    }

    @Test
    void ropeArgumentErrors() {
        CudaBackend gpu = gpus.get(0);
        Tensor x = gpu.zeros(DType.F32, 1, 2, 4, 6);
        Tensor odd = gpu.zeros(DType.F32, 1, 2, 4, 5);
        Tensor table = gpu.zeros(DType.F32, 4, 6);
        assertEquals("rope: the last dimension of x must be even (pairs), got x [1, 2, 4, 5]",
                assertThrows(IllegalArgumentException.class, () -> gpu.rope(odd, gpu.zeros(DType.F32, 4, 5),
                        gpu.zeros(DType.F32, 4, 5))).getMessage());
        assertEquals("rope: cos and sin must be [S, D] = [4, 6] for x [1, 2, 4, 6]; got cos [4, 6], sin [3, 6]",
                assertThrows(IllegalArgumentException.class, () -> gpu.rope(x, table, gpu.zeros(DType.F32, 3, 6)))
                        .getMessage());
        assertEquals("rope: x must be [..., S, D], got [6]",
                assertThrows(IllegalArgumentException.class, () -> gpu.rope(gpu.zeros(DType.F32, 6), table, table))
                        .getMessage());
    }

    // ------------------------------------------------------------------ nearest upsampling

    @Test
    void upsampleNearestMatchesTheCpu() {
        Random rnd = new Random(6);
        int[][] sizes = {{10, 14}, {3, 4}, {13, 9}, {5, 7}, {1, 1}, {64, 64}};
        for (CudaBackend gpu : gpus) {
            for (int[] size : sizes) {
                for (DType dt : INPUT_DTYPES) {
                    for (Layout l : Layout.values()) {
                        Input x = input(cpu, gpu, rnd, dt, 1f, 0f, l, 2, 3, 5, 7);
                        check(gpu, cpu.upsampleNearest(x.host(), size[0], size[1]),
                                gpu.upsampleNearest(x.device(), size[0], size[1]),
                                gpu.computeDType() + " nearest " + Arrays.toString(size) + " " + x.name());
                    }
                    // channels-last storage viewed as [N, C, H, W]
                    Input nhwc = input(cpu, gpu, rnd, dt, 1f, 0f, Layout.CONTIGUOUS, 2, 5, 7, 3);
                    check(gpu, cpu.upsampleNearest(nhwc.host().permute(0, 3, 1, 2), size[0], size[1]),
                            gpu.upsampleNearest(nhwc.device().permute(0, 3, 1, 2), size[0], size[1]),
                            gpu.computeDType() + " nearest channels-last " + Arrays.toString(size));
                }
            }
        }
        CudaBackend gpu = gpus.get(0);
        assertEquals("upsampleNearest: input x must be 4-D [N, C, H, W], got shape [3, 5, 7]",
                assertThrows(IllegalArgumentException.class,
                        () -> gpu.upsampleNearest(gpu.zeros(DType.F32, 3, 5, 7), 2, 2)).getMessage());
        assertEquals("upsampleNearest: input and output sizes must be positive, got input [1, 3, 5, 7] and output "
                        + "size (0, 4)",
                assertThrows(IllegalArgumentException.class,
                        () -> gpu.upsampleNearest(gpu.zeros(DType.F32, 1, 3, 5, 7), 0, 4)).getMessage());
        assertEquals("upsampleNearest: input x is null",
                assertThrows(IllegalArgumentException.class, () -> gpu.upsampleNearest(null, 2, 2)).getMessage());
    }

    // ------------------------------------------------------------------ cat

    @Test
    void catMatchesTheCpuAlongEveryDimension() {
        Random rnd = new Random(7);
        for (CudaBackend gpu : gpus) {
            for (int dim : new int[] {0, 1, 2, -1, -3}) {
                int[] sizes = {1, 33, 4};
                List<Input> parts = new ArrayList<>();
                for (int k = 0; k < sizes.length; k++) {
                    int[] shape = {3, 5, 7};
                    shape[Math.floorMod(dim, 3)] = sizes[k];
                    parts.add(input(cpu, gpu, rnd, INPUT_DTYPES[k], 1f, 0f, Layout.values()[k], shape));
                }
                Tensor expected = cpu.cat(dim, parts.stream().map(Input::host).toList());
                Tensor actual = gpu.cat(dim, parts.stream().map(Input::device).toList());
                check(gpu, expected, actual, gpu.computeDType() + " cat dim " + dim);
                // values are copied, not computed: exact in f32 compute
                if (gpu.computeDType() == DType.F32) {
                    assertArrayEquals(cpu.toFloatArray(expected), gpu.toFloatArray(actual), "cat dim " + dim);
                }
            }
            // one input, a long one, and [0] tensors skipped whatever the others' shape
            Input one = input(cpu, gpu, rnd, DType.BF16, 1f, 0f, Layout.NARROWED, 2, 4097);
            Tensor empty = cpu.zeros(DType.F32, 0);
            check(gpu, cpu.cat(1, List.of(empty, one.host(), empty)),
                    gpu.cat(1, List.of(gpu.transfer(empty), one.device(), gpu.transfer(empty))),
                    gpu.computeDType() + " cat with [0] tensors");
            Tensor allEmpty = gpu.cat(0, List.of(gpu.transfer(empty), gpu.transfer(empty)));
            assertArrayEquals(new int[] {0}, allEmpty.shape());
            assertEquals(gpu.computeDType(), allEmpty.dtype());
            // many inputs
            List<Input> many = new ArrayList<>();
            for (int k = 0; k < 19; k++) {
                many.add(input(cpu, gpu, rnd, INPUT_DTYPES[k % 3], 1f, 0f, Layout.values()[k % 3], 2, 1 + k % 4, 3));
            }
            check(gpu, cpu.cat(1, many.stream().map(Input::host).toList()),
                    gpu.cat(1, many.stream().map(Input::device).toList()), gpu.computeDType() + " cat of 19");
        }
    }

    @Test
    void catArgumentErrors() {
        CudaBackend gpu = gpus.get(0);
        Tensor a = gpu.zeros(DType.F32, 2, 3);
        Tensor b = gpu.zeros(DType.F32, 2, 4);
        assertEquals("cat: expected a non-empty list of tensors",
                assertThrows(IllegalArgumentException.class, () -> gpu.cat(0, List.of())).getMessage());
        assertEquals("cat: sizes must match except in dimension 0: tensor 0 has shape [2, 3], tensor 1 has shape "
                + "[2, 4]", assertThrows(IllegalArgumentException.class, () -> gpu.cat(0, List.of(a, b)))
                .getMessage());
        assertEquals("cat: dim 2 is out of range for tensors of rank 2 (tensor 0 has shape [2, 3])",
                assertThrows(IllegalArgumentException.class, () -> gpu.cat(2, List.of(a, b))).getMessage());
        Tensor scalar = gpu.zeros(DType.F32);
        assertEquals("cat: tensor 1 is zero-dimensional and cannot be concatenated",
                assertThrows(IllegalArgumentException.class, () -> gpu.cat(0, List.of(a, scalar))).getMessage());
        List<Tensor> withNull = new ArrayList<>(Arrays.asList(a, null));
        assertEquals("cat: tensor 1 is null",
                assertThrows(IllegalArgumentException.class, () -> gpu.cat(0, withNull)).getMessage());
    }

    // ------------------------------------------------------------------ embedding

    @Test
    void embeddingMatchesTheCpu() {
        Random rnd = new Random(8);
        int vocab = 50;
        for (CudaBackend gpu : gpus) {
            for (int e : new int[] {1, 33, 3072}) {
                int[] ids = new int[2 * 7];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = rnd.nextInt(vocab);
                }
                Tensor hostIds = cpu.fromInts(ids, 2, 7);
                long[] longs = Arrays.stream(ids).asLongStream().toArray();
                Tensor hostLongIds = cpu.wrap(MemorySegment.ofArray(longs), DType.I64, 2, 7);
                // the same ids stored transposed ([7, 2]) and viewed as [2, 7]
                long[] transposed = new long[longs.length];
                for (int r = 0; r < 2; r++) {
                    for (int c = 0; c < 7; c++) {
                        transposed[c * 2 + r] = longs[r * 7 + c];
                    }
                }
                Tensor storedTransposed = cpu.wrap(MemorySegment.ofArray(transposed), DType.I64, 7, 2);
                for (DType dt : INPUT_DTYPES) {
                    for (Layout l : Layout.values()) {
                        Input w = input(cpu, gpu, rnd, dt, 1f, 0f, l, vocab, e);
                        Tensor expected = cpu.embedding(w.host(), hostIds);
                        String what = gpu.computeDType() + " embedding " + w.name();
                        check(gpu, expected, gpu.embedding(w.device(), gpu.transfer(hostIds)), what + " I32 ids");
                        check(gpu, expected, gpu.embedding(w.device(), hostLongIds), what + " host I64 ids");
                        check(gpu, expected, gpu.embedding(w.device(),
                                gpu.transfer(storedTransposed).transpose(0, 1)), what + " device strided I64 ids");
                    }
                }
                // a per-row scaled f8 table
                Tensor w8 = cpu.to(GpuTestSupport.random(cpu, rnd, DType.F32, 4f, vocab, e), DType.F8_E4M3);
                float[] sc = new float[vocab];
                for (int i = 0; i < vocab; i++) {
                    sc[i] = 0.01f + rnd.nextFloat();
                }
                Tensor scaled = w8.withScale(cpu.fromFloats(sc, vocab));
                check(gpu, cpu.embedding(scaled, hostIds), gpu.embedding(gpu.transfer(scaled), hostIds),
                        gpu.computeDType() + " embedding f8 per-row scale " + e);
                Tensor oneScale = w8.withScale(cpu.fromFloats(new float[] {0.37f}, 1));
                check(gpu, cpu.embedding(oneScale, hostIds), gpu.embedding(gpu.transfer(oneScale), hostIds),
                        gpu.computeDType() + " embedding f8 one scale " + e);
            }
        }
    }

    @Test
    void embeddingArgumentErrors() {
        CudaBackend gpu = gpus.get(0);
        Tensor w = gpu.zeros(DType.BF16, 5, 8);
        Tensor ids = gpu.fromInts(new int[] {0, 1, 2, 3, 5, 1}, 2, 3);
        assertEquals("embedding: id 5 at index [1, 1] of ids [2, 3] is out of range for a vocabulary of 5 rows "
                + "(weight [5, 8])", assertThrows(IllegalArgumentException.class, () -> gpu.embedding(w, ids))
                .getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> gpu.embedding(w, gpu.zeros(DType.F32, 3))).getMessage()
                .startsWith("embedding: ids must be an I32 or I64 tensor, got "));
        assertEquals("embedding: weight must be 2-D [vocabulary, dim], got shape [40]",
                assertThrows(IllegalArgumentException.class,
                        () -> gpu.embedding(gpu.zeros(DType.F32, 40), ids)).getMessage());
        assertEquals("embedding: ids must not be null",
                assertThrows(IllegalArgumentException.class, () -> gpu.embedding(w, null)).getMessage());
    }
}
