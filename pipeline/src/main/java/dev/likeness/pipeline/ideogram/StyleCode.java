package dev.likeness.pipeline.ideogram;

import dev.likeness.pipeline.image.RgbImage;

import java.util.Locale;
import java.util.SplittableRandom;
import java.util.regex.Pattern;

/**
 * A {@code style_codes} entry: 8 hexadecimal digits (Ideogram's {@code ^[0-9a-fA-F]{8}$}) naming a reproducible
 * style.
 *
 * <p>Ideogram's codes index its own closed style space. Ours index a point in our engine's <em>style-feature
 * space</em> — the space of image features the adapter reads (SigLIP + DINOv2 → the adapter's projection) — through a
 * <b>style swatch</b>: the code's 32 bits deterministically parameterize a 384×384 procedural image ({@link #swatch})
 * whose colour scheme, saturation, brightness, contrast, pattern family, frequency, orientation and grain are all
 * read from the bits; the swatch is then encoded exactly like a style reference image and injected at style strength
 * into the style layers ({@link StyleLayers}). So:
 * <ul>
 *   <li>the same code gives the same swatch byte for byte, hence the same features and the same style on every
 *       request, machine and seed (case does not matter: {@code AAFF5733} = {@code aaff5733});</li>
 *   <li>different codes give different swatches (every bit changes the image), hence measurably different features
 *       and images;</li>
 *   <li>with real weights a swatch sits among real images in feature space (it <em>is</em> an image), so the style it
 *       carries is a visual one: palette, contrast, texture and rhythm.</li>
 * </ul>
 *
 * <p>Bit layout (bit 0 = least significant of the 32-bit value): 0–7 base hue; 8–10 colour scheme (monochrome,
 * analogous, complementary, split-complementary, triadic, tetradic, warm/cool contrast, neutral with accent); 11–13
 * saturation; 14–16 brightness; 17–19 pattern (soft gradient, bands, checks, waves, dots, cells, strokes, rings);
 * 20–23 frequency; 24–27 orientation; 28–29 contrast; 30–31 grain. The grain's noise is seeded by the whole code.
 */
public record StyleCode(int bits) {
    /** The code's pattern. */
    public static final Pattern PATTERN = Pattern.compile("^[0-9a-fA-F]{8}$");
    /** The swatch's side: the image encoders' input size. */
    public static final int SWATCH_SIZE = 384;

    /** Parses an 8-hex-digit code; anything else is refused. */
    public static StyleCode parse(String code) {
        if (code == null || !PATTERN.matcher(code).matches()) {
            throw new IllegalArgumentException("a style code is 8 hexadecimal digits, got '" + code + "'");
        }
        return new StyleCode(Integer.parseUnsignedInt(code, 16));
    }

    private int field(int from, int width) {
        return (bits >>> from) & ((1 << width) - 1);
    }

