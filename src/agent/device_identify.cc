// Normal context (mmap interposer); allocates nothing: fixed buffers only.
#include "agent/device_identify.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/session.h"
#include "trace/encode.h"

namespace mmiotrace::agent {

namespace {

// Reads a small text file into buf (NUL-terminated). Returns bytes read or -1.
ssize_t read_small(const char* path, char* buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return n;
}

bool read_hex(const char* path, uint64_t* out) {
  char buf[64];
  if (read_small(path, buf, sizeof(buf)) <= 0) return false;
  char* end = nullptr;
  *out = strtoull(buf, &end, 16);
  return end != buf;
}

const char* sysroot() { return g_agent.channel->sysroot; }

// "dddd:bb:dd.f" -> (domain << 16) | (bus << 8) | devfn.
bool parse_pci_address(const char* name, uint32_t* busdevfn) {
  unsigned dom, bus, dev, fn;
  char tail;
  if (sscanf(name, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &tail) != 4) return false;
  *busdevfn = (dom << 16) | (bus << 8) | (dev << 3) | fn;
  return true;
}

// Line `index` of a sysfs "resource" file: "0xstart 0xend 0xflags".
bool pci_resource(const char* pci_dir, unsigned index, uint64_t* start, uint64_t* end, uint64_t* flags) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/resource", pci_dir);
  char buf[4096];
  if (read_small(path, buf, sizeof(buf)) <= 0) return false;
  char* line = buf;
  for (unsigned i = 0; i < index && line != nullptr; ++i) {
    line = strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  unsigned long long s, e, f;
  if (line == nullptr || sscanf(line, "%llx %llx %llx", &s, &e, &f) != 3) return false;
  *start = s;
  *end = e;
  *flags = f;
  return true;
}

// /sys/devices/.../<pci address>/resource<N>[_wc]
bool identify_pci_resource(const char* rel, uint64_t offset, DeviceInfo* out) {
  if (strncmp(rel, "/sys/devices/", 13) != 0) return false;
  const char* base = strrchr(rel, '/');
  unsigned bar;
  char tail[8] = {};
  if (sscanf(base + 1, "resource%u%7s", &bar, tail) < 1 || (tail[0] != '\0' && strcmp(tail, "_wc") != 0)) {
    return false;
  }
  if (bar > 5) return false;
  // The parent directory is the PCI device.
  snprintf(out->pci_dir, sizeof(out->pci_dir), "%s", out->path);
  *strrchr(out->pci_dir, '/') = '\0';
  const char* dev_name = strrchr(out->pci_dir, '/') + 1;
  if (!parse_pci_address(dev_name, &out->busdevfn)) return false;
  uint64_t start, end, flags;
  if (!pci_resource(out->pci_dir, bar, &start, &end, &flags)) return false;
  out->kind = trace::DeviceKind::PCI_RESOURCE;
  out->bar = static_cast<uint16_t>(bar);
  out->phys = start + offset;
  out->offset = offset;
  out->has_pci = true;
  return true;
}

// Calls fn(name, dir, ctx) for each PCI device under /sys/bus/pci/devices
// (raw getdents64 into a stack buffer: opendir would allocate), with `name`
// its folder name ("0000:00:04.0") and `dir` its sysfs folder, until fn
// returns false.
template <typename Fn>
void for_each_pci_device(Fn&& fn) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s/sys/bus/pci/devices", sysroot());
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  struct Dirent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[1];
  };
  alignas(8) char buf[4096];
  bool go_on = true;
  while (go_on) {
    long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
    if (n <= 0) break;
    for (long pos = 0; pos < n && go_on;) {
      const auto* d = reinterpret_cast<const Dirent64*>(buf + pos);
      pos += d->reclen;
      if (d->name[0] == '.') continue;
      char pci_dir[PATH_MAX + 256];
      snprintf(pci_dir, sizeof(pci_dir), "%s/%s", dir, d->name);
      go_on = fn(d->name, pci_dir);
    }
  }
  close(dfd);
}

