#include "trace/kernel_printer.h"

#include <fmt/compile.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "trace/encode.h"

namespace mmiotrace::trace {

// ---- Shared by both printers ----

TextSink::TextSink(FILE* out, std::string_view out_name) : out_(out), out_name_(out_name) {}

bool TextSink::record_failure(int err) {
  if (err == EPIPE) {
    pipe_closed_ = true;
  } else if (error_.empty()) {
    error_ = fmt::format("writing {} failed: {}", out_name_, std::strerror(err != 0 ? err : EIO));
  }
  buffer_.clear();
  return false;
}

bool TextSink::write_buffer() {
  if (pipe_closed_ || !error_.empty()) return false;
  if (buffer_.size() != 0) {
    errno = 0;
    const size_t n = std::fwrite(buffer_.data(), 1, buffer_.size(), out_);
    if (n != buffer_.size()) return record_failure(errno);
    buffer_.clear();
  }
  return true;
}

bool TextSink::flush() {
  if (!write_buffer()) return false;
  errno = 0;
  if (std::fflush(out_) != 0) return record_failure(errno);
  return true;
}

PrintOutcome TextSink::failure_outcome() const {
  if (pipe_closed_) return {};
  return {PrintStatus::WRITE_FAILED, error_};
}

uint64_t little_endian(const uint8_t* bytes, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = n; i-- > 0;) v = (v << 8) | bytes[i];
  return v;
}

void append_one_line(std::string_view text, fmt::memory_buffer& out) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  for (char c : text) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
}

PrintOutcome print_records(RecordSource& source, TextSink& sink, const RecordFormatter& format) {
  RecordView record;
  for (;;) {
    auto more = source.next(record);
    if (!more) {
      if (!sink.flush()) return sink.failure_outcome();
      return {source.read_failed() ? PrintStatus::READ_FAILED : PrintStatus::BAD_INPUT, more.error()};
    }
    if (!*more) break;
    format(record, sink.buffer());
    if (!sink.maybe_flush()) return sink.failure_outcome();
  }
  if (!sink.flush()) return sink.failure_outcome();
  return {};
}

// ---- The kernel format ----

