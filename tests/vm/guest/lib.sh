# Helpers for the guest side of the scenarios (sourced by /init; busybox sh).

# A line the host reads on the console (tests/vm/run.sh).
vm_say() { echo "@@MMIOTRACE-VM $*" > /dev/console; }

# The watchdog's report (init): every user-space thread's state, wait
# channel, system call and kernel stack, then the tails of the scenario's
# logs, between two lines the host looks for.
vm_watchdog_report() {
  {
    echo
    echo "@@MMIOTRACE-VM WATCHDOG: the scenario is still running; its threads and logs:"
    for t in /proc/[0-9]*/task/[0-9]*; do
      [ -e "${t%/task/*}/exe" ] || continue  # kernel threads have no executable
      echo "$t $(cat "$t/comm" 2> /dev/null) state=$(cut -d' ' -f3 "$t/stat" 2> /dev/null)" \
        "wchan=$(cat "$t/wchan" 2> /dev/null) syscall=$(cut -d' ' -f1 "$t/syscall" 2> /dev/null)" \
        "stack: $(head -4 "$t/stack" 2> /dev/null | sed 's/^\[<0>\] //' | tr '\n' ' ')"
    done
    for f in /out/*; do
      case $f in *.log | *.out) ;; *) continue ;; esac
      echo "--- tail of $f"
      tail -n 15 "$f"
    done
    echo "@@MMIOTRACE-VM WATCHDOG END"
  } > /dev/console 2>&1
}

# Switch QEMU's memory_region_ops_* trace events on or off: the host does it
# through the monitor and answers on the console once it is done, so nothing
# the scenario does after this returns is missed.
vm_trace() {
  if [ -n "${VM_SHELL:-}" ]; then
    echo "(shell: no host answers; switch the events with QEMU's monitor, Ctrl-A c: trace-event memory_region_ops_* $1)"
    return 0
  fi
  vm_say "TRACE $1"
  read -r -t 60 reply < /dev/console || { echo "no answer from the host to TRACE $1" >&2; return 1; }
}
vm_trace_on() { vm_trace on; }
vm_trace_off() { vm_trace off; }

# Take the link of the scenario's NIC (QEMU device id nic0) down or up: the
# host types `set_link nic0 off|on` into QEMU's monitor and answers once done.
vm_link() {
  vm_say "LINK $1"
  read -r -t 60 reply < /dev/console || { echo "no answer from the host to LINK $1" >&2; return 1; }
}

# vm_pci VENDOR DEVICE: the sysfs folder of the first such PCI device.
vm_pci() {
  for d in /sys/bus/pci/devices/*; do
    if [ "$(cat "$d/vendor")" = "0x$1" ] && [ "$(cat "$d/device")" = "0x$2" ]; then
      echo "$d"
      return 0
    fi
  done
  echo "no PCI device $1:$2" >&2
  return 1
}

# vm_bar DIR N: "START SIZE FLAGS" of BAR N (sysfs resource, line N+1), hex with 0x.
vm_bar() {
  sed -n "$(($2 + 1))p" "$1/resource" | {
    read -r start end flags
    printf '0x%x 0x%x 0x%x\n' "$start" $((end - start + 1)) "$flags"
  }
}

# vm_facts NAME DIR: what the guest sees of a device, for the host's checks, as
# shell assignments in /out/NAME.facts.sh: bdf, vendor, device, bar0_start,
# bar0_size, bar0_flags.
vm_facts() {
  {
    echo "bdf=${2##*/}"
    echo "vendor=$(cat "$2/vendor")"
    echo "device=$(cat "$2/device")"
    vm_bar "$2" 0 | { read -r s z f; echo "bar0_start=$s bar0_size=$z bar0_flags=$f"; }
  } > "/out/$1.facts.sh"
}

# vm_bind DIR DRIVER: bind the device to DRIVER (driver_override).
vm_bind() {
  if [ -e "$1/driver" ]; then echo "${1##*/}" > "$1/driver/unbind"; fi
  echo "$2" > "$1/driver_override"
  echo "${1##*/}" > /sys/bus/pci/drivers_probe
  [ "$(readlink "$1/driver")" != "" ] && [ "$(basename "$(readlink "$1/driver")")" = "$2" ]
}

# vm_record NAME CMD...: CMD under `mmiotrace record`, trace in /out/NAME.mmio,
# its output in /out/NAME.out, the kernel-format print in /out/NAME.txt.
# VM_MODE=step (set by a scenario's guest half before it sources another's)
# records with --mode=step; VM_RECORD_ARGS (likewise) are more options for
# record (the _patch1 scenarios: --patch-after=1).
vm_record() {
  name=$1
  shift
  rc=0
  # shellcheck disable=SC2086 # VM_RECORD_ARGS is a list of options
  mmiotrace record ${VM_MODE:+--mode=$VM_MODE} $VM_RECORD_ARGS -o "/out/$name.mmio" -- "$@" > "/out/$name.out" 2>&1 ||
    rc=$?
  mmiotrace print "/out/$name.mmio" > "/out/$name.txt" 2>&1 || true
  echo "$name: exit $rc"
  cat "/out/$name.out"
  return $rc
}
