package dev.likeness.pipeline.image;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.likeness.engine.DType;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.safetensors.SafetensorsFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The image goldens ({@code golden/images/<name>.safetensors}, written by tools/reference/goldens/pipeline_images.py):
 * tensors {@code <case>/<role>} and one metadata key "cases" with each case's parameters.
 */
final class ImageGoldens {
    static final CpuBackend CPU = new CpuBackend(1);
    private static final ObjectMapper JSON = new ObjectMapper();

    final SafetensorsFile file;
    final JsonNode cases;

    private ImageGoldens(SafetensorsFile file) {
        this.file = file;
        try {
            this.cases = JSON.readTree(file.metadata().get("cases"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static ImageGoldens load(String name) {
        URL url = ImageGoldens.class.getResource("/golden/images/" + name + ".safetensors");
        if (url == null) {
            fail("golden file golden/images/" + name + ".safetensors is missing: run tools/reference/run.sh images");
        }
        try {
            return new ImageGoldens(SafetensorsFile.open(Path.of(url.toURI())));
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    List<String> names() {
        List<String> out = new ArrayList<>();
        cases.fieldNames().forEachRemaining(out::add);
        return out;
    }

    Tensor tensor(String name) {
        return file.tensor(name, CPU);
    }

    int[] shape(String name) {
        return file.info(name).shape();
    }

    /** A uint8 tensor's values. */
    byte[] bytes(String name) {
        Tensor t = tensor(name);
        assertEquals(DType.U8, t.dtype(), name + " dtype");
        float[] f = t.toFloatArray();
        byte[] out = new byte[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = (byte) (int) f[i];
        }
        return out;
    }

    /** A uint8 [h, w, 3] tensor as an image. */
    RgbImage image(String name) {
        int[] s = shape(name);
        assertEquals(3, s.length, name + " rank");
        assertEquals(3, s[2], name + " channels");
        return new RgbImage(s[1], s[0], bytes(name));
    }

    float[] floats(String name) {
        return tensor(name).toFloatArray();
    }

    static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Little-endian float32 bytes, as numpy's {@code astype("<f4").tobytes()}. */
    static byte[] f32Bytes(float[] v) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(v.length * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    /** The largest |a − b| over the samples of two images of one size (fails if the sizes differ). */
    static int maxAbsDiff(RgbImage a, RgbImage b) {
        assertEquals(a.width() + "×" + a.height(), b.width() + "×" + b.height(), "image size");
        int max = 0;
        for (int i = 0; i < a.rgb().length; i++) {
            max = Math.max(max, Math.abs((a.rgb()[i] & 0xff) - (b.rgb()[i] & 0xff)));
        }
        return max;
    }

    /** How many samples differ. */
    static int countDiff(RgbImage a, RgbImage b) {
        int n = 0;
        for (int i = 0; i < a.rgb().length; i++) {
            n += a.rgb()[i] != b.rgb()[i] ? 1 : 0;
        }
        return n;
    }

    /** Every {@code step}-th pixel in both directions, starting at 0 (numpy's {@code a[::step, ::step]}). */
    static RgbImage subsample(RgbImage in, int step) {
        int w = (in.width() + step - 1) / step;
        int h = (in.height() + step - 1) / step;
        byte[] out = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int c = 0; c < 3; c++) {
                    out[(y * w + x) * 3 + c] = (byte) in.get(x * step, y * step, c);
                }
            }
        }
        return new RgbImage(w, h, out);
    }
}
