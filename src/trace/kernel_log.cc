#include "trace/kernel_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

namespace mmiotrace::trace {

const char* to_string(KernelEventKind kind) {
  switch (kind) {
    case KernelEventKind::READ:
      return "R";
    case KernelEventKind::WRITE:
      return "W";
    case KernelEventKind::MAP:
      return "MAP";
    case KernelEventKind::UNMAP:
      return "UNMAP";
    case KernelEventKind::MARK:
      return "MARK";
    case KernelEventKind::PCIDEV:
      return "PCIDEV";
    case KernelEventKind::UNKNOWN:
      return "UNKNOWN";
    case KernelEventKind::LOST:
      return "LOST";
  }
  return "?";
}

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

template <typename T>
bool parse_number(std::string_view s, int base, T& out) {
  if (s.empty() || s[0] == '+' || s[0] == '-') return false;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out, base);
  return ec == std::errc() && p == end;
}

// One line split into fields on runs of spaces and tabs (the kernel writes
// single spaces). The field readers record the first thing that is not what
// the kernel writes in `why` and return 0 from then on.
class LineParser {
 public:
  static constexpr size_t kMaxFields = 20;  // a PCIDEV line has 19; only MARK text goes on further

  explicit LineParser(std::string_view line) : line_(line) {
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && is_blank(line[i])) ++i;
      const size_t start = i;
      while (i < line.size() && !is_blank(line[i])) ++i;
      if (i == start) break;
      if (count_ < kMaxFields) fields_[count_] = line.substr(start, i - start);
      ++count_;
    }
  }

  size_t count() const { return count_; }
  std::string_view operator[](size_t i) const { return i < std::min(count_, kMaxFields) ? fields_[i] : ""; }
  std::string_view line() const { return line_; }
  const std::string& why() const { return why_; }
  bool ok() const { return why_.empty(); }
  void bad(std::string why) {
    if (why_.empty()) why_ = std::move(why);
  }

  // Exactly `n` fields, laid out as `layout` says.
  bool expect_count(size_t n, const char* layout) {
    if (count_ == n) return true;
    bad(fmt::format("{} line has {} fields ({}), this one has {}", (*this)[0], n, layout, count_));
    return false;
  }
  // Hex digits without 0x ("%x", "%llx": the PCIDEV fields).
  uint64_t hex(size_t i, const char* what) { return hex_digits((*this)[i], (*this)[i], what); }
  // "0x" and hex digits ("0x%llx", "0x%lx").
  uint64_t hex0x(size_t i, const char* what) {
    const std::string_view s = (*this)[i];
    if (starts_with(s, "0x") || starts_with(s, "0X")) return hex_digits(s.substr(2), s, what);
    bad(fmt::format("{} '{}' is not a hexadecimal number with 0x", what, s));
    return 0;
  }
  // "%d".
  int32_t decimal(size_t i, const char* what) {
    const std::string_view s = (*this)[i];
    int32_t v = 0;
    const bool negative = starts_with(s, "-");
    if (parse_number(negative ? s.substr(1) : s, 10, v)) return negative ? -v : v;
    bad(fmt::format("{} '{}' is not a decimal number", what, s));
    return 0;
  }
  // "%u.%06lu": seconds and microseconds, in nanoseconds. Up to nine decimals are accepted.
  uint64_t time_ns(size_t i) {
    const std::string_view s = (*this)[i];
    const size_t dot = s.find('.');
    uint64_t sec = 0;
    uint64_t frac = 0;
    if (dot != std::string_view::npos && dot + 1 < s.size() && s.size() - dot - 1 <= 9 &&
        parse_number(s.substr(0, dot), 10, sec) && parse_number(s.substr(dot + 1), 10, frac) && sec <= 18'000'000'000) {
      for (size_t d = s.size() - dot - 1; d < 9; ++d) frac *= 10;
      return sec * 1'000'000'000 + frac;
    }
    bad(fmt::format("time '{}' is not seconds.microseconds", s));
    return 0;
  }

 private:
  uint64_t hex_digits(std::string_view digits, std::string_view field, const char* what) {
    uint64_t v = 0;
    if (parse_number(digits, 16, v)) return v;
    bad(fmt::format("{} '{}' is not a hexadecimal number", what, field));
    return 0;
  }

  std::string_view line_;
  std::string_view fields_[kMaxFields];
  size_t count_ = 0;
  std::string why_;
};

