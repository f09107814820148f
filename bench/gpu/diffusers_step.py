#!/usr/bin/env python3
"""The reference for FluxStepBench: one diffusers FluxTransformer2DModel step, timed.

The model is built from FLUX.1-dev's transformer config (no download): on the meta device, cast to the run's dtype,
then materialized directly on the target device and initialized there in place, so the 12 B parameters never exist
in float32 or on the host. Weights follow the Java benchmark's scales (not its values): Linear weights uniform in
+-1/sqrt(fan_in), biases +-0.02, norm weights 1 +- 1/16; inputs uniform in +-1; t = 0.5, guidance 3.5; FluxPipeline's
position ids. Eager PyTorch, diffusers' default attention processor (torch SDPA), torch.inference_mode.

Timing: --warmup steps, then --steps steps, each ended by torch.cuda.synchronize(); the median counts (host clock
around forward + synchronize, as the Java side). Memory: the device's used memory (total - free, cudaMemGetInfo)
before the model, after the weights and its maximum after each step, plus PyTorch's own peak allocated/reserved.

Prints one JSON line (also written to --out). --device cpu --tiny --dtype f32 runs the same code on the CPU with a
small config, to check the script without a GPU.
"""
import argparse
import json
import math
import statistics
import sys
import time

FLUX_DEV = dict(patch_size=1, in_channels=64, out_channels=None, num_layers=19, num_single_layers=38,
                attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
                guidance_embeds=True, axes_dims_rope=(16, 56, 56))
TINY = dict(FLUX_DEV, in_channels=16, num_layers=2, num_single_layers=2, attention_head_dim=16,
            num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=24, axes_dims_rope=(4, 6, 6))
GIB = 1024.0 ** 3


def flop_per_step(cfg, image_tokens, text_tokens):
    """Matrix products and attention of one step (the Java benchmark's FluxStepBench.flopPerStep)."""
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    m = 4 * d
    t = image_tokens + text_tokens
    per_block = 2 * t * (4 * d * d + 2 * d * m) + 4 * t * t * d
    out_channels = cfg["out_channels"] or cfg["in_channels"]
    embed = (2 * image_tokens * cfg["in_channels"] * d + 2 * text_tokens * cfg["joint_attention_dim"] * d
             + 2 * image_tokens * d * out_channels)
    return (cfg["num_layers"] + cfg["num_single_layers"]) * per_block + embed


