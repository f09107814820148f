package dev.likeness.engine.cuda;

import dev.likeness.engine.DType;
import dev.likeness.engine.OpShapes;
import dev.likeness.engine.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * conv2d on the GPU: torch {@code F.conv2d(x, w, bias, stride, padding, dilation=1, groups)} as im2col + cuBLASLt.
 *
 * <p>For each image, output pixels are taken in bands of whole output rows: the {@code lk_im2col} kernel writes the
 * band's column matrix col [C·kh·kw, band pixels] (zeros for the padding) in the compute dtype, and one strided-batch
 * GEMM over the groups computes out[g] [O/g, band] = W[g] [O/g, C/g·kh·kw] · col[g], writing straight into the
 * NCHW output (leading dimension = the image's OH·OW pixels). Bands are sized so that the column matrix stays within
 * {@link #COLUMN_BUDGET} bytes (unless one output row alone needs more) (a VAE layer with 512 channels at 128×128, or 128 channels at 1024×1024, runs in a
 * few bands). A 1×1 convolution with stride 1 and no padding reads the input in place when its pixels are
 * contiguous. The bias is added per output channel by a kernel afterwards (cuBLASLt's bias epilogue broadcasts along
 * the other dimension).
 */
final class CudaConv {
    /** Most bytes of one band's column matrix. */
    static final long COLUMN_BUDGET = 256L << 20;
    /** The budget in use (tests lower it to exercise several bands on small images). */
    static volatile long columnBudget = COLUMN_BUDGET;

    private CudaConv() {
    }

    /** The validated sizes of one convolution. */
    record Shape(int n, int c, int h, int w, int o, int kh, int kw, int sh, int sw, int ph, int pw, int groups,
                 int cg, int og, int oh, int ow) {
        long kFull() {
            return (long) c * kh * kw;
        }

        long kGroup() {
            return (long) cg * kh * kw;
        }

        long pixels() {
            return (long) oh * ow;
        }
    }

    /** The checks (and messages) of the CPU backend's conv2d. */
    static Shape check(Tensor x, Tensor w, Tensor bias, int sh, int sw, int ph, int pw, int groups) {
        OpShapes.Conv2d s = OpShapes.conv2d(x, w, bias, sh, sw, ph, pw, groups);
        return new Shape(s.n(), s.c(), s.h(), s.w(), s.o(), s.kh(), s.kw(), sh, sw, ph, pw, groups, s.cg(), s.og(),
                s.oh(), s.ow());
    }

    /** Output rows per band: as many as keep the column matrix within the budget, at least one. */
    static int bandRows(Shape s, int elementBytes) {
        long perRow = s.kFull() * s.ow * elementBytes;
        return (int) Math.max(1, Math.min(s.oh, columnBudget / Math.max(1, perRow)));
    }

    static Tensor conv2d(CudaBackend b, Tensor x, Tensor w, Tensor bias, int strideH, int strideW, int padH,
                         int padW, int groups) {
        Shape s = check(x, w, bias, strideH, strideW, padH, padW, groups);
        DType cd = b.computeDType();
        Tensor out = b.empty(cd, s.n, s.o, s.oh, s.ow);
        if (out.numel() == 0) {
            return out;
        }
        List<Tensor> temps = new ArrayList<>();
        try {
            // the weight as [groups, O/g, C/g·kh·kw] in the compute dtype, contiguous
            Tensor wd = CudaGemm.compute(b, w, temps);
            if (!wd.isContiguous()) {
                wd = CudaGemm.keep(b.contiguous(wd), wd, temps);
            }
            Tensor xd = CudaGemm.readable(b, x, temps);
            int kg = Math.toIntExact(s.kGroup());
            GemmPlan.View wv = new GemmPlan.View(new int[] {s.groups, s.og, kg},
                    new long[] {(long) s.og * kg, kg, 1}, wd.offset());
            long pixels = s.pixels();
            long imageOut = (long) s.o * pixels;
            if (!directOneByOne(b, s, xd, wd, wv, out)) {
                int rows = bandRows(s, cd.byteSize());
                int maxBand = Math.toIntExact((long) rows * s.ow);
                Tensor col = CudaGemm.keep(b.empty(cd, Math.toIntExact(s.kFull() * maxBand)), null, temps);
                for (int img = 0; img < s.n; img++) {
                    for (int r0 = 0; r0 < s.oh; r0 += rows) {
                        int bandRows = Math.min(rows, s.oh - r0);
                        int band = bandRows * s.ow;
                        im2col(b, s, xd, img, r0, band, col);
                        GemmPlan.View cv = new GemmPlan.View(new int[] {s.groups, kg, band},
                                new long[] {(long) kg * band, band, 1}, 0);
                        GemmPlan.View ov = new GemmPlan.View(new int[] {s.groups, s.og, band},
                                new long[] {(long) s.og * pixels, pixels, 1}, img * imageOut + (long) r0 * s.ow);
                        CudaGemm.run(b, GemmPlan.plan(wv, cv, ov), col, wd, out, 0, -1, 0, 0);
                    }
                }
            }
            if (bias != null) {
                Tensor bd = CudaGemm.readable(b, bias, temps);
                long total = out.numel();
                int dt = CudaDTypes.code(cd);
                b.launch1d("conv", "lk_bias_channels", total, a -> a.ptr(b.address(out)).i32(dt).i64(total)
                        .i64(pixels).i32(s.o).ptr(b.base(bd)).i32(CudaDTypes.code(bd.dtype())).i64(bd.offset())
                        .i64(bd.stride(0)));
            }
            return out;
        } finally {
            CudaGemm.release(temps);
        }
    }

    /**
     * A 1×1 convolution with stride 1 and no padding on an input in the compute dtype whose pixels are one
     * unit-stride run per channel: the input is the GEMM's column matrix as it is. Returns false when not applicable.
     */
    private static boolean directOneByOne(CudaBackend b, Shape s, Tensor xd, Tensor wd, GemmPlan.View wv,
                                          Tensor out) {
        if (s.kh != 1 || s.kw != 1 || s.sh != 1 || s.sw != 1 || s.ph != 0 || s.pw != 0
                || xd.dtype() != b.computeDType()) {
            return false;
        }
        long[][] px = GemmPlan.coalesce(new int[] {s.h, s.w}, new long[][] {{xd.stride(2), xd.stride(3)}});
        if (px[0].length > 1 || (px[0].length == 1 && px[1][0] != 1)) {
            return false;
        }
        int pixels = Math.toIntExact(s.pixels());
        long sc = xd.stride(1);
        for (int img = 0; img < s.n; img++) {
            GemmPlan.View xv = new GemmPlan.View(new int[] {s.groups, s.cg, pixels},
                    new long[] {s.cg * sc, sc, 1}, xd.offset() + img * xd.stride(0));
            if (!GemmPlan.expressible(xv)) {
                return false;
            }
        }
        long imageOut = (long) s.o * pixels;
        for (int img = 0; img < s.n; img++) {
            GemmPlan.View xv = new GemmPlan.View(new int[] {s.groups, s.cg, pixels},
                    new long[] {s.cg * sc, sc, 1}, xd.offset() + img * xd.stride(0));
            GemmPlan.View ov = new GemmPlan.View(new int[] {s.groups, s.og, pixels},
                    new long[] {(long) s.og * pixels, pixels, 1}, img * imageOut);
            CudaGemm.run(b, GemmPlan.plan(wv, xv, ov), xd, wd, out, 0, -1, 0, 0);
        }
        return true;
    }

    /** Writes the column matrix of output rows r0.. (band pixels) of image {@code img} into {@code col}. */
    private static void im2col(CudaBackend b, Shape s, Tensor xd, int img, int r0, int band, Tensor col) {
        long total = s.kFull() * band;
        int colDt = CudaDTypes.code(col.dtype());
        int xDt = CudaDTypes.code(xd.dtype());
        long xOffset = xd.offset() + img * xd.stride(0);
        b.launch1d("conv", "lk_im2col", total, a -> a.ptr(b.address(col)).i32(colDt).i64(total).i32(band)
                .ptr(b.base(xd)).i32(xDt).i64(xOffset).i64(xd.stride(1)).i64(xd.stride(2)).i64(xd.stride(3))
                .i32(s.h).i32(s.w).i32(s.kh).i32(s.kw).i32(s.sh).i32(s.sw).i32(s.ph).i32(s.pw).i32(s.ow).i32(r0));
    }
}
