"""FLUX transformer goldens: diffusers 0.33.1 FluxTransformer2DModel with a tiny random config.

Writes under golden/flux/:
  model/         the diffusers folder (config.json + diffusion_pytorch_model-0000N-of-0000M.safetensors and its index:
                 saved in small shards so the sharded loading path is exercised), guidance_embeds true
  model_no_guidance/  the same architecture without the guidance embedder (FLUX.1-schnell style), one file
  bfl/flux.safetensors  model's weights in the Black Forest Labs single-file layout (fused qkv, linear1/linear2,
                 img_mod/txt_mod, final_layer with its (shift, scale) order), written by the inverse of diffusers'
                 convert_flux_transformer_checkpoint_to_diffusers, with the "model.diffusion_model." prefix
  outputs.safetensors  cases:
    guidance     model: packed latents [2, 16, 16] (an 8x8 latent of 4 channels), T5-like states [2, 7, 32], pooled
                 [2, 24], timestep [2] (already /1000), guidance [2], img_ids [16, 3], txt_ids [7, 3]; expected
                 sample, the image and text hidden states after the double-stream stack (double_img, double_txt) and
                 the concatenated [text, image] states after the single-stream stack (single)
    no_guidance  model_no_guidance on the same inputs without guidance
    bf16_weights model_bf16 (model's weights rounded to bf16) computed by torch in f32 with the weights upcast, as the
                 engine computes, except for what diffusers does in the model's dtype before the embedders:
                 timestep.to(bf16) * 1000 and guidance.to(bf16) * 1000 are rounded to bf16 (guidance 3.5 becomes
                 3504); those rounded values are passed here divided by 1000, the inputs are the unrounded ones
  packing.safetensors  case "latents": FluxPipeline._pack_latents of latents [2, 4, 8, 6] (packed) and
                 _prepare_latent_image_ids(4, 3) (image_ids)
"""
import json

import torch
from diffusers import FluxPipeline, FluxTransformer2DModel
from safetensors.torch import save_file

from goldens.common import Golden, gen, randn

CONFIG = dict(patch_size=1, in_channels=16, out_channels=None, num_layers=2, num_single_layers=2,
              attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=24,
              axes_dims_rope=(4, 6, 6))
BATCH = 2
TEXT = 7


def tiny_model(guidance):
    torch.manual_seed(0)
    model = FluxTransformer2DModel(guidance_embeds=guidance, **CONFIG).eval()
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(model.named_parameters())):
            g = gen(300 + i)
            if "norm_q" in name or "norm_k" in name or "norm_added" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    return model


def bfl_state_dict(sd, config):
    """The inverse of diffusers' convert_flux_transformer_checkpoint_to_diffusers."""
    out = {}

    def put(bfl, *diffusers_keys):
        for suffix in ("weight", "bias"):
            keys = [f"{k}.{suffix}" for k in diffusers_keys]
            if all(k in sd for k in keys):
                out[f"model.diffusion_model.{bfl}.{suffix}"] = torch.cat([sd.pop(k) for k in keys], dim=0)

    put("img_in", "x_embedder")
    put("txt_in", "context_embedder")
    put("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1")
    put("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2")
    put("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1")
    put("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2")
    put("vector_in.in_layer", "time_text_embed.text_embedder.linear_1")
    put("vector_in.out_layer", "time_text_embed.text_embedder.linear_2")
    for i in range(config.num_layers):
        d, b = f"transformer_blocks.{i}", f"double_blocks.{i}"
        put(f"{b}.img_mod.lin", f"{d}.norm1.linear")
        put(f"{b}.txt_mod.lin", f"{d}.norm1_context.linear")
        put(f"{b}.img_attn.qkv", f"{d}.attn.to_q", f"{d}.attn.to_k", f"{d}.attn.to_v")
        put(f"{b}.txt_attn.qkv", f"{d}.attn.add_q_proj", f"{d}.attn.add_k_proj", f"{d}.attn.add_v_proj")
        out[f"model.diffusion_model.{b}.img_attn.norm.query_norm.scale"] = sd.pop(f"{d}.attn.norm_q.weight")
        out[f"model.diffusion_model.{b}.img_attn.norm.key_norm.scale"] = sd.pop(f"{d}.attn.norm_k.weight")
        out[f"model.diffusion_model.{b}.txt_attn.norm.query_norm.scale"] = sd.pop(f"{d}.attn.norm_added_q.weight")
        out[f"model.diffusion_model.{b}.txt_attn.norm.key_norm.scale"] = sd.pop(f"{d}.attn.norm_added_k.weight")
        put(f"{b}.img_attn.proj", f"{d}.attn.to_out.0")
        put(f"{b}.txt_attn.proj", f"{d}.attn.to_add_out")
        put(f"{b}.img_mlp.0", f"{d}.ff.net.0.proj")
        put(f"{b}.img_mlp.2", f"{d}.ff.net.2")
        put(f"{b}.txt_mlp.0", f"{d}.ff_context.net.0.proj")
        put(f"{b}.txt_mlp.2", f"{d}.ff_context.net.2")
    for i in range(config.num_single_layers):
        d, b = f"single_transformer_blocks.{i}", f"single_blocks.{i}"
        put(f"{b}.modulation.lin", f"{d}.norm.linear")
        put(f"{b}.linear1", f"{d}.attn.to_q", f"{d}.attn.to_k", f"{d}.attn.to_v", f"{d}.proj_mlp")
        out[f"model.diffusion_model.{b}.norm.query_norm.scale"] = sd.pop(f"{d}.attn.norm_q.weight")
        out[f"model.diffusion_model.{b}.norm.key_norm.scale"] = sd.pop(f"{d}.attn.norm_k.weight")
        put(f"{b}.linear2", f"{d}.proj_out")
    for suffix in ("weight", "bias"):
        scale, shift = sd.pop(f"norm_out.linear.{suffix}").chunk(2, dim=0)
        out[f"model.diffusion_model.final_layer.adaLN_modulation.1.{suffix}"] = torch.cat([shift, scale], dim=0)
    put("final_layer.linear", "proj_out")
    if sd:
        raise ValueError(f"unmapped diffusers keys: {sorted(sd)}")
    return {k: v.contiguous() for k, v in out.items()}


