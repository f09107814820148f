package dev.likeness.models.scheduler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.Dtypes;
import dev.likeness.engine.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * diffusers' {@code FlowMatchEulerDiscreteScheduler} (0.33.1) as {@code FluxPipeline} drives it: the pipeline passes
 * {@code sigmas = np.linspace(1, 1/n, n)} and the resolution-dependent shift {@code mu} to {@code set_timesteps};
 * the schedule integrates the predicted velocity from σ = 1 (noise) to σ = 0 with Euler steps.
 *
 * <p>The arithmetic follows the reference's dtypes exactly: {@code linspace} and {@code calculate_shift} in f64;
 * the sigmas cast to f32 and shifted in f32 (numpy with Python-float operands rounded to f32 first, so
 * {@code exp(mu)} is rounded to f32 before the exponential shift); timesteps {@code σ·1000} in f32; a terminal 0
 * appended; the step {@code x + (σ_next − σ)·v} in f32.
 *
 * <p>Supported configuration: fixed {@code shift} or {@code use_dynamic_shifting} with the exponential or linear
 * time shift, and {@code shift_terminal}. Karras, exponential and beta sigmas and {@code invert_sigmas} are refused
 * by name.
 */
public final class FlowMatchEulerScheduler {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The dynamic time-shift formula ({@code time_shift_type}). */
    public enum TimeShift { EXPONENTIAL, LINEAR }

    /** The fields of a {@code scheduler_config.json} this scheduler uses, with diffusers' defaults. */
    public record Config(int numTrainTimesteps, double shift, boolean useDynamicShifting, double baseShift,
                         double maxShift, int baseImageSeqLen, int maxImageSeqLen, TimeShift timeShiftType,
                         double shiftTerminal) {
        /** FLUX.1-dev's {@code scheduler/scheduler_config.json}. */
        public static Config flux() {
            return new Config(1000, 3.0, true, 0.5, 1.15, 256, 4096, TimeShift.EXPONENTIAL, 0.0);
        }
    }

    private final Config config;

    public FlowMatchEulerScheduler(Config config) {
        this.config = config;
    }

    public Config config() {
        return config;
    }

    /** Reads a diffusers {@code scheduler_config.json}; missing fields take the scheduler's defaults. */
    public static FlowMatchEulerScheduler fromConfig(Path schedulerConfigJson) {
        JsonNode n;
        try {
            n = JSON.readTree(schedulerConfigJson.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read scheduler config " + schedulerConfigJson + ": "
                    + e.getMessage(), e);
        }
        String where = schedulerConfigJson.toString();
        String cls = n.path("_class_name").asText("FlowMatchEulerDiscreteScheduler");
        if (!cls.equals("FlowMatchEulerDiscreteScheduler")) {
            throw new IllegalArgumentException(where + ": _class_name is " + cls
                    + ", expected FlowMatchEulerDiscreteScheduler");
        }
        for (String unsupported : new String[]{"invert_sigmas", "use_karras_sigmas", "use_exponential_sigmas",
                "use_beta_sigmas"}) {
            if (n.path(unsupported).asBoolean(false)) {
                throw new IllegalArgumentException(where + ": " + unsupported + " = true is not supported");
            }
        }
        String type = n.path("time_shift_type").asText("exponential");
        TimeShift timeShift = switch (type) {
            case "exponential" -> TimeShift.EXPONENTIAL;
            case "linear" -> TimeShift.LINEAR;
            default -> throw new IllegalArgumentException(where + ": time_shift_type \"" + type
                    + "\" is neither exponential nor linear");
        };
        JsonNode terminal = n.get("shift_terminal");
        return new FlowMatchEulerScheduler(new Config(
                n.path("num_train_timesteps").asInt(1000),
                n.path("shift").asDouble(1.0),
                n.path("use_dynamic_shifting").asBoolean(false),
                number(n, "base_shift", 0.5),
                number(n, "max_shift", 1.15),
                (int) number(n, "base_image_seq_len", 256),
                (int) number(n, "max_image_seq_len", 4096),
                timeShift,
                terminal == null || terminal.isNull() ? 0.0 : terminal.asDouble()));
    }

    /** A field that diffusers' {@code config.get(key, default)} reads: the default also when the value is null. */
    private static double number(JsonNode n, String key, double fallback) {
        JsonNode v = n.get(key);
        return v == null || v.isNull() ? fallback : v.asDouble();
    }

    /** FluxPipeline's image token count: latents of {@code 2·(h/16) × 2·(w/16)} packed in 2×2 patches. */
    public static int imageSeqLen(int height, int width) {
        return (height / 16) * (width / 16);
    }

