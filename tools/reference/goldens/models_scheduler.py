"""FlowMatchEulerDiscreteScheduler goldens: schedules and steps as diffusers 0.33.1's FluxPipeline makes them.

scheduler/<config>/scheduler_config.json: written by the scheduler class itself (save_config), so every field it
serializes is there. "flux" is FLUX.1-dev's configuration; "static_shift" and "linear_terminal" cover the other paths
of set_timesteps (a fixed shift; the linear time shift with a terminal stretch).

scheduler/schedules.safetensors: for each config, image size and step count, the sigmas (n + 1, ending in 0) and
timesteps (n) that FluxPipeline gets from retrieve_timesteps(scheduler, n, sigmas=np.linspace(1, 1/n, n), mu=mu),
with mu = calculate_shift(image_seq_len, ...) from the config and image_seq_len = (h/16)(w/16).

scheduler/steps.safetensors: scheduler.step(model_output, t, sample) on seeded tensors, f32 and bf16 (where torch
rounds sigma_next - sigma and the product to bf16 before the f32 add).
"""
import json
import pathlib
import tempfile

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps

from goldens.common import Golden, randn

CONFIGS = {
    "flux": dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                 base_image_seq_len=256, max_image_seq_len=4096),
    "static_shift": dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False),
    "linear_terminal": dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.5,
                            max_shift=1.15, time_shift_type="linear", shift_terminal=0.02),
}
SIZES = [(256, 256), (512, 512), (1024, 1024), (1024, 768)]


def image_seq_len(height, width):
    """FluxPipeline: latents of 2*(h // 16) x 2*(w // 16), packed 2x2: (h // 16) * (w // 16) tokens."""
    return (height // 16) * (width // 16)


def schedule(config, height, width, steps):
    scheduler = FlowMatchEulerDiscreteScheduler.from_config(config)
    seq = image_seq_len(height, width)
    mu = calculate_shift(seq, config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096),
                         config.get("base_shift", 0.5), config.get("max_shift", 1.15))
    sigmas = np.linspace(1.0, 1 / steps, steps)
    timesteps, _ = retrieve_timesteps(scheduler, steps, "cpu", sigmas=sigmas, mu=mu)
    return scheduler, mu, timesteps


def generate(out_dir):
    out = out_dir / "scheduler"
    configs = {}
    for name, kwargs in CONFIGS.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            FlowMatchEulerDiscreteScheduler(**kwargs).save_config(tmp)
            text = (pathlib.Path(tmp) / "scheduler_config.json").read_text()
        # the diffusers version is not a property of the schedule: keep the file stable across versions
        config = {k: v for k, v in json.loads(text).items() if k != "_diffusers_version"}
        (out / name / "scheduler_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        configs[name] = config

    g = Golden("schedules")
    for name, config in configs.items():
        counts = range(1, 51) if name == "flux" else [2, 3, 28, 50]
        for height, width in SIZES:
            for steps in counts:
                scheduler, mu, timesteps = schedule(config, height, width, steps)
                g.case(f"{name}_{height}x{width}_{steps}",
                       dict(config=name, height=height, width=width, steps=steps, mu=mu),
                       sigmas=scheduler.sigmas, timesteps=timesteps)
    g.save(out)

    g = Golden("steps")
    seed = 300
    for dtype, label in [(torch.float32, "f32"), (torch.bfloat16, "bf16")]:
        for name, (height, width), steps, indices in [("flux", (1024, 1024), 28, [0, 13, 27]),
                                                      ("flux", (512, 512), 4, [0, 3]),
                                                      ("linear_terminal", (1024, 768), 10, [5])]:
            for index in indices:
                scheduler, _, timesteps = schedule(configs[name], height, width, steps)
                sample = randn(seed, 1, 23, 16, dtype=dtype)
                model_output = randn(seed + 1, 1, 23, 16, dtype=dtype)
                seed += 2
                scheduler.set_begin_index(index)
                prev = scheduler.step(model_output, timesteps[index], sample, return_dict=False)[0]
                g.case(f"{label}_{name}_{height}x{width}_{steps}_{index}",
                       dict(config=name, height=height, width=width, steps=steps, index=index), precision=label,
                       sample=sample, model_output=model_output, out=prev)
    g.save(out)
