// The native text format: one line per record carrying every field of the
// binary record, plus the disassembly of the instruction behind each access.
// Normative description: docs/trace-format.md, "The native text format".
// With --regs an access line gains reg=NAME[,NAME] and fields=DECODE[,DECODE]
// tokens (no spaces) before insn=.
#include <sys/mman.h>

#include "analysis/output/disassembly.h"
#include "analysis/output/print.h"
#include "analysis/output/printer.h"

namespace mmiotrace::output {

namespace {

using analysis::Access;
using analysis::AccessDescription;
using trace::RecordView;

// "#<seq> <time_ns> <pid>/<tid> "; "-" for the pid of a record that has none.
void put_prefix(Out& out, uint64_t seq, uint64_t time_ns, const uint32_t* pid, uint32_t tid) {
  out.push_back('#');
  put_dec(out, seq);
  out.push_back(' ');
  put_dec(out, time_ns);
  out.push_back(' ');
  if (pid != nullptr) {
    put_dec(out, *pid);
  } else {
    out.push_back('-');
  }
  out.push_back('/');
  put_dec(out, tid);
  out.push_back(' ');
}

// reg=RCTL fields=EN|UPE|BSIZE=2048 ; reg=TDBAL,TDBAH fields=0x12350000,0x1
void put_registers(Out& out, const AccessDescription& d) {
  if (d.binding == nullptr || d.parts.empty()) return;
  put(out, "reg=");
  Out one;
  bool known = true;
  for (size_t i = 0; i < d.parts.size(); ++i) {
    const analysis::RegisterPart& p = d.parts[i];
    if (i > 0) out.push_back(',');
    if (p.hit) {
      analysis::format_register_name(*d.binding->map, *p.hit, out);
    } else {
      out.push_back('+');
      analysis::append_hex(p.offset, out);
    }
    known = known && p.value_known;
  }
  out.push_back(' ');
  if (!known) return;
  put(out, "fields=");
  for (size_t i = 0; i < d.parts.size(); ++i) {
    const analysis::RegisterPart& p = d.parts[i];
    if (i > 0) out.push_back(',');
    one.clear();
    if (p.hit && p.hit->reg->kind == analysis::RegKind::REGISTER) {
      analysis::format_decoded(p.decoded, one);
    } else {
      analysis::append_hex(p.value, one);
    }
    for (char c : std::string_view(one.data(), one.size())) {
      if (c != ' ') out.push_back(c);  // "EN | UPE" -> "EN|UPE": one token
    }
  }
  out.push_back(' ');
}

class NativePrinter final : public Printer {
 public:
  void begin(const InputInfo& input, Out& out) override {
    if (input.kernel_log || input.header == nullptr) {
      put(out, kKernelLogNativeHeader);
      return;
    }
    const trace::FileHeader& h = *input.header;
    put(out, "# mmiotrace trace format ");
    put_dec(out, h.version_major);
    out.push_back('.');
    put_dec(out, h.version_minor);
    put(out, ", recorder pid ");
    put_dec(out, h.recorder_pid);
    put(out, ", start monotonic ");
    put_dec(out, h.start_monotonic_ns);
    put(out, " ns, start realtime ");
    put_dec(out, h.start_realtime_ns);
    put(out, " ns\n");
    if (h.features & trace::kFeatureStepMode) put(out, "# mode step\n");
    if (h.features & trace::kFeatureStepMayMiss) {
      put(out,
          "# single-stepped with mprotect (no protection keys): accesses other threads made during a step may be "
          "missing\n");
    }
  }

  void access(const Access& a, const AccessNotes& notes, Out& out) override {
    Line l(out);
    l.c('#');
    l.dec(a.seq);
    l.c(' ');
    l.dec(a.time_ns);
    l.c(' ');
    l.dec(a.pid);
    l.c('/');
    l.dec(a.tid);
    l.c(' ');
    l.c(a.is_write() ? 'W' : 'R');
    l.c(' ');
    l.dec(a.width);
    l.c(' ');
    l.sdec(a.map_id);
    l.c(' ');
    l.hex(a.phys);
    l.c(' ');
    if (!a.value_known()) {
      l.c('?');
    } else if (a.width > 8) {
      l.flush_to(out);
      put_hex_bytes(out, a.value);
      l.start(out);
    } else {
      l.hex(little_endian(a.value.data(), a.width));
    }
    l.c(' ');
    l.hex(a.pc);
    l.c(' ');
    if (a.run_count != 0) {
      l.s("run=");
      l.dec(a.run_index + 1);
      l.c('/');
      l.dec(a.run_count);
      l.c(' ');
    } else if (a.flags & trace::kAccessMasked) {
      l.s("masked=");
      l.hex(a.byte_mask);
      l.c(' ');
    }
    if (a.flags & trace::kAccessSplit) l.s("split ");
    if (a.flags & trace::kAccessGeneric) l.s("generic ");
    if (a.flags & trace::kAccessStepped) l.s("stepped ");
    if (a.flags & trace::kAccessInjected) l.s("injected ");
    l.flush_to(out);
    if (notes.regs != nullptr) put_registers(out, *notes.regs);
    if (notes.symbol != nullptr) {  // before insn=, whose disassembly runs to the end of the line
      put(out, "in ");
      put(out, notes.symbol->text());
      out.push_back(' ');
    }
    put_insn(out, a.insn, a.pc);
    out.push_back('\n');
  }

