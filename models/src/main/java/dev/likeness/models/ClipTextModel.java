package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The CLIP text encoder, transformers 4.51.3 {@code CLIPTextModel} (FLUX's {@code text_encoder}, openai CLIP ViT-L/14):
 * token plus learned position embeddings, pre-LayerNorm transformer layers under a causal mask, a final LayerNorm,
 * and the pooled output taken at the end-of-text position. FLUX reads only the pooled output.
 *
 * <p>Weights are read from an HF folder ({@code config.json} + {@code model.safetensors}) under the key prefix
 * {@code text_model.}, in their stored dtype.
 */
public final class ClipTextModel implements AutoCloseable {

    /**
     * The fields of {@code CLIPTextConfig} the forward pass depends on.
     *
     * @param hiddenAct  {@code quick_gelu} (openai CLIP) or {@code gelu} (erf form)
     * @param eosTokenId the end-of-text id; 2 is the legacy value of the openai configs, which selects the position of
     *                   the largest id instead (see {@link #eosPositions})
     */
    public record Config(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
                         int numAttentionHeads, int maxPositionEmbeddings, String hiddenAct, float layerNormEps,
                         int eosTokenId) {

        /** Reads a {@code CLIPTextConfig} {@code config.json} (defaults as in transformers where it has them). */
        public static Config from(ModelConfig c) {
            Config config = new Config(c.integer("vocab_size"), c.integer("hidden_size"),
                    c.integer("intermediate_size"), c.integer("num_hidden_layers"), c.integer("num_attention_heads"),
                    c.integer("max_position_embeddings"), c.string("hidden_act", "quick_gelu"),
                    (float) c.number("layer_norm_eps", 1e-5), c.integer("eos_token_id", 2));
            if (config.hiddenSize % config.numAttentionHeads != 0) {
                throw new IllegalArgumentException(c.file() + ": hidden_size " + config.hiddenSize
                        + " must be divisible by num_attention_heads " + config.numAttentionHeads);
            }
            if (!config.hiddenAct.equals("quick_gelu") && !config.hiddenAct.equals("gelu")) {
                throw new IllegalArgumentException(c.file() + ": hidden_act '" + config.hiddenAct
                        + "' is not supported, expected quick_gelu or gelu");
            }
            return config;
        }

        public int headDim() {
            return hiddenSize / numAttentionHeads;
        }
    }

    /**
     * The encoder's outputs for ids [B, L].
     *
     * @param lastHiddenState [B, L, hidden], after the final LayerNorm
     * @param pooledOutput    [B, hidden], the last hidden state at each row's end-of-text position
     * @param hiddenStates    the embeddings, then each layer's output (before the final LayerNorm), each [B, L, hidden]
     *                        (transformers' {@code hidden_states})
     */
    public record Output(Tensor lastHiddenState, Tensor pooledOutput, List<Tensor> hiddenStates) {
    }

    private final Config config;
    private final Weights weights;
    private final Backend backend;
    private final Tensor tokenEmbedding;
    private final Tensor positionEmbedding;
    private final List<ClipEncoderLayer> layers;
    private final Tensor finalNormWeight;
    private final Tensor finalNormBias;

    private ClipTextModel(Config config, Weights weights) {
        this.config = config;
        this.weights = weights;
        this.backend = weights.backend();
        Weights text = weights.child("text_model");
        Weights embeddings = text.child("embeddings");
        int h = config.hiddenSize();
        this.tokenEmbedding = embeddings.get("token_embedding.weight", config.vocabSize(), h);
        this.positionEmbedding = embeddings.get("position_embedding.weight", config.maxPositionEmbeddings(), h);
        List<ClipEncoderLayer> ls = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            ls.add(ClipEncoderLayer.load(text.child("encoder.layers." + i), config.hiddenSize(),
                    config.intermediateSize()));
        }
        this.layers = List.copyOf(ls);
        this.finalNormWeight = text.get("final_layer_norm.weight", h);
        this.finalNormBias = text.get("final_layer_norm.bias", h);
    }

    /** Loads {@code dir/config.json} and the checkpoint in {@code dir}; errors name the file, tensor and expectation. */
    public static ClipTextModel load(Path dir, Backend backend) {
        Config config = Config.from(ModelConfig.read(dir.resolve("config.json")));
        Weights weights = Weights.open(dir, backend);
        try {
            return new ClipTextModel(config, weights);
        } catch (RuntimeException e) {
            weights.close();
            throw e;
        }
    }

    public Config config() {
        return config;
    }

    /** {@code CLIPTextModel(input_ids=ids, output_hidden_states=True)} for integer ids [B, L], L ≤ max positions. */
    public Output forward(Tensor ids) {
        if (ids.dim() != 2 || ids.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("CLIP text encoder: ids must be an integer tensor [batch, length], got "
                    + ids.dtype() + " " + Arrays.toString(ids.shape()));
        }
        int batch = ids.size(0);
        int length = ids.size(1);
        if (length > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("CLIP text encoder: sequence length " + length
                    + " exceeds max_position_embeddings " + config.maxPositionEmbeddings());
        }
        int[] hostIds = backend.toIntArray(ids);
        for (int id : hostIds) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("CLIP text encoder: token id " + id + " outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
        // CLIPTextEmbeddings: position ids are 0..L-1
        Tensor hidden = backend.add(backend.embedding(tokenEmbedding, ids), positionEmbedding.narrow(0, 0, length));
        Tensor causal = causalMask(length);
        List<Tensor> states = new ArrayList<>();
        states.add(hidden);
        boolean quick = config.hiddenAct().equals("quick_gelu");
        for (ClipEncoderLayer layer : layers) {
            hidden = layer.forward(backend, hidden, causal, config.numAttentionHeads(), config.layerNormEps(), quick);
            states.add(hidden);
        }
        Tensor last = backend.layerNorm(hidden, finalNormWeight, finalNormBias, config.layerNormEps());
        int[] eos = eosPositions(hostIds, batch, length, config.eosTokenId());
        List<Tensor> rows = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            rows.add(last.select(0, b).narrow(0, eos[b], 1));
        }
        return new Output(last, backend.cat(0, rows), List.copyOf(states));
    }

    /**
     * transformers' {@code _create_4d_causal_attention_mask}: an additive [L, L] mask, 0 on and below the diagonal and
     * the lowest f32 value above it.
     */
    private Tensor causalMask(int length) {
        float[] mask = new float[length * length];
        for (int i = 0; i < length; i++) {
            Arrays.fill(mask, i * length + i + 1, (i + 1) * length, -Float.MAX_VALUE);
        }
        return backend.fromFloats(mask, length, length);
    }

    /**
     * Each row's pooling position, as {@code CLIPTextTransformer.forward}: with the legacy {@code eos_token_id == 2}
     * the position of the largest id (its first occurrence: torch's argmax; the openai end token 49407 is the largest
     * id), otherwise the first occurrence of {@code eos_token_id} (position 0 if the row has none, as argmax over an
     * all-false row gives).
     */
    static int[] eosPositions(int[] ids, int batch, int length, int eosTokenId) {
        int[] positions = new int[batch];
        for (int b = 0; b < batch; b++) {
            int row = b * length;
            int best = 0;
            if (eosTokenId == 2) {
                for (int i = 1; i < length; i++) {
                    if (ids[row + i] > ids[row + best]) {
                        best = i;
                    }
                }
            } else {
                for (int i = length - 1; i >= 0; i--) {
                    if (ids[row + i] == eosTokenId) {
                        best = i;
                    }
                }
            }
            positions[b] = best;
        }
        return positions;
    }

    /** Unmaps the checkpoint. */
    @Override
    public void close() {
        weights.close();
    }
}
