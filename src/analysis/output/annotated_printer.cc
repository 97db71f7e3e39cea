// The annotated format, for people: one line per event in columns, each
// access with its device and offset and, with --regs, its register, value and
// fields (docs/print.md, "The annotated format"):
//
//       5.986336     101  W4  e1000+0x000d8  IMC          <= 0xffffffff  TXDW | TXQE | LSC | ...
//       5.991630     101  R4  e1000+0x00000  CTRL         => 0x00140240  SLU | SPEED=1000M | SDP0_DATA | ADVD3WUC
#include <sys/mman.h>

#include "analysis/output/printer.h"

namespace mmiotrace::output {

namespace {

using analysis::Access;
using analysis::AccessDescription;
using trace::RecordView;

void pad_to(Out& out, size_t start, size_t width) {
  while (out.size() - start < width) out.push_back(' ');
}

// "      5.986336     101  " : time and thread columns.
void put_when(Out& out, uint64_t time_ns, const char* tid, uint32_t tid_value) {
  Out t;
  format_kernel_time(time_ns, t);
  for (size_t n = t.size(); n < 14; ++n) out.push_back(' ');
  out.append(t.data(), t.data() + t.size());
  Out d;
  if (tid != nullptr) {
    put(d, tid);
  } else {
    put_dec(d, tid_value);
  }
  for (size_t n = d.size(); n < 8; ++n) out.push_back(' ');
  out.append(d.data(), d.data() + d.size());
  put(out, "  ");
}

// Hex digits an offset of the map needs (at least 4): e1000+0x000d8 in a 128 KiB map.
unsigned offset_digits(const analysis::RegisterMap& map) {
  unsigned digits = 4;
  for (uint64_t end = map.extent() > 0 ? map.extent() - 1 : 0; (end >> (digits * 4)) != 0;) ++digits;
  return digits;
}

class AnnotatedPrinter final : public Printer {
 public:
  void begin(const InputInfo& input, Out& out) override {
    if (input.kernel_log || input.header == nullptr) {
      put(out, "# Linux kernel mmiotrace log\n");
    } else {
      put(out, "# mmiotrace trace, recorder pid ");
      put_dec(out, input.header->recorder_pid);
      if (input.header->features & trace::kFeatureStepMode) put(out, ", recorded in step mode");
      if (input.header->features & trace::kFeatureStepMayMiss) {
        put(out, "; single-stepped with mprotect: accesses other threads made during a step may be missing");
      }
      out.push_back('\n');
    }
    put(out, "#         time     tid  acc where          register / value\n");
  }

  void access(const Access& a, const AccessNotes& notes, Out& out) override {
    const AccessDescription* regs = notes.regs;
    put_when(out, a.time_ns, nullptr, a.tid);
    const size_t acc = out.size();
    out.push_back(a.is_write() ? 'W' : 'R');
    put_dec(out, a.width);
    pad_to(out, acc, 4);
    const size_t where = out.size();
    const bool bound = regs != nullptr && regs->binding != nullptr;
    if (bound) {
      put(out, regs->binding->label);
      put(out, "+0x");
      put_hex_digits(out, regs->offset, offset_digits(*regs->binding->map));
    } else {
      put_hex(out, a.phys);
    }
    pad_to(out, where, 14);
    out.push_back(' ');
    const char* arrow = a.is_write() ? "<= " : "=> ";
    if (!bound || regs->parts.empty()) {
      put(out, arrow);
      put_value(out, a, 0, a.width);
    } else {
      for (size_t i = 0; i < regs->parts.size(); ++i) {
        const analysis::RegisterPart& p = regs->parts[i];
        if (i > 0) put(out, "; ");
        const size_t name = out.size();
        if (p.hit) {
          analysis::format_register_name(*regs->binding->map, *p.hit, out);
        } else {
          out.push_back('+');
          analysis::append_hex(p.offset, out);
        }
        if (regs->parts.size() == 1) pad_to(out, name, 12);
        out.push_back(' ');
        put(out, arrow);
        put_value(out, a, p.first, p.nbytes);
        if (p.value_known && p.hit && p.hit->reg->kind == analysis::RegKind::REGISTER && !p.decoded.fields.empty()) {
          // The fields, unless none shows and they would only repeat the value.
          decoded_.clear();
          analysis::format_decoded(p.decoded, decoded_);
          value_.clear();
          analysis::append_hex(p.value, value_);
          if (std::string_view(decoded_.data(), decoded_.size()) != std::string_view(value_.data(), value_.size())) {
            put(out, "  ");
            out.append(decoded_.data(), decoded_.data() + decoded_.size());
          }
        }
      }
    }
    if (a.run_count != 0) {
      put(out, "  (");
      put_dec(out, a.run_index + 1);
      out.push_back('/');
      put_dec(out, a.run_count);
      put(out, " of a string instruction)");
    }
    // A fault injection rule changed it (docs/inject.md).
    if (a.flags & trace::kAccessInjected) put(out, "  (injected)");
    if (notes.symbol != nullptr) {
      put(out, "  in ");
      put(out, notes.symbol->text());
    }
    out.push_back('\n');
  }

