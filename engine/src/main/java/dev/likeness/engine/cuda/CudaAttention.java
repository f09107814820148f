package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;

import java.lang.foreign.MemorySegment;

/**
 * Fused flash attention on the GPU: torch {@code F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
 * scale=scale)} in one kernel launch ({@code attention.cu}), tiled over the keys with an online softmax in f32, so
 * the Lq × Lk score matrix never exists. q, k and v are read in place through their strides (FLUX's views of a fused
 * qkv projection included, no copies); the mask is read through broadcast strides (0 on broadcast dimensions).
 * Semantics as {@code cpu/Attention}: additive float or boolean masks, a fully masked row gives 0, Lk = 0 gives 0.
 *
 * <p><b>Tensor-core path</b> ({@code lk_attn_mma_{bf16,f16}_d{64,80,128,256}}; sm_80+, compute dtype bf16, q/k/v
 * all bf16 or all f16, max(D, Dv) ≤ 256). 4 warps per block, 64 query rows per block (16 per warp), the grid is
 * (⌈Lq/64⌉, H, B). D and Dv are padded with zeros up to the bucket DP ∈ {64, 80, 128, 256} (SigLIP's 72 → 80, any
 * other size up to 256 works). Per key tile of BK keys (64; 32 for DP = 256):
 * {@code S = Q Kᵀ} with {@code mma.sync.m16n8k16} (bf16/f16 in, f32 accumulate), operands from shared memory through
 * {@code ldmatrix}; scale, mask and the key edge applied in f32; running max and sum per row (the four threads of a
 * quad share a row: two shuffles); P rounded to bf16/f16 and fed straight from the S accumulators as the A operand of
 * {@code O += P V} ({@code ldmatrix.trans} for V). K and V tiles are double-buffered: tile t+1 is fetched with
 * {@code cp.async} (16-byte chunks, zero-fill past Lk and past D) while tile t is computed, and K and V are separate
 * commit groups so S starts before V has landed. Views whose rows are not 16-byte aligned or not unit-stride are
 * loaded element by element instead (same kernel, flag bits). Q's A fragments stay in registers (DP ≤ 128: 4·DP/16
 * registers, 32 at DP = 128) or are re-read from shared memory per tile (DP = 256, to stay below 255 registers).
 * <ul>
 *   <li>Shared memory: 2 stages × (K + V) × BK × (DP + 8) × 2 bytes (the +8 elements make the 8 rows of every
 *   ldmatrix start in distinct banks), plus 64 × (DP + 8) × 2 for Q at DP = 256 (with Q in registers it is staged
 *   in stage 1 before the first prefetch): DP 64 → 36 KiB, 80 → 44 KiB, 128 → 68 KiB, 256 → 99 KiB. Above 48 KiB
 *   the kernel is opted in with {@link Driver#setMaxDynamicSharedMemory}; a device whose opt-in limit is lower
 *   (sm_86/89 allow 99 KiB, which DP = 256 just fits) gets the f32 kernel.</li>
 *   <li>Registers (ptxas, sm_90): 127 (DP 64), 129 (80), 167 (128), 228 (256), no spills. Occupancy on an H100
 *   (64 K registers, 228 KiB shared memory per SM): DP 128 → 3 blocks/SM by registers (168 × 128 each) and by shared
 *   memory (3 × 69 KiB) = 12 warps; DP 64 → 4 blocks (16 warps); DP 256 → 2 blocks. FLUX (B 1, H 24, L 4608,
 *   D 128) launches 72 × 24 = 1728 blocks, about 4.4 waves over 132 SMs.</li>
 *   <li>Design target, not a measurement: FLUX-size attention is ~4·L²·D·H ≈ 0.26 TFLOP per call; an mma.sync
 *   flash kernel of this shape typically reaches 30–50 % of the H100's ~990 TFLOP/s dense bf16 peak (wgmma/TMA
 *   kernels go further), i.e. roughly 0.5–0.9 ms per FLUX attention call.</li>
 * </ul>
 *
 * <p><b>f32 path</b> ({@code lk_attn_f32_c{1,2,4}}; every other case: compute dtype f32, sm_75, mixed or f32/f8
 * inputs, max(D, Dv) > 256 or a device without the shared memory). 4 warps, 8 query rows per warp (32 per block),
 * key tiles of 32 with one key per lane: the lane accumulates its key's 8 scores over the head dimension (Q rows are
 * shared-memory broadcasts, K rows padded to 65 floats so lane j reads bank j), the row maximum is a warp reduction,
 * each lane keeps its share of the running sum (reduced once at the end), and {@code O += P V} broadcasts each key's
 * probability with a shuffle while each lane owns output columns lane, lane + 32, ... (32 · c columns, c ∈ {1, 2, 4}
 * by Dv; wider Dv uses several blocks along grid y, recomputing the scores). The head dimension is consumed in
 * chunks of 64; Q (pre-multiplied by the scale, as the CPU backend does) stays resident in shared memory when
 * 4 · (32 · D + 32 · 65 + 32 · 32c) bytes fit (41 KiB at D = Dv = 128), else it is re-read per chunk. Exponentials
 * are {@code expf}, so results match the CPU within f32 rounding. ~125 registers (launch bound 4 blocks/SM).
 */