namespace {

using Out = fmt::memory_buffer;

// Nanoseconds to microseconds rounded to nearest, as the kernel's ns2usecs().
uint64_t kernel_microseconds(uint64_t time_ns) { return time_ns / 1000 + (time_ns % 1000 >= 500 ? 1 : 0); }

// "NAME <time>", the start of most lines.
void format_event(const char* name, uint64_t time_ns, Out& out) {
  out.append(std::string_view(name));
  out.push_back(' ');
  format_kernel_time(time_ns, out);
}

// The kernel's "%d" columns (map id, PID): a kernel log's UNMAP of a mapping
// the kernel could not match has map id -1, and prints again as -1.
int32_t as_int(uint32_t v) { return static_cast<int32_t>(v); }

// What goes into the PC and PID columns of R, W and UNKNOWN lines.
struct PcPid {
  uint64_t pc;
  int32_t pid;
};
PcPid pc_pid(uint64_t pc, uint32_t tid, const KernelFormatOptions& o) {
  if (o.zero_pc_pid) return {0, 0};
  return {pc, as_int(tid)};
}

// One kernel R/W line: `R %d %u.%06lu %d 0x%llx 0x%lx 0x%lx %d`. The kernel
// always prints 0 as the PID; we print the thread that made the access.
// This is the line printed millions of times: its format is compiled.
// R is AccessRecord or AccessRunRecord (the fields used have the same names).
template <typename R>
void format_rw_line(const R& r, unsigned width, uint64_t phys, uint64_t value, const KernelFormatOptions& o, Out& out) {
  const uint64_t us = kernel_microseconds(r.h.time_ns);
  const char op = r.op == static_cast<uint8_t>(AccessOp::WRITE) ? 'W' : 'R';
  const PcPid cols = pc_pid(r.pc, r.h.tid, o);
  fmt::format_to(fmt::appender(out), FMT_COMPILE("{} {} {}.{:06} {} {:#x} {:#x} {:#x} {}\n"), op, width, us / 1000000,
                 us % 1000000, as_int(r.map_id), phys, value, cols.pc, cols.pid);
}

// `UNKNOWN %u.%06lu %d 0x%llx %02lx,%02lx,%02lx 0x%lx %d`: what the kernel
// prints for an access whose value it lost (an instruction its decoder did
// not know): time, map id, address, the instruction's first three bytes
// (zero where fewer were recorded), PC, PID.
void format_unknown_line(uint64_t time_ns, uint32_t map_id, uint64_t phys, const uint8_t* insn, unsigned insn_len,
                         uint64_t pc, uint32_t tid, const KernelFormatOptions& o, Out& out) {
  uint8_t b[3] = {};
  for (unsigned i = 0; i < 3 && i < insn_len; ++i) b[i] = insn[i];
  format_event("UNKNOWN", time_ns, out);
  const PcPid cols = pc_pid(pc, tid, o);
  fmt::format_to(fmt::appender(out), " {} {:#x} {:02x},{:02x},{:02x} {:#x} {}\n", as_int(map_id), phys, b[0], b[1],
                 b[2], cols.pc, cols.pid);
}

// Bytes [begin, end) of the access as lines of at most `o.max_width` bytes:
// at each position the largest power of two that is naturally aligned on the
// device address and still fits.
void format_chunks(const AccessRecord& r, const uint8_t* value, unsigned begin, unsigned end,
                   const KernelFormatOptions& o, Out& out) {
  unsigned pos = begin;
  while (pos < end) {
    const uint64_t phys = r.phys + pos;
    unsigned n = o.max_width;
    while (n > 1 && (phys % n != 0 || pos + n > end)) n /= 2;
    format_rw_line(r, n, phys, little_endian(value + pos, n), o, out);
    pos += n;
  }
}

// One access of width 1, 2, 4 or 8 at `phys` (whatever its alignment): one
// line, or, wider than o.max_width, o.max_width-byte pieces in address order.
template <typename R>
void format_whole_access(const R& r, unsigned width, uint64_t phys, const uint8_t* value, const KernelFormatOptions& o,
                         Out& out) {
  const unsigned piece = width > o.max_width ? o.max_width : width;
  for (unsigned pos = 0; pos < width; pos += piece)
    format_rw_line(r, piece, phys + pos, little_endian(value + pos, piece), o, out);
}

void format_access(const RecordView& record, const KernelFormatOptions& o, Out& out) {
  const auto r = record.as<AccessRecord>();
  const uint8_t* value = record.access_value().data();
  const bool masked = (r.flags & kAccessMasked) != 0;
  const unsigned w = r.width;
  const uint64_t mask = masked ? r.byte_mask : full_byte_mask(w);
  if ((r.flags & kAccessValueUnknown) != 0) {
    // One UNKNOWN line for the access, at its first byte accessed.
    const unsigned first = static_cast<unsigned>(__builtin_ctzll(mask));
    format_unknown_line(r.h.time_ns, r.map_id, r.phys + first, r.insn, r.insn_len, r.pc, r.h.tid, o, out);
    return;
  }
  if (!masked && (w == 1 || w == 2 || w == 4 || w == 8)) {
    format_whole_access(r, w, r.phys, value, o, out);
    return;
  }
  // Wide, odd-sized or masked: each run of accessed bytes, in address order.
  unsigned i = 0;
  while (i < w) {
    if (((mask >> i) & 1) == 0) {
      ++i;
      continue;
    }
    unsigned run_end = i;
    while (run_end < w && ((mask >> run_end) & 1) != 0) ++run_end;
    format_chunks(r, value, i, run_end, o, out);
    i = run_end;
  }
}

// A run prints exactly what its `count` ACCESS records would: one line per
// access (width 1, 2, 4 or 8, never masked), at its own address, with its own
// value, and the run's time, map id, PC and thread.
void format_access_run(const RecordView& record, const KernelFormatOptions& o, Out& out) {
  const auto r = record.as<AccessRunRecord>();
  const uint8_t* values = record.access_run_values().data();
  const bool unknown = (r.flags & kAccessValueUnknown) != 0;
  for (uint32_t i = 0; i < r.count; ++i) {
    const uint64_t phys = run_access_phys(r.phys, r.stride, i);
    if (unknown) {
      format_unknown_line(r.h.time_ns, r.map_id, phys, r.insn, r.insn_len, r.pc, r.h.tid, o, out);
    } else {
      format_whole_access(r, r.width, phys, values + size_t{i} * r.width, o, out);
    }
  }
}

void format_mark(const RecordView& record, Out& out) {
  format_event("MARK", record.header().time_ns, out);
  out.push_back(' ');
  // What one write to trace_marker can hold: line-based readers of kernel
  // logs (envytools demmio reads lines into 1024 bytes) never see more.
  append_one_line(record.mark_text().substr(0, kKernelMarkTextMax), out);
  out.push_back('\n');
}

void format_pcidev(const RecordView& record, Out& out) {
  const auto r = record.as<PciDevRecord>();
  auto it = fmt::format_to(fmt::appender(out), "PCIDEV {:02x}{:02x} {:04x}{:04x} {:x}", (r.busdevfn >> 8) & 0xff,
                           r.busdevfn & 0xff, r.vendor, r.device, r.irq);
  for (uint64_t start : r.start) it = fmt::format_to(it, " {:x}", start);
  for (uint64_t size : r.size) it = fmt::format_to(it, " {:x}", size);
  // " %s" with the driver's name, or a lone space if no driver is bound.
  out.push_back(' ');
  out.append(record.pcidev_driver());
  out.push_back('\n');
}

}  // namespace

