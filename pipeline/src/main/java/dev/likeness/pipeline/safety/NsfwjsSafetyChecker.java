package dev.likeness.pipeline.safety;

import dev.likeness.engine.Backend;
import dev.likeness.pipeline.image.RgbImage;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The default safety checker: nsfwjs's MobileNetV2 ({@link NsfwjsClassifier}) with thresholds on its class
 * probabilities. An image is flagged when
 *
 * <pre>
 *   explicit = P(Porn) + P(Hentai) ≥ thresholds.explicit      (default 0.95)
 *   or P(Sexy) ≥ thresholds.sexy                              (default: never — Sexy is reported, not flagged)
 * </pre>
 *
 * The defaults are conservative on purpose: the model gives high Porn scores to ordinary photos of clothed people
 * (up to 0.90 for Porn + Hentai on the photos measured) and Sexy scores up to 0.997 to party and fashion pictures,
 * and a black image in place of a harmless one is the more visible failure for a character generator. Sexy alone
 * never flags by default; an operator who wants it to can set a bound. The measurements behind the defaults are in
 * pipeline/README.md, "Safety checker" ({@code NsfwjsThresholdStudy} in the tests reproduces them).
 */
public final class NsfwjsSafetyChecker implements SafetyChecker {
    /** This checker's {@link #name()}. */
    public static final String NAME = "nsfwjs-mobilenet_v2";

    /**
     * When an image is flagged.
     *
     * @param explicit the bound on {@code P(Porn) + P(Hentai)}
     * @param sexy     the bound on {@code P(Sexy)} alone ({@link #NEVER}, or anything above 1: never)
     */
    public record Thresholds(float explicit, float sexy) {
        /** A bound no probability reaches. */
        public static final float NEVER = Float.POSITIVE_INFINITY;
        /** The defaults (see the class comment). */
        public static final Thresholds DEFAULT = new Thresholds(0.95f, NEVER);

        public Thresholds {
            if (!(explicit > 0) || !(sexy > 0)) {
                throw new IllegalArgumentException("nsfwjs thresholds must be positive, got explicit " + explicit
                        + ", sexy " + sexy);
            }
        }

        /** Whether probabilities {@code p} (in {@link NsfwjsClassifier#CLASSES} order) are flagged. */
        public boolean flags(float[] p) {
            return explicitScore(p) >= explicit || p[4] >= sexy;
        }

        /** {@code P(Porn) + P(Hentai)}. */
        public static float explicitScore(float[] p) {
            return p[3] + p[1];
        }
    }

    private final NsfwjsClassifier classifier;
    private final Thresholds thresholds;

    public NsfwjsSafetyChecker(NsfwjsClassifier classifier, Thresholds thresholds) {
        this.classifier = classifier;
        this.thresholds = thresholds;
    }

    /** The checker on the model built into the jar, with the default thresholds. */
    public static NsfwjsSafetyChecker load(Backend backend) {
        return load(backend, Thresholds.DEFAULT);
    }

    /** The checker on the model built into the jar, with {@code thresholds}. */
    public static NsfwjsSafetyChecker load(Backend backend, Thresholds thresholds) {
        return new NsfwjsSafetyChecker(NsfwjsClassifier.load(backend), thresholds);
    }

    @Override
    public String name() {
        return NAME;
    }

    public Thresholds thresholds() {
        return thresholds;
    }

    @Override
    public List<Result> check(List<RgbImage> images) {
        List<Result> results = new ArrayList<>(images.size());
        for (NsfwjsClassifier.Output out : classifier.classify(images)) {
            float[] p = out.probabilities();
            Map<String, Float> scores = new LinkedHashMap<>();
            for (int k = 0; k < p.length; k++) {
                scores.put(NsfwjsClassifier.CLASSES.get(k), p[k]);
            }
            scores.put("explicit", Thresholds.explicitScore(p));
            results.add(new Result(thresholds.flags(p), scores, NAME));
        }
        return results;
    }
}
