package dev.likeness.pipeline.image;

import dev.likeness.pipeline.image.InvalidImageException.Kind;
import org.junit.jupiter.api.Test;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageOutputStream;
import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Iterator;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link ImageDecoder} on inputs built here: pixel layouts, EXIF in JPEG, YCCK, limits and damaged files. */
class ImageDecoderTest {
    private final ImageDecoder decoder = new ImageDecoder();

    // ------------------------------------------------------------------ pixel layouts (PNG: lossless, exact)

    @Test
    void grayscaleIsCopiedWithoutGammaConversion() throws IOException {
        BufferedImage img = new BufferedImage(3, 2, BufferedImage.TYPE_BYTE_GRAY);
        int[] values = {0, 1, 100, 128, 254, 255};
        img.getRaster().setPixels(0, 0, 3, 2, values);
        RgbImage out = decoder.decode(png(img), "image_url");
        for (int i = 0; i < 6; i++) {
            for (int c = 0; c < 3; c++) {
                assertEquals(values[i], out.get(i % 3, i / 3, c), "pixel " + i);
            }
        }
    }

    @Test
    void sixteenBitSamplesKeepTheirHighByte() throws IOException {
        BufferedImage gray = new BufferedImage(2, 1, BufferedImage.TYPE_USHORT_GRAY);
        gray.getRaster().setPixels(0, 0, 2, 1, new int[] {0x12ff, 0xfffe});
        RgbImage g = decoder.decode(png(gray), "image_url");
        assertArrayEquals(bytes(0x12, 0x12, 0x12, 0xff, 0xff, 0xff), g.rgb());

        ComponentColorModel cm = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), true, false,
                Transparency.TRANSLUCENT, DataBuffer.TYPE_USHORT);
        WritableRaster r = cm.createCompatibleWritableRaster(2, 1);
        r.setPixels(0, 0, 2, 1, new int[] {0xab00, 0x0100, 0xffff, 0xffff, 0x8000, 0x4000, 0x2000, 0x0000});
        RgbImage rgba = decoder.decode(png(new BufferedImage(cm, r, false, null)), "image_url");
        // pixel 0 opaque; pixel 1 fully transparent → white
        assertArrayEquals(bytes(0xab, 0x01, 0xff, 255, 255, 255), rgba.rgb());
    }

    @Test
    void alphaIsCompositedOnWhiteWithPillowsRounding() throws IOException {
        BufferedImage img = new BufferedImage(4, 1, BufferedImage.TYPE_INT_ARGB);
        img.setRGB(0, 0, 0xff102030); // opaque
        img.setRGB(1, 0, 0x00102030); // transparent
        img.setRGB(2, 0, 0x80000000); // black at alpha 128
        img.setRGB(3, 0, 0x40ff0000); // red at alpha 64
        RgbImage out = decoder.decode(png(img), "image_url");
        int half = Math.round(255f * 127 / 255); // (0 · 128 + 255 · 127) / 255 = 127
        int quarterG = Math.round(255f * 191 / 255);
        assertArrayEquals(bytes(0x10, 0x20, 0x30, 255, 255, 255, half, half, half, 255, quarterG, quarterG),
                out.rgb());
        for (int a = 0; a <= 255; a++) {
            for (int c = 0; c <= 255; c += 5) {
                assertEquals(Math.round((c * a + 255.0 * (255 - a)) / 255.0), ImageDecoder.blendOnWhite(c, a),
                        "c " + c + ", a " + a);
            }
        }
    }

    @Test
    void palettesAndLowBitDepthsAreExpanded() throws IOException {
        byte[] r = bytes(255, 0, 10), g = bytes(0, 255, 20), b = bytes(0, 0, 30), a = bytes(255, 255, 0);
        IndexColorModel icm = new IndexColorModel(2, 3, r, g, b, a);
        BufferedImage pal = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_BINARY, icm);
        pal.getRaster().setPixels(0, 0, 3, 1, new int[] {1, 0, 2});
        assertArrayEquals(bytes(0, 255, 0, 255, 0, 0, 255, 255, 255), decoder.decode(png(pal), "x").rgb());

        BufferedImage bits = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_BINARY); // 1-bit black/white
        bits.getRaster().setPixels(0, 0, 3, 1, new int[] {1, 0, 1});
        assertArrayEquals(bytes(255, 255, 255, 0, 0, 0, 255, 255, 255), decoder.decode(png(bits), "x").rgb());
    }

    // ------------------------------------------------------------------ JPEG: EXIF orientation, gray, YCCK

    @Test
    void jpegExifOrientationIsApplied() throws IOException {
        BufferedImage img = new BufferedImage(16, 8, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 8; y++) {
            for (int x = 0; x < 16; x++) {
                img.setRGB(x, y, (x * 16) << 16 | (y * 32) << 8 | 128);
            }
        }
        byte[] plain = jpeg(img);
        RgbImage upright = decoder.decode(plain, "image_url");
        assertEquals(16, upright.width());
        for (int o = 1; o <= 8; o++) {
            for (boolean bigEndian : new boolean[] {true, false}) {
                RgbImage out = decoder.decode(withExif(plain, tiffWithOrientation(o, bigEndian)), "image_url");
                assertEquals(ImageDecoder.orient(upright, o), out, "orientation " + o);
                assertEquals(o >= 5 ? 8 : 16, out.width(), "orientation " + o + " width");
            }
        }
        // the orientation maps, checked on the corner pixels: where does the source's top-left corner land?
        RgbImage src = new RgbImage(3, 2, bytes(1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0, 5, 0, 0, 6, 0, 0));
        int[][] expected = {null, {1, 2, 3, 4, 5, 6}, {3, 2, 1, 6, 5, 4}, {6, 5, 4, 3, 2, 1}, {4, 5, 6, 1, 2, 3},
                {1, 4, 2, 5, 3, 6}, {4, 1, 5, 2, 6, 3}, {6, 3, 5, 2, 4, 1}, {3, 6, 2, 5, 1, 4}};
        for (int o = 1; o <= 8; o++) {
            RgbImage out = ImageDecoder.orient(src, o);
            int[] reds = new int[6];
            for (int i = 0; i < 6; i++) {
                reds[i] = out.rgb()[3 * i];
            }
            assertArrayEquals(expected[o], reds, "orientation " + o);
        }
    }

    @Test
    void damagedOrOddExifIsIgnored() throws IOException {
        BufferedImage img = new BufferedImage(8, 4, BufferedImage.TYPE_3BYTE_BGR);
        byte[] plain = jpeg(img);
        RgbImage upright = decoder.decode(plain, "x");
        byte[] garbage = "MM\0*\0\0\0\u00ff garbage".getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(upright, decoder.decode(withExif(plain, garbage), "x"));
        assertEquals(upright, decoder.decode(withExif(plain, tiffWithOrientation(9, true)), "x"));
    }

    @Test
    void embeddedIccProfilesAreNotApplied() throws IOException {
        // Pillow decodes the stored samples and leaves the profile in info["icc_profile"]; so do we (phones embed
        // Display P3 profiles in most JPEGs). Here: a linear-RGB profile, which would change every mid-tone if applied.
        BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                img.setRGB(x, y, (x * 16) << 16 | (y * 16) << 8 | 100);
            }
        }
        ImageWriter w = jdkJpegWriter();
        ImageWriteParam p = w.getDefaultWriteParam();
        p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        p.setCompressionQuality(1f);
        IIOMetadata md = w.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(img), p);
        String f = "javax_imageio_jpeg_image_1.0";
        IIOMetadataNode root = (IIOMetadataNode) md.getAsTree(f);
        IIOMetadataNode icc = new IIOMetadataNode("app2ICC");
        icc.setUserObject(java.awt.color.ICC_Profile.getInstance(ColorSpace.CS_LINEAR_RGB));
        root.getElementsByTagName("app0JFIF").item(0).appendChild(icc);
        md.setFromTree(f, root);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ImageOutputStream os = ImageIO.createImageOutputStream(out)) {
            w.setOutput(os);
            w.write(null, new IIOImage(img, null, md), p);
        }
        byte[] withProfile = out.toByteArray();
        assertTrue(indexOf(withProfile, "ICC_PROFILE".getBytes(StandardCharsets.US_ASCII)) > 0, "profile embedded");
        assertEquals(decoder.decode(jpeg(img), "x"), decoder.decode(withProfile, "x"));
    }

    @Test
    void grayscaleJpeg() throws IOException {
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_BYTE_GRAY);
        for (int i = 0; i < 64; i++) {
            img.getRaster().setSample(i % 8, i / 8, 0, 90);
        }
        RgbImage out = decoder.decode(jpeg(img), "x");
        for (int i = 0; i < out.rgb().length; i++) {
            assertEquals(90, out.rgb()[i] & 0xff, "sample " + i); // a flat block survives JPEG exactly
        }
    }

    @Test
    void ycckJpegConvertsLikePillow() throws IOException {
        // a YCCK JPEG (Adobe transform 2): the JDK writer stores the raster's samples as Y, Cb, Cr, K
        int w = 16, h = 16;
        WritableRaster ycck = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, w, h, 4, null);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                ycck.setPixel(x, y, new int[] {60 + 8 * x, 100 + 2 * y, 150 - 3 * x, 4 * (x + y)});
            }
        }
        RgbImage out = decoder.decode(ycckJpeg(ycck), "image_url");
        // (exactness against Pillow is checked on the committed ycck.jpg in ImageDecoderGoldenTest; here the
        // conversion's meaning, on samples we chose)
        // Pillow: libjpeg turns YCCK into inverted CMYK (C = 255 − R(Y, Cb, Cr), K as stored), Pillow inverts it
        // back, then R = (255 − K') · (1 − C' / 255) with C' = R(Y, Cb, Cr), K' = 255 − K
        int max = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int[] s = ycck.getPixel(x, y, (int[]) null);
                double[] rgb = {s[0] + 1.402 * (s[2] - 128), s[0] - 0.344136 * (s[1] - 128) - 0.714136 * (s[2] - 128),
                        s[0] + 1.772 * (s[1] - 128)};
                double nk = s[3]; // 255 − K' = K
                for (int c = 0; c < 3; c++) {
                    double cmy = Math.clamp(rgb[c], 0, 255);
                    double expected = nk - cmy * nk / 255;
                    max = Math.max(max, (int) Math.round(Math.abs(out.get(x, y, c) - expected)));
                }
            }
        }
        System.out.println("YCCK max abs diff from the Pillow formula: " + max);
        assertTrue(max <= 2, "YCCK → RGB off by " + max + " levels (JPEG quality 100 loss only)");
    }

    // ------------------------------------------------------------------ errors

    @Test
    void unsupportedFormatsAreRefused() {
        for (byte[] b : new byte[][] {"hello".getBytes(StandardCharsets.UTF_8), "GIF89a\1\0\1\0".getBytes(
                StandardCharsets.US_ASCII), {0x42, 0x4d, 0, 0}, "RIFF\0\0\0\0WAVE".getBytes(StandardCharsets.US_ASCII)}) {
            var e = assertThrows(InvalidImageException.class, () -> decoder.decode(b, "image_url"));
            assertEquals("image_url: not a PNG, JPEG or WebP image", e.getMessage());
            assertEquals(Kind.UNSUPPORTED_FORMAT, e.kind());
            assertEquals("image_url", e.field());
        }
        var e = assertThrows(InvalidImageException.class, () -> decoder.decode(new byte[0], "image_url"));
        assertEquals("image_url: empty file: not a PNG, JPEG or WebP image", e.getMessage());
    }

    @Test
    void damagedFilesAreCorrupt() throws IOException {
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_3BYTE_BGR);
        for (int i = 0; i < 64 * 64; i++) {
            img.setRGB(i % 64, i / 64, i * 2654435761L > 0 ? (int) (i * 2654435761L) : i);
        }
        byte[] j = jpeg(img);
        byte[] p = png(img);
        byte[][] damaged = {Arrays.copyOf(j, j.length / 2), Arrays.copyOf(j, 40), Arrays.copyOf(p, p.length / 2),
                Arrays.copyOf(p, 20), "RIFF\u0010\0\0\0WEBPVP8 \u0004\0\0\0abcd".getBytes(StandardCharsets.ISO_8859_1)};
        String[] formats = {"JPEG", "JPEG", "PNG", "PNG", "WebP"};
        for (int i = 0; i < damaged.length; i++) {
            byte[] b = damaged[i];
            var e = assertThrows(InvalidImageException.class, () -> decoder.decode(b, "image_url"), "case " + i);
            System.out.println("damaged case " + i + ": " + e.getMessage());
            assertEquals(Kind.CORRUPT, e.kind(), e.getMessage());
            assertTrue(e.getMessage().startsWith("image_url: corrupt " + formats[i]), e.getMessage());
        }
    }

    @Test
    void hugeImagesAreRefusedFromTheHeader() throws IOException {
        // a PNG that claims 20000 × 20000 pixels and holds none: refused before any decoding
        var e = assertThrows(InvalidImageException.class, () -> decoder.decode(pngHeader(20000, 20000), "image_url"));
        assertEquals("image_url: image is 20000×20000 pixels, the limit is 50000000 pixels", e.getMessage());
        assertEquals(Kind.TOO_LARGE, e.kind());

        // a real JPEG whose frame header is patched to 30000 × 20000
        byte[] j = jpeg(new BufferedImage(8, 8, BufferedImage.TYPE_3BYTE_BGR));
        int sof = indexOf(j, new byte[] {(byte) 0xff, (byte) 0xc0});
        ByteBuffer.wrap(j, sof + 5, 4).putShort((short) 20000).putShort((short) 30000);
        var e2 = assertThrows(InvalidImageException.class, () -> decoder.decode(j, "image_url"));
        assertEquals("image_url: image is 30000×20000 pixels, the limit is 50000000 pixels", e2.getMessage());

        ImageDecoder small = new ImageDecoder(1000, 63);
        byte[] p = png(new BufferedImage(8, 8, BufferedImage.TYPE_3BYTE_BGR));
        var e3 = assertThrows(InvalidImageException.class, () -> small.decode(p, "image_url"));
        assertEquals("image_url: image is 8×8 pixels, the limit is 63 pixels", e3.getMessage());
        var e4 = assertThrows(InvalidImageException.class, () -> small.decode(new byte[1001], "image_url"));
        assertEquals("image_url: image file is 1001 bytes, the limit is 1000 bytes", e4.getMessage());
        assertEquals(Kind.TOO_LARGE, e4.kind());
        assertEquals(64, new ImageDecoder(1000, 64).decode(p, "x").rgb().length / 3);
    }

    // ------------------------------------------------------------------ helpers

    static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = (byte) v[i];
        }
        return b;
    }

    static byte[] png(BufferedImage img) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, "png", out), "no PNG writer for " + img);
        return out.toByteArray();
    }

    /** A JPEG at quality 1.0 from the JDK's writer. */
    static byte[] jpeg(BufferedImage img) throws IOException {
        ImageWriter w = jdkJpegWriter();
        ImageWriteParam p = w.getDefaultWriteParam();
        p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        p.setCompressionQuality(1f);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ImageOutputStream os = ImageIO.createImageOutputStream(out)) {
            w.setOutput(os);
            w.write(null, new IIOImage(img, null, null), p);
        }
        return out.toByteArray();
    }

    /** A four-channel raster written as a YCCK JPEG (Adobe APP14, transform 2), samples stored as given. */
    static byte[] ycckJpeg(Raster raster) throws IOException {
        ImageWriter w = jdkJpegWriter();
        ImageWriteParam p = w.getDefaultWriteParam();
        p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
        p.setCompressionQuality(1f);
        ComponentColorModel cm = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), true, false,
                Transparency.TRANSLUCENT, DataBuffer.TYPE_BYTE);
        IIOMetadata md = w.getDefaultImageMetadata(new ImageTypeSpecifier(cm, cm.createCompatibleSampleModel(1, 1)), p);
        String f = "javax_imageio_jpeg_image_1.0";
        IIOMetadataNode root = (IIOMetadataNode) md.getAsTree(f);
        IIOMetadataNode variety = (IIOMetadataNode) root.getElementsByTagName("JPEGvariety").item(0);
        while (variety.getFirstChild() != null) {
            variety.removeChild(variety.getFirstChild()); // no JFIF
        }
        IIOMetadataNode seq = (IIOMetadataNode) root.getElementsByTagName("markerSequence").item(0);
        var adobe = root.getElementsByTagName("app14Adobe");
        IIOMetadataNode node = adobe.getLength() > 0 ? (IIOMetadataNode) adobe.item(0) : new IIOMetadataNode(
                "app14Adobe");
        node.setAttribute("transform", "2");
        if (adobe.getLength() == 0) {
            seq.insertBefore(node, seq.getFirstChild());
        }
        md.setFromTree(f, root);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ImageOutputStream os = ImageIO.createImageOutputStream(out)) {
            w.setOutput(os);
            w.write(null, new IIOImage(raster, null, md), p);
        }
        byte[] b = out.toByteArray();
        assertTrue(ImageContainer.hasAdobeSegment(b), "the test JPEG has an Adobe segment");
        return b;
    }

    private static ImageWriter jdkJpegWriter() {
        for (Iterator<ImageWriter> it = ImageIO.getImageWritersByFormatName("jpeg"); it.hasNext(); ) {
            ImageWriter w = it.next();
            if (w.getClass().getName().startsWith("com.sun.")) {
                return w;
            }
        }
        throw new IllegalStateException("no JDK JPEG writer");
    }

    /** TIFF-structured EXIF with one IFD holding the orientation tag. */
    static byte[] tiffWithOrientation(int o, boolean bigEndian) {
        ByteBuffer b = ByteBuffer.allocate(26).order(bigEndian ? java.nio.ByteOrder.BIG_ENDIAN
                : java.nio.ByteOrder.LITTLE_ENDIAN);
        b.put(bigEndian ? (byte) 'M' : (byte) 'I').put(bigEndian ? (byte) 'M' : (byte) 'I').putShort((short) 42)
                .putInt(8); // header, IFD0 at 8
        b.putShort((short) 1); // one entry
        b.putShort((short) 0x0112).putShort((short) 3).putInt(1).putShort((short) o).putShort((short) 0);
        b.putInt(0); // no next IFD
        return b.array();
    }

    /** The JPEG with an APP1 "Exif" segment holding {@code tiff} inserted after SOI. */
    static byte[] withExif(byte[] jpeg, byte[] tiff) {
        byte[] header = "Exif\0\0".getBytes(StandardCharsets.ISO_8859_1);
        int length = 2 + header.length + tiff.length;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(jpeg, 0, 2);
        out.write(0xff);
        out.write(0xe1);
        out.write(length >> 8);
        out.write(length & 0xff);
        out.writeBytes(header);
        out.writeBytes(tiff);
        out.write(jpeg, 2, jpeg.length - 2);
        return out.toByteArray();
    }

    /** A PNG signature, an IHDR for an 8-bit RGB image of the given size, and IEND: no pixel data. */
    static byte[] pngHeader(int w, int h) {
        ByteBuffer ihdr = ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2).put((byte) 0)
                .put((byte) 0).put((byte) 0);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        chunk(out, "IHDR", ihdr.array());
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
        out.writeBytes(t);
        out.writeBytes(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    private static int indexOf(byte[] b, byte[] pattern) {
        outer:
        for (int i = 0; i + pattern.length <= b.length; i++) {
            for (int k = 0; k < pattern.length; k++) {
                if (b[i + k] != pattern[k]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new IllegalArgumentException("pattern not found");
    }
}
