#include "analysis/json.h"

#include <cstdint>

namespace mmiotrace::analysis {

namespace {

// The length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n = 0;
  uint32_t min = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  uint32_t cp = c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

void put_json_string(fmt::memory_buffer& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      const char* esc = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : nullptr;
      if (esc != nullptr) {
        out.append(std::string_view(esc));
      } else {
        out.append(std::string_view("\\u00"));
        out.push_back(kHex[u >> 4]);
        out.push_back(kHex[u & 15]);
      }
    } else if (u < 0x80) {
      out.push_back(c);
    } else if (const size_t n = utf8_length(s, i); n != 0) {
      out.append(s.substr(i, n));
      i += n - 1;
    } else {
      out.append(std::string_view("\\ufffd"));
    }
  }
  out.push_back('"');
}

}  // namespace mmiotrace::analysis
