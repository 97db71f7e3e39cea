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
  out->has_pci = true;
  return true;
}

// /dev/uio<N>: the mmap offset selects map N/pagesize; its physical address is
// in /sys/class/uio/uio<N>/maps/map<i>/addr (Documentation/driver-api/uio-howto.rst).
bool identify_uio(const char* rel, uint64_t offset, DeviceInfo* out) {
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
  out->bar = static_cast<uint16_t>(index);
  snprintf(path, sizeof(path), "%s/sys/class/uio/uio%u/device", sysroot(), n);
  if (realpath(path, out->pci_dir) != nullptr) {
    const char* name = strrchr(out->pci_dir, '/');
    out->has_pci = name != nullptr && parse_pci_address(name + 1, &out->busdevfn);
  }
  return true;
}

// The PCI device whose BAR `bar` starts at `start`: the name of its folder
// under /sys/bus/pci/devices (raw getdents64 into a stack buffer: opendir
// would allocate). BAR addresses are unique, so at most one device matches.
bool find_pci_device_by_bar(unsigned bar, uint64_t start, char* name, size_t cap) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s/sys/bus/pci/devices", sysroot());
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return false;
  struct Dirent64 {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[1];
  };
  alignas(8) char buf[4096];
  bool found = false;
  for (;;) {
    long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
    if (n <= 0) break;
    for (long pos = 0; pos < n && !found;) {
      const auto* d = reinterpret_cast<const Dirent64*>(buf + pos);
      pos += d->reclen;
      if (d->name[0] == '.') continue;
      char pci_dir[PATH_MAX + 256];
      snprintf(pci_dir, sizeof(pci_dir), "%s/%s", dir, d->name);
      uint64_t s = 0, e = 0, f = 0;
      if (pci_resource(pci_dir, bar, &s, &e, &f) && s == start && e != 0) {
        snprintf(name, cap, "%s", d->name);
        found = true;
      }
    }
    if (found) break;
  }
  close(dfd);
  return found;
}

// A region of a VFIO device fd ("anon_inode:[vfio-device]"). The fd names no
// device, so: the region holding the mmap offset comes from
// VFIO_DEVICE_GET_REGION_INFO; the BAR's physical address from the BAR register
// in the device's config region (vfio-pci shows the real BAR address there,
// from pci_resource_start, until the program writes the register); the PCI
// device from the one sysfs device with that BAR address
// (Documentation/driver-api/vfio.rst; drivers/vfio/pci/vfio_pci_config.c).
bool identify_vfio(int fd, uint64_t offset, DeviceInfo* out) {
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
    char name[64];
    if (start != 0 && find_pci_device_by_bar(bar, start, name, sizeof(name))) {
      snprintf(out->pci_dir, sizeof(out->pci_dir), "%s/sys/bus/pci/devices/%s", sysroot(), name);
      out->has_pci = parse_pci_address(name, &out->busdevfn);
    }
    return true;
  }
  return false;
}

bool matches_device_glob(const char* path) {
  const char* g = g_agent.channel->device_globs;
  while (*g != '\0') {
    if (fnmatch(g, path, 0) == 0) return true;
    g += strlen(g) + 1;
  }
  return false;
}

}  // namespace

bool identify_device(int fd, uint64_t offset, DeviceInfo* out) {
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out->path, sizeof(out->path) - 1);
  if (n <= 0) return false;
  out->path[n] = '\0';
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
    return true;
  }
  if (identify_uio(rel, offset, out)) return true;
  // A VFIO device fd: from a group (an anonymous inode), or from the device's
  // character device /dev/vfio/devices/vfioN (kernels from 6.6 on; not tested
  // here, Debian 12's kernel predates it).
  if ((strcmp(out->path, "anon_inode:[vfio-device]") == 0 || strncmp(rel, "/dev/vfio/devices/vfio", 22) == 0) &&
      identify_vfio(fd, offset, out)) {
    return true;
  }
  if (identify_pci_resource(rel, offset, out)) return true;
  if (matches_device_glob(out->path)) {
    out->kind = trace::DeviceKind::FILE;
    out->phys = offset;
    return true;
  }
  return false;
}

size_t build_pcidev(const DeviceInfo& info, uint8_t* buf, size_t cap) {
  if (!info.has_pci) return 0;
  char path[PATH_MAX + 32];
  uint64_t vendor = 0, device = 0;
  snprintf(path, sizeof(path), "%s/vendor", info.pci_dir);
  read_hex(path, &vendor);
  snprintf(path, sizeof(path), "%s/device", info.pci_dir);
  read_hex(path, &device);
  char irq_text[32] = {};
  snprintf(path, sizeof(path), "%s/irq", info.pci_dir);
  read_small(path, irq_text, sizeof(irq_text));
  char driver[PATH_MAX] = {};
  snprintf(path, sizeof(path), "%s/driver", info.pci_dir);
  ssize_t dn = readlink(path, driver, sizeof(driver) - 1);
  const char* driver_name = "";
  if (dn > 0) {
    driver[dn] = '\0';
    driver_name = strrchr(driver, '/') != nullptr ? strrchr(driver, '/') + 1 : driver;
  }
  trace::PciDevFields f;
  f.busdevfn = info.busdevfn;
  f.vendor = static_cast<uint16_t>(vendor);
  f.device = static_cast<uint16_t>(device);
  f.irq = static_cast<uint32_t>(strtoul(irq_text, nullptr, 10));
  f.driver = driver_name;
  f.driver_len = static_cast<uint16_t>(strlen(driver_name));
  for (unsigned i = 0; i < 7; ++i) {
    uint64_t start = 0, end = 0, flags = 0;
    if (!pci_resource(info.pci_dir, i, &start, &end, &flags)) continue;
    // /proc/bus/pci/devices: start | (flags & PCI_REGION_FLAG_MASK), size = end - start + 1.
    f.start[i] = start | (flags & 0xf);
    f.size[i] = start != 0 || end != 0 ? end - start + 1 : 0;
  }
  return trace::encode_pcidev(buf, cap, trace::RecordStamp{}, f);
}

}  // namespace mmiotrace::agent