// The PCI device whose BAR `bar` starts at `start`: the name of its folder
// under /sys/bus/pci/devices. BAR addresses are unique, so at most one device matches.
bool find_pci_device_by_bar(unsigned bar, uint64_t start, char* name, size_t cap) {
  bool found = false;
  for_each_pci_device([&](const char* dev_name, const char* pci_dir) {
    uint64_t s = 0, e = 0, f = 0;
    if (pci_resource(pci_dir, bar, &s, &e, &f) && s == start && e != 0) {
      snprintf(name, cap, "%s", dev_name);
      found = true;
    }
    return !found;
  });
  return found;
}

// The memory resource (BAR0-5 or ROM) of the device in `pci_dir` that
// overlaps [phys, phys + len): its index, or -1. With `containing`, only one
// that holds `phys` itself. I/O port BARs (IORESOURCE_IO) are not memory.
int pci_memory_resource_in_range(const char* pci_dir, uint64_t phys, uint64_t len, bool containing) {
  constexpr uint64_t kIoresourceMem = 0x200;  // include/linux/ioport.h
  for (unsigned i = 0; i < 7; ++i) {
    uint64_t s = 0, e = 0, f = 0;
    if (!pci_resource(pci_dir, i, &s, &e, &f) || (f & kIoresourceMem) == 0 || e == 0 || e < s) continue;
    const uint64_t last = len == 0 ? phys : phys + len - 1;
    if (containing ? (phys >= s && phys <= e) : (phys <= e && last >= s)) return static_cast<int>(i);
  }
  return -1;
}

// The PCI device one of whose memory BARs holds physical address `phys` (or,
// failing that, overlaps [phys, phys + len)): how a mapping that names no
// device (/dev/mem, a UIO map of a platform device) gets its PCIDEV line.
bool attach_pci_by_range(uint64_t phys, uint64_t len, DeviceInfo* out) {
  for (bool containing : {true, false}) {
    bool found = false;
    for_each_pci_device([&](const char* name, const char* pci_dir) {
      const int index = pci_memory_resource_in_range(pci_dir, phys, len, containing);
      uint32_t busdevfn = 0;
      const size_t dir_len = strlen(pci_dir);
      if (index < 0 || !parse_pci_address(name, &busdevfn) || dir_len >= sizeof(out->pci_dir)) return true;
      memcpy(out->pci_dir, pci_dir, dir_len + 1);
      out->busdevfn = busdevfn;
      out->bar = static_cast<uint16_t>(index);
      out->has_pci = true;
      found = true;
      return false;
    });
    if (found) return true;
  }
  return false;
}

