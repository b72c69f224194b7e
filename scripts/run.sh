#!/usr/bin/env bash
# README command 1: set up, build the release binary, and diagnose this host (args go to sockdoctor).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target sockdoctor
exec ./build/release/src/sockdoctor "$@"
