package dev.likeness.models.tokenizers;

import java.util.Arrays;

/**
 * The tokenizer output a text encoder consumes, as transformers returns it for {@code padding="max_length",
 * truncation=True}: {@code input_ids} and {@code attention_mask} (1 for a real token, 0 for padding), both
 * {@code maxLength} long.
 */
public record Encoding(int[] ids, int[] attentionMask) {

    public Encoding {
        if (ids.length != attentionMask.length) {
            throw new IllegalArgumentException("ids has " + ids.length + " entries but attentionMask has "
                    + attentionMask.length);
        }
    }

    /** Pads {@code tokens} on the right with {@code padId} to {@code maxLength}; the mask marks the real tokens. */
    static Encoding padded(int[] tokens, int maxLength, int padId) {
        if (tokens.length > maxLength) {
            throw new IllegalArgumentException(tokens.length + " tokens do not fit maxLength " + maxLength);
        }
        int[] ids = Arrays.copyOf(tokens, maxLength);
        Arrays.fill(ids, tokens.length, maxLength, padId);
        int[] mask = new int[maxLength];
        Arrays.fill(mask, 0, tokens.length, 1);
        return new Encoding(ids, mask);
    }

    /** The number of real (unpadded) tokens. */
    public int length() {
        int n = 0;
        for (int m : attentionMask) {
            n += m;
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Encoding e && Arrays.equals(ids, e.ids) && Arrays.equals(attentionMask, e.attentionMask);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(ids) + Arrays.hashCode(attentionMask);
    }

    @Override
    public String toString() {
        return "Encoding" + Arrays.toString(Arrays.copyOf(ids, length())) + " (" + ids.length + " with padding)";
    }
}
