"""Stable Diffusion safety checker goldens: diffusers 0.33.1 StableDiffusionSafetyChecker (the architecture of
CompVis/stable-diffusion-safety-checker: a CLIP vision tower, a bias-free visual projection, cosine similarity against
17 concept and 3 "special care" embeddings, per-concept thresholds, the special-care adjustment), with
transformers 4.51.3's CLIPVisionModel and CLIPImageProcessor.

safety_checker/model/: a tiny StableDiffusionSafetyChecker (CLIPConfig: vision hidden 32, 2 layers, 4 heads,
intermediate 48, image 28, patch 14, quick_gelu; projection_dim 16; a tiny text config the checker never uses) with
seeded weights, including the concept and special-care embeddings and thresholds, written by save_pretrained
(config.json + model.safetensors with the published key layout: "vision_model.vision_model.*",
"visual_projection.weight", "concept_embeds", "special_care_embeds", "concept_embeds_weights",
"special_care_embeds_weights").

safety_checker/outputs.safetensors:
- case "model": clip_input [3, 3, 28, 28] (seeded) → the vision tower's pooler_output, image_embeds (after the
  projection), cos_dist [3, 17] and special_cos_dist [3, 3] (diffusers' cosine_distance on the model's tensors) and
  has_nsfw_concepts from forward() with the saved thresholds (int8 0/1).
- cases "flags_<name>": one image's cos_dist / special_cos_dist (from case "model", image 0) with crafted thresholds
  concept_thresholds [17] / special_thresholds [3] (written into the model before forward() runs), and forward()'s
  has_nsfw_concepts: "hit" (a concept 0.02 above its threshold), "special_care_hit" (a special concept 0.02 above,
  which adds 0.01 to every concept score, so a concept 0.005 below its threshold flags), "near_miss" (the same
  concept 0.005 below without special care: not flagged), "rounding" (a concept 0.0004 above its threshold: diffusers
  rounds the score to 3 decimals, so 0.0 and not flagged), "special_only" (special care alone does not flag).
- case "processor": an 8-bit RGB image [37, 50, 3] (seeded) and CLIPImageProcessor(size shortest_edge 28, crop 28)'s
  pixel_values [1, 3, 28, 28] (the published checker's feature extractor uses 224; the steps are the same: Pillow
  bicubic resize of the shortest edge, centre crop, rescale 1/255, CLIP mean/std).
"""
import math

import numpy as np
import torch
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker, cosine_distance
from transformers import CLIPConfig, CLIPImageProcessor

from goldens.common import Golden, gen

VISION = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_channels=3,
              image_size=28, patch_size=14, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=16)
TEXT = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=4, vocab_size=99,
            max_position_embeddings=16, projection_dim=16)


def randomize(model, seed):
    """Seeded values of a useful size for every parameter: matrices ~ 1/sqrt(fan-in), norm scales around 1, biases,
    embeddings and the class embedding non-zero, thresholds around the typical cosine values."""
    g = gen(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * r)
            elif name.endswith("embeds_weights"):
                p.copy_(0.49 + 0.02 * r)
            elif name.endswith("embeds"):
                p.copy_(r)
            elif p.dim() == 1:
                p.copy_(0.1 * r)
            elif "position_embedding" in name:
                p.copy_(0.5 * r)
            else:
                p.copy_(r / math.sqrt(p[0].numel()))


def forward_flags(model, clip_input):
    images = np.zeros((clip_input.shape[0], 4, 4, 3), dtype=np.float32)
    with torch.no_grad():
        _, flags = model(clip_input=clip_input, images=images)
    return torch.tensor([1 if f else 0 for f in flags], dtype=torch.int8)


def generate(out_dir):
    out = out_dir / "safety_checker"
    torch.manual_seed(0)
    config = CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=16)
    model = StableDiffusionSafetyChecker(config).eval()
    randomize(model, 7)
    model.save_pretrained(out / "model", safe_serialization=True)

    golden = Golden("outputs")
    clip_input = torch.randn(3, 3, 28, 28, generator=gen(70))
    with torch.no_grad():
        pooled = model.vision_model(clip_input)[1]
        embeds = model.visual_projection(pooled)
        cos = cosine_distance(embeds, model.concept_embeds)
        special = cosine_distance(embeds, model.special_care_embeds)
    golden.case("model", {"images": 3}, clip_input=clip_input, pooler_output=pooled, image_embeds=embeds,
                cos_dist=cos, special_cos_dist=special, has_nsfw_concepts=forward_flags(model, clip_input))

    one = clip_input[:1]
    c0, s0 = cos[0].clone(), special[0].clone()
    far = 0.1
    crafted = {
        # name: (concept threshold offsets {idx: delta}, special offsets {idx: delta}); score = cos - threshold
        "hit": ({5: -0.02}, {}),
        "special_care_hit": ({3: 0.005}, {1: -0.02}),
        "near_miss": ({3: 0.005}, {}),
        "rounding": ({7: -0.0004}, {}),
        "special_only": ({}, {2: -0.02}),
    }
    saved = (model.concept_embeds_weights.detach().clone(), model.special_care_embeds_weights.detach().clone())
    for name, (concept, spec) in crafted.items():
        ct = c0 + far
        st = s0 + far
        for i, d in concept.items():
            ct[i] = c0[i] + d
        for i, d in spec.items():
            st[i] = s0[i] + d
        with torch.no_grad():
            model.concept_embeds_weights.copy_(ct)
            model.special_care_embeds_weights.copy_(st)
        golden.case("flags_" + name, {"concepts": {str(k): v for k, v in concept.items()},
                                       "special": {str(k): v for k, v in spec.items()}},
                    cos_dist=cos[:1], special_cos_dist=special[:1], concept_thresholds=ct.clone(),
                    special_thresholds=st.clone(), has_nsfw_concepts=forward_flags(model, one))
    with torch.no_grad():
        model.concept_embeds_weights.copy_(saved[0])
        model.special_care_embeds_weights.copy_(saved[1])

    rng = np.random.default_rng(71)
    image = rng.integers(0, 256, size=(37, 50, 3), dtype=np.uint8)
    image[10:30, 5:40] = [200, 150, 120]
    processor = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    pixels = processor(images=[image], return_tensors="pt")["pixel_values"]
    golden.case("processor", {"shortest_edge": 28, "crop": 28}, image=torch.from_numpy(image),
                pixel_values=pixels)
    golden.save(out)