final class CudaAttention {
    private CudaAttention() {
    }

    static Tensor attention(CudaBackend b, Tensor q, Tensor k, Tensor v, Tensor mask, float scale) {
        OpShapes.Attention sz = OpShapes.attention(q, k, v);
        int batch = sz.batch();
        int heads = sz.heads();
        int lq = sz.lq();
        int lk = sz.lk();
        int[] outShape = sz.outShape();
        long[] ms = null;
        if (mask != null) {
            if (mask.dtype() != DType.BOOL) {
                OpShapes.requireFloat("mask (additive float or boolean)", mask);
            }
            ms = AttentionPlan.maskStrides(mask.shape(), mask.strides(), batch, heads, lq, lk);
        }
        DType compute = b.computeDType();
        if (Tensor.numel(outShape) == 0) {
            return b.empty(compute, outShape);
        }
        if (lk == 0) {
            return b.zeros(compute, outShape);
        }
        q = operand(b, q);
        k = operand(b, k);
        v = operand(b, v);
        if (mask != null) {
            mask = operand(b, mask);
            ms = AttentionPlan.maskStrides(mask.shape(), mask.strides(), batch, heads, lq, lk);
        }
        Tensor out = b.empty(compute, outShape);
        int d = sz.d();
        int dv = sz.dv();

        AttentionPlan plan = AttentionPlan.plan(new AttentionPlan.Problem(b.sm(), b.sharedMemoryPerBlockOptin(),
                compute, q.dtype(), k.dtype(), v.dtype(), batch, heads, lq, lk, d, dv,
                AttentionPlan.rowsVectorizable(b.address(q), q.shape(), q.strides(), d),
                AttentionPlan.rowsVectorizable(b.address(k), k.shape(), k.strides(), d),
                AttentionPlan.rowsVectorizable(b.address(v), v.shape(), v.strides(), dv)));
        launch(b, plan, out, q, k, v, mask, ms, AttentionPlan.resolveScale(scale, d));
        return out;
    }

    /** Runs {@code plan}, in slices of at most 65535 batch entries (the grid's z limit). */
    private static void launch(CudaBackend b, AttentionPlan plan, Tensor out, Tensor q, Tensor k, Tensor v,
                               Tensor mask, long[] ms, float scale) {
        if (plan.sharedBytes() > AttentionPlan.DEFAULT_SHARED) {
            b.makeCurrent();
            MemorySegment function = b.kernels().function(AttentionPlan.MODULE, plan.function());
            b.driver().setMaxDynamicSharedMemory(function, plan.sharedBytes());
        }
        int batch = q.size(0);
        int heads = q.size(1);
        int lq = q.size(2);
        int dv = v.size(3);
        int mdt = mask == null ? 0 : mask.dtype() == DType.BOOL ? AttentionPlan.MASK_BOOL
                : CudaDTypes.code(mask.dtype());
        long[] msv = ms == null ? new long[4] : ms;
        for (int b0 = 0; b0 < batch; b0 += AttentionPlan.MAX_GRID_YZ) {
            int nb = Math.min(AttentionPlan.MAX_GRID_YZ, batch - b0);
            long outRows = (long) b0 * heads * lq * dv;
            AttentionPlan.Operands ops = new AttentionPlan.Operands(
                    b.address(out) + outRows * out.dtype().byteSize(),
                    slice(b, q, b0), slice(b, k, b0), slice(b, v, b0),
                    mask == null ? 0 : b.address(mask) + b0 * msv[0] * mask.dtype().byteSize(),
                    q.strides(), k.strides(), v.strides(), msv, nb, heads, lq, k.size(2), q.size(3), dv,
                    CudaDTypes.code(q.dtype()), CudaDTypes.code(k.dtype()), CudaDTypes.code(v.dtype()), mdt,
                    CudaDTypes.code(out.dtype()), scale);
            b.launch(AttentionPlan.MODULE, plan.function(), plan.gridX(), plan.gridY(), nb, plan.block(), 1, 1,
                    plan.sharedBytes(), a -> a.struct(plan.params(a.arena(), ops)));
        }
    }

    /** The device address of element [b0, 0, 0, 0] of a [B, H, L, D] view. */
    private static long slice(CudaBackend b, Tensor t, int b0) {
        return b.address(t) + b0 * t.stride(0) * t.dtype().byteSize();
    }

    /** {@code t} on this device, readable by the kernels: scaled (quantized) tensors are expanded to f32 first. */
    private static Tensor operand(CudaBackend b, Tensor t) {
        Tensor d = b.onDevice(t);
        if (d.scale() != null) {
            return b.to(d, DType.F32);
        }
        if (d.dtype() != DType.BOOL) {
            CudaDTypes.code(d.dtype());
        }
        return d;
    }
}
