// The kernel format: "VERSION 20070824", what the Linux kernel's mmiotrace
// writes and envytools demmio and other tools read (docs/trace-format.md,
// "The kernel text format"; docs/print.md, "Readers"). An access whose value
// is unknown prints as the kernel's UNKNOWN line; MARK text is cut to what one
// trace_marker write keeps; KernelFormatOptions serve readers that expect
// less. With --regs, each R/W line gains a comment column,
// " # RCTL <= EN | BAM", that those tools ignore (they read the leading
// fields); UNKNOWN lines get none (docs/print.md). With --symbols the
// column also says which function made the access: " # ... in main+0x1a (drv.c:34)".
#include <sys/mman.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "analysis/output/printer.h"

namespace mmiotrace::output {

namespace {

using analysis::Access;
using analysis::AccessDescription;
using trace::RecordView;

// "NAME <time>", the start of most lines.
void put_event(Out& out, std::string_view name, uint64_t time_ns) {
  put(out, name);
  out.push_back(' ');
  format_kernel_time(time_ns, out);
}

class KernelPrinter final : public Printer {
 public:
  explicit KernelPrinter(const KernelFormatOptions& options) : options_(options) {}

  bool pcidev_first() const override { return true; }

  void begin(const InputInfo& input, Out& out) override {
    put(out, "VERSION 20070824\n");
    if (input.pcidevs != nullptr) {
      for (const RecordView& r : *input.pcidevs) format_pcidev(r, out);
    }
    if (input.header != nullptr && (input.header->features & trace::kFeatureStepMayMiss) != 0) {
      // Before any event: whoever reads the trace learns first that it may be incomplete.
      put(out,
          "MARK 0.000000 mmiotrace: single-stepped with mprotect (no protection keys): accesses other threads made "
          "during a step may be missing\n");
    }
  }

  void record(const RecordView& record, Out& out) override {
    switch (record.type()) {
      case trace::RecordType::MAP: {
        const auto r = record.as<trace::MapRecord>();
        put_event(out, "MAP", r.h.time_ns);
        out.push_back(' ');
        put_int(out, static_cast<int32_t>(r.map_id));
        out.push_back(' ');
        put_hex(out, r.phys);
        out.push_back(' ');
        put_hex(out, r.virt);
        out.push_back(' ');
        put_hex(out, r.len);
        put(out, " 0x0 0\n");
        return;
      }
      case trace::RecordType::UNMAP: {
        const auto r = record.as<trace::UnmapRecord>();
        put_event(out, "UNMAP", r.h.time_ns);
        out.push_back(' ');
        put_int(out, static_cast<int32_t>(r.map_id));
        put(out, " 0x0 0\n");
        return;
      }
      case trace::RecordType::MARK:
        put_event(out, "MARK", record.header().time_ns);
        out.push_back(' ');
        // What one write to trace_marker can hold: line-based readers of kernel
        // logs (envytools demmio reads lines into 1024 bytes) never see more.
        append_one_line(record.mark_text().substr(0, kKernelMarkTextMax), out);
        out.push_back('\n');
        return;
      case trace::RecordType::UNKNOWN: {
        const auto r = record.as<trace::UnknownRecord>();
        unknown_line(r.h.time_ns, static_cast<int32_t>(r.map_id), r.phys,
                     {r.insn, std::min<size_t>(r.insn_len, sizeof r.insn)}, r.pc, r.h.tid, out);
        return;
      }
      case trace::RecordType::LOST:
        put(out, "MARK 0.000000 Lost ");
        put_dec(out, record.as<trace::LostRecord>().count);
        put(out, " events.\n");
        return;
      case trace::RecordType::PCIDEV:
        format_pcidev(record, out);
        return;
      case trace::RecordType::CODEMAP:  // the program's code: no line in this format
      case trace::RecordType::ACCESS:
      case trace::RecordType::ACCESS_RUN:
      case trace::RecordType::PAD:
        break;  // accesses come through access(); the reader never delivers PAD
    }
  }

