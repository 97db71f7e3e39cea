// Appending text and numbers to a print buffer. The kernel and native lines
// are printed millions of times: numbers are converted here by hand rather
// than through fmt's formatting machinery (several times faster per line,
// docs/benchmarks.md "Printing").
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "analysis/json.h"

namespace mmiotrace::output {

using Out = fmt::memory_buffer;

inline void put(Out& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }
inline void put(Out& out, char c) { out.push_back(c); }

// "0x1f", "0x0" (fmt's {:#x}, the kernel's 0x%lx).
inline void put_hex(Out& out, uint64_t v) {
  char tmp[18];
  char* end = tmp + sizeof tmp;
  char* p = end;
  do {
    *--p = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  *--p = 'x';
  *--p = '0';
  out.append(p, end);
}

// Lower-case hex without 0x, zero-padded to at least `digits` digits.
inline void put_hex_digits(Out& out, uint64_t v, unsigned digits = 1) {
  char tmp[16];
  char* end = tmp + sizeof tmp;
  char* p = end;
  do {
    *--p = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0 || end - p < static_cast<ptrdiff_t>(digits));
  out.append(p, end);
}

inline void put_dec(Out& out, uint64_t v) {
  char tmp[20];
  char* end = tmp + sizeof tmp;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out.append(p, end);
}

// A PCI slot from a trace's `pci_busdevfn`: "dddd:bb:dd.f".
inline void put_pci_address(Out& out, uint32_t busdevfn) {
  put_hex_digits(out, busdevfn >> 16, 4);
  out.push_back(':');
  put_hex_digits(out, (busdevfn >> 8) & 0xff, 2);
  out.push_back(':');
  put_hex_digits(out, (busdevfn >> 3) & 0x1f, 2);
  out.push_back('.');
  put_hex_digits(out, busdevfn & 7);
}

// The kernel's "%d" of a 32-bit value (map ids, PID column): -1 prints as -1.
inline void put_int(Out& out, int64_t v) {
  if (v < 0) {
    out.push_back('-');
    put_dec(out, static_cast<uint64_t>(-(v + 1)) + 1);
  } else {
    put_dec(out, static_cast<uint64_t>(v));
  }
}

// Bytes as hex digits in memory order, no 0x.
inline void put_hex_bytes(Out& out, std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) {
    out.push_back("0123456789abcdef"[b >> 4]);
    out.push_back("0123456789abcdef"[b & 15]);
  }
}

// The `n` (<= 8) bytes at `bytes` as a little-endian integer: how x86 loads them.
inline uint64_t little_endian(const uint8_t* bytes, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = n; i-- > 0;) v = (v << 8) | bytes[i];
  return v;
}

// One line written straight into the output's spare room (reserved for kMax
// bytes when it starts): the hot path of the kernel and native formats (a
// line is some twenty fields), with no copy and no capacity check per field.
// The caller keeps what it writes under kMax bytes between start() and
// flush_to(), and appends nothing else to the output in between.
class Line {
 public:
  static constexpr size_t kMax = 192;
  explicit Line(Out& out) { start(out); }
  // Starts (again) at the end of `out`: after flush_to() and other appends.
  void start(Out& out) {
    out.reserve(out.size() + kMax);
    p_ = out.data() + out.size();
  }
  void c(char x) { *p_++ = x; }
  void s(std::string_view v) {
    std::memcpy(p_, v.data(), v.size());
    p_ += v.size();
  }
  // "0x1f", "0x0".
  void hex(uint64_t v) {
    *p_++ = '0';
    *p_++ = 'x';
    digits(v);
  }
  // Lower-case hex without 0x, at least `min` digits.
  void digits(uint64_t v, unsigned min = 1) {
    unsigned n = v == 0 ? 1 : static_cast<unsigned>((64 - __builtin_clzll(v) + 3) / 4);
    if (n < min) n = min;
    for (unsigned i = n; i-- > 0;) {
      p_[i] = "0123456789abcdef"[v & 15];
      v >>= 4;
    }
    p_ += n;
  }
  void dec(uint64_t v) {
    char tmp[20];
    char* e = tmp + sizeof tmp;
    char* q = e;
    while (v >= 100) {
      const unsigned r = static_cast<unsigned>(v % 100);
      v /= 100;
      *--q = kDigitPairs[2 * r + 1];
      *--q = kDigitPairs[2 * r];
    }
    if (v >= 10) {
      *--q = kDigitPairs[2 * v + 1];
      *--q = kDigitPairs[2 * v];
    } else {
      *--q = static_cast<char>('0' + v);
    }
    s({q, static_cast<size_t>(e - q)});
  }
  // The kernel's "%d" of a 32-bit value: -1 prints as -1.
  void sdec(int64_t v) {
    if (v < 0) {
      c('-');
      dec(static_cast<uint64_t>(-(v + 1)) + 1);
    } else {
      dec(static_cast<uint64_t>(v));
    }
  }
  // "%u.%06lu" of the time rounded to the microsecond (the kernel's ns2usecs()).
  void kernel_time(uint64_t time_ns) {
    const uint64_t us = time_ns / 1000 + (time_ns % 1000 >= 500 ? 1 : 0);
    dec(us / 1000000);
    c('.');
    uint64_t frac = us % 1000000;
    for (int i = 5; i >= 0; --i) {
      p_[i] = static_cast<char>('0' + frac % 10);
      frac /= 10;
    }
    p_ += 6;
  }
  // Makes what was written since start() part of `out` (the one it started
  // on); start() again before writing more.
  void flush_to(Out& out) { out.resize(static_cast<size_t>(p_ - out.data())); }

 private:
  static constexpr char kDigitPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char* p_ = nullptr;
};

// Free text (a MARK's) kept on one line: trailing line breaks dropped, inner ones become spaces.
void append_one_line(std::string_view text, Out& out);

// "%u.%06lu": seconds and microseconds, rounded to the nearest microsecond as
// the kernel's ns2usecs() does (kernel/trace/trace.c).
void format_kernel_time(uint64_t time_ns, Out& out);

// A string as a JSON string literal, quotes included (analysis/json.h: one
// writer of JSON strings for the printers, stats, export and the report).
using analysis::put_json_string;

}  // namespace mmiotrace::output