def inputs():
    h, w = 8, 8
    latents = randn(10, BATCH, 4, h, w)
    return dict(
        hidden_states=FluxPipeline._pack_latents(latents, BATCH, 4, h, w),
        encoder_hidden_states=randn(11, BATCH, TEXT, CONFIG["joint_attention_dim"]),
        pooled_projections=randn(12, BATCH, CONFIG["pooled_projection_dim"]),
        timestep=torch.tensor([0.75, 0.3125]),
        img_ids=FluxPipeline._prepare_latent_image_ids(BATCH, h // 2, w // 2, "cpu", torch.float32),
        # the pipeline's text ids are zeros; distinct ones check that text positions are rotated too
        txt_ids=torch.stack([torch.zeros(TEXT), torch.arange(TEXT) % 3, torch.arange(TEXT) // 3], dim=1).float(),
    )


def run(model, guidance, x):
    captured = {}
    hooks = [
        model.transformer_blocks[-1].register_forward_hook(
            lambda m, a, out: captured.update(double_txt=out[0], double_img=out[1])),
        model.single_transformer_blocks[-1].register_forward_hook(lambda m, a, out: captured.update(single=out)),
    ]
    with torch.no_grad():
        sample = model(guidance=guidance, return_dict=False, **x)[0]
    for h in hooks:
        h.remove()
    return dict(x, guidance=guidance, sample=sample, **captured)


def generate(out_dir):
    folder = out_dir / "flux"
    x = inputs()
    golden = Golden("outputs")

    model = tiny_model(True)
    model.save_pretrained(folder / "model", safe_serialization=True, max_shard_size="200KB")
    golden.case("guidance", {"model": "model"}, **run(model, torch.tensor([3.5, 1.25]), x))
    (folder / "bfl").mkdir(parents=True, exist_ok=True)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    save_file(bfl_state_dict(sd, model.config), str(folder / "bfl" / "flux.safetensors"))

    low = tiny_model(True).to(torch.bfloat16)
    low.save_pretrained(folder / "model_bf16", safe_serialization=True)
    guidance = torch.tensor([3.5, 1.25])
    as_bf16 = lambda v: (v.to(torch.bfloat16) * 1000).float() / 1000  # noqa: E731 (bf16 product, as in diffusers)
    rounded = run(low.float(), as_bf16(guidance), dict(x, timestep=as_bf16(x["timestep"])))
    unrounded = run(low.float(), guidance, x)["sample"]
    effect = ((rounded["sample"] - unrounded).norm() / unrounded.norm()).item()
    print(f"flux: rounding timestep and guidance to bf16 changes the output by {effect:.3g}")
    if effect < 1e-3:
        raise ValueError("the bf16 case must be sensitive to the timestep rounding")
    golden.case("bf16_weights", {"model": "model_bf16"}, **dict(rounded, timestep=x["timestep"], guidance=guidance))

    plain = tiny_model(False)
    plain.save_pretrained(folder / "model_no_guidance", safe_serialization=True)
    golden.case("no_guidance", {"model": "model_no_guidance"}, **run(plain, None, x))
    golden.save(folder)

    packing = Golden("packing")
    latents = randn(20, 2, 4, 8, 6)
    packing.case("latents", {"height": 8, "width": 6}, latents=latents,
                 packed=FluxPipeline._pack_latents(latents, 2, 4, 8, 6),
                 image_ids=FluxPipeline._prepare_latent_image_ids(2, 4, 3, "cpu", torch.float32))
    packing.save(folder)
    print(json.dumps({p.name: p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}))
