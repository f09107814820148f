package dev.likeness.models;

import dev.likeness.engine.Backend;
import dev.likeness.engine.Tensor;

/**
 * transformers' {@code CLIPEncoderLayer}, shared by the CLIP text encoder and the CLIP vision tower of the Stable
 * Diffusion safety checker: pre-LayerNorm multi-head attention (scaled by 1/√head_dim) and a two-layer MLP, each
 * added back to its input.
 * <pre>
 *   h = h + out_proj(attention(q_proj(n), k_proj(n), v_proj(n), mask))   with n = layer_norm1(h)
 *   h = h + fc2(act(fc1(layer_norm2(h))))                                   act = quick_gelu or gelu (erf)
 * </pre>
 */
record ClipEncoderLayer(Tensor norm1Weight, Tensor norm1Bias, Tensor qWeight, Tensor qBias, Tensor kWeight,
                        Tensor kBias, Tensor vWeight, Tensor vBias, Tensor outWeight, Tensor outBias,
                        Tensor norm2Weight, Tensor norm2Bias, Tensor fc1Weight, Tensor fc1Bias, Tensor fc2Weight,
                        Tensor fc2Bias) {

    /** The tensors under {@code w} ({@code ….encoder.layers.N}), shape-checked. */
    static ClipEncoderLayer load(Weights w, int hidden, int intermediate) {
        int h = hidden;
        int f = intermediate;
        Weights attn = w.child("self_attn");
        Weights mlp = w.child("mlp");
        return new ClipEncoderLayer(w.get("layer_norm1.weight", h), w.get("layer_norm1.bias", h),
                attn.get("q_proj.weight", h, h), attn.get("q_proj.bias", h),
                attn.get("k_proj.weight", h, h), attn.get("k_proj.bias", h),
                attn.get("v_proj.weight", h, h), attn.get("v_proj.bias", h),
                attn.get("out_proj.weight", h, h), attn.get("out_proj.bias", h),
                w.get("layer_norm2.weight", h), w.get("layer_norm2.bias", h),
                mlp.get("fc1.weight", f, h), mlp.get("fc1.bias", f),
                mlp.get("fc2.weight", h, f), mlp.get("fc2.bias", h));
    }

    /**
     * The layer on {@code x} [B, L, hidden].
     *
     * @param mask      additive attention mask [L, L] (the text encoder's causal mask) or null
     * @param quickGelu {@code hidden_act} is {@code quick_gelu} (else {@code gelu}, the erf form)
     */
    Tensor forward(Backend backend, Tensor x, Tensor mask, int heads, float eps, boolean quickGelu) {
        Tensor normed = backend.layerNorm(x, norm1Weight, norm1Bias, eps);
        x = backend.add(x, attention(backend, normed, mask, heads));
        normed = backend.layerNorm(x, norm2Weight, norm2Bias, eps);
        Tensor inner = backend.linear(normed, fc1Weight, fc1Bias);
        inner = quickGelu ? backend.quickGelu(inner) : backend.gelu(inner, false);
        return backend.add(x, backend.linear(inner, fc2Weight, fc2Bias));
    }

    private Tensor attention(Backend backend, Tensor x, Tensor mask, int heads) {
        int headDim = x.size(x.dim() - 1) / heads;
        Tensor q = Heads.split(backend.linear(x, qWeight, qBias), heads);
        Tensor k = Heads.split(backend.linear(x, kWeight, kBias), heads);
        Tensor v = Heads.split(backend.linear(x, vWeight, vBias), heads);
        Tensor o = backend.attention(q, k, v, mask, (float) (1.0 / Math.sqrt(headDim)));
        return backend.linear(Heads.merge(o), outWeight, outBias);
    }
}
