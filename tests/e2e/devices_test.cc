// End-to-end: how a program reaches device memory and moves data with it:
// a device file through dup, fcntl, fopen and a closed descriptor; sysfs
// resources, /dev/mem and UIO with their physical addresses (a fake sysroot);
// mremap of a device mapping; system calls on device buffers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "fixture.h"
#include "harness.h"
#include "trace/format.h"

namespace mmiotrace::e2e {
namespace {

TEST_P(E2EModes, DeviceFileReachedThroughDupFcntlFopenAndClosedFd) {
  const TracedRun& run = keep(traced(test_name(), program("fd_tricks"), {}, 4096));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  std::vector<std::string> maps, unmaps;
  for (const std::string& l : run.lines) {
    if (l.rfind("MAP ", 0) == 0) maps.push_back(l);
    if (l.rfind("UNMAP ", 0) == 0) unmaps.push_back(l);
  }
  ASSERT_EQ(maps.size(), 4u) << run.trace_text;
  for (size_t i = 0; i < maps.size(); ++i) {
    int id = 0;
    ASSERT_EQ(sscanf(maps[i].c_str(), "MAP %*u.%*u %d", &id), 1);
    EXPECT_EQ(id, static_cast<int>(i) + 1) << maps[i];
  }
  ASSERT_EQ(unmaps.size(), 2u) << run.trace_text;  // munmap of map 1, MAP_FIXED over map 2
  EXPECT_EQ(unmaps[0].substr(unmaps[0].find(' ', 6)), " 1 0x0 0");
  EXPECT_EQ(unmaps[1].substr(unmaps[1].find(' ', 6)), " 2 0x0 0");
  // Map ids of the accesses: 1, 2, 3, 4, 3.
  std::vector<int> ids;
  for (const Access& a : run.accesses) ids.push_back(a.map_id);
  EXPECT_EQ(ids, (std::vector<int>{1, 2, 3, 4, 3}));
}

TEST_P(E2EModes, SysfsResourceDevMemAndUioGetTheirPhysicalAddresses) {
  const std::string dir = work_dir() + "/" + test_name() + "_tree";
  std::filesystem::remove_all(dir);
  const std::string root = make_fake_sysroot(dir);
  const TracedRun& run = keep(traced(test_name(), program("sysfs_paths"), {root}, 4096, {"--sysroot", root}));
  expect_mode(*last_);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  expect_exact(run);
  ASSERT_GE(run.lines.size(), 2u);
  // As the kernel prints it: bus+devfn, vendor+device, irq (hex), 7 starts
  // with flags, 7 sizes, driver.
  EXPECT_EQ(run.lines[1], "PCIDEV 0020 123411e8 b fea00000 0 fe80000c 0 0 0 0 1000 0 4000 0 0 0 0 uio_pci_generic");
  int pcidev_lines = 0;
  for (const std::string& l : run.lines) pcidev_lines += l.rfind("PCIDEV", 0) == 0;
  EXPECT_EQ(pcidev_lines, 1);  // mapped twice (sysfs and uio), listed once
}

TEST_P(E2E, MremapOfADeviceMappingMovesGrowsAndShrinks) {
  const TracedRun& run = keep(run_traced(test_name(), program("mremap_dev"), {}, 4 * 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("DONE"), std::string::npos) << run.out;
  expect_exact(run);
  EXPECT_EQ(replay_mismatch(run), "");
  std::vector<std::string> maps, unmaps;
  for (const std::string& l : run.lines) {
    if (l.rfind("MAP ", 0) == 0) maps.push_back(l);
    if (l.rfind("UNMAP ", 0) == 0) unmaps.push_back(l);
  }
  ASSERT_EQ(maps.size(), 1u) << run.trace_text;    // moved and resized, still map 1
  ASSERT_EQ(unmaps.size(), 2u) << run.trace_text;  // the shrink's tail, then the munmap
  for (const std::string& u : unmaps) EXPECT_EQ(u.substr(u.find(' ', 6)), " 1 0x0 0") << u;
  for (const Access& a : run.accesses) EXPECT_EQ(a.map_id, 1) << a.line;
}

TEST_P(E2E, SystemCallsOnDeviceMemoryMoveAndRecordTheData) {
  const TracedRun& run = keep(run_traced(test_name(), program("syscalls_dev"), {}, 4096));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("DONE"), std::string::npos) << run.out;
  expect_exact(run);
  EXPECT_EQ(replay_mismatch(run), "");
}

}  // namespace
}  // namespace mmiotrace::e2e
