"""FLUX transformer at the real width: one double-stream and one single-stream block of FLUX.1-dev's size.

diffusers 0.33.1 FluxTransformer2DModel with FLUX.1-dev's config (24 heads x 128 = 3072 wide, T5 states of 4096,
pooled CLIP of 768, 64 packed latent channels, guidance embedder, rotary axes (16, 56, 56)) but num_layers=1 and
num_single_layers=1: about 0.55 G parameters, far too many to commit. So every parameter comes from a counter-based
generator (weights() below) that the Java test implements identically (models/src/test/java/dev/likeness/models/
DeterministicWeights.java); only the config, the inputs, the expected outputs and per-tensor checksums of the
generated weights are committed.

The generator. A tensor named NAME (its diffusers key) with n elements gets the values

    seed  = CRC32(UTF-8 bytes of NAME)                   (zlib.crc32, java.util.zip.CRC32)
    x_i   = (i * 0x9E3779B9 + seed) mod 2^32            for the row-major element index i = 0 .. n-1
    h_i   = fmix32(x_i)                                 MurmurHash3's finalizer: h ^= h >>> 16; h *= 0x85EBCA6B;
                                                        h ^= h >>> 13; h *= 0xC2B2AE35; h ^= h >>> 16 (mod 2^32)
    k_i   = (h_i >>> 24) - 128                          a signed integer in [-128, 127]
    value = m_i * 2^-s                                  with, by kind of tensor:
      QK RMS-norm scales (attn.norm_q/norm_k/norm_added_q/norm_added_k.weight):
                          m_i = 128 + (k_i >> 2) (arithmetic shift, so m in [96, 159]), s = 7: values in [0.75, 1.25)
      biases (other 1-D tensors): m_i = k_i, s = 10: |value| <= 0.125
      weights [out, in]:  m_i = k_i, s = 6 + e where e is the least integer with 4^e >= in (so 2^-s is about
                          1 / (64 sqrt(in)), and the values' standard deviation, 74 * 2^-s, about 1 / sqrt(in))

Every |m| <= 256 is an integer of at most 8 significant bits, so every value is exact in bf16 and in f32: the Java
test writes the weights as bf16 and both sides compute with the very same numbers. The timestep and guidance are
chosen so that diffusers' bf16 rounding of 1000 t and 1000 g (which the Java model repeats for a bf16 checkpoint) is
exact too, so the reference is the plain f32 forward pass.

Writes under golden/flux_fullwidth/:
  config.json           the model's diffusers config (save_config), which the Java test puts next to its weights
  outputs.safetensors   one case "fullwidth": inputs hidden_states [1, 6, 64] (a 4x6 latent, 2x3 tokens, placed at
                        rows 40-41, columns 60-62 of a 64x64 token grid by its img_ids), encoder_hidden_states
                        [1, 5, 4096], pooled_projections [1, 768], timestep [1] (0.25), guidance [1] (4.0), img_ids
                        [6, 3], txt_ids [5, 3]; expected sample [1, 6, 64], double_img [1, 6, 3072], double_txt
                        [1, 5, 3072], single [1, 11, 3072]. The case's parameters hold "tensors": for every parameter
                        in state_dict order its shape, scale exponent s, the sum of all its m_i and its first four
                        m_i, so a generator mismatch is reported as such
"""
import json

import numpy as np
import torch
from diffusers import FluxPipeline, FluxTransformer2DModel

from goldens.common import Golden, randn, synthetic_draws
from goldens.models_flux import run

CONFIG = dict(patch_size=1, in_channels=64, out_channels=None, num_layers=1, num_single_layers=1,
              attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
              guidance_embeds=True, axes_dims_rope=(16, 56, 56))
ROWS, COLS = 2, 3
TEXT = 5
QK_NORMS = ("norm_q.weight", "norm_k.weight", "norm_added_q.weight", "norm_added_k.weight")


def exponent(name, shape):
    """The scale exponent s of the tensor (see the module docstring)."""
    if name.endswith(QK_NORMS):
        return 7
    if len(shape) == 1:
        return 10
    if len(shape) != 2:
        raise ValueError(f"{name}: no generator rule for shape {shape}")
    e = 0
    while 4 ** e < shape[1]:
        e += 1
    return 6 + e


def mantissas(name, n):
    """The integers m_i (int64) of the tensor NAME with n elements."""
    k = synthetic_draws(name, n)
    return 128 + (k >> 2) if name.endswith(QK_NORMS) else k


def weights(model):
    """Fills every parameter from the generator; returns the per-tensor checksums for the golden."""
    sums = {}
    with torch.no_grad():
        for name, p in model.state_dict(keep_vars=True).items():
            s = exponent(name, tuple(p.shape))
            m = mantissas(name, p.numel())
            value = torch.from_numpy(np.ldexp(m.astype(np.float64), -s).astype(np.float32)).view(p.shape)
            if not torch.equal(value.to(torch.bfloat16).float(), value):
                raise ValueError(f"{name}: generated values are not exact in bf16")
            p.copy_(value)
            sums[name] = dict(shape=list(p.shape), exponent=s, sum=int(m.sum()), first=[int(v) for v in m[:4]])
    return sums


def generate(out_dir):
    folder = out_dir / "flux_fullwidth"
    folder.mkdir(parents=True, exist_ok=True)
    with torch.device("meta"):
        model = FluxTransformer2DModel(**CONFIG)
    model = model.to_empty(device="cpu").eval()
    if list(model.buffers()):
        raise ValueError("the model has buffers the generator does not fill")
    checksums = weights(model)
    model.save_config(folder)

    timestep, guidance = torch.tensor([0.25]), torch.tensor([4.0])
    for v in (timestep, guidance):
        if not torch.equal((v.to(torch.bfloat16) * 1000).float(), v * 1000):
            raise ValueError(f"{v}: 1000 v must be exact in bf16")
    latents = randn(40, 1, 16, 2 * ROWS, 2 * COLS)
    x = dict(
        hidden_states=FluxPipeline._pack_latents(latents, 1, 16, 2 * ROWS, 2 * COLS),
        encoder_hidden_states=randn(41, 1, TEXT, CONFIG["joint_attention_dim"]),
        pooled_projections=randn(42, 1, CONFIG["pooled_projection_dim"]),
        timestep=timestep,
        # a patch away from the origin, so that the rotary tables' far positions are used
        img_ids=FluxPipeline._prepare_latent_image_ids(1, ROWS, COLS, "cpu", torch.float32)
        + torch.tensor([0.0, 40.0, 60.0]),
        txt_ids=torch.stack([torch.zeros(TEXT), torch.arange(TEXT) % 3, torch.arange(TEXT) // 3], dim=1).float(),
    )
    golden = Golden("outputs")
    golden.case("fullwidth", {"config": "config.json", "tensors": checksums}, **run(model, guidance, x))
    golden.save(folder)
    total = sum(p.numel() for p in model.parameters())
    print(f"flux_fullwidth: {total} parameters; "
          + json.dumps({p.name: p.stat().st_size for p in sorted(folder.iterdir())}))
