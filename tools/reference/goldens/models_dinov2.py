"""DINOv2 goldens: transformers 4.51.3 Dinov2Model, as InstantCharacter runs facebook/dinov2-giant (CLS token,
LayerScale, SwiGLU FFN, final layernorm) on inputs smaller than the trained size, so the position embeddings are
interpolated (bicubic, size=(h // 14, w // 14), align_corners=False, computed in f32).

dinov2/mlp/: a tiny Dinov2Model with the GELU MLP (hidden 32, 2 layers, 4 heads, image 28, patch 14).
dinov2/swiglu/: a tiny Dinov2Model with use_swiglu_ffn, as the giant model (hidden 48, 3 layers, 4 heads, image 42).
dinov2/swiglu_bf16/: the SwiGLU model's weights rounded to bf16, as the pipeline loads the encoder.
All written by save_pretrained (config.json + model.safetensors) with seeded weights.

dinov2/outputs.safetensors: per case the pixel_values, and the model's last_hidden_state, pooler_output (the CLS
token after the layernorm) and every hidden state ("hidden_states.<i>": i = 0 is the embeddings, i = k the output
of layer k, before the layernorm). The "model" parameter names the folder. Cases cover the trained size (no
interpolation), larger, smaller (with a dropped 6-pixel margin, like 384 on a 14-pixel grid) and non-square inputs.
The "bf16" case runs swiglu_bf16 on bf16 pixels (every torch op rounds to bf16, the interpolated positions too; the
Java side computes in f32 from the same bf16 weights and must agree to 1e-2).
"""
import copy
import math

import torch
from transformers import Dinov2Config, Dinov2Model

from goldens.common import Golden, gen

MODELS = {
    "mlp": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=28,
                patch_size=14, hidden_act="gelu", layer_norm_eps=1e-6, use_swiglu_ffn=False),
    "swiglu": dict(hidden_size=48, num_hidden_layers=3, num_attention_heads=4, mlp_ratio=4, image_size=42,
                   patch_size=14, layer_norm_eps=1e-6, use_swiglu_ffn=True),
}

# case -> (model, batch, height, width)
CASES = {
    "mlp_trained_size": ("mlp", 2, 28, 28),
    "mlp_larger": ("mlp", 1, 42, 42),
    "mlp_non_square": ("mlp", 1, 28, 42),
    "swiglu_larger": ("swiglu", 1, 56, 56),
    "swiglu_smaller_cropped": ("swiglu", 2, 34, 34),
    "bf16_swiglu_smaller_cropped": ("swiglu_bf16", 1, 34, 34),
}


def randomize(model, seed):
    """Replaces every parameter with seeded values of a useful size: matrices ~ 1/sqrt(fan-in), norm and layer
    scales around 1, biases and embeddings non-zero, so no term of the forward pass is trivial."""
    g = gen(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight") or name.endswith("lambda1"):
                p.copy_(1 + 0.2 * r)
            elif p.dim() == 1:
                p.copy_(0.1 * r)
            elif name.startswith("embeddings.") and "projection" not in name:
                p.copy_(0.5 * r)
            else:
                p.copy_(r / math.sqrt(p[0].numel()))


def generate(out_dir):
    out = out_dir / "dinov2"
    models = {}
    for i, (name, config) in enumerate(MODELS.items()):
        torch.manual_seed(i)
        model = Dinov2Model(Dinov2Config(**config)).eval()
        randomize(model, 10 + i)
        model.save_pretrained(out / name, safe_serialization=True)
        models[name] = model
    models["swiglu_bf16"] = copy.deepcopy(models["swiglu"]).to(torch.bfloat16)
    models["swiglu_bf16"].save_pretrained(out / "swiglu_bf16", safe_serialization=True)

    golden = Golden("outputs")
    for i, (case, (name, batch, height, width)) in enumerate(CASES.items()):
        dtype = models[name].dtype
        pixels = torch.randn(batch, 3, height, width, generator=gen(200 + i)).to(dtype)
        with torch.no_grad():
            o = models[name](pixel_values=pixels, output_hidden_states=True)
        hidden = {f"hidden_states.{k}": h for k, h in enumerate(o.hidden_states)}
        golden.case(case, {"model": name, "hidden_states": len(o.hidden_states)},
                    precision="bf16" if dtype == torch.bfloat16 else "f32",
                    pixel_values=pixels, last_hidden_state=o.last_hidden_state, pooler_output=o.pooler_output,
                    **hidden)
    golden.save(out)
