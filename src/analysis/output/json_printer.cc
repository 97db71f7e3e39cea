// JSON lines: one JSON object per line, per record and per access (docs/print.md,
// "JSON lines"). 64-bit quantities (addresses, values, PCs) are strings of hex
// ("0xfebc0000") so that no reader loses bits to floating point; counts and
// small numbers are numbers.
#include "analysis/output/printer.h"

namespace mmiotrace::output {

namespace {

using analysis::Access;
using analysis::AccessDescription;
using trace::RecordView;

void key(Out& out, std::string_view name) {
  out.push_back(',');
  out.push_back('"');
  put(out, name);
  put(out, "\":");
}

void hex_value(Out& out, std::string_view name, uint64_t v) {
  key(out, name);
  out.push_back('"');
  put_hex(out, v);
  out.push_back('"');
}

void num_value(Out& out, std::string_view name, int64_t v) {
  key(out, name);
  put_int(out, v);
}

void unum_value(Out& out, std::string_view name, uint64_t v) {
  key(out, name);
  put_dec(out, v);
}

void start(Out& out, std::string_view type, uint64_t seq, uint64_t time_ns) {
  put(out, "{\"type\":\"");
  put(out, type);
  out.push_back('"');
  unum_value(out, "seq", seq);
  unum_value(out, "time_ns", time_ns);
}

// "symbol":{"text":..,"function":..,"offset":"0x..","file":..,"line":..,"object":..,"object_offset":"0x.."},
// or {"text":"? (why)","unavailable":"why"}; members that are not known are left out.
void put_symbol(Out& out, const analysis::Symbol& s) {
  put(out, ",\"symbol\":{\"text\":");
  put_json_string(out, s.text());
  if (!s.available) {
    key(out, "unavailable");
    put_json_string(out, s.why);
    out.push_back('}');
    return;
  }
  if (!s.function.empty()) {
    key(out, "function");
    put_json_string(out, s.function);
    hex_value(out, "offset", s.offset);
  }
  if (!s.file.empty()) {
    key(out, "file");
    put_json_string(out, s.file);
    num_value(out, "line", s.line);
  }
  if (!s.object.empty()) {
    key(out, "object");
    put_json_string(out, s.object);
    hex_value(out, "object_offset", s.object_offset);
  }
  out.push_back('}');
}

void put_registers(Out& out, const AccessDescription& d) {
  key(out, "device");
  put_json_string(out, d.binding->label);
  hex_value(out, "offset", d.offset);
  key(out, "registers");
  out.push_back('[');
  Out text;
  for (size_t i = 0; i < d.parts.size(); ++i) {
    const analysis::RegisterPart& p = d.parts[i];
    if (i > 0) out.push_back(',');
    out.push_back('{');
    put(out, "\"name\":");
    text.clear();
    if (p.hit) {
      analysis::format_register_name(*d.binding->map, *p.hit, text);
      put_json_string(out, std::string_view(text.data(), text.size()));
    } else {
      put(out, "null");
    }
    hex_value(out, "offset", p.offset);
    num_value(out, "bytes", p.nbytes);
    if (p.value_known) {
      hex_value(out, "value", p.value);
      if (p.hit && p.hit->reg->kind == analysis::RegKind::REGISTER) {
        text.clear();
        analysis::format_decoded(p.decoded, text);
        key(out, "decoded");
        put_json_string(out, std::string_view(text.data(), text.size()));
        key(out, "fields");
        out.push_back('[');
        for (size_t f = 0; f < p.decoded.fields.size(); ++f) {
          const analysis::FieldValue& fv = p.decoded.fields[f];
          if (f > 0) out.push_back(',');
          put(out, "{\"name\":");
          put_json_string(out, fv.field->name);
          key(out, "value");
          put_dec(out, fv.value);
          if (fv.named != nullptr) {
            key(out, "enum");
            put_json_string(out, fv.named->name);
          }
          out.push_back('}');
        }
        out.push_back(']');
      }
    }
    out.push_back('}');
  }
  out.push_back(']');
}

class JsonPrinter final : public Printer {
 public:
  void begin(const InputInfo& input, Out& out) override {
    if (input.kernel_log || input.header == nullptr) {
      put(out, "{\"type\":\"header\",\"input\":\"linux-kernel-mmiotrace-log\"}\n");
      return;
    }
    const trace::FileHeader& h = *input.header;
    put(out, "{\"type\":\"header\",\"input\":\"mmiotrace-trace\",\"version\":\"");
    put_dec(out, h.version_major);
    out.push_back('.');
    put_dec(out, h.version_minor);
    out.push_back('"');
    num_value(out, "recorder_pid", h.recorder_pid);
    unum_value(out, "start_monotonic_ns", h.start_monotonic_ns);
    unum_value(out, "start_realtime_ns", h.start_realtime_ns);
    key(out, "step_mode");
    put(out, (h.features & trace::kFeatureStepMode) ? "true" : "false");
    key(out, "step_may_miss");
    put(out, (h.features & trace::kFeatureStepMayMiss) ? "true" : "false");
    put(out, "}\n");
  }

