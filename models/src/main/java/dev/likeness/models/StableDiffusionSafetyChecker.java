package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The Stable Diffusion safety checker, diffusers 0.33.1 {@code StableDiffusionSafetyChecker}
 * ({@code pipelines/stable_diffusion/safety_checker.py}), as published in CompVis/stable-diffusion-safety-checker:
 *
 * <pre>
 * pooled        = CLIPVisionModel(clip_input).pooler_output          (transformers 4.51.3, CLIP ViT-L/14 when published)
 *   embeddings  = [class_embedding ; Conv2d(patch, stride patch, no bias)(pixels).flatten(2).T] + position_embedding
 *   h           = pre_layrnorm(embeddings)
 *   each layer  h = h + out_proj(SDPA(q, k, v) of layer_norm1(h));  h = h + fc2(quick_gelu(fc1(layer_norm2(h))))
 *   pooled      = post_layernorm(h[:, 0])
 * image_embeds  = visual_projection(pooled)                           (bias-free Linear, hidden → projection_dim)
 * cos_dist      = normalize(image_embeds) · normalize(concept_embeds)ᵀ         [B, 17]
 * special_cos   = normalize(image_embeds) · normalize(special_care_embeds)ᵀ    [B, 3]
 * per image     adjustment = 0
 *               for each special concept j: s = round(special_cos[j] − special_care_embeds_weights[j] + adjustment, 3)
 *                                           if s > 0: special care, adjustment = 0.01 (for the concepts after j too)
 *               for each concept j:         c = round(cos_dist[j] − concept_embeds_weights[j] + adjustment, 3)
 *                                           if c > 0: bad concept
 *               has_nsfw_concept = any bad concept
 * </pre>
 *
 * The scores are computed as numpy does in {@code forward} (not {@code forward_onnx}, which skips the rounding): in
 * float32, including the 3-decimal rounding ({@code rint(s · 1000) / 1000}), so a score within 0.0005 above its
 * threshold rounds to 0 and does not flag. diffusers then blacks out the flagged images; that is the caller's job here
 * ({@link #forward} returns the decisions).
 *
 * <p>Weights: a {@code CLIPConfig} {@code config.json} (its {@code vision_config} and {@code projection_dim}) and a
 * safetensors (or torch) checkpoint with the keys {@code vision_model.vision_model.*}, {@code visual_projection.weight},
 * {@code concept_embeds} [17, P], {@code special_care_embeds} [3, P], {@code concept_embeds_weights} [17] and
 * {@code special_care_embeds_weights} [3].
 */
public final class StableDiffusionSafetyChecker implements AutoCloseable {
    /** Number of concept embeddings, as diffusers fixes it. */
    public static final int CONCEPTS = 17;
    /** Number of special-care embeddings, as diffusers fixes it. */
    public static final int SPECIAL_CONCEPTS = 3;
    /** What a special-care hit adds to every later score. */
    public static final float SPECIAL_CARE_ADJUSTMENT = 0.01f;

    /** The fields of {@code CLIPConfig} / {@code CLIPVisionConfig} the checker reads. */
    public record Config(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                         int numChannels, int imageSize, int patchSize, String hiddenAct, float layerNormEps,
                         int projectionDim) {

        /** Reads a {@code clip} config.json (CLIPConfig); missing vision fields take CLIPVisionConfig's defaults. */
        public static Config from(ModelConfig json) {
            if (!json.has("vision_config")) {
                throw new IllegalArgumentException(json.file() + ": a StableDiffusionSafetyChecker config is a"
                        + " CLIPConfig with a vision_config section; none found");
            }
            ModelConfig v = json.section("vision_config");
            Config config = new Config(v.integer("hidden_size", 768), v.integer("intermediate_size", 3072),
                    v.integer("num_hidden_layers", 12), v.integer("num_attention_heads", 12),
                    v.integer("num_channels", 3), v.integer("image_size", 224), v.integer("patch_size", 32),
                    v.string("hidden_act", "quick_gelu"), (float) v.number("layer_norm_eps", 1e-5),
                    json.integer("projection_dim", 512));
            if (config.hiddenSize % config.numAttentionHeads != 0) {
                throw new IllegalArgumentException(v.file() + ": hidden_size " + config.hiddenSize
                        + " must be a multiple of num_attention_heads " + config.numAttentionHeads);
            }
            if (config.patchSize <= 0 || config.imageSize % config.patchSize != 0) {
                throw new IllegalArgumentException(v.file() + ": image_size " + config.imageSize
                        + " must be a multiple of patch_size " + config.patchSize);
            }
            if (!config.hiddenAct.equals("quick_gelu") && !config.hiddenAct.equals("gelu")) {
                throw new IllegalArgumentException(v.file() + ": hidden_act '" + config.hiddenAct
                        + "' is not supported, expected quick_gelu or gelu");
            }
            return config;
        }

        public int headDim() {
            return hiddenSize / numAttentionHeads;
        }

        /** Patches plus the class token. */
        public int numPositions() {
            int side = imageSize / patchSize;
            return side * side + 1;
        }
    }

    /**
     * The forward pass for a batch.
     *
     * @param poolerOutput    the vision tower's pooled output [B, hidden]
     * @param imageEmbeds     after the projection [B, projection_dim]
     * @param cosDist         cosine similarity to each concept, per image [B][17]
     * @param specialCosDist  cosine similarity to each special-care concept, per image [B][3]
     * @param decisions       the per-image scores and decision
     */
    public record Output(Tensor poolerOutput, Tensor imageEmbeds, float[][] cosDist, float[][] specialCosDist,
                         List<Decision> decisions) {
    }

    /**
     * One image's decision, as diffusers' {@code result_img}.
     *
     * @param specialScores rounded special-care scores (> 0: special care)
     * @param conceptScores rounded concept scores, adjustment included (> 0: bad concept)
     * @param specialCare   indices of the special-care hits
     * @param badConcepts   indices of the concepts that flag the image
     */
    public record Decision(float[] specialScores, float[] conceptScores, List<Integer> specialCare,
                           List<Integer> badConcepts) {
        /** diffusers' {@code has_nsfw_concept}. */
        public boolean hasNsfwConcept() {
            return !badConcepts.isEmpty();
        }
    }

    private final Config config;
    private final Weights weights;
    private final Backend backend;
    private final Tensor classEmbedding;
    private final Tensor patchWeight;
    private final Tensor positionEmbedding;
    private final Tensor preNormWeight;
    private final Tensor preNormBias;
    private final List<ClipEncoderLayer> layers = new ArrayList<>();
    private final Tensor postNormWeight;
    private final Tensor postNormBias;
    private final Tensor visualProjection;
    private final float[][] conceptEmbeds;
    private final float[][] specialCareEmbeds;
    private final float[] conceptThresholds;
    private final float[] specialCareThresholds;

    /** Binds the checker's tensors (shape-checked against {@code config}); closing the checker closes {@code weights}. */
    public StableDiffusionSafetyChecker(Config config, Weights weights) {
        this.config = config;
        this.weights = weights;
        this.backend = weights.backend();
        int d = config.hiddenSize();
        int p = config.patchSize();
        int proj = config.projectionDim();
        Weights vm = weights.child("vision_model").child("vision_model");
        Weights emb = vm.child("embeddings");
        this.classEmbedding = emb.get("class_embedding", d);
        this.patchWeight = emb.get("patch_embedding.weight", d, config.numChannels(), p, p);
        this.positionEmbedding = emb.get("position_embedding.weight", config.numPositions(), d);
        this.preNormWeight = vm.get("pre_layrnorm.weight", d);
        this.preNormBias = vm.get("pre_layrnorm.bias", d);
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            layers.add(ClipEncoderLayer.load(vm.child("encoder.layers." + i), config.hiddenSize(),
                    config.intermediateSize()));
        }
        this.postNormWeight = vm.get("post_layernorm.weight", d);
        this.postNormBias = vm.get("post_layernorm.bias", d);
        this.visualProjection = weights.get("visual_projection.weight", proj, d);
        this.conceptEmbeds = rows(weights.get("concept_embeds", CONCEPTS, proj));
        this.specialCareEmbeds = rows(weights.get("special_care_embeds", SPECIAL_CONCEPTS, proj));
        this.conceptThresholds = backend.toFloatArray(weights.get("concept_embeds_weights", CONCEPTS));
        this.specialCareThresholds = backend.toFloatArray(weights.get("special_care_embeds_weights", SPECIAL_CONCEPTS));
    }

    /** Loads {@code dir/config.json} and the checkpoint in {@code dir}; errors name the file, tensor and expectation. */
    public static StableDiffusionSafetyChecker load(Path dir, Backend backend) {
        Config config = Config.from(ModelConfig.read(dir.resolve("config.json")));
        Weights weights = Weights.open(dir, backend);
        try {
            return new StableDiffusionSafetyChecker(config, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public Config config() {
        return config;
    }

    /** The checker on {@code clipInput} [B, 3, image_size, image_size] (CLIPImageProcessor's pixel_values). */
    public Output forward(Tensor clipInput) {
        int[] s = clipInput.shape();
        if (s.length != 4 || s[1] != config.numChannels() || s[2] != config.imageSize() || s[3] != config.imageSize()) {
            throw new IllegalArgumentException("StableDiffusionSafetyChecker: clip_input must be [B, "
                    + config.numChannels() + ", " + config.imageSize() + ", " + config.imageSize() + "], got "
                    + Arrays.toString(s));
        }
        Tensor pooled = visionTower(clipInput);
        Tensor imageEmbeds = backend.linear(pooled, visualProjection, null);
        float[][] embeds = rows(imageEmbeds);
        float[][] cos = cosineDistance(embeds, conceptEmbeds);
        float[][] special = cosineDistance(embeds, specialCareEmbeds);
        List<Decision> decisions = new ArrayList<>();
        for (int i = 0; i < embeds.length; i++) {
            decisions.add(decide(cos[i], special[i], conceptThresholds, specialCareThresholds));
        }
        return new Output(pooled, imageEmbeds, cos, special, List.copyOf(decisions));
    }

    /** {@code CLIPVisionModel(clip_input).pooler_output}. */
    private Tensor visionTower(Tensor pixels) {
        int batch = pixels.size(0);
        int d = config.hiddenSize();
        int p = config.patchSize();
        Tensor patches = backend.conv2d(pixels, patchWeight, null, p, p, 0, 0, 1).flatten(2, 3).transpose(1, 2);
        Tensor cls = classEmbedding.view(1, 1, d).expand(batch, 1, d);
        Tensor h = backend.add(backend.cat(1, List.of(cls, patches)), positionEmbedding);
        h = backend.layerNorm(h, preNormWeight, preNormBias, config.layerNormEps());
        boolean quick = config.hiddenAct().equals("quick_gelu");
        for (ClipEncoderLayer layer : layers) {
            h = layer.forward(backend, h, null, config.numAttentionHeads(), config.layerNormEps(), quick);
        }
        Tensor first = h.narrow(1, 0, 1).reshape(batch, d);
        return backend.layerNorm(first, postNormWeight, postNormBias, config.layerNormEps());
    }

    /**
     * diffusers' {@code cosine_distance}: {@code F.normalize(a) @ F.normalize(b).T} (rows divided by
     * {@code max(‖row‖, 1e-12)}); accumulated in double, rounded to f32.
     */
    static float[][] cosineDistance(float[][] a, float[][] b) {
        float[][] out = new float[a.length][b.length];
        for (int i = 0; i < a.length; i++) {
            double na = Math.max(norm(a[i]), 1e-12);
            for (int j = 0; j < b.length; j++) {
                double nb = Math.max(norm(b[j]), 1e-12);
                double dot = 0;
                for (int k = 0; k < a[i].length; k++) {
                    dot += (a[i][k] / na) * (b[j][k] / nb);
                }
                out[i][j] = (float) dot;
            }
        }
        return out;
    }

    private static double norm(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }

    /**
     * The per-image decision of diffusers' {@code forward} for one image's cosine similarities and the thresholds
     * ({@code concept_embeds_weights}, {@code special_care_embeds_weights}); float32 arithmetic as numpy does it.
     */
    public static Decision decide(float[] cos, float[] specialCos, float[] conceptThresholds,
                                  float[] specialThresholds) {
        if (cos.length != conceptThresholds.length || specialCos.length != specialThresholds.length) {
            throw new IllegalArgumentException("safety checker: " + cos.length + " concept and " + specialCos.length
                    + " special similarities against " + conceptThresholds.length + " and " + specialThresholds.length
                    + " thresholds");
        }
        float adjustment = 0f;
        float[] specialScores = new float[specialCos.length];
        List<Integer> specialCare = new ArrayList<>();
        for (int j = 0; j < specialCos.length; j++) {
            specialScores[j] = score(specialCos[j], specialThresholds[j], adjustment);
            if (specialScores[j] > 0) {
                specialCare.add(j);
                adjustment = SPECIAL_CARE_ADJUSTMENT;
            }
        }
        float[] conceptScores = new float[cos.length];
        List<Integer> bad = new ArrayList<>();
        for (int j = 0; j < cos.length; j++) {
            conceptScores[j] = score(cos[j], conceptThresholds[j], adjustment);
            if (conceptScores[j] > 0) {
                bad.add(j);
            }
        }
        return new Decision(specialScores, conceptScores, List.copyOf(specialCare), List.copyOf(bad));
    }

    /** {@code round(cos − threshold + adjustment, 3)} in float32: numpy's round is {@code rint(x · 1000) / 1000}. */
    private static float score(float cos, float threshold, float adjustment) {
        float s = cos - threshold;
        if (adjustment != 0f) {
            s = s + adjustment;
        }
        return (float) Math.rint(s * 1000f) / 1000f;
    }

    /** The thresholds of the 17 concepts ({@code concept_embeds_weights}). */
    public float[] conceptThresholds() {
        return conceptThresholds.clone();
    }

    /** The thresholds of the 3 special-care concepts ({@code special_care_embeds_weights}). */
    public float[] specialCareThresholds() {
        return specialCareThresholds.clone();
    }

    private float[][] rows(Tensor t) {
        float[] v = backend.toFloatArray(t);
        int n = t.size(0);
        int k = t.size(1);
        float[][] out = new float[n][k];
        for (int i = 0; i < n; i++) {
            System.arraycopy(v, i * k, out[i], 0, k);
        }
        return out;
    }

    @Override
    public void close() {
        weights.close();
    }
}
