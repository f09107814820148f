package dev.likeness.pipeline.safety;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;
import dev.likeness.pipeline.image.RgbImage;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * nsfwjs 4.4.0's MobileNetV2 NSFW classifier (MIT, Infinite Red) run on the engine: five class probabilities per
 * image, in the order {@link #CLASSES}.
 *
 * <p>The weights are the package's own {@code dist/models/mobilenet_v2} files, which the build fetches from the npm
 * registry (pinned sha256) and puts into the jar under {@link #RESOURCE_DIR}; {@link #load(Backend)} reads them from
 * there, so a fresh machine needs no download. They are read as data by {@link TfjsLayersModel} and run layer by layer
 * by {@link KerasGraph}.
 *
 * <p>Preprocessing is nsfwjs's {@code NSFWJS.infer}: the 8-bit RGB pixels as float, divided by 255, then — unless the
 * image already is 224 × 224 — TF's {@code resizeBilinear(size [224, 224], alignCorners = true)} (half-pixel centres
 * off), which is torch's bilinear {@code interpolate(align_corners=True)} without antialias: the engine's
 * {@link Backend#interpolate}. No mean or standard deviation is applied.
 */
public final class NsfwjsClassifier {
    /** The output classes, in the model's order ({@code dist/cjs/nsfw_classes.js}). */
    public static final List<String> CLASSES = List.of("Drawing", "Hentai", "Neutral", "Porn", "Sexy");
    /** The input side (nsfwjs's {@code IMAGE_SIZE}). */
    public static final int SIZE = 224;
    /** Where the build puts the MobileNetV2 files in the jar. */
    public static final String RESOURCE_DIR = "/dev/likeness/pipeline/safety/nsfwjs/mobilenet_v2/";
    /** The layer whose output is the 1280 pooled features. */
    static final String FEATURES = "flatten_1";

    /** Probabilities [5] and pooled features [1280] of one image. */
    public record Output(float[] probabilities, float[] features) {
        /** The probability of class {@code name} (one of {@link #CLASSES}). */
        public float probability(String name) {
            int i = CLASSES.indexOf(name);
            if (i < 0) {
                throw new IllegalArgumentException("no nsfwjs class '" + name + "'; classes are " + CLASSES);
            }
            return probabilities[i];
        }
    }

    private final Backend backend;
    private final KerasGraph graph;

    private NsfwjsClassifier(TfjsLayersModel model, Backend backend) {
        this.backend = backend;
        this.graph = new KerasGraph(model, backend);
        requireInput(model, SIZE);
    }

    /** The classifier from the files the build put into the jar. */
    public static NsfwjsClassifier load(Backend backend) {
        String source = "classpath:" + RESOURCE_DIR;
        if (NsfwjsClassifier.class.getResource(RESOURCE_DIR + "model.min.js") == null) {
            throw new SafetyCheckerException(source + "model.min.js: missing from the jar; the build fetches it from"
                    + " the npm registry (nsfwjs, see pipeline/pom.xml) — rebuild with network access to"
                    + " registry.npmjs.org");
        }
        return new NsfwjsClassifier(TfjsLayersModel.read(name -> NsfwjsClassifier.class.getResourceAsStream(
                RESOURCE_DIR + name), source.substring(0, source.length() - 1)), backend);
    }

    /** The classifier from a folder holding {@code model.min.js} and its {@code group1-shard*.min.js}. */
    public static NsfwjsClassifier load(Path dir, Backend backend) {
        return new NsfwjsClassifier(TfjsLayersModel.read(name -> {
            Path file = dir.resolve(name);
            return Files.exists(file) ? Files.newInputStream(file) : (InputStream) null;
        }, dir.toString()), backend);
    }

    /** The model input for {@code images}: [N, 3, 224, 224], channels first (see the class comment). */
    public Tensor pixels(List<RgbImage> images) {
        List<Tensor> resized = new ArrayList<>(images.size());
        for (RgbImage img : images) {
            int w = img.width();
            int h = img.height();
            int plane = w * h;
            float[] v = new float[3 * plane];
            byte[] rgb = img.rgb();
            for (int i = 0; i < plane; i++) {
                for (int c = 0; c < 3; c++) {
                    v[c * plane + i] = (float) (rgb[3 * i + c] & 0xff) / 255f;
                }
            }
            Tensor x = backend.fromFloats(v, 1, 3, h, w);
            if (w != SIZE || h != SIZE) {
                x = backend.interpolate(x, SIZE, SIZE, Backend.Interpolation.BILINEAR, true, false);
            }
            resized.add(x);
        }
        return resized.size() == 1 ? resized.getFirst() : backend.cat(0, resized);
    }

    /** The class probabilities and pooled features of each image. */
    public List<Output> classify(List<RgbImage> images) {
        if (images.isEmpty()) {
            return List.of();
        }
        Map<String, Tensor> out = graph.forward(pixels(images), Set.of(FEATURES));
        float[] probs = backend.toFloatArray(out.get(graph.outputName()));
        float[] features = backend.toFloatArray(out.get(FEATURES));
        int k = CLASSES.size();
        int f = features.length / images.size();
        if (probs.length != images.size() * k) {
            throw new SafetyCheckerException("nsfwjs: the model gives " + probs.length / images.size()
                    + " outputs per image, expected " + k);
        }
        List<Output> result = new ArrayList<>(images.size());
        for (int n = 0; n < images.size(); n++) {
            float[] p = new float[k];
            System.arraycopy(probs, n * k, p, 0, k);
            float[] feat = new float[f];
            System.arraycopy(features, n * f, feat, 0, f);
            result.add(new Output(p, feat));
        }
        return result;
    }

    /** The model must take [N, 224, 224, 3]. */
    private static void requireInput(TfjsLayersModel model, int size) {
        var shape = model.topology().path("model_config").path("config").path("layers").path(0).path("config")
                .path("batch_input_shape");
        if (shape.size() != 4 || shape.get(1).asInt() != size || shape.get(2).asInt() != size
                || shape.get(3).asInt() != 3) {
            throw new SafetyCheckerException(model.source() + ": the model input is " + shape + ", expected [null, "
                    + size + ", " + size + ", 3]");
        }
    }
}
