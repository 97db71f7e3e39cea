/* How the test drivers map a device's BAR, the four ways user-space drivers do:
 *
 *   sysfs PATH        mmap the PCI sysfs file (resourceN or resourceN_wc); size from fstat
 *   devmem PHYS SIZE  mmap /dev/mem at the BAR's physical address
 *   uio DEV SIZE      mmap /dev/uioN, map 0 (offset 0 * page size)
 *   vfio BDF          vfio-pci: container, group, device fd, BAR0 at the
 *                     offset VFIO_DEVICE_GET_REGION_INFO gives. The group is
 *                     /dev/vfio/noiommu-N in no-IOMMU mode (kernels built with
 *                     CONFIG_VFIO_NOIOMMU), else /dev/vfio/N behind an IOMMU
 *                     (Debian's kernel: the guest gets QEMU's intel-iommu)
 *
 * vm_map() consumes those arguments from argv and returns the mapping (and
 * its size in *size), or exits with a message. The drivers keep it in `bar`
 * and reach their registers with rd32/wr32/rd64/wr64: one volatile access of
 * that width each, as a driver's readl/writel. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile uint8_t* bar;

static inline uint32_t rd32(uint32_t off) { return *(volatile uint32_t*)(bar + off); }
static inline void wr32(uint32_t off, uint32_t v) { *(volatile uint32_t*)(bar + off) = v; }
static inline uint64_t rd64(uint32_t off) { return *(volatile uint64_t*)(bar + off); }
static inline void wr64(uint32_t off, uint64_t v) { *(volatile uint64_t*)(bar + off) = v; }

extern char* program_invocation_short_name; /* glibc's (errno.h declares it with _GNU_SOURCE) */

/* Stops the driver when a register does not read as the device must. */
static inline void expect(const char* what, uint64_t got, uint64_t want) {
  if (got == want) return;
  fprintf(stderr, "%s: %s: read 0x%llx, want 0x%llx\n", program_invocation_short_name, what, (unsigned long long)got,
          (unsigned long long)want);
  exit(1);
}

static void vm_die(const char* what) {
  fprintf(stderr, "%s: %s\n", what, errno != 0 ? strerror(errno) : "failed");
  exit(1);
}

static void* vm_mmap(int fd, size_t size, off_t offset) {
  void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
  if (p == MAP_FAILED) vm_die("mmap");
  return p;
}

/* The device fd of a vfio-pci device (group N from its iommu_group link). */
static int vm_vfio_device(const char* bdf) {
  char link[256], target[256];
  snprintf(link, sizeof link, "/sys/bus/pci/devices/%s/iommu_group", bdf);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n < 0) vm_die("readlink iommu_group");
  target[n] = '\0';
  char group_path[300];
  snprintf(group_path, sizeof group_path, "/dev/vfio/noiommu-%s", basename(target));
  int noiommu = access(group_path, F_OK) == 0;
  if (!noiommu) snprintf(group_path, sizeof group_path, "/dev/vfio/%s", basename(target));
  int container = open("/dev/vfio/vfio", O_RDWR);
  if (container < 0) vm_die("open /dev/vfio/vfio");
  if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) vm_die("VFIO API version");
  int group = open(group_path, O_RDWR);
  if (group < 0) vm_die(group_path);
  struct vfio_group_status status = {.argsz = sizeof status};
  if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) < 0) vm_die("VFIO_GROUP_GET_STATUS");
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) vm_die("VFIO group not viable");
  if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0) vm_die("VFIO_GROUP_SET_CONTAINER");
  if (ioctl(container, VFIO_SET_IOMMU, noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU) < 0) vm_die("VFIO_SET_IOMMU");
  int device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
  if (device < 0) vm_die("VFIO_GROUP_GET_DEVICE_FD");
  return device;
}

static volatile uint8_t* vm_map(char*** argv, size_t* size) {
  const char* how = *(*argv)++;
  if (how == NULL) vm_die("no mapping given (sysfs PATH | devmem PHYS SIZE | uio DEV SIZE | vfio BDF)");
  errno = 0;
  if (strcmp(how, "sysfs") == 0) {
    const char* path = *(*argv)++;
    int fd = open(path, O_RDWR | O_SYNC);
    if (fd < 0) vm_die(path);
    struct stat st;
    if (fstat(fd, &st) < 0) vm_die("fstat");
    *size = (size_t)st.st_size; /* lseek(SEEK_END) gives a size mmap refuses */
    void* p = vm_mmap(fd, *size, 0);
    close(fd);
    return p;
  }
  if (strcmp(how, "devmem") == 0 || strcmp(how, "uio") == 0) {
    int devmem = strcmp(how, "devmem") == 0;
    const char* first = *(*argv)++;
    const char* size_text = *(*argv)++;
    if (first == NULL || size_text == NULL) vm_die("devmem PHYS SIZE | uio DEV SIZE");
    *size = strtoull(size_text, NULL, 0);
    int fd = open(devmem ? "/dev/mem" : first, O_RDWR | O_SYNC);
    if (fd < 0) vm_die(devmem ? "/dev/mem" : first);
    void* p = vm_mmap(fd, *size, devmem ? (off_t)strtoull(first, NULL, 0) : 0);
    close(fd);
    return p;
  }
  if (strcmp(how, "vfio") == 0) {
    const char* bdf = *(*argv)++;
    int device = vm_vfio_device(bdf);
    struct vfio_region_info region = {.argsz = sizeof region, .index = VFIO_PCI_BAR0_REGION_INDEX};
    if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &region) < 0) vm_die("VFIO_DEVICE_GET_REGION_INFO");
    if (!(region.flags & VFIO_REGION_INFO_FLAG_MMAP)) vm_die("BAR0 cannot be mapped");
    *size = region.size;
    return vm_mmap(device, region.size, (off_t)region.offset);
  }
  fprintf(stderr, "unknown mapping kind %s\n", how);
  exit(2);
}
