"""Normalizations: F.layer_norm over the last dimension, RMS norm (diffusers RMSNorm / F.rms_norm), F.group_norm.

layer_norm.safetensors  roles x, w (optional), b (optional), out; params eps, views (optional, see views.py)
rms_norm.safetensors    roles x, w (optional), out; params eps, views
group_norm.safetensors  roles x, w (optional), b (optional), out; params groups, eps, views
bf16 cases use bf16 inputs and parameters and torch's bf16 result (computed in f32 inside, rounded at the end:
precision "bf16"). Cases with bf16 parameters and f32 x are computed by torch with the parameters upcast to f32, which
is what the engine does (precision "f32").
"""
import torch
import torch.nn.functional as F

from .common import Golden, randn
from .views import viewed

BF = torch.bfloat16


def _param(seed, n, dtype=torch.float32, center=1.0):
    return (center + randn(seed, n, scale=0.3)).to(dtype)


def layer_norm(out_dir):
    g = Golden("layer_norm")

    def case(name, x, w, b, eps, views=None, precision="f32"):
        p = {"eps": eps}
        if views:
            p["views"] = views
        v = viewed(p, x=x)["x"]
        if v.dtype == torch.float32:
            w32 = None if w is None else w.float()
            b32 = None if b is None else b.float()
            ref = F.layer_norm(v, [v.shape[-1]], w32, b32, eps)
        else:
            ref = F.layer_norm(v, [v.shape[-1]], w, b, eps)
        g.case(name, p, precision=precision, x=x, w=w, b=b, out=ref)

    case("affine_2x13x67", randn(1, 2, 13, 67, scale=2.0), _param(2, 67), _param(3, 67, center=0.0), 1e-5)
    # FLUX / SD3 style: no affine parameters, eps 1e-6
    case("no_affine_eps1e-6", randn(4, 3, 7, 130), None, None, 1e-6)
    case("weight_only_13", randn(5, 5, 13), _param(6, 13), None, 1e-5)
    case("bias_only_7", randn(7, 3, 7), None, _param(8, 7, center=0.0), 1e-5)
    # mean 50 times the spread: a naive f32 E[x^2] - E[x]^2 loses the variance (much larger ratios are not
    # testable against torch at 1e-5: its own f32 result then drifts from the exact one by more than that)
    case("offset_mean_1003", randn(9, 3, 1003, scale=0.1) + 5.0, _param(10, 1003), _param(11, 1003), 1e-5)
    case("large_eps", randn(12, 4, 67, scale=0.01), None, None, 1e-2)
    case("rows_3072", randn(13, 1, 3072), _param(14, 3072), _param(15, 3072, center=0.0), 1e-6)
    # non-contiguous input: stored [67, 13], normalized as its transpose
    case("transposed_x", randn(16, 67, 13), _param(17, 67), _param(18, 67, center=0.0), 1e-5,
         views={"x": [["transpose", 0, 1]]})
    # f32 activations with bf16 weights (the checkpoint dtype)
    case("bf16_params", randn(19, 2, 13, 67), _param(20, 67, BF), _param(21, 67, BF, center=0.0), 1e-6)
    # everything bf16: torch computes in f32 and rounds the result to bf16
    case("bf16_all", randn(22, 2, 13, 67, dtype=BF), _param(23, 67, BF), _param(24, 67, BF, center=0.0), 1e-6,
         precision="bf16")
    g.save(out_dir)


def _rms_reference(x, w, eps):
    """diffusers RMSNorm.forward."""
    input_dtype = x.dtype
    variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
    h = x * torch.rsqrt(variance + eps)
    if w is not None:
        if w.dtype in (torch.float16, torch.bfloat16):
            h = h.to(w.dtype)
        return h * w
    return h.to(input_dtype)