  void access(const Access& a, const AccessNotes& notes, Out& out) override {
    const bool masked = (a.flags & trace::kAccessMasked) != 0;
    const unsigned w = a.width;
    const uint64_t mask = masked ? a.byte_mask : (w >= 64 ? ~uint64_t{0} : (uint64_t{1} << w) - 1);
    if (!a.value_known()) {
      // What the kernel prints for a value it lost: one UNKNOWN line for the
      // access, at its first byte accessed.
      const unsigned first = mask == 0 ? 0 : static_cast<unsigned>(__builtin_ctzll(mask));
      unknown_line(a.time_ns, a.map_id, a.phys + first, a.insn, a.pc, a.tid, out);
      return;
    }
    if (!masked && (w == 1 || w == 2 || w == 4 || w == 8)) {
      // One line, or, wider than max_width, max_width-byte pieces in address
      // order (low half first), whatever the access's alignment.
      const unsigned piece = w > options_.max_width ? options_.max_width : w;
      for (unsigned pos = 0; pos < w; pos += piece) rw_line(a, pos, piece, notes, out);
      return;
    }
    // Wide, odd-sized or masked: each run of accessed bytes, in address order,
    // as naturally aligned chunks of at most max_width bytes.
    unsigned i = 0;
    while (i < w) {
      if (((mask >> i) & 1) == 0) {
        ++i;
        continue;
      }
      unsigned run_end = i;
      while (run_end < w && ((mask >> run_end) & 1) != 0) ++run_end;
      for (unsigned pos = i; pos < run_end;) {
        const uint64_t phys = a.phys + pos;
        unsigned n = options_.max_width >= 8 ? 8 : options_.max_width;
        while (n > 1 && (phys % n != 0 || pos + n > run_end)) n /= 2;
        rw_line(a, pos, n, notes, out);
        pos += n;
      }
      i = run_end;
    }
  }

 private:
  void put_pc(Out& out, uint64_t pc) const { put_hex(out, options_.zero_pc_pid ? 0 : pc); }
  void put_tid(Out& out, uint32_t tid) const { put_int(out, options_.zero_pc_pid ? 0 : static_cast<int32_t>(tid)); }

  // `UNKNOWN %u.%06lu %d 0x%llx %02lx,%02lx,%02lx 0x%lx %d`: what the kernel
  // prints for an access whose value it lost (an instruction its decoder did
  // not know): time, map id, address, the instruction's first three bytes
  // (zero where fewer were recorded), PC, PID.
  void unknown_line(uint64_t time_ns, int32_t map_id, uint64_t phys, std::span<const uint8_t> insn, uint64_t pc,
                    uint32_t tid, Out& out) const {
    put_event(out, "UNKNOWN", time_ns);
    out.push_back(' ');
    put_int(out, map_id);
    out.push_back(' ');
    put_hex(out, phys);
    out.push_back(' ');
    for (size_t i = 0; i < 3; ++i) {
      if (i > 0) out.push_back(',');
      put_hex_digits(out, i < insn.size() ? insn[i] : 0, 2);
    }
    out.push_back(' ');
    put_pc(out, pc);
    out.push_back(' ');
    put_tid(out, tid);
    out.push_back('\n');
  }

