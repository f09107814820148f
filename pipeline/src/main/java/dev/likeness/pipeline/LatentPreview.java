package dev.likeness.pipeline;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;
import dev.likeness.models.AutoencoderKL;
import dev.likeness.pipeline.image.RgbImage;
import java.util.Random;

/**
 * A cheap look at a denoising step: the packed latents mapped to RGB by one affine map per pixel
 * ({@code rgb = W·z + b}, 16 latent channels → 3), at the latent resolution (1/8 of the output's sides), instead of
 * the VAE decoder. The map is this VAE's own: {@link #fit} decodes a batch of spatially constant latents (random
 * channel vectors, in the transformer's scaled space) through the real decoder and solves the least-squares fit of
 * their mean colours — so it follows whatever VAE is loaded (the real FLUX VAE or the tiny test one). It is an
 * approximation (the decoder is not linear): colours and layout, not detail.
 */
public final class LatentPreview {
    /** Fit samples: constant latents of {@value #SIDE}×{@value #SIDE}, decoded in one batch. */
    static final int SAMPLES = 64, SIDE = 4;
    /** Ridge term of the least-squares fit (the inputs are N(0, 1)). */
    static final double RIDGE = 1e-3;

    private final int channels;
    /** [3][channels + 1]: weights, then the bias. */
    private final double[][] map;

    LatentPreview(double[][] map) {
        this.map = map;
        this.channels = map[0].length - 1;
    }

    /** Fits the map for {@code vae} (one decode of {@value #SAMPLES} tiny latents; seeded, so reproducible). */
    public static LatentPreview fit(AutoencoderKL vae, Backend backend) {
        int c = vae.config().latentChannels();
        Random rnd = new Random(0x11e5e55L);
        double[][] x = new double[SAMPLES][c + 1];
        float[] z = new float[SAMPLES * c * SIDE * SIDE];
        for (int s = 0; s < SAMPLES; s++) {
            for (int ch = 0; ch < c; ch++) {
                float v = (float) rnd.nextGaussian();
                x[s][ch] = v;
                java.util.Arrays.fill(z, (s * c + ch) * SIDE * SIDE, (s * c + ch + 1) * SIDE * SIDE, v);
            }
            x[s][c] = 1;
        }
        Tensor decoded = vae.decode(vae.unscaleLatents(backend.fromFloats(z, SAMPLES, c, SIDE, SIDE)));
        float[] px = backend.toFloatArray(decoded);
        int plane = decoded.size(2) * decoded.size(3);
        double[][] map = new double[3][];
        for (int rgb = 0; rgb < 3; rgb++) {
            double[] y = new double[SAMPLES];
            for (int s = 0; s < SAMPLES; s++) {
                double sum = 0;
                int base = (s * decoded.size(1) + rgb) * plane;
                for (int i = 0; i < plane; i++) sum += px[base + i];
                y[s] = sum / plane;
            }
            map[rgb] = leastSquares(x, y);
        }
        return new LatentPreview(map);
    }

    /** Solves {@code (XᵀX + λI) w = Xᵀy} by Gaussian elimination with partial pivoting. */
    static double[] leastSquares(double[][] x, double[] y) {
        int n = x[0].length;
        double[][] a = new double[n][n + 1];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (double[] row : x) s += row[i] * row[j];
                a[i][j] = s + (i == j ? RIDGE : 0);
            }
            double s = 0;
            for (int k = 0; k < x.length; k++) s += x[k][i] * y[k];
            a[i][n] = s;
        }
        for (int col = 0; col < n; col++) {
            int p = col;
            for (int r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[p][col])) p = r;
            double[] t = a[col];
            a[col] = a[p];
            a[p] = t;
            for (int r = 0; r < n; r++) {
                if (r == col) continue;
                double f = a[r][col] / a[col][col];
                for (int k = col; k <= n; k++) a[r][k] -= f * a[col][k];
            }
        }
        double[] w = new double[n];
        for (int i = 0; i < n; i++) w[i] = a[i][n] / a[i][i];
        return w;
    }

    /**
     * The first image of a batch of packed latents {@code [B, (H/16)(W/16), 4C]} for an output of
     * {@code width}×{@code height} pixels, as an RGB image of {@code width/8}×{@code height/8}.
     */
    public RgbImage image(Tensor packed, Backend backend, int width, int height) {
        int rows = height / 16, cols = width / 16;
        if (packed.dim() != 3 || packed.size(1) != rows * cols || packed.size(2) != 4 * channels) {
            throw new IllegalArgumentException("latent preview: expected packed latents [B, " + rows * cols + ", "
                    + 4 * channels + "] for " + width + "x" + height + ", got " + java.util.Arrays.toString(packed.shape()));
        }
        float[] z = backend.toFloatArray(packed);   // the first image is the first rows·cols·4C values
        int w = 2 * cols, h = 2 * rows;
        byte[] rgb = new byte[w * h * 3];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                int token = (i * cols + j) * 4 * channels;
                for (int ph = 0; ph < 2; ph++) {
                    for (int pw = 0; pw < 2; pw++) {
                        int o = ((2 * i + ph) * w + 2 * j + pw) * 3;
                        for (int k = 0; k < 3; k++) {
                            double[] m = map[k];
                            double v = m[channels];
                            // packed channel index: c·4 + ph·2 + pw (FluxTransformer.packLatents)
                            for (int c = 0; c < channels; c++) v += m[c] * z[token + c * 4 + ph * 2 + pw];
                            rgb[o + k] = (byte) Math.round(Math.clamp((v + 1) * 127.5, 0, 255));
                        }
                    }
                }
            }
        }
        return new RgbImage(w, h, rgb);
    }
}
