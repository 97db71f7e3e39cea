// make_trace: writes a synthetic trace of N accesses for the print and stats
// benchmarks (scripts/bench_print.sh, docs/benchmarks.md): an e1000 (PCIDEV
// 8086:100e, BAR0 at 0xfebc0000) mapped once, then N 4-byte accesses by two
// threads to its registers (a driver's mix: status polling, interrupt
// cause reads, ring tail writes, control writes), a MARK every 100,000.
//
//   make_trace OUT N
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "trace/encode.h"
#include "trace/writer.h"

using namespace mmiotrace::trace;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_trace OUT N\n");
    return 64;
  }
  const uint64_t n = std::strtoull(argv[2], nullptr, 10);
  auto writer = TraceWriter::create(argv[1], make_file_header(1'000'000'000, 2'000'000'000, 1));
  if (!writer) {
    std::fprintf(stderr, "make_trace: %s\n", writer.error().c_str());
    return 73;
  }
  uint8_t buf[kMaxRecordSize];
  uint64_t seq = 0;
  uint64_t time_ns = 1'000'000'000;
  auto append = [&](size_t size) {
    if (size == 0 || !writer->append(buf, size)) {
      std::fprintf(stderr, "make_trace: cannot write '%s'\n", argv[1]);
      std::exit(74);
    }
  };
  PciDevFields pci;
  pci.busdevfn = 3 << 3;
  pci.vendor = 0x8086;
  pci.device = 0x100e;
  pci.start[0] = 0xfebc0000;
  pci.size[0] = 0x20000;
  append(encode_pcidev(buf, sizeof buf, RecordStamp{seq++, time_ns, 0}, pci));
  const char path[] = "/sys/bus/pci/devices/0000:00:03.0/resource0";
  MapFields map;
  map.phys = 0xfebc0000;
  map.virt = 0x7f0000000000;
  map.len = 0x20000;
  map.pid = 100;
  map.map_id = 1;
  map.kind = DeviceKind::PCI_RESOURCE;
  map.bar = 0;
  map.pci_busdevfn = pci.busdevfn;
  map.path = path;
  map.path_len = sizeof path - 1;
  append(encode_map(buf, sizeof buf, RecordStamp{seq++, time_ns, 100}, map));
  // (offset, op, value) of a driver's typical accesses, cycled through.
  struct Step {
    uint32_t offset;
    AccessOp op;
    uint32_t value;
  };
  static constexpr Step kSteps[] = {
      {0x0008, AccessOp::READ, 0x80080783},  {0x00c0, AccessOp::READ, 0x00000083},
      {0x0100, AccessOp::WRITE, 0x0400801a}, {0x2818, AccessOp::WRITE, 0x0000001f},
      {0x3818, AccessOp::WRITE, 0x00000007}, {0x0000, AccessOp::READ, 0x00140240},
      {0x00d0, AccessOp::WRITE, 0x0000009d}, {0x5404, AccessOp::READ, 0x80005634},
  };
  const uint8_t insn[] = {0x8b, 0x07};  // mov (%rdi), %eax
  for (uint64_t i = 0; i < n; ++i) {
    const Step& s = kSteps[i % (sizeof kSteps / sizeof kSteps[0])];
    time_ns += 150 + (i % 7) * 10;
    if (i % 100000 == 0) {
      const std::string text = "phase " + std::to_string(i / 100000);
      MarkFields m;
      m.pid = 100;
      m.text = text.data();
      m.text_len = static_cast<uint16_t>(text.size());
      append(encode_mark(buf, sizeof buf, RecordStamp{seq++, time_ns, 100}, m));
    }
    const uint32_t value = s.value + static_cast<uint32_t>(s.op == AccessOp::WRITE ? i & 0xff : 0);
    uint8_t bytes[8] = {};
    std::memcpy(bytes, &value, 4);
    AccessFields a;
    a.op = s.op;
    a.width = 4;
    a.phys = 0xfebc0000 + s.offset;
    a.pc = 0x401000 + (i % 8) * 8;
    a.pid = 100;
    a.map_id = 1;
    a.value = bytes;
    a.insn = insn;
    a.insn_len = sizeof insn;
    append(encode_access(buf, sizeof buf, RecordStamp{seq++, time_ns, static_cast<uint32_t>(100 + (i & 1))}, a));
  }
  if (auto ok = writer->close(); !ok) {
    std::fprintf(stderr, "make_trace: %s\n", ok.error().c_str());
    return 74;
  }
  return 0;
}
