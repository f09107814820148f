package dev.likeness.pipeline.ideogram;

/**
 * Which of FLUX's attention layers carry <em>style</em> rather than identity and layout: the later half of the
 * single-stream blocks. Layers are numbered as the adapter's hooks number them (diffusers' {@code attn_processors}
 * order): double-stream blocks {@code 0..D-1}, then single-stream blocks {@code D..D+S-1}; the style layers are
 * {@code D + S/2 .. D+S-1} — for FLUX.1-dev (D = 19, S = 38) layers 38..56, for the tiny model (D = S = 2) layer 3.
 *
 * <p>The choice follows the common finding for DiT/FLUX image generators that composition and subject layout are
 * settled in the early (double-stream) blocks while the late single-stream blocks mostly refine texture, colour and
 * rendering; style references and style codes are injected only there, so they change how things look without
 * moving who or what is shown. It is our design, not a published Ideogram detail.
 */
public record StyleLayers(int doubleBlocks, int singleBlocks) {
    public StyleLayers {
        if (doubleBlocks < 0 || singleBlocks < 1) {
            throw new IllegalArgumentException("need at least one single-stream block, got " + doubleBlocks + " double and "
                    + singleBlocks + " single");
        }
    }

    /** The first style layer. */
    public int first() {
        return doubleBlocks + singleBlocks / 2;
    }

    /** The number of attention layers. */
    public int layers() {
        return doubleBlocks + singleBlocks;
    }

    /** Whether {@code layer} is a style layer. */
    public boolean isStyle(int layer) {
        return layer >= first() && layer < layers();
    }
}
