package dev.likeness.pipeline.safety;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;
import dev.likeness.models.StableDiffusionSafetyChecker;
import dev.likeness.pipeline.image.PillowResize;
import dev.likeness.pipeline.image.RgbImage;
import dev.likeness.pipeline.image.SubjectImages;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Stable Diffusion safety checker ({@link StableDiffusionSafetyChecker}: CLIP ViT-L/14 image embedding against 17
 * concept and 3 special-care embeddings) as a {@link SafetyChecker}, used when its published weights
 * (CompVis/stable-diffusion-safety-checker) are configured. An image is flagged exactly when diffusers' checker
 * reports {@code has_nsfw_concept}.
 *
 * <p>Preprocessing is the checker's feature extractor, transformers' {@code CLIPImageProcessor} (as the published
 * {@code preprocessor_config.json}, with the model's {@code image_size}, 224, for both sizes): Pillow's bicubic resize
 * so the shortest edge is 224 (the other {@code int(224 · long / short)}), a centre crop to 224 × 224 (offsets
 * {@code (size − 224) // 2}), rescale by 1/255 and normalize with CLIP's mean and std. Resize and normalization are
 * the pipeline's shared {@link PillowResize} and {@link SubjectImages#normalize}.
 */
public final class ClipSafetyChecker implements SafetyChecker {
    /** This checker's {@link #name()}. */
    public static final String NAME = "stable-diffusion-safety-checker";
    // numpy rounds the processor config's values to float32, as these casts do
    private static final float[] CLIP_MEAN = {(float) 0.48145466, (float) 0.4578275, (float) 0.40821073};
    private static final float[] CLIP_STD = {(float) 0.26862954, (float) 0.26130258, (float) 0.27577711};

    private final StableDiffusionSafetyChecker model;
    private final Backend backend;

    public ClipSafetyChecker(StableDiffusionSafetyChecker model, Backend backend) {
        this.model = model;
        this.backend = backend;
    }

    /** Loads the checker folder ({@code config.json} + safetensors); a bad folder is a {@link SafetyCheckerException}. */
    public static ClipSafetyChecker load(Path dir, Backend backend) {
        try {
            return new ClipSafetyChecker(StableDiffusionSafetyChecker.load(dir, backend), backend);
        } catch (RuntimeException e) {
            throw new SafetyCheckerException("cannot load the Stable Diffusion safety checker from " + dir + ": "
                    + e.getMessage(), e);
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    /** CLIPImageProcessor's pixel_values for {@code images}: [N, 3, S, S] with S = the model's image_size. */
    public Tensor pixels(List<RgbImage> images) {
        int size = model.config().imageSize();
        List<RgbImage> cropped = new ArrayList<>(images.size());
        for (RgbImage img : images) {
            cropped.add(resizeAndCrop(img, size));
        }
        return backend.fromFloats(SubjectImages.normalize(cropped, CLIP_MEAN, CLIP_STD), images.size(), 3, size,
                size);
    }

    /** The shortest edge resized to {@code size}, then the centre {@code size × size}. */
    static RgbImage resizeAndCrop(RgbImage img, int size) {
        int w = img.width();
        int h = img.height();
        int shortSide = Math.min(w, h);
        int longSide = Math.max(w, h);
        int newLong = (int) ((double) ((long) size * longSide) / shortSide);
        int newW = w <= h ? size : newLong;
        int newH = w <= h ? newLong : size;
        RgbImage resized = PillowResize.resize(img, newW, newH);
        return resized.crop((newW - size) / 2, (newH - size) / 2, size, size);
    }

    @Override
    public List<Result> check(List<RgbImage> images) {
        if (images.isEmpty()) {
            return List.of();
        }
        StableDiffusionSafetyChecker.Output out = model.forward(pixels(images));
        List<Result> results = new ArrayList<>(images.size());
        for (StableDiffusionSafetyChecker.Decision d : out.decisions()) {
            Map<String, Float> scores = new LinkedHashMap<>();
            for (int j = 0; j < d.specialScores().length; j++) {
                scores.put("special_" + j, d.specialScores()[j]);
            }
            for (int j = 0; j < d.conceptScores().length; j++) {
                scores.put("concept_" + j, d.conceptScores()[j]);
            }
            results.add(new Result(d.hasNsfwConcept(), scores, NAME));
        }
        return results;
    }

    @Override
    public void close() {
        model.close();
    }
}
