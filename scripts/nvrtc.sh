# Sourced by scripts/test.sh: makes NVIDIA's runtime compiler (NVRTC) available to the tests, so that the CUDA kernel
# compile check (engine KernelSourcesTest) runs on every CI machine, GPU or not, and cannot skip there.
#   - the pinned wheel nvidia-cuda-nvrtc==13.0.88 is fetched with pip (the Python package manager) and its sha256
#     checked; its nvidia/cu13/lib/ files are unpacked into a cache folder that later runs reuse
#   - exports LIKENESS_CUDA_PATH (that folder first, then any folders already in it) and LIKENESS_REQUIRE_NVRTC=1
#   - a LIKENESS_CUDA_PATH that already names a folder holding libnvrtc.so.13 is used as it is (nothing fetched)
# No Python code of the wheel runs: the engine only loads libnvrtc.so.13 from the folder.

LIKENESS_NVRTC_VERSION=13.0.88
LIKENESS_NVRTC_SHA256=ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575
# the one wheel of that release for x86-64 Linux; pinning its platform makes the checked file the one downloaded
LIKENESS_NVRTC_PLATFORM=manylinux_2_12_x86_64

likeness_nvrtc_python() {
  local py
  for py in python3 python; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1; then
      echo "$py"
      return 0
    fi
  done
  return 1
}

# Prints the folder holding libnvrtc.so.13 (fetching it if needed); messages go to stderr; non-zero on failure.
likeness_nvrtc_dir() {
  likeness_cuda_wheel_dir nvidia-cuda-nvrtc "$LIKENESS_NVRTC_VERSION" "$LIKENESS_NVRTC_SHA256" \
    "$LIKENESS_NVRTC_PLATFORM" libnvrtc.so.13 \
    "${LIKENESS_NVRTC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/likeness/ci/nvrtc-$LIKENESS_NVRTC_VERSION}" ""
}

