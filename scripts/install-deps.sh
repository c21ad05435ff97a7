#!/usr/bin/env bash
# Installs edet's build and test dependencies from Debian's packages, only those that are
# missing (idempotent; needs root or sudo for apt-get). Usage: scripts/install-deps.sh [--fuzz]
set -euo pipefail
packages=(g++ cmake make pkg-config libeigen3-dev libxsimd-dev libstb-dev doctest-dev python3)
# curl and wget: the checkpoint download tests run both against a loopback HTTP server.
packages+=(curl wget)
# The Python module (python/, `import edet`): headers, NumPy, and pip install . offline.
packages+=(python3-dev pybind11-dev python3-numpy python3-setuptools python3-wheel python3-venv python3-pip python3-pil)
# clang-14 + its runtime give libFuzzer for the bounded fuzz runs.
packages+=(clang-14 libclang-rt-14-dev libomp-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
