#include "analysis/change.h"

#include <fmt/format.h>

#include <vector>

namespace mmiotrace::analysis {

std::string describe_change(const Register* reg, int variant, unsigned first_byte, uint64_t from, uint64_t to) {
  std::vector<std::string> parts;
  uint64_t rest = from ^ to;
  if (reg != nullptr && reg->kind == RegKind::REGISTER && first_byte == 0) {
    for (const Field& f : reg->fields) {
      if (f.name.empty() || !variant_matches(f.variants, variant) || ((from ^ to) & f.mask()) == 0) continue;
      rest &= ~f.mask();
      const uint64_t v = f.extract(to);
      if (f.bits() == 1 && f.values.empty()) {
        parts.push_back(fmt::format("{} {}", f.name, v != 0 ? "set" : "cleared"));
        continue;
      }
      std::string shown = fmt::format("{:#x}", v);
      for (const EnumValue& e : f.values) {
        if (e.value == v && variant_matches(e.variants, variant)) shown = e.name;
      }
      parts.push_back(fmt::format("{}={}", f.name, shown));
    }
  }
  std::vector<std::string> bits;
  for (unsigned b = 0; b < 64; ++b) {
    const uint64_t m = uint64_t{1} << b;
    if ((rest & m) != 0) bits.push_back(fmt::format("bit {} {}", b, (to & m) != 0 ? "set" : "cleared"));
  }
  if (bits.size() > 3) return fmt::format("{:#x} -> {:#x}", from, to);
  parts.insert(parts.end(), bits.begin(), bits.end());
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : ", ") + p;
  return s;
}

}  // namespace mmiotrace::analysis
