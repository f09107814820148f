package dev.likeness.pipeline.image;

import dev.likeness.engine.DType;
import dev.likeness.engine.Dtypes;
import dev.likeness.engine.Tensor;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import javax.imageio.stream.MemoryCacheImageOutputStream;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * The generated images: the VAE's output tensor to 8-bit RGB, exactly as diffusers'
 * {@code VaeImageProcessor.postprocess(image, output_type="pil")} does it, and the encodings the endpoint returns.
 *
 * <p>Postprocessing, per element: {@code v = clamp(x · 0.5 + 0.5, 0, 1)} computed in the tensor's dtype (for a bf16
 * tensor both the product and the sum round to bf16, as torch's bf16 ops do), then in float32
 * {@code round(v · 255)} with numpy's rounding, half to even, as uint8. NaN becomes 0.
 *
 * <p>Encodings: PNG (8-bit RGB, the JDK's writer, lossless) and JPEG at quality {@value #JPEG_QUALITY} with 4:2:0
 * chroma subsampling and a JFIF header (the JDK's libjpeg-based writer; the quality maps to libjpeg's quality scale as
 * Pillow's {@code quality=} does). fal's {@code output_format} defaults to {@code "jpeg"}; the quality fal uses is not
 * published, and 95 is chosen to keep the compression artefacts small.
 */
public final class OutputImages {

    /** The JPEG quality (libjpeg scale, 1–100) of {@link #jpeg(RgbImage)}. */
    public static final int JPEG_QUALITY = 95;

    private OutputImages() {
    }

    /** Images of {@code [B, 3, H, W]} values in [−1, 1] (f32, bf16 or f16), as diffusers' postprocess makes them. */
    public static List<RgbImage> toImages(Tensor images) {
        if (images.dim() != 4 || images.size(1) != 3) {
            throw new IllegalArgumentException("toImages: expected a [B, 3, H, W] tensor, got "
                    + java.util.Arrays.toString(images.shape()));
        }
        int batch = images.size(0);
        int h = images.size(2);
        int w = images.size(3);
        DType dtype = images.dtype();
        float[] x = images.toFloatArray();
        int plane = h * w;
        List<RgbImage> out = new ArrayList<>(batch);
        for (int n = 0; n < batch; n++) {
            byte[] rgb = new byte[plane * 3];
            for (int c = 0; c < 3; c++) {
                int base = (n * 3 + c) * plane;
                for (int i = 0; i < plane; i++) {
                    rgb[i * 3 + c] = (byte) toByte(x[base + i], dtype);
                }
            }
            out.add(new RgbImage(w, h, rgb));
        }
        return out;
    }

    /** One value of the VAE output as a 0–255 sample (see the class comment). */
    static int toByte(float x, DType dtype) {
        float v = round(round(x * 0.5f, dtype) + 0.5f, dtype);
        if (Float.isNaN(v)) {
            return 0;
        }
        v = Math.min(Math.max(v, 0f), 1f);
        return (int) Math.rint(v * 255f);
    }

    /** The value rounded to {@code dtype} as torch stores the result of an op in that dtype. */
    private static float round(float v, DType dtype) {
        return switch (dtype) {
            case BF16 -> Dtypes.bf16ToF32(Dtypes.f32ToBf16(v));
            case F16 -> Dtypes.f16ToF32(Dtypes.f32ToF16(v));
            default -> v;
        };
    }

    /** The image as a PNG file. */
    public static byte[] png(RgbImage image) {
        return write(image, "png", null);
    }

    /** The image as a JPEG file at quality {@value #JPEG_QUALITY}. */
    public static byte[] jpeg(RgbImage image) {
        return jpeg(image, JPEG_QUALITY);
    }

    /** The image as a JPEG file at the given quality (1–100, libjpeg's scale). */
    public static byte[] jpeg(RgbImage image, int quality) {
        if (quality < 1 || quality > 100) {
            throw new IllegalArgumentException("JPEG quality " + quality + ": expected 1 to 100");
        }
        return write(image, "jpeg", quality / 100f);
    }

    private static byte[] write(RgbImage image, String format, Float quality) {
        ImageWriter writer = jdkWriter(format);
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ImageOutputStream out = new MemoryCacheImageOutputStream(bytes)) {
                writer.setOutput(out);
                ImageWriteParam param = writer.getDefaultWriteParam();
                if (quality != null) {
                    param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
                    param.setCompressionQuality(quality);
                }
                writer.write(null, new IIOImage(toBufferedImage(image), null, null), param);
            }
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException("encoding a " + image + " as " + format + " failed", e);
        } finally {
            writer.dispose();
        }
    }

    /** The JDK's own writer for the format (not a plugin's), so the output does not depend on the class path. */
    private static ImageWriter jdkWriter(String format) {
        Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName(format);
        while (writers.hasNext()) {
            ImageWriter w = writers.next();
            if (w.getClass().getName().startsWith("com.sun.imageio.plugins.")) {
                return w;
            }
            w.dispose();
        }
        throw new IllegalStateException("the JDK's " + format + " ImageIO writer is not available");
    }

    /** The image as a TYPE_3BYTE_BGR BufferedImage (what the JDK writers encode as 8-bit RGB). */
    static BufferedImage toBufferedImage(RgbImage image) {
        BufferedImage out = new BufferedImage(image.width(), image.height(), BufferedImage.TYPE_3BYTE_BGR);
        byte[] bgr = ((DataBufferByte) out.getRaster().getDataBuffer()).getData();
        byte[] rgb = image.rgb();
        for (int i = 0; i < rgb.length; i += 3) {
            bgr[i] = rgb[i + 2];
            bgr[i + 1] = rgb[i + 1];
            bgr[i + 2] = rgb[i];
        }
        return out;
    }
}
