#!/usr/bin/env python3
"""Summarizes FLUX step results (the JSON lines of FluxStepBench and diffusers_step.py) as a markdown table.

    python3 bench/gpu/summarize.py RESULT.json...

One row per file, then, when a Likeness bf16 run and a diffusers bf16 run on the same GPU are both given, the row
for bench/RESULTS.md's "CUDA backend (issue 8)" table: ratio = Likeness median step time / diffusers median step time
(below 1: Likeness is faster), fp8 ratio = Likeness with fp8 weights / diffusers bf16. The FLUX+adapter column is the
Likeness bf16 run's median step with the InstantCharacter adapter (FluxStepBench --adapter: resampler + the 57
IP-attention processors); diffusers has no such processor, so it has no ratio.
"""
import json
import sys


def load(path):
    with open(path) as f:
        r = json.loads(f.readline())
    r["_file"] = path
    return r


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def all_finite(r):
    """The plain step's output finite, and the adapter step's too where the run has one."""
    return r["finite"] and r.get("adapter_finite", True)


def main(paths):
    rows = []
    for p in paths:
        try:
            rows.append(load(p))
        except (OSError, ValueError) as e:
            print("summarize: skipping %s: %s" % (p, e), file=sys.stderr)
    if not rows:
        print("summarize: no results")
        return 1
    print("| engine | config | weights | device | steps | median ms | TFLOP/s | +adapter median ms | +adapter TFLOP/s "
          "| weights GiB | adapter weights GiB | peak used GiB | finite |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print("| %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["engine"], r["config"], r["weights"], r["device"], r["steps"], fmt(r["median_ms"]),
            fmt(r.get("tflops")), fmt(r.get("adapter_median_ms")), fmt(r.get("adapter_tflops")),
            fmt(r.get("weights_gib"), "%.2f"), fmt(r.get("adapter_weights_gib"), "%.2f"),
            fmt(r.get("device_used_peak_gib"), "%.2f"), all_finite(r)))

    def pick(engine, weights):
        for r in rows:
            if r["engine"] == engine and r["weights"] == weights and r["config"] == "flux1-dev" and r["finite"]:
                return r
        return None

    lk, df, lk8 = pick("likeness", "bf16"), pick("diffusers", "bf16"), pick("likeness", "fp8_e4m3")
    if lk and df:
        if lk["device"] != df["device"]:
            print("summarize: Likeness ran on %s, diffusers on %s: no ratio" % (lk["device"], df["device"]))
            return 0
        print()
        print("RESULTS.md row:")
        with_adapter = lk.get("adapter_median_ms") if lk.get("adapter_finite") else None
        print("| %s | %.1f | %s | %.1f | %.2f | %s | %s |" % (
            lk["device"], lk["median_ms"], fmt(with_adapter), df["median_ms"], lk["median_ms"] / df["median_ms"],
            "%.2f" % (lk8["median_ms"] / df["median_ms"]) if lk8 and lk8["device"] == df["device"] else "-",
            lk.get("date", "-")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
