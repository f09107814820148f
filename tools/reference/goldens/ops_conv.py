"""2-D convolution: torch F.conv2d(x, w, bias, stride, padding, dilation=1, groups).

Cases cover odd shapes (not multiples of the vector width), strides 1/2 and asymmetric ones, padding 0/1/2, 1x1
kernels, a 14x14 stride-14 patch embedding, grouped and depthwise convolutions, bias or none, a reduction longer than
one block (K = C/groups * kh * kw > 256) and many output channels, a kernel that only fits thanks to the padding,
bf16 / f16 weights and bf16 inputs (the reference upcasts them first, exactly what the engine does, so those cases are
f32-precise), and a channels-last input that the test permutes back into a non-contiguous NCHW view.

Roles: x (or x_nhwc: [N, H, W, C], to be permuted with (0, 3, 1, 2)), w, optional bias, out.
Params: stride [sh, sw], padding [ph, pw], groups.
"""
import torch
import torch.nn.functional as F

from .common import Golden, randn


def generate(out):
    g = Golden("conv2d")
    seed = [100]

    def case(name, n, c, h, w_, o, kh, kw, stride=(1, 1), padding=(0, 0), groups=1, bias=True,
             w_dtype=torch.float32, x_dtype=torch.float32, nhwc=False):
        seed[0] += 10
        s = seed[0]
        x = randn(s, n, c, h, w_, dtype=x_dtype)
        fan_in = (c // groups) * kh * kw
        w = randn(s + 1, o, c // groups, kh, kw, dtype=w_dtype, scale=fan_in ** -0.5)
        b = randn(s + 2, o, scale=0.5) if bias else None
        ref = F.conv2d(x.float(), w.float(), b, stride=stride, padding=padding, groups=groups)
        params = {"stride": list(stride), "padding": list(padding), "groups": groups}
        tensors = {"w": w, "bias": b, "out": ref}
        if nhwc:
            tensors["x_nhwc"] = x.permute(0, 2, 3, 1)
        else:
            tensors["x"] = x
        g.case(name, params, **tensors)

    case("3x3_pad1", 2, 5, 9, 11, 7, 3, 3, padding=(1, 1))
    case("3x3_pad1_nobias", 1, 4, 13, 7, 6, 3, 3, padding=(1, 1), bias=False)
    case("3x3_stride2_pad0", 1, 6, 13, 10, 9, 3, 3, stride=(2, 2))
    case("3x3_stride2_pad1", 2, 3, 8, 9, 5, 3, 3, stride=(2, 2), padding=(1, 1))
    case("asym_stride_pad", 1, 4, 11, 12, 5, 3, 2, stride=(2, 1), padding=(0, 2))
    case("5x5_pad2", 1, 3, 10, 17, 11, 5, 5, padding=(2, 2))
    case("1x1", 2, 16, 7, 9, 13, 1, 1)
    case("1x1_stride2_nobias", 1, 10, 9, 8, 4, 1, 1, stride=(2, 2), bias=False)
    case("patch14", 1, 3, 56, 70, 24, 14, 14, stride=(14, 14))
    case("groups2", 1, 6, 8, 9, 10, 3, 3, padding=(1, 1), groups=2)
    case("groups3_1x1", 2, 9, 5, 6, 12, 1, 1, groups=3)
    case("depthwise", 2, 8, 10, 13, 8, 3, 3, padding=(1, 1), groups=8)
    case("depthwise_stride2_nobias", 1, 7, 11, 14, 7, 5, 5, stride=(2, 2), padding=(2, 2), groups=7, bias=False)
    case("depthwise_mult2", 1, 5, 9, 19, 10, 3, 3, padding=(1, 1), groups=5)
    case("kernel_needs_padding", 1, 2, 3, 3, 3, 5, 5, padding=(1, 1))
    case("long_k_bf16_w", 1, 40, 17, 19, 70, 3, 3, padding=(1, 1), w_dtype=torch.bfloat16)
    case("f16_w", 1, 12, 9, 10, 14, 3, 3, padding=(1, 1), w_dtype=torch.float16)
    case("bf16_x", 2, 6, 7, 12, 9, 3, 3, padding=(1, 1), x_dtype=torch.bfloat16)
    case("nhwc_view", 2, 5, 8, 11, 7, 3, 3, stride=(1, 2), padding=(1, 1), nhwc=True)
    g.save(out)
