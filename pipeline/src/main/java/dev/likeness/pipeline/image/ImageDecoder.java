package dev.likeness.pipeline.image;

import dev.likeness.pipeline.image.ImageContainer.Format;
import dev.likeness.pipeline.image.InvalidImageException.Kind;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.event.IIOReadWarningListener;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * Decodes a reference image (PNG, JPEG or WebP, from its bytes) into an 8-bit sRGB {@link RgbImage}, the way a Python
 * service built on Pillow sees it, with the EXIF orientation applied and transparency flattened onto white.
 *
 * <ul>
 *   <li><b>Formats.</b> Recognized by their magic bytes, never by a file name or content type. PNG through the JDK's
 *       reader; JPEG (baseline, progressive, grayscale, CMYK, YCCK) and WebP (lossy, lossless, with alpha; the first
 *       frame of an animation) through the TwelveMonkeys ImageIO plugins.</li>
 *   <li><b>Limits.</b> The byte size is checked first, then the pixel count from the file header, before any pixel is
 *       decoded, so a small file that claims a huge image costs nothing.</li>
 *   <li><b>Samples.</b> Sample values are taken as they are stored: embedded ICC profiles and gamma chunks are not
 *       applied (Pillow does not apply them either). Grayscale is copied to R, G and B; palettes are looked up; 16-bit
 *       samples keep their high byte (Pillow's reading of 16-bit RGB PNGs); 1, 2 and 4-bit samples are scaled to
 *       0–255.</li>
 *   <li><b>CMYK and YCCK JPEG.</b> The stored samples are read raw; YCCK (Adobe transform 2) is turned into CMYK with
 *       libjpeg's fixed-point equations; samples stored inverted (Adobe APP14 present) are inverted back; then
 *       Pillow's formula {@code R = (255 − K) − round((255 − K) · C / 255)} (likewise G from M, B from Y).</li>
 *   <li><b>Alpha.</b> Composited onto white: {@code round((c · a + 255 · (255 − a)) / 255)}, exactly as Pillow's
 *       {@code white.paste(img, mask=alpha)}.</li>
 *   <li><b>Orientation.</b> The EXIF orientation (JPEG APP1, PNG {@code eXIf}, WebP {@code EXIF}) is applied as
 *       Pillow's {@code ImageOps.exif_transpose} does, for all 8 values; a damaged EXIF block is ignored.</li>
 * </ul>
 *
 * <p>Failures are {@link InvalidImageException}s whose messages name the request field and can go back to the client.
 * A decoder is immutable and thread-safe.
 */
public final class ImageDecoder {

    /** Default limit on the file size: 50 MiB. */
    public static final long DEFAULT_MAX_BYTES = 50L << 20;
    /** Default limit on the pixel count: 50 megapixels (for example 8192 × 6144). */
    public static final long DEFAULT_MAX_PIXELS = 50_000_000L;

    private final long maxBytes;
    private final long maxPixels;

    /** A decoder with the default limits. */
    public ImageDecoder() {
        this(DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS);
    }

    /** A decoder that refuses files over {@code maxBytes} bytes and images over {@code maxPixels} pixels. */
    public ImageDecoder(long maxBytes, long maxPixels) {
        if (maxBytes < 1 || maxPixels < 1) {
            throw new IllegalArgumentException("limits must be positive: maxBytes " + maxBytes + ", maxPixels "
                    + maxPixels);
        }
        this.maxBytes = maxBytes;
        this.maxPixels = maxPixels;
    }

    /**
     * Decodes {@code bytes}; {@code field} names the request field in error messages (for example {@code image_url}).
     *
     * @throws InvalidImageException if the bytes are not a PNG, JPEG or WebP image, are damaged, or exceed a limit
     */
    public RgbImage decode(byte[] bytes, String field) {
        if (bytes == null || bytes.length == 0) {
            throw new InvalidImageException(Kind.UNSUPPORTED_FORMAT, field, "empty file: not a PNG, JPEG or WebP image",
                    null);
        }
        if (bytes.length > maxBytes) {
            throw new InvalidImageException(Kind.TOO_LARGE, field, "image file is " + bytes.length
                    + " bytes, the limit is " + maxBytes + " bytes", null);
        }
        Format format = ImageContainer.detect(bytes);
        if (format == null) {
            throw new InvalidImageException(Kind.UNSUPPORTED_FORMAT, field, "not a PNG, JPEG or WebP image", null);
        }
        String name = format.name().equals("WEBP") ? "WebP" : format.name();
        ImageReader reader = reader(format);
        List<String> warnings = new ArrayList<>();
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            reader.setInput(in, true, true);
            reader.addIIOReadWarningListener(new Warnings(warnings));
            int width = reader.getWidth(0);
            int height = reader.getHeight(0);
            if (width < 1 || height < 1) {
                throw new InvalidImageException(Kind.CORRUPT, field, "corrupt " + name + ": image size " + width + "×"
                        + height, null);
            }
            if ((long) width * height > maxPixels) {
                throw new InvalidImageException(Kind.TOO_LARGE, field, "image is " + width + "×" + height
                        + " pixels, the limit is " + maxPixels + " pixels", null);
            }
            RgbImage rgb;
            ImageTypeSpecifier raw = format == Format.JPEG ? reader.getRawImageType(0) : null;
            if (raw != null && raw.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_CMYK) {
                // four-channel JPEG: the stored samples, converted here as libjpeg and Pillow do
                Raster samples = reader.readRaster(0, null);
                checkDecoded(warnings, samples.getWidth(), samples.getHeight(), width, height, field, name);
                int transform = ImageContainer.adobeTransform(bytes);
                rgb = fromCmyk(transform == 2 ? ycckToCmyk(samples) : samples,
                        transform != ImageContainer.NO_ADOBE_SEGMENT);
            } else {
                BufferedImage image = reader.read(0);
                checkDecoded(warnings, image.getWidth(), image.getHeight(), width, height, field, name);
                rgb = toRgb(image);
            }
            return orient(rgb, ImageContainer.orientation(ImageContainer.exif(format, bytes)));
        } catch (InvalidImageException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            String detail = e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName()
                    : e.getMessage();
            throw new InvalidImageException(Kind.CORRUPT, field, "corrupt " + name + " (" + detail + ")", e);
        } finally {
            reader.dispose();
        }
    }

    /** Refuses a decode the reader flagged as truncated, or whose size is not the header's. */
    private static void checkDecoded(List<String> warnings, int w, int h, int width, int height, String field,
                                     String name) {
        for (String warning : warnings) {
            if (warning.toLowerCase(Locale.ROOT).contains("premature end")) {
                throw new InvalidImageException(Kind.CORRUPT, field, "corrupt " + name + ": the file is truncated",
                        null);
            }
        }
        if (w != width || h != height) {
            throw new InvalidImageException(Kind.CORRUPT, field, "corrupt " + name + ": header says " + width + "×"
                    + height + ", decoded " + w + "×" + h, null);
        }
    }

    /** A new reader for the format: the JDK's for PNG, TwelveMonkeys' for JPEG and WebP. */
    private static ImageReader reader(Format format) {
        String wanted = switch (format) {
            case PNG -> "com.sun.imageio.plugins.png.";
            case JPEG -> "com.twelvemonkeys.imageio.plugins.jpeg.";
            case WEBP -> "com.twelvemonkeys.imageio.plugins.webp.";
        };
        String formatName = format == Format.WEBP ? "webp" : format.name().toLowerCase(Locale.ROOT);
        Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(formatName);
        List<String> found = new ArrayList<>();
        while (readers.hasNext()) {
            ImageReader r = readers.next();
            if (r.getClass().getName().startsWith(wanted)) {
                return r;
            }
            found.add(r.getClass().getName());
            r.dispose();
        }
        throw new IllegalStateException("no " + wanted + "* ImageIO reader for " + formatName + " is registered (found "
                + found + "): the TwelveMonkeys imageio-jpeg and imageio-webp jars must be on the class path");
    }

    /** The image's samples as 8-bit RGB, alpha composited onto white. */
    static RgbImage toRgb(BufferedImage image) {
        ColorModel cm = image.getColorModel();
        Raster raster = image.getRaster();
        int w = image.getWidth();
        int h = image.getHeight();
        byte[] out = new byte[w * h * 3];
        int[] row = new int[w * raster.getNumBands()];
        if (cm instanceof IndexColorModel icm) {
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, row);
                for (int x = 0; x < w; x++) {
                    int i = row[x];
                    put(out, (y * w + x) * 3, icm.getRed(i), icm.getGreen(i), icm.getBlue(i), icm.getAlpha(i));
                }
            }
            return new RgbImage(w, h, out);
        }
        if (cm.isAlphaPremultiplied()) {
            image = copyOf(image);
            image.coerceData(false);
            raster = image.getRaster();
        }
        int bands = raster.getNumBands();
        int colors = cm.getNumColorComponents();
        boolean alpha = cm.hasAlpha();
        if (colors != 1 && colors != 3 || bands != colors + (alpha ? 1 : 0)) {
            throw new IllegalArgumentException("unsupported pixel layout: " + colors + " color components, " + bands
                    + " bands, " + cm.getColorSpace().getClass().getSimpleName());
        }
        int[] bits = new int[bands];
        for (int b = 0; b < bands; b++) {
            bits[b] = raster.getSampleModel().getSampleSize(b);
        }
        for (int y = 0; y < h; y++) {
            raster.getPixels(0, y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int p = x * bands;
                int r = to8(row[p], bits[0]);
                int g = colors == 3 ? to8(row[p + 1], bits[1]) : r;
                int b = colors == 3 ? to8(row[p + 2], bits[2]) : r;
                int a = alpha ? to8(row[p + colors], bits[colors]) : 255;
                put(out, (y * w + x) * 3, r, g, b, a);
            }
        }
        return new RgbImage(w, h, out);
    }

    /**
     * CMYK samples (inverted when {@code inverted}, as files with an Adobe segment store them) to RGB with Pillow's {@code cmyk2rgb}:
     * {@code nk = 255 − K}, {@code R = nk − (t + (t >> 8)) >> 8} with {@code t = C · nk + 128}, clipped to 0–255.
     */
    static RgbImage fromCmyk(Raster raster, boolean inverted) {
        int w = raster.getWidth();
        int h = raster.getHeight();
        if (raster.getNumBands() != 4) {
            throw new IllegalArgumentException("CMYK image with " + raster.getNumBands() + " bands");
        }
        byte[] out = new byte[w * h * 3];
        int[] row = new int[w * 4];
        for (int y = 0; y < h; y++) {
            raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int o = (y * w + x) * 3;
                int k = inverted ? 255 - row[4 * x + 3] : row[4 * x + 3];
                int nk = 255 - k;
                for (int c = 0; c < 3; c++) {
                    int v = inverted ? 255 - row[4 * x + c] : row[4 * x + c];
                    int t = v * nk + 128;
                    int rgb = nk - (((t >> 8) + t) >> 8);
                    out[o + c] = (byte) Math.clamp(rgb, 0, 255);
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    /**
     * libjpeg's YCCK → CMYK conversion ({@code ycck_cmyk_convert}, the same in libjpeg-turbo): Y, Cb, Cr become R, G,
     * B by the JFIF equations in 16-bit fixed point, stored as {@code 255 − R} (Adobe's inverted C), likewise M and Y;
     * K passes through.
     */
    static Raster ycckToCmyk(Raster ycck) {
        int w = ycck.getWidth();
        int h = ycck.getHeight();
        WritableRaster out = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, w, h, 4, null);
        int[] row = new int[w * 4];
        for (int y = 0; y < h; y++) {
            ycck.getPixels(ycck.getMinX(), ycck.getMinY() + y, w, 1, row);
            for (int x = 0; x < w; x++) {
                int p = 4 * x;
                int luma = row[p];
                int cb = row[p + 1];
                int cr = row[p + 2];
                row[p] = Math.clamp(255 - (luma + YCC.crR[cr]), 0, 255);
                row[p + 1] = Math.clamp(255 - (luma + ((YCC.cbG[cb] + YCC.crG[cr]) >> YCC.SCALEBITS)), 0, 255);
                row[p + 2] = Math.clamp(255 - (luma + YCC.cbB[cb]), 0, 255);
            }
            out.setPixels(0, y, w, 1, row);
        }
        return out;
    }

    /** libjpeg's YCbCr → RGB tables ({@code build_ycc_rgb_table}): 16-bit fixed point, rounded. */
    private static final class YCC {
        static final int SCALEBITS = 16;
        static final int[] crR = new int[256];
        static final int[] cbB = new int[256];
        static final int[] crG = new int[256];
        static final int[] cbG = new int[256];

        static {
            int half = 1 << (SCALEBITS - 1);
            for (int i = 0; i < 256; i++) {
                int x = i - 128;
                crR[i] = (fix(1.40200) * x + half) >> SCALEBITS;
                cbB[i] = (fix(1.77200) * x + half) >> SCALEBITS;
                crG[i] = -fix(0.71414) * x;
                cbG[i] = -fix(0.34414) * x + half;
            }
        }

        private static int fix(double v) {
            return (int) (v * (1 << SCALEBITS) + 0.5);
        }
    }

    /** Writes one pixel, flattening alpha onto white with Pillow's rounded blend. */
    private static void put(byte[] out, int o, int r, int g, int b, int a) {
        if (a != 255) {
            r = blendOnWhite(r, a);
            g = blendOnWhite(g, a);
            b = blendOnWhite(b, a);
        }
        out[o] = (byte) r;
        out[o + 1] = (byte) g;
        out[o + 2] = (byte) b;
    }

    /** {@code round((c · a + 255 · (255 − a)) / 255)} in Pillow's integer form. */
    static int blendOnWhite(int c, int a) {
        int t = c * a + 255 * (255 - a) + 128;
        return ((t >> 8) + t) >> 8;
    }

    /** A sample of {@code bits} bits as 8 bits: high byte of 16-bit samples, scaled up from fewer than 8 bits. */
    private static int to8(int v, int bits) {
        if (bits == 8) {
            return v;
        }
        if (bits > 8) {
            return v >>> (bits - 8);
        }
        return v * 255 / ((1 << bits) - 1);
    }

    private static BufferedImage copyOf(BufferedImage image) {
        ColorModel cm = image.getColorModel();
        return new BufferedImage(cm, image.copyData(null), cm.isAlphaPremultiplied(), null);
    }

    /**
     * The image with EXIF orientation {@code o} undone (Pillow's exif_transpose): 2 mirror, 3 rotate 180°, 4 flip,
     * 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise; 1 (and anything else)
     * returns the image itself.
     */
    static RgbImage orient(RgbImage in, int o) {
        if (o < 2 || o > 8) {
            return in;
        }
        int w = in.width();
        int h = in.height();
        boolean swap = o >= 5;
        int ow = swap ? h : w;
        int oh = swap ? w : h;
        byte[] src = in.rgb();
        byte[] out = new byte[src.length];
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int sx;
                int sy;
                switch (o) {
                    case 2 -> { sx = w - 1 - x; sy = y; }
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }
                    case 4 -> { sx = x; sy = h - 1 - y; }
                    case 5 -> { sx = y; sy = x; }
                    case 6 -> { sx = y; sy = h - 1 - x; }
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }
                    default -> { sx = w - 1 - y; sy = x; } // 8
                }
                System.arraycopy(src, (sy * w + sx) * 3, out, (y * ow + x) * 3, 3);
            }
        }
        return new RgbImage(ow, oh, out);
    }

    /** Collects the reader's warnings (libjpeg reports a truncated file as one). */
    private record Warnings(List<String> into) implements IIOReadWarningListener {
        @Override
        public void warningOccurred(ImageReader source, String warning) {
            into.add(warning);
        }
    }
}
