package dev.likeness.pipeline.ideogram;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;
import dev.likeness.models.AutoencoderKL;

import java.util.SplittableRandom;

/**
 * A linear approximation of the VAE decoder's colours: for a latent pixel {@code z} (C channels, in the
 * transformer's scaled latent space), the mean colour of the {@code s × s} image pixels it decodes to is
 * {@code rgb ≈ A·z + b} (rgb in the decoder's [−1, 1] range, {@code s} the VAE's downscale).
 *
 * <p>Derived for the loaded VAE by least squares ({@link #fit}), so it holds for any checkpoint, the tiny model
 * included: images of random flat colour blocks and smooth gradients are encoded, their latents (plus perturbed
 * copies, and standard normal latents, so that the off-manifold latents the denoiser predicts early on are covered)
 * are decoded, each decoded image is clamped to [−1, 1] as the output is and average-pooled to the latent grid, and {@code [z, 1] → rgb} is solved in double precision with a tiny ridge. The
 * direction matters: the map is fitted on the <em>decoder's</em> output, which is what the steered latent will
 * become. {@link #r2} reports how much of the colour variance the linear map explains.
 *
 * @param a  [3][C]
 * @param b  [3]
 * @param r2 coefficient of determination of the fit, averaged over R, G, B
 */
public record LatentRgb(double[][] a, double[] b, double r2) {
    /** The side of the fitting images, in pixels (a multiple of every VAE downscale used: 8 for FLUX). */
    static final int FIT_SIZE = 128;
    static final int FIT_IMAGES = 3;

    /** Number of latent channels. */
    public int channels() {
        return a[0].length;
    }

    /** rgb ≈ A·z + b for one latent pixel. */
    public double[] rgb(double[] z) {
        double[] out = new double[3];
        for (int k = 0; k < 3; k++) {
            double s = b[k];
            for (int c = 0; c < z.length; c++) {
                s += a[k][c] * z[c];
            }
            out[k] = s;
        }
        return out;
    }

