package dev.likeness.pipeline.ideogram;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;
import dev.likeness.models.AutoencoderKL;
import dev.likeness.pipeline.InstantCharacterPipeline;

/**
 * Steers sampling toward a {@link ColorPalette}: a {@link InstantCharacterPipeline.LatentGuidance} on the predicted
 * clean latent, through the VAE's linear colour map ({@link LatentRgb}).
 *
 * <p>At every step, for every latent pixel of the predicted clean latent {@code x̂0}: its colour
 * {@code p = A·z + b}; the palette member it belongs to, the one with the smallest weighted distance
 * {@code ‖p − c_k‖² / w_k} (so heavier members claim more of the image); and a move of the latent by
 * {@code λ · w_k · A⁺ (c_k − p)} — the smallest latent change (A⁺ the minimum-norm right inverse) that takes the
 * pixel's colour a fraction {@code λ · w_k} of the way to its member. The pipeline turns the moved prediction back into
 * a velocity, so the Euler step carries the change into the sample, a fraction {@code |dt|/σ} per step; early steps
 * set the colour layout, late ones settle it. The rest of the latent (the directions A does not see: structure,
 * texture) is left to the model.
 *
 * @param map      the VAE's colour map
 * @param palette  the colours
 * @param strength λ, the fraction of the way toward the member per step at weight 1
 */
public final class PaletteGuidance implements InstantCharacterPipeline.LatentGuidance {
    /** The default λ. */
    public static final double DEFAULT_STRENGTH = 1.0;
    /** How many times per request the map is refitted locally (at evenly spaced steps, the first included). */
    public static final int DEFAULT_REFITS = 3;

    private final ColorPalette palette;
    private final double strength;
    private final Backend backend;
    private final AutoencoderKL vae;
    private final int refits;
    private LatentRgb map;

    /**
     * @param map     the VAE's global colour map ({@link LatentRgb#fit}), used until the first local refit
     * @param vae     null: the global map throughout; else the map is refitted around the predicted latent
     *                ({@link LatentRgb#fitLocal}) {@code refits} times per request
     */
    public PaletteGuidance(LatentRgb map, ColorPalette palette, double strength, Backend backend, AutoencoderKL vae,
                           int refits) {
        this.map = map;
        this.palette = palette;
        this.strength = strength;
        this.backend = backend;
        this.vae = vae;
        this.refits = refits;
    }

    /** The map in use now. */
    public LatentRgb map() {
        return map;
    }

    @Override
    public Tensor steer(int step, int steps, float sigma, Tensor clean) {
        if (vae != null && refits > 0 && isRefitStep(step, steps)) {
            map = LatentRgb.fitLocal(vae, backend, clean, 1000L + step);
        }
        int c = clean.size(1);
        if (c != map.channels()) {
            throw new IllegalArgumentException("palette guidance: the colour map has " + map.channels()
                    + " latent channels, the latent " + c);
        }
        int batch = clean.size(0);
        int plane = clean.size(2) * clean.size(3);
        double[][] pinv = map.pseudoInverse();
        int members = palette.members().size();
        double[][] target = new double[members][3];
        double[] weight = new double[members];
        for (int k = 0; k < members; k++) {
            ColorPalette.Member m = palette.members().get(k);
            target[k] = new double[] {m.r() / 127.5 - 1, m.g() / 127.5 - 1, m.b() / 127.5 - 1};
            weight[k] = m.weight();
        }
        float[] z = backend.toFloatArray(clean);
        double[] px = new double[c];
        for (int n = 0; n < batch; n++) {
            int base = n * c * plane;
            for (int i = 0; i < plane; i++) {
                for (int ch = 0; ch < c; ch++) {
                    px[ch] = z[base + ch * plane + i];
                }
                double[] p = map.rgb(px);
                int best = 0;
                double bestD = Double.POSITIVE_INFINITY;
                for (int k = 0; k < members; k++) {
                    double d = sq(p[0] - target[k][0]) + sq(p[1] - target[k][1]) + sq(p[2] - target[k][2]);
                    d /= weight[k];
                    if (d < bestD) {
                        bestD = d;
                        best = k;
                    }
                }
                double f = strength * weight[best];
                double d0 = f * (target[best][0] - p[0]);
                double d1 = f * (target[best][1] - p[1]);
                double d2 = f * (target[best][2] - p[2]);
                for (int ch = 0; ch < c; ch++) {
                    z[base + ch * plane + i] += (float) (pinv[ch][0] * d0 + pinv[ch][1] * d1 + pinv[ch][2] * d2);
                }
            }
        }
        return backend.fromFloats(z, clean.shape());
    }

    private boolean isRefitStep(int step, int steps) {
        for (int k = 0; k < refits; k++) {
            if (step == (int) ((long) k * steps / refits)) {
                return true;
            }
        }
        return false;
    }

    private static double sq(double v) {
        return v * v;
    }
}
