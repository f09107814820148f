package dev.likeness.pipeline;

import dev.likeness.pipeline.image.RgbImage;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;

/** Test inputs read independently of the product's image reader. */
public final class TestImages {
    private TestImages() {
    }

    /** The PNG resource at {@code resource} (an absolute resource path) decoded by the JDK: 8-bit RGB, no alpha. */
    public static RgbImage png(String resource) throws IOException {
        try (InputStream in = TestImages.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("no test resource " + resource);
            }
            BufferedImage img = ImageIO.read(in);
            byte[] rgb = new byte[img.getWidth() * img.getHeight() * 3];
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    int p = img.getRGB(x, y);
                    int at = (y * img.getWidth() + x) * 3;
                    rgb[at] = (byte) (p >> 16);
                    rgb[at + 1] = (byte) (p >> 8);
                    rgb[at + 2] = (byte) p;
                }
            }
            return new RgbImage(img.getWidth(), img.getHeight(), rgb);
        }
    }
}