    /** The minimum-norm right inverse Aᵀ(AAᵀ)⁻¹ [C][3]: the smallest latent change that moves rgb by a given step. */
    public double[][] pseudoInverse() {
        int c = channels();
        double[][] aat = new double[3][3];
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                for (int k = 0; k < c; k++) {
                    aat[i][j] += a[i][k] * a[j][k];
                }
            }
        }
        double[][] inv = invert3(aat);
        double[][] out = new double[c][3];
        for (int k = 0; k < c; k++) {
            for (int j = 0; j < 3; j++) {
                for (int i = 0; i < 3; i++) {
                    out[k][j] += a[i][k] * inv[i][j];
                }
            }
        }
        return out;
    }

    /** Fits the map for {@code vae} (one encode and one decode of {@link #FIT_IMAGES} 128² images per fit). */
    public static LatentRgb fit(AutoencoderKL vae, Backend backend) {
        int n = FIT_SIZE;
        int s = vae.config().downscale();
        if (n % s != 0) {
            throw new IllegalArgumentException("the VAE's downscale " + s + " does not divide " + n);
        }
        SplittableRandom random = new SplittableRandom(20250729L);
        float[] pixels = new float[FIT_IMAGES * 3 * n * n];
        for (int img = 0; img < FIT_IMAGES; img++) {
            fill(pixels, img, n, random, img == FIT_IMAGES - 1);
        }
        Tensor image = backend.fromFloats(pixels, FIT_IMAGES, 3, n, n);
        Tensor latents = vae.scaleLatents(vae.encode(image).mode());
        int c = latents.size(1);
        int h = latents.size(2);
        int w = latents.size(3);
        float[] z = backend.toFloatArray(latents);
        // the encoded latents, a perturbed copy of them (σ = 0.5 in the scaled space), and standard normal latents
        // (what the model's clean prediction looks like in the first steps)
        float[] both = new float[3 * z.length];
        System.arraycopy(z, 0, both, 0, z.length);
        for (int i = 0; i < z.length; i++) {
            both[z.length + i] = (float) (z[i] + 0.5 * random.nextGaussian());
            both[2 * z.length + i] = (float) random.nextGaussian();
        }
        int fitted = 3 * FIT_IMAGES;
        Tensor zs = backend.fromFloats(both, fitted, c, h, w);
        float[] decoded = backend.toFloatArray(vae.decode(vae.unscaleLatents(zs)));
        int samples = fitted * h * w;
        double[][] x = new double[samples][c + 1];
        double[][] y = new double[samples][3];
        int row = 0;
        for (int img = 0; img < fitted; img++) {
            for (int ly = 0; ly < h; ly++) {
                for (int lx = 0; lx < w; lx++) {
                    for (int ch = 0; ch < c; ch++) {
                        x[row][ch] = both[((img * c + ch) * h + ly) * w + lx];
                    }
                    x[row][c] = 1;
                    for (int k = 0; k < 3; k++) {
                        double sum = 0;
                        for (int dy = 0; dy < s; dy++) {
                            int base = ((img * 3 + k) * n + ly * s + dy) * n + lx * s;
                            for (int dx = 0; dx < s; dx++) {
                                sum += Math.clamp(decoded[base + dx], -1f, 1f);  // the output is clamped
                            }
                        }
                        y[row][k] = sum / (s * s);
                    }
                    row++;
                }
            }
        }
        return solve(x, y, c);
    }

    /**
     * A local fit around the latents {@code z} [B, C, h, w] (transformer space): the decoder's pooled colours at
     * {@code z} and at {@code z + δ} (δ seeded Gaussian, σ = 0.25) give the Jacobian {@code A} by least squares of the
     * colour changes on δ over all latent pixels, and {@code b} makes the map exact on average at {@code z}. Latents
     * larger than 64×64 are 2×2 average-pooled first (the colour map of a pooled latent is the same to first order), so
     * the cost is at most one decode of 2B 512² images.
     */
    public static LatentRgb fitLocal(AutoencoderKL vae, Backend backend, Tensor z, long seed) {
        int batch = z.size(0);
        int c = z.size(1);
        int h = z.size(2);
        int w = z.size(3);
        float[] base = backend.toFloatArray(z);
        if (h > 64 || w > 64) {
            int h2 = h / 2;
            int w2 = w / 2;
            float[] pooled = new float[batch * c * h2 * w2];
            for (int bc = 0; bc < batch * c; bc++) {
                for (int y = 0; y < h2; y++) {
                    for (int x = 0; x < w2; x++) {
                        int at = bc * h * w + 2 * y * w + 2 * x;
                        pooled[(bc * h2 + y) * w2 + x] = (base[at] + base[at + 1] + base[at + w] + base[at + w + 1]) / 4;
                    }
                }
            }
            base = pooled;
            h = h2;
            w = w2;
        }
        int plane = h * w;
        SplittableRandom random = new SplittableRandom(seed);
        float[] both = new float[2 * base.length];
        System.arraycopy(base, 0, both, 0, base.length);
        for (int i = 0; i < base.length; i++) {
            both[base.length + i] = (float) (base[i] + 0.25 * random.nextGaussian());
        }
        Tensor zs = backend.fromFloats(both, 2 * batch, c, h, w);
        float[] decoded = backend.toFloatArray(vae.decode(vae.unscaleLatents(zs)));
        int s = vae.config().downscale();
        int n = batch * plane;
        double[][] dz = new double[n][c];
        double[][] dp = new double[n][3];
        double[][] p0 = new double[n][3];
        double[][] z0 = new double[n][c];
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < plane; i++) {
                int row = b * plane + i;
                for (int ch = 0; ch < c; ch++) {
                    z0[row][ch] = base[(b * c + ch) * plane + i];
                    dz[row][ch] = both[base.length + (b * c + ch) * plane + i] - z0[row][ch];
                }
                double[] c0 = pooledColour(decoded, b, i / w, i % w, h, w, s);
                double[] c1 = pooledColour(decoded, batch + b, i / w, i % w, h, w, s);
                for (int k = 0; k < 3; k++) {
                    p0[row][k] = c0[k];
                    dp[row][k] = c1[k] - c0[k];
                }
            }
        }
        double[][] xtx = new double[c][c];
        double[][] xty = new double[c][3];
        for (int r = 0; r < n; r++) {
            for (int i = 0; i < c; i++) {
                for (int j = 0; j < c; j++) {
                    xtx[i][j] += dz[r][i] * dz[r][j];
                }
                for (int k = 0; k < 3; k++) {
                    xty[i][k] += dz[r][i] * dp[r][k];
                }
            }
        }
        for (int i = 0; i < c; i++) {
            xtx[i][i] += 1e-6 * n;
        }
        double[][] theta = gaussSolve(xtx, xty);
        double[][] a = new double[3][c];
        double[] b = new double[3];
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < c; i++) {
                a[k][i] = theta[i][k];
            }
            double sum = 0;
            for (int r = 0; r < n; r++) {
                double pred = 0;
                for (int i = 0; i < c; i++) {
                    pred += a[k][i] * z0[r][i];
                }
                sum += p0[r][k] - pred;
            }
            b[k] = sum / n;
        }
        // how much of the colour change the local Jacobian explains
        double ssRes = 0;
        double ssTot = 0;
        for (int r = 0; r < n; r++) {
            for (int k = 0; k < 3; k++) {
                double pred = 0;
                for (int i = 0; i < c; i++) {
                    pred += a[k][i] * dz[r][i];
                }
                ssRes += (dp[r][k] - pred) * (dp[r][k] - pred);
                ssTot += dp[r][k] * dp[r][k];
            }
        }
        return new LatentRgb(a, b, ssTot > 0 ? 1 - ssRes / ssTot : 0);
    }

    /** The clamped mean colour of the s×s pixels under latent pixel (y, x) of image {@code img}. */
    private static double[] pooledColour(float[] decoded, int img, int y, int x, int h, int w, int s) {
        int H = h * s;
        int W = w * s;
        double[] out = new double[3];
        for (int k = 0; k < 3; k++) {
            double sum = 0;
            for (int dy = 0; dy < s; dy++) {
                int base = ((img * 3 + k) * H + y * s + dy) * W + x * s;
                for (int dx = 0; dx < s; dx++) {
                    sum += Math.clamp(decoded[base + dx], -1f, 1f);
                }
            }
            out[k] = sum / (s * s);
        }
        return out;
    }

    /** Least squares [z, 1] → rgb with ridge 1e-6. */
    static LatentRgb solve(double[][] x, double[][] y, int c) {
        int p = c + 1;
        double[][] xtx = new double[p][p];
        double[][] xty = new double[p][3];
        for (int r = 0; r < x.length; r++) {
            for (int i = 0; i < p; i++) {
                for (int j = 0; j < p; j++) {
                    xtx[i][j] += x[r][i] * x[r][j];
                }
                for (int k = 0; k < 3; k++) {
                    xty[i][k] += x[r][i] * y[r][k];
                }
            }
        }
        for (int i = 0; i < p; i++) {
            xtx[i][i] += 1e-6 * x.length;
        }
        double[][] theta = gaussSolve(xtx, xty);
        double[][] a = new double[3][c];
        double[] b = new double[3];
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < c; i++) {
                a[k][i] = theta[i][k];
            }
            b[k] = theta[c][k];
        }
        // R² per channel
        double r2 = 0;
        for (int k = 0; k < 3; k++) {
            double mean = 0;
            for (double[] yr : y) {
                mean += yr[k];
            }
            mean /= y.length;
            double ssRes = 0;
            double ssTot = 0;
            for (int r = 0; r < x.length; r++) {
                double pred = b[k];
                for (int i = 0; i < c; i++) {
                    pred += a[k][i] * x[r][i];
                }
                ssRes += (y[r][k] - pred) * (y[r][k] - pred);
                ssTot += (y[r][k] - mean) * (y[r][k] - mean);
            }
            r2 += ssTot > 0 ? 1 - ssRes / ssTot : 0;
        }
        return new LatentRgb(a, b, r2 / 3);
    }

    /** Random flat 16-pixel colour blocks, or (last image) a smooth two-axis gradient, in [−1, 1]. */
    private static void fill(float[] pixels, int img, int n, SplittableRandom random, boolean gradient) {
        int plane = n * n;
        int base = img * 3 * plane;
        int block = 16;
        float[][] colors = new float[(n / block) * (n / block)][3];
        for (float[] col : colors) {
            for (int k = 0; k < 3; k++) {
                col[k] = (float) (random.nextDouble() * 2 - 1);
            }
        }
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                for (int k = 0; k < 3; k++) {
                    float v;
                    if (gradient) {
                        double t = k == 0 ? (double) x / n : k == 1 ? (double) y / n : 1 - (double) (x + y) / (2 * n);
                        v = (float) (2 * t - 1);
                    } else {
                        v = colors[(y / block) * (n / block) + x / block][k];
                    }
                    pixels[base + k * plane + y * n + x] = v;
                }
            }
        }
    }

    private static double[][] gaussSolve(double[][] m, double[][] rhs) {
        int p = m.length;
        int q = rhs[0].length;
        double[][] a = new double[p][p + q];
        for (int i = 0; i < p; i++) {
            System.arraycopy(m[i], 0, a[i], 0, p);
            System.arraycopy(rhs[i], 0, a[i], p, q);
        }
        for (int col = 0; col < p; col++) {
            int pivot = col;
            for (int r = col + 1; r < p; r++) {
                if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) {
                    pivot = r;
                }
            }
            double[] t = a[col];
            a[col] = a[pivot];
            a[pivot] = t;
            double d = a[col][col];
            if (Math.abs(d) < 1e-300) {
                throw new IllegalStateException("latent-to-RGB fit: singular system");
            }
            for (int j = col; j < p + q; j++) {
                a[col][j] /= d;
            }
            for (int r = 0; r < p; r++) {
                if (r != col && a[r][col] != 0) {
                    double f = a[r][col];
                    for (int j = col; j < p + q; j++) {
                        a[r][j] -= f * a[col][j];
                    }
                }
            }
        }
        double[][] out = new double[p][q];
        for (int i = 0; i < p; i++) {
            System.arraycopy(a[i], p, out[i], 0, q);
        }
        return out;
    }

    private static double[][] invert3(double[][] m) {
        double[][] id = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
        return gaussSolve(m, id);
    }
}
