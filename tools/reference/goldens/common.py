"""Shared helpers for golden sets.

A golden file <op>.safetensors holds several cases. Tensors are named "<case>/<role>" (roles are chosen by the
set: "x", "w", "out", ...) and the header metadata has one key, "cases": a JSON object (sorted keys, so reruns write
identical bytes) mapping each case name to a JSON object of its parameters,
always including "precision": "f32" (checked at relative error 1e-5) or "bf16"/"f16"/"f8" (checked at 1e-2),
as the engine tests require. Relative error is ||out - ref|| / ||ref||.
"""
import json

import torch
from safetensors.torch import save_file


def gen(seed):
    """A seeded CPU generator: every golden input comes from one of these."""
    g = torch.Generator(device="cpu")
    g.manual_seed(seed)
    return g


def randn(seed, *shape, dtype=torch.float32, scale=1.0):
    return (torch.randn(*shape, generator=gen(seed), dtype=torch.float32) * scale).to(dtype)


class Golden:
    def __init__(self, name):
        self.name = name
        self.tensors = {}
        self.meta = {}

    def case(self, case, params=None, precision="f32", **tensors):
        if case in self.meta:
            raise ValueError(f"duplicate case {case} in {self.name}")
        if precision not in ("f32", "bf16", "f16", "f8"):
            raise ValueError(precision)
        p = dict(params or {})
        p["precision"] = precision
        self.meta[case] = p
        for role, t in tensors.items():
            if t is None:
                continue
            self.tensors[f"{case}/{role}"] = t.detach().contiguous().clone()

    def save(self, out_dir):
        path = out_dir / f"{self.name}.safetensors"
        # one metadata key: the writer stores metadata in a hash map, so several keys come out in a different order
        # on every run, while a single key keeps the file byte-for-byte reproducible
        save_file(self.tensors, str(path), metadata={"cases": json.dumps(self.meta, sort_keys=True)})
        return path
