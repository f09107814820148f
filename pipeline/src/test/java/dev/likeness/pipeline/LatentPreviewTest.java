package dev.likeness.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.models.AutoencoderKL;
import dev.likeness.models.FluxTransformer;
import dev.likeness.pipeline.image.RgbImage;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The step previews' latent-to-RGB approximation on the tiny model's VAE: the least-squares solver, the fit against
 * the real decoder on latents it was not fitted on, and the packed layout (each latent pixel lands on its own preview
 * pixel).
 */
class LatentPreviewTest {
    static final CpuBackend BACKEND = new CpuBackend();
    static InstantCharacterPipeline pipeline;
    static AutoencoderKL vae;

    @BeforeAll
    static void load() {
        pipeline = TinyModel.materialize().load(BACKEND);
        vae = pipeline.components().vae();
    }

    @Test
    void leastSquaresRecoversAnExactAffineMap() {
        Random r = new Random(3);
        double[][] x = new double[40][4];
        double[] y = new double[40];
        for (int i = 0; i < 40; i++) {
            for (int j = 0; j < 3; j++) x[i][j] = r.nextGaussian();
            x[i][3] = 1;
            y[i] = 0.5 * x[i][0] - 2 * x[i][1] + 0.25 * x[i][2] + 0.75;
        }
        double[] w = LatentPreview.leastSquares(x, y);
        double[] want = {0.5, -2, 0.25, 0.75};
        for (int j = 0; j < 4; j++) assertEquals(want[j], w[j], 1e-3, "weight " + j);
    }

    /**
     * Held-out constant latents: the preview's colour follows the decoder's mean colour much better than the best
     * constant guess does (the decoder is not linear, so it is not exact; the tiny VAE's random weights are less
     * linear than a trained one's).
     */
    @Test
    void approximatesTheDecoderOnHeldOutLatents() {
        LatentPreview p = pipeline.latentPreview();
        int c = vae.config().latentChannels();
        Random r = new Random(99);
        int n = 16;
        double[][] want = new double[n][3], got = new double[n][3];
        for (int s = 0; s < n; s++) {
            float[] v = new float[c];
            for (int k = 0; k < c; k++) v[k] = (float) r.nextGaussian();
            float[] z = new float[c * 4 * 4];
            for (int k = 0; k < c; k++) java.util.Arrays.fill(z, k * 16, (k + 1) * 16, v[k]);
            Tensor latent = BACKEND.fromFloats(z, 1, c, 4, 4);
            float[] decoded = BACKEND.toFloatArray(vae.decode(vae.unscaleLatents(latent)));
            int plane = decoded.length / 3;
            RgbImage img = p.image(FluxTransformer.packLatents(latent), BACKEND, 32, 32);
            assertEquals(4, img.width());
            assertEquals(4, img.height());
            for (int k = 0; k < 3; k++) {
                double mean = 0;
                for (int i = 0; i < plane; i++) mean += decoded[k * plane + i];
                want[s][k] = Math.clamp(mean / plane, -1, 1);
                got[s][k] = img.get(1, 1, k) / 127.5 - 1;
            }
        }
        double err = 0, spread = 0;
        for (int k = 0; k < 3; k++) {
            double avg = 0;
            for (int s = 0; s < n; s++) avg += want[s][k] / n;
            for (int s = 0; s < n; s++) {
                err += (got[s][k] - want[s][k]) * (got[s][k] - want[s][k]);
                spread += (avg - want[s][k]) * (avg - want[s][k]);
            }
        }
        double ratio = Math.sqrt(err / spread);
        System.out.printf("latent preview: rms error %.3f of the best constant guess's on held-out latents%n", ratio);
        assertTrue(ratio < 0.6, "rms error ratio " + ratio);
    }

    @Test
    void eachLatentPixelLandsOnItsPreviewPixel() {
        LatentPreview p = pipeline.latentPreview();
        int c = vae.config().latentChannels(), h = 6, w = 4;   // an output of 32x48 pixels: latent 6x4
        float[] base = new float[c * h * w];
        float[] changed = base.clone();
        int py = 3, px = 2;
        for (int k = 0; k < c; k++) changed[(k * h + py) * w + px] = 3f * (k % 2 == 0 ? 1 : -1);
        RgbImage a = p.image(FluxTransformer.packLatents(BACKEND.fromFloats(base, 1, c, h, w)), BACKEND, 32, 48);
        RgbImage b = p.image(FluxTransformer.packLatents(BACKEND.fromFloats(changed, 1, c, h, w)), BACKEND, 32, 48);
        assertEquals(w, b.width());
        assertEquals(h, b.height());
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                boolean same = a.get(x, y, 0) == b.get(x, y, 0) && a.get(x, y, 1) == b.get(x, y, 1) && a.get(x, y, 2) == b.get(x, y, 2);
                assertEquals(!(x == px && y == py), same, "pixel " + x + "," + y);
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> p.image(FluxTransformer.packLatents(BACKEND.fromFloats(base, 1, c, h, w)), BACKEND, 64, 64));
        assertTrue(e.getMessage().contains("64x64"), e.getMessage());
    }
}
