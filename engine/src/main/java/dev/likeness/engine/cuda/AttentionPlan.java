package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The host side of {@link CudaAttention}, free of any GPU call so that it is unit-tested without one: which kernel
 * of {@code attention.cu} runs, its launch geometry and dynamic shared memory, the mask's broadcast strides and the
 * bytes of the kernel's {@code AttnParams} argument. See {@link CudaAttention} for the design.
 *
 * @param path          tensor cores (bf16 or f16 operands) or the f32 CUDA-core kernel
 * @param function      the kernel's name in {@code attention.cu}
 * @param gridX         query blocks ({@code ceil(Lq / queryTile)})
 * @param gridY         heads (mma) or heads × dvChunks (f32)
 * @param gridZ         batch
 * @param block         threads per block (4 warps)
 * @param sharedBytes   dynamic shared memory per block
 * @param paddedD       the head size the mma kernel works with (D and Dv padded with zeros); D on the f32 path
 * @param queryTile     query rows per block
 * @param keyTile       keys per shared-memory tile
 * @param dvChunks      blocks along Dv per head (f32 path; 1 on the mma path)
 * @param flags         the kernel's {@code flags}: 16-byte copies of q/k/v rows (mma), Q resident (f32)
 */
public record AttentionPlan(Path path, String function, int gridX, int gridY, int gridZ, int block, int sharedBytes,
                            int paddedD, int queryTile, int keyTile, int dvChunks, int flags) {

    /** Which kernel family. */
    public enum Path {
        MMA_BF16, MMA_F16, F32
    }

    /** The module (kernel source file). */
    public static final String MODULE = "attention";
    /** Threads per block of every attention kernel. */
    public static final int BLOCK = 128;
    /** Query rows per block of the mma kernels (16 per warp). */
    public static final int MMA_QUERY_TILE = 64;
    /** Head-size buckets of the mma kernels ({@code lk_attn_mma_*_d<bucket>}); max(D, Dv) is padded up to one. */
    public static final int[] MMA_BUCKETS = {64, 80, 128, 256};
    /** Query rows per block (8 per warp), keys per tile and the head-dimension chunk of the f32 kernels. */
    public static final int F32_QUERY_TILE = 32;
    public static final int F32_KEY_TILE = 32;
    public static final int F32_D_CHUNK = 64;
    /** Dynamic shared memory available without opting in. */
    public static final int DEFAULT_SHARED = 48 * 1024;
    /** Largest grid y / z dimension. */
    public static final int MAX_GRID_YZ = 65535;

    /** Kernel flag bits ({@code LK_ATTN_VEC_Q} ... in attention.cu). */
    public static final int VEC_Q = 1;
    public static final int VEC_K = 2;
    public static final int VEC_V = 4;
    public static final int Q_FULL = 8;

    /** The mask dtype code for boolean masks ({@code LK_ATTN_MASK_BOOL}). */
    public static final int MASK_BOOL = 100;

    /** Bytes of the kernel's {@code AttnParams} struct (static_assert in attention.cu). */
    public static final int PARAMS_BYTES = 224;

    /**
     * The problem: the device (compute capability 10 × major + minor, opt-in shared memory per block), the compute
     * dtype, the q/k/v storage dtypes, the sizes, and whether each of q, k, v can be copied in 16-byte chunks (see
     * {@link #rowsVectorizable}).
     */
    public record Problem(int sm, int maxSharedOptin, DType compute, DType q, DType k, DType v, int batch, int heads,
                          int lq, int lk, int d, int dv, boolean vecQ, boolean vecK, boolean vecV) {
    }

    /** The plan for {@code p}: the tensor-core path where it applies and fits, else the f32 kernel. */
    public static AttentionPlan plan(Problem p) {
        if (p.d() < 1 || p.dv() < 1 || p.lq() < 1 || p.lk() < 1 || p.batch() < 1 || p.heads() < 1) {
            throw new IllegalArgumentException("attention plan needs positive sizes, got B=" + p.batch() + " H="
                    + p.heads() + " Lq=" + p.lq() + " Lk=" + p.lk() + " D=" + p.d() + " Dv=" + p.dv());
        }
        Path mma = mmaPath(p);
        if (mma != null) {
            int bucket = mmaBucket(Math.max(p.d(), p.dv()));
            int bytes = mmaSharedBytes(bucket);
            if (bucket > 0 && bytes <= p.maxSharedOptin()) {
                int flags = (p.vecQ() ? VEC_Q : 0) | (p.vecK() ? VEC_K : 0) | (p.vecV() ? VEC_V : 0);
                String name = "lk_attn_mma_" + (mma == Path.MMA_F16 ? "f16" : "bf16") + "_d" + bucket;
                checkGrid(p.heads(), p.heads());
                return new AttentionPlan(mma, name, ceilDiv(p.lq(), MMA_QUERY_TILE), p.heads(), p.batch(), BLOCK,
                        bytes, bucket, MMA_QUERY_TILE, mmaKeyTile(bucket), 1, flags);
            }
        }
        int dvc = p.dv() <= 32 ? 1 : p.dv() <= 64 ? 2 : 4;
        int chunks = ceilDiv(p.dv(), 32 * dvc);
        int full = f32SharedBytes(p.d(), dvc, true);
        boolean qFull = full <= p.maxSharedOptin();
        int bytes = qFull ? full : f32SharedBytes(p.d(), dvc, false);
        if (bytes > p.maxSharedOptin()) {
            throw new IllegalArgumentException("attention: the f32 kernel needs " + bytes
                    + " bytes of shared memory per block, the device allows " + p.maxSharedOptin());
        }
        checkGrid(p.heads(), (long) p.heads() * chunks);
        return new AttentionPlan(Path.F32, "lk_attn_f32_c" + dvc, ceilDiv(p.lq(), F32_QUERY_TILE),
                p.heads() * chunks, p.batch(), BLOCK, bytes, p.d(), F32_QUERY_TILE, F32_KEY_TILE, chunks,
                qFull ? Q_FULL : 0);
    }

    /** The tensor-core path: sm_80+, bf16 compute, q/k/v all bf16 or all f16; null where it does not apply. */
    static Path mmaPath(Problem p) {
        if (p.sm() < 80 || p.compute() != DType.BF16) {
            return null;
        }
        if (p.q() == DType.BF16 && p.k() == DType.BF16 && p.v() == DType.BF16) {
            return Path.MMA_BF16;
        }
        if (p.q() == DType.F16 && p.k() == DType.F16 && p.v() == DType.F16) {
            return Path.MMA_F16;
        }
        return null;
    }

    /** The smallest bucket ≥ {@code d}, or 0 when d is beyond the largest (the f32 kernel takes those). */
    static int mmaBucket(int d) {
        for (int b : MMA_BUCKETS) {
            if (d <= b) {
                return b;
            }
        }
        return 0;
    }

    /** Keys per tile of the mma kernel for a bucket: 64, or 32 for 256 (whose Q stays in shared memory). */
    static int mmaKeyTile(int bucket) {
        return bucket > 128 ? 32 : 64;
    }

    /** Whether the mma kernel keeps Q's fragments in registers (buckets ≤ 128) or reloads them from shared memory. */
    static boolean mmaQueryInRegisters(int bucket) {
        return bucket <= 128;
    }

    /**
     * Shared memory of the mma kernel: two stages of K and V tiles [keyTile][bucket + 8] in 16-bit elements, plus
     * Q [64][bucket + 8] when it stays in shared memory (with Q in registers it is staged in stage 1 first).
     */
    static int mmaSharedBytes(int bucket) {
        if (bucket == 0) {
            return Integer.MAX_VALUE;
        }
        int stride = bucket + 8;
        int bytes = 4 * mmaKeyTile(bucket) * stride * 2;
        if (!mmaQueryInRegisters(bucket)) {
            bytes += MMA_QUERY_TILE * stride * 2;
        }
        return bytes;
    }

    /** Shared memory of the f32 kernel: Q [32][D or 64] + K [32][65] + V [32][32 · dvc] floats. */
    static int f32SharedBytes(int d, int dvc, boolean qFull) {
        long floats = (long) F32_QUERY_TILE * (qFull ? d : F32_D_CHUNK) + (long) F32_KEY_TILE * (F32_D_CHUNK + 1)
                + (long) F32_KEY_TILE * 32 * dvc;
        return (int) Math.min(Integer.MAX_VALUE, floats * 4);
    }

    private static void checkGrid(int heads, long gridY) {
        if (gridY > MAX_GRID_YZ) {
            throw new IllegalArgumentException("attention: " + heads + " heads need a grid y of " + gridY
                    + " blocks, more than " + MAX_GRID_YZ);
        }
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /**
     * Whether the mma kernel may copy a [B, H, L, cols] 16-bit view's rows with 16-byte cp.async: the first element
     * 16-byte aligned, unit stride along the last dimension, every other stride (of a dimension longer than 1) a
     * multiple of 8 elements, and {@code cols} a multiple of 8.
     */
    public static boolean rowsVectorizable(long firstElementAddress, int[] shape, long[] strides, int cols) {
        if (firstElementAddress % 16 != 0 || cols % 8 != 0 || strides[3] != 1) {
            return false;
        }
        for (int i = 0; i < 3; i++) {
            if (shape[i] > 1 && strides[i] % 8 != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * The strides (elements) of a mask of {@code maskShape} / {@code maskStrides} read as [B, H, Lq, Lk] with PyTorch
     * broadcasting: 0 on dimensions it lacks or has as 1. Throws, naming the shapes, when it does not broadcast.
     */
    public static long[] maskStrides(int[] maskShape, long[] maskStrides, int batch, int heads, int lq, int lk) {
        int[] target = {batch, heads, lq, lk};
        boolean ok = maskShape.length <= 4;
        long[] out = new long[4];
        for (int i = 1; ok && i <= maskShape.length; i++) {
            int have = maskShape[maskShape.length - i];
            int want = target[4 - i];
            ok = have == 1 || have == want;
            out[4 - i] = have == 1 ? 0 : maskStrides[maskShape.length - i];
        }
        if (!ok) {
            throw new IllegalArgumentException("attention: mask of shape " + Arrays.toString(maskShape)
                    + " does not broadcast to [B, H, Lq, Lk] = " + Arrays.toString(target));
        }
        return out;
    }

    /** The attention scale: {@code scale} when positive, else 1/sqrt(D) (computed in double, as the CPU does). */
    public static float resolveScale(float scale, int d) {
        return scale > 0 ? scale : (float) (1.0 / Math.sqrt(d));
    }

    /** Device pointers (first elements), strides and dtype codes of one launch: the {@code AttnParams} fields. */
    public record Operands(long out, long q, long k, long v, long mask, long[] qs, long[] ks, long[] vs, long[] ms,
                           int batch, int heads, int lq, int lk, int d, int dv, int qdt, int kdt, int vdt, int mdt,
                           int odt, float scale) {
    }

    /** The {@code AttnParams} bytes for {@code o} under this plan (offsets as in attention.cu). */
    public MemorySegment params(Arena arena, Operands o) {
        MemorySegment s = arena.allocate(PARAMS_BYTES, 8);
        s.set(JAVA_LONG, 0, o.out());
        s.set(JAVA_LONG, 8, o.q());
        s.set(JAVA_LONG, 16, o.k());
        s.set(JAVA_LONG, 24, o.v());
        s.set(JAVA_LONG, 32, o.mask());
        long[][] strides = {o.qs(), o.ks(), o.vs(), o.ms()};
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < 4; i++) {
                s.set(JAVA_LONG, 40 + 32L * t + 8L * i, strides[t][i]);
            }
        }
        int[] ints = {o.batch(), o.heads(), o.lq(), o.lk(), o.d(), o.dv(), o.qdt(), o.kdt(), o.vdt(), o.mdt(),
                o.odt(), flags};
        for (int i = 0; i < ints.length; i++) {
            s.set(JAVA_INT, 168 + 4L * i, ints[i]);
        }
        s.set(JAVA_FLOAT, 216, o.scale());
        s.set(JAVA_INT, 220, dvChunks);
        return s;
    }
}
