package dev.likeness.bench;

import dev.likeness.engine.Backend;
import dev.likeness.engine.DType;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.engine.cuda.CudaBackend;
import dev.likeness.engine.cuda.CudaUnavailableException;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.ModelPaths;
import dev.likeness.pipeline.TinyModel;
import dev.likeness.pipeline.image.OutputImages;
import dev.likeness.pipeline.image.RgbImage;
import dev.likeness.pipeline.image.SubjectImages;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The whole InstantCharacter pipeline on the built-in tiny model, once on a one-thread CPU backend (the reference) and
 * once on the backend under test (a GPU, in f32 or bf16 compute), same subject, prompt and seed; compares the images.
 * Prints one JSON line (and writes it to {@code --out}); exits 1 when the images differ beyond the tolerance.
 *
 * <pre>
 * PipelineDeviceCheck [--device cuda|cpu] [--compute f32|bf16] [--size 64] [--steps 4] [--max-rel 1e-3] [--out F]
 * </pre>
 * {@code --max-rel} bounds the relative RMS difference of the float images ([-1, 1], before 8-bit rounding); the 8-bit
 * images' largest and mean pixel differences are reported too. {@code --device cpu} compares two CPU backends with
 * different thread counts (they must agree exactly: the CPU kernels are deterministic); it is what this check runs on
 * a machine without a GPU.
 */
public final class PipelineDeviceCheck {
    private PipelineDeviceCheck() {
    }

    /** What a run found. */
    record Outcome(String device, String compute, int size, int steps, double relRms, int maxPixelDiff,
                   double meanPixelDiff, double referenceSeconds, double deviceSeconds, boolean pass) {
        String json() {
            return String.format(Locale.ROOT, "{\"check\":\"pipeline_device\",\"device\":\"%s\",\"compute\":\"%s\","
                            + "\"size\":%d,\"steps\":%d,\"image_rel_rms\":%.6g,\"max_pixel_diff\":%d,"
                            + "\"mean_pixel_diff\":%.6g,\"cpu_s\":%.3f,\"device_s\":%.3f,\"pass\":%b}",
                    device, compute, size, steps, relRms, maxPixelDiff, meanPixelDiff, referenceSeconds, deviceSeconds,
                    pass);
        }
    }

    public static void main(String[] args) throws IOException {
        String device = "cuda";
        String compute = "f32";
        int size = 64;
        int steps = 4;
        double maxRel = 1e-3;
        Path out = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) {
                usage("missing value after " + a);
            }
            String v = args[++i];
            switch (a) {
                case "--device" -> device = v;
                case "--compute" -> compute = v;
                case "--size" -> size = Integer.parseInt(v);
                case "--steps" -> steps = Integer.parseInt(v);
                case "--max-rel" -> maxRel = Double.parseDouble(v);
                case "--out" -> out = Path.of(v);
                default -> usage("unknown option " + a);
            }
        }
        if (!device.equals("cuda") && !device.equals("cpu")) {
            usage("--device must be cuda or cpu, got " + device);
        }
        if (!compute.equals("f32") && !compute.equals("bf16")) {
            usage("--compute must be f32 or bf16, got " + compute);
        }
        if (size < 16 || size % 16 != 0) {
            usage("--size must be a multiple of 16, at least 16, got " + size);
        }
        Backend under;
        try {
            under = device.equals("cpu") ? new CpuBackend(2)
                    : CudaBackend.open(0, compute.equals("f32") ? DType.F32 : DType.BF16);
        } catch (CudaUnavailableException e) {
            System.err.println("PipelineDeviceCheck: no GPU: " + e.getMessage());
            System.exit(2);
            return;
        }
        Outcome o;
        try (Backend b = under; CpuBackend reference = new CpuBackend(1)) {
            o = run(reference, b, device, compute, size, steps, maxRel);
        }
        System.out.println(o.json());
        if (out != null) {
            Files.writeString(out, o.json() + "\n");
        }
        System.exit(o.pass() ? 0 : 1);
    }

    private static void usage(String message) {
        System.err.println("PipelineDeviceCheck: " + message);
        System.err.println("usage: PipelineDeviceCheck [--device cuda|cpu] [--compute f32|bf16] [--size 64] [--steps 4] "
                + "[--max-rel 1e-3] [--out FILE]");
        System.exit(2);
    }

    static Outcome run(Backend reference, Backend under, String device, String compute, int size, int steps,
                       double maxRel) {
        ModelPaths tiny = TinyModel.materialize();
        long t0 = System.nanoTime();
        Generated ref = generate(tiny, reference, size, steps);
        long t1 = System.nanoTime();
        Generated got = generate(tiny, under, size, steps);
        long t2 = System.nanoTime();
        return compare(ref.values, got.values, ref.image, got.image, device, compute, size, steps, (t1 - t0) / 1e9,
                (t2 - t1) / 1e9, maxRel);
    }

    /** The comparison: relative RMS of the float images (must be ≤ maxRel and finite) and 8-bit pixel differences. */
    static Outcome compare(float[] ref, float[] got, RgbImage refImage, RgbImage gotImage, String device,
                           String compute, int size, int steps, double refSeconds, double gotSeconds, double maxRel) {
        if (ref.length != got.length) {
            throw new IllegalArgumentException("images of " + ref.length + " and " + got.length + " values");
        }
        double num = 0;
        double den = 0;
        boolean finite = true;
        for (int i = 0; i < ref.length; i++) {
            double d = (double) got[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
            finite &= Float.isFinite(got[i]);
        }
        double rel = Math.sqrt(num / Math.max(den, 1e-30));
        int maxDiff = 0;
        long sumDiff = 0;
        byte[] a = refImage.rgb();
        byte[] b = gotImage.rgb();
        for (int i = 0; i < a.length; i++) {
            int d = Math.abs((a[i] & 0xff) - (b[i] & 0xff));
            maxDiff = Math.max(maxDiff, d);
            sumDiff += d;
        }
        return new Outcome(device, compute, size, steps, rel, maxDiff, (double) sumDiff / a.length, refSeconds,
                gotSeconds, finite && rel <= maxRel);
    }

    private record Generated(float[] values, RgbImage image) {
    }

    private static Generated generate(ModelPaths tiny, Backend backend, int size, int steps) {
        try (InstantCharacterPipeline p = tiny.load(backend)) {
            SubjectImages subject = SubjectImages.of(subject(), backend);
            InstantCharacterPipeline.Request r = new InstantCharacterPipeline.Request("a robot reading a book", "", 4f,
                    subject, size, size, 0.9f, 3.5f, steps, 1, 7);
            InstantCharacterPipeline.Result result = p.generate(r, new InstantCharacterPipeline.Listener() {
            }, () -> false);
            float[] values = result.images().backend().toFloatArray(result.images());
            List<RgbImage> images = OutputImages.toImages(result.images());
            return new Generated(values, images.getFirst());
        }
    }

    /** A deterministic 96×128 subject: gradients and a disc, so every encoder input varies. */
    static RgbImage subject() {
        int w = 96;
        int h = 128;
        byte[] rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = (y * w + x) * 3;
                boolean disc = (x - 48) * (x - 48) + (y - 60) * (y - 60) < 30 * 30;
                rgb[i] = (byte) (disc ? 220 : x * 255 / w);
                rgb[i + 1] = (byte) (disc ? 40 : y * 255 / h);
                rgb[i + 2] = (byte) ((x + y) * 2);
            }
        }
        return new RgbImage(w, h, rgb);
    }
}
