#!/usr/bin/env bash
# Runs on the GPU machine, from the repository root, with .carry carried (scripts/gpu-carry.sh builds it here):
# no JDK, Maven or network is needed there. See bench/gpu/README.md for the device calls.
#
#   bash bench/gpu/run.sh PART...      PART: tests | likeness | diffusers | all (= the three)
#
#   tests      nvidia-smi, then the engine's GPU tests (dev.likeness.engine.cuda.*Test) with the JUnit console
#              launcher and the carried Java runtime
#   likeness   the tiny FLUX model and adapter on the GPU in f32 against the CPU (output sums), then FluxStepBench
#              --adapter at full size with bf16 weights and with fp8 weights: each run times the plain FLUX.1-dev
#              step (median_ms, compared with diffusers) and the step with the InstantCharacter adapter
#              (adapter_median_ms: resampler + FLUX with the 57 IP-attention processors)
#   pipeline   the whole InstantCharacter pipeline on the built-in tiny model (text encoders, image encoders, adapter,
#              FLUX, VAE) on the GPU against the CPU backend, same seed: f32 compute must give the same image within
#              1e-3 relative RMS (PipelineDeviceCheck); bf16 compute is reported and checked loosely (0.1)
#   diffusers  bench/gpu/diffusers_step.py (diffusers 0.33.1 from the carried wheels) at full size, bf16
#
# Results go to $OUT (the device tool's folder; bench/results/gpu when unset), at most 8 files, plain names:
#   nvidia-smi.txt tests.log tests-junit.xml likeness.log likeness-bf16.json likeness-fp8.json
#   pipeline.log diffusers.log diffusers-bf16.json
# Every part runs under its own time limit (seconds, overridable: TESTS_S, TINY_S, BF16_S, FP8_S, PIPELINE_S,
# DIFFUSERS_S) so
# that "tests likeness" and "diffusers" each end inside the 10-minute limit of one device command: the defaults add
# up to 170 + 2 x 35 + 160 + 130 = 530 s for "tests likeness", at most about 590 s with the 10 s each timed-out part
# may take to be killed and the runtime's unpacking; "pipeline diffusers" to 2 x 70 + 240 = 380 s. The last lines printed are a summary table
# (bench/gpu/summarize.py).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/bench/results/gpu}"
mkdir -p "$out"
carry="$root/.carry"
TESTS_S="${TESTS_S:-170}"
TINY_S="${TINY_S:-35}"
BF16_S="${BF16_S:-160}"
FP8_S="${FP8_S:-130}"
DIFFUSERS_S="${DIFFUSERS_S:-240}"
PIPELINE_S="${PIPELINE_S:-70}"
status=0

if [ $# -eq 0 ]; then
  echo "usage: bash bench/gpu/run.sh tests|likeness|diffusers|all ..." >&2
  exit 64
fi
parts=()
for p in "$@"; do
  case "$p" in
    all) parts+=(tests likeness pipeline diffusers) ;;
    tests|likeness|pipeline|diffusers) parts+=("$p") ;;
    *) echo "run.sh: unknown part '$p' (tests, likeness, pipeline, diffusers, all)" >&2; exit 64 ;;
  esac
done

say() { echo "== $(date -u +%H:%M:%S) $*"; }

