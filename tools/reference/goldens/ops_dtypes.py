"""Storage dtype conversions: torch's f32 -> bf16 / f16 / f8 (e4m3fn, e5m2) rounding, bit for bit."""
import torch

from .common import Golden, randn


def edge_values():
    v = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, 3.0, 448.0, 464.0, 465.0, 479.0, 480.0, 500.0, -470.0,
         57344.0, 61439.0, 61440.0, 65504.0, 70000.0, 1e-3, 1e-5, 1e-8, 2.0 ** -6, 2.0 ** -9, 2.0 ** -10,
         2.0 ** -16, 2.0 ** -17, 3e38, -3e38, float("inf"), float("-inf"), 1.00390625, 1.01171875, 1.0078125,
         0.1, 0.2, 0.3, 3.14159, -2.71828, 1024.5, 1e4, 6.1e-5, 5.96e-8, 2.98e-8]
    return torch.tensor(v, dtype=torch.float32)


def generate(out):
    g = Golden("dtypes")
    x = torch.cat([edge_values(), randn(1, 1000, scale=3.0), randn(2, 1000, scale=300.0),
                   randn(3, 1000, scale=1e-3)])
    g.case("convert", {}, x=x, bf16=x.to(torch.bfloat16), f16=x.to(torch.float16),
           e4m3=x.to(torch.float8_e4m3fn), e5m2=x.to(torch.float8_e5m2))
    # decoding: every byte pattern of the f8 types, every bf16 from a random draw
    allbytes = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    g.case("decode", {}, e4m3=allbytes.view(torch.float8_e4m3fn), e4m3_f32=allbytes.view(torch.float8_e4m3fn).float(),
           e5m2=allbytes.view(torch.float8_e5m2), e5m2_f32=allbytes.view(torch.float8_e5m2).float())
    g.save(out)
