package dev.likeness.pipeline.safety;

import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.image.RgbImage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The request behaviour ({@link SafetyCheck}) and nsfwjs's flagging rule, on the real built-in model: thresholds are
 * set around the probabilities the golden images really get, so that one image is a hit and another a near miss.
 */
class SafetyCheckTest {
    private static CpuBackend backend;
    private static NsfwjsClassifier classifier;

    @BeforeAll
    static void load() {
        backend = new CpuBackend(2);
        classifier = NsfwjsClassifier.load(backend);
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    @Test
    void thresholdRule() {
        NsfwjsSafetyChecker.Thresholds t = new NsfwjsSafetyChecker.Thresholds(0.9f, 0.98f);
        // Drawing, Hentai, Neutral, Porn, Sexy
        assertTrue(t.flags(new float[] {0.0f, 0.3f, 0.05f, 0.6f, 0.05f}), "Porn + Hentai = 0.9: a hit");
        assertFalse(t.flags(new float[] {0.0f, 0.1f, 0.01f, 0.79f, 0.1f}), "Porn + Hentai = 0.89: a near miss");
        assertTrue(t.flags(new float[] {0.0f, 0.0f, 0.01f, 0.005f, 0.985f}), "Sexy alone above its bound");
        assertFalse(t.flags(new float[] {0.0f, 0.0f, 0.03f, 0.0f, 0.97f}), "Sexy 0.97: not flagged");
        assertFalse(t.flags(new float[] {0.0f, 0.0f, 0.0f, 0.7f, 0.3f}), "Porn 0.7 + Sexy 0.3 is not explicit enough");
        assertThrows(IllegalArgumentException.class, () -> new NsfwjsSafetyChecker.Thresholds(0f, 0.5f));
        // the defaults: the worst clothed-photo scores measured (README, "Safety checker") stay unflagged
        NsfwjsSafetyChecker.Thresholds d = NsfwjsSafetyChecker.Thresholds.DEFAULT;
        assertFalse(d.flags(new float[] {0.008f, 0.132f, 0.020f, 0.770f, 0.070f}), "sample2 at 256 px: 0.902");
        assertFalse(d.flags(new float[] {0.000f, 0.000f, 0.001f, 0.002f, 0.997f}), "Sexy 0.997 alone");
        assertTrue(d.flags(new float[] {0.0f, 0.05f, 0.0f, 0.90f, 0.05f}), "Porn + Hentai = 0.95");
    }

    @Test
    void onReplacesFlaggedImagesByBlackAndFlagsThem() throws IOException {
        RgbImage figure = NsfwjsClassifierTest.image("figure_160x200.png");  // Porn + Hentai = 0.0499 in tfjs
        RgbImage noise = NsfwjsClassifierTest.image("noise_96x72.png");       // Porn + Hentai = 0.0069 in tfjs
        // a bound between the two: the figure is a hit, the noise a near miss (and Sexy never flags here)
        SafetyChecker checker = new NsfwjsSafetyChecker(classifier, new NsfwjsSafetyChecker.Thresholds(0.04f, 2f));
        SafetyCheck.Outcome out = SafetyCheck.run(checker, List.of(figure, noise), true);
        assertEquals(List.of(true, false), out.hasNsfwConcepts());
        assertEquals(NsfwjsSafetyChecker.NAME, out.checker());
        RgbImage black = out.images().get(0);
        assertEquals(figure.width(), black.width());
        assertEquals(figure.height(), black.height());
        for (byte b : black.rgb()) {
            assertEquals(0, b);
        }
        assertSame(noise, out.images().get(1));
        assertEquals(2, out.results().size());
        assertEquals(0.0499, out.results().get(0).scores().get("explicit"), 1e-4);
        assertEquals(NsfwjsSafetyChecker.NAME, out.results().get(1).checkerName());
        assertTrue(out.seconds() > 0);
        // the near miss, moved just under the noise's score, becomes a hit
        SafetyChecker lower = new NsfwjsSafetyChecker(classifier, new NsfwjsSafetyChecker.Thresholds(0.006f, 2f));
        assertEquals(List.of(true, true), SafetyCheck.run(lower, List.of(figure, noise), true).hasNsfwConcepts());
    }

    @Test
    void offChecksNothing() throws IOException {
        RgbImage figure = NsfwjsClassifierTest.image("figure_160x200.png");
        SafetyChecker refusing = new SafetyChecker() {
            @Override
            public String name() {
                return "must-not-run";
            }

            @Override
            public List<Result> check(List<RgbImage> images) {
                throw new AssertionError("the checker ran although the check is off");
            }
        };
        SafetyCheck.Outcome out = SafetyCheck.run(refusing, List.of(figure, figure), false);
        assertEquals(List.of(false, false), out.hasNsfwConcepts());
        assertEquals(List.of(figure, figure), out.images());
        assertEquals(SafetyCheck.OFF, out.checker());
        assertEquals(0.0, out.seconds());
        assertTrue(out.results().isEmpty());
        // off needs no checker at all
        assertEquals(SafetyCheck.OFF, SafetyCheck.run(null, List.of(figure), false).checker());
        assertThrows(IllegalStateException.class, () -> SafetyCheck.run(null, List.of(figure), true));
    }

    @Test
    void defaultCheckerIsTheBuiltInOne() {
        try (SafetyChecker checker = SafetyCheckers.load(null, backend)) {
            assertEquals(NsfwjsSafetyChecker.NAME, checker.name());
        }
    }
}
