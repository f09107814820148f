package dev.likeness.pipeline.image;

import com.twelvemonkeys.imageio.metadata.CompoundDirectory;
import com.twelvemonkeys.imageio.metadata.Directory;
import com.twelvemonkeys.imageio.metadata.Entry;
import com.twelvemonkeys.imageio.metadata.tiff.TIFF;
import com.twelvemonkeys.imageio.metadata.tiff.TIFFReader;

import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * What the decoder needs from an image file's container before and besides its pixels: the format (from the magic
 * bytes), the EXIF block (JPEG APP1 "Exif", PNG {@code eXIf} chunk, WebP {@code EXIF} chunk) and, for JPEG, whether an
 * Adobe APP14 segment is present (it says CMYK samples are stored inverted).
 */
final class ImageContainer {

    /** The formats the service accepts. */
    enum Format {
        PNG, JPEG, WEBP
    }

    private static final byte[] PNG_MAGIC = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    private static final byte[] EXIF_HEADER = {'E', 'x', 'i', 'f', 0, 0};

    private ImageContainer() {
    }

    /** The format the bytes start with, or null if none of PNG, JPEG, WebP. */
    static Format detect(byte[] b) {
        if (b.length >= 8 && Arrays.equals(b, 0, 8, PNG_MAGIC, 0, 8)) {
            return Format.PNG;
        }
        if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) {
            return Format.JPEG;
        }
        if (b.length >= 12 && ascii(b, 0, 4).equals("RIFF") && ascii(b, 8, 4).equals("WEBP")) {
            return Format.WEBP;
        }
        return null;
    }

    /** The TIFF-structured EXIF data of the file (starting at its byte-order mark), or null if it has none. */
    static byte[] exif(Format format, byte[] b) {
        byte[] block = switch (format) {
            case JPEG -> jpegSegment(b, 0xe1, EXIF_HEADER);
            case PNG -> pngChunk(b, "eXIf");
            case WEBP -> webpChunk(b, "EXIF");
        };
        if (block != null && startsWith(block, EXIF_HEADER)) {
            block = Arrays.copyOfRange(block, EXIF_HEADER.length, block.length);
        }
        return block;
    }

    /** Whether a JPEG file has an Adobe APP14 segment (CMYK and YCCK samples are then stored inverted). */
    static boolean hasAdobeSegment(byte[] b) {
        return adobeTransform(b) != NO_ADOBE_SEGMENT;
    }

    /** {@link #adobeTransform} of a JPEG without an Adobe APP14 segment. */
    static final int NO_ADOBE_SEGMENT = -1;

    /**
     * The colour transform of a JPEG file's Adobe APP14 segment (0: none, RGB or CMYK; 1: YCbCr; 2: YCCK), or
     * {@link #NO_ADOBE_SEGMENT}. A segment too short to hold the flag counts as transform 0.
     */
    static int adobeTransform(byte[] b) {
        byte[] app14 = jpegSegment(b, 0xee, "Adobe".getBytes(StandardCharsets.US_ASCII));
        if (app14 == null) {
            return NO_ADOBE_SEGMENT;
        }
        return app14.length >= 12 ? app14[11] & 0xff : 0; // "Adobe", version, flags0, flags1, transform
    }

    /**
     * The EXIF orientation (1–8) of the TIFF-structured EXIF data, 1 when the data is absent, has no orientation tag
     * in its first directory, or cannot be parsed (a damaged EXIF block does not make the image unusable), or holds
     * a value outside 1–8.
     */
    static int orientation(byte[] exif) {
        if (exif == null || exif.length < 8) {
            return 1;
        }
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(exif))) {
            Directory dir = new TIFFReader().read(in);
            if (dir instanceof CompoundDirectory compound && compound.directoryCount() > 0) {
                dir = compound.getDirectory(0);
            }
            Entry e = dir.getEntryById(TIFF.TAG_ORIENTATION);
            Object v = e == null ? null : e.getValue();
            if (v instanceof Object[] arr && arr.length > 0) {
                v = arr[0];
            } else if (v instanceof short[] s && s.length > 0) {
                v = s[0];
            } else if (v instanceof int[] s && s.length > 0) {
                v = s[0];
            }
            if (v instanceof Number n && n.intValue() >= 1 && n.intValue() <= 8) {
                return n.intValue();
            }
            return 1;
        } catch (IOException | RuntimeException e) {
            return 1;
        }
    }

    /**
     * The payload (after {@code header}) of the first JPEG marker segment {@code marker} whose payload starts with
     * {@code header}, searching the segments before the first scan; null if none.
     */
    private static byte[] jpegSegment(byte[] b, int marker, byte[] header) {
        int p = 2;
        while (p + 4 <= b.length) {
            if ((b[p] & 0xff) != 0xff) {
                return null; // not at a marker: damaged header, no metadata to find
            }
            int m = b[p + 1] & 0xff;
            if (m == 0xff) {
                p++; // fill byte
                continue;
            }
            if (m == 0xda || m == 0xd9) {
                return null; // start of scan or end of image: metadata comes before
            }
            if (m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {
                p += 2; // markers without a length
                continue;
            }
            int length = ((b[p + 2] & 0xff) << 8) | (b[p + 3] & 0xff);
            int start = p + 4;
            int end = p + 2 + length;
            if (length < 2 || end > b.length) {
                return null;
            }
            if (m == marker && end - start >= header.length && Arrays.equals(b, start, start + header.length,
                    header, 0, header.length)) {
                return Arrays.copyOfRange(b, start, end);
            }
            p = end;
        }
        return null;
    }

    /** The data of the first PNG chunk of the given type, or null. */
    private static byte[] pngChunk(byte[] b, String type) {
        int p = 8;
        while (p + 8 <= b.length) {
            long length = readInt(b, p, false) & 0xffffffffL;
            String t = ascii(b, p + 4, 4);
            long end = p + 8 + length;
            if (end > b.length) {
                return null;
            }
            if (t.equals(type)) {
                return Arrays.copyOfRange(b, p + 8, (int) end);
            }
            if (t.equals("IEND")) {
                return null;
            }
            p = (int) end + 4; // skip the CRC
        }
        return null;
    }

    /** The data of the first RIFF chunk of the given fourcc in a WebP file, or null. */
    private static byte[] webpChunk(byte[] b, String fourcc) {
        int p = 12;
        while (p + 8 <= b.length) {
            String t = ascii(b, p, 4);
            long size = readInt(b, p + 4, true) & 0xffffffffL;
            long end = p + 8 + size;
            if (end > b.length) {
                return null;
            }
            if (t.equals(fourcc)) {
                return Arrays.copyOfRange(b, p + 8, (int) end);
            }
            p = (int) (end + (size & 1)); // chunks are padded to an even size
        }
        return null;
    }

    private static int readInt(byte[] b, int p, boolean littleEndian) {
        int b0 = b[p] & 0xff, b1 = b[p + 1] & 0xff, b2 = b[p + 2] & 0xff, b3 = b[p + 3] & 0xff;
        return littleEndian ? b0 | b1 << 8 | b2 << 16 | b3 << 24 : b0 << 24 | b1 << 16 | b2 << 8 | b3;
    }

    private static String ascii(byte[] b, int p, int n) {
        return new String(b, p, n, StandardCharsets.ISO_8859_1);
    }

    private static boolean startsWith(byte[] b, byte[] prefix) {
        return b.length >= prefix.length && Arrays.equals(b, 0, prefix.length, prefix, 0, prefix.length);
    }
}