  // One line: `R %d %u.%06lu %d 0x%llx 0x%lx 0x%lx %d` for bytes [pos, pos+n)
  // of an access whose value is known. The kernel always prints 0 as the PID;
  // we print the thread that made the access (unless zero_pc_pid).
  void rw_line(const Access& a, unsigned pos, unsigned n, const AccessNotes& notes, Out& out) const {
    Line l(out);
    l.c(a.is_write() ? 'W' : 'R');
    l.c(' ');
    l.dec(n);
    l.c(' ');
    l.kernel_time(a.time_ns);
    l.c(' ');
    l.sdec(a.map_id);
    l.c(' ');
    l.hex(a.phys + pos);
    l.c(' ');
    l.hex(little_endian(a.value.data() + pos, n));
    l.c(' ');
    l.hex(options_.zero_pc_pid ? 0 : a.pc);
    l.c(' ');
    l.sdec(options_.zero_pc_pid ? 0 : static_cast<int32_t>(a.tid));
    const AccessDescription* regs = notes.regs;
    if ((regs != nullptr && regs->binding != nullptr) || notes.symbol != nullptr) {
      l.flush_to(out);
      std::string_view text;
      if (regs != nullptr && regs->binding != nullptr) text = annotation(*regs, a, pos, n);
      if (!text.empty() || notes.symbol != nullptr) put(out, " # ");
      put(out, text);
      if (notes.symbol != nullptr) {
        put(out, text.empty() ? "in " : "  in ");
        put(out, notes.symbol->text());
      }
      l.start(out);
    }
    l.c('\n');
    l.flush_to(out);
  }

  // `PCIDEV %02x%02x %04x%04x %x`, 7 starts, 7 sizes (` %llx` each), ` %s` driver.
  static void format_pcidev(const RecordView& record, Out& out) {
    const auto r = record.as<trace::PciDevRecord>();
    put(out, "PCIDEV ");
    put_hex_digits(out, (r.busdevfn >> 8) & 0xff, 2);
    put_hex_digits(out, r.busdevfn & 0xff, 2);
    out.push_back(' ');
    put_hex_digits(out, r.vendor, 4);
    put_hex_digits(out, r.device, 4);
    out.push_back(' ');
    put_hex_digits(out, r.irq);
    for (uint64_t start : r.start) {
      out.push_back(' ');
      put_hex_digits(out, start);
    }
    for (uint64_t size : r.size) {
      out.push_back(' ');
      put_hex_digits(out, size);
    }
    // " %s" with the driver's name, or a lone space if no driver is bound.
    out.push_back(' ');
    put(out, record.pcidev_driver());
    out.push_back('\n');
  }

  // The comment of the line for bytes [pos, pos+n) of `a`. Drivers write and
  // read the same registers with the same values over and over (polling,
  // ring tails): the text is remembered for the last few thousand
  // (binding, offset, width, value, direction, variant) it was made for.
  const std::string& annotation(const AccessDescription& d, const Access& a, unsigned pos, unsigned n) const {
    const uint64_t value = a.value_known() ? little_endian(a.value.data() + pos, n) : 0;
    const uint64_t offset = d.offset + pos;
    const uint64_t key_hash = (offset * 0x9e3779b97f4a7c15ull) ^ (value * 0xc2b2ae3d27d4eb4full) ^ (n << 1) ^
                              static_cast<uint64_t>(a.is_write());
    Cached& c = cache_[key_hash % kCacheSize];
    if (c.valid && c.binding == d.binding && c.offset == offset && c.n == n && c.value == value &&
        c.write == a.is_write() && c.known == a.value_known() && c.variant == d.binding->variant) {
      return c.text;
    }
    Out text;
    analysis::format_description(d, a.is_write(), text, pos, pos + n);
    c = {true,
         d.binding,
         offset,
         n,
         value,
         a.is_write(),
         a.value_known(),
         d.binding->variant,
         std::string(text.data(), text.size())};
    return c.text;
  }

  struct Cached {
    bool valid = false;
    const analysis::Binding* binding = nullptr;
    uint64_t offset = 0;
    unsigned n = 0;
    uint64_t value = 0;
    bool write = false;
    bool known = false;
    int variant = -1;
    std::string text;
  };
  static constexpr size_t kCacheSize = 4096;

  KernelFormatOptions options_;
  mutable std::vector<Cached> cache_ = std::vector<Cached>(kCacheSize);
};

}  // namespace

std::unique_ptr<Printer> make_kernel_printer(const PrinterOptions& options) {
  return std::make_unique<KernelPrinter>(options.kernel);
}

}  // namespace mmiotrace::output
