#!/usr/bin/env bash
# Installs the Debian packages a tier of the project needs, skipping what is there.
# Usage: scripts/deps.sh TIER...   (build | sanitize | e2e | bench | fuzz | all)
# Idempotent: only missing packages are installed, and apt-get update runs at most once.
set -euo pipefail

# iproute2: the admin probe tests read echod's listener drops with `ss -ltm`.
build_pkgs=(cmake g++ make pkg-config libcpp-httplib-dev nlohmann-json3-dev
  prometheus-cpp-dev libgtest-dev libcli11-dev libssl-dev openssl curl ca-certificates iproute2
  python3)
sanitize_pkgs=(clang-14 libclang-rt-14-dev)
e2e_pkgs=(haproxy prometheus prometheus-blackbox-exporter podman buildah runc catatonit debootstrap
  iproute2 nodejs npm unzip procps python3)
bench_pkgs=(valgrind strace procps python3 golang-go socat)
fuzz_pkgs=(clang-14 libclang-rt-14-dev)

wanted=()
for tier in "$@"; do
  case "$tier" in
    build) wanted+=("${build_pkgs[@]}") ;;
    sanitize) wanted+=("${sanitize_pkgs[@]}") ;;
    e2e) wanted+=("${e2e_pkgs[@]}") ;;
    bench) wanted+=("${bench_pkgs[@]}") ;;
    fuzz) wanted+=("${fuzz_pkgs[@]}") ;;
    all) wanted+=("${build_pkgs[@]}" "${sanitize_pkgs[@]}" "${e2e_pkgs[@]}" "${bench_pkgs[@]}") ;;
    *) echo "deps.sh: unknown tier '$tier' (build|sanitize|e2e|bench|fuzz|all)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${wanted[@]}"; do
  # nodejs/npm may come from outside Debian's packages; a working binary is enough.
  case "$pkg" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done
# Deduplicate while keeping order.
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo ">> installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
