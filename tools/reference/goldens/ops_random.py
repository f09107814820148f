"""torch's CPU generator: torch.Generator("cpu").manual_seed(seed), then torch.randn / torch.rand (torch 2.6.0).

random.safetensors. Every case names its seed (a decimal string: seeds are unsigned 64-bit) and a list of calls made,
in order, on ONE generator seeded once: each call is {"op": "randn" | "rand", "dtype": "f32" | "bf16",
"shape": [...]}. Roles:
  out<k>        the k-th call's full output (its dtype), for calls of at most 4096 elements;
  head<k>, tail<k>  the first and last 64 values of a larger output, whose sha256 (of the raw little-endian bytes
                torch stores, after .contiguous()) is the call's "sha256" parameter;
  state         generator.get_state() after the last call (uint8, 5056 bytes): the generator's exact position.
The cases in "scalar_kernel" were computed by a torch process started with ATEN_CPU_CAPABILITY=default (torch's
DEFAULT build of the float32 kernel, which calls the C library's logf/sincosf); the others by the normal dispatch,
which on x86-64 with AVX2 or AVX-512 runs the AVX2 build (reported in the "capability" parameter).
"""
import hashlib
import os
import pickle
import subprocess
import sys

import torch

from .common import Golden

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}
FULL_LIMIT = 4096
EDGE = 64


def run_calls(seed, calls):
    """Runs the calls on one generator; returns per-call outputs (full or head/tail/sha) and the final state."""
    g = torch.Generator("cpu").manual_seed(seed)
    results = []
    for c in calls:
        fn = torch.randn if c["op"] == "randn" else torch.rand
        t = fn(c["shape"], generator=g, dtype=DTYPES[c["dtype"]]).contiguous()
        if t.numel() <= FULL_LIMIT:
            results.append({"out": t})
        else:
            flat = t.flatten()
            raw = flat.view(torch.int16 if t.dtype == torch.bfloat16 else torch.int32).numpy().tobytes()
            results.append({"head": flat[:EDGE].clone(), "tail": flat[-EDGE:].clone(),
                            "sha256": hashlib.sha256(raw).hexdigest()})
    return results, g.get_state()


def add_case(g, name, seed, calls, results, state, capability):
    params = {"seed": str(seed), "capability": capability, "calls": []}
    tensors = {"state": state}
    for k, (c, r) in enumerate(zip(calls, results)):
        call = dict(c)
        if "sha256" in r:
            call["sha256"] = r["sha256"]
            tensors[f"head{k}"] = r["head"]
            tensors[f"tail{k}"] = r["tail"]
        else:
            tensors[f"out{k}"] = r["out"]
        params["calls"].append(call)
    precision = "bf16" if all(c["dtype"] == "bf16" for c in calls) else "f32"
    g.case(name, params, precision=precision, **tensors)


def call(op, dtype, *shape):
    return {"op": op, "dtype": dtype, "shape": list(shape)}


# seeds: small, typical, above 2^32 (only the low 32 bits seed the twister), the int64 / uint64 limits
SEEDS = [0, 1, 42, 123456, 2**32 + 5, 2**63 - 1, 2**64 - 1]
# sizes below 16 (scalar path), exactly 16, not a multiple of 16 (the tail is recomputed), multi-dimensional
SMALL_SHAPES = [(1,), (3,), (15,), (16,), (17,), (31,), (2, 3, 5), (100,), (4, 16, 16)]
NOISE = (1, 16, 128, 128)  # FLUX latent noise at 1024 x 1024


def main_cases():
    cases = []
    for seed in SEEDS:
        for dtype in ("bf16", "f32"):
            cases.append((f"randn_{dtype}_seed{seed}", seed,
                          [call("randn", dtype, *s) for s in SMALL_SHAPES]))
    # the pipeline's noise; six consecutive seeds cover all but one of the 65,536 bf16 uniform-byte pairs
    for seed in [0, 1, 2, 3, 4, 5, 42, 123456, 2**63 - 1]:
        cases.append((f"noise_bf16_seed{seed}", seed, [call("randn", "bf16", *NOISE)]))
    for seed in [0, 42]:
        cases.append((f"noise_f32_seed{seed}", seed, [call("randn", "f32", *NOISE)]))
    # one generator through a mix of calls: the scalar path caches a sample across calls, normal_fill does not
    cases.append(("sequence_mixed", 7, [
        call("randn", "bf16", 5), call("randn", "f32", 3), call("randn", "bf16", 40), call("rand", "f32", 7),
        call("randn", "f32", 1), call("randn", "f32", 2, 10), call("rand", "bf16", 33), call("randn", "bf16", 1),
        call("randn", "f32", 700), call("randn", "bf16", 2, 8)]))
    # past several twists of the 624-word state, then small calls
    cases.append(("sequence_long", 2024, [
        call("randn", "bf16", 3000), call("randn", "bf16", 1), call("rand", "f32", 1000), call("randn", "f32", 9),
        call("randn", "f32", 5000), call("randn", "bf16", 16)]))
    cases.append(("rand", 99, [call("rand", "f32", 37), call("rand", "bf16", 37), call("rand", "f32", 2, 50),
                               call("rand", "bf16", 300)]))
    cases.append(("seed_only", 31337, []))
    return cases


SCALAR_CASES = [(f"scalar_kernel_f32_seed{s}", s, [call("randn", "f32", 1000), call("randn", "f32", 17)])
                for s in (0, 42)]


def scalar_kernel_results():
    """Runs SCALAR_CASES in a torch process started with ATEN_CPU_CAPABILITY=default."""
    code = ("import sys, torch, pickle\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "from goldens.ops_random import run_calls, SCALAR_CASES\n"
            "cap = torch.backends.cpu.get_cpu_capability()\n"
            "out = [(run_calls(seed, calls), cap) for _, seed, calls in SCALAR_CASES]\n"
            "sys.stdout.buffer.write(pickle.dumps(out))\n")
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    done = subprocess.run([sys.executable, "-c", code, here], env=env, check=True, capture_output=True)
    return pickle.loads(done.stdout)


def generate(out_dir):
    g = Golden("random")
    capability = torch.backends.cpu.get_cpu_capability()
    for name, seed, calls in main_cases():
        results, state = run_calls(seed, calls)
        add_case(g, name, seed, calls, results, state, capability)
    for (name, seed, calls), ((results, state), cap) in zip(SCALAR_CASES, scalar_kernel_results()):
        if cap != "NO AVX":
            raise RuntimeError(f"ATEN_CPU_CAPABILITY=default gave capability {cap}")
        add_case(g, name, seed, calls, results, state, cap)
    g.save(out_dir)
