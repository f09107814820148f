package dev.likeness.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;
import dev.likeness.pipeline.ImageSize;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.ModelPaths;
import dev.likeness.pipeline.TinyModel;
import dev.likeness.pipeline.image.ImageDecoder;
import dev.likeness.pipeline.image.InvalidImageException;
import dev.likeness.pipeline.image.OutputImages;
import dev.likeness.pipeline.image.RgbImage;
import dev.likeness.pipeline.image.SubjectImages;
import dev.likeness.pipeline.safety.SafetyCheck;
import dev.likeness.pipeline.safety.SafetyChecker;
import dev.likeness.pipeline.safety.SafetyCheckers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code likeness generate}: one reference image and a prompt in, images of that character out, with the fields of
 * {@code fal-ai/instant-character} as flags (same defaults and ranges). Prints a progress line per step with an ETA,
 * the files written, and at the end the JSON the API returns (image URLs are {@code file:} URLs here).
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate images of the character in --image, following --prompt.")
final class GenerateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Spec
    CommandSpec spec;

    @Option(names = "--image", required = true, paramLabel = "FILE",
            description = "The reference image of the character (PNG, JPEG or WebP).")
    Path image;

    @Option(names = "--prompt", required = true, description = "What to draw.")
    String prompt;

    @Option(names = "--size", defaultValue = ImageSize.DEFAULT_PRESET, paramLabel = "SIZE",
            description = "square_hd, square, portrait_4_3, portrait_16_9, landscape_4_3, landscape_16_9 or WxH "
                    + "(rounded down to multiples of 16). Default: ${DEFAULT-VALUE}.")
    String size;

    @Option(names = "--steps", defaultValue = "28", description = "Denoising steps, 1-50. Default: ${DEFAULT-VALUE}.")
    int steps;

    @Option(names = "--seed", description = "Noise seed (default: random; the seed used is printed).")
    Long seed;

    @Option(names = "--scale", defaultValue = "1", description = "Subject strength, 0-2. Default: ${DEFAULT-VALUE}.")
    float scale;

    @Option(names = "--guidance", defaultValue = "3.5",
            description = "Guidance scale, 0-20. Default: ${DEFAULT-VALUE}.")
    float guidance;

    @Option(names = "--negative", defaultValue = "",
            description = "Negative prompt; when given, true classifier-free guidance runs against it.")
    String negative;

    @Option(names = "--true-cfg-scale", defaultValue = "4",
            description = "Weight of the guidance against --negative, 1-20. Default: ${DEFAULT-VALUE}.")
    float trueCfgScale;

    @Option(names = "--num-images", defaultValue = "1", description = "Images to generate, 1-4. Default: 1.")
    int numImages;

    @Option(names = "--format", defaultValue = "jpeg", description = "jpeg or png. Default: ${DEFAULT-VALUE}.")
    String format;

    @Option(names = "--out", defaultValue = ".", paramLabel = "DIR",
            description = "Folder for the images. Default: the current folder.")
    Path out;

    @Option(names = "--models", paramLabel = "DIR",
            description = "Folder with the real weights (see 'likeness models check'); default $LIKENESS_MODELS, "
                    + "else 'models' in the config file ($LIKENESS_CONFIG or ~/.config/likeness/config.properties), "
                    + "else the built-in tiny model.")
    Path models;

    @Option(names = "--threads", description = "CPU threads (default: all cores).")
    Integer threads;

    @Option(names = "--device", paramLabel = "DEVICE", description = DeviceOption.DESCRIPTION)
    String device;

    /** The help of {@code --fp8} (also on {@code serve}). */
    static final String FP8_DESCRIPTION = "Quantize the FLUX transformer's block weights to float8 e4m3 "
            + "(per-channel scales) as they load: half the memory of bf16, fp8 matrix multiplies on Ada/Hopper GPUs, "
            + "slightly different images.";

    @Option(names = "--fp8", negatable = false, description = FP8_DESCRIPTION)
    boolean fp8;

    @Option(names = "--no-safety-checker", negatable = false,
            description = "Do not run the safety checker (enable_safety_checker=false): no image is checked, every "
                    + "has_nsfw_concepts flag is false.")
    boolean noSafetyChecker;

    /** The real-weights folder chosen by {@link #modelsRoot}, null for the built-in model. */
    private Path modelsRoot;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter stdout = spec.commandLine().getOut();
        ImageSize requested = checkedSize();
        ImageSize runSize = requested.rounded();
        range("--steps", steps, 1, 50);
        range("--scale", scale, 0, 2);
        range("--guidance", guidance, 0, 20);
        range("--num-images", numImages, 1, 4);
        range("--true-cfg-scale", trueCfgScale, 1, 20);
        if (threads != null) {
            range("--threads", threads, 1, 1024);
        }
        String fmt = format.toLowerCase(Locale.ROOT);
        if (!fmt.equals("jpeg") && !fmt.equals("png")) {
            throw new Likeness.UsageError("--format must be jpeg or png, got '" + format + "'");
        }
        DeviceOption.validated(device);
        RgbImage reference = readReference();
        long usedSeed = seed != null ? seed : new SecureRandom().nextLong() & 0x7fffffffffffffffL;
        if (!runSize.equals(requested)) {
            err.println("likeness: size " + requested + " is not a multiple of 16; generating " + runSize);
        }

        modelsRoot = modelsRoot(models);
        ModelPaths paths = modelPaths(modelsRoot, err);
        try (Backend backend = DeviceOption.open(device, threads, err)) {
            return generate(backend, paths, reference, runSize, fmt, usedSeed, err, stdout);
        }
    }

    private int generate(Backend backend, ModelPaths paths, RgbImage reference, ImageSize runSize, String fmt,
                         long usedSeed, PrintWriter err, PrintWriter stdout) throws IOException {
        long loadStart = System.nanoTime();
        try (InstantCharacterPipeline pipeline = paths.load(backend, true, fp8)) {
            err.printf(Locale.ROOT, "likeness: models loaded in %.1f s%n", (System.nanoTime() - loadStart) / 1e9);
            SubjectImages subject = SubjectImages.of(reference, backend);
            InstantCharacterPipeline.Request request = new InstantCharacterPipeline.Request(prompt, negative,
                    trueCfgScale, subject, runSize.width(), runSize.height(), scale, guidance, steps, numImages,
                    usedSeed);
            Progress progress = new Progress(err, steps);
            InstantCharacterPipeline.Result result = pipeline.generate(request, progress, () -> false);
            progress.done();
            List<RgbImage> images = OutputImages.toImages(result.images());
            SafetyCheck.Outcome safety;
            if (noSafetyChecker) {
                safety = SafetyCheck.run(null, images, false);
            } else {
                try (SafetyChecker checker = SafetyCheckers.load(modelsRoot, backend)) {
                    safety = SafetyCheck.run(checker, images, true);
                }
            }
            err.printf(Locale.ROOT, "likeness: safety checker: %s%s%n", safety.checker(),
                    safety.hasNsfwConcepts().contains(true) ? " (flagged images are replaced by black ones)" : "");
            return writeOutputs(result, safety, runSize, fmt, usedSeed, err, stdout);
        }
    }

    private ImageSize checkedSize() {
        try {
            return ImageSize.parse(size);
        } catch (IllegalArgumentException e) {
            throw new Likeness.UsageError("--size: " + e.getMessage());
        }
    }

    private RgbImage readReference() throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(image);
        } catch (NoSuchFileException e) {
            throw new Likeness.UsageError("--image: no such file " + image);
        }
        try {
            return new ImageDecoder().decode(bytes, "--image");
        } catch (InvalidImageException e) {
            throw new Likeness.UsageError(e.getMessage());
        }
    }

    /** The weights folder: --models, else $LIKENESS_MODELS, else "models" in the config file, else null (tiny). */
    static Path modelsRoot(Path models) throws IOException {
        Path dir = models;
        if (dir == null && System.getenv("LIKENESS_MODELS") != null && !System.getenv("LIKENESS_MODELS").isBlank()) {
            dir = Path.of(System.getenv("LIKENESS_MODELS"));
        }
        return dir != null ? dir : Config.models();
    }

    /** The model paths under {@code dir} (from {@link #modelsRoot}), or the built-in tiny model's when it is null. */
    static ModelPaths modelPaths(Path dir, PrintWriter err) {
        if (dir == null) {
            err.println("likeness: no weights configured (--models / LIKENESS_MODELS): using the built-in tiny model."
                    + " Its weights are untrained, so the images are noise-like; they show the whole pipeline "
                    + "running, not what real weights draw.");
            return TinyModel.materialize();
        }
        ModelPaths p = ModelPaths.fromRoot(dir);
        List<String> missing = p.missing();
        if (!missing.isEmpty()) {
            throw new Likeness.UsageError("--models " + dir + " is incomplete: " + String.join("; ", missing)
                    + " (run 'likeness models check " + dir + "')");
        }
        return p;
    }

    private int writeOutputs(InstantCharacterPipeline.Result result, SafetyCheck.Outcome safety, ImageSize size,
                             String fmt, long usedSeed, PrintWriter err, PrintWriter stdout) throws IOException {
        Files.createDirectories(out);
        List<RgbImage> images = safety.images();
        ObjectNode json = JSON.createObjectNode();
        ArrayNode array = json.putArray("images");
        ArrayNode nsfw = JSON.createArrayNode();
        for (int i = 0; i < images.size(); i++) {
            boolean png = fmt.equals("png");
            byte[] bytes = png ? OutputImages.png(images.get(i)) : OutputImages.jpeg(images.get(i));
            Path file = out.resolve("likeness-" + usedSeed + "-" + (i + 1) + (png ? ".png" : ".jpg"));
            Files.write(file, bytes);
            err.println("likeness: wrote " + file);
            ObjectNode img = array.addObject();
            img.put("url", file.toAbsolutePath().toUri().toString());
            img.put("content_type", png ? "image/png" : "image/jpeg");
            img.put("file_name", file.getFileName().toString());
            img.put("file_size", bytes.length);
            img.put("width", size.width());
            img.put("height", size.height());
            nsfw.add(safety.hasNsfwConcepts().get(i));
        }
        ObjectNode timings = json.putObject("timings");
        double inference = 0;
        for (Map.Entry<String, Double> t : result.timings().entrySet()) {
            timings.put(t.getKey(), t.getValue());
            inference += t.getValue();
        }
        if (!safety.checker().equals(SafetyCheck.OFF)) {
            timings.put("safety_checker", safety.seconds());
        }
        timings.put("inference", inference);
        json.put("seed", usedSeed);
        json.set("has_nsfw_concepts", nsfw);
        json.put("prompt", prompt);
        stdout.println(JSON.writeValueAsString(json));
        return 0;
    }

    private static void range(String flag, double v, double lo, double hi) {
        if (!(v >= lo && v <= hi)) {
            throw new Likeness.UsageError(flag + " must be between " + fmt(lo) + " and " + fmt(hi) + ", got "
                    + fmt(v));
        }
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    /** One line per denoising step: a bar, the step time and the time left. */
    static final class Progress implements InstantCharacterPipeline.Listener {
        private static final int WIDTH = 28;
        private final PrintWriter err;
        private final int steps;
        private final boolean interactive = System.console() != null;
        private long loopStart;

        Progress(PrintWriter err, int steps) {
            this.err = err;
            this.steps = steps;
        }

        @Override
        public void phase(String name, long nanos) {
            if (name.equals("subject")) {
                loopStart = System.nanoTime();
            }
            if (!name.startsWith("step")) {
                err.printf(Locale.ROOT, "likeness: %s %.2f s%n", name, nanos / 1e9);
            }
        }

        @Override
        public void step(int step, int total, Tensor latents) {
            double elapsed = (System.nanoTime() - loopStart) / 1e9;
            double perStep = elapsed / step;
            int filled = (int) Math.round(WIDTH * (double) step / total);
            String bar = "#".repeat(filled) + ".".repeat(WIDTH - filled);
            String line = String.format(Locale.ROOT, "step %d/%d [%s] %.2f s/step, ETA %.1f s", step, total, bar,
                    perStep, perStep * (total - step));
            if (interactive) {
                err.print("\r" + line);
                err.flush();
            } else {
                err.println(line);
            }
        }

        void done() {
            if (interactive) {
                err.println();
            }
        }
    }
}
