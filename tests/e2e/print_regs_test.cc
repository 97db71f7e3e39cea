// `mmiotrace print --regs` from the command line: an SVD file imported and
// used on a stand-in device (tests/data/svd/uart.svd and programs/uart_regs.c),
// an rnndb database on a GPU-like kernel log, and the refusals: a malformed
// map, an SVD with an unknown element, a trace without PCIDEV lines, a map
// that does not fit the device, a missing map; each one line on standard
// error, and nothing written.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "reference/kernel_format_reader.h"

namespace mmiotrace::e2e {
namespace {

const std::string kData = E2E_DATA_DIR;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The " # ..." comments of the R/W lines, with their R or W, as the tests'
// independent reader of the kernel format reads them (the whole text must
// read in it: the comment column is the only thing --regs adds).
std::vector<std::string> annotations(const std::string& kernel_text) {
  std::vector<reference::KernelLine> lines;
  EXPECT_EQ(reference::read_kernel_format(kernel_text, &lines), "");
  std::vector<std::string> out;
  for (const reference::KernelLine& l : lines) {
    if (l.kind == "R" || l.kind == "W") out.push_back(l.kind + " " + (l.comment.empty() ? "(none)" : l.comment));
  }
  return out;
}

TEST(PrintRegs, SvdPeripheralOnAStandInDevice) {
  const TracedRun run = run_traced("PrintRegsSvd", program_path("uart_regs", "O2"), {}, 4096);
  ASSERT_EQ(run.exit_code, 0) << run.err << "\nreproduce: " << run.repro;
  const std::string trace = run.dir + "/trace.mmio";
  std::string out, err;
  const int status =
      run_command({mmiotrace_path(), "print", "--regs", kData + "/svd/uart.svd#UART0@map:1", trace}, &out, &err);
  ASSERT_EQ(exit_status(status), 0) << err;
  EXPECT_EQ(annotations(out), (std::vector<std::string>{
                                  "W BRR <= FRACTION=0x3 | MANTISSA=0x1a",
                                  "W CR1 <= RE | TE | PARITY=EVEN | UE | M=BITS8",
                                  "W DR <= DATA=0x41",
                                  "R SR => 0x900d8a07",  // the stand-in's bytes: no field set
                                  "R FIFO[0] => 0xf06dea67",
                                  "R FIFO[3] => 0x14910e8b",
                                  "W DMA.ADDR <= 0x20000000",
                                  "W DMA.LEN <= 0x40",
                              }))
      << out;
  // The same names in the annotated format, with the peripheral's name.
  run_command(
      {mmiotrace_path(), "print", "--format", "annotated", "--regs", kData + "/svd/uart.svd#UART0@map:1", trace}, &out,
      &err);
  EXPECT_NE(out.find("W2  UART0+0x0008   BRR          <= 0x01a3  FRACTION=0x3 | MANTISSA=0x1a\n"), std::string::npos)
      << out;
  std::filesystem::remove_all(run.dir);
}

TEST(PrintRegs, RnndbOnAKernelLog) {
  std::string out, err;
  const int status = run_command(
      {mmiotrace_path(), "print", "--regs", kData + "/rnndb/nv_mmio.xml", kData + "/rnndb/gpu.log"}, &out, &err);
  ASSERT_EQ(exit_status(status), 0) << err;
  const std::vector<std::string> a = annotations(out);
  ASSERT_EQ(a.size(), 39u) << out;
  EXPECT_EQ(a[0], "R PMC.ID => STEPPING=0xa2 | DEVICE_ID=0xa | CHIPSET=G84 | FOUNDRY=TSMC");
  EXPECT_EQ(a[7], "R PMC+0xa00 => 0");  // PMC.NEW_ID is G94 and later: the map knows the G84 from PMC.ID
  EXPECT_EQ(a[12], "W PTIMER.MMIO_FAULT_ADDRESS <= ACCESS=WRITE | ADDRESS=0x1234");
  EXPECT_NE(std::find(a.begin(), a.end(), "W PTEST.UNIT[0].SUB[0].DATA <= 0x55"), a.end()) << out;
}

struct Refusal {
  std::string what;
  std::vector<std::string> args;  // after "print"
  int status;
  std::string message;
};

TEST(PrintRegs, RefusalsAreOneLineAndWriteNothing) {
  const std::string dir = work_dir() + "/PrintRegsRefusals";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/bad.toml") << "[[register]]\nname = \"CTRL\"\nofset = 0\n";
  std::string svd = slurp(kData + "/svd/uart.svd");
  svd.replace(svd.find("<addressOffset>0x04</addressOffset>"), 35, "<adressOffset>0x04</adressOffset>");
  std::ofstream(dir + "/typo.svd") << svd;
  // A stand-in trace: no PCIDEV lines.
  const TracedRun standin = run_traced("PrintRegsRefusalsTrace", program_path("uart_regs", "O2"), {}, 4096);
  ASSERT_EQ(standin.exit_code, 0) << standin.err;
  const std::string no_pcidev = standin.dir + "/trace.mmio";
  // A kernel log of an e1000 whose BAR0 is smaller than the map.
  std::string log = slurp(kData + "/kernel_log/e1000.log");
  const std::string bar = "feb80000 c001 0 0 0 0 feb40000 20000";
  ASSERT_NE(log.find(bar), std::string::npos);
  log.replace(log.find(bar), bar.size(), "feb80000 c001 0 0 0 0 feb40000 1000");
  std::ofstream(dir + "/small_bar.log") << log;
  const std::string e1000_log = kData + "/kernel_log/e1000.log";

  const std::vector<Refusal> refusals = {
      {"malformed map",
       {"--regs", dir + "/bad.toml", e1000_log},
       65,
       "mmiotrace: register map '" + dir +
           "/bad.toml' line 3: unknown key 'ofset' in register 'CTRL' (known keys: name, offset, width, access, "
           "reset, description, count, stride, fields, fields_from)"},
      {"SVD with an unknown element",
       {"--regs", dir + "/typo.svd#UART0@map:1", no_pcidev},
       65,
       "mmiotrace: SVD file '" + dir +
           "/typo.svd' line 74: unknown element <adressOffset> in <register> DR; CMSIS-SVD 1.3 has no such element "
           "there"},
      {"trace without PCIDEV lines",
       {"--regs", "e1000", no_pcidev},
       65,
       "mmiotrace: cannot bind register map 'e1000' by PCI id (8086:100e or 8086:100f or 8086:1004 or 8086:1015): "
       "the trace has no PCIDEV lines; bind it by address (--regs e1000@0xADDRESS) or by mapping (--regs "
       "e1000@map:N)"},
      {"map that does not fit",
       {"--regs", "e1000", dir + "/small_bar.log"},
       65,
       "mmiotrace: register map 'e1000' does not fit the device: it needs 0x20000 bytes, BAR0 of 0000:00:02.0 "
       "(8086:100e) has 0x1000"},
      {"device not in the trace",
       {"--regs", "pci-testdev", e1000_log},
       65,
       "mmiotrace: cannot bind register map 'pci-testdev': the trace has no PCI device 1b36:0005 (it has 8086:100e "
       "at 0000:00:02.0, 1234:11e8 at 0000:00:03.0, 1234:1111 at 0000:00:01.0)"},
      {"missing map", {"--regs", "nosuchdevice", e1000_log}, 66, ""},
      {"register filter without a map",
       {"--reg", "CTRL", e1000_log},
       64,
       "mmiotrace: filtering by register name (--reg) needs a register map: give one with --regs"},
  };
  for (const Refusal& r : refusals) {
    const std::string output = dir + "/out.txt";
    std::vector<std::string> cmd = {mmiotrace_path(), "print", "-o", output};
    cmd.insert(cmd.end(), r.args.begin(), r.args.end());
    std::string out, err;
    const int status = run_command(cmd, &out, &err);
    EXPECT_EQ(exit_status(status), r.status) << r.what << ": " << err;
    EXPECT_EQ(out, "") << r.what;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << r.what << ": " << err;
    if (!r.message.empty()) {
      EXPECT_EQ(err, r.message + "\n") << r.what;
    }
    EXPECT_FALSE(std::filesystem::exists(output)) << r.what << ": -o's file was created";
  }
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(standin.dir);
}

}  // namespace
}  // namespace mmiotrace::e2e