void parse_rw(LineParser& p, KernelLogEvent& e) {
  if (!p.expect_count(8, "R|W width seconds.microseconds map_id 0xphys 0xvalue 0xpc pid")) return;
  e.kind = p[0] == "R" ? KernelEventKind::READ : KernelEventKind::WRITE;
  const int32_t width = p.decimal(1, "width");
  if (p.ok() && width != 1 && width != 2 && width != 4 && width != 8)
    p.bad(fmt::format("width {} is not 1, 2, 4 or 8", width));
  e.width = static_cast<unsigned>(width);
  e.time_ns = p.time_ns(2);
  e.map_id = p.decimal(3, "map id");
  e.phys = p.hex0x(4, "address");
  // `?`: mmiotrace's step mode could not know the value (kAccessValueUnknown).
  e.value_unknown = p[5] == "?";
  e.value = e.value_unknown ? 0 : p.hex0x(5, "value");
  e.pc = p.hex0x(6, "pc");
  e.pid = p.decimal(7, "pid");
}

void parse_map(LineParser& p, KernelLogEvent& e) {
  if (!p.expect_count(8, "MAP seconds.microseconds map_id 0xphys 0xvirt 0xlen 0x0 0")) return;
  e.kind = KernelEventKind::MAP;
  e.time_ns = p.time_ns(1);
  e.map_id = p.decimal(2, "map id");
  e.phys = p.hex0x(3, "address");
  e.virt = p.hex0x(4, "virtual address");
  e.len = p.hex0x(5, "length");
  p.hex0x(6, "seventh field");  // the kernel always prints 0x0 and 0 there
  p.decimal(7, "last field");
}

void parse_unmap(LineParser& p, KernelLogEvent& e) {
  if (!p.expect_count(5, "UNMAP seconds.microseconds map_id 0x0 0")) return;
  e.kind = KernelEventKind::UNMAP;
  e.time_ns = p.time_ns(1);
  e.map_id = p.decimal(2, "map id");
  p.hex0x(3, "fourth field");
  p.decimal(4, "last field");
}

void parse_unknown(LineParser& p, KernelLogEvent& e) {
  if (!p.expect_count(7, "UNKNOWN seconds.microseconds map_id 0xphys b0,b1,b2 0xpc pid")) return;
  e.kind = KernelEventKind::UNKNOWN;
  e.time_ns = p.time_ns(1);
  e.map_id = p.decimal(2, "map id");
  e.phys = p.hex0x(3, "address");
  // "%02lx,%02lx,%02lx": the instruction's first three bytes.
  const std::string_view b = p[4];
  uint8_t byte[3] = {};
  if (b.size() != 8 || b[2] != ',' || b[5] != ',' || !parse_number(b.substr(0, 2), 16, byte[0]) ||
      !parse_number(b.substr(3, 2), 16, byte[1]) || !parse_number(b.substr(6, 2), 16, byte[2]))
    p.bad(fmt::format("instruction bytes '{}' are not three hex bytes like 8b,47,08", b));
  std::memcpy(e.insn, byte, 3);
  e.pc = p.hex0x(5, "pc");
  e.pid = p.decimal(6, "pid");
}

// "PCIDEV %02x%02x %04x%04x %x", 7 starts, 7 sizes, then " %s" with the
// driver's name or a lone space.
void parse_pcidev(LineParser& p, KernelLogEvent& e) {
  if (p.count() != 18 && p.count() != 19) {
    p.bad(
        fmt::format("PCIDEV line has 18 fields and a driver name (PCIDEV bbdd vvvvdddd irq, 7 starts, 7 sizes), "
                    "this one has {} fields",
                    p.count()));
    return;
  }
  e.kind = KernelEventKind::PCIDEV;
  if (p[1].size() != 4) p.bad(fmt::format("bus and devfn '{}' are not 4 hex digits", p[1]));
  if (p[2].size() != 8) p.bad(fmt::format("vendor and device '{}' are not 8 hex digits", p[2]));
  const uint64_t bdf = p.hex(1, "bus and devfn");
  const uint64_t id = p.hex(2, "vendor and device");
  e.pci.bus = static_cast<uint8_t>(bdf >> 8);
  e.pci.devfn = static_cast<uint8_t>(bdf);
  e.pci.vendor = static_cast<uint16_t>(id >> 16);
  e.pci.device = static_cast<uint16_t>(id);
  const uint64_t irq = p.hex(3, "irq");
  if (irq > 0xffffffff) p.bad(fmt::format("irq '{}' is larger than 32 bits", p[3]));
  e.pci.irq = static_cast<uint32_t>(irq);
  for (size_t i = 0; i < 7; ++i) {
    e.pci.start[i] = p.hex(4 + i, "resource start");
    e.pci.size[i] = p.hex(11 + i, "resource size");
  }
  if (p.count() == 19) e.pci.driver = std::string(p[18]);
}

