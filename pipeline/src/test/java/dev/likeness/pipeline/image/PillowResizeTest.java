package dev.likeness.pipeline.image;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link PillowResize} against Pillow 11.2.1's {@code Image.resize} (golden/images/resize.safetensors): byte-exact. */
class PillowResizeTest {

    @Test
    void matchesPillowByteForByte() {
        ImageGoldens g = ImageGoldens.load("resize");
        assertEquals(9, g.names().size(), "cases");
        StringBuilder report = new StringBuilder();
        for (String name : g.names()) {
            var p = g.cases.get(name);
            RgbImage in = g.image(name + "/in");
            RgbImage expected = g.image(name + "/out");
            assertEquals(p.get("in_w").asInt(), in.width(), name);
            assertEquals(p.get("out_h").asInt(), expected.height(), name);
            RgbImage actual = PillowResize.resize(in, expected.width(), expected.height());
            int max = ImageGoldens.maxAbsDiff(actual, expected);
            if (max != 0) {
                report.append(name).append(": ").append(ImageGoldens.countDiff(actual, expected))
                        .append(" samples differ, max |diff| ").append(max).append('\n');
            }
        }
        assertEquals("", report.toString(), "resize differs from Pillow");
    }

    @Test
    void sameSizeIsACopy() {
        RgbImage in = new RgbImage(2, 1, new byte[] {1, 2, 3, 4, 5, 6});
        RgbImage out = PillowResize.resize(in, 2, 1);
        assertEquals(in, out);
        assertNotSame(in.rgb(), out.rgb());
    }

    @Test
    void uniformImageStaysUniform() {
        // the weights of each output pixel sum to 1 in fixed point (up to rounding), so a flat colour survives
        byte[] px = new byte[7 * 5 * 3];
        for (int i = 0; i < px.length; i += 3) {
            px[i] = (byte) 200;
            px[i + 1] = 17;
            px[i + 2] = (byte) 255;
        }
        RgbImage out = PillowResize.resize(new RgbImage(7, 5, px), 23, 2);
        for (int y = 0; y < out.height(); y++) {
            for (int x = 0; x < out.width(); x++) {
                assertEquals(200, out.get(x, y, 0));
                assertEquals(17, out.get(x, y, 1));
                assertEquals(255, out.get(x, y, 2));
            }
        }
    }

    @Test
    void rejectsEmptyTargets() {
        RgbImage in = new RgbImage(1, 1, new byte[3]);
        var e = assertThrows(IllegalArgumentException.class, () -> PillowResize.resize(in, 0, 5));
        assertEquals("resize to 0×5: both must be at least 1", e.getMessage());
    }
}
