#!/usr/bin/env bash
# Installs the Debian 12 packages duende needs, only those missing. Prints what it does.
# Usage: ci/deps.sh [--check]   (--check: list what is missing, install nothing, exit 1 if any)
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config clang-format
  # libraries
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libboost-dev libfiu-dev
  # linear-time regexes for patterns matched against target output (expect, log_matches)
  libre2-dev
  libclang-14-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev librapidcheck-dev libbenchmark-dev libxml2-utils
  # kvd's WAL test reads its syscalls (fsync of the directory) with strace
  strace
  # reports and gates: coverage (gcovr), rendering the HTML report in a test (chromium)
  gcovr chromium
  # load benchmark baseline (wrk) and daemons nobody here wrote, run by shipped scenarios and
  # tests (redis-server, memcached, nginx-light; nginx with `daemon on` is a daemon that forks:
  # tests/harness/tracking_test.cc)
  wrk redis-server memcached nginx-light
  # platform adapters: a real systemd user manager, runc with tini as the container's init,
  # python3-yaml to parse rendered compose files back
  systemd runc tini python3-yaml
  # peak RSS in tests/bench/lean_bench.sh (GNU time; s6 and runit, its peers, are optional)
  time
  # tools the toolkit drives at run time
  fiu-utils libfaketime procps iproute2 util-linux
  # cgroup v2 tests in a microvm (tests/vm/run-in-vm.sh): a kernel, qemu, the guest's userland
  linux-image-amd64 qemu-system-x86 busybox-static cpio
  # the wasi platform: kvd built for wasm32-wasi with clang-14 (wasi-libc, libc++ and the
  # builtins for wasm32), run under Node's node:wasi (Node 20 or newer)
  clang-14 lld-14 wasi-libc libc++-14-dev-wasm32 libc++abi-14-dev-wasm32
  libclang-rt-14-dev-wasm32 nodejs
  # the microvm platform: an ext4 data disk (mkfs.ext4), the kernel decompressed for a fast
  # TCG boot (xz), strip(1) for a smaller initramfs (binutils), ldd (libc-bin)
  e2fsprogs xz-utils binutils libc-bin
  # metrics in the Prometheus text format (prometheus-cpp), checked by promtool and scraped by
  # a real Prometheus server in tests (prometheus)
  prometheus-cpp-dev prometheus
  # sandboxed services: seccomp filters and capability sets
  libseccomp-dev libcap-dev
  # clusters: a three-node etcd in network namespaces
  etcd-server etcd-client
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "deps: missing: ${missing[*]}"
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "deps: installing ${missing[*]}"
# A fresh machine has empty or stale package lists: refresh them once before installing.
echo "deps: apt-get update"
$sudo apt-get update -qq
if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"; then
  echo "deps: install failed; retrying after apt-get update"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "deps: done"