  void access(const Access& a, const AccessNotes& notes, Out& out) override {
    const AccessDescription* regs = notes.regs;
    start(out, "access", a.seq, a.time_ns);
    num_value(out, "pid", a.pid);
    num_value(out, "tid", a.tid);
    key(out, "op");
    put(out, a.is_write() ? "\"W\"" : "\"R\"");
    num_value(out, "width", a.width);
    num_value(out, "map_id", a.map_id);
    hex_value(out, "phys", a.phys);
    key(out, "value");
    if (!a.value_known()) {
      put(out, "null");
    } else if (a.width > 8) {
      out.push_back('"');
      put_hex_bytes(out, a.value);  // bytes in memory order
      out.push_back('"');
    } else {
      out.push_back('"');
      put_hex(out, little_endian(a.value.data(), a.width));
      out.push_back('"');
    }
    hex_value(out, "pc", a.pc);
    if (a.flags & trace::kAccessMasked) hex_value(out, "byte_mask", a.byte_mask);
    if (a.flags & (trace::kAccessSplit | trace::kAccessGeneric | trace::kAccessStepped | trace::kAccessInjected)) {
      key(out, "flags");
      out.push_back('[');
      bool first = true;
      for (auto [bit, name] :
           {std::pair{trace::kAccessSplit, "\"split\""}, std::pair{trace::kAccessGeneric, "\"generic\""},
            std::pair{trace::kAccessStepped, "\"stepped\""}, std::pair{trace::kAccessInjected, "\"injected\""}}) {
        if ((a.flags & bit) == 0) continue;
        if (!first) out.push_back(',');
        first = false;
        put(out, name);
      }
      out.push_back(']');
    }
    if (a.run_count != 0) {
      key(out, "run");
      out.push_back('[');
      put_dec(out, a.run_index + 1);
      out.push_back(',');
      put_dec(out, a.run_count);
      out.push_back(']');
    }
    key(out, "insn");
    out.push_back('"');
    put_hex_bytes(out, a.insn);
    out.push_back('"');
    if (regs != nullptr && regs->binding != nullptr) put_registers(out, *regs);
    if (notes.symbol != nullptr) put_symbol(out, *notes.symbol);
    put(out, "}\n");
  }

