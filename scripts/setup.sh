#!/usr/bin/env bash
# Installs everything sockdoctor needs to build, test and benchmark on Debian 12 (run as root).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build pkg-config clang-format
  # libraries (Debian packages, never vendored)
  libmnl-dev libfmt-dev libcli11-dev nlohmann-json3-dev libexpected-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # `serve`: HTTP(S) server, exporter-toolkit web config (YAML), bcrypt, TLS
  libcpp-httplib-dev libyaml-cpp-dev libcrypt-dev libssl-dev
  # optional eBPF backend (built only when all are present)
  clang libbpf-dev bpftool libelf-dev zlib1g-dev
  # libFuzzer targets (fuzz/, the fuzz preset): clang 19 with its runtimes, llvm-symbolizer
  clang-19 libclang-rt-19-dev llvm-19
  # peers and oracles used by tests and benchmarks
  iproute2 net-tools lsof procps util-linux python3 time
  # the history tests check the database with the sqlite3 shell (PRAGMA integrity_check)
  sqlite3
  # `sockdoctor lab close-wait` runs the article's experiment against real nginx; `top` is tested in tmux
  nginx-light tmux
  # the fleet deployment is tested on the real engine: promtool, Prometheus, Alertmanager
  prometheus prometheus-alertmanager python3-yaml
  # packaging checks: man pages (groff -ww, man -w), completions, the systemd unit (verify,
  # security --offline), the .deb (tests/packaging)
  groff-base man-db bash-completion zsh systemd dpkg-dev
  # `serve` is linted by promtool (prometheus) and the OpenMetrics parser of python3-prometheus-client,
  # and benchmarked against node_exporter
  prometheus-node-exporter python3-prometheus-client
  # `serve`'s status page is tested in a real headless browser (screenshot, DOM; with JavaScript
  # off through the DevTools protocol)
  chromium python3-websocket
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing packages: ${missing[*]}; run this script as root to install them" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages such as nginx start their service on install; sockdoctor starts its own instances in
# private network namespaces, so keep the host's service off (policy-rc.d exit 101 = "not now").
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT
apt-get update -q
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}"
