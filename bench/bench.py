"""numpy side of the engine benchmark, and the comparison table.

  bench.py numpy OUT.tsv [--quick] [--min-seconds S]
      Times numpy (OpenBLAS) at the shapes EngineBench uses, with whatever OPENBLAS_NUM_THREADS the caller set:
      GEMM x @ w.T for x [M, K], w [N, K] in f32, and attention for q, k, v [heads, tokens, dim] as numpy would
      write it: softmax(q @ k^T / sqrt(dim)) @ v (two batched OpenBLAS matmuls and a numpy softmax).
      Writes "case<TAB>gflops<TAB>best_ms" lines.
  bench.py table JAVA.tsv NUMPY1.tsv NUMPY2.tsv OUT.md [--meta KEY=VALUE ...]
      Prints the comparison table and writes it as Markdown.
"""
import os
import sys
import time

import numpy as np

GEMM_SHAPES = [(1024, 3072, 3072), (4608, 3072, 3072), (1024, 3072, 12288), (1024, 12288, 3072)]
QUICK_GEMM_SHAPES = [(512, 3072, 3072)]


def best_seconds(fn, min_seconds):
    fn()  # warm-up
    best, total, runs = float("inf"), 0.0, 0
    while runs < 3 or total < min_seconds:
        t0 = time.perf_counter()
        fn()
        s = time.perf_counter() - t0
        best, total, runs = min(best, s), total + s, runs + 1
    return best


def numpy_cases(quick):
    rng = np.random.default_rng(0)
    for m, k, n in (QUICK_GEMM_SHAPES if quick else GEMM_SHAPES):
        x = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        w = rng.uniform(-1, 1, (n, k)).astype(np.float32)
        yield f"gemm {m}x{k}x{n}", 2.0 * m * k * n, (lambda x=x, w=w: x @ w.T)
        del x, w
    tokens, heads, dim = (512 if quick else 1024), 24, 128
    q, k, v = (rng.uniform(-1, 1, (heads, tokens, dim)).astype(np.float32) for _ in range(3))

    def attention():
        s = (q @ k.transpose(0, 2, 1)) * np.float32(dim ** -0.5)
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        return s @ v

    yield f"attention {tokens}tok x {heads}h x {dim}d", 4.0 * heads * tokens * tokens * dim, attention


def run_numpy(out, quick, min_seconds):
    lines = []
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "?")
    for name, flop, fn in numpy_cases(quick):
        s = best_seconds(fn, min_seconds)
        print(f"numpy {name:<36} threads={threads}  {flop / s * 1e-9:8.1f} GFLOP/s  ({s * 1e3:.1f} ms)", flush=True)
        lines.append(f"{name}\t{flop / s * 1e-9:.2f}\t{s * 1e3:.2f}\n")
    with open(out, "w") as f:
        f.writelines(lines)


def read_tsv(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                rows.append(line.rstrip("\n").split("\t"))
    return rows


def fmt(v):
    return "n/a" if v is None or v != v else f"{v:.1f}"


def ratio(a, b):
    return "n/a" if a is None or b is None or a != a or b != b else f"{a / b:.2f}"


def table(java_tsv, np1_tsv, np2_tsv, out_md, meta):
    java = {}
    order = []
    for name, threads, gflops, _ in read_tsv(java_tsv):
        if name not in order:
            order.append(name)
        java[(name, int(threads))] = float(gflops)
    ref = {1: {r[0]: float(r[1]) for r in read_tsv(np1_tsv)}, 2: {r[0]: float(r[1]) for r in read_tsv(np2_tsv)}}

    def reference(name, t):
        kind, shape = name.split(" ", 1)
        return ref[t].get(("gemm " + shape) if kind.startswith("gemm") else name)

    header = ["case (M x K x N)", "Java 1T", "numpy 1T", "ratio 1T", "Java 2T", "numpy 2T", "ratio 2T"]
    rows = []
    for name in order:
        row = [name]
        for t in (1, 2):
            j, r = java.get((name, t)), reference(name, t)
            row += [fmt(j), fmt(r), ratio(j, r)]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

    def line(r):
        return "| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                 for i, (c, w) in enumerate(zip(r, widths))) + " |"

    md = ["# Engine benchmark", ""]
    md += [f"- {k}: {v}" for k, v in meta]
    md += ["", "GFLOP/s, best of several timed runs after a warm-up; ratio = Java / numpy.", "",
           line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    md += [line(r) for r in rows]
    md += ["", "- gemm_f32: `backend.linear(x, w, null)`, x [M, K] and w [N, K] in f32; numpy: `x @ w.T` (OpenBLAS "
               "sgemm), OPENBLAS_NUM_THREADS = 1 or 2, each in its own process.",
           "- gemm_bf16w: the same `linear` with w stored in bf16 (converted to f32 while packing); numpy has no "
           "bf16, so its column repeats numpy's f32 GEMM at that shape.",
           "- attention: `backend.attention(q, k, v, null, 0)`, q, k, v [1, heads, tokens, dim], "
           "4 * heads * tokens^2 * dim FLOP; reference: numpy `softmax(q @ k^T / sqrt(d)) @ v` (two batched "
           "OpenBLAS matmuls and a numpy softmax), counted with the same FLOP."]
    text = "\n".join(md) + "\n"
    print(text)
    os.makedirs(os.path.dirname(out_md) or ".", exist_ok=True)
    with open(out_md, "w") as f:
        f.write(text)


def main(argv):
    if len(argv) >= 2 and argv[0] == "numpy":
        quick = "--quick" in argv
        min_seconds = float(argv[argv.index("--min-seconds") + 1]) if "--min-seconds" in argv else 2.0
        run_numpy(argv[1], quick, min_seconds)
    elif len(argv) >= 5 and argv[0] == "table":
        meta = []
        if "--meta" in argv:
            meta = [a.split("=", 1) for a in argv[argv.index("--meta") + 1:]]
        table(argv[1], argv[2], argv[3], argv[4], meta)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
