package dev.likeness.pipeline.ideogram;

import dev.likeness.pipeline.image.PillowResize;
import dev.likeness.pipeline.image.RgbImage;

/**
 * {@code reference_mask_urls[0]}: isolates the character in the reference before it is encoded.
 *
 * <p>The mask is read as greyscale (ITU-R 601 luma of its RGB, {@code L = (299 R + 587 G + 114 B) / 1000}, Pillow's
 * "L" conversion); <b>white (255) marks the character, black (0) the background</b>, values between blend — the
 * convention of an alpha matte. Ideogram has not published the polarity of character masks; this is ours. A mask of
 * another size than the reference is resized to it (Pillow bicubic, as every resize here). Each pixel becomes
 * {@code ref · m + neutral · (1 − m)} with {@code m = L / 255} and the neutral background mid-grey (128, 128, 128) — the
 * colour that is exactly zero after SigLIP's normalization and close to zero after DINOv2's, so the background
 * contributes as little as possible to the features the adapter reads.
 */
public final class ReferenceMask {
    /** The neutral background value. */
    public static final int NEUTRAL = 128;

    private ReferenceMask() {
    }

    /** The reference with everything outside the mask replaced by the neutral background. */
    public static RgbImage apply(RgbImage reference, RgbImage mask) {
        RgbImage m = mask.width() == reference.width() && mask.height() == reference.height() ? mask
                : PillowResize.resize(mask, reference.width(), reference.height());
        byte[] src = reference.rgb();
        byte[] mrgb = m.rgb();
        byte[] out = new byte[src.length];
        for (int i = 0; i < src.length; i += 3) {
            int luma = ((mrgb[i] & 0xff) * 299 + (mrgb[i + 1] & 0xff) * 587 + (mrgb[i + 2] & 0xff) * 114 + 500) / 1000;
            for (int c = 0; c < 3; c++) {
                int v = src[i + c] & 0xff;
                out[i + c] = (byte) ((v * luma + NEUTRAL * (255 - luma) + 127) / 255);
            }
        }
        return new RgbImage(reference.width(), reference.height(), out);
    }
}
