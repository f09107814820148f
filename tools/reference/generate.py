"""Writes the golden files: inputs, weights and expected outputs computed by PyTorch, with fixed seeds.

Each module goldens/ops_<set>.py or goldens/models_<set>.py has a function generate(out_dir) that writes its files
(ops_ sets under engine/src/test/resources/golden/ops, models_ sets under models/src/test/resources/golden,
pipeline_ sets under pipeline/src/test/resources/golden).
Run through run.sh (it sets up the pinned venv).
"""
import importlib
import pathlib
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUTS = {
    "ops": ROOT / "engine" / "src" / "test" / "resources" / "golden" / "ops",
    "models": ROOT / "models" / "src" / "test" / "resources" / "golden",
    "pipeline": ROOT / "pipeline" / "src" / "test" / "resources" / "golden",
}


def module_of(name):
    """The prefix ("ops", "models" or "pipeline") whose goldens/<prefix>_<name>.py exists."""
    found = [prefix for prefix in OUTS if (HERE / "goldens" / f"{prefix}_{name}.py").exists()]
    if len(found) != 1:
        sys.exit(f"golden set {name}: expected exactly one of " + ", ".join(f"goldens/{p}_{name}.py" for p in OUTS))
    return found[0]


def main(argv):
    torch.set_num_threads(1)  # deterministic reductions
    torch.use_deterministic_algorithms(True)
    sys.path.insert(0, str(HERE))
    sets = argv or sorted(p.stem.split("_", 1)[1] for prefix in OUTS for p in (HERE / "goldens").glob(f"{prefix}_*.py"))
    for name in sets:
        prefix = module_of(name)
        OUTS[prefix].mkdir(parents=True, exist_ok=True)
        mod = importlib.import_module(f"goldens.{prefix}_{name}")
        mod.generate(OUTS[prefix])
        print(f"wrote goldens for {name}")
    total = sum(p.stat().st_size for out in OUTS.values() if out.exists() for p in out.rglob("*") if p.is_file())
    print(f"golden files now total {total / 1e6:.2f} MB")
    if total > 20e6:
        sys.exit("goldens exceed the 20 MB budget: shrink the cases")


if __name__ == "__main__":
    main(sys.argv[1:])