  void record(const RecordView& record, Out& out) override {
    switch (record.type()) {
      case trace::RecordType::MAP:
        return format_map(record, out);
      case trace::RecordType::UNMAP: {
        const auto r = record.as<trace::UnmapRecord>();
        put_prefix(out, r.h.seq, r.h.time_ns, &r.pid, r.h.tid);
        put(out, "UNMAP ");
        put_int(out, static_cast<int32_t>(r.map_id));
        out.push_back(' ');
        put_hex(out, r.virt);
        out.push_back(' ');
        put_hex(out, r.len);
        out.push_back('\n');
        return;
      }
      case trace::RecordType::MARK: {
        const auto r = record.as<trace::MarkRecord>();
        put_prefix(out, r.h.seq, r.h.time_ns, &r.pid, r.h.tid);
        put(out, "MARK ");
        append_one_line(record.mark_text(), out);
        out.push_back('\n');
        return;
      }
      case trace::RecordType::PCIDEV:
        return format_pcidev(record, out);
      case trace::RecordType::UNKNOWN: {
        const auto r = record.as<trace::UnknownRecord>();
        put_prefix(out, r.h.seq, r.h.time_ns, &r.pid, r.h.tid);
        put(out, "UNKNOWN ");
        put_int(out, static_cast<int32_t>(r.map_id));
        out.push_back(' ');
        put_hex(out, r.phys);
        out.push_back(' ');
        put_hex(out, r.pc);
        out.push_back(' ');
        put_insn(out, {r.insn, r.insn_len}, r.pc);
        out.push_back('\n');
        return;
      }
      case trace::RecordType::LOST: {
        const auto r = record.as<trace::LostRecord>();
        put_prefix(out, r.h.seq, r.h.time_ns, nullptr, r.h.tid);
        put(out, "LOST ");
        put_dec(out, r.count);
        out.push_back('\n');
        return;
      }
      case trace::RecordType::CODEMAP: {
        const auto r = record.as<trace::CodeMapRecord>();
        put_prefix(out, r.h.seq, r.h.time_ns, &r.pid, r.h.tid);
        put(out, "CODEMAP ");
        put_hex(out, r.virt);
        out.push_back(' ');
        put_hex(out, r.len);
        put(out, " offset=");
        put_hex(out, r.file_offset);
        put(out, " build-id=");
        if (record.codemap_build_id().empty()) {
          out.push_back('-');
        } else {
          put_hex_bytes(out, record.codemap_build_id());
        }
        if (r.flags & trace::kCodeMapFirst) put(out, " first");
        if (r.flags & trace::kCodeMapMmap) put(out, " mmap");
        out.push_back(' ');
        append_one_line(record.codemap_path(), out);
        out.push_back('\n');
        return;
      }
      case trace::RecordType::ACCESS:
      case trace::RecordType::ACCESS_RUN:
      case trace::RecordType::PAD:
        break;  // accesses come through access(); the reader never delivers PAD
    }
  }

 private:
  // `insn=<hex bytes> <disassembly>`, the rest of the line.
  void put_insn(Out& out, std::span<const uint8_t> insn, uint64_t pc) {
    if (insn.empty()) {
      put(out, "insn=- (no instruction bytes)");
      return;
    }
    put(out, "insn=");
    put_hex_bytes(out, insn);
    out.push_back(' ');
    disassembly_.append(insn, pc, out);
  }

  static void format_map(const RecordView& record, Out& out) {
    const auto r = record.as<trace::MapRecord>();
    put_prefix(out, r.h.seq, r.h.time_ns, &r.pid, r.h.tid);
    put(out, "MAP ");
    put_int(out, static_cast<int32_t>(r.map_id));
    out.push_back(' ');
    put_hex(out, r.phys);
    out.push_back(' ');
    put_hex(out, r.virt);
    out.push_back(' ');
    put_hex(out, r.len);
    put(out, " offset=");
    put_hex(out, r.file_offset);
    put(out, " kind=");
    put(out, trace::device_kind_name(r.kind));
    put(out, " prot=");
    out.push_back((r.prot & PROT_READ) ? 'r' : '-');
    out.push_back((r.prot & PROT_WRITE) ? 'w' : '-');
    out.push_back((r.prot & PROT_EXEC) ? 'x' : '-');
    put(out, " bar=");
    if (r.bar == trace::kNoBar) {
      put(out, "none");
    } else {
      put_dec(out, r.bar);
    }
    put(out, " pci=");
    if (r.pci_busdevfn == 0) {
      put(out, "none");
    } else {
      put_pci_address(out, r.pci_busdevfn);
    }
    out.push_back(' ');
    put(out, record.map_path());
    out.push_back('\n');
  }

  static void format_pcidev(const RecordView& record, Out& out) {
    const auto r = record.as<trace::PciDevRecord>();
    put_prefix(out, r.h.seq, r.h.time_ns, nullptr, r.h.tid);
    put(out, "PCIDEV ");
    put_pci_address(out, r.busdevfn);
    out.push_back(' ');
    put_hex_digits(out, r.vendor, 4);
    out.push_back(':');
    put_hex_digits(out, r.device, 4);
    put(out, " irq=");
    put_dec(out, r.irq);
    for (int i = 0; i < 7; ++i) {
      if (i < 6) {
        put(out, " bar");
        put_dec(out, static_cast<uint64_t>(i));
        out.push_back('=');
      } else {
        put(out, " rom=");
      }
      put_hex(out, r.start[i]);
      out.push_back(',');
      put_hex(out, r.size[i]);
    }
    const std::string_view driver = record.pcidev_driver();
    put(out, " driver=");
    put(out, driver.empty() ? std::string_view("-") : driver);
    out.push_back('\n');
  }

  DisassemblyCache disassembly_;
};

}  // namespace

std::unique_ptr<Printer> make_native_printer(const PrinterOptions&) { return std::make_unique<NativePrinter>(); }

}  // namespace mmiotrace::output
