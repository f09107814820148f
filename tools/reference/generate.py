"""Writes the golden files: inputs, weights and expected outputs computed by PyTorch, with fixed seeds.

Each module goldens/ops_<set>.py has a function generate(out_dir) that writes one or more
<op>.safetensors files through goldens.common.Golden. Run through run.sh (it sets up the pinned venv).
"""
import importlib
import pathlib
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "engine" / "src" / "test" / "resources" / "golden" / "ops"


def main(argv):
    torch.set_num_threads(1)  # deterministic reductions
    torch.use_deterministic_algorithms(True)
    sys.path.insert(0, str(HERE))
    sets = argv or sorted(p.stem[len("ops_"):] for p in (HERE / "goldens").glob("ops_*.py"))
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sets:
        mod = importlib.import_module(f"goldens.ops_{name}")
        mod.generate(OUT)
        print(f"wrote goldens for {name}")
    total = sum(p.stat().st_size for p in OUT.rglob("*.safetensors"))
    print(f"golden files now total {total / 1e6:.2f} MB under {OUT.relative_to(ROOT)}")
    if total > 20e6:
        sys.exit("goldens exceed the 20 MB budget: shrink the cases")


if __name__ == "__main__":
    main(sys.argv[1:])