java_ready=""
java_setup() {
  [ -n "$java_ready" ] && return 0
  if [ ! -f "$carry/jre.tar.xz" ] || [ ! -d "$carry/lib" ]; then
    echo "run.sh: .carry is missing or incomplete: run scripts/gpu-carry.sh here and name .carry in carry" >&2
    return 1
  fi
  jre=/tmp/likeness-jre
  local sum
  sum="$(cksum < "$carry/jre.tar.xz")"
  if [ ! -x "$jre/bin/java" ] || [ "$(cat "$jre/.carried" 2>/dev/null)" != "$sum" ]; then
    mkdir -p /tmp/likeness-unpack
    if command -v xz >/dev/null 2>&1; then
      xz -dc "$carry/jre.tar.xz" | tar -C /tmp/likeness-unpack -xf - || return 1
    else
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$carry/jre.tar.xz" \
          /tmp/likeness-unpack || return 1
    fi
    rm -rf "$jre" && mv /tmp/likeness-unpack/jre "$jre" && echo "$sum" > "$jre/.carried"
  fi
  java="$jre/bin/java"
  cp=""
  for j in "$carry"/lib/*.jar; do cp="$cp${cp:+:}$j"; done
  # the CUDA libraries: the driver from the system; NVRTC and cuBLASLt from the toolkit or PyTorch's wheels
  export VIRTUAL_ENV="${VIRTUAL_ENV:-$(python3 -c 'import sys; print(sys.prefix)' 2>/dev/null)}"
  jvm=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED
       -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0 -Dlikeness.cache=/tmp/likeness-cache -Xmx24g)
  java_ready=1
}

quiet() { grep -v "^WARNING: Using incubator modules"; }

part_tests() {
  say "nvidia-smi"
  nvidia-smi > "$out/nvidia-smi.txt" 2>&1
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,temperature.gpu \
      --format=csv 2>&1 | tee -a "$out/nvidia-smi.txt"
  java_setup || { status=1; return; }
  say "engine GPU tests (dev.likeness.engine.cuda.*Test), limit ${TESTS_S}s"
  local reports=/tmp/likeness-junit
  rm -rf "$reports"
  timeout -k 10 "$TESTS_S" "$java" "${jvm[@]}" -jar "$carry"/junit/junit-platform-console-standalone-*.jar \
      execute --class-path "$carry/test-classes:$cp" --select-package dev.likeness.engine.cuda \
      --include-classname '.*Test' --details tree --disable-banner --disable-ansi-colors --fail-if-no-tests \
      --reports-dir "$reports" 2>&1 | quiet | tee "$out/tests.log"
  local rc=${PIPESTATUS[0]}
  cp "$reports"/TEST-junit-jupiter.xml "$out/tests-junit.xml" 2>/dev/null
  if grep -q "\[no GPU\]" "$out/tests.log"; then
    echo "run.sh: ERROR: GPU tests were skipped on the GPU machine (see the [no GPU] lines above)" | tee -a "$out/tests.log"
    rc=1
  fi
  say "tests: exit status $rc"
  [ "$rc" -eq 0 ] || status=1
}

json_field() { python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$1" "$2"; }

part_likeness() {
  java_setup || { status=1; return; }
  local log="$out/likeness.log"
  local tmp=/tmp/likeness-tiny
  mkdir -p "$tmp"
  local bench=("$java" "${jvm[@]}" -cp "$cp" dev.likeness.bench.FluxStepBench)
  say "tiny FLUX + adapter, GPU f32 vs CPU, limit ${TINY_S}s" | tee -a "$log"
  timeout -k 10 "$TINY_S" "${bench[@]}" --backend cuda --tiny --adapter --compute f32 --steps 2 --warmup 1 \
      --out "$tmp/gpu.json" 2>&1 | quiet | tee -a "$log"
  timeout -k 10 "$TINY_S" "${bench[@]}" --backend cpu --tiny --adapter --steps 1 --warmup 0 --threads 4 \
      --out "$tmp/cpu.json" 2>&1 | quiet | tee -a "$log"
  if [ -s "$tmp/gpu.json" ] && [ -s "$tmp/cpu.json" ]; then
    python3 - "$tmp/gpu.json" "$tmp/cpu.json" <<'EOF' 2>&1 | tee -a "$log"
import json, sys
g, c = (json.loads(open(p).readline()) for p in sys.argv[1:3])
ok = True
# FLUX alone, FLUX + adapter, and what the adapter adds on its own (mean |with - without|)
for key, what, tol in (("out_mean_abs", "mean|out| FLUX", 1e-4),
                       ("adapter_out_mean_abs", "mean|out| FLUX+adapter", 1e-4),
                       ("adapter_delta_mean_abs", "mean|adapter effect|", 1e-3)):
    rel = abs(g[key] - c[key]) / c[key]
    good = rel < tol
    ok = ok and good
    print("tiny check: %s GPU %.7g, CPU %.7g, relative difference %.2e (limit %.0e): %s"
          % (what, g[key], c[key], rel, tol, "OK" if good else "MISMATCH"))
ok = ok and g["finite"] and g["adapter_finite"]
sys.exit(0 if ok else 1)
EOF
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  else
    echo "tiny check: no result (see above)" | tee -a "$log"
    status=1
  fi
  say "FluxStepBench FLUX.1-dev (+ adapter) bf16 weights, limit ${BF16_S}s" | tee -a "$log"
  timeout -k 10 "$BF16_S" "${bench[@]}" --adapter --weights bf16 --steps 10 --warmup 2 --out "$out/likeness-bf16.json" \
      2>&1 | quiet | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "FluxStepBench bf16: failed or timed out" | tee -a "$log"; status=1; }
  say "FluxStepBench FLUX.1-dev (+ adapter) fp8 weights, limit ${FP8_S}s" | tee -a "$log"
  timeout -k 10 "$FP8_S" "${bench[@]}" --adapter --weights fp8 --steps 10 --warmup 2 --out "$out/likeness-fp8.json" \
      2>&1 | quiet | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "FluxStepBench fp8: failed or timed out" | tee -a "$log"; status=1; }
}

part_pipeline() {
  java_setup || { status=1; return; }
  local log="$out/pipeline.log"
  local check=("$java" "${jvm[@]}" -cp "$cp" dev.likeness.bench.PipelineDeviceCheck --device cuda --size 64 --steps 4)
  say "tiny pipeline, GPU f32 vs CPU, limit ${PIPELINE_S}s" | tee -a "$log"
  timeout -k 10 "$PIPELINE_S" "${check[@]}" --compute f32 --max-rel 1e-3 2>&1 | quiet | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "pipeline check f32: MISMATCH, failed or timed out" | tee -a "$log"; status=1; }
  say "tiny pipeline, GPU bf16 vs CPU f32, limit ${PIPELINE_S}s" | tee -a "$log"
  timeout -k 10 "$PIPELINE_S" "${check[@]}" --compute bf16 --max-rel 0.1 2>&1 | quiet | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "pipeline check bf16: MISMATCH, failed or timed out" | tee -a "$log"; status=1; }
}

part_diffusers() {
  local log="$out/diffusers.log"
  local site=/tmp/likeness-site
  say "diffusers 0.33.1 from .carry/wheels" | tee -a "$log"
  if [ ! -d "$site/diffusers" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
        "$carry"/wheels/*.whl 2>&1 | tee -a "$log"
  fi
  say "diffusers FluxTransformer2DModel FLUX.1-dev bf16, limit ${DIFFUSERS_S}s" | tee -a "$log"
  PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 timeout -k 10 "$DIFFUSERS_S" \
      python3 bench/gpu/diffusers_step.py --steps 10 --warmup 2 --out "$out/diffusers-bf16.json" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "diffusers_step: failed or timed out" | tee -a "$log"; status=1; }
}

for p in "${parts[@]}"; do
  "part_$p"
done
say "summary"
shopt -s nullglob
python3 bench/gpu/summarize.py "$out"/*.json 2>&1
exit "$status"
