// A strict, minimal reader of the Linux kernel's mmiotrace log format
// ("VERSION 20070824"), written for the tests from the kernel's documented
// format strings (Documentation/trace/mmiotrace.rst; the printf formats of
// kernel/trace/trace_mmiotrace.c, listed in docs/trace-format.md), and
// independently of src/trace (no code shared with the printer or with
// trace/kernel_log.cc). It stands in for the tools that read kernel logs:
// every kernel-format text the tests produce or keep as golden goes through
// it, so that nothing we print is something a kernel never prints.
//
// What it insists on, as a reader that knows only the kernel's output may:
// - the first line is "VERSION 20070824"; every line ends with "\n";
// - PCIDEV lines come before every other line but VERSION;
// - R/W: `R %d %u.%06lu %d 0x%llx 0x%lx 0x%lx %d`, width 1, 2, 4 or 8 and a
//   value that fits in it (no "?", nothing but hex digits);
// - UNKNOWN: `UNKNOWN %u.%06lu %d 0x%llx %02lx,%02lx,%02lx 0x%lx %d`;
// - MAP: `MAP %u.%06lu %d 0x%llx 0x%lx 0x%lx 0x%lx %d` with 0x0 and 0 last;
// - UNMAP: `UNMAP %u.%06lu %d 0x%lx %d` with 0x0 and 0 last;
// - MARK: `MARK %u.%06lu %s`, the text at most 1024 bytes (one trace_marker
//   write, TRACE_BUF_SIZE) and on one line;
// - PCIDEV: `PCIDEV %02x%02x %04x%04x %x`, 14 x ` %llx`, then ` %s` (a driver
//   name without spaces, or nothing: the line then ends with the space);
// - numbers as printf writes them: lowercase hex without leading zeros,
//   decimals without "+" or leading zeros, single spaces.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mmiotrace::reference {

struct KernelLine {
  std::string kind;  // "R", "W", "UNKNOWN", "MAP", "UNMAP", "MARK", "PCIDEV"
  uint64_t seconds = 0, microseconds = 0;
  int64_t map_id = 0;
  unsigned width = 0;
  uint64_t phys = 0, value = 0, pc = 0, virt = 0, len = 0;
  int64_t pid = 0;
  uint8_t insn[3] = {};
  std::string text;  // MARK
  unsigned bus = 0, devfn = 0, vendor = 0, device = 0;
  uint64_t irq = 0, start[7] = {}, size[7] = {};
  std::string driver;
};

// Reads a whole kernel-format text into `lines` (the VERSION line not
// included). Returns "" or "line N: what is wrong".
inline std::string read_kernel_format(std::string_view text, std::vector<KernelLine>* lines = nullptr);

