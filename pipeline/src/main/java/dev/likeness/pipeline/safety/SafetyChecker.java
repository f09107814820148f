package dev.likeness.pipeline.safety;

import dev.likeness.pipeline.image.RgbImage;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An image safety classifier behind the endpoints' {@code enable_safety_checker} / {@code has_nsfw_concepts}: one
 * {@link Result} per image. Implementations: {@link NsfwjsSafetyChecker} (the default, built into the jar) and
 * {@link ClipSafetyChecker} (the Stable Diffusion safety checker, when its weights are configured);
 * {@link SafetyCheckers#load} picks one. What a request does with the results (black images, flags, timing, the log
 * line) is {@link SafetyCheck#run}.
 */
public interface SafetyChecker extends AutoCloseable {

    /**
     * One image's verdict.
     *
     * @param flagged     whether the image is reported as {@code has_nsfw_concepts = true} (and blacked out)
     * @param scores      the numbers the decision was made on, by name (nsfwjs: the five class probabilities and the
     *                    combined scores; SD checker: the rounded concept and special-care scores), in a stable order
     * @param checkerName {@link #name()} of the checker that produced it
     */
    record Result(boolean flagged, Map<String, Float> scores, String checkerName) {
        public Result {
            scores = Collections.unmodifiableMap(new LinkedHashMap<>(scores));
        }
    }

    /** A short stable name for logs and results, e.g. {@code nsfwjs-mobilenet_v2}. */
    String name();

    /** Classifies {@code images} (any sizes); the results are in the same order. */
    List<Result> check(List<RgbImage> images);

    @Override
    default void close() {
    }
}
