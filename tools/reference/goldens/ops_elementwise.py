"""Elementwise ops and activations: broadcasting add/sub/mul/div, x * s + t, gelu (erf and tanh), quick-gelu, silu,
sqrt.

binary.safetensors      roles x, y, out; params op ("add", "sub", "mul", "div") and optional views (see views.py)
affine.safetensors      roles x, out; params s, t: out = x * s + t with Python scalars, as torch computes it
gelu.safetensors        roles x, out (and ref64 on the dense grid cases: the f64 result rounded to f32, for the
                        max-abs-error check); params approximate ("none" or "tanh")
quick_gelu.safetensors  roles x, out (CLIP: x * sigmoid(1.702 x))
silu.safetensors        roles x, out
sqrt.safetensors        roles x, out (non-negative x)
bf16/f16 inputs give torch's bf16/f16 results (precision "bf16"/"f16"); f32 tensors combined with bf16 ones are
promoted by torch to f32 and checked at f32 precision.
"""
import torch
import torch.nn.functional as F

from .common import Golden, randn
from .views import viewed

OPS = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}


def _away_from_zero(t):
    """A divisor: same signs, magnitudes at least 0.25."""
    return torch.where(t < 0, t - 0.25, t + 0.25)


def _precision(*ts):
    dts = {t.dtype for t in ts if t is not None}
    if torch.float32 in dts or torch.float64 in dts:
        return "f32"
    if torch.float16 in dts:
        return "f16"
    return "bf16"


def binary(out_dir):
    g = Golden("binary")

    def case(name, op, x, y, views=None):
        p = {"op": op}
        if views:
            p["views"] = views
        v = viewed(p, x=x, y=y)
        g.case(name, p, precision=_precision(v["x"], v["y"]), x=x, y=y, out=OPS[op](v["x"], v["y"]))

    # same shape, contiguous, odd sizes
    for i, op in enumerate(OPS):
        y = randn(20 + i, 13, 67)
        case(f"same_13x67_{op}", op, randn(10 + i, 13, 67), _away_from_zero(y) if op == "div" else y)
    # a bias [N] over [B, S, N]; a modulation [B, 1, N] against [B, S, N]
    case("bias_row_add", "add", randn(30, 2, 13, 67), randn(31, 67))
    case("bias_row_1003_add", "add", randn(32, 2, 1003), randn(33, 1003))
    case("modulation_mul", "mul", randn(34, 2, 13, 67), randn(35, 2, 1, 67))
    case("modulation_sub", "sub", randn(36, 2, 1, 67), randn(37, 2, 13, 67))
    # scalar tensors (0-dim and [1]) on either side
    case("scalar0d_mul", "mul", randn(40, 7, 13), randn(41, 1)[0])
    case("scalar1_div", "div", randn(42, 7, 13), _away_from_zero(randn(43, 1)))
    case("scalar_left_sub", "sub", randn(44, 1)[0], randn(45, 7, 13))
    case("scalar_left_div", "div", randn(46, 1, 1), _away_from_zero(randn(47, 5, 7)))
    # 3-D and 4-D broadcasting with size-1 dimensions on both sides, different ranks
    case("bcast3d_add", "add", randn(50, 4, 1, 13), randn(51, 1, 7, 1))
    case("bcast4d_sub", "sub", randn(52, 2, 3, 1, 7), randn(53, 3, 5, 1))
    case("bcast4d_div", "div", randn(54, 2, 1, 5, 7), _away_from_zero(randn(55, 3, 1, 1)))
    case("rank4_vs_1_mul", "mul", randn(56, 2, 3, 5, 7), randn(57, 7))
    case("column_mul", "mul", randn(58, 13, 67), randn(59, 13, 1))
    case("outer_add", "add", randn(60, 13, 1), randn(61, 1, 67))
    # non-contiguous views: permuted, transposed, strided slices, stride-0 expanded
    case("permuted_x_add", "add", randn(70, 7, 13, 5), randn(71, 5, 7, 13), {"x": [["permute", [2, 0, 1]]]})
    case("transposed_both_mul", "mul", randn(72, 67, 13), randn(73, 67, 13),
         {"x": [["transpose", 0, 1]], "y": [["transpose", 0, 1]]})
    case("sliced_x_sub", "sub", randn(74, 13, 134), randn(75, 13, 67), {"x": [["slice", 1, 1, 134, 2]]})
    case("expanded_y_add", "add", randn(76, 13, 67), randn(77, 1, 67), {"y": [["expand", [13, 67]]]})
    case("expanded_x_div", "div", randn(78, 13, 1), _away_from_zero(randn(79, 13, 67)),
         {"x": [["expand", [13, 67]]]})
    case("permuted_bcast_mul", "mul", randn(80, 67, 2, 13), randn(81, 2, 3, 67),
         {"x": [["permute", [1, 2, 0]]], "y": [["slice", 1, 1, 2, 1]]})
    # a long 1-D run (several blocks for the parallel split)
    case("long_1d_add", "add", randn(90, 5003), randn(91, 5003))
    # low-precision storage: bf16 with bf16 (torch's bf16 result), f16, and f32 with bf16 (promoted to f32)
    bf = torch.bfloat16
    case("bf16_bias_add", "add", randn(100, 13, 67, dtype=bf), randn(101, 67, dtype=bf))
    case("bf16_mul", "mul", randn(102, 7, 13, dtype=bf), randn(103, 7, 13, dtype=bf))
    case("f16_div", "div", randn(104, 7, 13, dtype=torch.float16),
         _away_from_zero(randn(105, 7, 1)).to(torch.float16))
    case("f32_bf16_add", "add", randn(106, 2, 13, 67), randn(107, 2, 1, 67, dtype=bf))
    case("bf16_f32_sub", "sub", randn(108, 13, 67, dtype=bf), randn(109, 67))
    # division by zero: inf and nan must come out where torch has them
    x = randn(110, 3, 7)
    x[0, 0] = 0.0
    case("div_by_zero", "div", x, torch.where(randn(111, 3, 7) > 0.3, 0.0, 1.5))
    g.save(out_dir)


