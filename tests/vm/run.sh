#!/usr/bin/env bash
# run.sh BUILD_DIR SCENARIO        run one scenario and check it (ctest does this)
# run.sh --shell BUILD_DIR [SCENARIO]  the same guest, with a shell on this terminal
#
# Boots the Debian kernel (tests/vm/kernel.sh) with this build's initramfs
# (tests/vm/initramfs.sh) under QEMU with the scenario's devices
# (tests/vm/scenarios/SCENARIO.sh), lets the guest run
# scenarios/SCENARIO.guest.sh, switches QEMU's memory_region_ops_* trace
# events on and off when the guest asks (guest/lib.sh: vm_trace_on), takes the
# guest's /out back from its second serial port, then runs the scenario's
# check() on the host. Files stay in BUILD_DIR/vm/SCENARIO/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shell=0
if [[ "${1:-}" == --shell ]]; then shell=1; shift; fi
if (($# < 1 || ($# < 2 && shell == 0))); then
  echo "usage: $0 [--shell] BUILD_DIR SCENARIO" >&2
  exit 64
fi
build=$(cd "$1" && pwd)
scenario=${2:-shell}
vmdir=$build/vm
mkdir -p "$vmdir"

for tool in qemu-system-x86_64 busybox cpio depmod; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool is missing; run scripts/setup.sh" >&2
    exit 69
  fi
done
kdir=$("$here/kernel.sh")
initrd=$vmdir/initramfs.cpio.gz

# The initramfs is shared by the scenarios of one build: rebuilt (under a
# lock, ctest runs scenarios in parallel) when a binary or a guest file is newer,
# from the build's installed tree.
(
  flock 9
  if [[ ! -s "$initrd" ]] || [[ -n "$(find "$build/bin/mmiotrace" "$build/lib/libmmiotrace-agent.so" \
      "$build/tests/vm/drivers" "$build/examples/edu_driver" "$build/bench/mode_workload" \
      "$build/tests/e2e/programs/e2e_threads_O2" "$build/tests/e2e/programs/e2e_step_cases_O2" \
      "$here/guest" "$here/scenarios" "$here/initramfs.sh" \
      -newer "$initrd" 2>/dev/null | head -1)" ]]; then
    # mmiotrace as a user installs it (docs/install.md), into a staging folder.
    rm -rf "$vmdir/installed"
    cmake --install "$build" --prefix "$vmdir/installed" > "$vmdir/install.log" ||
      { echo "run.sh: cmake --install $build failed (see $vmdir/install.log)" >&2; exit 70; }
    "$here/initramfs.sh" "$build" "$vmdir/installed" "$kdir" "$initrd"
  fi
) 9>"$vmdir/initramfs.lock"

# Scenario settings (defaults first).
devices=()
smp=1
append=
check() { :; }
if [[ "$scenario" != shell && "$scenario" != probe ]]; then
  # shellcheck source=/dev/null
  . "$here/scenarios/$scenario.sh"
fi

qemu_base() {  # accel-args... : sets qemu_cmd
  qemu_cmd=(qemu-system-x86_64 "$@" -machine q35 -m 512M -smp "$smp" -nodefaults -nographic -no-reboot
    -kernel "$kdir/vmlinux" -initrd "$initrd")
}

# boot ACCEL_ARGS... : runs the guest with the console and monitor on FIFOs and
# answers its requests (TRACE on|off: QEMU's memory_region_ops_* trace events;
# LINK on|off: `set_link nic0`, the link of the scenario's NIC of id nic0);
# returns QEMU's status.
boot() {
  local run=$1 limit=$2
  shift 2
  rm -rf "$run"
  mkdir -p "$run"
  mkfifo "$run/con.in" "$run/con.out" "$run/mon.in" "$run/mon.out"
  : > "$run/console.log"
  : > "$run/monitor.log"
  qemu_base "$@"
  timeout -k 5 "$limit" "${qemu_cmd[@]}" "${devices[@]}" \
    -append "console=ttyS0 panic=-1 quiet no_timer_check mmiotrace_vm=$scenario mmiotrace_vm_watchdog=$watchdog $append" \
    -chardev pipe,id=con,path="$run/con" -serial chardev:con \
    -chardev file,id=out,path="$run/out.tgz" -serial chardev:out \
    -chardev pipe,id=mon,path="$run/mon" -mon chardev=mon,mode=readline \
    -trace enable=pci_update_mappings_add -D "$run/qemu.log" 2> "$run/qemu.stderr" &
  local qpid=$!
  cat "$run/con.out" > "$run/console.log" &
  local cpid=$!
  cat "$run/mon.out" > "$run/monitor.log" &
  local mpid=$!
  exec 7<>"$run/con.in" 8<>"$run/mon.in"
  local handled=0 n request state before prompts
  local requests='@@MMIOTRACE-VM \(TRACE\|LINK\) [a-z]*'
  while kill -0 "$qpid" 2>/dev/null; do
    n=$(grep -ao "$requests" "$run/console.log" | wc -l)
    while ((handled < n)); do
      handled=$((handled + 1))
      read -r _ request state < <(grep -ao "$requests" "$run/console.log" | sed -n "${handled}p")
      before=$(grep -o '(qemu)' "$run/monitor.log" | wc -l)
      if [[ "$request" == TRACE ]]; then
        printf 'trace-event memory_region_ops_read %s\ntrace-event memory_region_ops_write %s\n' "$state" "$state" >&8
        prompts=2
      else
        printf 'set_link nic0 %s\n' "$state" >&8
        prompts=1
      fi
      local answered=0
      for _ in $(seq 1500); do
        (($(grep -o '(qemu)' "$run/monitor.log" | wc -l) >= before + prompts)) && answered=1 && break
        sleep 0.02
      done
      ((answered)) || echo "QEMU's monitor did not confirm '$request $state' within 30 s" >> "$run/host-errors"
      echo "${request,,} $state" >&7
    done
    sleep 0.05
  done
  local rc=0
  wait "$qpid" || rc=$?
  exec 7>&- 8>&-
  kill "$cpid" "$mpid" 2>/dev/null || true
  wait "$cpid" "$mpid" 2>/dev/null || true
  return $rc
}

# TCG unless KVM boots this kernel (on these machines it does not: the host's
# KVM refuses the guest CPU's MSRs). Probed once per build; MMIOTRACE_VM_ACCEL
# (tcg or kvm) overrides.
accel=${MMIOTRACE_VM_ACCEL:-}
if [[ -z "$accel" ]]; then
  accel=$({
    flock 9
    if [[ ! -s "$vmdir/accel" ]]; then
      a=tcg
      if [[ -r /dev/kvm && -w /dev/kvm ]]; then
        ( scenario=probe; devices=(); boot "$vmdir/probe" 15 -accel kvm -cpu host ) >/dev/null 2>&1 || true
        grep -aq '@@MMIOTRACE-VM DONE rc=0' "$vmdir/probe/console.log" 2>/dev/null && a=kvm
      fi
      echo "$a" > "$vmdir/accel"
    fi
    cat "$vmdir/accel"
  } 9>"$vmdir/accel.lock")
fi
if [[ "$accel" == kvm ]]; then accel_args=(-accel kvm -cpu host); else accel_args=(-accel tcg -cpu max); fi

if ((shell)); then
  scenario=shell
  qemu_base "${accel_args[@]}"
  exec "${qemu_cmd[@]}" "${devices[@]}" -serial mon:stdio \
    -append "console=ttyS0 panic=-1 quiet no_timer_check mmiotrace_vm=shell $append" \
    -trace enable=pci_update_mappings_add -D "$vmdir/shell-qemu.log"
fi

run=$vmdir/$scenario
start=$(date +%s%N)
fail() {
  echo "FAIL ($scenario): $*"
  if grep -aq '@@MMIOTRACE-VM WATCHDOG' "$run/console.log" 2>/dev/null; then
    echo "--- the guest's watchdog (tests/vm/guest/lib.sh vm_watchdog_report)"
    sed -n '/@@MMIOTRACE-VM WATCHDOG:/,/@@MMIOTRACE-VM WATCHDOG END/p' "$run/console.log" | tr -d '\r'
  fi
  echo "--- console (last 30 lines)"
  tail -n 30 "$run/console.log" 2>/dev/null | tr -d '\r'
  if [[ -s "$run/qemu.stderr" ]]; then echo "--- QEMU's stderr"; tail -n 20 "$run/qemu.stderr"; fi
  if [[ -s "$run/out/guest.log" ]]; then echo "--- guest.log"; tail -n 60 "$run/out/guest.log"; fi
  echo "--- files in $run; reproduce: $here/run.sh $build $scenario (or --shell to look around)"
  exit 1
}
qrc=0
limit=${MMIOTRACE_VM_TIMEOUT:-600}
# The guest's watchdog reports what still runs 30 s before the timeout (a
# quarter of it before, for a short one); MMIOTRACE_VM_WATCHDOG=SECS sets it.
watchdog=${MMIOTRACE_VM_WATCHDOG:-$((limit >= 120 ? limit - 30 : limit * 3 / 4))}
boot "$run" "$limit" "${accel_args[@]}" || qrc=$?
secs=$(( ($(date +%s%N) - start) / 1000000 ))
done_line=$(grep -ao '@@MMIOTRACE-VM DONE.*' "$run/console.log" | tr -d '\r' || true)
[[ -n "$done_line" ]] || fail "the guest never finished (QEMU status $qrc, accel $accel)"
mkdir -p "$run/out"
sent=$(stat -c %s "$run/out.tgz" 2>/dev/null || echo 0)
[[ "$done_line" == *" bytes=$sent" ]] || fail "the guest sent $done_line, the host has $sent bytes"
tar xzf "$run/out.tgz" -C "$run/out" || fail "cannot unpack what the guest sent ($done_line)"
[[ ! -s "$run/host-errors" ]] || fail "$(cat "$run/host-errors")"
guest_rc=$(cat "$run/out/rc")
[[ "$guest_rc" == 0 ]] || fail "the guest scenario failed with status $guest_rc"
compare=$build/tests/vm/vm_compare
out=$run/out
qlog=$run/qemu.log
# device_facts NAME QEMU_DEVICE: loads what the guest saw of a device
# (out/NAME.facts.sh: bdf, bar0_start, bar0_size, ...) and checks it against
# QEMU's own record of where BAR0 is mapped (its last pci_update_mappings_add).
device_facts() {
  . "$out/$1.facts.sh"
  local q
  q=$(grep -a "^pci_update_mappings_add $2 .* 0,0x" "$qlog" | tail -1 | awk '{print $3, $4}')
  local want
  want=$(printf '%s 0,0x%x+0x%x' "${bdf#0000:}" "$bar0_start" "$bar0_size")
  if [[ "$q" != "$want" ]]; then
    echo "$1: the guest sees $bdf BAR0 at $bar0_start+$bar0_size, QEMU mapped $2 at '$q'"
    return 1
  fi
  echo "$1: $bdf BAR0 $bar0_start+$bar0_size, as QEMU mapped it"
}
# step_race_free NAME: /out/NAME.mmio was recorded with --mode=step, single-
# stepped with protection keys only: the header says step mode and not
# kFeatureStepMayMiss, record printed no mprotect note, and the summary
# counts stepped instructions.
# patched_some: a _patch1 scenario's recordings patched at least one
# instruction site (record's summary).
patched_some() {
  grep -hoE '[0-9]+ instruction sites? patched' "$out"/*.out | grep -v '^0 ' ||
    { echo "no recording patched an instruction site"; return 1; }
}

step_race_free() {
  local header
  header=$("$build/bin/mmiotrace" print --format native "$out/$1.mmio" | grep '^#') ||
    { echo "$1: cannot print the trace's header"; return 1; }
  grep -qx '# mode step' <<< "$header" || { echo "$1: the trace header does not say step mode"; return 1; }
  if grep -q 'single-stepped with mprotect' - "$out/$1.out" <<< "$header"; then
    echo "$1: stepped with mprotect (not race-free), where the pkeys scenario found a protection key works:"
    grep -h 'mprotect' - "$out/$1.out" <<< "$header"
    return 1
  fi
  grep -qE 'instructions? single-stepped' "$out/$1.out" || { echo "$1: record's summary counts no stepped instruction"; return 1; }
  echo "$1: step mode, race-free (protection keys, no mprotect stepping): $(grep -oE '[0-9]+ instructions? single-stepped' "$out/$1.out")"
}
echo "== $scenario: guest done in ${secs} ms ($accel); checks:"
check || fail "check failed"
echo "PASS ($scenario)"
