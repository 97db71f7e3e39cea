// CSV (RFC 4180): a header row, then one row per record and per access
// (docs/print.md, "CSV"). Columns a record does not have are empty; 64-bit
// quantities are hex with 0x; text (MARK text, MAP path, register
// descriptions; an access's function with --symbols) is quoted when it holds a comma, a quote or a line break.
#include "analysis/output/printer.h"

namespace mmiotrace::output {

namespace {

using analysis::Access;
using analysis::AccessDescription;
using trace::RecordView;

constexpr std::string_view kHeader =
    "seq,time_ns,pid,tid,record,op,width,map_id,phys,value,pc,flags,device,offset,registers,decoded,text\n";

void put_field(Out& out, std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    put(out, text);
    return;
  }
  out.push_back('"');
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

// seq,time_ns,pid,tid,record,
void put_start(Out& out, uint64_t seq, uint64_t time_ns, const uint32_t* pid, uint32_t tid, std::string_view type) {
  put_dec(out, seq);
  out.push_back(',');
  put_dec(out, time_ns);
  out.push_back(',');
  if (pid != nullptr) put_dec(out, *pid);
  out.push_back(',');
  put_dec(out, tid);
  out.push_back(',');
  put(out, type);
  out.push_back(',');
}

class CsvPrinter final : public Printer {
 public:
  void begin(const InputInfo&, Out& out) override { put(out, kHeader); }

  void access(const Access& a, const AccessNotes& notes, Out& out) override {
    const AccessDescription* regs = notes.regs;
    put_start(out, a.seq, a.time_ns, &a.pid, a.tid, "ACCESS");
    out.push_back(a.is_write() ? 'W' : 'R');
    out.push_back(',');
    put_dec(out, a.width);
    out.push_back(',');
    put_int(out, a.map_id);
    out.push_back(',');
    put_hex(out, a.phys);
    out.push_back(',');
    if (!a.value_known()) {
      out.push_back('?');
    } else if (a.width > 8) {
      put_hex_bytes(out, a.value);
    } else {
      put_hex(out, little_endian(a.value.data(), a.width));
    }
    out.push_back(',');
    put_hex(out, a.pc);
    out.push_back(',');
    bool first = true;
    for (auto [bit, name] : {std::pair{trace::kAccessMasked, "masked"}, std::pair{trace::kAccessSplit, "split"},
                             std::pair{trace::kAccessGeneric, "generic"}, std::pair{trace::kAccessStepped, "stepped"},
                             std::pair{trace::kAccessInjected, "injected"}}) {
      if ((a.flags & bit) == 0) continue;
      if (!first) out.push_back(' ');
      first = false;
      put(out, name);
    }
    if (a.run_count != 0) {
      if (!first) out.push_back(' ');
      put(out, "run=");
      put_dec(out, a.run_index + 1);
      out.push_back('/');
      put_dec(out, a.run_count);
    }
    out.push_back(',');
    if (regs != nullptr && regs->binding != nullptr) {
      put_field(out, regs->binding->label);
      out.push_back(',');
      put_hex(out, regs->offset);
      out.push_back(',');
      text_.clear();
      for (size_t i = 0; i < regs->parts.size(); ++i) {
        if (i > 0) text_.push_back(' ');
        const analysis::RegisterPart& p = regs->parts[i];
        if (p.hit) {
          analysis::format_register_name(*regs->binding->map, *p.hit, text_);
        } else {
          text_.push_back('+');
          analysis::append_hex(p.offset, text_);
        }
      }
      put_field(out, std::string_view(text_.data(), text_.size()));
      out.push_back(',');
      text_.clear();
      analysis::format_description(*regs, a.is_write(), text_);
      put_field(out, std::string_view(text_.data(), text_.size()));
    } else {
      put(out, ",,,");
    }
    out.push_back(',');
    if (notes.symbol != nullptr) put_field(out, notes.symbol->text());  // the text column: its function
    out.push_back('\n');
  }

  void record(const RecordView& record, Out& out) override {
    const trace::RecordHeader h = record.header();
    switch (record.type()) {
      case trace::RecordType::MAP: {
        const auto r = record.as<trace::MapRecord>();
        put_start(out, h.seq, h.time_ns, &r.pid, h.tid, "MAP");
        put(out, ",,");
        put_int(out, static_cast<int32_t>(r.map_id));
        out.push_back(',');
        put_hex(out, r.phys);
        out.push_back(',');
        put_hex(out, r.len);  // value column: the length
        put(out, ",,,,,,,");
        put_field(out, record.map_path());
        out.push_back('\n');
        return;
      }
      case trace::RecordType::UNMAP: {
        const auto r = record.as<trace::UnmapRecord>();
        put_start(out, h.seq, h.time_ns, &r.pid, h.tid, "UNMAP");
        put(out, ",,");
        put_int(out, static_cast<int32_t>(r.map_id));
        put(out, ",,,,,,,,,\n");
        return;
      }
      case trace::RecordType::MARK: {
        const auto r = record.as<trace::MarkRecord>();
        put_start(out, h.seq, h.time_ns, &r.pid, h.tid, "MARK");
        put(out, ",,,,,,,,,,,");
        put_field(out, record.mark_text());
        out.push_back('\n');
        return;
      }
      case trace::RecordType::PCIDEV: {
        const auto r = record.as<trace::PciDevRecord>();
        put_start(out, h.seq, h.time_ns, nullptr, h.tid, "PCIDEV");
        put(out, ",,,,,,,");
        text_.clear();
        put_pci_address(text_, r.busdevfn);
        text_.push_back(' ');
        put_hex_digits(text_, r.vendor, 4);
        text_.push_back(':');
        put_hex_digits(text_, r.device, 4);
        put_field(out, std::string_view(text_.data(), text_.size()));
        put(out, ",,,,");
        put_field(out, record.pcidev_driver());
        out.push_back('\n');
        return;
      }
      case trace::RecordType::UNKNOWN: {
        const auto r = record.as<trace::UnknownRecord>();
        put_start(out, h.seq, h.time_ns, &r.pid, h.tid, "UNKNOWN");
        put(out, ",,");
        put_int(out, static_cast<int32_t>(r.map_id));
        out.push_back(',');
        put_hex(out, r.phys);
        put(out, ",,");
        put_hex(out, r.pc);
        put(out, ",,,,,,\n");
        return;
      }
      case trace::RecordType::LOST:
        put_start(out, h.seq, h.time_ns, nullptr, h.tid, "LOST");
        put(out, ",,,,");
        put_dec(out, record.as<trace::LostRecord>().count);  // value column: events lost
        put(out, ",,,,,,,\n");
        return;
      case trace::RecordType::CODEMAP:  // the program's code: no line in this format
      case trace::RecordType::ACCESS:
      case trace::RecordType::ACCESS_RUN:
      case trace::RecordType::PAD:
        break;
    }
  }

 private:
  Out text_;
};

}  // namespace

std::unique_ptr<Printer> make_csv_printer(const PrinterOptions&) { return std::make_unique<CsvPrinter>(); }

}  // namespace mmiotrace::output
