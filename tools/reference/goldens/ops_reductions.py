"""Reductions over one dimension: torch mean(dim, keepdim) and var(dim, correction=, keepdim=).

mean.safetensors  roles x, out; params dim, keepdim, views (optional, see views.py)
var.safetensors   roles x, out; params dim, correction, keepdim, views
"""
import warnings

import torch

from .common import Golden, randn
from .views import viewed


def generate(out_dir):
    mean = Golden("mean")
    var = Golden("var")

    def case(name, x, dim, keepdim, corrections=(0, 1), views=None, precision="f32"):
        p = {"dim": dim, "keepdim": keepdim}
        if views:
            p["views"] = views
        v = viewed(p, x=x)["x"]
        mean.case(name, p, precision=precision, x=x, out=v.mean(dim, keepdim=keepdim))
        for c in corrections:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # degrees of freedom <= 0: torch returns nan / inf, on purpose
                ref = v.var(dim, correction=c, keepdim=keepdim)
            var.case(f"{name}_c{c}", dict(p, correction=c), precision=precision, x=x, out=ref)

    x = randn(1, 5, 7, 13)
    case("d0", x, 0, False)
    case("d1_keep", x, 1, True)
    case("d2", x, 2, False)
    case("dneg1_keep", x, -1, True)
    case("dneg3", x, -3, True)
    case("4d_d2", randn(2, 2, 3, 67, 5), 2, False, corrections=(1, 2))
    # long rows with a large mean (stability), and a long column reduction
    case("offset_rows_1003", randn(3, 3, 1003, scale=0.01) + 100.0, -1, False)
    case("columns_1003", randn(4, 1003, 3) - 7.0, 0, True)
    # non-contiguous inputs
    case("transposed", randn(5, 13, 67), 1, False, views={"x": [["transpose", 0, 1]]})
    case("permuted_keep", randn(6, 7, 5, 13), 0, True, views={"x": [["permute", [2, 0, 1]]]})
    case("expanded", randn(7, 13, 1), 1, False, views={"x": [["expand", [13, 67]]]})
    # a dimension of size 1: var with correction 1 is nan in torch
    case("size1_dim", randn(8, 4, 1, 6), 1, False)
    case("bf16", randn(9, 7, 67, dtype=torch.bfloat16), 1, True, precision="bf16")
    mean.save(out_dir)
    var.save(out_dir)
