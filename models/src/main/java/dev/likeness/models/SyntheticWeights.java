package dev.likeness.models;

import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;

/**
 * Deterministic "random" weights that depend only on a tensor's name and an element's index, so that Java and the
 * Python reference build exactly the same model without any weight file being stored: the built-in tiny model
 * (pipeline) and the full-width tests use them.
 *
 * <p>For the tensor {@code name} and the row-major element index {@code i} (all arithmetic modulo 2³²):
 * <pre>
 *   s = crc32(utf8(name)) ^ (seed · 0x9E3779B9)
 *   h = fmix32(i · 0x9E3779B9 + s)                 // MurmurHash3's finalizer
 *   k = (h >>> 24) − 128                            // an integer in [−128, 127]
 *   value = offset + scale · k / 128                // the product, then the sum, each rounded to f32 once
 * </pre>
 * With {@code scale} a power of two the product is exact, and with {@code offset} 0 every value is exact in bf16
 * too. The mirror is {@code synthetic_draws()} in {@code tools/reference/goldens/common.py}.
 */
public final class SyntheticWeights {
    private SyntheticWeights() {
    }

    /** The per-tensor stream seed {@code crc32(name) ^ (seed · 0x9E3779B9)}. */
    public static int streamSeed(String name, int seed) {
        CRC32 crc = new CRC32();
        crc.update(name.getBytes(StandardCharsets.UTF_8));
        return (int) crc.getValue() ^ (seed * 0x9E3779B9);
    }

    /** The signed 8-bit draw k ∈ [−128, 127] for element {@code index} of the stream {@code streamSeed}. */
    public static int draw(int streamSeed, long index) {
        int h = (int) index * 0x9E3779B9 + streamSeed;
        h ^= h >>> 16;
        h *= 0x85EBCA6B;
        h ^= h >>> 13;
        h *= 0xC2B2AE35;
        h ^= h >>> 16;
        return (h >>> 24) - 128;
    }

    /** The {@code count} values of tensor {@code name} (row-major), {@code offset + scale·k/128}. */
    public static float[] values(String name, long count, double scale, double offset, int seed) {
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(name + ": " + count + " elements do not fit one array");
        }
        float[] out = new float[(int) count];
        fill(out, 0, name, 0, count, scale, offset, seed);
        return out;
    }

    /** Writes elements {@code [from, from + count)} of tensor {@code name} into {@code out[at..]}. */
    public static void fill(float[] out, int at, String name, long from, long count, double scale, double offset,
                            int seed) {
        int s = streamSeed(name, seed);
        float step = (float) (scale / 128.0);
        float base = (float) offset;
        for (long i = 0; i < count; i++) {
            float product = draw(s, from + i) * step;
            out[at + (int) i] = product + base;
        }
    }
}
