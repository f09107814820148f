"""Positions: FLUX rotary embedding (apply_rotary_emb, FluxPosEmbed) and diffusers' get_timestep_embedding.

rope.safetensors, roles x, cos, sin, out; parameter layout "bhsd" (x stored as [B, H, S, D]) or "bshd" (stored as
[B, S, H, D]; the test permutes it to [B, H, S, D], a non-contiguous view); bf16 cases also hold out_f32.
rope_frequencies.safetensors, roles ids, cos, sin; parameters axes_dim, theta.
timestep_embedding.safetensors, roles t, out; parameters dim, flip_sin_to_cos, downscale_freq_shift, scale,
max_period.
"""
import torch
from diffusers.models.embeddings import FluxPosEmbed, apply_rotary_emb, get_timestep_embedding

from .common import Golden, gen, randn

FLUX_AXES = [16, 56, 56]


def flux_ids(seed, text_tokens, image_tokens, grid=64):
    """Text ids (zeros) followed by image ids (0, row, col) drawn from a grid x grid latent, as the pipeline builds."""
    cells = torch.randperm(grid * grid, generator=gen(seed))[:image_tokens].sort().values
    img = torch.zeros(image_tokens, 3)
    img[:, 1] = (cells // grid).float()
    img[:, 2] = (cells % grid).float()
    return torch.cat([torch.zeros(text_tokens, 3), img])


def rope(out_dir):
    g = Golden("rope")

    def case(name, x, cos, sin, layout="bhsd", precision="f32"):
        out = apply_rotary_emb(x, (cos, sin), use_real=True, use_real_unbind_dim=-1)
        # torch rounds a bf16 result to bf16; out_f32 is the same arithmetic kept in f32
        out_f32 = apply_rotary_emb(x.float(), (cos, sin), use_real=True, use_real_unbind_dim=-1) \
            if x.dtype != torch.float32 else None
        stored = x.permute(0, 2, 1, 3) if layout == "bshd" else x
        g.case(name, {"layout": layout}, precision=precision, x=stored, cos=cos, sin=sin, out=out, out_f32=out_f32)

    cos, sin = FluxPosEmbed(10000, FLUX_AXES)(flux_ids(1, 5, 19))
    case("flux_d128", randn(2, 1, 2, 24, 128), cos, sin)
    case("flux_d128_bshd", randn(3, 2, 2, 24, 128), cos, sin, layout="bshd")
    case("flux_d128_bf16", randn(4, 1, 2, 24, 128, dtype=torch.bfloat16), cos, sin, precision="bf16")
    # a head size that is not a multiple of the vector width, random tables
    case("d10", randn(5, 2, 3, 7, 10), randn(6, 7, 10), randn(7, 7, 10))
    case("d2", randn(8, 1, 1, 4, 2), randn(9, 4, 2), randn(10, 4, 2))
    g.save(out_dir)


def rope_frequencies(out_dir):
    g = Golden("rope_frequencies")

    def case(name, ids, axes_dim, theta):
        cos, sin = FluxPosEmbed(theta, axes_dim)(ids)
        g.case(name, {"axes_dim": axes_dim, "theta": theta}, ids=ids, cos=cos, sin=sin)

    ids = flux_ids(2, 7, 93)
    case("flux_f32_ids", ids, FLUX_AXES, 10000)
    # the pipeline casts ids to the model dtype: integers up to 64 are exact in bf16
    case("flux_bf16_ids", flux_ids(3, 4, 36).to(torch.bfloat16), FLUX_AXES, 10000)
    # integer ids with large positions, small axes, another theta
    big = torch.randint(0, 5000, (9, 2), generator=gen(4), dtype=torch.int64)
    case("int64_ids_large_positions", big, [6, 10], 256)
    case("fractional_ids", torch.rand(5, 1, generator=gen(5)) * 300, [8], 10000)
    g.save(out_dir)


def timestep_embedding(out_dir):
    g = Golden("timestep_embedding")

    def case(name, t, dim, flip, shift, scale, max_period=10000):
        out = get_timestep_embedding(t, dim, flip_sin_to_cos=flip, downscale_freq_shift=shift, scale=scale,
                                     max_period=max_period)
        g.case(name, {"dim": dim, "flip_sin_to_cos": flip, "downscale_freq_shift": shift, "scale": scale,
                      "max_period": max_period}, t=t, out=out)

    # FLUX: timestep * 1000 and guidance * 1000, dim 256, flip, shift 0
    flux_t = torch.cat([torch.tensor([1000.0, 0.5 * 1000, 3.5 * 1000, 0.0, 1.0]), torch.rand(6, generator=gen(1)) * 1000])
    case("flux_256", flux_t, 256, True, 0.0, 1.0)
    # the FLUX pipeline hands the timestep over in bf16
    case("flux_256_bf16_t", flux_t.to(torch.bfloat16), 256, True, 0.0, 1.0)
    case("sd_320_shift1", torch.rand(4, generator=gen(2)) * 999, 320, False, 1.0, 1.0)
    # scheduler timesteps are often int64
    case("int64_t", torch.randint(0, 1000, (3,), generator=gen(4)), 64, True, 1.0, 1.0)
    case("odd_dim_7", torch.tensor([3.0, 250.5, 999.0]), 7, True, 0.0, 2.5)
    case("odd_dim_33_period_1000", torch.rand(3, generator=gen(3)) * 50, 33, False, 0.5, 1.0, max_period=1000)
    g.save(out_dir)


def generate(out_dir):
    rope(out_dir)
    rope_frequencies(out_dir)
    timestep_embedding(out_dir)
