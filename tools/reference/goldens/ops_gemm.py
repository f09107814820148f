"""Matrix products: F.linear (f32 and low-precision stored weights) and torch.matmul (batched, broadcast, transposed).

linear.safetensors, roles x, w, [scale], [bias], out. Parameters:
  x_t / w_t: the tensor is stored transposed (contiguous [K, M] / [K, N]); the test transposes it back, so the engine
             sees a non-contiguous view.
  A stored low-precision weight w (bf16, f16, f8 e4m3fn, f8 e5m2, int8) with an optional f32 scale ([N] per output
  channel, or [1]) means the value w.float() * scale[:, None]; the reference is F.linear(x, that, bias) in f32
  ("f32" precision). The "bf16" cases have x, w and bias in bf16 and torch computing in bf16.

matmul.safetensors, roles a, b, out. Parameters a_t / b_t: the last two dimensions are stored swapped; the test
transposes them back (non-contiguous operands).
"""
import torch
import torch.nn.functional as F

from .common import Golden, gen, randn


def _int8(seed, *shape):
    return torch.randint(-127, 128, shape, generator=gen(seed), dtype=torch.int32).to(torch.int8)


def linear(out):
    g = Golden("linear")

    def f32(name, m_shape, k, n, bias=True, seed=0, x_t=False, w_t=False):
        x = randn(100 + seed, *m_shape, k)
        w = randn(200 + seed, n, k, scale=k ** -0.5)
        b = randn(300 + seed, n) if bias else None
        ref = F.linear(x, w, b)
        params = {"x_t": x_t, "w_t": w_t}
        g.case(name, params, x=x.transpose(-1, -2) if x_t else x, w=w.t() if w_t else w, bias=b, out=ref)

    f32("odd_bias", (7,), 13, 67, seed=1)
    f32("odd_nobias", (130,), 257, 129, bias=False, seed=2)
    f32("blocks", (9,), 790, 26, seed=3)            # K spans several K blocks
    f32("x3d", (2, 5), 33, 40, seed=4)
    f32("x1d", (), 19, 23, seed=5)
    f32("few_rows", (3,), 70, 45, seed=6)             # the matrix-vector path (up to 4 rows)
    f32("four_rows", (2, 2), 37, 29, seed=11)
    f32("one_row_nobias", (1,), 100, 33, bias=False, seed=7)
    f32("x_transposed", (37,), 29, 50, seed=8, x_t=True)
    f32("w_transposed", (11,), 29, 50, seed=9, w_t=True)
    f32("round", (32,), 64, 32, seed=10)

    def stored(name, dtype, m, k, n, scale=None, bias=True, seed=0):
        x = randn(400 + seed, m, k)
        if dtype == torch.int8:
            w = _int8(500 + seed, n, k)
        else:
            w = randn(500 + seed, n, k, scale=(k ** -0.5) if scale is None else 1.0).to(dtype)
        s = None
        value = w.float()
        if scale == "row":
            s = (torch.rand(n, generator=gen(600 + seed)) + 0.5) * (k ** -0.5) / (16.0 if dtype == torch.int8 else 1.0)
            value = value * s[:, None]
        elif scale == "one":
            s = torch.tensor([0.37]) * (k ** -0.5)
            value = value * s
        b = randn(700 + seed, n) if bias else None
        g.case(name, {"dtype": str(dtype).replace("torch.", ""), "scale": scale or "none"},
               x=x, w=w, scale=s, bias=b, out=F.linear(x, value, b))

    stored("w_bf16", torch.bfloat16, 37, 131, 67, seed=1)
    stored("w_bf16_few_rows", torch.bfloat16, 2, 131, 67, seed=2)
    stored("w_f16", torch.float16, 33, 70, 45, seed=3)
    stored("w_e4m3_row_scale", torch.float8_e4m3fn, 40, 96, 70, scale="row", seed=4)
    stored("w_e4m3_few_rows", torch.float8_e4m3fn, 1, 96, 70, scale="row", seed=5)
    stored("w_e5m2", torch.float8_e5m2, 21, 50, 37, seed=6)
    stored("w_e5m2_one_scale", torch.float8_e5m2, 21, 50, 37, scale="one", bias=False, seed=7)
    stored("w_int8_row_scale", torch.int8, 50, 130, 67, scale="row", seed=8)

    for name, m_shape, k, n, seed in (("bf16_compute", (40,), 100, 50, 11), ("bf16_compute_3d", (2, 9), 48, 31, 12),
                                      ("bf16_compute_few_rows", (2,), 64, 40, 13)):
        x = randn(800 + seed, *m_shape, k, dtype=torch.bfloat16)
        w = randn(900 + seed, n, k, scale=k ** -0.5, dtype=torch.bfloat16)
        b = randn(1000 + seed, n, dtype=torch.bfloat16)
        g.case(name, {"x_t": False, "w_t": False}, precision="bf16", x=x, w=w, bias=b, out=F.linear(x, w, b))
    g.save(out)


def matmul(out):
    g = Golden("matmul")

    def case(name, a_shape, b_shape, seed, a_t=False, b_t=False, dtype=torch.float32, precision="f32"):
        a = randn(1100 + seed, *a_shape, dtype=dtype)
        b = randn(1200 + seed, *b_shape, dtype=dtype)
        ref = torch.matmul(a, b)
        g.case(name, {"a_t": a_t, "b_t": b_t}, precision=precision,
               a=a.transpose(-1, -2) if a_t else a, b=b.transpose(-1, -2) if b_t else b, out=ref)

    case("odd", (7, 13), (13, 67), 1)
    case("odd_large", (50, 100), (100, 70), 2)
    case("batched_broadcast", (2, 3, 19, 21), (3, 21, 35), 3)
    case("batch_one", (4, 17, 30), (1, 30, 26), 4)
    case("a_transposed", (37, 29), (29, 50), 5, a_t=True)
    case("b_transposed", (2, 2, 33, 16), (2, 2, 16, 40), 6, b_t=True)   # q @ k^T
    case("both_transposed", (2, 45, 70), (2, 70, 20), 7, a_t=True, b_t=True)
    case("vec_mat", (23,), (23, 31), 8)
    case("mat_vec", (2, 9, 23), (23,), 9)
    case("vec_vec", (40,), (40,), 10)
    case("vec_batched", (23,), (3, 23, 31), 11)
    case("round", (2, 32, 32), (2, 32, 32), 12)
    case("bf16", (2, 3, 40, 24), (3, 24, 50), 13, dtype=torch.bfloat16, precision="bf16")
    g.save(out)


def generate(out):
    linear(out)
    matmul(out)
