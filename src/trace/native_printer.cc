#include "trace/native_printer.h"

#include <sys/mman.h>

#include "emu/emulator.h"

namespace mmiotrace::trace {

namespace {

using Out = fmt::memory_buffer;

void put_hex_bytes(const uint8_t* bytes, size_t n, Out& out) {
  for (size_t i = 0; i < n; ++i) fmt::format_to(fmt::appender(out), "{:02x}", bytes[i]);
}

// `insn=<hex bytes> <disassembly>`, the rest of the line.
void put_insn(const uint8_t* insn, unsigned len, uint64_t pc, Out& out) {
  if (len == 0) {
    out.append(std::string_view("insn=- (no instruction bytes)"));
    return;
  }
  out.append(std::string_view("insn="));
  put_hex_bytes(insn, len, out);
  char text[128];
  text[0] = '\0';
  emu::disassemble(insn, len, pc, text, sizeof text);
  out.push_back(' ');
  out.append(std::string_view(text));
}

// Values of up to 8 bytes as a little-endian integer (0x...), wider ones as
// their bytes in memory order (no 0x).
void put_value(std::span<const uint8_t> value, Out& out) {
  if (value.size() > 8) return put_hex_bytes(value.data(), value.size(), out);
  fmt::format_to(fmt::appender(out), "{:#x}", little_endian(value.data(), static_cast<unsigned>(value.size())));
}

// "#<seq> <time_ns> <pid>/<tid> "; "-" for the pid of a record that has none.
void put_prefix(const RecordHeader& h, const uint32_t* pid, Out& out) {
  if (pid != nullptr) {
    fmt::format_to(fmt::appender(out), "#{} {} {}/{} ", h.seq, h.time_ns, *pid, h.tid);
  } else {
    fmt::format_to(fmt::appender(out), "#{} {} -/{} ", h.seq, h.time_ns, h.tid);
  }
}

void put_pci_address(uint32_t busdevfn, Out& out) {
  fmt::format_to(fmt::appender(out), "{:04x}:{:02x}:{:02x}.{:x}", busdevfn >> 16, (busdevfn >> 8) & 0xff,
                 (busdevfn >> 3) & 0x1f, busdevfn & 7);
}

const char* kind_name(uint16_t kind) {
  switch (static_cast<DeviceKind>(kind)) {
    case DeviceKind::FILE:
      return "file";
    case DeviceKind::PCI_RESOURCE:
      return "pci-resource";
    case DeviceKind::DEV_MEM:
      return "dev-mem";
    case DeviceKind::UIO:
      return "uio";
    case DeviceKind::VFIO:
      return "vfio";
  }
  return "unknown";
}

void format_access(const RecordView& record, Out& out) {
  const auto r = record.as<AccessRecord>();
  put_prefix(r.h, &r.pid, out);
  fmt::format_to(fmt::appender(out), "{} {} {} {:#x} ", r.op == static_cast<uint8_t>(AccessOp::WRITE) ? 'W' : 'R',
                 r.width, static_cast<int32_t>(r.map_id), r.phys);
  if (r.flags & kAccessValueUnknown) {
    out.push_back('?');
  } else {
    put_value(record.access_value(), out);
  }
  fmt::format_to(fmt::appender(out), " {:#x} ", r.pc);
  if (r.flags & kAccessMasked) fmt::format_to(fmt::appender(out), "masked={:#x} ", r.byte_mask);
  if (r.flags & kAccessSplit) out.append(std::string_view("split "));
  if (r.flags & kAccessGeneric) out.append(std::string_view("generic "));
  if (r.flags & kAccessStepped) out.append(std::string_view("stepped "));
  put_insn(r.insn, r.insn_len, r.pc, out);
  out.push_back('\n');
}

// One line per access of the run, each with its own seq (h.seq + i), address
// and value, marked run=<i+1>/<count>; the time is the run's (its first
// access's) on every line.
void format_access_run(const RecordView& record, Out& out) {
  const auto r = record.as<AccessRunRecord>();
  const uint8_t* values = record.access_run_values().data();
  // The same instruction on every line: disassemble it once.
  Out insn;
  put_insn(r.insn, r.insn_len, r.pc, insn);
  const std::string_view insn_text(insn.data(), insn.size());
  const char op = r.op == static_cast<uint8_t>(AccessOp::WRITE) ? 'W' : 'R';
  for (uint32_t i = 0; i < r.count; ++i) {
    fmt::format_to(fmt::appender(out), "#{} {} {}/{} {} {} {} {:#x} {:#x} {:#x} run={}/{} ", r.h.seq + i, r.h.time_ns,
                   r.pid, r.h.tid, op, r.width, static_cast<int32_t>(r.map_id), run_access_phys(r.phys, r.stride, i),
                   little_endian(values + size_t{i} * r.width, r.width), r.pc, i + 1, r.count);
    if (r.flags & kAccessSplit) out.append(std::string_view("split "));
    if (r.flags & kAccessGeneric) out.append(std::string_view("generic "));
    if (r.flags & kAccessStepped) out.append(std::string_view("stepped "));
    out.append(insn_text);
    out.push_back('\n');
  }
}

void format_map(const RecordView& record, Out& out) {
  const auto r = record.as<MapRecord>();
  put_prefix(r.h, &r.pid, out);
  fmt::format_to(fmt::appender(out),
                 "MAP {} {:#x} {:#x} {:#x} offset={:#x} kind={} prot={}{}{} bar=", static_cast<int32_t>(r.map_id),
                 r.phys, r.virt, r.len, r.file_offset, kind_name(r.kind), (r.prot & PROT_READ) ? 'r' : '-',
                 (r.prot & PROT_WRITE) ? 'w' : '-', (r.prot & PROT_EXEC) ? 'x' : '-');
  if (r.bar == kNoBar) {
    out.append(std::string_view("none"));
  } else {
    fmt::format_to(fmt::appender(out), "{}", r.bar);
  }
  out.append(std::string_view(" pci="));
  if (r.pci_busdevfn == 0) {
    out.append(std::string_view("none"));
  } else {
    put_pci_address(r.pci_busdevfn, out);
  }
  out.push_back(' ');
  out.append(record.map_path());
  out.push_back('\n');
}

void format_pcidev(const RecordView& record, Out& out) {
  const auto r = record.as<PciDevRecord>();
  put_prefix(r.h, nullptr, out);
  out.append(std::string_view("PCIDEV "));
  put_pci_address(r.busdevfn, out);
  fmt::format_to(fmt::appender(out), " {:04x}:{:04x} irq={}", r.vendor, r.device, r.irq);
  for (int i = 0; i < 7; ++i) {
    if (i < 6) {
      fmt::format_to(fmt::appender(out), " bar{}=", i);
    } else {
      out.append(std::string_view(" rom="));
    }
    fmt::format_to(fmt::appender(out), "{:#x},{:#x}", r.start[i], r.size[i]);
  }
  const std::string_view driver = record.pcidev_driver();
  out.append(std::string_view(" driver="));
  out.append(driver.empty() ? std::string_view("-") : driver);
  out.push_back('\n');
}

void format_mark(const RecordView& record, Out& out) {
  const auto r = record.as<MarkRecord>();
  put_prefix(r.h, &r.pid, out);
  out.append(std::string_view("MARK "));
  append_one_line(record.mark_text(), out);
  out.push_back('\n');
}

}  // namespace

void format_native_header(const FileHeader& header, fmt::memory_buffer& out) {
  fmt::format_to(fmt::appender(out),
                 "# mmiotrace trace format {}.{}, recorder pid {}, start monotonic {} ns, start realtime {} ns\n",
                 header.version_major, header.version_minor, header.recorder_pid, header.start_monotonic_ns,
                 header.start_realtime_ns);
  if (header.features & kFeatureStepMode) out.append(std::string_view("# mode step\n"));
  if (header.features & kFeatureStepMayMiss) {
    out.append(
        std::string_view("# single-stepped with mprotect (no protection keys): accesses other threads made "
                         "during a step may be missing\n"));
  }
}

void format_native_record(const RecordView& record, fmt::memory_buffer& out) {
  switch (record.type()) {
    case RecordType::ACCESS:
      return format_access(record, out);
    case RecordType::ACCESS_RUN:
      return format_access_run(record, out);
    case RecordType::MAP:
      return format_map(record, out);
    case RecordType::UNMAP: {
      const auto r = record.as<UnmapRecord>();
      put_prefix(r.h, &r.pid, out);
      fmt::format_to(fmt::appender(out), "UNMAP {} {:#x} {:#x}\n", static_cast<int32_t>(r.map_id), r.virt, r.len);
      return;
    }
    case RecordType::MARK:
      return format_mark(record, out);
    case RecordType::PCIDEV:
      return format_pcidev(record, out);
    case RecordType::UNKNOWN: {
      const auto r = record.as<UnknownRecord>();
      put_prefix(r.h, &r.pid, out);
      fmt::format_to(fmt::appender(out), "UNKNOWN {} {:#x} {:#x} ", static_cast<int32_t>(r.map_id), r.phys, r.pc);
      put_insn(r.insn, r.insn_len, r.pc, out);
      out.push_back('\n');
      return;
    }
    case RecordType::LOST: {
      const auto r = record.as<LostRecord>();
      put_prefix(r.h, nullptr, out);
      fmt::format_to(fmt::appender(out), "LOST {}\n", r.count);
      return;
    }
    case RecordType::PAD:
      break;  // the reader never delivers one
  }
}

PrintOutcome print_native_format(TraceReader& reader, FILE* out, std::string_view out_name) {
  TextSink sink(out, out_name);
  format_native_header(reader.header(), sink.buffer());
  return print_records(reader, sink, format_native_record);
}

PrintOutcome print_native_format(RecordSource& source, std::string_view header_line, FILE* out,
                                 std::string_view out_name) {
  TextSink sink(out, out_name);
  sink.buffer().append(header_line);
  return print_records(source, sink, format_native_record);
}

}  // namespace mmiotrace::trace
