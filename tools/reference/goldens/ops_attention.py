"""Attention and softmax: F.scaled_dot_product_attention and torch.softmax.

attention.safetensors, roles q, k, v, mask (optional), out. Parameters:
  scale   the scale passed to torch, or 0 for the default 1/sqrt(D)
  layout  "bhsd": q/k/v stored as [B, H, L, D]; "bshd": stored as [B, L, H, D] (the way a projection produces
          them) and the test permutes them to [B, H, L, D] with permute(0, 2, 1, 3), i.e. non-contiguous views
bf16 cases also hold out_f32, torch's f32 result for the same bf16-valued inputs (the engine computes in f32).
softmax.safetensors, roles x, out. Parameters: dim, and transpose=true when the test must transpose x's last two
dimensions (a non-contiguous view) before calling softmax; bf16 cases also hold out_f32 (softmax of x.float()).
"""
import torch
import torch.nn.functional as F

from .common import Golden, gen, randn


def _qkv(seed, b, h, lq, lk, d, dv, layout, dtype):
    shapes = {"q": (b, h, lq, d), "k": (b, h, lk, d), "v": (b, h, lk, dv)}
    out = {}
    for i, (role, shape) in enumerate(shapes.items()):
        t = randn(seed + i, *shape, dtype=dtype)
        out[role] = t
    stored = {role: (t.permute(0, 2, 1, 3) if layout == "bshd" else t) for role, t in out.items()}
    return out, stored


def _neg_inf_where(mask_bool):
    return torch.zeros(mask_bool.shape).masked_fill(mask_bool, float("-inf"))


def attention(out_dir):
    g = Golden("attention")

    def case(name, seed, b, h, lq, lk, d, dv, mask=None, scale=0.0, layout="bhsd", dtype=torch.float32):
        x, stored = _qkv(seed, b, h, lq, lk, d, dv, layout, dtype)
        if mask is not None and dtype != torch.float32 and mask.dtype != torch.bool:
            mask = mask.to(dtype)
        sdpa_scale = None if scale == 0.0 else scale
        ref = F.scaled_dot_product_attention(x["q"], x["k"], x["v"], attn_mask=mask, scale=sdpa_scale)
        precision = "f32" if dtype == torch.float32 else "bf16"
        # low-precision cases also carry the f32 result for the same (rounded) inputs: "out_f32"
        ref_f32 = None
        if dtype != torch.float32:
            fmask = mask if mask is None or mask.dtype == torch.bool else mask.float()
            ref_f32 = F.scaled_dot_product_attention(x["q"].float(), x["k"].float(), x["v"].float(),
                                                     attn_mask=fmask, scale=sdpa_scale)
        g.case(name, {"scale": scale, "layout": layout}, precision=precision,
               q=stored["q"], k=stored["k"], v=stored["v"], mask=mask, out=ref, out_f32=ref_f32)

    # SigLIP-like head size, default scale, projection layout (non-contiguous in Java)
    case("siglip_bshd", 10, 1, 2, 13, 77, 72, 72, layout="bshd")
    # many query and key tiles, odd sizes, key-padding mask [B, 1, 1, Lk], explicit scale
    case("tiles_300x700", 20, 1, 1, 300, 700, 24, 16, mask=randn(23, 1, 1, 1, 700), scale=0.3)
    # D=128 with Dv=64 and a padding mask of -inf on random keys
    case("d128_dv64_padmask", 30, 2, 1, 37, 70, 128, 64,
         mask=_neg_inf_where(torch.rand(2, 1, 1, 70, generator=gen(33)) < 0.3))
    # a 2-D additive mask [Lq, Lk] broadcast over batch and heads
    case("mask_2d", 40, 2, 2, 37, 45, 24, 24, mask=randn(43, 37, 45, scale=2.0), scale=0.125)
    # a per-head mask [1, H, Lq, Lk], and a 3-D one [H, Lq, Lk] (right-aligned broadcasting)
    case("mask_heads_4d", 50, 2, 3, 20, 33, 16, 16, mask=randn(53, 1, 3, 20, 33))
    case("mask_3d", 55, 1, 3, 9, 19, 8, 5, mask=randn(58, 3, 9, 19))
    # rows masked entirely (torch 2.6 returns zeros for them) and rows whose first key tiles are all masked
    m = torch.zeros(11, 150)
    m[2, :] = float("-inf")
    m[5, :] = float("-inf")
    m[7, :140] = float("-inf")
    m[8, :64] = float("-inf")
    m[9, 1:] = float("-inf")
    case("fully_masked_rows", 60, 1, 2, 11, 150, 16, 16, mask=m)
    # boolean mask (True takes part), broadcast [Lq, Lk]
    case("bool_mask", 70, 1, 2, 6, 21, 8, 8, mask=torch.rand(6, 21, generator=gen(73)) < 0.7)
    # a single key
    case("one_key", 80, 1, 1, 5, 1, 8, 3)
    # bf16 inputs in projection layout, self-attention, with a bf16 additive mask
    case("bf16_bshd", 90, 1, 2, 100, 100, 48, 48, layout="bshd", dtype=torch.bfloat16,
         mask=randn(93, 1, 1, 100, 100))
    # bf16 with D=128 and the default scale, no mask
    case("bf16_d128", 100, 1, 1, 33, 70, 128, 128, dtype=torch.bfloat16)
    g.save(out_dir)


def softmax(out_dir):
    g = Golden("softmax")

    def case(name, x, dim, transpose=False, precision="f32"):
        xx = x.transpose(-1, -2) if transpose else x
        ref_f32 = torch.softmax(xx.float(), dim) if x.dtype != torch.float32 else None
        g.case(name, {"dim": dim, "transpose": transpose}, precision=precision, x=x,
               out=torch.softmax(xx, dim), out_f32=ref_f32)

    case("last_7x130", randn(1, 7, 130), -1)
    case("last_large_5x67", randn(2, 5, 67, scale=30.0), 1)
    case("first_13x9x7", randn(3, 13, 9, 7), 0)
    case("middle_4x19x21", randn(4, 4, 19, 21, scale=3.0), 1)
    case("negative_dim_3x33x5", randn(5, 3, 33, 5), -2)
    case("transposed_67x5", randn(6, 67, 5), -1, transpose=True)
    x = randn(7, 6, 40)
    x[1, 3] = float("-inf")
    x[2, :20] = float("-inf")
    x[4, :] = float("-inf")  # a row of -inf: torch gives NaN
    case("neg_inf", x, -1)
    case("bf16_4x300", randn(8, 4, 300, dtype=torch.bfloat16), -1, precision="bf16")
    case("vector_1d", randn(9, 37), 0)
    g.save(out_dir)


def generate(out_dir):
    attention(out_dir)
    softmax(out_dir)
