// The output formats behind the Printer interface (src/analysis/output): every
// format chosen by name; register names and fields in the kernel (comment
// column), native (reg=/fields= tokens), annotated, JSON and CSV formats; the
// same filter for every format; the table of printers.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "analysis/output/print.h"
#include "print_test_support.h"
#include "trace/writer.h"

namespace mmiotrace::output {
namespace {

using trace::Record;

Record pcidev() {
  trace::PciDevFields f;
  f.busdevfn = 3 << 3;
  f.vendor = 0x8086;
  f.device = 0x100e;
  f.start[0] = 0xfebc0000;
  f.size[0] = 0x20000;
  return trace::encode(trace::encode_pcidev, trace::RecordStamp{1, 5, 0}, f);
}

Record map_record() {
  trace::MapFields m;
  m.phys = 0xfebc0000;
  m.virt = 0x7f0000000000;
  m.len = 0x20000;
  m.pid = 77;
  m.map_id = 1;
  m.kind = trace::DeviceKind::PCI_RESOURCE;
  m.prot = 3;
  m.bar = 0;
  m.pci_busdevfn = 3 << 3;
  const char path[] = "/sys/bus/pci/devices/0000:00:03.0/resource0";
  m.path = path;
  m.path_len = sizeof path - 1;
  return trace::encode(trace::encode_map, trace::RecordStamp{2, 1'000'000'000, 78}, m);
}

Record e1000_access(uint64_t seq, trace::AccessOp op, uint8_t width, uint64_t offset, uint64_t value,
                    uint32_t tid = 78) {
  uint8_t bytes[8];
  std::memcpy(bytes, &value, 8);
  const uint8_t insn[] = {0x89, 0x07};  // mov %eax, (%rdi)
  trace::AccessFields a;
  a.op = op;
  a.width = width;
  a.phys = 0xfebc0000 + offset;
  a.pc = 0x401000;
  a.pid = 77;
  a.map_id = 1;
  a.value = bytes;
  a.insn = insn;
  a.insn_len = sizeof insn;
  return trace::encode(trace::encode_access, trace::RecordStamp{seq, 1'000'000'000 + seq * 1000, tid}, a);
}

Record mark(uint64_t seq, const std::string& text) {
  trace::MarkFields m;
  m.pid = 77;
  m.text = text.data();
  m.text_len = static_cast<uint16_t>(text.size());
  return trace::encode(trace::encode_mark, trace::RecordStamp{seq, 1'000'000'000 + seq * 1000, 78}, m);
}

std::string write_trace(const std::vector<Record>& records) {
  const std::string path = ::testing::TempDir() + "mmiotrace_printers_" + std::to_string(::getpid()) + ".mmio";
  auto w = trace::TraceWriter::create(path, trace::make_file_header(1000, 2000, 42));
  EXPECT_TRUE(w.ok());
  for (const Record& r : records) EXPECT_TRUE(w->append(r.data(), r.size()).ok());
  EXPECT_TRUE(w->close().ok());
  return path;
}

// A few e1000 register accesses: IMC, CTRL read, RCTL write, a 64-bit TDBAL/TDBAH store.
std::vector<Record> e1000_trace() {
  using trace::AccessOp;
  return {pcidev(),
          map_record(),
          e1000_access(3, AccessOp::WRITE, 4, 0xd8, 0x4),
          e1000_access(4, AccessOp::READ, 4, 0x0, 0x140240),
          mark(5, "rings"),
          e1000_access(6, AccessOp::WRITE, 4, 0x100, 0x0400801a, 79),
          e1000_access(7, AccessOp::WRITE, 8, 0x3800, 0x112350000)};
}

// `mmiotrace print --format FORMAT [--regs e1000] [filters]` of the records.
std::string print(const std::vector<Record>& records, std::string_view format, bool regs,
                  const analysis::FilterSpec& spec = {}) {
  const std::string path = write_trace(records);
  auto catalog = analysis::DeviceCatalog::scan(path);
  EXPECT_TRUE(catalog) << catalog.error();
  analysis::RegisterBindings bindings;
  if (regs) {
    auto maps = analysis::load_register_maps({std::string(MT_MAPS_DIR) + "/e1000.toml", ""});
    EXPECT_TRUE(maps) << maps.error();
    auto b = analysis::RegisterBindings::make(std::move(*maps), {analysis::BindSpec{}}, *catalog);
    EXPECT_TRUE(b) << b.error();
    bindings = std::move(*b);
  }
  auto filter = analysis::Filter::make(spec, &*catalog, &bindings);
  EXPECT_TRUE(filter) << filter.error();
  auto input = trace::open_trace_input(path);
  EXPECT_TRUE(input) << input.error();
  PrintJob job;
  job.format = format;
  job.filter = &*filter;
  job.regs = &bindings;
  FILE* f = std::tmpfile();
  const PrintOutcome o = print_input(*input, job, f);
  EXPECT_EQ(o.status, PrintStatus::OK) << o.message;
  ::unlink(path.c_str());
  std::string text = trace::take_printed_text(f);
  if (format == "kernel") trace::expect_kernel_readers_accept(text);
  return text;
}

TEST(Printers, EveryFormatHasAName) {
  std::vector<std::string> names;
  for (const PrinterInfo& p : printers()) names.emplace_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"kernel", "native", "annotated", "json", "csv"}));
  EXPECT_NE(make_printer("json", {}), nullptr);
  EXPECT_EQ(make_printer("xml", {}), nullptr);
}

TEST(Printers, KernelFormatWithRegistersInACommentColumn) {
  EXPECT_EQ(print(e1000_trace(), "kernel", true),
            "VERSION 20070824\n"
            "PCIDEV 0018 8086100e 0 febc0000 0 0 0 0 0 0 20000 0 0 0 0 0 0 \n"
            "MAP 1.000000 1 0xfebc0000 0x7f0000000000 0x20000 0x0 0\n"
            "W 4 1.000003 1 0xfebc00d8 0x4 0x401000 78 # IMC <= LSC\n"
            "R 4 1.000004 1 0xfebc0000 0x140240 0x401000 78 # CTRL => SLU | SPEED=1000M | SDP0_DATA | ADVD3WUC\n"
            "MARK 1.000005 rings\n"
            "W 4 1.000006 1 0xfebc0100 0x400801a 0x401000 79 # RCTL <= EN | UPE | MPE | RDMTS=HALF | BAM | "
            "BSIZE=2048 | SECRC\n"
            "W 8 1.000007 1 0xfebc3800 0x112350000 0x401000 78 # TDBAL <= 0x12350000, TDBAH <= 0x1\n");
  // Without --regs: the kernel's own lines, nothing added.
  EXPECT_EQ(print(e1000_trace(), "kernel", false).find('#'), std::string::npos);
}

TEST(Printers, NativeFormatWithRegisterTokens) {
  const std::string text = print(e1000_trace(), "native", true);
  EXPECT_NE(text.find("#6 1000006000 77/79 W 4 1 0xfebc0100 0x400801a 0x401000 reg=RCTL "
                      "fields=EN|UPE|MPE|RDMTS=HALF|BAM|BSIZE=2048|SECRC insn=8907 mov %eax, (%rdi)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("W 8 1 0xfebc3800 0x112350000 0x401000 reg=TDBAL,TDBAH fields=0x12350000,0x1 insn=8907"),
            std::string::npos)
      << text;
}

TEST(Printers, AnnotatedFormatInColumns) {
  EXPECT_EQ(print(e1000_trace(), "annotated", true),
            "# mmiotrace trace, recorder pid 42\n"
            "#         time     tid  acc where          register / value\n"
            "      0.000000       -  PCIDEV 0000:00:03.0 8086:100e BAR0 0xfebc0000 + 0x20000\n"
            "      1.000000      78  MAP map 1: 0xfebc0000 + 0x20000 /sys/bus/pci/devices/0000:00:03.0/resource0\n"
            "      1.000003      78  W4  e1000+0x000d8  IMC          <= 0x00000004  LSC\n"
            "      1.000004      78  R4  e1000+0x00000  CTRL         => 0x00140240  SLU | SPEED=1000M | SDP0_DATA | "
            "ADVD3WUC\n"
            "      1.000005      78  MARK \"rings\"\n"
            "      1.000006      79  W4  e1000+0x00100  RCTL         <= 0x0400801a  EN | UPE | MPE | RDMTS=HALF | BAM "
            "| BSIZE=2048 | SECRC\n"
            "      1.000007      78  W8  e1000+0x03800  TDBAL <= 0x12350000; TDBAH <= 0x00000001\n");
}

TEST(Printers, JsonLinesWithRegistersAndFields) {
  const std::string text = print(e1000_trace(), "json", true);
  EXPECT_EQ(text.substr(0, text.find('\n') + 1),
            "{\"type\":\"header\",\"input\":\"mmiotrace-trace\",\"version\":\"1.2\",\"recorder_pid\":42,"
            "\"start_monotonic_ns\":1000,\"start_realtime_ns\":2000,\"step_mode\":false,\"step_may_miss\":false}\n");
  EXPECT_NE(text.find("{\"type\":\"access\",\"seq\":3,\"time_ns\":1000003000,\"pid\":77,\"tid\":78,\"op\":\"W\","
                      "\"width\":4,\"map_id\":1,\"phys\":\"0xfebc00d8\",\"value\":\"0x4\",\"pc\":\"0x401000\","
                      "\"insn\":\"8907\",\"device\":\"e1000\",\"offset\":\"0xd8\",\"registers\":[{\"name\":\"IMC\","
                      "\"offset\":\"0xd8\",\"bytes\":4,\"value\":\"0x4\",\"decoded\":\"LSC\",\"fields\":["),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("{\"name\":\"BSIZE\",\"value\":0,\"enum\":\"2048\"}"), std::string::npos) << text;
  EXPECT_NE(text.find("{\"type\":\"mark\",\"seq\":5,\"time_ns\":1000005000,\"pid\":77,\"tid\":78,\"text\":\"rings\"}"),
            std::string::npos)
      << text;
  // One object per line: every line starts with { and ends with }.
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(text[start], '{');
    EXPECT_EQ(text[end - 1], '}');
    start = end + 1;
  }
}

TEST(Printers, CsvWithAHeaderRowAndQuotedText) {
  std::vector<Record> records = e1000_trace();
  records.push_back(mark(8, "a, \"quoted\" mark"));
  const std::string text = print(records, "csv", true);
  EXPECT_EQ(text.substr(0, text.find('\n') + 1),
            "seq,time_ns,pid,tid,record,op,width,map_id,phys,value,pc,flags,device,offset,registers,decoded,text\n");
  EXPECT_NE(text.find("6,1000006000,77,79,ACCESS,W,4,1,0xfebc0100,0x400801a,0x401000,,e1000,0x100,RCTL,"
                      "RCTL <= EN | UPE | MPE | RDMTS=HALF | BAM | BSIZE=2048 | SECRC,\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("7,1000007000,77,78,ACCESS,W,8,1,0xfebc3800,0x112350000,0x401000,,e1000,0x3800,TDBAL TDBAH,"
                      "\"TDBAL <= 0x12350000, TDBAH <= 0x1\",\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("8,1000008000,77,78,MARK,,,,,,,,,,,,\"a, \"\"quoted\"\" mark\"\n"), std::string::npos) << text;
  // Every row has the header's 17 columns (outside quotes, 16 commas).
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    int commas = 0;
    bool quoted = false;
    for (size_t i = start; i < end; ++i) {
      if (text[i] == '"') quoted = !quoted;
      if (text[i] == ',' && !quoted) ++commas;
    }
    EXPECT_EQ(commas, 16) << text.substr(start, end - start);
    start = end + 1;
  }
}

// The same filter selects the same accesses in every format; records that are
// not accesses stay.
TEST(Printers, OneFilterForEveryFormat) {
  analysis::FilterSpec spec;
  spec.registers = {"RCTL", "TDBAH"};
  const std::string kernel = print(e1000_trace(), "kernel", true, spec);
  EXPECT_EQ(kernel,
            "VERSION 20070824\n"
            "PCIDEV 0018 8086100e 0 febc0000 0 0 0 0 0 0 20000 0 0 0 0 0 0 \n"
            "MAP 1.000000 1 0xfebc0000 0x7f0000000000 0x20000 0x0 0\n"
            "MARK 1.000005 rings\n"
            "W 4 1.000006 1 0xfebc0100 0x400801a 0x401000 79 # RCTL <= EN | UPE | MPE | RDMTS=HALF | BAM | "
            "BSIZE=2048 | SECRC\n"
            "W 8 1.000007 1 0xfebc3800 0x112350000 0x401000 78 # TDBAL <= 0x12350000, TDBAH <= 0x1\n");
  for (std::string_view format : {"native", "annotated", "json", "csv"}) {
    const std::string text = print(e1000_trace(), format, true, spec);
    EXPECT_EQ(text.find("IMC"), std::string::npos) << format;
    EXPECT_EQ(text.find("CTRL"), std::string::npos) << format;
    EXPECT_NE(text.find("RCTL"), std::string::npos) << format;
    EXPECT_NE(text.find("TDBAH"), std::string::npos) << format;
    EXPECT_NE(text.find("rings"), std::string::npos) << format;
  }
  analysis::FilterSpec by_thread;
  by_thread.tids = {79};
  const std::string one = print(e1000_trace(), "csv", false, by_thread);
  EXPECT_EQ(std::count(one.begin(), one.end(), '\n'), 5);  // header, PCIDEV, MAP, MARK, the access of thread 79
}

}  // namespace
}  // namespace mmiotrace::output