  void record(const RecordView& record, Out& out) override {
    const trace::RecordHeader h = record.header();
    switch (record.type()) {
      case trace::RecordType::MAP: {
        const auto r = record.as<trace::MapRecord>();
        start(out, "map", h.seq, h.time_ns);
        num_value(out, "pid", r.pid);
        num_value(out, "tid", h.tid);
        num_value(out, "map_id", static_cast<int32_t>(r.map_id));
        hex_value(out, "phys", r.phys);
        hex_value(out, "virt", r.virt);
        hex_value(out, "len", r.len);
        hex_value(out, "file_offset", r.file_offset);
        num_value(out, "kind", r.kind);
        if (r.bar != trace::kNoBar) num_value(out, "bar", r.bar);
        key(out, "path");
        put_json_string(out, record.map_path());
        put(out, "}\n");
        return;
      }
      case trace::RecordType::UNMAP: {
        const auto r = record.as<trace::UnmapRecord>();
        start(out, "unmap", h.seq, h.time_ns);
        num_value(out, "pid", r.pid);
        num_value(out, "tid", h.tid);
        num_value(out, "map_id", static_cast<int32_t>(r.map_id));
        hex_value(out, "virt", r.virt);
        hex_value(out, "len", r.len);
        put(out, "}\n");
        return;
      }
      case trace::RecordType::MARK: {
        const auto r = record.as<trace::MarkRecord>();
        start(out, "mark", h.seq, h.time_ns);
        num_value(out, "pid", r.pid);
        num_value(out, "tid", h.tid);
        key(out, "text");
        put_json_string(out, record.mark_text());
        put(out, "}\n");
        return;
      }
      case trace::RecordType::PCIDEV: {
        const auto r = record.as<trace::PciDevRecord>();
        start(out, "pcidev", h.seq, h.time_ns);
        key(out, "address");
        out.push_back('"');
        put_pci_address(out, r.busdevfn);
        out.push_back('"');
        key(out, "id");
        out.push_back('"');
        put_hex_digits(out, r.vendor, 4);
        out.push_back(':');
        put_hex_digits(out, r.device, 4);
        out.push_back('"');
        num_value(out, "irq", r.irq);
        key(out, "bars");
        out.push_back('[');
        for (int i = 0; i < 7; ++i) {
          if (i > 0) out.push_back(',');
          put(out, "{\"start\":\"");
          put_hex(out, r.start[i]);
          put(out, "\",\"size\":\"");
          put_hex(out, r.size[i]);
          put(out, "\"}");
        }
        out.push_back(']');
        key(out, "driver");
        put_json_string(out, record.pcidev_driver());
        put(out, "}\n");
        return;
      }
      case trace::RecordType::UNKNOWN: {
        const auto r = record.as<trace::UnknownRecord>();
        start(out, "unknown", h.seq, h.time_ns);
        num_value(out, "pid", r.pid);
        num_value(out, "tid", h.tid);
        num_value(out, "map_id", static_cast<int32_t>(r.map_id));
        hex_value(out, "phys", r.phys);
        hex_value(out, "pc", r.pc);
        key(out, "insn");
        out.push_back('"');
        put_hex_bytes(out, {r.insn, r.insn_len});
        put(out, "\"}\n");
        return;
      }
      case trace::RecordType::LOST:
        start(out, "lost", h.seq, h.time_ns);
        unum_value(out, "count", record.as<trace::LostRecord>().count);
        put(out, "}\n");
        return;
      case trace::RecordType::CODEMAP: {
        const auto r = record.as<trace::CodeMapRecord>();
        start(out, "codemap", h.seq, h.time_ns);
        num_value(out, "pid", r.pid);
        num_value(out, "tid", h.tid);
        hex_value(out, "virt", r.virt);
        hex_value(out, "len", r.len);
        hex_value(out, "file_offset", r.file_offset);
        hex_value(out, "elf_vaddr", r.elf_vaddr);
        num_value(out, "flags", r.flags);
        key(out, "build_id");
        out.push_back('"');
        put_hex_bytes(out, record.codemap_build_id());
        out.push_back('"');
        key(out, "path");
        put_json_string(out, record.codemap_path());
        put(out, "}\n");
        return;
      }
      case trace::RecordType::ACCESS:
      case trace::RecordType::ACCESS_RUN:
      case trace::RecordType::PAD:
        break;
    }
  }
};

}  // namespace

std::unique_ptr<Printer> make_json_printer(const PrinterOptions&) { return std::make_unique<JsonPrinter>(); }

}  // namespace mmiotrace::output
