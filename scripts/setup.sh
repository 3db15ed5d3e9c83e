#!/usr/bin/env bash
# Installs what resnext needs on Debian 12 and builds it; safe to run again (it skips what is done).
#   system packages  libdnnl-dev (oneDNN: the GEMM of the native kernels), g++ and make (the addon),
#                    dataset-fashion-mnist (the demo's data), chromium-headless-shell (the browser tests
#                    of the web page; playwright-core drives it and downloads no browser of its own),
#                    openmpi-bin, libopenmpi-dev and pkg-config (data-parallel training with mpirun),
#                    libvulkan1 (the Vulkan loader: the WebGPU backend in Node runs on Dawn, and on
#                    machines without a GPU on the SwiftShader driver that chromium-headless-shell ships)
#   npm packages     npm ci, which also builds the native addon and the TypeScript
# Without root (and no sudo) the system packages are skipped with a notice: everything still runs,
# on the TypeScript kernels, except the Fashion-MNIST demo, the browser tests and WebGPU in Node.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
dpkg -s libdnnl-dev >/dev/null 2>&1 || missing+=(libdnnl-dev)
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || missing+=(dataset-fashion-mnist)
dpkg -s chromium-headless-shell >/dev/null 2>&1 || missing+=(chromium-headless-shell)
dpkg -s openmpi-bin >/dev/null 2>&1 || missing+=(openmpi-bin)
dpkg -s libopenmpi-dev >/dev/null 2>&1 || missing+=(libopenmpi-dev)
dpkg -s libvulkan1 >/dev/null 2>&1 || missing+=(libvulkan1)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    sudo=(none)
  fi
  if [ "${sudo[0]:-}" = none ]; then
    echo "setup: cannot install ${missing[*]} without root; continuing without them" >&2
  else
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # onnxruntime-node (a dev dependency, for the ONNX export tests) ships its CPU binary; its
  # install script would only fetch CUDA binaries from outside the npm registry.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
elif { [ ! -f build/Release/resnext_native.node ] || [ ! -f build/Release/resnext_mpi.node ]; } && dpkg -s libdnnl-dev >/dev/null 2>&1; then
  npm run build:native || echo "setup: the native addon did not build; the TypeScript kernels will be used" >&2
fi
