package dev.likeness.pipeline.image;

import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link OutputImages}: diffusers' postprocess (golden/images/postprocess.safetensors), PNG and JPEG encoding. */
class OutputImagesTest {

    @Test
    void postprocessMatchesDiffusersExactly() {
        ImageGoldens g = ImageGoldens.load("postprocess");
        for (String name : List.of("f32", "bf16")) {
            Tensor x = g.tensor(name + "/x");
            assertEquals(name.equals("f32") ? DType.F32 : DType.BF16, x.dtype(), name);
            List<RgbImage> images = OutputImages.toImages(x);
            int[] s = g.shape(name + "/out");
            assertEquals(s[0], images.size(), name + " batch");
            byte[] expected = g.bytes(name + "/out");
            int per = s[1] * s[2] * 3;
            for (int n = 0; n < images.size(); n++) {
                assertEquals(s[2], images.get(n).width(), name);
                assertEquals(s[1], images.get(n).height(), name);
                byte[] want = java.util.Arrays.copyOfRange(expected, n * per, (n + 1) * per);
                assertArrayEquals(want, images.get(n).rgb(), name + " image " + n);
            }
        }
    }

    @Test
    void roundingIsHalfToEvenAndClamped() {
        // find x whose v = x · 0.5 + 0.5 gives v · 255 = 128.5 exactly in float: numpy rounds that to 128 (even)
        float v = 128.5f / 255f;
        while (v * 255f < 128.5f) {
            v = Math.nextUp(v);
        }
        while (v * 255f > 128.5f) {
            v = Math.nextDown(v);
        }
        assertEquals(128.5f, v * 255f, "an exact tie exists");
        float x = (v - 0.5f) * 2f;
        assertEquals(v, x * 0.5f + 0.5f);
        assertEquals(128, OutputImages.toByte(x, DType.F32), "128.5 rounds to even");
        assertEquals(128, OutputImages.toByte(0f, DType.F32), "127.5 rounds to even");
        assertEquals(0, OutputImages.toByte(-3f, DType.F32));
        assertEquals(255, OutputImages.toByte(7f, DType.F32));
        assertEquals(0, OutputImages.toByte(Float.NaN, DType.F32));
        assertEquals(0, OutputImages.toByte(-1f, DType.F32));
        assertEquals(255, OutputImages.toByte(1f, DType.F32));
        // bf16: x · 0.5 + 0.5 rounds to bf16 before scaling. x = 5/256 gives 0.509765625, half-way between the bf16
        // values 0.5078125 and 0.51171875: it goes to the even one, 0.5078125 (· 255 = 129.49 → 129), while f32
        // keeps 0.509765625 (· 255 = 129.99 → 130)
        assertEquals(130, OutputImages.toByte(0.01953125f, DType.F32));
        assertEquals(129, OutputImages.toByte(0.01953125f, DType.BF16));
    }

    @Test
    void rejectsWrongShapes() {
        Tensor t = ImageGoldens.CPU.fromFloats(new float[2 * 4], 2, 1, 2, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> OutputImages.toImages(t));
        assertEquals("toImages: expected a [B, 3, H, W] tensor, got [2, 1, 2, 2]", e.getMessage());
    }

    @Test
    void pngRoundTripsExactly() {
        RgbImage img = SubjectImagesTest.pattern(37, 21);
        byte[] png = OutputImages.png(img);
        assertEquals(0x89, png[0] & 0xff);
        assertEquals(img, new ImageDecoder().decode(png, "x"));
    }

    @Test
    void jpegIsQuality95With420Subsampling() {
        RgbImage img = smooth(64, 48);
        byte[] jpeg = OutputImages.jpeg(img);
        assertEquals(0xd8, jpeg[1] & 0xff);
        // SOF0: 8-bit, 48 × 64, 3 components; Y sampled 2×2, Cb and Cr 1×1 (4:2:0)
        int sof = indexOf(jpeg, 0xc0);
        assertEquals(48, ((jpeg[sof + 5] & 0xff) << 8) | (jpeg[sof + 6] & 0xff));
        assertEquals(64, ((jpeg[sof + 7] & 0xff) << 8) | (jpeg[sof + 8] & 0xff));
        assertEquals(3, jpeg[sof + 9]);
        assertEquals(0x22, jpeg[sof + 11] & 0xff);
        assertEquals(0x11, jpeg[sof + 14] & 0xff);
        // libjpeg's quality 95 scales the standard luminance table by 10%: its first entry 16 becomes 2
        int dqt = indexOf(jpeg, 0xdb);
        assertEquals(2, jpeg[dqt + 5] & 0xff);
        RgbImage back = new ImageDecoder().decode(jpeg, "x");
        int max = ImageGoldens.maxAbsDiff(back, img);
        System.out.println("JPEG q95 round trip of a smooth 64×48 image: max |diff| " + max + ", mean "
                + ImageDecoderGoldenTest.meanAbs(back, img));
        assertTrue(max <= 12 && ImageDecoderGoldenTest.meanAbs(back, img) < 1.5, "JPEG q95 round trip max |diff| "
                + max);
        assertTrue(OutputImages.jpeg(img, 50).length < jpeg.length, "lower quality, smaller file");
        assertThrows(IllegalArgumentException.class, () -> OutputImages.jpeg(img, 0));
    }

    private static RgbImage smooth(int w, int h) {
        byte[] rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int o = (y * w + x) * 3;
                rgb[o] = (byte) (40 + 3 * x);
                rgb[o + 1] = (byte) (200 - 2 * y);
                rgb[o + 2] = (byte) (128 + 60 * Math.sin((x + y) / 9.0));
            }
        }
        return new RgbImage(w, h, rgb);
    }

    private static int indexOf(byte[] b, int marker) {
        for (int i = 2; i + 1 < b.length; i++) {
            if ((b[i] & 0xff) == 0xff && (b[i + 1] & 0xff) == marker) {
                return i;
            }
        }
        throw new AssertionError("marker " + Integer.toHexString(marker) + " not found");
    }
}