    /** The code as 8 upper-case hex digits. */
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%08X", bits);
    }

    /** The code's swatch, deterministic in the code alone. */
    public RgbImage swatch() {
        int n = SWATCH_SIZE;
        double baseHue = field(0, 8) / 256.0;
        double[] hues = scheme(field(8, 3), baseHue);
        double saturation = 0.15 + 0.85 * field(11, 3) / 7.0;
        double brightness = 0.25 + 0.7 * field(14, 3) / 7.0;
        int pattern = field(17, 3);
        double frequency = 1.5 + field(20, 4) * 1.25;     // periods across the swatch
        double angle = Math.PI * field(24, 4) / 16.0;
        double contrast = 0.35 + 0.65 * field(28, 2) / 3.0;
        double grain = 0.04 * field(30, 2);
        double[][] colors = new double[hues.length][];
        for (int i = 0; i < hues.length; i++) {
            // alternate lighter and darker members so the scheme has a value structure too
            double v = Math.clamp(brightness + contrast * (i % 2 == 0 ? 0.25 : -0.25), 0.05, 1.0);
            double s = field(8, 3) == 7 && i > 0 ? 0.05 : saturation;  // neutral-with-accent: only one coloured
            colors[i] = hsv(hues[i], s, v);
        }
        SplittableRandom random = new SplittableRandom(0x5EED_C0DEL ^ Integer.toUnsignedLong(bits) * 0x9E3779B97F4A7C15L);
        double ca = Math.cos(angle);
        double sa = Math.sin(angle);
        byte[] rgb = new byte[n * n * 3];
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                double u = (double) x / n - 0.5;
                double v = (double) y / n - 0.5;
                double along = u * ca + v * sa;
                double across = -u * sa + v * ca;
                double t = patternValue(pattern, along, across, frequency, random);
                double[] c = mix(colors, t);
                int at = (y * n + x) * 3;
                for (int k = 0; k < 3; k++) {
                    double value = c[k] + (grain > 0 ? grain * (random.nextDouble() * 2 - 1) : 0);
                    rgb[at + k] = (byte) Math.clamp(Math.round(value * 255), 0, 255);
                }
            }
        }
        return new RgbImage(n, n, rgb);
    }

    /** The scheme's hues (fractions of a turn). */
    private static double[] scheme(int kind, double h) {
        return switch (kind) {
            case 0 -> new double[] {h, h};
            case 1 -> new double[] {h, h + 1 / 12.0, h - 1 / 12.0};
            case 2 -> new double[] {h, h + 0.5};
            case 3 -> new double[] {h, h + 5 / 12.0, h + 7 / 12.0};
            case 4 -> new double[] {h, h + 1 / 3.0, h + 2 / 3.0};
            case 5 -> new double[] {h, h + 0.25, h + 0.5, h + 0.75};
            case 6 -> new double[] {0.05 + 0.1 * h, 0.55 + 0.1 * h};
            default -> new double[] {h, h, h};
        };
    }

    /** A position in [0, 1] along the colour ramp for pattern {@code kind} at rotated coordinates. */
    private static double patternValue(int kind, double along, double across, double f, SplittableRandom random) {
        double tau = 2 * Math.PI;
        double value = switch (kind) {
            case 0 -> along + 0.5;                                                   // soft gradient
            case 1 -> Math.floor((along + 0.5) * f) / Math.max(1, Math.floor(f));    // flat bands
            case 2 -> ((int) Math.floor((along + 0.5) * f) + (int) Math.floor((across + 0.5) * f)) % 2;  // checks
            case 3 -> 0.5 + 0.5 * Math.sin(tau * f * along + 2 * Math.sin(tau * across * 1.5));            // waves
            case 4 -> {                                                             // dots
                double cx = frac((along + 0.5) * f) - 0.5;
                double cy = frac((across + 0.5) * f) - 0.5;
                yield cx * cx + cy * cy < 0.09 ? 1.0 : 0.0;
            }
            case 5 -> 0.5 + 0.5 * Math.sin(tau * f * along) * Math.sin(tau * f * across);                  // cells
            case 6 -> 0.5 + 0.5 * Math.sin(tau * f * along + 3 * Math.sin(tau * 0.7 * f * across))
                    * (0.7 + 0.3 * Math.cos(tau * across));                                               // strokes
            default -> 0.5 + 0.5 * Math.cos(tau * f * Math.hypot(along, across));                         // rings
        };
        return Math.clamp(value, 0.0, 1.0);
    }

    private static double frac(double v) {
        return v - Math.floor(v);
    }

    /** Piecewise-linear ramp through the colours. */
    private static double[] mix(double[][] colors, double t) {
        double pos = t * (colors.length - 1);
        int i = Math.min(colors.length - 2, (int) Math.floor(pos));
        double w = pos - i;
        double[] a = colors[i];
        double[] b = colors[i + 1];
        return new double[] {a[0] + w * (b[0] - a[0]), a[1] + w * (b[1] - a[1]), a[2] + w * (b[2] - a[2])};
    }

    /** HSV (hue in turns) to RGB in [0, 1]. */
    static double[] hsv(double h, double s, double v) {
        h = frac(h) * 6;
        int sector = (int) Math.floor(h) % 6;
        double f = h - Math.floor(h);
        double p = v * (1 - s);
        double q = v * (1 - s * f);
        double t = v * (1 - s * (1 - f));
        return switch (sector) {
            case 0 -> new double[] {v, t, p};
            case 1 -> new double[] {q, v, p};
            case 2 -> new double[] {p, v, t};
            case 3 -> new double[] {p, q, v};
            case 4 -> new double[] {t, p, v};
            default -> new double[] {v, p, q};
        };
    }
}