 private:
  Out decoded_;
  Out value_;

 public:
  void record(const RecordView& record, Out& out) override {
    const trace::RecordHeader h = record.header();
    switch (record.type()) {
      case trace::RecordType::MAP: {
        const auto r = record.as<trace::MapRecord>();
        put_when(out, h.time_ns, nullptr, h.tid);
        put(out, "MAP map ");
        put_int(out, static_cast<int32_t>(r.map_id));
        put(out, ": ");
        put_hex(out, r.phys);
        put(out, " + ");
        put_hex(out, r.len);
        if (!record.map_path().empty()) {
          out.push_back(' ');
          put(out, record.map_path());
        }
        out.push_back('\n');
        return;
      }
      case trace::RecordType::UNMAP: {
        const auto r = record.as<trace::UnmapRecord>();
        put_when(out, h.time_ns, nullptr, h.tid);
        put(out, "UNMAP map ");
        put_int(out, static_cast<int32_t>(r.map_id));
        out.push_back('\n');
        return;
      }
      case trace::RecordType::MARK:
        put_when(out, h.time_ns, nullptr, h.tid);
        put(out, "MARK \"");
        append_one_line(record.mark_text(), out);
        put(out, "\"\n");
        return;
      case trace::RecordType::PCIDEV: {
        const auto r = record.as<trace::PciDevRecord>();
        put_when(out, h.time_ns, "-", 0);
        put(out, "PCIDEV ");
        put_pci_address(out, r.busdevfn);
        out.push_back(' ');
        put_hex_digits(out, r.vendor, 4);
        out.push_back(':');
        put_hex_digits(out, r.device, 4);
        for (int i = 0; i < 6; ++i) {
          if (r.size[i] == 0) continue;
          put(out, " BAR");
          put_dec(out, static_cast<uint64_t>(i));
          out.push_back(' ');
          put_hex(out, r.start[i] & ((r.start[i] & 1) ? ~uint64_t{3} : ~uint64_t{0xf}));
          put(out, " + ");
          put_hex(out, r.size[i]);
          if (r.start[i] & 1) put(out, " (I/O)");
        }
        if (!record.pcidev_driver().empty()) {
          put(out, " driver ");
          put(out, record.pcidev_driver());
        }
        out.push_back('\n');
        return;
      }
      case trace::RecordType::UNKNOWN: {
        const auto r = record.as<trace::UnknownRecord>();
        put_when(out, h.time_ns, nullptr, h.tid);
        put(out, "UNKNOWN instruction at ");
        put_hex(out, r.pc);
        put(out, " touched ");
        put_hex(out, r.phys);
        put(out, " (map ");
        put_int(out, static_cast<int32_t>(r.map_id));
        put(out, "): not recorded\n");
        return;
      }
      case trace::RecordType::LOST:
        put_when(out, h.time_ns, "-", 0);
        put(out, "LOST ");
        put_dec(out, record.as<trace::LostRecord>().count);
        put(out, " events\n");
        return;
      case trace::RecordType::CODEMAP:  // the program's code: no line in this format
      case trace::RecordType::ACCESS:
      case trace::RecordType::ACCESS_RUN:
      case trace::RecordType::PAD:
        break;
    }
  }

 private:
  // Bytes [first, first+n) of the value, zero-padded to their width
  // (0x0000001f); wider than 8 bytes, the bytes in memory order; ? if unknown.
  static void put_value(Out& out, const Access& a, unsigned first, unsigned n) {
    if (!a.value_known()) {
      out.push_back('?');
    } else if (n > 8) {
      put_hex_bytes(out, a.value.subspan(first, n));
    } else {
      put(out, "0x");
      put_hex_digits(out, a.value_bits(first, n), n * 2);
    }
  }
};

}  // namespace

std::unique_ptr<Printer> make_annotated_printer(const PrinterOptions&) { return std::make_unique<AnnotatedPrinter>(); }

}  // namespace mmiotrace::output
