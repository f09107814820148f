package dev.likeness.engine.random;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Dtypes;
import dev.likeness.engine.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * PyTorch's CPU random generator, reproduced bit for bit: {@code torch.Generator("cpu")} ({@code at::CPUGeneratorImpl}
 * over {@code at::mt19937}) with {@code manual_seed}, and the CPU kernels of {@code torch.randn} and
 * {@code torch.rand} for float32 and bfloat16 (torch 2.6.0).
 *
 * <p>A seed means what it means to the reference pipeline: {@code new TorchGenerator(seed).randn(backend, DType.BF16,
 * 1, 16, 128, 128)} returns the same bits as
 * {@code torch.randn((1, 16, 128, 128), generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.bfloat16)}.
 * Successive calls continue the generator's stream exactly as successive torch calls on one generator do.
 *
 * <h2>The generator</h2>
 * A 32-bit Mersenne Twister (MT19937). {@code manual_seed(s)} takes s as an unsigned 64-bit number, keeps it as the
 * initial seed, and seeds the twister from its low 32 bits with the standard {@code init_genrand} recurrence; it also
 * drops the cached normal sample. {@link #random()} is one tempered 32-bit output, {@link #random64()} two of them,
 * the first as the high half.
 *
 * <h2>randn</h2>
 * {@code normal_} fills a contiguous tensor of n ≥ 16 elements with n uniforms, one 32-bit draw each ({@code
 * (r & (2^d - 1)) / 2^d} with d the dtype's significand digits: 24 for float32, 8 for bfloat16), transforms each block
 * of 16 with Box–Muller ({@link NormalFill}), and when n is not a multiple of 16 draws 16 more uniforms and recomputes
 * the last 16 outputs from them. Tensors of fewer than 16 elements take the scalar path: a double-precision
 * Box–Muller from two 53-bit uniforms (64-bit draws), {@code sqrt(-2 log1p(-u2)) cos(2π u1)}, whose sine partner is
 * cached in the generator and returned by the next scalar draw; the double is rounded to float, then to bf16.
 * torch takes {@code log1p}, {@code sin} and {@code cos} from the C library, this class from {@link StrictMath}:
 * both are within an ulp of the exact double, and a last-bit difference survives the rounding to float only with a
 * probability of about 2^-29 per value (never seen in the goldens or in 5.4 million checked values).
 *
 * <h2>Which float32 kernel</h2>
 * The bfloat16 kernel is the same on every CPU. The float32 one is not: torch's x86-64 build runs an AVX2 kernel
 * with Cephes polynomial approximations on any CPU with AVX2 (AVX-512 ones included), and a scalar kernel calling the
 * C library's {@code logf}/{@code sincosf} otherwise. {@link F32Kernel#AVX2} (the default) reproduces the first bit for
 * bit; {@link F32Kernel#SCALAR} uses correctly rounded functions and matches the second within 3 float ulps (1.5% of
 * the values differ).
 *
 * <p>Not thread-safe (torch locks its generator; share one instance per thread or synchronize).
 */
public final class TorchGenerator {
    /** The float32 {@code normal_} kernel to reproduce (see the class documentation). */
    public enum F32Kernel {
        /** torch's AVX2 build (x86-64 with AVX2 or AVX-512): bit-exact. */
        AVX2,
        /** torch's DEFAULT build (no AVX2, {@code ATEN_CPU_CAPABILITY=default}): within 3 float ulps. */
        SCALAR
    }

    private static final int N = 624;
    private static final int M = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;
    /** The size of torch's {@code get_state()} byte tensor ({@code CPUGeneratorImplState}). */
    public static final int STATE_BYTES = 5056;

    private final int[] mt = new int[N];
    private long initialSeed;
    private int left;
    private int next;
    private boolean hasNextDoubleNormal;
    private double nextDoubleNormal;
    private F32Kernel f32Kernel = F32Kernel.AVX2;

    /** {@code torch.Generator("cpu").manual_seed(seed)}; the seed is read as an unsigned 64-bit value. */
    public TorchGenerator(long seed) {
        manualSeed(seed);
    }

    /**
     * {@code torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=dtype)}: the pipeline's
     * initial noise.
     */
    public static Tensor randn(Backend backend, long seed, DType dtype, int... shape) {
        return new TorchGenerator(seed).randn(backend, dtype, shape);
    }

    /** {@code generator.manual_seed(seed)}: reseeds the twister and drops the cached normal sample. */
    public TorchGenerator manualSeed(long seed) {
        initialSeed = seed;
        mt[0] = (int) seed;
        for (int j = 1; j < N; j++) {
            mt[j] = 1812433253 * (mt[j - 1] ^ (mt[j - 1] >>> 30)) + j;
        }
        left = 1;
        next = 0;
        hasNextDoubleNormal = false;
        nextDoubleNormal = 0;
        return this;
    }

    /** {@code generator.initial_seed()}, as the unsigned 64-bit value's bits. */
    public long initialSeed() {
        return initialSeed;
    }

    /** Selects the float32 kernel (default {@link F32Kernel#AVX2}); returns this generator. */
    public TorchGenerator f32Kernel(F32Kernel kernel) {
        this.f32Kernel = kernel;
        return this;
    }

    public F32Kernel f32Kernel() {
        return f32Kernel;
    }

    // ---------------------------------------------------------------------------------------- raw draws

    /** {@code CPUGeneratorImpl::random()}: the next 32-bit output (read it unsigned). */
    public int random() {
        if (--left == 0) {
            twist();
        }
        int y = mt[next++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    /** {@code CPUGeneratorImpl::random64()}: two 32-bit outputs, the first in the high half. */
    public long random64() {
        long hi = random() & 0xffffffffL;
        long lo = random() & 0xffffffffL;
        return hi << 32 | lo;
    }

    private void twist() {
        left = N;
        next = 0;
        for (int k = 0; k < N; k++) {
            int y = (mt[k] & UPPER_MASK) | (mt[(k + 1) % N] & LOWER_MASK);
            mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ ((mt[(k + 1) % N] & 1) != 0 ? MATRIX_A : 0);
        }
    }

    /**
     * The generator's state in the byte layout of torch's {@code generator.get_state()} (little-endian
     * {@code CPUGeneratorImplState}, {@value #STATE_BYTES} bytes): initial seed, {@code left}, seeded flag,
     * {@code next}, the 624 words as 64-bit values, the cached double normal sample and its flag, and the
     * (never used by these kernels) float sample slot. Equal bytes mean equal future draws.
     */
    public byte[] state() {
        ByteBuffer b = ByteBuffer.allocate(STATE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(initialSeed).putInt(left).putInt(1).putLong(next);
        for (int w : mt) {
            b.putLong(w & 0xffffffffL);
        }
        b.putDouble(0.0); // normal_x: unused
        b.putDouble(hasNextDoubleNormal ? nextDoubleNormal : 0.0); // normal_y
        b.putDouble(0.0); // normal_rho: unused
        b.putInt(hasNextDoubleNormal ? 1 : 0);
        b.putInt(0); // padding
        b.putFloat(0f); // next_float_normal_sample: the kernels here never cache a float sample
        b.put((byte) 0);
        return b.array();
    }

    // ---------------------------------------------------------------------------------------- uniforms

    /** {@code uniform_real_distribution<float>(0, 1)}: 24 random bits over 2^24. */
    private float uniformF32() {
        return (random() & 0xffffff) * 0x1p-24f;
    }

    /** {@code uniform_real_distribution<double>(0, 1)}: 53 bits of a 64-bit draw over 2^53. */
    private double uniformF64() {
        return (random64() & ((1L << 53) - 1)) * 0x1p-53;
    }

    /** {@code at::normal_distribution<double>(0, 1)}: the scalar path, with the cached sine partner. */
    private double normalF64() {
        if (hasNextDoubleNormal) {
            hasNextDoubleNormal = false;
            return nextDoubleNormal * 1.0 + 0.0;
        }
        double u1 = uniformF64();
        double u2 = uniformF64();
        double r = Math.sqrt(-2.0 * StrictMath.log1p(-u2));
        double theta = 2.0 * Math.PI * u1;
        nextDoubleNormal = r * StrictMath.sin(theta);
        hasNextDoubleNormal = true;
        return r * StrictMath.cos(theta) * 1.0 + 0.0;
    }

    // ---------------------------------------------------------------------------------------- randn / rand

    /**
     * {@code torch.randn(n, generator=this, dtype=dtype)} as float values (bf16 values are exact in float), dtype
     * F32 or BF16.
     */
    public float[] randnValues(int n, DType dtype) {
        if (n < 0) {
            throw new IllegalArgumentException("randn: negative element count " + n);
        }
        if (dtype == DType.BF16) {
            short[] bits = randnBf16(n);
            float[] out = new float[n];
            for (int i = 0; i < n; i++) {
                out[i] = Dtypes.bf16ToF32(bits[i]);
            }
            return out;
        }
        if (dtype == DType.F32) {
            return randnF32(n);
        }
        throw new IllegalArgumentException("randn: dtype " + dtype + " is not supported (F32 or BF16)");
    }

    /** {@code torch.randn(shape, generator=this, dtype=dtype)} on {@code backend} (F32 or BF16). */
    public Tensor randn(Backend backend, DType dtype, int... shape) {
        return tensor(backend, dtype, randnValues(count("randn", shape), dtype), shape);
    }

    /** {@code torch.rand(n, generator=this, dtype=dtype)} as float values, dtype F32 or BF16. */
    public float[] randValues(int n, DType dtype) {
        if (n < 0) {
            throw new IllegalArgumentException("rand: negative element count " + n);
        }
        float[] out = new float[n];
        if (dtype == DType.F32) {
            for (int i = 0; i < n; i++) {
                out[i] = uniformF32();
            }
        } else if (dtype == DType.BF16) {
            for (int i = 0; i < n; i++) {
                out[i] = (random() & 0xff) * 0x1p-8f;
            }
        } else {
            throw new IllegalArgumentException("rand: dtype " + dtype + " is not supported (F32 or BF16)");
        }
        return out;
    }

    /** {@code torch.rand(shape, generator=this, dtype=dtype)} on {@code backend} (F32 or BF16). */
    public Tensor rand(Backend backend, DType dtype, int... shape) {
        return tensor(backend, dtype, randValues(count("rand", shape), dtype), shape);
    }

    /** randn in bfloat16, as bf16 bit patterns. */
    public short[] randnBf16(int n) {
        short[] out = new short[n];
        if (n < 16) {
            for (int i = 0; i < n; i++) {
                out[i] = Dtypes.f32ToBf16((float) normalF64());
            }
            return out;
        }
        int[] bytes = new int[n];
        for (int i = 0; i < n; i++) {
            bytes[i] = random() & 0xff;
        }
        for (int i = 0; i + 16 <= n; i += 16) {
            NormalFill.bf16Block(bytes, i, out, i);
        }
        if (n % 16 != 0) {
            int[] tail = new int[16];
            for (int i = 0; i < 16; i++) {
                tail[i] = random() & 0xff;
            }
            NormalFill.bf16Block(tail, 0, out, n - 16);
        }
        return out;
    }

    /** randn in float32 with the selected {@link F32Kernel}. */
    public float[] randnF32(int n) {
        float[] out = new float[n];
        if (n < 16) {
            for (int i = 0; i < n; i++) {
                out[i] = (float) normalF64();
            }
            return out;
        }
        for (int i = 0; i < n; i++) {
            out[i] = uniformF32();
        }
        float[] scratch = new float[2];
        for (int i = 0; i + 16 <= n; i += 16) {
            block(out, i, scratch);
        }
        if (n % 16 != 0) {
            int off = n - 16;
            for (int i = 0; i < 16; i++) {
                out[off + i] = uniformF32();
            }
            block(out, off, scratch);
        }
        return out;
    }

    private void block(float[] data, int off, float[] scratch) {
        if (f32Kernel == F32Kernel.AVX2) {
            NormalFill.f32BlockAvx2(data, off, 0f, 1f, scratch);
        } else {
            NormalFill.f32BlockScalar(data, off, 0f, 1f);
        }
    }

    private static int count(String op, int[] shape) {
        long n = Tensor.numel(shape);
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException(op + ": negative dimension in shape " + Arrays.toString(shape));
            }
        }
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": shape " + Arrays.toString(shape) + " has " + n
                    + " elements, more than one array holds");
        }
        return (int) n;
    }

    private static Tensor tensor(Backend backend, DType dtype, float[] values, int[] shape) {
        Tensor t = backend.fromFloats(values, shape);
        return dtype == DType.F32 ? t : backend.to(t, dtype);
    }
}
