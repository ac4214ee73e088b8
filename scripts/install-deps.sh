#!/usr/bin/env bash
# Installs the Debian 12 packages nnsweep needs to build, test and run, if
# any is missing (apt-get, as root or through sudo). Safe to run repeatedly:
# it does nothing when everything is there.
#
#   scripts/install-deps.sh            build, tests, analysis
#   scripts/install-deps.sh --torch    also PyTorch (fixture generation, bench/)
set -euo pipefail

packages=(
  build-essential cmake pkg-config git curl ca-certificates
  libopenblas-dev libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools libyaml-dev
  python3 python3-numpy python3-h5py python3-pandas python3-matplotlib
)
if [[ "${1:-}" == "--torch" ]]; then
  packages+=(python3-torch)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "install-deps.sh: missing Debian packages: ${missing[*]}" >&2
  echo "install-deps.sh: run as root or install sudo" >&2
  exit 1
fi
echo "install-deps.sh: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
