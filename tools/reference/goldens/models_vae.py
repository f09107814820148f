"""AutoencoderKL (the FLUX VAE) goldens: a tiny diffusers 0.33.1 AutoencoderKL with seeded, perturbed weights.

vae/<config>/config.json + diffusion_pytorch_model.safetensors: written by save_pretrained, the layout of FLUX.1-dev's
"vae" folder. Two configs:
  "flux_tiny": FLUX's structure (no quant_conv / post_quant_conv, mid-block attention, 16 latent channels, 4 blocks so
               the latent is 1/8 of the image) with small widths;
  "quant_noattn": the older SD layout (quant_conv and post_quant_conv 1x1 convs, 4 latent channels) with the
               mid-block attention switched off.

vae/cases.safetensors, one case per config with
  image [N, 3, H, W] (non-square), its encoder mid-block output "encoder_mid", the posterior "mean" and "logvar"
  (clamped), "noise" and "sample" = mean + exp(logvar / 2) * noise;
  latents [N, C, H/8, W/8] (for flux_tiny: latents as the denoiser makes them), "unscaled" = latents / scaling_factor
  + shift_factor (what FluxPipeline hands to decode), the decoder's input "decoder_in" (after post_quant_conv where
  there is one), its mid-block output "decoder_mid" and the image "decoded";
  "scaled" = (mean - shift_factor) * scaling_factor, how an encoded image enters the latent space.
"""
import json
import pathlib

import torch
from diffusers import AutoencoderKL

from goldens.common import Golden, gen, randn

CONFIGS = {
    "flux_tiny": dict(in_channels=3, out_channels=3, latent_channels=16,
                      down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                      block_out_channels=[16, 16, 32, 32], layers_per_block=1, norm_num_groups=8, act_fn="silu",
                      sample_size=32, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False,
                      use_post_quant_conv=False, mid_block_add_attention=True),
    "quant_noattn": dict(in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                         block_out_channels=[8, 16], layers_per_block=2, norm_num_groups=4, act_fn="silu",
                         sample_size=16, scaling_factor=0.18215, use_quant_conv=True, use_post_quant_conv=True,
                         mid_block_add_attention=False),
}
# (batch, image height, image width) per config; the latent is the image divided by 2^(blocks - 1)
SHAPES = {"flux_tiny": (2, 40, 32), "quant_noattn": (1, 12, 10)}


def build(name, seed):
    """The model with its default init, then every parameter perturbed (norm scales around 1, biases non-zero)."""
    torch.manual_seed(seed)
    model = AutoencoderKL(**CONFIGS[name]).eval()
    g = gen(seed + 1)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in pname and pname.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif pname.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.add_(0.02 * noise)
    return model


def seen_by(module, run):
    """The first input and the output of a submodule while run() executes."""
    seen = []
    handle = module.register_forward_hook(lambda _m, args, out: seen.append((args[0].clone(), out.clone())))
    try:
        run()
    finally:
        handle.remove()
    return seen[0]


def save_folder(model, folder):
    model.save_pretrained(str(folder), safe_serialization=True)
    config_path = folder / "config.json"
    # the diffusers version is not a property of the model: keep the file stable across versions
    config = {k: v for k, v in json.loads(config_path.read_text()).items() if k != "_diffusers_version"}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def generate(out_dir):
    out = out_dir / "vae"
    g = Golden("cases")
    for index, name in enumerate(CONFIGS):
        seed = 700 + 10 * index
        model = build(name, seed)
        save_folder(model, out / name)
        cfg = model.config
        batch, height, width = SHAPES[name]
        factor = 2 ** (len(cfg.block_out_channels) - 1)
        image = randn(seed + 2, batch, 3, height, width).clamp(-1, 1)
        latents = randn(seed + 3, batch, cfg.latent_channels, height // factor, width // factor)
        noise = randn(seed + 4, batch, cfg.latent_channels, height // factor, width // factor)
        shift = cfg.shift_factor or 0.0
        with torch.no_grad():
            posterior = model.encode(image).latent_dist
            _, encoder_mid = seen_by(model.encoder.mid_block, lambda: model.encode(image))
            sample = posterior.mean + posterior.std * noise
            unscaled = latents / cfg.scaling_factor + shift
            decoded = model.decode(unscaled).sample
            decoder_in, _ = seen_by(model.decoder, lambda: model.decode(unscaled))
            _, decoder_mid = seen_by(model.decoder.mid_block, lambda: model.decode(unscaled))
            scaled = (posterior.mean - shift) * cfg.scaling_factor
        g.case(name, dict(config=name), image=image, encoder_mid=encoder_mid, mean=posterior.mean,
               logvar=posterior.logvar, noise=noise, sample=sample, latents=latents, unscaled=unscaled,
               decoder_in=decoder_in, decoder_mid=decoder_mid, decoded=decoded, scaled=scaled)
    g.save(out)