def rms_norm(out_dir):
    g = Golden("rms_norm")

    def case(name, x, w, eps, views=None, precision="f32", upcast_weight=False):
        p = {"eps": eps}
        if views:
            p["views"] = views
        v = viewed(p, x=x)["x"]
        ref = _rms_reference(v, w.float() if upcast_weight else w, eps)
        if x.dtype == torch.float32 and w is None:
            torch.testing.assert_close(ref, F.rms_norm(v, [v.shape[-1]], None, eps))
        g.case(name, p, precision=precision, x=x, w=w, out=ref)

    # FLUX q/k norm: head dim 128, eps 1e-6
    case("qk_heads_128", randn(1, 1, 2, 13, 128, scale=3.0), _param(2, 128), 1e-6)
    case("odd_2x13x67", randn(3, 2, 13, 67), _param(4, 67), 1e-5)
    case("no_weight_1003", randn(5, 3, 1003, scale=0.1), None, 1e-6)
    case("tiny_values_eps", randn(6, 4, 7, scale=1e-3), _param(7, 7), 1e-5)
    case("transposed_x", randn(8, 67, 13), _param(9, 67), 1e-6, views={"x": [["transpose", 0, 1]]})
    # f32 activations with a bf16 weight, computed in f32 (the engine's rule)
    case("bf16_weight_f32_compute", randn(10, 2, 5, 128), _param(11, 128, BF), 1e-6, upcast_weight=True)
    # everything bf16, as diffusers computes it (rounds to bf16 before the weight multiply)
    case("bf16_all", randn(12, 2, 13, 128, dtype=BF), _param(13, 128, BF), 1e-6, precision="bf16")
    g.save(out_dir)


def group_norm(out_dir):
    g = Golden("group_norm")

    def case(name, x, groups, w, b, eps, views=None, precision="f32"):
        p = {"groups": groups, "eps": eps}
        if views:
            p["views"] = views
        v = viewed(p, x=x)["x"]
        c = v.shape[1]
        assert w is None or w.shape == (c,)
        if v.dtype == torch.float32:
            ref = F.group_norm(v, groups, None if w is None else w.float(), None if b is None else b.float(), eps)
        else:
            ref = F.group_norm(v, groups, w, b, eps)
        g.case(name, p, precision=precision, x=x, w=w, b=b, out=ref)

    # VAE style: 32 groups, eps 1e-6
    case("vae_32groups", randn(1, 2, 64, 7, 9, scale=2.0), 32, _param(2, 64), _param(3, 64, center=0.0), 1e-6)
    case("no_affine_4d", randn(4, 2, 12, 5, 5), 3, None, None, 1e-5)
    case("x3d_13", randn(5, 3, 12, 13), 4, _param(6, 12), _param(7, 12, center=0.0), 1e-5)
    case("x5d", randn(8, 1, 8, 3, 5, 7), 2, _param(9, 8), _param(10, 8, center=0.0), 1e-6)
    case("x2d", randn(11, 3, 10), 5, _param(12, 10), _param(13, 10, center=0.0), 1e-5)
    case("one_group", randn(14, 2, 6, 4, 4), 1, _param(15, 6), None, 1e-5)
    case("group_per_channel", randn(16, 2, 6, 67), 6, None, _param(17, 6, center=0.0), 1e-5)
    case("offset_mean", randn(18, 1, 8, 13, 17, scale=0.1) + 5.0, 4, _param(19, 8), _param(20, 8), 1e-6)
    # channels-last storage [N, H, W, C] seen as [N, C, H, W]: a permuted, non-contiguous input
    case("channels_last", randn(21, 2, 5, 7, 64), 32, _param(22, 64), _param(23, 64, center=0.0), 1e-6,
         views={"x": [["permute", [0, 3, 1, 2]]]})
    case("bf16_params", randn(24, 1, 32, 6, 6), 8, _param(25, 32, BF), _param(26, 32, BF, center=0.0), 1e-6)
    case("bf16_all", randn(27, 1, 32, 6, 6, dtype=BF), 8, _param(28, 32, BF), _param(29, 32, BF, center=0.0), 1e-6,
         precision="bf16")
    g.save(out_dir)


def generate(out_dir):
    layer_norm(out_dir)
    rms_norm(out_dir)
    group_norm(out_dir)