def grid_rows(tokens):
    rows = int(math.isqrt(tokens))
    while tokens % rows:
        rows -= 1
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--image-tokens", type=int)
    ap.add_argument("--text-tokens", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    if a.steps <= 0 or a.warmup < 0:
        ap.error("--steps must be positive and --warmup 0 or more")
    image_tokens = a.image_tokens or (64 if a.tiny else 4096)
    text_tokens = a.text_tokens or (16 if a.tiny else 512)

    # FluxTransformer2DModel needs neither transformers nor accelerate, but diffusers imports them when installed;
    # on the GPU image they expect huggingface_hub 1.x while diffusers 0.33.1 runs with the carried 0.36. A None
    # entry in sys.modules makes importlib.util.find_spec report them missing, so diffusers leaves them alone.
    for hidden_package in ("transformers", "accelerate", "peft"):
        sys.modules.setdefault(hidden_package, None)
    import torch
    import diffusers
    from diffusers import FluxTransformer2DModel

    if a.device == "cuda" and not torch.cuda.is_available():
        print("diffusers_step: no GPU: torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    dev = torch.device(a.device)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    cfg = TINY if a.tiny else FLUX_DEV
    torch.manual_seed(a.seed)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def used_total():
        if dev.type != "cuda":
            return None
        free, total = torch.cuda.mem_get_info()
        return total - free, total

    sync()
    before = used_total()
    with torch.device("meta"):
        model = FluxTransformer2DModel(**cfg)
    model = model.to(dtype).to_empty(device=dev)
    params = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            params += p.numel()
            if p.dim() == 2:
                bound = 1.0 / math.sqrt(p.shape[1])
                p.uniform_(-bound, bound)
            elif name.endswith(".bias"):
                p.uniform_(-0.02, 0.02)
            else:
                p.uniform_(1 - 1 / 16, 1 + 1 / 16)
    buffers = [n for n, _ in model.named_buffers()]
    if buffers:  # to_empty leaves them uninitialized; this diffusers version's model has none
        raise SystemExit("diffusers_step: unexpected buffers %s (to_empty would leave them uninitialized)" % buffers)
    model.eval()
    weights_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    sync()
    after_weights = used_total()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def uniform(*shape):
        return (torch.rand(*shape, device=dev, dtype=torch.float32) * 2 - 1).to(dtype)

    hidden = uniform(1, image_tokens, cfg["in_channels"])
    text = uniform(1, text_tokens, cfg["joint_attention_dim"])
    pooled = uniform(1, cfg["pooled_projection_dim"])
    timestep = torch.tensor([0.5], device=dev, dtype=dtype)
    guidance = torch.tensor([3.5], device=dev, dtype=dtype) if cfg["guidance_embeds"] else None
    rows = grid_rows(image_tokens)
    cols = image_tokens // rows
    img_ids = torch.zeros(rows, cols, 3, device=dev, dtype=dtype)
    img_ids[..., 1] = torch.arange(rows, device=dev)[:, None]
    img_ids[..., 2] = torch.arange(cols, device=dev)[None, :]
    img_ids = img_ids.reshape(image_tokens, 3)
    txt_ids = torch.zeros(text_tokens, 3, device=dev, dtype=dtype)

    def step():
        return model(hidden_states=hidden, encoder_hidden_states=text, pooled_projections=pooled,
                     timestep=timestep, img_ids=img_ids, txt_ids=txt_ids, guidance=guidance, return_dict=False)[0]

    times = []
    peak_used = after_weights[0] if after_weights else None
    with torch.inference_mode():
        out = None
        for _ in range(a.warmup):
            out = step()
            sync()
        for _ in range(a.steps):
            out = None
            t0 = time.perf_counter()
            out = step()
            sync()
            times.append((time.perf_counter() - t0) * 1e3)
            u = used_total()
            if u:
                peak_used = max(peak_used, u[0])
        o = out.float()
        finite = bool(torch.isfinite(o).all())
        out_sum = float(o.sum())
        out_mean_abs = float(o.abs().mean())

    median = statistics.median(times)
    flop = flop_per_step(cfg, image_tokens, text_tokens)

    def gib(v):
        return None if v is None else round(v / GIB, 6)

    result = {
        "bench": "flux_step", "engine": "diffusers", "diffusers": diffusers.__version__, "torch": torch.__version__,
        "backend": a.device,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu, %d threads" % torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "config": "tiny" if a.tiny else "flux1-dev", "weights": a.dtype, "compute": a.dtype, "batch": 1,
        "image_tokens": image_tokens, "text_tokens": text_tokens, "params": params,
        "weights_gib": gib(weights_bytes), "warmup": a.warmup, "steps": a.steps,
        "median_ms": round(median, 4), "min_ms": round(min(times), 4), "max_ms": round(max(times), 4),
        "step_ms": [round(t, 4) for t in times], "tflop_per_step": round(flop * 1e-12, 6),
        "tflops": round(flop / (median * 1e-3) * 1e-12, 4),
        "device_used_before_gib": gib(before[0]) if before else None,
        "device_used_after_weights_gib": gib(after_weights[0]) if after_weights else None,
        "device_used_peak_gib": gib(peak_used),
        "device_total_gib": gib(before[1]) if before else None,
        "torch_max_allocated_gib": gib(torch.cuda.max_memory_allocated()) if dev.type == "cuda" else None,
        "torch_max_reserved_gib": gib(torch.cuda.max_memory_reserved()) if dev.type == "cuda" else None,
        "out_sum": out_sum, "out_mean_abs": out_mean_abs, "finite": finite,
    }
    line = json.dumps(result, separators=(",", ":"))
    print(line, flush=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write(line + "\n")
    if not finite:
        print("diffusers_step: the output has NaN or infinite values", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
