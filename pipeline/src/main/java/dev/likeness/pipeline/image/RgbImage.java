package dev.likeness.pipeline.image;

import java.util.Arrays;

/**
 * An 8-bit sRGB image without alpha: {@code width × height} pixels, stored row by row as interleaved R, G, B bytes
 * (the layout of Pillow's "RGB" mode and of numpy's {@code np.asarray(img)}, [height, width, 3]).
 *
 * <p>The array is owned by the image: the constructor does not copy it and nothing here changes it, so treat it as
 * read-only.
 */
public record RgbImage(int width, int height, byte[] rgb) {

    /** Checks the dimensions against the array: width and height ≥ 1, {@code rgb.length == width * height * 3}. */
    public RgbImage {
        if (width < 1 || height < 1) {
            throw new IllegalArgumentException("image size " + width + "×" + height + ": both must be at least 1");
        }
        if (rgb == null || rgb.length != (long) width * height * 3) {
            throw new IllegalArgumentException("image " + width + "×" + height + " needs " + (long) width * height * 3
                    + " RGB bytes, got " + (rgb == null ? "none" : rgb.length));
        }
    }

    /** Channel {@code c} (0 = R, 1 = G, 2 = B) of pixel (x, y), 0–255. */
    public int get(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xff;
    }

    /** The rectangle [x0, x0 + w) × [y0, y0 + h) as a new image (Pillow's {@code crop((x0, y0, x0 + w, y0 + h))}). */
    public RgbImage crop(int x0, int y0, int w, int h) {
        if (x0 < 0 || y0 < 0 || w < 1 || h < 1 || x0 + w > width || y0 + h > height) {
            throw new IllegalArgumentException("crop " + w + "×" + h + " at (" + x0 + ", " + y0 + ") is outside the "
                    + width + "×" + height + " image");
        }
        byte[] out = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            System.arraycopy(rgb, ((y0 + y) * width + x0) * 3, out, y * w * 3, w * 3);
        }
        return new RgbImage(w, h, out);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RgbImage other && other.width == width && other.height == height
                && Arrays.equals(other.rgb, rgb);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * width + height) + Arrays.hashCode(rgb);
    }

    @Override
    public String toString() {
        return "RgbImage[" + width + "×" + height + "]";
    }
}
