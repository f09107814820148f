package dev.likeness.pipeline.ideogram;

import dev.likeness.engine.Tensor;
import dev.likeness.engine.cpu.CpuBackend;
import dev.likeness.pipeline.InstantCharacterPipeline;
import dev.likeness.pipeline.TinyModel;
import dev.likeness.pipeline.image.OutputImages;
import dev.likeness.pipeline.TestImages;
import dev.likeness.pipeline.image.RgbImage;
import dev.likeness.pipeline.image.SubjectImages;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each ideogram field's <em>effect</em> on the built-in tiny model: the palette moves the output colours toward it,
 * a style code is the same style every time and another code a different one, the mask changes the encoded
 * features, style references change the output, the extension points reproduce the plain pipeline when neutral.
 */
class IdeogramCharacterTest {
    private static final CpuBackend BACKEND = new CpuBackend();
    private static final int SIZE = 128;
    private static InstantCharacterPipeline pipeline;
    private static IdeogramCharacter ideogram;
    private static RgbImage subject;

    @BeforeAll
    static void load() throws IOException {
        pipeline = TinyModel.materialize(Path.of("target", "tiny-model-test").toAbsolutePath()).load(BACKEND);
        ideogram = new IdeogramCharacter(pipeline, BACKEND);
        subject = png("/golden/instantcharacter/subject.png");
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    static RgbImage png(String resource) throws IOException {
        return TestImages.png(resource);
    }

    private static IdeogramCharacter.Request request(RgbImage mask, List<RgbImage> styleImages,
                                                     List<StyleCode> codes, Style style, ColorPalette palette,
                                                     boolean expand, long seed) {
        return new IdeogramCharacter.Request("a girl playing a guitar", "", subject, mask, styleImages, codes, style,
                RenderingSpeed.TURBO, palette, expand, SIZE, SIZE, 1, seed);
    }

    private static IdeogramCharacter.Request plain(long seed) {
        return request(null, List.of(), List.of(), Style.AUTO, null, false, seed);
    }

    private static float[] images(IdeogramCharacter.Request r) {
        return BACKEND.toFloatArray(ideogram.generate(r, new InstantCharacterPipeline.Listener() { }, () -> false)
                .result().images());
    }

    static double relativeDifference(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        double n = 0;
        for (int i = 0; i < a.length; i++) {
            d += (a[i] - b[i]) * (double) (a[i] - b[i]);
            n += (double) b[i] * b[i];
        }
        return Math.sqrt(d / n);
    }

    /** Mean over pixels of the distance (0–255 sRGB) to the nearest palette colour. */
    static double meanDistanceToPalette(RgbImage img, ColorPalette palette) {
        double sum = 0;
        int pixels = img.width() * img.height();
        for (int i = 0; i < pixels; i++) {
            int r = img.rgb()[3 * i] & 0xff;
            int g = img.rgb()[3 * i + 1] & 0xff;
            int b = img.rgb()[3 * i + 2] & 0xff;
            double best = Double.POSITIVE_INFINITY;
            for (ColorPalette.Member m : palette.members()) {
                best = Math.min(best, Math.sqrt(sq(r - m.r()) + sq(g - m.g()) + sq(b - m.b())));
            }
            sum += best;
        }
        return sum / pixels;
    }

    private static double sq(double v) {
        return v * v;
    }

    @Test
    void theColourMapIsFittedForTheLoadedVae() {
        LatentRgb map = ideogram.colourMap();
        System.out.printf("tiny VAE latent-to-RGB global fit: R² = %.3f%n", map.r2());
        assertEquals(4, map.channels());
        assertTrue(map.r2() > 0.02, "the linear map explains some of the decoder's colours: R² " + map.r2());
        // the local refit around a latent explains the colour changes much better (the tiny VAE is untrained and far
        // from linear globally)
        Tensor z = dev.likeness.engine.random.TorchGenerator.randn(BACKEND, 5, dev.likeness.engine.DType.F32, 1, 4,
                16, 16);
        LatentRgb local = LatentRgb.fitLocal(pipeline.components().vae(), BACKEND, z, 1);
        System.out.printf("tiny VAE latent-to-RGB local fit: R² = %.3f%n", local.r2());
        assertTrue(local.r2() > map.r2(), "local " + local.r2() + " vs global " + map.r2());
    }

    @Test
    void thePaletteMovesTheOutputColoursTowardIt() {
        double ratios = 0;
        List<String> names = List.of("ULTRAMARINE", "EMBER", "JUNGLE", "PASTEL");
        for (String name : names) {
            ColorPalette palette = ColorPalette.preset(name);
            RgbImage without = OutputImages.toImages(BACKEND.fromFloats(images(plain(7)), 1, 3, SIZE, SIZE))
                    .getFirst();
            RgbImage with = OutputImages.toImages(BACKEND.fromFloats(images(request(null, List.of(), List.of(),
                    Style.AUTO, palette, false, 7)), 1, 3, SIZE, SIZE)).getFirst();
            double before = meanDistanceToPalette(without, palette);
            double after = meanDistanceToPalette(with, palette);
            System.out.printf("palette %s: mean distance to the nearest palette colour %.1f → %.1f (0-255 RGB)%n",
                    name, before, after);
            assertTrue(after < 0.9 * before, name + ": " + before + " → " + after);
            ratios += after / before;
        }
        assertTrue(ratios / names.size() < 0.8, "on average the distance shrinks by more than 20%: " + ratios / 4);
    }

    @Test
    void aStyleCodeIsTheSameStyleEveryTimeAndAnotherCodeADifferentOne() {
        StyleCode a = StyleCode.parse("AAFF5733");
        assertEquals(a, StyleCode.parse("aaff5733"));
        assertEquals(a.swatch(), StyleCode.parse("AAFF5733").swatch(), "same code, same swatch, byte for byte");
        assertNotEquals(a.swatch(), StyleCode.parse("AAFF5732").swatch(), "one bit changes the swatch");

        float[] first = images(request(null, List.of(), List.of(a), Style.AUTO, null, false, 3));
        float[] again = images(request(null, List.of(), List.of(StyleCode.parse("aaff5733")), Style.AUTO, null,
                false, 3));
        assertArrayEquals(first, again, "same code and seed: identical images");
        float[] other = images(request(null, List.of(), List.of(StyleCode.parse("0133FF57")), Style.AUTO, null,
                false, 3));
        float[] none = images(plain(3));
        double codes = relativeDifference(other, first);
        double fromNone = relativeDifference(first, none);
        System.out.printf("style codes: AAFF5733 vs 0133FF57 relative difference %.3f; AAFF5733 vs no code %.3f%n",
                codes, fromNone);
        assertTrue(codes > 0.005, "different codes differ measurably: " + codes);
        assertTrue(fromNone > 0.01, "a code changes the image: " + fromNone);

        // and with another seed the same code still injects the same style tokens
        InstantCharacterPipeline.TokenSet s1 = ideogram.plan(request(null, List.of(), List.of(a), Style.AUTO, null,
                false, 1)).extensions().tokenSets().getFirst();
        InstantCharacterPipeline.TokenSet s2 = ideogram.plan(request(null, List.of(), List.of(a), Style.AUTO, null,
                false, 99)).extensions().tokenSets().getFirst();
        assertArrayEquals(BACKEND.toFloatArray(s1.images().getFirst().siglipLow()),
                BACKEND.toFloatArray(s2.images().getFirst().siglipLow()));
    }

    @Test
    void styleCodesAreInjectedOnlyIntoTheStyleLayersAtStyleStrength() {
        InstantCharacterPipeline.TokenSet set = ideogram.plan(request(null, List.of(), List.of(StyleCode.parse(
                "12345678")), Style.AUTO, null, false, 1)).extensions().tokenSets().getFirst();
        StyleLayers layers = ideogram.styleLayers();
        assertEquals(3, layers.first(), "tiny model: 2 double + 2 single blocks, style = the last single block");
        for (int l = 0; l < layers.layers(); l++) {
            assertEquals(layers.isStyle(l) ? IdeogramCharacter.STYLE_STRENGTH : 0.0, set.layerScale().applyAsDouble(l));
        }
        assertEquals(38, new StyleLayers(19, 38).first(), "FLUX.1-dev: single blocks 19..37 identity, 38..56 style");
    }

    @Test
    void theMaskChangesTheEncodedFeaturesAndAWhiteMaskChangesNothing() {
        int w = subject.width();
        int h = subject.height();
        byte[] white = new byte[w * h * 3];
        java.util.Arrays.fill(white, (byte) 255);
        assertEquals(subject, ReferenceMask.apply(subject, new RgbImage(w, h, white)));

        // a half mask of another size (resized): the right half becomes neutral grey
        int mw = 10;
        int mh = 7;
        byte[] half = new byte[mw * mh * 3];
        for (int y = 0; y < mh; y++) {
            for (int x = 0; x < mw / 2; x++) {
                for (int c = 0; c < 3; c++) {
                    half[(y * mw + x) * 3 + c] = (byte) 255;
                }
            }
        }
        RgbImage masked = ReferenceMask.apply(subject, new RgbImage(mw, mh, half));
        assertEquals(ReferenceMask.NEUTRAL, masked.get(w - 1, h / 2, 0));
        assertEquals(subject.get(0, h / 2, 1), masked.get(0, h / 2, 1));

        InstantCharacterPipeline.SubjectFeatures plainF = pipeline.encodeSubject(SubjectImages.of(subject, BACKEND));
        InstantCharacterPipeline.SubjectFeatures maskedF = pipeline.encodeSubject(
                ideogram.plan(request(new RgbImage(mw, mh, half), List.of(), List.of(), Style.AUTO, null, false, 1))
                        .request().subject());
        double d = relativeDifference(BACKEND.toFloatArray(maskedF.lowResDeep()),
                BACKEND.toFloatArray(plainF.lowResDeep()));
        System.out.printf("mask: deep features relative difference %.3f%n", d);
        assertTrue(d > 0.01, "the mask changes the encoded features: " + d);
    }

    @Test
    void styleReferencesChangeTheOutput() {
        RgbImage style = StyleCode.parse("DE3357FF").swatch();
        float[] with = images(request(null, List.of(style), List.of(), Style.AUTO, null, false, 5));
        float[] without = images(plain(5));
        double d = relativeDifference(with, without);
        System.out.printf("style reference: output relative difference %.3f%n", d);
        assertTrue(d > 0.01, "a style reference changes the output: " + d);
    }

    @Test
    void theStyleModesChangeThePromptAndTheSubjectProfile() {
        IdeogramCharacter.Plan fiction = ideogram.plan(request(null, List.of(), List.of(), Style.FICTION, null, false,
                1));
        assertTrue(fiction.prompt().startsWith("a girl playing a guitar, "), fiction.prompt());
        assertTrue(fiction.prompt().endsWith(Style.FICTION.cue()));
        assertEquals(0.6, fiction.extensions().subjectLayerScale().applyAsDouble(3));
        assertEquals(1.0, fiction.extensions().subjectLayerScale().applyAsDouble(0));
        IdeogramCharacter.Plan realistic = ideogram.plan(request(null, List.of(), List.of(), Style.REALISTIC, null,
                false, 1));
        assertTrue(realistic.prompt().endsWith(Style.REALISTIC.cue()));
        double d = relativeDifference(images(request(null, List.of(), List.of(), Style.FICTION, null, false, 2)),
                images(request(null, List.of(), List.of(), Style.REALISTIC, null, false, 2)));
        assertTrue(d > 0.01, "FICTION and REALISTIC differ: " + d);
    }

    @Test
    void aPlainRequestIsExactlyTheInstantCharacterPipeline() {
        IdeogramCharacter.Plan plan = ideogram.plan(plain(11));
        assertSame(InstantCharacterPipeline.Extensions.NONE, plan.extensions());
        assertEquals(RenderingSpeed.TURBO.steps(), plan.request().steps());
        float[] base = BACKEND.toFloatArray(pipeline.generate(plan.request(), new InstantCharacterPipeline.Listener() {
        }, () -> false).images());
        // neutral extensions (a constant subject profile at the request's scale, a guidance that changes nothing)
        InstantCharacterPipeline.Extensions neutral = new InstantCharacterPipeline.Extensions(layer -> 1.0, List.of(),
                (step, steps, sigma, clean) -> clean);
        float[] extended = BACKEND.toFloatArray(pipeline.generate(plan.request(), neutral,
                new InstantCharacterPipeline.Listener() { }, () -> false).images());
        double d = relativeDifference(extended, base);
        System.out.printf("neutral extensions vs the plain pipeline: relative difference %.2e%n", d);
        assertTrue(d < 1e-5, "neutral extensions reproduce the pipeline: " + d);
    }

    @Test
    void conflictingFieldsNameTheField() {
        IdeogramInputException e = assertThrows(IdeogramInputException.class, () -> request(null, List.of(),
                List.of(StyleCode.parse("AAFF5733")), Style.REALISTIC, null, false, 1));
        assertEquals("style_codes", e.field());
        assertTrue(e.getMessage().contains("style REALISTIC"), e.getMessage());
        e = assertThrows(IdeogramInputException.class, () -> request(null, List.of(subject),
                List.of(StyleCode.parse("AAFF5733")), Style.AUTO, null, false, 1));
        assertEquals("style_codes", e.field());
        assertTrue(e.getMessage().contains("image_urls"), e.getMessage());
        e = assertThrows(IdeogramInputException.class, () -> IdeogramCharacter.requireGroupSize("image_urls",
                IdeogramCharacter.MAX_GROUP_BYTES + 1));
        assertEquals("image_urls", e.field());
        IdeogramCharacter.requireGroupSize("reference_image_urls", IdeogramCharacter.MAX_GROUP_BYTES);
        assertThrows(IllegalArgumentException.class, () -> StyleCode.parse("AAFF573"));
        assertThrows(IllegalArgumentException.class, () -> StyleCode.parse("GGFF5733"));
    }
}
