// What the printer tests share: the text a printer wrote into a temporary FILE.
#pragma once

#include <cstdio>
#include <string>

namespace mmiotrace::trace {

// Reads `f` (a std::tmpfile() a printer wrote) from its start, then closes it.
inline std::string take_printed_text(FILE* f) {
  std::rewind(f);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  return text;
}

}  // namespace mmiotrace::trace
