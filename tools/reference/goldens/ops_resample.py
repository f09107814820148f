"""Resampling: torch F.interpolate with mode "nearest" (legacy), "bilinear" and "bicubic" (align_corners True/False,
antialias True/False).

upsample_nearest: one output per case (role out), params size [outH, outW].
interpolate: each case holds one input and the outputs of every mode x align_corners x antialias combination
(roles "<mode>_ac<0|1>_aa<0|1>", listed in params "variants"), params size [outH, outW].

Inputs are [N, C, H, W] with N, C > 1 and sizes that go up and down, by odd ratios, keep one axis, or come from and go
to a single pixel. Views: "x_nhwc" is stored [N, H, W, C] and permuted back with (0, 3, 1, 2); "x_wide" is sliced with
step 2 along W. bf16 inputs: torch resamples bf16 natively without antialias (precision "bf16", torch rounds the result
and its bilinear/bicubic weights to bf16); torch has no bf16 antialias kernel, so that case's reference resamples the
upcast input (exactly what the engine does: precision "f32").
"""
import torch
import torch.nn.functional as F

from .common import Golden, randn

MODES = ("bilinear", "bicubic")


def variant_name(mode, ac, aa):
    return f"{mode}_ac{int(ac)}_aa{int(aa)}"


def generate(out):
    nearest(out)
    interpolate(out)


def stored(x, view):
    """The tensors a case stores for input x under a view kind."""
    if view == "nhwc":
        return {"x_nhwc": x.permute(0, 2, 3, 1)}
    if view == "wide":
        wide = torch.zeros(*x.shape[:-1], 2 * x.shape[-1] - 1, dtype=x.dtype)
        wide[..., ::2] = x
        wide[..., 1::2] = 1e3  # poison: must never be read
        return {"x_wide": wide}
    return {"x": x}


def nearest(out):
    g = Golden("upsample_nearest")
    seed = 500
    for (n, c, h, w, oh, ow, dtype, view) in [
        (2, 3, 4, 5, 8, 10, torch.float32, None),
        (2, 2, 7, 13, 13, 7, torch.float32, None),
        (1, 3, 37, 27, 27, 37, torch.float32, None),
        (2, 2, 5, 5, 5, 5, torch.float32, None),
        (2, 2, 1, 4, 4, 1, torch.float32, None),
        (1, 2, 3, 7, 9, 21, torch.float32, None),
        (2, 3, 10, 10, 3, 7, torch.float32, None),
        (1, 2, 64, 23, 100, 31, torch.float32, None),
        (2, 3, 6, 9, 12, 18, torch.bfloat16, None),
        (2, 3, 6, 9, 12, 18, torch.float32, "nhwc"),
        (2, 2, 7, 13, 11, 20, torch.float32, "wide"),
    ]:
        seed += 1
        x = randn(seed, n, c, h, w, dtype=dtype)
        ref = F.interpolate(x, size=(oh, ow), mode="nearest")
        name = f"{h}x{w}_to_{oh}x{ow}" + (f"_{view}" if view else "") + ("_bf16" if dtype != torch.float32 else "")
        g.case(name, {"size": [oh, ow]}, precision="bf16" if dtype == torch.bfloat16 else "f32",
               out=ref, **stored(x, view))
    g.save(out)


def interpolate(out):
    g = Golden("interpolate")
    seed = 700

    def case(n, c, h, w, oh, ow, view=None, dtype=torch.float32, antialias=(False, True), suffix=""):
        nonlocal seed
        seed += 1
        x = randn(seed, n, c, h, w, dtype=dtype)
        outs = {}
        for mode in MODES:
            for ac in (False, True):
                for aa in antialias:
                    src = x if (dtype == torch.float32 or not aa) else x.float()
                    outs[variant_name(mode, ac, aa)] = F.interpolate(src, size=(oh, ow), mode=mode,
                                                                     align_corners=ac, antialias=aa)
        name = f"{h}x{w}_to_{oh}x{ow}" + (f"_{view}" if view else "") + suffix
        precision = "bf16" if (dtype == torch.bfloat16 and False in antialias) else "f32"
        g.case(name, {"size": [oh, ow], "variants": sorted(outs)}, precision=precision,
               **outs, **stored(x, view))

    case(2, 2, 7, 13, 13, 7)
    case(2, 2, 37, 37, 27, 27)
    case(1, 2, 64, 100, 23, 31)
    case(2, 2, 5, 5, 5, 5)
    case(2, 2, 1, 4, 4, 1)
    case(2, 2, 4, 1, 1, 4)
    case(2, 3, 6, 8, 6, 3)
    case(2, 2, 9, 6, 20, 6)
    case(1, 2, 11, 9, 40, 30)
    case(2, 2, 31, 29, 8, 10)
    case(2, 3, 2, 3, 7, 5)
    case(1, 3, 37, 37, 27, 27, view="nhwc")
    case(2, 2, 7, 13, 10, 9, view="wide")
    case(2, 3, 13, 7, 9, 10, dtype=torch.bfloat16, antialias=(False,), suffix="_bf16")
    case(2, 3, 13, 7, 5, 4, dtype=torch.bfloat16, antialias=(True,), suffix="_bf16_aa")
    g.save(out)
