"""Shared helpers for golden sets.

A golden file <op>.safetensors holds several cases. Tensors are named "<case>/<role>" (roles are chosen by the
set: "x", "w", "out", ...) and the header metadata has one key, "cases": a JSON object (sorted keys, so reruns write
identical bytes) mapping each case name to a JSON object of its parameters,
always including "precision": "f32" (checked at relative error 1e-5) or "bf16"/"f16"/"f8" (checked at 1e-2),
as the engine tests require. Relative error is ||out - ref|| / ||ref||.
"""
import json
import zlib

import numpy as np

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


def synthetic_draws(name, n, seed=0):
    """The signed draws k_i in [-128, 127] (int64) of the synthetic tensor NAME with n elements, i row-major:
    k_i = (fmix32(i * 0x9E3779B9 + s) >> 24) - 128 with s = crc32(utf8(NAME)) ^ (seed * 0x9E3779B9), all mod 2^32,
    fmix32 being MurmurHash3's finalizer. Mirrored by the Java dev.likeness.models.SyntheticWeights."""
    m = np.uint64(0xFFFFFFFF)
    s = np.uint64((zlib.crc32(name.encode("utf-8")) ^ ((seed * 0x9E3779B9) & 0xFFFFFFFF)) & 0xFFFFFFFF)
    h = (np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B9) + s) & m
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & m
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & m
    h ^= h >> np.uint64(16)
    return (h >> np.uint64(24)).astype(np.int64) - 128
