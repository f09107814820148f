#!/usr/bin/env bash
# Regenerates the golden files the Java tests compare against.
#
#   tools/reference/run.sh            # every golden set
#   tools/reference/run.sh gemm norms # only goldens/ops_gemm.py and goldens/ops_norms.py
#
# Creates tools/reference/.venv on first use and installs the pinned oracle (requirements.txt) from PyPI.
# PyPI's Linux torch wheel brings its CUDA libraries along (about 3 GB); the goldens are computed on the CPU.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${LIKENESS_REF_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# reinstall when a package is missing or a pin moved (torch and Pillow are the ones goldens are most sensitive to)
if ! "$venv/bin/python" -c "import torch, diffusers, transformers, safetensors, numpy, timm, einops, PIL" 2>/dev/null \
   || ! "$venv/bin/pip" freeze 2>/dev/null | grep -qx "torch==2.6.0" \
   || ! "$venv/bin/pip" freeze 2>/dev/null | grep -qix "pillow==11.2.1"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
exec "$venv/bin/python" "$here/generate.py" "$@"
