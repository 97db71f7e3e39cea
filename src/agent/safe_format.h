// SafeBuf: builds a message in a fixed buffer and writes it with write(2):
// the only way the agent prints, since stdio is not async-signal-safe.
// Async-signal-safe: no allocation.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace mmiotrace::agent {

class SafeBuf {
 public:
  SafeBuf& str(const char* s) {
    while (*s != '\0' && n_ < sizeof(buf_)) buf_[n_++] = *s++;
    return *this;
  }
  SafeBuf& hex(uint64_t v, bool prefix = true) {
    if (prefix) str("0x");
    char tmp[16];
    int i = 0;
    do {
      tmp[i++] = "0123456789abcdef"[v & 0xf];
      v >>= 4;
    } while (v != 0);
    while (i > 0 && n_ < sizeof(buf_)) buf_[n_++] = tmp[--i];
    return *this;
  }
  SafeBuf& byte(uint8_t v) {
    if (n_ + 2 <= sizeof(buf_)) {
      buf_[n_++] = "0123456789abcdef"[v >> 4];
      buf_[n_++] = "0123456789abcdef"[v & 0xf];
    }
    return *this;
  }
  SafeBuf& dec(uint64_t v) {
    char tmp[24];
    int i = 0;
    do {
      tmp[i++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (i > 0 && n_ < sizeof(buf_)) buf_[n_++] = tmp[--i];
    return *this;
  }
  void write_to(int fd) const {
    size_t done = 0;
    while (done < n_) {
      ssize_t w = ::write(fd, buf_ + done, n_ - done);
      if (w <= 0) return;
      done += static_cast<size_t>(w);
    }
  }
  // Copies the text, NUL-terminated and cut to fit, into out[cap].
  void copy_to(char* out, size_t cap) const {
    if (cap == 0) return;
    const size_t n = n_ < cap - 1 ? n_ : cap - 1;
    for (size_t i = 0; i < n; ++i) out[i] = buf_[i];
    out[n] = '\0';
  }
  const char* data() const { return buf_; }
  size_t size() const { return n_; }

 private:
  char buf_[1024];
  size_t n_ = 0;
};

}  // namespace mmiotrace::agent
