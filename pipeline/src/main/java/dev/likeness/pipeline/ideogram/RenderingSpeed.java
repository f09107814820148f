package dev.likeness.pipeline.ideogram;

import java.math.BigDecimal;

/**
 * {@code rendering_speed}: three presets that trade time for quality, and their price.
 *
 * <p>The time of a request is almost entirely the denoising loop (one transformer pass per step, two with a negative
 * prompt), so the presets differ in the number of Euler steps of FLUX's shifted flow-matching schedule. FLUX.1-dev's
 * own default is 28 steps, where extra steps stop changing the image visibly (QUALITY); 20 keeps the composition and
 * most detail (BALANCED, fal's default); 8 keeps the composition and the character but loses fine texture (TURBO).
 * Palette guidance and every other mechanism run at every step of every preset.
 *
 * <p>Price per output image as fal publishes it for {@code fal-ai/ideogram/character} ("$0.1 with TURBO, $0.15 with
 * BALANCED, and $0.20 with QUALITY"), the same as Ideogram's own per-image price with a character reference; a request
 * of {@code num_images} images costs that many times the per-image price ({@link #price(int)}).
 */
public enum RenderingSpeed {
    TURBO(8, "0.10"),
    BALANCED(20, "0.15"),
    QUALITY(28, "0.20");

    /** fal's default. */
    public static final RenderingSpeed DEFAULT = BALANCED;

    private final int steps;
    private final BigDecimal pricePerImage;

    RenderingSpeed(int steps, String pricePerImage) {
        this.steps = steps;
        this.pricePerImage = new BigDecimal(pricePerImage);
    }

    /** Denoising steps. */
    public int steps() {
        return steps;
    }

    /** USD per output image. */
    public BigDecimal pricePerImage() {
        return pricePerImage;
    }

    /** USD for a request of {@code numImages} images: per-image price × images. */
    public BigDecimal price(int numImages) {
        if (numImages < 1) {
            throw new IllegalArgumentException("numImages must be at least 1, got " + numImages);
        }
        return pricePerImage.multiply(BigDecimal.valueOf(numImages));
    }
}
