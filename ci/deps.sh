#!/usr/bin/env bash
# Installs the Debian 12 packages duende needs, only those missing. Prints what it does.
# Usage: ci/deps.sh [--check | --list] [PROFILE...]
#   PROFILE: build  compiling duende and its libraries (cmake -DDUENDE_BUILD_TESTS=OFF)
#            run    what the duende program drives at run time (libfiu, libfaketime, ...)
#            test   duende's own test suite, benchmarks and gates (daemons, platforms, VMs)
#            all    the three (the default: what `make test` and .ci/run need)
#   --check: list what is missing, install nothing, exit 1 if any
#   --list:  print the profiles' package names, one a line, and exit (tests/ci checks them
#            against the Debian 12 archive)
# Every name is a Debian 12 (bookworm) package; ci/examples/ run in debian:12 containers.
set -euo pipefail

build_packages=(
  build-essential cmake ninja-build pkg-config
  # libraries
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libboost-dev libfiu-dev
  # linear-time regexes for patterns matched against target output (expect, log_matches)
  libre2-dev
  # duende mutate (libclang), and the explorer's generators (rapidcheck)
  libclang-14-dev librapidcheck-dev
  # metrics in the Prometheus text format (prometheus-cpp)
  prometheus-cpp-dev
  # sandboxed services: seccomp filters and capability sets
  libseccomp-dev libcap-dev
)
run_packages=(
  # tools the toolkit drives at run time
  fiu-utils libfaketime procps iproute2 util-linux
)
test_packages=(
  clang-format
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libxml2-utils
  # kvd's WAL test reads its syscalls (fsync of the directory) with strace
  strace
  # reports and gates: coverage (gcovr), rendering the HTML report in a test (chromium)
  gcovr chromium
  # load benchmark baseline (wrk) and daemons nobody here wrote, run by shipped scenarios and
  # tests (redis-server, memcached, nginx-light; nginx with `daemon on` is a daemon that forks:
  # tests/harness/tracking_test.cc)
  wrk redis-server memcached nginx-light
  # platform adapters: a real systemd user manager, runc with tini as the container's init,
  # python3-yaml to parse rendered compose files back (and the CI examples, tests/ci)
  systemd runc tini python3-yaml
  # peak RSS in tests/bench/lean_bench.sh (GNU time; s6 and runit, its peers, are optional)
  time
  # cgroup v2 tests in a microvm (tests/vm/run-in-vm.sh): a kernel, qemu, the guest's userland
  linux-image-amd64 qemu-system-x86 busybox-static cpio
  # the wasi platform: kvd built for wasm32-wasi with clang-14 (wasi-libc, libc++ and the
  # builtins for wasm32), run under Node's node:wasi (Node 20 or newer)
  clang-14 lld-14 wasi-libc libc++-14-dev-wasm32 libc++abi-14-dev-wasm32
  libclang-rt-14-dev-wasm32 nodejs
  # the microvm platform: an ext4 data disk (mkfs.ext4), the kernel decompressed for a fast
  # TCG boot (xz), strip(1) for a smaller initramfs (binutils), ldd (libc-bin)
  e2fsprogs xz-utils binutils libc-bin
  # `duende top` is tested live in a detached tmux session (send-keys, capture-pane)
  tmux
  # a real Prometheus server scrapes the metrics in tests (and promtool checks them)
  prometheus
  # clusters: a three-node etcd in network namespaces
  etcd-server etcd-client
)

mode=""
profiles=()
for arg in "$@"; do
  case "$arg" in
    --check | --list) mode=$arg ;;
    build | run | test) profiles+=("$arg") ;;
    all) profiles+=(build run test) ;;
    *)
      echo "ci/deps.sh: unknown argument '$arg' (profiles: build, run, test, all;" \
        "options: --check, --list)" >&2
      exit 2
      ;;
  esac
done
[ ${#profiles[@]} -gt 0 ] || profiles=(build run test)
packages=()
for profile in "${profiles[@]}"; do
  case "$profile" in
    build) packages+=("${build_packages[@]}") ;;
    run) packages+=("${run_packages[@]}") ;;
    test) packages+=("${test_packages[@]}") ;;
  esac
done
if [ "$mode" = "--list" ]; then
  printf '%s\n' "${packages[@]}" | awk '!seen[$0]++'
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} packages present (${profiles[*]})"
  exit 0
fi
if [ "$mode" = "--check" ]; then
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
