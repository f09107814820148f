package dev.likeness.pipeline;

import dev.likeness.engine.Tensor;

import java.util.Arrays;

/**
 * The subject image as the two image encoders take it ({@code encode_image_emb}'s processor outputs): the whole
 * view at 384² and the four 384² tiles of the 768² view (top-left, top-right, bottom-left, bottom-right), each
 * normalized for SigLIP and for DINOv2.
 *
 * @param siglipLow  [1, 3, 384, 384]
 * @param siglipHigh [4, 3, 384, 384]
 * @param dinov2Low  [1, 3, 384, 384]
 * @param dinov2High [4, 3, 384, 384]
 */
public record SubjectPixels(Tensor siglipLow, Tensor siglipHigh, Tensor dinov2Low, Tensor dinov2High) {
    public SubjectPixels {
        check("siglipLow", siglipLow, 1);
        check("siglipHigh", siglipHigh, 4);
        check("dinov2Low", dinov2Low, 1);
        check("dinov2High", dinov2High, 4);
    }

    private static void check(String name, Tensor t, int n) {
        if (t.dim() != 4 || t.size(0) != n || t.size(1) != 3) {
            throw new IllegalArgumentException("subject pixels: " + name + " must be [" + n + ", 3, H, W], got "
                    + Arrays.toString(t.shape()));
        }
    }
}
