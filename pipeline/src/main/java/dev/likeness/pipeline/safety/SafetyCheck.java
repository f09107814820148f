package dev.likeness.pipeline.safety;

import dev.likeness.pipeline.image.RgbImage;

import java.util.ArrayList;
import java.util.List;
import java.util.logging.Logger;

/**
 * What a request does with its generated images and {@code enable_safety_checker}, the fal behaviour:
 *
 * <ul>
 *   <li><b>on</b>: every image is classified; a flagged image is replaced by an all-black image of the same size
 *       (RGB 0, 0, 0 — what diffusers' safety checker returns and fal serves) and its {@code has_nsfw_concepts} entry
 *       is {@code true}; the others are returned unchanged with {@code false};</li>
 *   <li><b>off</b>: nothing is classified, the images are returned unchanged, every flag is {@code false}, the time is
 *       0 and the checker is {@link #OFF}.</li>
 * </ul>
 *
 * The outcome carries the time the check took (for the response's {@code timings}) and which checker ran (for the
 * request log); a line is also logged ({@code java.util.logging}, logger {@code dev.likeness.pipeline.safety}).
 */
public final class SafetyCheck {
    /** The checker name of an outcome when the check was turned off. */
    public static final String OFF = "off";
    private static final Logger LOG = Logger.getLogger(SafetyCheck.class.getPackageName());

    private SafetyCheck() {
    }

    /**
     * The outcome of the check for one request.
     *
     * @param images          the images to return: the inputs, flagged ones replaced by black images
     * @param hasNsfwConcepts one flag per image ({@code has_nsfw_concepts})
     * @param results         the checker's results (empty when the check was off)
     * @param checker         the checker's {@link SafetyChecker#name()}, or {@link #OFF}
     * @param seconds         wall time of the check (0 when off)
     */
    public record Outcome(List<RgbImage> images, List<Boolean> hasNsfwConcepts, List<SafetyChecker.Result> results,
                          String checker, double seconds) {
    }

    /** Runs {@code checker} on {@code images} when {@code enabled} (see the class comment). */
    public static Outcome run(SafetyChecker checker, List<RgbImage> images, boolean enabled) {
        if (!enabled) {
            return new Outcome(List.copyOf(images), images.stream().map(i -> false).toList(), List.of(), OFF, 0.0);
        }
        if (checker == null) {
            throw new IllegalStateException("the safety checker is enabled but none is loaded");
        }
        long start = System.nanoTime();
        List<SafetyChecker.Result> results = checker.check(images);
        if (results.size() != images.size()) {
            throw new IllegalStateException(checker.name() + " returned " + results.size() + " results for "
                    + images.size() + " images");
        }
        List<RgbImage> out = new ArrayList<>(images.size());
        List<Boolean> flags = new ArrayList<>(images.size());
        for (int i = 0; i < images.size(); i++) {
            boolean flagged = results.get(i).flagged();
            RgbImage img = images.get(i);
            out.add(flagged ? black(img.width(), img.height()) : img);
            flags.add(flagged);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        LOG.info(() -> String.format("safety checker %s: %d image(s), %d flagged, %.3f s", checker.name(),
                images.size(), flags.stream().filter(f -> f).count(), seconds));
        return new Outcome(List.copyOf(out), List.copyOf(flags), List.copyOf(results), checker.name(), seconds);
    }

    /** An all-black RGB image. */
    public static RgbImage black(int width, int height) {
        return new RgbImage(width, height, new byte[Math.multiplyExact(Math.multiplyExact(width, height), 3)]);
    }
}
