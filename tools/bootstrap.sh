#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for p2pgrid and builds it; then runs what is asked:
#   tools/bootstrap.sh study   -> set up, build, run the default study (the main job)
#   tools/bootstrap.sh test    -> set up, build, run the whole test suite (ctest)
#   tools/bootstrap.sh build   -> set up and build only
# Idempotent: installs only missing packages; re-runs an incremental build.
# Environment: BUILD_DIR (default build), P2P_CUDA (AUTO|ON|OFF, default AUTO: the CUDA backend
# is compiled whenever nvcc is found, even without a GPU), JOBS (default: all cores).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
action="${1:-build}"
build_dir="${BUILD_DIR:-build}"
jobs="${JOBS:-$(nproc)}"

# python3-numpy: tools/check_qp.py's certificate, which a test runs on an exported plan.
packages=(cmake ninja-build g++ nlohmann-json3-dev libgtest-dev python3-numpy)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo_cmd=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "bootstrap: need root or sudo to install: apt-get install ${missing[*]}" >&2
      exit 1
    fi
    sudo_cmd="sudo"
  fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DP2P_CUDA="${P2P_CUDA:-AUTO}" >/dev/null
cmake --build "$build_dir" -j "$jobs"

case "$action" in
  build) ;;
  study) shift || true; "$build_dir/p2pgrid" study "$@" ;;
  test) ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" ;;
  *) echo "bootstrap: unknown action '$action' (expected build, study or test)" >&2; exit 2 ;;
esac
