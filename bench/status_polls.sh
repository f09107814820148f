#!/usr/bin/env bash
# The status-poll benchmark: a Likeness server (likeness serve, built-in tiny model, open mode, fresh data dir) in one
# process, and StatusPollBench in a second one generating load on loopback: closed-loop clients polling
# GET /queue/fal-ai/instant-character/requests/{id}/status (with and without logs) of a completed request.
# Prints polls/s and latency percentiles per concurrency level and writes bench/results/status_polls.md.
#
#   bench/status_polls.sh                      # 1, 8, 32, 64 clients, 10 s each
#   bench/status_polls.sh --seconds 3 --concurrency 1,16
#
# Server JVM flags: LIKENESS_JAVA_OPTS; the server's worker threads do not matter here (nothing runs while polling).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ -f scripts/env.sh ]; then
  . scripts/env.sh
fi

echo "bench: building the CLI and the bench (tests skipped)..." >&2
mvn -q -B -ntp -DskipTests -pl cli,bench -am package
jvm=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0)

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

java "${jvm[@]}" ${LIKENESS_JAVA_OPTS:-} -jar cli/target/likeness.jar serve --port 0 --open \
    --data-dir "$tmp/data" >"$tmp/server.log" 2>&1 &
server_pid=$!
base=""
for _ in $(seq 1 600); do
  base="$(sed -n 's/.*serving fal-ai\/instant-character at \([^ ]*\).*/\1/p' "$tmp/server.log" | head -n 1)"
  [ -n "$base" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; echo "bench: the server did not start" >&2; exit 1; }
  sleep 0.2
done
[ -n "$base" ] || { cat "$tmp/server.log" >&2; echo "bench: the server did not start in time" >&2; exit 1; }
echo "bench: server (pid $server_pid) at $base" >&2

mkdir -p bench/results
out="bench/results/status_polls.md"
{
  echo "# Status polls on loopback"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) CPUs"
  echo "(server and load generator share them); $(java -version 2>&1 | head -n 1)."
  echo
} > "$out"
java -cp bench/target/classes dev.likeness.bench.StatusPollBench --base "$base" "$@" --out "$tmp/table.md"
cat "$tmp/table.md" >> "$out"
echo "bench: wrote $out" >&2
