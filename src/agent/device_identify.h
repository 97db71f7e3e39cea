// Which files are device memory, and where their bytes live physically.
// Runs in normal context (inside the mmap interposer), never in the handler;
// it still allocates nothing, because mmap can be called from anywhere.
#pragma once

#include <limits.h>
#include <sys/types.h>

#include <cstdint>

#include "trace/format.h"

namespace mmiotrace::agent {

struct DeviceInfo {
  trace::DeviceKind kind = trace::DeviceKind::FILE;
  uint64_t phys = 0;             // physical address of the mapping's first byte
  uint64_t offset = 0;           // offset of the mapping's first byte into its device (BAR, file, UIO map)
  uint16_t bar = trace::kNoBar;  // the BAR (for UIO: the map index)
  // The PCI device: the sysfs resource file's, the UIO device's, the one
  // with the VFIO region's BAR, or (/dev/mem, UIO and VFIO otherwise) the
  // one with a memory BAR holding `phys`.
  uint32_t busdevfn = 0;  // valid if has_pci
  bool has_pci = false;
  int stand_in = -1;            // a --device stand-in with a PCI identity: its index in the channel's stand_ins
  char path[PATH_MAX] = {};     // the device file, as the kernel names the fd
  char pci_dir[PATH_MAX] = {};  // sysfs directory of the PCI device, if has_pci
  int session_device = -1;      // a device the session stands in for (agent/session.h): its index
};

// Decides whether mmap(fd, offset) of `len` bytes maps device memory: a PCI
// sysfs resource file, /dev/mem, /dev/uio<N>, a BAR region of a VFIO device
// fd, or a file matching one of record's --device globs. The file is named by
// the descriptor itself (/proc/self/fd), so the way the program opened it
// (open, fopen, dup, fcntl, inheritance) does not matter.
bool identify_device(int fd, uint64_t offset, uint64_t len, DeviceInfo* out);

// Whether a mapped file named `path` (as /proc/self/maps names it) is device
// memory by its name alone: what identify_device would say of it.
bool is_device_path(const char* path);

// Fills a PCIDEV record for the device in info.pci_dir (from sysfs, as the
// kernel's /proc/bus/pci/devices shows it), for a stand-in with a PCI
// identity, from the identities record gave its stand-ins, or, for a device
// a replay session stands in for, the recorded one the session holds.
// Returns the record size, 0 on failure.
size_t build_pcidev(const DeviceInfo& info, uint8_t* buf, size_t cap);

// Builds the PCIDEV record of every PCI device with a memory BAR (or ROM)
// overlapping physical [phys, phys + len) and passes each to `emit`: a
// /dev/mem mapping may cover several devices, and a reader attributes an
// access to a device by its BAR ranges.
void pcidevs_in_range(uint64_t phys, uint64_t len, void (*emit)(uint8_t* record, size_t size, void* ctx), void* ctx);

}  // namespace mmiotrace::agent
