// Async-signal-safe: pure computation on the caller's buffers.
#include "common/device_path.h"

#include <cstring>

#include "common/handler_rules.h"

MT_HANDLER_RULES

namespace mmiotrace {

namespace {

bool starts_with(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `n` hex digits at `s` into *v.
bool hex_field(const char* s, size_t n, uint32_t* v) {
  uint32_t r = 0;
  for (size_t i = 0; i < n; ++i) {
    const int d = hex_digit(s[i]);
    if (d < 0) return false;
    r = (r << 4) | static_cast<uint32_t>(d);
  }
  *v = r;
  return true;
}

}  // namespace

bool normalize_path(const char* path, const char* cwd, char* out, size_t cap) {
  if (cap < 2 || path == nullptr) return false;
  size_t n = 0;
  out[n++] = '/';
  // Components of cwd (if relative), then of path.
  const char* parts[2] = {path[0] == '/' ? "" : (cwd != nullptr ? cwd : ""), path};
  for (const char* part : parts) {
    const char* p = part;
    while (*p != '\0') {
      while (*p == '/') ++p;
      const char* end = p;
      while (*end != '\0' && *end != '/') ++end;
      const size_t len = static_cast<size_t>(end - p);
      if (len == 0 || (len == 1 && p[0] == '.')) {
        // nothing
      } else if (len == 2 && p[0] == '.' && p[1] == '.') {
        if (n > 1) {
          --n;  // the '/' ending the last component
          while (n > 1 && out[n - 1] != '/') --n;
        }
      } else {
        if (n + len + 1 >= cap) return false;
        memcpy(out + n, p, len);
        n += len;
        out[n++] = '/';
      }
      p = end;
    }
  }
  if (n > 1) --n;  // no trailing '/'
  out[n] = '\0';
  return true;
}

bool parse_pci_address(const char* text, size_t len, uint32_t* busdevfn) {
  // dddd:bb:dd.f
  if (len != 12 || text[4] != ':' || text[7] != ':' || text[10] != '.') return false;
  uint32_t dom, bus, dev, fn;
  if (!hex_field(text, 4, &dom) || !hex_field(text + 5, 2, &bus) || !hex_field(text + 8, 2, &dev) ||
      !hex_field(text + 11, 1, &fn) || dev > 0x1f || fn > 7) {
    return false;
  }
  *busdevfn = (dom << 16) | (bus << 8) | (dev << 3) | fn;
  return true;
}

bool parse_sysfs_pci_file(const char* path, SysfsPciFile* out) {
  // The first "/sys/" followed by "bus/pci/devices/" or "devices/".
  for (const char* s = strstr(path, "/sys/"); s != nullptr; s = strstr(s + 1, "/sys/")) {
    const char* rest = s + 5;
    if (!starts_with(rest, "bus/pci/devices/") && !starts_with(rest, "devices/")) continue;
    const char* file = strrchr(path, '/');
    if (file == nullptr || file <= rest || file[1] == '\0') return false;
    // The component before the file is the PCI address.
    const char* dev_end = file;
    const char* dev = dev_end;
    while (dev > rest && dev[-1] != '/') --dev;
    uint32_t busdevfn;
    if (!parse_pci_address(dev, static_cast<size_t>(dev_end - dev), &busdevfn)) return false;
    out->prefix_len = static_cast<size_t>(s - path);
    out->busdevfn = busdevfn;
    out->file = file + 1;
    return true;
  }
  return false;
}

bool same_device_file(const char* a, const char* b) {
  if (strcmp(a, b) == 0) return true;
  SysfsPciFile fa, fb;
  return parse_sysfs_pci_file(a, &fa) && parse_sysfs_pci_file(b, &fb) && fa.prefix_len == fb.prefix_len &&
         strncmp(a, b, fa.prefix_len) == 0 && fa.busdevfn == fb.busdevfn && strcmp(fa.file, fb.file) == 0;
}

bool names_real_device(const char* path) {
  if (strcmp(path, "/dev/mem") == 0 || starts_with(path, "/dev/uio") || starts_with(path, "/dev/vfio/") ||
      starts_with(path, "/sys/class/uio/")) {
    return true;
  }
  SysfsPciFile f;
  return parse_sysfs_pci_file(path, &f) && f.prefix_len == 0;
}

}  // namespace mmiotrace