namespace detail {

// One line's fields, split on single spaces; a field may be empty only where
// the format allows (PCIDEV's driver, MARK's text is taken whole).
struct Fields {
  std::vector<std::string_view> f;
  explicit Fields(std::string_view line) {
    size_t start = 0;
    for (;;) {
      const size_t sp = line.find(' ', start);
      f.push_back(line.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
      if (sp == std::string_view::npos) break;
      start = sp + 1;
    }
  }
};

inline bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// printf("%x") / ("%llx"): lowercase, no leading zero but for 0 itself.
inline bool hex(std::string_view s, uint64_t* v) {
  if (s.empty() || s.size() > 16 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t r = 0;
  for (char c : s) {
    if (!is_hex_digit(c)) return false;
    r = r * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  *v = r;
  return true;
}

// "0x%llx".
inline bool hex0x(std::string_view s, uint64_t* v) { return s.substr(0, 2) == "0x" && hex(s.substr(2), v); }

// printf("%d"): optional '-', no leading zero but for 0 itself.
inline bool decimal(std::string_view s, int64_t* v) {
  const bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0') || (neg && s == "0")) return false;
  int64_t r = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    r = r * 10 + (c - '0');
  }
  if (r > (neg ? 2147483648LL : 2147483647LL)) return false;
  *v = neg ? -r : r;
  return true;
}

// "%u.%06lu".
inline bool timestamp(std::string_view s, KernelLine* l) {
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos || s.size() - dot - 1 != 6) return false;
  int64_t sec = 0;
  if (!decimal(s.substr(0, dot), &sec) || sec < 0) return false;
  uint64_t us = 0;
  for (char c : s.substr(dot + 1)) {
    if (c < '0' || c > '9') return false;
    us = us * 10 + static_cast<uint64_t>(c - '0');
  }
  l->seconds = static_cast<uint64_t>(sec);
  l->microseconds = us;
  return true;
}

inline std::string parse_line(std::string_view line, KernelLine* l) {
  if (line.substr(0, 5) == "MARK ") {
    // The text runs to the end of the line, spaces included.
    l->kind = "MARK";
    const size_t sp = line.find(' ', 5);
    if (sp == std::string_view::npos) return "MARK without a space after its time";
    if (!timestamp(line.substr(5, sp - 5), l)) return "MARK time is not %u.%06lu";
    l->text = std::string(line.substr(sp + 1));
    if (l->text.size() > 1024) return "MARK text is longer than one trace_marker write (1024 bytes)";
    return "";
  }
  const Fields fields(line);
  const std::vector<std::string_view>& f = fields.f;
  l->kind = std::string(f[0]);
  if (l->kind == "R" || l->kind == "W") {
    if (f.size() != 8) return "R/W line has 8 fields";
    int64_t width = 0;
    if (!decimal(f[1], &width) || (width != 1 && width != 2 && width != 4 && width != 8)) return "width not 1/2/4/8";
    l->width = static_cast<unsigned>(width);
    if (!timestamp(f[2], l) || !decimal(f[3], &l->map_id) || !hex0x(f[4], &l->phys)) return "bad time/map id/address";
    if (!hex0x(f[5], &l->value)) return "value '" + std::string(f[5]) + "' is not 0x%lx";
    if (width < 8 && (l->value >> (8 * width)) != 0) return "value wider than the access";
    if (!hex0x(f[6], &l->pc) || !decimal(f[7], &l->pid)) return "bad pc/pid";
    return "";
  }
  if (l->kind == "UNKNOWN") {
    if (f.size() != 7) return "UNKNOWN line has 7 fields";
    if (!timestamp(f[1], l) || !decimal(f[2], &l->map_id) || !hex0x(f[3], &l->phys)) return "bad time/map id/address";
    const std::string_view b = f[4];
    if (b.size() != 8 || b[2] != ',' || b[5] != ',') return "instruction bytes are not %02lx,%02lx,%02lx";
    for (int i = 0; i < 3; ++i) {
      const char hi = b[static_cast<size_t>(3 * i)], lo = b[static_cast<size_t>(3 * i + 1)];
      if (!is_hex_digit(hi) || !is_hex_digit(lo)) return "instruction bytes are not lowercase hex";
      l->insn[i] =
          static_cast<uint8_t>((hi <= '9' ? hi - '0' : hi - 'a' + 10) * 16 + (lo <= '9' ? lo - '0' : lo - 'a' + 10));
    }
    if (!hex0x(f[5], &l->pc) || !decimal(f[6], &l->pid)) return "bad pc/pid";
    return "";
  }
  if (l->kind == "MAP") {
    if (f.size() != 8) return "MAP line has 8 fields";
    if (!timestamp(f[1], l) || !decimal(f[2], &l->map_id) || !hex0x(f[3], &l->phys) || !hex0x(f[4], &l->virt) ||
        !hex0x(f[5], &l->len))
      return "bad MAP field";
    if (f[6] != "0x0" || f[7] != "0") return "MAP does not end with 0x0 0";
    return "";
  }
  if (l->kind == "UNMAP") {
    if (f.size() != 5) return "UNMAP line has 5 fields";
    if (!timestamp(f[1], l) || !decimal(f[2], &l->map_id)) return "bad UNMAP field";
    if (f[3] != "0x0" || f[4] != "0") return "UNMAP does not end with 0x0 0";
    return "";
  }
  if (l->kind == "PCIDEV") {
    if (f.size() != 19) return "PCIDEV line has 18 fields and a driver name (maybe empty)";
    uint64_t bdf = 0, id = 0;
    if (f[1].size() != 4 || f[2].size() != 8) return "PCIDEV bus/devfn or vendor/device not zero-padded";
    for (char c : std::string(f[1]) + std::string(f[2]))
      if (!is_hex_digit(c)) return "PCIDEV bus/devfn or vendor/device not lowercase hex";
    bdf = std::stoull(std::string(f[1]), nullptr, 16);
    id = std::stoull(std::string(f[2]), nullptr, 16);
    l->bus = static_cast<unsigned>(bdf >> 8);
    l->devfn = static_cast<unsigned>(bdf & 0xff);
    l->vendor = static_cast<unsigned>(id >> 16);
    l->device = static_cast<unsigned>(id & 0xffff);
    if (!hex(f[3], &l->irq)) return "PCIDEV irq not %x";
    for (size_t i = 0; i < 7; ++i) {
      if (!hex(f[4 + i], &l->start[i]) || !hex(f[11 + i], &l->size[i])) return "PCIDEV resource not %llx";
    }
    l->driver = std::string(f[18]);
    return "";
  }
  return "'" + l->kind + "' is not a line the kernel's mmiotrace prints";
}

}  // namespace detail

inline std::string read_kernel_format(std::string_view text, std::vector<KernelLine>* lines) {
  size_t pos = 0;
  uint64_t number = 0;
  bool events_started = false;
  while (pos < text.size()) {
    ++number;
    const size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return "line " + std::to_string(number) + ": no line break at its end";
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.find('\r') != std::string_view::npos) return "line " + std::to_string(number) + ": carriage return";
    if (number == 1) {
      if (line != "VERSION 20070824") return "line 1: not VERSION 20070824";
      continue;
    }
    KernelLine l;
    const std::string why = detail::parse_line(line, &l);
    if (!why.empty()) return "line " + std::to_string(number) + ": " + why + ": " + std::string(line.substr(0, 120));
    if (l.kind == "PCIDEV" && events_started)
      return "line " + std::to_string(number) + ": PCIDEV after an event (the kernel prints devices first)";
    if (l.kind != "PCIDEV") events_started = true;
    if (lines != nullptr) lines->push_back(std::move(l));
  }
  if (number == 0) return "empty: no VERSION line";
  return "";
}

}  // namespace mmiotrace::reference
