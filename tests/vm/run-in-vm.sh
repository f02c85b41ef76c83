#!/usr/bin/env bash
# Runs test programs inside a throw-away qemu microvm whose /sys/fs/cgroup is a real cgroup v2
# hierarchy (this machine's is v1), so that duende's cgroup v2 code runs for real.
#
# Usage: tests/vm/run-in-vm.sh [--timeout SECS] [--test-timeout SECS] [--with PATH]... [--keep]
#                              'TEST [ARG]...'...
#   --timeout: the whole run, boot included (default 120); --test-timeout: one test in the
#   guest, killed with SIGKILL after it (default 60; its "[ RUN ]" line tells what hung).
#   Each positional argument is one test command line (words split on blanks, so arguments
#   cannot contain blanks). --with adds a file or a directory tree at its own absolute path
#   (executables with their libraries): programs or data a test finds by a computed path.
#   Executables named "duende-*" whose absolute path is compiled into a test (fixtures,
#   helper programs) are found with strings(1) and added at the same path automatically.
#
# Environment:
#   DUENDE_VM_KERNEL  kernel image (default: the newest /boot/vmlinuz-*, Debian's linux-image)
#   DUENDE_VM_ACCEL   tcg (default) or kvm. On this project's machines KVM is nested inside a
#                     Firecracker guest and cannot boot Linux: -cpu host aborts qemu (MSR 0x10a,
#                     arch-capabilities), without it the bzImage hangs after "Probing EDD", and
#                     an uncompressed vmlinux dies with "emulation failure" (lock cmpxchg16b,
#                     then xrstor) after a minute of shadow paging. Multi-threaded TCG boots
#                     the same kernel in about 2 s, so it is the default.
#   DUENDE_VM_MEMORY  guest memory in MiB (default 1024)
#
# What the guest does (its /init, a busybox script): mounts proc, sysfs, devtmpfs and cgroup2
# on /sys/fs/cgroup (/tmp and /run stay on the initramfs's own writable root: a tmpfs mounted
# over them would hide the test programs of a checkout that lives under /tmp); moves itself into /sys/fs/cgroup/init (cgroup v2's
# "no internal processes" rule: the root may delegate controllers to children only while the
# processes live in a leaf); enables +memory +pids +cpu in the root's cgroup.subtree_control;
# runs each test and prints "DUENDE-VM-RESULT <n> exit=<code> secs=<s>"; then powers off.
#
# Exit: 0 every test passed; 1 a test failed, or the VM crashed or timed out (qemu is killed
# by pid); 77 when qemu, a kernel, busybox or /dev/kvm (for kvm) is missing (the reason is
# printed; ctest reports SKIP).
set -euo pipefail

timeout_secs=120
test_timeout=60
keep=0
extra=()
tests=()
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) timeout_secs="$2"; shift 2 ;;
    --test-timeout) test_timeout="$2"; shift 2 ;;
    --with) extra+=("$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { print }' "$0"; exit 0 ;;
    -*) echo "run-in-vm: unknown option $1" >&2; exit 2 ;;
    *) tests+=("$1"); shift ;;
  esac
done
if [ ${#tests[@]} -eq 0 ]; then
  echo "run-in-vm: no test given (usage: run-in-vm.sh [--timeout S] 'TEST [ARGS]'...)" >&2
  exit 2
fi

skip() { echo "run-in-vm: SKIP: $*"; exit 77; }

# --- What we need on the host --------------------------------------------------------------
accel="${DUENDE_VM_ACCEL:-tcg}"
memory="${DUENDE_VM_MEMORY:-1024}"
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
kernel="${DUENDE_VM_KERNEL:-$(ls -1v /boot/vmlinuz-* 2>/dev/null | tail -n 1 || true)}"
[ -n "$kernel" ] && [ -r "$kernel" ] ||
  skip "no readable kernel '${kernel:-/boot/vmlinuz-*}' (apt-get install linux-image-amd64)"
busybox=""
for b in /bin/busybox /usr/bin/busybox; do
  # The guest has no libc of its own for busybox: it must be the static build.
  if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox="$b"; break; fi
done
[ -n "$busybox" ] || skip "no static busybox (apt-get install busybox-static)"
for tool in cpio gzip ldd strings; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done
case "$accel" in
  kvm)
    [ -w /dev/kvm ] || skip "DUENDE_VM_ACCEL=kvm but /dev/kvm is missing or not writable"
    accel_args=(-enable-kvm -cpu host)
    ;;
  tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
  *) echo "run-in-vm: DUENDE_VM_ACCEL must be tcg or kvm, not '$accel'" >&2; exit 2 ;;
esac

