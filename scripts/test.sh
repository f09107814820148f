#!/usr/bin/env bash
# Runs every test of the project (what CI runs). Installs the JDK 25 and Maven first if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
echo "likeness: testing with $(java -version 2>&1 | head -n 1) and $(mvn -v 2>/dev/null | head -n 1 | sed 's/\x1b\[[0-9;]*m//g')"
exec mvn -B -ntp verify "$@"
