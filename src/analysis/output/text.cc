#include "analysis/output/text.h"

namespace mmiotrace::output {

void append_one_line(std::string_view text, Out& out) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  for (char c : text) out.push_back(c == '\n' || c == '\r' ? ' ' : c);
}

void format_kernel_time(uint64_t time_ns, Out& out) {
  const uint64_t us = time_ns / 1000 + (time_ns % 1000 >= 500 ? 1 : 0);
  put_dec(out, us / 1000000);
  out.push_back('.');
  const uint64_t frac = us % 1000000;
  char digits[6];
  uint64_t f = frac;
  for (int i = 5; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + f % 10);
    f /= 10;
  }
  out.append(digits, digits + 6);
}

}  // namespace mmiotrace::output