    /**
     * diffusers {@code calculate_shift}: {@code mu} linear in the image token count, from {@code base_shift} at
     * {@code base_image_seq_len} to {@code max_shift} at {@code max_image_seq_len} (f64).
     */
    public double mu(int imageSeqLen) {
        double m = (config.maxShift() - config.baseShift()) / (config.maxImageSeqLen() - config.baseImageSeqLen());
        double b = config.baseShift() - m * config.baseImageSeqLen();
        return imageSeqLen * m + b;
    }

    /** The schedule FluxPipeline sets for {@code steps} steps at {@code height × width} pixels. */
    public Schedule fluxSchedule(int steps, int height, int width) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        }
        return schedule(linspace(1.0, 1.0 / steps, steps), mu(imageSeqLen(height, width)));
    }

    /**
     * {@code set_timesteps(sigmas=sigmas, mu=mu)}: the sigmas in f32, shifted (dynamically with {@code mu} when
     * configured, else by the fixed {@code shift}), stretched to {@code shift_terminal} when set; timesteps σ·T;
     * sigma 0 appended.
     */
    public Schedule schedule(double[] sigmas, double mu) {
        int n = sigmas.length;
        float[] s = new float[n + 1];
        for (int i = 0; i < n; i++) {
            s[i] = (float) sigmas[i];
        }
        if (config.useDynamicShifting()) {
            float e = config.timeShiftType() == TimeShift.EXPONENTIAL ? (float) StrictMath.exp(mu) : (float) mu;
            for (int i = 0; i < n; i++) {
                float t = 1f / s[i] - 1f;  // (1/t - 1) ** 1.0: the power 1.0 is exact
                s[i] = e / (e + t);
            }
        } else {
            float shift = (float) config.shift();
            float shiftMinusOne = (float) (config.shift() - 1);
            for (int i = 0; i < n; i++) {
                s[i] = shift * s[i] / (1f + shiftMinusOne * s[i]);
            }
        }
        if (config.shiftTerminal() != 0.0) {
            float scale = (1f - s[n - 1]) / (float) (1 - config.shiftTerminal());
            for (int i = 0; i < n; i++) {
                s[i] = 1f - (1f - s[i]) / scale;
            }
        }
        float[] timesteps = new float[n];
        for (int i = 0; i < n; i++) {
            timesteps[i] = s[i] * config.numTrainTimesteps();
        }
        return new Schedule(s, timesteps);
    }

    /**
     * numpy {@code linspace(start, stop, num)} in f64: {@code i·step + start} with {@code step = (stop − start) /
     * (num − 1)}, the last value exactly {@code stop}.
     */
    static double[] linspace(double start, double stop, int num) {
        double[] y = new double[num];
        if (num == 1) {
            y[0] = start;
            return y;
        }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) {
            y[i] = i * step + start;
        }
        y[num - 1] = stop;
        return y;
    }

    /**
     * A schedule: {@code sigmas} (steps + 1, ending in 0) and the {@code timesteps} (σ·T) the model is called with.
     */
    public record Schedule(float[] sigmas, float[] timesteps) {

        public int steps() {
            return timesteps.length;
        }

        /**
         * {@code FlowMatchEulerDiscreteScheduler.step} at step {@code index}: {@code sample + (σ[index+1] −
         * σ[index])·modelOutput}, the sum in f32, the result in the model output's dtype. As in torch, a bf16 or f16
         * model output turns the product into that dtype: the f32 {@code dt} is rounded to it, and so is the
         * product, before the f32 addition.
         */
        public Tensor step(Backend b, int index, Tensor sample, Tensor modelOutput) {
            if (index < 0 || index >= steps()) {
                throw new IllegalArgumentException("step index " + index + " outside 0.." + (steps() - 1));
            }
            DType out = modelOutput.dtype();
            float dt = sigmas[index + 1] - sigmas[index];
            Tensor product = switch (out) {
                case F32 -> b.mul(modelOutput, b.fromFloats(new float[]{dt}, 1));
                case BF16 -> b.to(b.mul(modelOutput, b.fromFloats(new float[]{Dtypes.bf16ToF32(Dtypes.f32ToBf16(dt))},
                        1)), DType.BF16);
                case F16 -> b.to(b.mul(modelOutput, b.fromFloats(new float[]{Dtypes.f16ToF32(Dtypes.f32ToF16(dt))},
                        1)), DType.F16);
                default -> throw new IllegalArgumentException("modelOutput dtype " + out
                        + " is not supported (F32, BF16, F16)");
            };
            return b.to(b.add(sample, product), out);
        }
    }
}
