#!/usr/bin/env bash
# Runs every test of the project (what CI runs). Installs the JDK 25 and Maven first if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# The scale-out tests (server: ScaleOutTest, PostgresDatabaseTest) start a private PostgreSQL cluster on loopback from
# Debian's server package; s3proxy, the S3-compatible server they also need, comes from Maven Central with the build.
if [ -z "${LIKENESS_PG_BIN:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "likeness: installing Debian's postgresql package for the scale-out tests..." >&2
  likeness_apt_install postgresql || echo "likeness: could not install postgresql: the scale-out tests will be skipped" >&2
fi
echo "likeness: testing with $(java -version 2>&1 | head -n 1) and $(mvn -v 2>/dev/null | head -n 1 | sed 's/\x1b\[[0-9;]*m//g')"
# The playground's browser test drives Debian's Chromium; it is skipped (with the reason) only when it cannot be had.
if [ ! -x "${LIKENESS_CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "likeness: Chromium not found; installing Debian's chromium for the playground browser test..." >&2
  likeness_apt_install chromium \
    || echo "likeness: could not install chromium: the playground browser test will be skipped" >&2
fi
# The CUDA kernel compile test (engine KernelSourcesTest) needs NVIDIA's runtime compiler even without a GPU: the pinned
# nvidia-cuda-nvrtc wheel from pip, checked and cached; it exports LIKENESS_CUDA_PATH and LIKENESS_REQUIRE_NVRTC=1 (and
# fetches cuBLASLt the same way for the binding test, which skips visibly when that large wheel cannot be had).
. scripts/nvrtc.sh
exec mvn -B -ntp verify "$@"