// "MARK %u.%06lu %s": the text is the rest of the line after one separator,
// spaces included. "MARK 0.000000 Lost %lu events." is the kernel's note of
// lost events (trace_mmiotrace.c, mmio_read()).
void parse_mark(LineParser& p, KernelLogEvent& e) {
  if (p.count() < 2) {
    p.bad("MARK line has a time and a text (MARK seconds.microseconds text)");
    return;
  }
  e.kind = KernelEventKind::MARK;
  e.time_ns = p.time_ns(1);
  const std::string_view line = p.line();
  const size_t time_end = static_cast<size_t>(p[1].data() + p[1].size() - line.data());
  if (time_end < line.size()) e.text = std::string(line.substr(time_end + 1));
  uint64_t lost = 0;
  if (p[1] == "0.000000" && p.count() == 5 && p[2] == "Lost" && p[4] == "events." && parse_number(p[3], 10, lost)) {
    e.kind = KernelEventKind::LOST;
    e.lost = lost;
    e.text.clear();
  }
}

// ftrace's "CPU:%d [LOST %lu EVENTS]" (or "[LOST EVENTS]" when it does not
// know how many), printed before the first event after a ring-buffer overrun.
bool parse_ftrace_lost(std::string_view line, KernelLogEvent& e) {
  const size_t open = line.find(" [LOST ");
  if (!starts_with(line, "CPU:") || open == std::string_view::npos || line.back() != ']') return false;
  int cpu = 0;
  if (!parse_number(line.substr(4, open - 4), 10, cpu)) return false;
  const std::string_view rest = line.substr(open + 7, line.size() - open - 8);  // between "[LOST " and "]"
  uint64_t n = 0;
  if (rest != "EVENTS") {
    const size_t space = rest.find(' ');
    if (space == std::string_view::npos || rest.substr(space) != " EVENTS" ||
        !parse_number(rest.substr(0, space), 10, n))
      return false;
  }
  e.kind = KernelEventKind::LOST;
  e.lost = n;
  return true;
}

// ftrace's default line layout, which other tracers' events (and trace_printk)
// take: "<comm>-<pid> [(<tgid>)] [<cpu>] <flags> <time>: ...".
bool is_other_tracer_line(std::string_view line) {
  auto rtrim = [](std::string_view s) {
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
  };
  for (size_t open = line.find(" ["); open != std::string_view::npos; open = line.find(" [", open + 1)) {
    const size_t close = line.find(']', open);
    int cpu = 0;
    if (close == std::string_view::npos || !parse_number(line.substr(open + 2, close - open - 2), 10, cpu)) continue;
    std::string_view task = rtrim(line.substr(0, open));
    if (!task.empty() && task.back() == ')') {  // the tgid column of the record-tgid option
      const size_t paren = task.rfind('(');
      if (paren == std::string_view::npos) return false;
      task = rtrim(task.substr(0, paren));
    }
    const size_t dash = task.rfind('-');
    int pid = 0;
    return dash != std::string_view::npos && parse_number(task.substr(dash + 1), 10, pid);
  }
  return false;
}

}  // namespace

KernelLogReader::KernelLogReader(int fd, std::string path)
    : fd_(fd), path_(std::move(path)), buffer_(new char[kBufferSize]) {}

Result<KernelLogReader> KernelLogReader::open(const std::string& path, TraceFailure* failure) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (failure) *failure = TraceFailure::UNREADABLE;
    return make_error(fmt::format("cannot open kernel mmiotrace log '{}': {}", path, std::strerror(errno)));
  }
  return KernelLogReader(fd, path);
}

KernelLogReader KernelLogReader::adopt_fd(int fd, std::string path, std::string_view already_read) {
  KernelLogReader reader(fd, std::move(path));
  const size_t n = std::min(already_read.size(), kBufferSize);
  if (n != 0) std::memcpy(reader.buffer_.get(), already_read.data(), n);  // an empty view may have no data()
  reader.end_ = n;
  return reader;
}

Error KernelLogReader::fail(TraceFailure kind, std::string message) {
  failure_ = kind;
  error_ = std::move(message);
  return make_error(error_);
}