void format_kernel_time(uint64_t time_ns, fmt::memory_buffer& out) {
  const uint64_t us = kernel_microseconds(time_ns);
  fmt::format_to(fmt::appender(out), FMT_COMPILE("{}.{:06}"), us / 1000000, us % 1000000);
}

void format_kernel_record(const RecordView& record, fmt::memory_buffer& out, const KernelFormatOptions& options) {
  switch (record.type()) {
    case RecordType::ACCESS:
      return format_access(record, options, out);
    case RecordType::ACCESS_RUN:
      return format_access_run(record, options, out);
    case RecordType::MAP: {
      const auto r = record.as<MapRecord>();
      format_event("MAP", r.h.time_ns, out);
      fmt::format_to(fmt::appender(out), " {} {:#x} {:#x} {:#x} 0x0 0\n", as_int(r.map_id), r.phys, r.virt, r.len);
      return;
    }
    case RecordType::UNMAP: {
      const auto r = record.as<UnmapRecord>();
      format_event("UNMAP", r.h.time_ns, out);
      fmt::format_to(fmt::appender(out), " {} 0x0 0\n", as_int(r.map_id));
      return;
    }
    case RecordType::MARK:
      return format_mark(record, out);
    case RecordType::UNKNOWN: {
      const auto r = record.as<UnknownRecord>();
      format_unknown_line(r.h.time_ns, r.map_id, r.phys, r.insn, r.insn_len, r.pc, r.h.tid, options, out);
      return;
    }
    case RecordType::LOST:
      fmt::format_to(fmt::appender(out), "MARK 0.000000 Lost {} events.\n", record.as<LostRecord>().count);
      return;
    case RecordType::PCIDEV:
      return format_pcidev(record, out);
    case RecordType::PAD:
      break;  // the reader never delivers one
  }
}

PrintOutcome print_kernel_format(TraceReader& reader, FILE* out, std::string_view out_name,
                                 const KernelFormatOptions& options) {
  // Reopening a pipe (`print <(cat t.mmio)`) would not read it again but take
  // its data away from `reader`: refuse rather than print a trace without events.
  struct stat st;
  if (::stat(reader.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return {PrintStatus::READ_FAILED,
            fmt::format("cannot print '{}' in the kernel format: it is not a regular file and the PCIDEV lines need "
                        "a second read of it; copy it to a file first",
                        reader.path())};
  }
  TextSink sink(out, out_name);
  sink.buffer().append(std::string_view("VERSION 20070824\n"));
  // First pass: the PCIDEV lines. A damaged record ends this pass quietly; the
  // second pass stops at the same record and reports it.
  auto first = TraceReader::open(reader.path());
  if (!first) return {PrintStatus::READ_FAILED, first.error()};
  RecordView record;
  for (auto more = first->next(record); more && *more; more = first->next(record)) {
    if (record.type() == RecordType::PCIDEV) format_pcidev(record, sink.buffer());
    if (!sink.maybe_flush()) return sink.failure_outcome();
  }
  if ((reader.header().features & kFeatureStepMayMiss) != 0) {
    // Before any event: whoever reads the trace learns first that it may be incomplete.
    sink.buffer().append(std::string_view(
        "MARK 0.000000 mmiotrace: single-stepped with mprotect (no protection keys): accesses other threads made "
        "during a step may be missing\n"));
  }
  return print_records(reader, sink, [&options](const RecordView& r, fmt::memory_buffer& buf) {
    if (r.type() != RecordType::PCIDEV) format_kernel_record(r, buf, options);
  });
}

PrintOutcome print_kernel_format_in_order(RecordSource& source, FILE* out, std::string_view out_name,
                                          const KernelFormatOptions& options) {
  TextSink sink(out, out_name);
  sink.buffer().append(std::string_view("VERSION 20070824\n"));
  return print_records(source, sink, [&options](const RecordView& r, fmt::memory_buffer& buf) {
    format_kernel_record(r, buf, options);
  });
}

}  // namespace mmiotrace::trace
