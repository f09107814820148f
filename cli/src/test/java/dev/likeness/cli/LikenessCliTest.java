package dev.likeness.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.likeness.pipeline.TinyModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CLI in-process: a real generation on the built-in model, and every kind of bad argument. */
class LikenessCliTest {
    private static final Path CHARACTER = Path.of("..", "examples", "character.png");

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Likeness.commandLine(new PrintWriter(out, true), new PrintWriter(err, true)).execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void generatesImagesAndPrintsTheApiJson(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("out");
        Run r = run("generate", "--image", CHARACTER.toString(), "--prompt", "a robot surfing", "--size", "72x48",
                "--steps", "2", "--seed", "11", "--num-images", "2", "--format", "png", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("built-in tiny model") && r.err().contains("noise-like"), r.err());
        assertTrue(r.err().contains("not a multiple of 16; generating 64x48"), r.err());
        assertTrue(r.err().contains("step 2/2"), r.err());
        // no --device: auto, which names the backend it picked once (and why it is not the GPU, when it is not)
        List<String> backendLines = r.err().lines().filter(l -> l.startsWith("likeness: backend: ")).toList();
        assertEquals(1, backendLines.size(), r.err());
        if (backendLines.getFirst().startsWith("likeness: backend: cpu (")) {
            assertEquals(1, r.err().lines().filter(l -> l.startsWith("likeness: CUDA not available (")
                    && l.endsWith("); using the CPU backend")).count(), r.err());
        }
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals(11, json.get("seed").asLong());
        assertEquals("a robot surfing", json.get("prompt").asText());
        assertEquals(2, json.get("images").size());
        assertEquals(2, json.get("has_nsfw_concepts").size());
        for (JsonNode img : json.get("images")) {
            Path file = Path.of(java.net.URI.create(img.get("url").asText()));
            assertTrue(Files.isRegularFile(file), file.toString());
            assertEquals("image/png", img.get("content_type").asText());
            BufferedImage decoded = ImageIO.read(file.toFile());
            assertEquals(64, decoded.getWidth());
            assertEquals(48, decoded.getHeight());
            assertEquals(64, img.get("width").asInt());
            assertEquals(Files.size(file), img.get("file_size").asLong());
        }
        assertTrue(json.get("timings").get("inference").asDouble() > 0);
        assertTrue(json.get("timings").has("safety_checker"), json.toString());
        assertTrue(r.err().contains("safety checker: nsfwjs"), r.err());

        // the same seed again gives the same bytes
        Path again = dir.resolve("again");
        Run r2 = run("generate", "--image", CHARACTER.toString(), "--prompt", "a robot surfing", "--size", "64x48",
                "--steps", "2", "--seed", "11", "--num-images", "2", "--format", "png", "--out", again.toString());
        assertEquals(0, r2.exit(), r2.err());
        assertEquals(-1L, Files.mismatch(out.resolve("likeness-11-1.png"), again.resolve("likeness-11-1.png")));
    }

    @Test
    void fp8QuantizesTheTransformerAndStillGenerates(@TempDir Path dir) throws IOException {
        String[] common = {"generate", "--image", CHARACTER.toString(), "--prompt", "a robot", "--size", "32x32",
                "--steps", "2", "--seed", "3", "--format", "png"};
        Run plain = run(concat(common, "--out", dir.resolve("plain").toString()));
        Run fp8 = run(concat(common, "--fp8", "--out", dir.resolve("fp8").toString()));
        assertEquals(0, plain.exit(), plain.err());
        assertEquals(0, fp8.exit(), fp8.err());
        Path a = dir.resolve("plain").resolve("likeness-3-1.png");
        Path b = dir.resolve("fp8").resolve("likeness-3-1.png");
        assertTrue(Files.isRegularFile(b), fp8.err());
        assertTrue(Files.mismatch(a, b) >= 0, "fp8 weights change the image (the transformer really ran quantized)");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void withoutASeedOneIsChosenAndReported(@TempDir Path dir) throws IOException {
        Run r = run("generate", "--image", CHARACTER.toString(), "--prompt", "p", "--size", "32x32", "--steps", "1",
                "--no-safety-checker", "--out", dir.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("safety checker: off"), r.err());
        long seed = new ObjectMapper().readTree(r.out()).get("seed").asLong();
        assertTrue(Files.isRegularFile(dir.resolve("likeness-" + seed + "-1.jpg")));
    }

    private static void usage(String expected, String... args) {
        Run r = run(args);
        assertEquals(Likeness.USAGE, r.exit(), r.err());
        String first = r.err().lines().findFirst().orElse("");
        assertTrue(first.startsWith("likeness: ") && first.contains(expected), "expected '" + expected + "' in: "
                + r.err());
    }

    @Test
    void badArgumentsNameTheFlagAndTheRangeAndExitWith2(@TempDir Path dir) throws IOException {
        String img = CHARACTER.toString();
        usage("--steps must be between 1 and 50, got 60", "generate", "--image", img, "--prompt", "p",
                "--steps", "60");
        usage("--scale must be between 0 and 2, got 2.5", "generate", "--image", img, "--prompt", "p", "--scale",
                "2.5");
        usage("--guidance must be between 0 and 20, got -1", "generate", "--image", img, "--prompt", "p",
                "--guidance", "-1");
        usage("--num-images must be between 1 and 4, got 5", "generate", "--image", img, "--prompt", "p",
                "--num-images", "5");
        usage("--format must be jpeg or png, got 'gif'", "generate", "--image", img, "--prompt", "p", "--format",
                "gif");
        usage("--size: 'huge' is neither a preset", "generate", "--image", img, "--prompt", "p", "--size", "huge");
        usage("--size: width must be between 16 and 14142, got 8", "generate", "--image", img, "--prompt", "p",
                "--size", "8x64");
        usage("--image: no such file", "generate", "--image", dir.resolve("nope.png").toString(), "--prompt", "p");
        Path notImage = dir.resolve("notes.png");
        Files.writeString(notImage, "hello");
        usage("--image", "generate", "--image", notImage.toString(), "--prompt", "p");
        usage("Missing required option: '--prompt", "generate", "--image", img);
        usage("Invalid value for option '--steps'", "generate", "--image", img, "--prompt", "p", "--steps", "many");
        usage("--models", "generate", "--image", img, "--prompt", "p", "--models", dir.toString());
    }

    @Test
    void modelsCheckReportsAndExits1OnAnIncompleteFolder(@TempDir Path dir) throws IOException {
        Path models = dir.resolve("models");
        TinyModel.materialize(models);
        Run ok = run("models", "check", models.toString());
        assertEquals(0, ok.exit(), ok.out() + ok.err());
        assertTrue(ok.out().contains("all components present"), ok.out());

        Files.delete(models.resolve("dinov2-giant/model.safetensors"));
        Run bad = run("models", "check", models.toString());
        assertEquals(1, bad.exit(), bad.out());
        assertTrue(bad.out().contains("PROBLEM  DINOv2 encoder"), bad.out());
        assertTrue(bad.out().contains("https://huggingface.co/facebook/dinov2-giant"), bad.out());

        usage("DIR: " + dir.resolve("nowhere") + " is not a directory", "models", "check",
                dir.resolve("nowhere").toString());
    }
}
