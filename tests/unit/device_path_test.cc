// Device file paths by their text alone (common/device_path.h): what replay
// stands in for, and what it refuses to open on this machine.
#include "common/device_path.h"

#include <gtest/gtest.h>

#include <string>

namespace mmiotrace {
namespace {

std::string normal(const char* path, const char* cwd = "/work") {
  char out[256];
  if (!normalize_path(path, cwd, out, sizeof out)) return "<too long>";
  return out;
}

TEST(DevicePath, NormalizesLexically) {
  EXPECT_EQ(normal("/sys//bus/./pci/devices/0000:00:04.0/resource0"), "/sys/bus/pci/devices/0000:00:04.0/resource0");
  EXPECT_EQ(normal("edu-bar0"), "/work/edu-bar0");
  EXPECT_EQ(normal("./a/../edu-bar0"), "/work/edu-bar0");
  EXPECT_EQ(normal("../../../dev/mem"), "/dev/mem");
  EXPECT_EQ(normal("/dev/uio0/"), "/dev/uio0");
  EXPECT_EQ(normal("/"), "/");
  EXPECT_EQ(normal("..", "/"), "/");
  char tiny[8];
  EXPECT_FALSE(normalize_path("/dev/mem/too/long", nullptr, tiny, sizeof tiny));
}

TEST(DevicePath, PciAddressesAsTheKernelWritesThem) {
  uint32_t b = 0;
  ASSERT_TRUE(parse_pci_address("0000:00:04.0", 12, &b));
  EXPECT_EQ(b, 0x20u);
  ASSERT_TRUE(parse_pci_address("0001:3a:1f.7", 12, &b));
  EXPECT_EQ(b, (1u << 16) | (0x3au << 8) | (0x1fu << 3) | 7u);
  EXPECT_FALSE(parse_pci_address("0000:00:20.0", 12, &b));  // device 0x20 > 0x1f
  EXPECT_FALSE(parse_pci_address("0000:00:04.8", 12, &b));
  EXPECT_FALSE(parse_pci_address("00:04.0", 7, &b));
  EXPECT_FALSE(parse_pci_address("pci0000:00", 10, &b));
}

TEST(DevicePath, SysfsFilesOfAPciDeviceInBothForms) {
  SysfsPciFile f;
  ASSERT_TRUE(parse_sysfs_pci_file("/sys/bus/pci/devices/0000:00:04.0/resource0", &f));
  EXPECT_EQ(f.prefix_len, 0u);
  EXPECT_EQ(f.busdevfn, 0x20u);
  EXPECT_STREQ(f.file, "resource0");
  ASSERT_TRUE(parse_sysfs_pci_file("/tmp/root/sys/devices/pci0000:00/0000:00:04.0/config", &f));
  EXPECT_EQ(f.prefix_len, 9u);
  EXPECT_STREQ(f.file, "config");
  // A bridge's child: the file's own directory is the device.
  ASSERT_TRUE(parse_sysfs_pci_file("/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0/resource2_wc", &f));
  EXPECT_EQ(f.busdevfn, 0x100u);
  EXPECT_FALSE(parse_sysfs_pci_file("/sys/devices/system/cpu/online", &f));
  EXPECT_FALSE(parse_sysfs_pci_file("/sys/bus/pci/devices/0000:00:04.0", &f));
  EXPECT_FALSE(parse_sysfs_pci_file("/home/me/0000:00:04.0/resource0", &f));
}

TEST(DevicePath, TheSameDeviceFileByEitherSysfsPath) {
  EXPECT_TRUE(same_device_file("/sys/bus/pci/devices/0000:00:04.0/resource0",
                               "/sys/devices/pci0000:00/0000:00:04.0/resource0"));
  EXPECT_TRUE(same_device_file("/r/sys/bus/pci/devices/0000:00:04.0/resource0",
                               "/r/sys/devices/pci0000:00/0000:00:04.0/resource0"));
  EXPECT_FALSE(
      same_device_file("/sys/bus/pci/devices/0000:00:04.0/resource0", "/sys/bus/pci/devices/0000:00:04.0/resource1"));
  EXPECT_FALSE(
      same_device_file("/sys/bus/pci/devices/0000:00:04.0/resource0", "/sys/bus/pci/devices/0000:00:05.0/resource0"));
  // Another root is another machine: not the same file.
  EXPECT_FALSE(same_device_file("/r/sys/bus/pci/devices/0000:00:04.0/resource0",
                                "/sys/devices/pci0000:00/0000:00:04.0/resource0"));
  EXPECT_TRUE(same_device_file("/work/edu-bar0", "/work/edu-bar0"));
  EXPECT_FALSE(same_device_file("/work/edu-bar0", "/work/edu-bar1"));
}

TEST(DevicePath, ThisMachinesOwnDeviceFiles) {
  for (const char* p : {"/dev/mem", "/dev/uio0", "/dev/vfio/vfio", "/dev/vfio/12",
                        "/sys/bus/pci/devices/0000:00:02.0/resource0", "/sys/bus/pci/devices/0000:00:02.0/config",
                        "/sys/devices/pci0000:00/0000:00:02.0/enable", "/sys/class/uio/uio0/maps/map0/addr"}) {
    EXPECT_TRUE(names_real_device(p)) << p;
  }
  for (const char* p : {"/tmp/root/sys/bus/pci/devices/0000:00:02.0/resource0", "/dev/null", "/dev/memory",
                        "/sys/bus/pci/devices", "/sys/devices/system/cpu/online", "/work/edu-bar0"}) {
    EXPECT_FALSE(names_real_device(p)) << p;
  }
}

}  // namespace
}  // namespace mmiotrace