work=$(mktemp -d /tmp/duende-vm-XXXXXX)
qemu_pid=""
tail_pid=""
cleanup() {
  # Everything we started goes, by pid: qemu (on timeout or ^C) and the console follower.
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill -KILL "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  if [ -n "$tail_pid" ] && kill -0 "$tail_pid" 2>/dev/null; then
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
  fi
  if [ "$keep" -eq 1 ]; then echo "run-in-vm: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The initramfs -------------------------------------------------------------------------
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc}
cp "$busybox" "$root/bin/busybox"

# Copies FILE to the same absolute path inside the guest (following symlinks), without debug
# sections (smaller initramfs, faster to unpack in the guest).
add_file() {
  local f="$1" dest="$root$1"
  [ -e "$dest" ] && return 0
  mkdir -p "$(dirname "$dest")"
  cp -L "$f" "$dest"
  strip --strip-debug "$dest" 2>/dev/null || true
}

# Copies an executable and every shared library ldd resolves for it (the dynamic loader
# included, which ldd prints as a bare absolute path), each at its own absolute path.
add_executable() {
  local exe="$1"
  add_file "$exe"
  local lib
  while read -r lib; do
    [ -n "$lib" ] && add_file "$lib"
  done < <(ldd "$exe" 2>/dev/null |
           sed -n -e 's/.*=> \(\/[^ ]*\) .*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
}

# Executables a program names by absolute path (CMake puts fixture paths in as string
# literals): project programs only ("duende-" in the name); busybox covers sh, sleep, ...
referenced_programs() {
  strings -a "$1" | grep -oE '^/[^ :"]*/duende-[A-Za-z0-9_.+-]+$' | sort -u |
    while read -r p; do [ -f "$p" ] && [ -x "$p" ] && echo "$p"; done || true
}

# Test programs by absolute path (the guest has no notion of our working directory).
queue=()
for i in "${!tests[@]}"; do
  read -r -a words <<< "${tests[$i]}"
  exe="${words[0]}"
  [ -f "$exe" ] && [ -x "$exe" ] ||
    { echo "run-in-vm: test program $exe not found or not executable" >&2; exit 2; }
  exe=$(readlink -f "$exe")
  words[0]="$exe"
  tests[$i]="${words[*]}"
  queue+=("$exe")
done
for e in "${extra[@]}"; do
  [ -e "$e" ] || { echo "run-in-vm: --with $e: no such file or directory" >&2; exit 2; }
  while IFS= read -r -d '' f; do
    if [ -x "$f" ]; then queue+=("$f"); else add_file "$f"; fi
  done < <(find "$(realpath -s "$e")" -type f -print0)
done
# Breadth-first over the programs' references (a fixture may name another one).
declare -A seen=()
while [ ${#queue[@]} -gt 0 ]; do
  exe="${queue[0]}"
  queue=("${queue[@]:1}")
  [ -n "${seen[$exe]:-}" ] && continue
  seen[$exe]=1
  add_executable "$exe"
  while read -r ref; do
    [ -n "$ref" ] && queue+=("$ref")
  done < <(referenced_programs "$exe")
done
echo "run-in-vm: programs in the guest: ${!seen[*]}"

# /init. Generated so that the test commands are in it literally.
{
  cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/tmp TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
chmod 1777 /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up 2>/dev/null
# v2 "no internal processes": move ourselves (and so every test) into a leaf first, then the
# root may hand memory, pids and cpu to its children.
mkdir /sys/fs/cgroup/init
echo $$ > /sys/fs/cgroup/init/cgroup.procs
echo "+memory +pids +cpu" > /sys/fs/cgroup/cgroup.subtree_control
echo "DUENDE-VM-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime) controllers=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
run_test() {
  n=$1; shift
  start=$(cut -d' ' -f1 /proc/uptime)
  echo "DUENDE-VM-START $n $*"
  timeout -s KILL "$TEST_TIMEOUT" "$@" </dev/null
  rc=$?
  end=$(cut -d' ' -f1 /proc/uptime)
  echo "DUENDE-VM-RESULT $n exit=$rc secs=$(awk "BEGIN{print $end-$start}")"
}
EOF
  echo "TEST_TIMEOUT=$test_timeout"
  n=0
  for t in "${tests[@]}"; do
    n=$((n + 1))
    # Each word single-quoted: the guest's shell must not glob --gtest_filter=Suite.* etc.
    read -r -a words <<< "$t"
    line="run_test $n"
    for w in "${words[@]}"; do line+=" '${w//\'/\'\\\'\'}'"; done
    echo "$line"
  done
  cat <<'EOF'
echo "DUENDE-VM-DONE"
sync
poweroff -f
EOF
} > "$root/init"
chmod 755 "$root/init"

initrd="$work/initrd.gz"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$initrd"
# The guest unpacks the initramfs into RAM and keeps the compressed copy while it does: give it
# the unpacked size twice over plus room to run, unless told (sanitizer builds are large).
unpacked_mib=$(( $(du -sm "$root" | cut -f1) ))
if [ -z "${DUENDE_VM_MEMORY:-}" ] && [ $(( unpacked_mib * 2 + 512 )) -gt "$memory" ]; then
  memory=$(( unpacked_mib * 2 + 512 ))
fi
echo "run-in-vm: initramfs $(du -h "$initrd" | cut -f1) (${unpacked_mib} MiB unpacked), guest memory ${memory} MiB, kernel $kernel, accel $accel"

# --- Boot ----------------------------------------------------------------------------------
# microvm: no PCI, no firmware tables to probe, an ISA serial port for the console. The guest
# powers off after the tests; -no-reboot and panic=-1 turn a kernel panic into qemu exiting.
append="console=ttyS0 panic=-1 quiet"
if [ "$accel" = tcg ]; then
  # Under TCG the guest's TSC is the host's, but microvm has no HPET or ACPI PM timer to
  # calibrate it against, only the PIT, whose quick calibration fails when the host is busy;
  # the kernel then hangs before its first message (seen 1 boot in 6 here). Tell it the rate.
  khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
  [ -n "$khz" ] && append="$append tsc_early_khz=$khz"
fi
log="$work/console.log"
start_ns=$(date +%s%N)
deadline=$(( $(date +%s) + timeout_secs ))
boot_limit=30  # seconds from qemu's start to the guest's first marker
timed_out=0
attempt=0
# Boots once; returns 0 when qemu exited on its own, 1 on the overall timeout, 2 when the guest
# printed nothing by boot_limit (then worth another try: nothing of the tests has run).
boot() {
  : > "$log"
  "$qemu" "${accel_args[@]}" -M microvm,isa-serial=on -m "$memory" -smp 2 \
    -nodefaults -no-user-config -nographic -no-reboot -serial stdio \
    -kernel "$kernel" -initrd "$initrd" -append "$append" </dev/null >"$log" 2>&1 &
  qemu_pid=$!
  tail --pid="$qemu_pid" -n +1 -f "$log" | tr -d '\r' &
  tail_pid=$!
  local started now result=0
  started=$(date +%s)
  while kill -0 "$qemu_pid" 2>/dev/null; do
    now=$(date +%s)
    if [ "$now" -ge "$deadline" ]; then
      echo "run-in-vm: timeout after ${timeout_secs}s: killing qemu (pid $qemu_pid)"
      result=1
    elif [ $((now - started)) -ge "$boot_limit" ] && ! grep -q DUENDE-VM-BOOTED "$log"; then
      echo "run-in-vm: the guest did not boot within ${boot_limit}s: killing qemu (pid $qemu_pid)"
      result=2
    fi
    if [ "$result" -ne 0 ]; then
      kill -KILL "$qemu_pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  wait "$qemu_pid" 2>/dev/null || true
  qemu_pid=""
  wait "$tail_pid" 2>/dev/null || true
  tail_pid=""
  return "$result"
}
while true; do
  attempt=$((attempt + 1))
  rc=0
  boot || rc=$?
  if [ "$rc" -eq 2 ] && [ "$attempt" -lt 3 ]; then
    echo "run-in-vm: booting again (attempt $((attempt + 1)) of 3)"
    continue
  fi
  [ "$rc" -ne 0 ] && timed_out=1
  break
done
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))

# --- Verdict -------------------------------------------------------------------------------
console=$(tr -d '\r' < "$log")
booted=$(grep -m1 '^DUENDE-VM-BOOTED' <<< "$console" || true)
[ -n "$booted" ] && echo "run-in-vm: guest booted (${booted#DUENDE-VM-BOOTED })"
status=0
n=0
for t in "${tests[@]}"; do
  n=$((n + 1))
  line=$(grep -m1 "^DUENDE-VM-RESULT $n " <<< "$console" || true)
  if [ -z "$line" ]; then
    echo "run-in-vm: FAIL: no result for test $n ($t)"
    status=1
  elif [[ "$line" != *" exit=0 "* ]]; then
    echo "run-in-vm: FAIL: test $n ($t): ${line#DUENDE-VM-RESULT $n }"
    status=1
  else
    echo "run-in-vm: ok: test $n ($t): ${line#DUENDE-VM-RESULT $n }"
  fi
done
if [ "$timed_out" -eq 1 ] || ! grep -q '^DUENDE-VM-DONE' <<< "$console"; then
  echo "run-in-vm: FAIL: the guest did not finish (timeout or crash); see the console above"
  status=1
fi
echo "run-in-vm: wall time $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000)))s"
exit "$status"
