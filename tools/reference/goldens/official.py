"""The official InstantCharacter source, for goldens that run its own modules (never committed here).

official_source() returns a directory holding the official repository at the pinned commit:
  - $INSTANTCHARACTER_SRC if set (a checkout or an unpacked archive of that commit), else
  - tools/reference/.cache/InstantCharacter-<commit>/, downloaded once from GitHub's codeload archive.
Either way the files the goldens import (models/*.py, pipeline.py) are checked against pinned sha256 sums, so a different commit or a
local edit fails loudly instead of producing silently different goldens.

official_modules() imports models/resampler.py, models/attn_processor.py and models/norm_layer.py from there as the
package "instantcharacter_official" (the repository's "models" folder has no __init__.py and a generic name) and
returns (resampler, attn_processor, norm_layer). They import timm and einops (pinned in requirements.txt).
"""
import hashlib
import importlib.util
import io
import os
import pathlib
import sys
import tarfile
import urllib.request

COMMIT = "d254c7314de7d1dd27d4b6960d79382cef05ad8b"  # "Merge pull request #10", Tencent-Hunyuan/InstantCharacter
URL = f"https://codeload.github.com/Tencent-Hunyuan/InstantCharacter/tar.gz/{COMMIT}"
SHA256 = {
    "models/attn_processor.py": "c0883870e22f392d6cfa552405fdb2bd6f44209c85ea8d826aee9c162f939146",
    "models/norm_layer.py": "a96487e257293cf43d731d91ba279e037dfbb3b66b9c7f011fdb8e099ac8c99d",
    "models/resampler.py": "9f14c501808372f77fd6b9349a3a4440d9a3c586da39d0e64c29aa74f6119fe5",
    "models/utils.py": "09a290afb2c18cc485dd82e6478ca81733e88f8c541038e5647a6e35b37d4142",
    "pipeline.py": "4470fd9fa1d800119871e1b47abaa33e776f11c8c29f83a8f329b814231a1067",
}
CACHE = pathlib.Path(__file__).resolve().parent.parent / ".cache"
PACKAGE = "instantcharacter_official"


def _verify(root):
    for rel, want in SHA256.items():
        f = root / rel
        if not f.is_file():
            raise SystemExit(f"InstantCharacter source {root}: {rel} is missing (expected the official repository "
                             f"at commit {COMMIT})")
        got = hashlib.sha256(f.read_bytes()).hexdigest()
        if got != want:
            raise SystemExit(f"InstantCharacter source {root}: {rel} has sha256 {got}, expected {want} (the file of "
                             f"commit {COMMIT}); point INSTANTCHARACTER_SRC at that commit")
    return root


def _download():
    target = CACHE / f"InstantCharacter-{COMMIT}"
    if target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(URL, timeout=60) as r:
            data = r.read()
    except OSError as e:
        raise SystemExit(f"cannot download the official InstantCharacter source from {URL}: {e}\n"
                         "set INSTANTCHARACTER_SRC to a checkout of that commit (see tools/reference/README.md)")
    partial = CACHE / f".partial-{COMMIT}"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(partial, filter="data")
    (top,) = list(partial.iterdir())  # the archive's single folder, InstantCharacter-<commit>
    top.rename(target)
    partial.rmdir()
    return target


def official_source():
    """The verified directory of the official source (see the module doc)."""
    env = os.environ.get("INSTANTCHARACTER_SRC")
    if env:
        return _verify(pathlib.Path(env).resolve())
    return _verify(_download())


# the name pipeline_instantcharacter.py imports
instantcharacter_source = official_source


def official_modules():
    """(resampler, attn_processor, norm_layer), the official modules imported from official_source()."""
    if PACKAGE not in sys.modules:
        folder = official_source() / "models"
        spec = importlib.util.spec_from_file_location(PACKAGE, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package  # a namespace-like package: no __init__.py is executed
    return tuple(importlib.import_module(f"{PACKAGE}.{name}") for name in ("resampler", "attn_processor",
                                                                          "norm_layer"))
