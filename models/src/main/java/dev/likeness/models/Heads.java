package dev.likeness.models;

import dev.likeness.engine.Tensor;

/**
 * Multi-head attention's reshapes, shared by every transformer here: projected tokens [B, L, H·D] are viewed as
 * heads [B, H, L, D] for {@code Backend.attention} (no copy), and the heads are merged back to [B, L, H·D].
 */
final class Heads {
    private Heads() {
    }

    /** [B, L, H·D] → [B, H, L, D], a view. */
    static Tensor split(Tensor x, int heads) {
        int width = x.size(2);
        if (width % heads != 0) {
            throw new IllegalArgumentException("width " + width + " of " + x + " is not a multiple of " + heads + " heads");
        }
        return x.view(x.size(0), x.size(1), heads, width / heads).transpose(1, 2);
    }

    /** [B, H, L, D] → [B, L, H·D]. */
    static Tensor merge(Tensor x) {
        return x.transpose(1, 2).reshape(x.size(0), x.size(2), x.size(1) * x.size(3));
    }
}
