"""The safetensors reader: a file written by the reference writer (safetensors.torch.save_file) with every dtype the
engine reads, including edge values (extremes, subnormals, -0.0, inf, NaN), a 0-d tensor and an empty one.

One case, "all", so the header metadata has a single key and the file's bytes are deterministic: the Java writer
must reproduce them exactly. The case parameters repeat every value as text (repr of the Python number, exact for
every dtype), an independent channel the Java test checks the decoded binary data against:
  dtypes[role] = safetensors dtype name, shapes[role] = shape, values[role] = flat row-major values as strings.
"""
import torch

from .common import Golden, gen, randn

NAMES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
         torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2", torch.int64: "I64", torch.int32: "I32",
         torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def float_edges(dtype):
    """Largest, smallest normal, smallest subnormal (both signs), -0.0 and, where the type has them, inf and NaN."""
    fi = torch.finfo(dtype)
    sub = torch.nextafter(torch.zeros(1, dtype=torch.float64 if dtype == torch.float64 else torch.float32),
                          torch.ones(1, dtype=torch.float64 if dtype == torch.float64 else torch.float32))
    v = [fi.max, -fi.max, fi.tiny, -fi.tiny, -0.0]
    t = torch.tensor(v, dtype=torch.float64).to(dtype)
    if dtype in (torch.float32, torch.float64):
        t = torch.cat([t, sub.to(dtype), -sub.to(dtype)])
    else:
        # smallest subnormals of the narrow type as bit patterns: 0...01 and the same with the sign bit set
        width = {8: torch.uint8, 16: torch.int16}[fi.bits]
        sign = 1 << (fi.bits - 1)
        neg = (sign | 1) - (2 * sign if width == torch.int16 else 0)
        t = torch.cat([t, torch.tensor([1, neg], dtype=width).view(dtype)])
    if dtype != torch.float8_e4m3fn:
        t = torch.cat([t, torch.tensor([float("inf"), float("-inf")], dtype=torch.float64).to(dtype)])
    nan = torch.tensor([float("nan")], dtype=torch.float64).to(dtype)
    return torch.cat([t, nan])


def as_text(t):
    flat = t.reshape(-1)
    if t.dtype == torch.bool:
        return ["true" if b else "false" for b in flat.tolist()]
    if t.dtype.is_floating_point:
        return [repr(v) for v in flat.to(torch.float64).tolist()]
    return [str(v) for v in flat.tolist()]


def generate(out):
    g = Golden("safetensors_dtypes")
    t = {}
    t["f64"] = torch.cat([randn(1, 11, dtype=torch.float64) * 1e3 / 7, float_edges(torch.float64)]).reshape(3, 7)
    t["f32"] = torch.cat([randn(2, 10), float_edges(torch.float32)]).reshape(4, 5)
    t["f16"] = torch.cat([randn(3, 10, scale=100.0, dtype=torch.float16), float_edges(torch.float16)]).reshape(2, 10)
    t["bf16"] = torch.cat([randn(4, 10, scale=1e5, dtype=torch.bfloat16), float_edges(torch.bfloat16)]).reshape(5, 4)
    t["f8_e4m3"] = torch.cat([randn(5, 16, scale=50.0).clamp(-448, 448).to(torch.float8_e4m3fn),
                              float_edges(torch.float8_e4m3fn)]).reshape(2, 3, 4)
    t["f8_e5m2"] = torch.cat([randn(6, 10, scale=1e3, dtype=torch.float8_e5m2),
                              float_edges(torch.float8_e5m2)]).reshape(20)
    for role, dtype, seed in (("i64", torch.int64, 7), ("i32", torch.int32, 8), ("i16", torch.int16, 9),
                              ("i8", torch.int8, 10), ("u8", torch.uint8, 11)):
        ii = torch.iinfo(dtype)
        hi = ii.max if dtype != torch.int64 else 2 ** 62
        lo = ii.min if dtype != torch.int64 else -2 ** 62
        r = torch.randint(lo, hi, (13,), generator=gen(seed), dtype=torch.int64).to(dtype)
        t[role] = torch.cat([r, torch.tensor([ii.min, ii.max, 0, 1], dtype=dtype)]).reshape(17, 1)
    t["bool"] = torch.randint(0, 2, (3, 5), generator=gen(12)).to(torch.bool)
    t["scalar_f32"] = randn(13, 1).reshape(())
    t["empty_f32"] = torch.zeros(0, 3)
    t["unit_dims_bf16"] = randn(14, 1, 1, 3, 1, dtype=torch.bfloat16)
    params = {"dtypes": {r: NAMES[v.dtype] for r, v in t.items()},
              "shapes": {r: list(v.shape) for r, v in t.items()},
              "values": {r: as_text(v) for r, v in t.items()}}
    g.case("all", params, **t)
    g.save(out)