// /dev/uio<N>: the mmap offset selects map N/pagesize; its physical address is
// in /sys/class/uio/uio<N>/maps/map<i>/addr (Documentation/driver-api/uio-howto.rst).
bool identify_uio(const char* rel, uint64_t offset, uint64_t len, DeviceInfo* out) {
  unsigned n;
  char tail;
  if (sscanf(rel, "/dev/uio%u%c", &n, &tail) != 1) return false;
  auto index = static_cast<unsigned>(offset / static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/sys/class/uio/uio%u/maps/map%u/addr", sysroot(), n, index);
  uint64_t addr;
  if (!read_hex(path, &addr)) return false;
  out->kind = trace::DeviceKind::UIO;
  out->phys = addr;
  out->offset = 0;  // the mmap offset only selects the map
  out->bar = static_cast<uint16_t>(index);
  snprintf(path, sizeof(path), "%s/sys/class/uio/uio%u/device", sysroot(), n);
  if (realpath(path, out->pci_dir) != nullptr) {
    const char* name = strrchr(out->pci_dir, '/');
    out->has_pci = name != nullptr && parse_pci_address(name + 1, &out->busdevfn);
  }
  if (!out->has_pci) {
    // A UIO device that is not a PCI device (uio_pdrv_genirq, ...) may still
    // map a piece of a PCI BAR.
    const uint16_t map_index = out->bar;
    if (attach_pci_by_range(addr, len, out)) out->bar = map_index;
  }
  return true;
}

// A region of a VFIO device fd ("anon_inode:[vfio-device]"). The fd names no
// device, so: the region holding the mmap offset comes from
// VFIO_DEVICE_GET_REGION_INFO; the BAR's physical address from the BAR register
// in the device's config region (vfio-pci shows the real BAR address there,
// from pci_resource_start, until the program writes the register); the PCI
// device from the one sysfs device with that BAR address
// (Documentation/driver-api/vfio.rst; drivers/vfio/pci/vfio_pci_config.c).
bool identify_vfio(int fd, uint64_t offset, uint64_t len, DeviceInfo* out) {
  vfio_device_info info{};
  info.argsz = sizeof(info);
  if (ioctl(fd, VFIO_DEVICE_GET_INFO, &info) != 0 || (info.flags & VFIO_DEVICE_FLAGS_PCI) == 0) return false;
  for (unsigned bar = VFIO_PCI_BAR0_REGION_INDEX; bar <= VFIO_PCI_BAR5_REGION_INDEX && bar < info.num_regions; ++bar) {
    vfio_region_info region{};
    region.argsz = sizeof(region);
    region.index = bar;
    if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &region) != 0 || region.size == 0) continue;
    if (offset < region.offset || offset - region.offset >= region.size) continue;
    vfio_region_info config{};
    config.argsz = sizeof(config);
    config.index = VFIO_PCI_CONFIG_REGION_INDEX;
    if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &config) != 0) return false;
    uint32_t lo = 0, hi = 0;
    auto reg = static_cast<off_t>(config.offset + 0x10 + 4 * bar);  // PCI_BASE_ADDRESS_0 + 4 * bar
    // The system call itself: the agent's own pread interposer is not for it.
    auto raw_pread = [fd](void* b, size_t n, off_t o) { return syscall(SYS_pread64, fd, b, n, o); };
    if (raw_pread(&lo, sizeof(lo), reg) != sizeof(lo)) return false;
    // Memory BAR, type 64-bit (PCI_BASE_ADDRESS_MEM_TYPE_64): the next register holds the high half.
    if ((lo & 0x7) == 0x4 && raw_pread(&hi, sizeof(hi), reg + 4) != sizeof(hi)) return false;
    uint64_t start = (static_cast<uint64_t>(hi) << 32) | (lo & ~uint64_t{0xf});
    out->kind = trace::DeviceKind::VFIO;
    out->bar = static_cast<uint16_t>(bar);
    out->phys = start + (offset - region.offset);
    out->offset = offset - region.offset;
    char name[64];
    if (start != 0 && find_pci_device_by_bar(bar, start, name, sizeof(name))) {
      snprintf(out->pci_dir, sizeof(out->pci_dir), "%s/sys/bus/pci/devices/%s", sysroot(), name);
      out->has_pci = parse_pci_address(name, &out->busdevfn);
    }
    if (!out->has_pci && start != 0) {
      attach_pci_by_range(out->phys, len, out);
      out->bar = static_cast<uint16_t>(bar);  // the VFIO region index is the BAR
    }
    return true;
  }
  return false;
}

// The index of the first --device glob `path` matches, or -1.
int matching_device_glob(const char* path) {
  const char* g = g_agent.channel->device_globs;
  for (int i = 0; *g != '\0'; ++i) {
    if (fnmatch(g, path, 0) == 0) return i;
    g += strlen(g) + 1;
  }
  return -1;
}

// A stand-in device: the identity record gave it (--device GLOB,phys=...,pci=...).
void identify_stand_in(int index, uint64_t offset, DeviceInfo* out) {
  const trace::StandInIdentity& id = g_agent.channel->stand_ins[index];
  out->kind = trace::DeviceKind::FILE;
  out->phys = ((id.flags & trace::kStandInPhys) != 0 ? id.phys : 0) + offset;
  if ((id.flags & trace::kStandInPci) != 0) {
    out->has_pci = true;
    out->busdevfn = id.busdevfn;
    out->bar = id.bar;
    out->stand_in = index;
  }
}