# likeness_cuda_wheel_dir PACKAGE VERSION SHA256 PLATFORM LIBRARY CACHE ONLY: prints a folder holding LIBRARY, unpacked
# from the pinned, hash-checked wheel of PACKAGE (nvidia/cu13/lib/*, or only the file named ONLY when ONLY is set) and
# cached; messages go to stderr; non-zero on failure.
likeness_cuda_wheel_dir() {
  local package="$1" version="$2" sha="$3" platform="$4" library="$5" cache="$6" only="$7"
  if [ -f "$cache/$library" ] && [ "$(cat "$cache/.wheel-sha256" 2>/dev/null)" = "$sha" ]; then
    echo "$cache"
    return 0
  fi
  if [ "$(uname -m)" != x86_64 ]; then
    echo "likeness: $package for the CUDA tests is pinned for x86-64 Linux; this machine is $(uname -m)" >&2
    return 1
  fi
  local py
  if ! py=$(likeness_nvrtc_python); then
    echo "likeness: pip is needed to fetch $package==$version for the CUDA tests, and neither python3 -m pip" \
      "nor python -m pip works." >&2
    echo "  Install pip (Debian: apt-get install python3-pip) and retry, or set LIKENESS_CUDA_PATH to a folder" \
      "holding $library." >&2
    return 1
  fi
  local tmp
  tmp=$(mktemp -d) || return 1
  echo "likeness: fetching $package==$version with pip for the CUDA tests..." >&2
  if ! "$py" -m pip download --quiet --no-deps --only-binary=:all: --platform "$platform" \
      --dest "$tmp" "$package==$version" >&2; then
    echo "likeness: pip could not download $package==$version (see pip's message above)" >&2
    rm -rf "$tmp"
    return 1
  fi
  local wheel
  wheel=$(ls "$tmp"/"${package//-/_}"-"$version"-*.whl 2>/dev/null | head -n 1)
  if [ -z "$wheel" ]; then
    echo "likeness: pip left no ${package//-/_}-$version wheel in $tmp" >&2
    rm -rf "$tmp"
    return 1
  fi
  # checks the hash and unpacks nvidia/cu13/lib/* flat into a fresh folder, then swaps it in (no half-written cache)
  if ! "$py" - "$wheel" "$sha" "$cache" "$library" "$only" <<'PY' >&2; then
import hashlib, os, shutil, sys, zipfile
wheel, expected, cache, library, only = sys.argv[1:6]
h = hashlib.sha256()
with open(wheel, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
if h.hexdigest() != expected:
    sys.exit("likeness: %s has sha256 %s, expected %s: refusing to use it" % (os.path.basename(wheel), h.hexdigest(), expected))
staging = cache + ".partial"
shutil.rmtree(staging, ignore_errors=True)
os.makedirs(staging)
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name.startswith("nvidia/cu13/lib/") and not name.endswith("/") and (not only or os.path.basename(name) == only):
            with z.open(info) as src, open(os.path.join(staging, os.path.basename(name)), "wb") as dst:
                shutil.copyfileobj(src, dst)
            n += 1
if not os.path.isfile(os.path.join(staging, library)):
    sys.exit("likeness: %s holds no nvidia/cu13/lib/%s" % (os.path.basename(wheel), library))
with open(os.path.join(staging, ".wheel-sha256"), "w") as f:
    f.write(expected)
shutil.rmtree(cache, ignore_errors=True)
os.makedirs(os.path.dirname(cache), exist_ok=True)
os.rename(staging, cache)
print("likeness: %d files of %s unpacked into %s" % (n, os.path.basename(wheel), cache))
PY
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$tmp"
  echo "$cache"
}

# a folder on LIKENESS_CUDA_PATH that already holds NVRTC is used as it is
likeness_nvrtc_dir_found=""
IFS=: read -r -a likeness_nvrtc_dirs <<< "${LIKENESS_CUDA_PATH:-}"
for likeness_nvrtc_d in "${likeness_nvrtc_dirs[@]}"; do
  if [ -n "$likeness_nvrtc_d" ] && [ -f "$likeness_nvrtc_d/libnvrtc.so.13" ]; then
    likeness_nvrtc_dir_found="$likeness_nvrtc_d"
    break
  fi
done
unset likeness_nvrtc_dirs likeness_nvrtc_d
if [ -n "$likeness_nvrtc_dir_found" ]; then
  export LIKENESS_REQUIRE_NVRTC=1
  echo "likeness: NVRTC for the CUDA kernel compile test from $likeness_nvrtc_dir_found (LIKENESS_CUDA_PATH)" >&2
elif likeness_nvrtc_dir_found=$(likeness_nvrtc_dir); then
  export LIKENESS_CUDA_PATH="$likeness_nvrtc_dir_found${LIKENESS_CUDA_PATH:+:$LIKENESS_CUDA_PATH}"
  export LIKENESS_REQUIRE_NVRTC=1
  echo "likeness: NVRTC for the CUDA kernel compile test from $likeness_nvrtc_dir_found" >&2
else
  echo "likeness: cannot provide NVRTC; the CUDA kernel compile test needs it in CI (see above)" >&2
  return 1 2>/dev/null || exit 1
fi
unset likeness_nvrtc_dir_found

# cuBLASLt for CublasLtSymbolsTest: every symbol the GEMM path binds, and every descriptor attribute it sets, checked
# against the real library (no GPU needed). A large wheel (420 MB, one 540 MB file kept): when it cannot be fetched the
# test skips with its visible "[no cuBLASLt]" line instead of failing the run.
LIKENESS_CUBLAS_VERSION=13.0.0.19
LIKENESS_CUBLAS_SHA256=f6723af2e8e2600a11dc384037d90d9bf93070e346c24ef2e8f9001658c99896
if [ -z "${LIKENESS_SKIP_CUBLASLT:-}" ]; then
  if likeness_cublas_dir=$(likeness_cuda_wheel_dir nvidia-cublas "$LIKENESS_CUBLAS_VERSION" "$LIKENESS_CUBLAS_SHA256" \
      manylinux_2_27_x86_64 libcublasLt.so.13 \
      "${XDG_CACHE_HOME:-$HOME/.cache}/likeness/ci/cublas-$LIKENESS_CUBLAS_VERSION" libcublasLt.so.13); then
    export LIKENESS_CUDA_PATH="$LIKENESS_CUDA_PATH:$likeness_cublas_dir"
    export LIKENESS_REQUIRE_CUBLASLT=1
    echo "likeness: cuBLASLt for the binding test from $likeness_cublas_dir" >&2
  else
    echo "likeness: cuBLASLt not available; CublasLtSymbolsTest will be skipped" >&2
  fi
  unset likeness_cublas_dir
fi
