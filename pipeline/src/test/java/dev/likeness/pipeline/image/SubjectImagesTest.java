package dev.likeness.pipeline.image;

import dev.likeness.engine.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link SubjectImages} against InstantCharacter's preprocessing run with Pillow 11.2.1 and the real transformers
 * processors (golden/images/subject.safetensors): the images must have the same SHA-256 as Pillow's, the pixel
 * tensors the same float32 bytes as the processors'.
 */
class SubjectImagesTest {
    private static final String[] PIXELS = {"siglip_low", "siglip_high", "dinov2_low", "dinov2_high"};

    /** The integer test pattern of pipeline_images.py {@code pattern(w, h)}. */
    static RgbImage pattern(int w, int h) {
        byte[] out = new byte[w * h * 3];
        for (long y = 0; y < h; y++) {
            for (long x = 0; x < w; x++) {
                for (long c = 0; c < 3; c++) {
                    long v = x * 3 + y * 5 + c * 85 + (x * x * y + 7 * y * y * x + c * 31) % 61;
                    out[(int) ((y * w + x) * 3 + c)] = (byte) (v & 255);
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    @Test
    void imagesMatchPillowAndTensorsMatchTheProcessors() {
        ImageGoldens g = ImageGoldens.load("subject");
        for (String name : List.of("up", "down")) {
            var m = g.cases.get(name);
            RgbImage in = m.get("stored_input").asBoolean() ? g.image(name + "/in")
                    : pattern(m.get("width").asInt(), m.get("height").asInt());
            assertEquals(m.get("width").asInt(), in.width(), name);
            SubjectImages.Views v = SubjectImages.views(in);
            int side = Math.max(in.width(), in.height());
            assertEquals(side, v.square().width());
            assertEquals(side, v.square().height());
            // diagnostics first: the subsampled patches say how far off a mismatch is
            assertEquals(0, ImageGoldens.maxAbsDiff(ImageGoldens.subsample(v.low(), 8), g.image(name + "/low")),
                    name + ": low-res image, max |diff| on every 8th pixel");
            assertEquals(0, ImageGoldens.maxAbsDiff(ImageGoldens.subsample(v.high(), 16), g.image(name + "/high")),
                    name + ": 768 image, max |diff| on every 16th pixel");
            assertEquals(m.get("sha256_square").asText(), ImageGoldens.sha256(v.square().rgb()), name + " square");
            assertEquals(m.get("sha256_low").asText(), ImageGoldens.sha256(v.low().rgb()), name + " low");
            assertEquals(m.get("sha256_high").asText(), ImageGoldens.sha256(v.high().rgb()), name + " high");
            for (int t = 0; t < 4; t++) {
                assertEquals(m.get("sha256_tile" + t).asText(), ImageGoldens.sha256(v.tiles().get(t).rgb()),
                        name + " tile " + t);
            }

            SubjectImages s = SubjectImages.of(in, ImageGoldens.CPU);
            Tensor[] tensors = {s.siglipLow(), s.siglipHigh(), s.dinov2Low(), s.dinov2High()};
            for (int k = 0; k < 4; k++) {
                int n = k % 2 == 0 ? 1 : 4;
                assertArrayEquals(new int[] {n, 3, 384, 384}, tensors[k].shape(), PIXELS[k]);
                float[] actual = tensors[k].toFloatArray();
                float[] patch = g.floats(name + "/" + PIXELS[k]);
                float[] sub = new float[patch.length];
                int i = 0;
                for (int b = 0; b < n; b++) {
                    for (int c = 0; c < 3; c++) {
                        for (int y = 0; y < 384; y += 32) {
                            for (int x = 0; x < 384; x += 32) {
                                sub[i++] = actual[((b * 3 + c) * 384 + y) * 384 + x];
                            }
                        }
                    }
                }
                assertEquals(patch.length, i, PIXELS[k] + " patch size");
                assertEquals(0f, maxAbsDiff(sub, patch), name + " " + PIXELS[k] + ": max |diff| on every 32nd pixel");
                assertEquals(m.get("sha256_" + PIXELS[k]).asText(), ImageGoldens.sha256(ImageGoldens.f32Bytes(actual)),
                        name + " " + PIXELS[k] + " float32 bytes");
            }
        }
    }

    @Test
    void normalizationMatchesTheProcessorsForEveryByteValue() {
        ImageGoldens g = ImageGoldens.load("subject");
        RgbImage values = g.image("values/in");
        assertArrayEquals(g.floats("values/siglip"), SubjectImages.siglipPixels(List.of(values)), "SigLIP");
        assertArrayEquals(g.floats("values/dinov2"), SubjectImages.dinov2Pixels(List.of(values)), "DINOv2");
        // every (channel, value) pair occurs: the table is fully checked
        for (int c = 0; c < 3; c++) {
            boolean[] seen = new boolean[256];
            for (int y = 0; y < 16; y++) {
                for (int x = 0; x < 16; x++) {
                    seen[values.get(x, y, c)] = true;
                }
            }
            for (boolean b : seen) {
                assertEquals(true, b, "channel " + c + " covers 0–255");
            }
        }
    }

    @Test
    void tilesAreTheQuadrantsInReadingOrder() {
        RgbImage in = pattern(50, 31);
        SubjectImages.Views v = SubjectImages.views(in);
        int[][] origins = {{0, 0}, {384, 0}, {0, 384}, {384, 384}};
        for (int t = 0; t < 4; t++) {
            assertEquals(v.high().crop(origins[t][0], origins[t][1], 384, 384), v.tiles().get(t), "tile " + t);
        }
    }

    @Test
    void mixedSizesAreRejected() {
        var a = new RgbImage(2, 2, new byte[12]);
        var b = new RgbImage(3, 2, new byte[18]);
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> SubjectImages.siglipPixels(List.of(a, b)));
        assertEquals("image 1 is 3×2, expected 2×2 like image 0", e.getMessage());
    }

    private static float maxAbsDiff(float[] a, float[] b) {
        assertEquals(b.length, a.length);
        float max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }
}
