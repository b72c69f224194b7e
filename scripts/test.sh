#!/usr/bin/env bash
# README command 2: set up, build (warnings fatal), and run every test: unit and integration.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset dev >/dev/null
cmake --build --preset dev
ctest --preset dev -j1 "$@"
