package dev.likeness.models.tokenizers;

import java.nio.charset.StandardCharsets;
import java.text.BreakIterator;
import java.util.Locale;

/**
 * SentencePiece's compiled normalization rules ({@code precompiled_charsmap}, e.g. {@code nmt_nfkc}: NFKC plus
 * removal of control characters and mapping of odd spaces), applied the way HF tokenizers' {@code Precompiled}
 * normalizer applies them, since that is what {@code T5TokenizerFast} runs.
 *
 * <p>The blob is a little-endian u32 byte size of the trie, the trie (a darts-clone double array of u32 units over
 * UTF-8 bytes, whose values are offsets into the replacement area), then the replacement strings, each ending with a
 * NUL byte.
 *
 * <p>Application (tokenizers {@code normalizers/precompiled.rs}, {@code spm_precompiled::transform}): the text is cut
 * into extended grapheme clusters. A cluster shorter than 6 UTF-8 bytes is looked up whole, and if <em>any</em> prefix
 * of it is a key, the shortest such key's replacement stands for the whole cluster. Otherwise each character is
 * looked up alone and replaced when it is a key. A NUL byte ends a lookup. Clusters come from
 * {@link BreakIterator#getCharacterInstance} (extended grapheme clusters since Java 20), tokenizers' from the
 * {@code unicode-segmentation} crate; both follow UAX #29.
 */
final class PrecompiledCharsMap {
    private final int[] units;
    private final byte[] replacements;

    private PrecompiledCharsMap(int[] units, byte[] replacements) {
        this.units = units;
        this.replacements = replacements;
    }

    /** Parses the blob; {@code source} names where it came from in errors. */
    static PrecompiledCharsMap parse(byte[] blob, String source) {
        if (blob.length < 4) {
            throw new IllegalArgumentException(source + ": precompiled_charsmap has " + blob.length
                    + " bytes, expected at least the 4-byte trie size");
        }
        long trieBytes = u32(blob, 0);
        if (4 + trieBytes > blob.length || trieBytes < 4) {
            throw new IllegalArgumentException(source + ": precompiled_charsmap declares a trie of " + trieBytes
                    + " bytes but holds " + (blob.length - 4) + " after the size");
        }
        int[] units = new int[(int) (trieBytes / 4)];
        for (int k = 0; k < units.length; k++) {
            units[k] = (int) u32(blob, 4 + 4 * k);
        }
        int start = 4 + units.length * 4;
        byte[] replacements = new byte[blob.length - start];
        System.arraycopy(blob, start, replacements, 0, replacements.length);
        return new PrecompiledCharsMap(units, replacements);
    }

    /** Applies the rules to {@code text}. */
    String normalize(String text) {
        StringBuilder out = new StringBuilder(text.length() + 16);
        BreakIterator clusters = BreakIterator.getCharacterInstance(Locale.ROOT);
        clusters.setText(text);
        int start = clusters.first();
        for (int end = clusters.next(); end != BreakIterator.DONE; start = end, end = clusters.next()) {
            byte[] cluster = text.substring(start, end).getBytes(StandardCharsets.UTF_8);
            if (cluster.length < 6) {
                int value = shortestPrefixValue(cluster);
                if (value >= 0) {
                    out.append(replacement(value));
                    continue;
                }
            }
            for (int i = start; i < end; ) {
                int cp = text.codePointAt(i);
                int value = shortestPrefixValue(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
                if (value >= 0) {
                    out.append(replacement(value));
                } else {
                    out.appendCodePoint(cp);
                }
                i += Character.charCount(cp);
            }
        }
        return out.toString();
    }

    /**
     * darts-clone {@code commonPrefixSearch}, first result only: the value of the shortest prefix of {@code key} that
     * is a key of the trie, or -1. A unit packs a label (bits 0-7, bit 31 set on non-label units), a has-leaf flag
     * (bit 8) and an offset (bits 10-31, shifted left by 8 when bit 9 is set); a leaf unit's low 31 bits are its value.
     */
    private int shortestPrefixValue(byte[] key) {
        int node = 0;
        long unit = unit(node);
        node ^= offset(unit);
        for (byte b : key) {
            int c = b & 0xFF;
            if (c == 0) {
                return -1;
            }
            node ^= c;
            if (node < 0 || node >= units.length) {
                return -1;
            }
            unit = unit(node);
            if ((unit & 0x800000FFL) != c) {
                return -1;
            }
            node ^= offset(unit);
            if (((unit >>> 8) & 1) == 1) {
                return (int) (unit(node) & 0x7FFFFFFFL);
            }
        }
        return -1;
    }

    private long unit(int index) {
        return units[index] & 0xFFFFFFFFL;
    }

    private static int offset(long unit) {
        return (int) ((unit >>> 10) << ((unit & (1L << 9)) >>> 6));
    }

    /** The NUL-terminated UTF-8 replacement starting at {@code offset}. */
    private String replacement(int offset) {
        if (offset >= replacements.length) {
            throw new IllegalStateException("precompiled_charsmap: replacement offset " + offset + " is past the "
                    + replacements.length + " bytes of replacements");
        }
        int end = offset;
        while (end < replacements.length && replacements[end] != 0) {
            end++;
        }
        return new String(replacements, offset, end - offset, StandardCharsets.UTF_8);
    }

    private static long u32(byte[] b, int at) {
        return (b[at] & 0xFFL) | (b[at + 1] & 0xFFL) << 8 | (b[at + 2] & 0xFFL) << 16 | (b[at + 3] & 0xFFL) << 24;
    }
}