// A stand-in memfd of the session (replay, a model): the device it stands
// for, with the path and identity the session gives it.
bool identify_session_stand_in(int path, uint64_t offset, DeviceInfo* out) {
  const int i = stand_in_device_at(path, offset);
  if (i < 0) return false;
  const trace::SessionDevice& d = session_device(static_cast<uint32_t>(i));
  out->kind = static_cast<trace::DeviceKind>(d.kind);
  out->phys = d.phys_base + (offset - d.file_base);
  out->offset = offset - d.file_base;
  out->bar = d.bar;
  out->has_pci = (d.flags & trace::kDevicePci) != 0;
  out->busdevfn = d.busdevfn;
  out->session_device = i;
  snprintf(out->path, sizeof(out->path), "%s", session_path(d.path).path);
  return true;
}

}  // namespace

bool identify_device(int fd, uint64_t offset, uint64_t len, DeviceInfo* out) {
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out->path, sizeof(out->path) - 1);
  if (n <= 0) return false;
  out->path[n] = '\0';
  if (const int sp = stand_in_for_fd_link(out->path); sp >= 0) return identify_session_stand_in(sp, offset, out);
  const char* root = sysroot();
  size_t root_len = strlen(root);
  const char* rel = out->path;
  if (root_len != 0) {
    if (strncmp(out->path, root, root_len) == 0)
      rel = out->path + root_len;
    else
      rel = "";  // with a fake sysroot, only files under it are real devices
  }
  if (strcmp(rel, "/dev/mem") == 0) {
    out->kind = trace::DeviceKind::DEV_MEM;
    out->phys = offset;
    out->offset = offset;
    // The PCIDEV lines: every device with a BAR in the range (pcidevs_in_range).
    attach_pci_by_range(offset, len, out);
    return true;
  }
  if (identify_uio(rel, offset, len, out)) return true;
  // A VFIO device fd: from a group (an anonymous inode), or from the device's
  // character device /dev/vfio/devices/vfioN (kernels from 6.6 on; not tested
  // here, Debian 12's kernel predates it).
  if ((strcmp(out->path, "anon_inode:[vfio-device]") == 0 || strncmp(rel, "/dev/vfio/devices/vfio", 22) == 0) &&
      identify_vfio(fd, offset, len, out)) {
    return true;
  }
  if (identify_pci_resource(rel, offset, out)) return true;
  if (const int i = matching_device_glob(out->path); i >= 0 && static_cast<size_t>(i) < trace::kMaxStandIns) {
    identify_stand_in(i, offset, out);
    out->offset = offset;
    return true;
  }
  return false;
}

bool is_device_path(const char* path) {
  const char* root = sysroot();
  const size_t root_len = strlen(root);
  const char* rel = path;
  if (root_len != 0) rel = strncmp(path, root, root_len) == 0 ? path + root_len : "";
  unsigned n = 0;
  char tail = 0;
  if (strcmp(rel, "/dev/mem") == 0 || sscanf(rel, "/dev/uio%u%c", &n, &tail) == 1 ||
      strcmp(path, "anon_inode:[vfio-device]") == 0 || strncmp(rel, "/dev/vfio/devices/vfio", 22) == 0) {
    return true;
  }
  if (strncmp(rel, "/sys/devices/", 13) == 0) {
    unsigned bar = 0;
    char suffix[8] = {};
    const char* base = strrchr(rel, '/') + 1;
    if (sscanf(base, "resource%u%7s", &bar, suffix) >= 1 && (suffix[0] == '\0' || strcmp(suffix, "_wc") == 0))
      return true;
  }
  return matching_device_glob(path) >= 0;
}

