package dev.likeness.pipeline.image;

/**
 * Pillow's {@code Image.resize(size)} for RGB images with its default filter, bicubic, reproduced so that the output
 * bytes are the ones Pillow 11.2.1 writes (the InstantCharacter preprocessing resizes with it; see
 * {@link SubjectImages}).
 *
 * <p>The method, as Pillow defines it: a separable convolution, first along x (only for the rows the second pass
 * reads), then along y; each axis is skipped when its size does not change, and a same-size resize is a copy. For an
 * axis going from {@code in} to {@code out} pixels, {@code scale = in / out}; when shrinking, the filter is stretched
 * by {@code scale} (antialiasing), so its support is {@code 2 · max(scale, 1)} input pixels. Output pixel {@code i}
 * is centred at {@code (i + 0.5) · scale} and takes input pixels {@code [round(center − support),
 * round(center + support))} clipped to the image, with weights {@code bicubic((j − center + 0.5) / max(scale, 1))}
 * (the Keys cubic with a = −0.5), normalized to sum 1. The weights become fixed-point integers with 22 fractional
 * bits (rounded half away from zero), each pass sums {@code sample · weight} in 32-bit integers starting from half a
 * unit, and the result is shifted back and clipped to 0–255, so the intermediate image is 8-bit too. Every floating
 * point step here is the same double-precision expression, in the same order, as Pillow's C code, which is why the
 * bytes agree.
 */
public final class PillowResize {
    private static final int PRECISION_BITS = 32 - 8 - 2;
    private static final double SUPPORT = 2.0;

    private PillowResize() {
    }

    /** The image resized to {@code width × height} as Pillow's {@code img.resize((width, height))} does. */
    public static RgbImage resize(RgbImage in, int width, int height) {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("resize to " + width + "×" + height + ": both must be at least 1");
        }
        if (width == in.width() && height == in.height()) {
            return new RgbImage(width, height, in.rgb().clone());
        }
        Coefficients horizontal = Coefficients.of(in.width(), width);
        Coefficients vertical = Coefficients.of(in.height(), height);
        boolean needHorizontal = width != in.width();
        boolean needVertical = height != in.height();

        byte[] src = in.rgb();
        int srcWidth = in.width();
        int firstRow = 0;
        if (needHorizontal) {
            // only the rows the vertical pass reads: from its first window's start to its last window's end
            firstRow = vertical.start[0];
            int lastRow = vertical.start[height - 1] + vertical.count[height - 1];
            src = horizontalPass(src, srcWidth, firstRow, lastRow - firstRow, horizontal);
            srcWidth = width;
        }
        if (!needVertical) {
            return new RgbImage(width, height, src);
        }
        return new RgbImage(width, height, verticalPass(src, srcWidth, firstRow, vertical));
    }

    /** Rows {@code [firstRow, firstRow + rows)} of {@code src} resampled along x to {@code c.outSize} columns. */
    private static byte[] horizontalPass(byte[] src, int srcWidth, int firstRow, int rows, Coefficients c) {
        int outWidth = c.outSize;
        byte[] out = new byte[rows * outWidth * 3];
        for (int y = 0; y < rows; y++) {
            int rowBase = (firstRow + y) * srcWidth * 3;
            for (int x = 0; x < outWidth; x++) {
                int start = c.start[x];
                int count = c.count[x];
                int k = x * c.kernelSize;
                int r = 1 << (PRECISION_BITS - 1);
                int g = r;
                int b = r;
                for (int j = 0; j < count; j++) {
                    int w = c.weights[k + j];
                    int p = rowBase + (start + j) * 3;
                    r += (src[p] & 0xff) * w;
                    g += (src[p + 1] & 0xff) * w;
                    b += (src[p + 2] & 0xff) * w;
                }
                int o = (y * outWidth + x) * 3;
                out[o] = clip8(r);
                out[o + 1] = clip8(g);
                out[o + 2] = clip8(b);
            }
        }
        return out;
    }

    /** {@code src} (whose row 0 is input row {@code rowOffset}) resampled along y to {@code c.outSize} rows. */
    private static byte[] verticalPass(byte[] src, int width, int rowOffset, Coefficients c) {
        int outHeight = c.outSize;
        byte[] out = new byte[outHeight * width * 3];
        int stride = width * 3;
        for (int y = 0; y < outHeight; y++) {
            int start = c.start[y] - rowOffset;
            int count = c.count[y];
            int k = y * c.kernelSize;
            for (int x = 0; x < width; x++) {
                int r = 1 << (PRECISION_BITS - 1);
                int g = r;
                int b = r;
                int p = start * stride + x * 3;
                for (int j = 0; j < count; j++, p += stride) {
                    int w = c.weights[k + j];
                    r += (src[p] & 0xff) * w;
                    g += (src[p + 1] & 0xff) * w;
                    b += (src[p + 2] & 0xff) * w;
                }
                int o = (y * width + x) * 3;
                out[o] = clip8(r);
                out[o + 1] = clip8(g);
                out[o + 2] = clip8(b);
            }
        }
        return out;
    }

    /** The fixed-point sum back to 8 bits: arithmetic shift, then clip to 0–255. */
    private static byte clip8(int sum) {
        int v = sum >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    /** Keys' cubic convolution kernel with a = −0.5 (Pillow's bicubic), in double precision. */
    static double bicubic(double x) {
        final double a = -0.5;
        if (x < 0.0) {
            x = -x;
        }
        if (x < 1.0) {
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        }
        if (x < 2.0) {
            return (((x - 5) * x + 8) * x - 4) * a;
        }
        return 0.0;
    }

    /**
     * One axis's filter windows: output pixel {@code i} reads {@code count[i]} input pixels from {@code start[i]}
     * with the fixed-point weights {@code weights[i * kernelSize + j]}.
     */
    private record Coefficients(int outSize, int kernelSize, int[] start, int[] count, int[] weights) {

        static Coefficients of(int inSize, int outSize) {
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = SUPPORT * filterScale;
            int kernelSize = (int) Math.ceil(support) * 2 + 1;
            if ((long) outSize * kernelSize > Integer.MAX_VALUE / 8) {
                throw new IllegalArgumentException("resize " + inSize + " → " + outSize + " pixels: too large");
            }
            int[] start = new int[outSize];
            int[] count = new int[outSize];
            int[] weights = new int[outSize * kernelSize];
            double[] w = new double[kernelSize];
            for (int i = 0; i < outSize; i++) {
                double center = (i + 0.5) * scale;
                double ss = 1.0 / filterScale;
                int min = Math.max((int) (center - support + 0.5), 0);
                int max = Math.min((int) (center + support + 0.5), inSize) - min;
                double sum = 0.0;
                for (int j = 0; j < max; j++) {
                    w[j] = bicubic((j + min - center + 0.5) * ss);
                    sum += w[j];
                }
                for (int j = 0; j < max; j++) {
                    double v = sum != 0.0 ? w[j] / sum : w[j];
                    weights[i * kernelSize + j] = v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS))
                            : (int) (0.5 + v * (1 << PRECISION_BITS));
                }
                start[i] = min;
                count[i] = max;
            }
            return new Coefficients(outSize, kernelSize, start, count, weights);
        }
    }
}
