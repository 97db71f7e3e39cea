// End-to-end tests of what readers of the kernel format need from a trace
// (docs/print.md, "Readers"): a PCIDEV line for the PCI device behind every
// mapping of a BAR, however it was mapped.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.h"
#include "harness.h"

namespace mmiotrace::e2e {
namespace {

void put(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// Two more fake PCI devices next to make_fake_sysroot()'s 0000:00:04.0:
// 0000:00:05.0 (10de:1234, 64 KiB memory BAR0 at 0xfd000000, an I/O BAR1 at
// port 0xc000) and 0000:00:06.0 (1af4:1041, 1 MiB 64-bit prefetchable BAR0
// at 0xfc000000), and /dev/uio1, a UIO device that is not a PCI device, whose
// map0 is at 0xfc000000.
std::string make_tree(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::remove_all(dir);
  const std::string root = make_fake_sysroot(dir);
  const std::string five = root + "/sys/devices/pci0000:00/0000:00:05.0";
  const std::string six = root + "/sys/devices/pci0000:00/0000:00:06.0";
  fs::create_directories(five);
  fs::create_directories(six);
  const std::string empty = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n";
  put(five + "/resource",
      "0x00000000fd000000 0x00000000fd00ffff 0x0000000000040200\n"
      "0x000000000000c000 0x000000000000c03f 0x0000000000040101\n" +
          empty + empty + empty + empty + empty);
  put(five + "/vendor", "0x10de\n");
  put(five + "/device", "0x1234\n");
  put(five + "/irq", "16\n");
  put(six + "/resource",
      "0x00000000fc000000 0x00000000fc0fffff 0x000000000014220c\n" + empty + empty + empty + empty + empty + empty);
  put(six + "/vendor", "0x1af4\n");
  put(six + "/device", "0x1041\n");
  fs::create_symlink("../../../devices/pci0000:00/0000:00:05.0", root + "/sys/bus/pci/devices/0000:00:05.0");
  fs::create_symlink("../../../devices/pci0000:00/0000:00:06.0", root + "/sys/bus/pci/devices/0000:00:06.0");
  fs::create_directories(root + "/sys/class/uio/uio1/maps/map0");
  put(root + "/sys/class/uio/uio1/maps/map0/addr", "0xfc000000\n");
  put(root + "/dev/uio1", "");
  fs::resize_file(root + "/dev/uio1", 4096);
  return root;
}

std::vector<std::string> lines_starting(const std::vector<std::string>& lines, const std::string& prefix) {
  std::vector<std::string> v;
  for (const std::string& l : lines) {
    if (l.rfind(prefix, 0) == 0) v.push_back(l);
  }
  return v;
}

// /dev/mem names no device: demmio drops every access it cannot attribute to
// a PCIDEV line's BAR. The device is found by the physical address.
TEST_P(E2E, DevMemAndUioMappingsInsideABarGetThatDevicesPcidev) {
  const std::string root = make_tree(std::string(E2E_WORK_DIR) + "/" + test_name() + "_tree");
  const TracedRun& run = keep(run_traced(test_name(), program("devmem_pcidev"), {root}, 4096, {"--sysroot", root}));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  // In the order the mappings were made; each device once; none for the
  // mapping that only an I/O port BAR covers.
  EXPECT_EQ(lines_starting(run.lines, "PCIDEV "),
            (std::vector<std::string>{
                "PCIDEV 0028 10de1234 10 fd000000 c001 0 0 0 0 0 10000 40 0 0 0 0 0 ",
                "PCIDEV 0020 123411e8 b fea00000 0 fe80000c 0 0 0 0 1000 0 4000 0 0 0 0 uio_pci_generic",
                "PCIDEV 0030 1af41041 0 fc00000c 0 0 0 0 0 0 100000 0 0 0 0 0 0 ",
            }))
      << run.trace_text;
  // The native format's MAP lines name the device and BAR (for UIO: the map).
  std::string native, err;
  run_command({mmiotrace_path(), "print", "--format", "native", run.dir + "/trace.mmio"}, &native, &err);
  std::vector<std::string> maps;
  std::istringstream in(native);
  for (std::string l; std::getline(in, l);) {
    const size_t kind = l.find(" kind=");
    if (l.find(" MAP ") != std::string::npos && kind != std::string::npos) {
      maps.push_back(l.substr(kind + 1, l.rfind(' ') - kind - 1));
    }
  }
  EXPECT_EQ(maps, (std::vector<std::string>{
                      "kind=dev-mem prot=rw- bar=0 pci=0000:00:05.0",
                      "kind=dev-mem prot=rw- bar=none pci=none",
                      "kind=dev-mem prot=rw- bar=2 pci=0000:00:04.0",
                      "kind=uio prot=rw- bar=0 pci=0000:00:06.0",
                  }))
      << native;
}

}  // namespace
}  // namespace mmiotrace::e2e