namespace {

// A PCIDEV record for the device in sysfs folder `pci_dir`, as the kernel's
// /proc/bus/pci/devices shows it.
size_t build_pcidev_from_sysfs(const char* pci_dir, uint32_t busdevfn, uint8_t* buf, size_t cap) {
  char path[PATH_MAX + 32];
  uint64_t vendor = 0, device = 0;
  snprintf(path, sizeof(path), "%s/vendor", pci_dir);
  read_hex(path, &vendor);
  snprintf(path, sizeof(path), "%s/device", pci_dir);
  read_hex(path, &device);
  char irq_text[32] = {};
  snprintf(path, sizeof(path), "%s/irq", pci_dir);
  read_small(path, irq_text, sizeof(irq_text));
  char driver[PATH_MAX] = {};
  snprintf(path, sizeof(path), "%s/driver", pci_dir);
  ssize_t dn = readlink(path, driver, sizeof(driver) - 1);
  const char* driver_name = "";
  if (dn > 0) {
    driver[dn] = '\0';
    driver_name = strrchr(driver, '/') != nullptr ? strrchr(driver, '/') + 1 : driver;
  }
  trace::PciDevFields f;
  f.busdevfn = busdevfn;
  f.vendor = static_cast<uint16_t>(vendor);
  f.device = static_cast<uint16_t>(device);
  f.irq = static_cast<uint32_t>(strtoul(irq_text, nullptr, 10));
  f.driver = driver_name;
  f.driver_len = static_cast<uint16_t>(strlen(driver_name));
  for (unsigned i = 0; i < 7; ++i) {
    uint64_t start = 0, end = 0, flags = 0;
    if (!pci_resource(pci_dir, i, &start, &end, &flags)) continue;
    // /proc/bus/pci/devices: start | (flags & PCI_REGION_FLAG_MASK), size = end - start + 1.
    f.start[i] = start | (flags & 0xf);
    f.size[i] = start != 0 || end != 0 ? end - start + 1 : 0;
  }
  return trace::encode_pcidev(buf, cap, trace::RecordStamp{}, f);
}

// A PCIDEV record for stand-in PCI device `busdevfn`: every stand-in of that
// slot is one of its BARs, so the record is the same whichever is mapped
// first. Memory BARs, 64-bit (flag 4) where they reach above 4 GiB; no IRQ,
// no driver.
size_t build_pcidev_for_stand_in(uint32_t busdevfn, uint8_t* buf, size_t cap) {
  trace::PciDevFields f;
  f.busdevfn = busdevfn;
  f.driver = "";
  for (const trace::StandInIdentity& id : g_agent.channel->stand_ins) {
    if ((id.flags & trace::kStandInPci) == 0 || id.busdevfn != busdevfn || id.bar > 5) continue;
    f.vendor = id.vendor;
    f.device = id.device;
    f.start[id.bar] = id.phys | (id.phys + id.bar_size > (uint64_t{1} << 32) ? 4 : 0);
    f.size[id.bar] = id.bar_size;
  }
  return trace::encode_pcidev(buf, cap, trace::RecordStamp{}, f);
}

}  // namespace

size_t build_pcidev(const DeviceInfo& info, uint8_t* buf, size_t cap) {
  if (!info.has_pci) return 0;
  if (info.session_device >= 0) {
    const trace::SessionDevice& d = session_device(static_cast<uint32_t>(info.session_device));
    if (d.pcidev_len == 0 || d.pcidev_len > cap) return 0;
    memcpy(buf, reinterpret_cast<const char*>(session()) + d.pcidev_off, d.pcidev_len);
    return d.pcidev_len;
  }
  if (info.stand_in >= 0) return build_pcidev_for_stand_in(info.busdevfn, buf, cap);
  return build_pcidev_from_sysfs(info.pci_dir, info.busdevfn, buf, cap);
}

void pcidevs_in_range(uint64_t phys, uint64_t len, void (*emit)(uint8_t* record, size_t size, void* ctx), void* ctx) {
  for_each_pci_device([&](const char* name, const char* pci_dir) {
    uint32_t busdevfn = 0;
    if (pci_memory_resource_in_range(pci_dir, phys, len, false) < 0 || !parse_pci_address(name, &busdevfn)) return true;
    alignas(8) uint8_t buf[trace::record_size_for_pcidev(256)];
    const size_t n = build_pcidev_from_sysfs(pci_dir, busdevfn, buf, sizeof(buf));
    if (n != 0) emit(buf, n, ctx);
    return true;
  });
}

}  // namespace mmiotrace::agent
