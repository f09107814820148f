package dev.likeness.models;

import dev.likeness.engine.DType;
import dev.likeness.engine.Dtypes;
import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Model weights too large to commit, generated from their names alone, identically here and in
 * {@code tools/reference/goldens/models_flux_fullwidth.py} (whose docstring states the same formula). The draws k_i
 * are {@link SyntheticWeights#draw}'s; this class adds the bf16-exact value rules of the full-width test. A tensor named
 * {@code NAME} (its checkpoint key) with n elements gets, for the row-major element index i = 0 .. n−1:
 *
 * <pre>
 *   seed  = CRC32(UTF-8 bytes of NAME)                  (java.util.zip.CRC32, Python's zlib.crc32)
 *   x_i   = (i · 0x9E3779B9 + seed) mod 2^32
 *   h_i   = fmix32(x_i)                                 MurmurHash3's finalizer: h ^= h >>> 16; h *= 0x85EBCA6B;
 *                                                       h ^= h >>> 13; h *= 0xC2B2AE35; h ^= h >>> 16 (mod 2^32)
 *   k_i   = (h_i >>> 24) − 128                          a signed integer in [−128, 127]
 *   value = m_i · 2^−s                                  with, by kind of tensor:
 *     QK RMS-norm scales (names ending in norm_q, norm_k, norm_added_q or norm_added_k ".weight"):
 *                         m_i = 128 + (k_i >> 2) (arithmetic shift: m in [96, 159]), s = 7: values in [0.75, 1.25)
 *     biases (other 1-D tensors): m_i = k_i, s = 10: |value| ≤ 0.125
 *     weights [out, in]:  m_i = k_i, s = 6 + e, e the least integer with 4^e ≥ in (2^−s ≈ 1 / (64 √in), so the
 *                         values' standard deviation, 74 · 2^−s, is about 1 / √in)
 * </pre>
 *
 * Every m is an integer with |m| ≤ 256, at most 8 significant bits, so every value is exact in bf16 and in f32: a
 * model written in bf16 computes with exactly the numbers the f32 reference used. The golden stores, per tensor, the
 * exponent, the sum of all m and the first four m ({@link Generated}), so that a generator that drifted from the
 * Python one is reported as such rather than as a vague parity error.
 */
final class DeterministicWeights {
    private DeterministicWeights() {
    }

    /** A generated bf16 tensor and its checksums: the exponent s, Σ m_i and the first four m_i. */
    record Generated(Tensor tensor, int exponent, long sum, int[] first) {
    }

    private static boolean isQkNorm(String name) {
        return name.endsWith("norm_q.weight") || name.endsWith("norm_k.weight")
                || name.endsWith("norm_added_q.weight") || name.endsWith("norm_added_k.weight");
    }

    /** The scale exponent s of tensor {@code name} of {@code shape}. */
    static int exponent(String name, int[] shape) {
        if (isQkNorm(name)) {
            return 7;
        }
        if (shape.length == 1) {
            return 10;
        }
        if (shape.length != 2) {
            throw new IllegalArgumentException(name + ": no generator rule for shape " + Arrays.toString(shape));
        }
        int e = 0;
        while ((1L << (2 * e)) < shape[1]) {
            e++;
        }
        return 6 + e;
    }

    /** The integer m_i of element {@code i} of the tensor with stream seed {@code seed}. */
    static int mantissa(int seed, boolean qkNorm, int i) {
        int k = SyntheticWeights.draw(seed, i);
        return qkNorm ? 128 + (k >> 2) : k;
    }

    /** The tensor {@code name} of {@code shape}, generated as bf16, with its checksums. */
    static Generated bf16(CpuBackend backend, String name, int... shape) {
        int s = exponent(name, shape);
        int seed = SyntheticWeights.streamSeed(name, 0);
        boolean qk = isQkNorm(name);
        int n = Math.toIntExact(Tensor.numel(shape));
        short[] bits = new short[n];
        long sum = 0;
        int[] first = new int[Math.min(4, n)];
        for (int i = 0; i < n; i++) {
            int m = mantissa(seed, qk, i);
            sum += m;
            if (i < first.length) {
                first[i] = m;
            }
            // exact: |m| <= 256 has at most 8 significant bits, the power of two only moves the exponent
            bits[i] = Dtypes.f32ToBf16(Math.scalb((float) m, -s));
        }
        return new Generated(backend.wrap(MemorySegment.ofArray(bits), DType.BF16, shape), s, sum, first);
    }
}
