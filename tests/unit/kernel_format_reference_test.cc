// The tests' independent reader of the kernel format (tests/reference): it
// reads what the kernel prints, refuses what no kernel prints, and every
// kernel-format golden file of tests/data reads in it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "reference/kernel_format_reader.h"

namespace mmiotrace::reference {
namespace {

std::string with_version(const std::string& lines) { return "VERSION 20070824\n" + lines; }

TEST(KernelFormatReference, ReadsEveryLineTheKernelPrints) {
  std::vector<KernelLine> lines;
  ASSERT_EQ(read_kernel_format(with_version("PCIDEV 0018 123411e8 a fea00000 0 0 0 0 0 0 100000 0 0 0 0 0 0 \n"
                                            "PCIDEV 0010 8086100e b feb80000 c001 0 0 0 0 feb40000 20000 40 0 0 0 0 "
                                            "40000 e1000\n"
                                            "MAP 12.000001 1 0xfea00000 0xffffc90000080000 0x100000 0x0 0\n"
                                            "MARK 12.000002 Write test.\n"
                                            "R 4 12.000003 1 0xfea00000 0x10000ed 0x0 0\n"
                                            "W 8 12.000004 1 0xfea00080 0xffffffffffffffff 0xffffffffc0001000 0\n"
                                            "UNKNOWN 12.000005 1 0xfea00004 f3,a5,90 0x0 0\n"
                                            "UNMAP 12.000006 -1 0x0 0\n"
                                            "MARK 0.000000 Lost 3 events.\n"
                                            "MARK 12.000007 \n"),
                               &lines),
            "");
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(lines[0].vendor, 0x1234u);
  EXPECT_EQ(lines[0].driver, "");
  EXPECT_EQ(lines[1].start[1], 0xc001u);
  EXPECT_EQ(lines[1].driver, "e1000");
  EXPECT_EQ(lines[2].len, 0x100000u);
  EXPECT_EQ(lines[4].value, 0x10000edu);
  EXPECT_EQ(lines[5].width, 8u);
  EXPECT_EQ(lines[6].insn[1], 0xa5);
  EXPECT_EQ(lines[7].map_id, -1);
  EXPECT_EQ(lines[9].text, "");
}

// Each of these breaks a reader that knows only the kernel's output.
TEST(KernelFormatReference, RefusesWhatNoKernelPrints) {
  const std::string r = "R 4 1.000000 1 0x1000 0x5 0x0 0\n";
  EXPECT_NE(read_kernel_format(r), "");  // no VERSION line
  EXPECT_NE(read_kernel_format(with_version("R 4 1.000000 1 0x1000 ? 0x0 0\n")), "");
  EXPECT_NE(read_kernel_format(with_version("W 3 1.000000 1 0x1000 0x5 0x0 0\n")), "");
  EXPECT_NE(read_kernel_format(with_version("W 16 1.000000 1 0x1000 0x5 0x0 0\n")), "");
  EXPECT_NE(read_kernel_format(with_version("W 2 1.000000 1 0x1000 0x10000 0x0 0\n")), "");  // wider than 2 bytes
  EXPECT_NE(read_kernel_format(with_version("R 4 1.000000 1 0x1000 0x5 0x0  0\n")), "");     // two spaces
  EXPECT_NE(read_kernel_format(with_version("R 4 1.000000 1 0x1000 0x5 0x0 0 \n")), "");
  EXPECT_NE(read_kernel_format(with_version("R 4 1.000000 1 0x1000 0xA 0x0 0\n")), "");   // upper case
  EXPECT_NE(read_kernel_format(with_version("R 4 1.000000 1 0x01000 0x5 0x0 0\n")), "");  // leading zero
  EXPECT_NE(read_kernel_format(with_version("R 4 1.00000 1 0x1000 0x5 0x0 0\n")), "");    // five decimals
  EXPECT_NE(read_kernel_format(with_version("R 4 1.000000 1 0x1000 0x5 0x0 0")), "");     // no line break
  EXPECT_NE(read_kernel_format(with_version("R 4 1.000000 1 0x1000 0x5 0x0 0\r\n")), "");
  EXPECT_NE(read_kernel_format(with_version("UNKNOWN 1.000000 1 0x1000 f3a590 0x0 0\n")), "");
  EXPECT_NE(read_kernel_format(with_version("MAP 1.000000 1 0x1000 0x2000 0x1000 0x1 0\n")), "");
  EXPECT_NE(read_kernel_format(with_version("MARK 1.000000 " + std::string(1025, 'x') + "\n")), "");
  EXPECT_EQ(read_kernel_format(with_version("MARK 1.000000 " + std::string(1024, 'x') + "\n")), "");
  EXPECT_NE(read_kernel_format(with_version(r + "PCIDEV 0018 123411e8 a 0 0 0 0 0 0 0 0 0 0 0 0 0 0 \n")), "");
  EXPECT_NE(read_kernel_format(with_version("PCIDEV 18 123411e8 a 0 0 0 0 0 0 0 0 0 0 0 0 0 0 \n")), "");
  EXPECT_NE(read_kernel_format(with_version("PCIDEV 0018 123411e8 a 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n")), "");
  EXPECT_NE(read_kernel_format(with_version("LSPCI 00:04.0\n")), "");
}

// Every kernel-format golden file under tests/data.
TEST(KernelFormatReference, EveryKernelFormatGoldenFileReads) {
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(MT_TEST_DATA_DIR)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.size() < 11 || name.substr(name.size() - 11) != ".kernel.txt") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(read_kernel_format(text.str()), "") << entry.path();
    ++files;
  }
  EXPECT_GE(files, 1);
}

}  // namespace
}  // namespace mmiotrace::reference
