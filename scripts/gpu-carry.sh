#!/usr/bin/env bash
# Builds .carry/: everything bench/gpu/run.sh needs on a GPU machine that has no JDK, no Maven and no network
# (see bench/gpu/README.md). Run it here, from any directory; then carry ".carry" with the device call.
#
#   .carry/jre.tar.xz  a jlink'ed Java 25 runtime (java.base, java.logging, java.sql, jdk.incubator.vector, jdk.zipfs;
#                      native libraries stripped), unpacked by run.sh into /tmp/likeness-jre (xz: 14 MiB instead of 43 for
#                      jlink's own zip compression, which leaves libjvm.so as it is)
#   .carry/lib/        the engine, models and bench jars and their runtime dependencies (Jackson)
#   .carry/junit/      junit-platform-console-standalone (runs the GPU tests without Maven)
#   .carry/test-classes/  the engine's compiled test classes of dev.likeness.engine.cuda (the GPU tests; TEST_PATHS)
#   .carry/wheels/     diffusers 0.33.1 and the pure-Python packages it needs that the device image lacks or has in
#                      an incompatible version (installed there with --no-deps into a private directory)
#   .carry/BUILD       what was built, from which commit
#
# Needs: Java 25 (JAVA_HOME or java on the PATH, with jlink), Maven, strip; the jars and wheels come from ~/.m2 and
# a pip cache / PyPI when first run. Fails if .carry exceeds 60 MiB, or if .carry plus the tracked files exceed the
# 64 MiB a device call may carry.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

JUNIT_CONSOLE_VERSION=1.13.4   # the JUnit Platform of junit-bom 5.13.4 (pom.xml)
WHEELS=(diffusers==0.33.1 huggingface_hub==0.36.2 importlib_metadata==10.2.0)
# the engine's test classes (and test resources) under these class-path folders travel; add one where a GPU test
# needs more than its own package
TEST_PATHS=(dev/likeness/engine/cuda)
MODULES=java.base,java.desktop,java.logging,java.net.http,java.sql,jdk.incubator.vector,jdk.zipfs
LIMIT_MIB=60

if [ -f /tmp/j25 ] && [ -z "${JAVA_HOME:-}" ]; then
  . /tmp/j25
fi
jdk="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}"
"$jdk/bin/java" -version 2>&1 | grep -q 'version "25' || { echo "gpu-carry: needs Java 25 (JAVA_HOME=$jdk)" >&2; exit 1; }

out="$root/.carry"
rm -rf "$out"
mkdir -p "$out/lib" "$out/junit" "$out/test-classes" "$out/wheels"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- jars: engine, models, pipeline, bench and their runtime dependencies (Jackson, the image codecs: the tiny
# pipeline check runs the whole pipeline), test classes compiled (-DskipTests compiles them, runs none)
echo "gpu-carry: building (mvn -o package -DskipTests: engine, models, pipeline, bench)" >&2
deps="$work/deps"
mvn -o -q -B -pl bench -am package dependency:copy-dependencies -DskipTests -DincludeScope=runtime \
    -DexcludeGroupIds=dev.likeness -DoutputDirectory="$deps"
for m in engine models pipeline bench; do
  cp "$m/target/likeness-$m-0.1.0-SNAPSHOT.jar" "$out/lib/"
done
cp "$deps"/*.jar "$out/lib/"
(cd engine/target/test-classes && tar cf - "${TEST_PATHS[@]}") | (cd "$out/test-classes" && tar xf -)

# --- JUnit console launcher, pinned
console="$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$JUNIT_CONSOLE_VERSION/junit-platform-console-standalone-$JUNIT_CONSOLE_VERSION.jar"
if [ ! -f "$console" ]; then
  mvn -q -B dependency:get -Dartifact="org.junit.platform:junit-platform-console-standalone:$JUNIT_CONSOLE_VERSION" \
      -Dtransitive=false
fi
cp "$console" "$out/junit/"

# --- Java runtime
echo "gpu-carry: jlink $MODULES, then xz (about a minute)" >&2
jre="$work/jre"
"$jdk/bin/jlink" --add-modules "$MODULES" --strip-debug --no-man-pages --no-header-files --compress zip-0 \
    --output "$jre" 2>&1 | { grep -v "^WARNING: Using incubator modules" >&2 || true; }
strip --strip-unneeded "$jre/lib/server/libjvm.so" "$jre"/lib/*.so
tar -C "$work" -cf - jre | xz -9 -T0 > "$out/jre.tar.xz"

# --- Python wheels for the diffusers reference (pure Python; the device has torch, numpy, safetensors, regex,
# requests, filelock, pillow, zipp, fsspec, pyyaml, tqdm, hf-xet, but huggingface_hub 1.x, which diffusers 0.33.1
# predates, and no importlib_metadata)
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$out/wheels" "${WHEELS[@]}"

# --- what was built, then the size check
{
  echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
  echo "built $(date -u '+%Y-%m-%d %H:%M UTC') with $("$jdk/bin/java" -version 2>&1 | head -n 1)"
  echo "jre modules: $("$jre/bin/java" --list-modules 2>/dev/null | tr '\n' ' ')"
  (cd "$out" && find . -type f | sort)
} > "$out/BUILD"
"$jre/bin/java" --add-modules jdk.incubator.vector -cp "$out/lib/*" dev.likeness.bench.FluxStepBench --backend cpu \
    --tiny --adapter --steps 1 --warmup 0 --threads 1 > /dev/null 2> >(grep -v "^WARNING: Using incubator modules" >&2) \
  || { echo "gpu-carry: the carried runtime failed to run FluxStepBench --backend cpu --tiny --adapter" >&2; exit 1; }
"$jre/bin/java" --add-modules jdk.incubator.vector -Dlikeness.cache="$work/cache" -cp "$out/lib/*" \
    dev.likeness.bench.PipelineDeviceCheck --device cpu --size 32 --steps 1 --max-rel 0 > /dev/null \
    2> >(grep -v "^WARNING: Using incubator modules" >&2) \
  || { echo "gpu-carry: the carried runtime failed to run PipelineDeviceCheck --device cpu" >&2; exit 1; }

kib="$(du -sk "$out" | cut -f1)"
du -sh "$out"/* | sed 's/^/gpu-carry:   /' >&2
mib=$(( (kib + 1023) / 1024 ))
echo "gpu-carry: .carry is $mib MiB ($kib KiB)"
if [ "$mib" -gt "$LIMIT_MIB" ]; then
  echo "gpu-carry: .carry exceeds $LIMIT_MIB MiB" >&2
  exit 1
fi
tree_kib=$(( $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1) / 1024 ))
total_mib=$(( (tree_kib + kib + 1023) / 1024 ))
echo "gpu-carry: with the tracked files ($(( tree_kib / 1024 )) MiB) a device call carries about $total_mib MiB of 64"
if [ "$total_mib" -gt 64 ]; then
  echo "gpu-carry: over the 64 MiB a device call may carry" >&2
  exit 1
fi