def affine(out_dir):
    g = Golden("affine")

    def case(name, x, s, t, views=None, precision="f32"):
        p = {"s": s, "t": t}
        if views:
            p["views"] = views
        v = viewed(p, x=x)["x"]
        g.case(name, p, precision=precision, x=x, out=v * s + t)

    case("odd_13x67", randn(1, 13, 67, scale=3.0), 1.7, 0.3)
    case("scale_only_1003", randn(2, 2, 1003), 0.1, 0.0)
    case("negative_7x13", randn(3, 7, 13), -2.5, 1.0 / 3.0)
    case("transposed", randn(4, 67, 13), 0.7071067811865476, -0.1, views={"x": [["transpose", 0, 1]]})
    case("bf16_input", randn(5, 13, 67, dtype=torch.bfloat16), 1.5, 0.25, precision="bf16")
    g.save(out_dir)


def _grid():
    """[-10, 10] densely, as f32."""
    return torch.linspace(-10.0, 10.0, 4001, dtype=torch.float64).float()


def _specials():
    return torch.tensor([float("inf"), float("-inf"), float("nan"), 0.0, -0.0, 1e-30, -1e-30, 30.0, -30.0,
                         100.0, -100.0, 1e30, -1e30])


def activations(out_dir):
    gelu = Golden("gelu")
    for approximate in ("none", "tanh"):
        def case(name, x, views=None, precision="f32", ref64=False):
            p = {"approximate": approximate}
            if views:
                p["views"] = views
            v = viewed(p, x=x)["x"]
            out = F.gelu(v, approximate=approximate)
            extra = {"ref64": F.gelu(v.double(), approximate=approximate).float()} if ref64 else {}
            gelu.case(f"{name}_{approximate}", p, precision=precision, x=x, out=out, **extra)

        case("random_13x67", randn(1, 13, 67, scale=3.0))
        case("random_1003", randn(2, 2, 1003, scale=2.0))
        case("grid", _grid(), ref64=True)
        # torch's exact gelu of +inf depends on the layout (oneDNN, used for contiguous f32, gives nan; the ATen
        # kernel gives inf): that one value is left out of the erf-form case
        specials = _specials()
        case("specials", specials[1:] if approximate == "none" else specials)
        case("transposed", randn(3, 67, 13, scale=3.0), views={"x": [["transpose", 0, 1]]})
        case("bf16", randn(4, 13, 67, scale=3.0, dtype=torch.bfloat16), precision="bf16")
    gelu.save(out_dir)

    for name, fn in (("quick_gelu", lambda v: v * torch.sigmoid(1.702 * v)), ("silu", F.silu)):
        g = Golden(name)

        def case(cname, x, views=None, precision="f32"):
            p = {"views": views} if views else {}
            g.case(cname, p, precision=precision, x=x, out=fn(viewed(p, x=x)["x"]))

        case("random_13x67", randn(11, 13, 67, scale=3.0))
        case("random_1003", randn(12, 2, 1003, scale=2.0))
        case("grid", _grid())
        case("specials", _specials())
        case("sliced", randn(13, 13, 134, scale=3.0), views={"x": [["slice", 1, 0, 134, 2]]})
        case("bf16", randn(14, 13, 67, scale=3.0, dtype=torch.bfloat16), precision="bf16")
        g.save(out_dir)

    # sqrt on non-negative values (a mean of squares, in the InstantCharacter RMS norm), zero and +inf included
    g = Golden("sqrt")

    def case(cname, x, views=None, precision="f32"):
        p = {"views": views} if views else {}
        g.case(cname, p, precision=precision, x=x, out=torch.sqrt(viewed(p, x=x)["x"]))

    case("random_13x67", randn(21, 13, 67, scale=3.0).abs())
    case("random_1003", randn(22, 2, 1003, scale=2.0).square())
    case("grid", _grid().abs())
    case("specials", _specials().abs())
    case("sliced", randn(23, 13, 134, scale=3.0).abs(), views={"x": [["slice", 1, 0, 134, 2]]})
    case("bf16", randn(24, 13, 67, scale=3.0, dtype=torch.bfloat16).abs(), precision="bf16")
    g.save(out_dir)


def generate(out_dir):
    binary(out_dir)
    affine(out_dir)
    activations(out_dir)
