// Device file paths, by their text alone: never by opening, stat'ing or
// resolving them. Replay and device models stand in for device files the
// program opens (docs/replay.md): they must recognise a device's path before
// the kernel sees it, because on this machine the same path may name one of
// its own live devices.
//
// Async-signal-safe and allocation-free: the agent's open() interposer uses
// these; the CLI uses the same functions to build its keys.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mmiotrace {

// `path` made absolute (against `cwd` if relative) and lexically normal: no
// empty, "." or ".." components (".." removes the component before it, as
// if no component were a symbolic link). False if it does not fit in `cap`.
bool normalize_path(const char* path, const char* cwd, char* out, size_t cap);

// A file of a PCI device in sysfs, in either of the forms the kernel offers:
// <prefix>/sys/bus/pci/devices/<dddd:bb:dd.f>/<file> (a symbolic link to the
// other) or <prefix>/sys/devices/<...>/<dddd:bb:dd.f>/<file>. The prefix is
// empty on a real system and a fake root in tests (record --sysroot).
struct SysfsPciFile {
  size_t prefix_len = 0;       // bytes of the path before "/sys/"
  uint32_t busdevfn = 0;       // (domain << 16) | (bus << 8) | (device << 3) | function
  const char* file = nullptr;  // the last component, within the path ("resource0", "config", ...)
};
// `path` must be normalized. False if it is not such a file.
bool parse_sysfs_pci_file(const char* path, SysfsPciFile* out);

// "dddd:bb:dd.f" (exactly the kernel's form) into a busdevfn.
bool parse_pci_address(const char* text, size_t len, uint32_t* busdevfn);

// Whether two normalized paths name the same device file: equal, or the same
// file of the same PCI device under the same prefix in either sysfs form.
bool same_device_file(const char* a, const char* b);

// Whether a normalized path names one of this machine's own device files
// (with no fake root): /dev/mem, /dev/uio<N>, anything under /dev/vfio/, any
// file of a PCI device under /sys, anything under /sys/class/uio/.
bool names_real_device(const char* path);

}  // namespace mmiotrace