Error KernelLogReader::malformed(const std::string& why) {
  const uint64_t before = line_ - 1;
  return fail(TraceFailure::CORRUPT,
              fmt::format("kernel mmiotrace log '{}' is malformed at line {} ({}); {}", path_, line_, why,
                          before == 0   ? std::string("there are no lines before it")
                          : before == 1 ? std::string("the 1 line before it is intact")
                                        : fmt::format("the {} lines before it are intact", before)));
}

Result<bool> KernelLogReader::next_line(std::string_view& line) {
  for (;;) {
    const char* start = buffer_.get() + pos_;
    if (const void* nl = std::memchr(start, '\n', end_ - pos_)) {
      const size_t n = static_cast<size_t>(static_cast<const char*>(nl) - start);
      line = std::string_view(start, n);
      pos_ += n + 1;
      ++line_;
      if (n > kMaxLineLength) return malformed(fmt::format("the line is longer than {} bytes", kMaxLineLength));
      break;
    }
    if (end_ - pos_ > kMaxLineLength) {
      ++line_;
      return malformed(fmt::format("the line is longer than {} bytes", kMaxLineLength));
    }
    if (eof_) {
      if (pos_ == end_) return false;
      line = std::string_view(start, end_ - pos_);  // a last line without a line break
      pos_ = end_;
      ++line_;
      break;
    }
    // Move the partial line to the front and read more after it.
    std::memmove(buffer_.get(), start, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
    const ssize_t n = ::read(fd_.get(), buffer_.get() + end_, kBufferSize - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
    } else if (n == 0) {
      eof_ = true;
    } else if (errno != EINTR) {
      return fail(TraceFailure::UNREADABLE,
                  fmt::format("cannot read kernel mmiotrace log '{}': {}", path_, std::strerror(errno)));
    }
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // a log saved with CRLF line breaks
  return true;
}

Result<bool> KernelLogReader::parse(std::string_view line, KernelLogEvent& e) {
  e = KernelLogEvent{};
  e.line = line_;
  LineParser p(line);
  if (p.count() == 0) return false;
  const std::string_view name = p[0];
  if (name[0] == '#') {
    // "# tracer: NAME" heads `cat trace`: refuse another tracer's log outright.
    if (name == "#" && p.count() == 3 && p[1] == "tracer:" && p[2] != "mmiotrace") {
      return fail(TraceFailure::NOT_A_TRACE,
                  fmt::format("'{}' is a log of the kernel's '{}' tracer, not of mmiotrace (line {}); trace with "
                              "'echo mmiotrace > /sys/kernel/tracing/current_tracer'",
                              path_, p[2], line_));
    }
    return false;
  }
  if (name == "VERSION") {
    if (p.count() == 2 && p[1] == "20070824") return false;
    return fail(TraceFailure::NOT_A_TRACE,
                fmt::format("'{}' is a log in another format ('{}' at line {}); this mmiotrace reads the kernel's "
                            "VERSION 20070824 logs",
                            path_, line.substr(0, 40), line_));
  }
  if (name == "R" || name == "W") {
    parse_rw(p, e);
  } else if (name == "MAP") {
    parse_map(p, e);
  } else if (name == "UNMAP") {
    parse_unmap(p, e);
  } else if (name == "MARK") {
    parse_mark(p, e);
  } else if (name == "PCIDEV") {
    parse_pcidev(p, e);
  } else if (name == "UNKNOWN") {
    parse_unknown(p, e);
  } else if (!parse_ftrace_lost(line, e)) {
    if (line == "rw what?" || line == "map what?" || is_other_tracer_line(line)) {
      ++skipped_;  // an opcode the kernel's printer did not know, or another tracer's event
      return false;
    }
    p.bad(
        fmt::format("'{}' does not start a kernel mmiotrace line: R, W, MAP, UNMAP, MARK, PCIDEV, UNKNOWN, "
                    "VERSION or a # comment",
                    name.substr(0, 40)));
  }
  if (!p.ok()) return malformed(p.why());
  return true;
}

Result<bool> KernelLogReader::next(KernelLogEvent& out) {
  if (!error_.empty()) return make_error(error_);
  for (;;) {
    std::string_view line;
    auto more = next_line(line);
    if (!more || !*more) return more;
    auto event = parse(line, out);
    if (!event) return event;
    if (*event) {
      ++events_;
      return true;
    }
  }
}

}  // namespace mmiotrace::trace
