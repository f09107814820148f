"""SigLIP vision tower goldens: transformers 4.51.3 SiglipVisionModel, as InstantCharacter runs
google/siglip-so400m-patch14-384 (patch 14, no CLS token, gelu_pytorch_tanh MLP, post_layernorm, MAP head).

siglip/model/: a tiny SiglipVisionModel (hidden 32, 2 layers, 4 heads, image 28, patch 14) with seeded weights,
written by save_pretrained (config.json + model.safetensors, keys "vision_model.*").

siglip/model_bf16/: the same weights rounded to bf16, as the pipeline loads the encoder (torch_dtype=bfloat16).

siglip/outputs.safetensors: per case the pixel_values, and the model's last_hidden_state, pooler_output (MAP head)
and every hidden state ("hidden_states.<i>": i = 0 is the embeddings, i = k the output of layer k, before
post_layernorm). Cases: the default path at the trained size (batch 2), a 34-pixel input whose last 6 rows and
columns the valid patch convolution drops (as 384 = 27 * 14 + 6 does), and interpolate_pos_encoding at 42 and at a
non-square 28 x 42. The "bf16_*" cases run model_bf16 on bf16 pixels (every torch op rounds to bf16; the Java
side computes in f32 from the same bf16 weights and must agree to 1e-2). They hold no pooler_output: the MAP head
reduces to one vector through two more bf16-rounded attention and MLP paths (1.4% apart from the f32 computation
here; it is unused by InstantCharacter and checked in the f32 cases).
"""
import copy
import math

import torch
from transformers import SiglipVisionConfig, SiglipVisionModel

from goldens.common import Golden, gen

CONFIG = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_channels=3,
              image_size=28, patch_size=14, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)

# case -> (model folder, batch, height, width, interpolate_pos_encoding)
CASES = {
    "default": ("model", 2, 28, 28, False),
    "cropped": ("model", 1, 34, 34, False),
    "interpolated": ("model", 1, 42, 42, True),
    "interpolated_wide": ("model", 1, 28, 42, True),
    "bf16_default": ("model_bf16", 1, 28, 28, False),
    "bf16_interpolated": ("model_bf16", 1, 42, 42, True),
}


def randomize(model, seed):
    """Replaces every parameter with seeded values of a useful size: matrices ~ 1/sqrt(fan-in), norm scales around 1,
    biases and embeddings non-zero, so no term of the forward pass is trivial."""
    g = gen(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g)
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or "layernorm.weight" in name:
                p.copy_(1 + 0.2 * r)
            elif p.dim() == 1:
                p.copy_(0.1 * r)
            elif "position_embedding" in name or name.endswith("probe"):
                p.copy_(0.5 * r)
            else:
                p.copy_(r / math.sqrt(p[0].numel()))


def generate(out_dir):
    out = out_dir / "siglip"
    torch.manual_seed(0)
    model = SiglipVisionModel(SiglipVisionConfig(**CONFIG)).eval()
    randomize(model, 1)
    models = {"model": model, "model_bf16": copy.deepcopy(model).to(torch.bfloat16)}
    for name, m in models.items():
        m.save_pretrained(out / name, safe_serialization=True)

    golden = Golden("outputs")
    for i, (case, (name, batch, height, width, interpolate)) in enumerate(CASES.items()):
        dtype = models[name].dtype
        pixels = torch.randn(batch, 3, height, width, generator=gen(100 + i)).to(dtype)
        with torch.no_grad():
            o = models[name](pixel_values=pixels, output_hidden_states=True, interpolate_pos_encoding=interpolate)
        hidden = {f"hidden_states.{k}": h for k, h in enumerate(o.hidden_states)}
        golden.case(case, {"model": name, "interpolate_pos_encoding": interpolate,
                           "hidden_states": len(o.hidden_states)},
                    precision="bf16" if dtype == torch.bfloat16 else "f32",
                    pixel_values=pixels, last_hidden_state=o.last_hidden_state,
                    pooler_output=o.pooler_output if dtype == torch.float32 else None, **hidden)
    golden.save(out)
