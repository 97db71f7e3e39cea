// End-to-end tests of what readers of the kernel format need from a trace
// (docs/print.md, "Readers"): a PCIDEV line for the PCI device behind every
// mapping of a BAR, however it was mapped, and stand-in devices that carry the
// identity of the device they stand in for.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
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
  const std::string root = make_tree(work_dir() + "/" + test_name() + "_tree");
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

// A stand-in with the identity of QEMU's edu device (1234:11e8, BAR0 1 MiB
// at 0xfea00000, slot 00:04.0) and a BAR2 that is never mapped: the trace
// decodes as the real device's would. demmio reads PCIDEV with this sscanf
// and attributes an access to the device whose BAR range holds its address.
TEST_P(E2E, StandInWithAPciIdentityDecodesLikeTheRealDevice) {
  const TracedRun& run = keep(run_traced(
      test_name(), program("mov_widths"), {}, 4096,
      {"--device",
       work_dir() + "/" + test_name() + "/dev,phys=0xfea00000,pci=1234:11e8,size=1M,slot=00:04.0",
       "--device", "/nonexistent/edu-bar2,phys=0xfe800000,pci=1234:11e8,bar=2,size=16K"}));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::vector<std::string> pcidev = lines_starting(run.lines, "PCIDEV ");
  ASSERT_EQ(pcidev, (std::vector<std::string>{"PCIDEV 0020 123411e8 0 fea00000 0 fe800000 0 0 0 0 100000 0 4000 0 0 0 "
                                              "0 "}))
      << run.trace_text;
  uint64_t id = 0, bar0 = 0, len0 = 0, b[3], l[3];
  ASSERT_EQ(std::sscanf(pcidev[0].c_str(), "%*s %*s %lx %*s %lx %lx %lx %lx %*s %*s %*s %lx %lx %lx %lx", &id, &bar0,
                        &b[0], &b[1], &b[2], &len0, &l[0], &l[1], &l[2]),
            9);
  EXPECT_EQ(id, 0x123411e8u);
  const std::vector<std::string> maps = lines_starting(run.lines, "MAP ");
  ASSERT_EQ(maps.size(), 1u) << run.trace_text;
  EXPECT_NE(maps[0].find(" 1 0xfea00000 0x"), std::string::npos) << maps[0];
  // Every access at the BAR's address plus its offset in the file, inside the BAR.
  const std::vector<Access> want = expected_accesses(run);
  ASSERT_EQ(run.accesses.size(), want.size()) << run.trace_text;
  for (size_t i = 0; i < want.size(); ++i) {
    Access w = want[i];
    w.phys += 0xfea00000;
    EXPECT_EQ(describe(run.accesses[i]), describe(w)) << run.accesses[i].line;
    EXPECT_TRUE(run.accesses[i].phys >= bar0 && run.accesses[i].phys < bar0 + len0) << run.accesses[i].line;
  }
  std::string native, err;
  run_command({mmiotrace_path(), "print", "--format", "native", run.dir + "/trace.mmio"}, &native, &err);
  EXPECT_NE(native.find(" kind=file prot=rw- bar=0 pci=0000:00:04.0 "), std::string::npos) << native;
}

// A stand-in identity that no device could have is refused before anything
// runs, with one line that says what to change.
TEST(StandIn, ImpossibleIdentitiesAreRefusedBeforeTheProgramRuns) {
  const std::string dir = work_dir() + "/StandInRefused";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string trace = dir + "/t.mmio";
  for (const auto& [device, message] : std::vector<std::pair<std::string, std::string>>{
           {"/x,pci=1234:11e8", "--device '/x,pci=1234:11e8': pci= needs phys="},
           {"/x,phys=0xfea00800,pci=1234:11e8,size=4K", "is not a multiple of the BAR's size"},
           {"/x,phys=oops", "phys=oops is not an address"},
           {"/x,phys=0x1000,pci=1234:11e8", "give size="},
       }) {
    std::string out, err;
    const int status =
        run_command({mmiotrace_path(), "record", "-o", trace, "--device", device, "--", "/bin/true"}, &out, &err);
    EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 64) << device << ": " << err;
    EXPECT_EQ(err.rfind("mmiotrace: ", 0), 0u) << err;
    EXPECT_NE(err.find(message), std::string::npos) << err;
    EXPECT_FALSE(std::filesystem::exists(trace)) << device;
  }
}

}  // namespace
}  // namespace mmiotrace::e2e
