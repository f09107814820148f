#!/usr/bin/env bash
# The engine benchmark: Likeness's CPU GEMM (f32 and bf16 weights) and attention beside numpy's OpenBLAS, measured in
# the same run at 1 and 2 threads. Prints one table and writes it to bench/results/latest.md.
#
#   bench/run.sh            # full run (a few minutes)
#   bench/run.sh --quick    # small shapes, a smoke test
#
# numpy comes from the reference venv (tools/reference/.venv) when it has one, else from bench/.venv, created here
# with numpy==2.2.5 from PyPI. The Java side is built with Maven (engine + bench, tests skipped).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ -f scripts/env.sh ]; then
  . scripts/env.sh
fi

quick=()
min_seconds=2
if [ "${1:-}" = "--quick" ]; then
  quick=(--quick)
  min_seconds=0.5
fi

# --- numpy
py="$root/tools/reference/.venv/bin/python"
if ! { [ -x "$py" ] && "$py" -c "import numpy" 2>/dev/null; }; then
  py="$root/bench/.venv/bin/python"
  if [ ! -x "$py" ]; then
    python3 -m venv "$root/bench/.venv"
  fi
  if ! "$py" -c "import numpy" 2>/dev/null; then
    "$root/bench/.venv/bin/pip" install --quiet --disable-pip-version-check numpy==2.2.5
  fi
fi

# --- Java: build the engine and the bench, and get their classpath
echo "bench: building (mvn package, tests skipped)..." >&2
mvn -q -B -ntp -DskipTests -pl bench -am package dependency:build-classpath \
    -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime
cp="$root/bench/target/classes:$(cat "$root/bench/target/classpath.txt")"
jvm=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED
     -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0 -Xmx8g)

out="$root/bench/results"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# numpy and Java take turns per thread count, so that both see the machine in the same state
for t in 1 2; do
  echo "bench: numpy, $t thread(s)" >&2
  OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$py" bench/bench.py numpy "$tmp/np$t.tsv" \
      --min-seconds "$min_seconds" "${quick[@]}"
  echo "bench: Likeness (Java), $t thread(s)" >&2
  java "${jvm[@]}" -cp "$cp" dev.likeness.bench.EngineBench --threads "$t" --out "$tmp/java$t.tsv" \
      --min-seconds "$min_seconds" "${quick[@]}" 2> >(grep -v "^WARNING: Using incubator modules" >&2)
done
cat "$tmp/java1.tsv" "$tmp/java2.tsv" > "$tmp/java.tsv"

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
flags="$(grep -o -w -E 'avx512f|avx2|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
"$py" bench/bench.py table "$tmp/java.tsv" "$tmp/np1.tsv" "$tmp/np2.tsv" "$out/latest.md" --meta \
    "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "machine=$cpu, $(nproc) CPUs, flags: ${flags% }" \
    "java=$(java -version 2>&1 | head -n 1)" \
    "numpy=$("$py" -c 'import numpy as n; c = n.show_config(mode="dicts")["Build Dependencies"]["blas"]; print(n.__version__, "with", c["name"], c["version"])')"
