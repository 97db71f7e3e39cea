#include "cli/stand_in.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <set>

namespace mmiotrace::cli {

// A whole number: decimal, or hex with 0x; with `units`, K, M or G (KiB, MiB, GiB) may follow.
bool parse_number(const std::string& s, uint64_t* out, bool units) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  errno = 0;
  char* end = nullptr;
  uint64_t v = std::strtoull(s.c_str(), &end, 0);
  if (errno != 0 || end == s.c_str()) return false;
  std::string rest(end);
  if (units && !rest.empty()) {
    unsigned shift = 0;
    if (rest == "K" || rest == "k") shift = 10;
    if (rest == "M" || rest == "m") shift = 20;
    if (rest == "G" || rest == "g") shift = 30;
    if (shift == 0 || v > (~uint64_t{0} >> shift)) return false;
    v <<= shift;
    rest.clear();
  }
  if (!rest.empty()) return false;
  *out = v;
  return true;
}

// "[DOMAIN:]BUS:DEV.FN", hex as lspci writes it: (domain << 16) | (bus << 8) | (dev << 3) | fn.
bool parse_slot(const std::string& s, uint32_t* out) {
  unsigned dom = 0, bus = 0, dev = 0, fn = 0;
  char tail = 0;
  int n = std::sscanf(s.c_str(), "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &tail);
  if (n != 4) {
    dom = 0;
    n = std::sscanf(s.c_str(), "%x:%x.%x%c", &bus, &dev, &fn, &tail);
    if (n != 3) return false;
  }
  if (dom > 0xffff || bus > 0xff || dev > 0x1f || fn > 7) return false;
  *out = (dom << 16) | (bus << 8) | (dev << 3) | fn;
  return true;
}

namespace {

constexpr uint64_t kMinBarSize = 16;  // the smallest memory BAR (PCI Local Bus spec, 6.2.5.1)

bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

bool parse_hex16(const std::string& s, uint16_t* out) {
  if (s.empty() || s.size() > 4) return false;
  char* end = nullptr;
  const unsigned long v = std::strtoul(s.c_str(), &end, 16);
  if (*end != '\0') return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

std::string slot_name(uint32_t busdevfn) {
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", busdevfn >> 16, (busdevfn >> 8) & 0xff, (busdevfn >> 3) & 0x1f,
                     busdevfn & 7);
}

constexpr const char* kKeys[] = {"phys", "pci", "bar", "size", "slot"};

bool is_key_value(const std::string& item) {
  const size_t eq = item.find('=');
  if (eq == std::string::npos) return false;
  const std::string key = item.substr(0, eq);
  for (const char* k : kKeys) {
    if (key == k) return true;
  }
  return false;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> items;
  size_t start = 0;
  for (;;) {
    const size_t p = s.find(sep, start);
    items.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return items;
}

// One KEY=VALUE of `arg` into `out`.
Result<void> apply(const std::string& arg, const std::string& item, StandIn* out) {
  const size_t eq = item.find('=');
  const std::string key = item.substr(0, eq);
  const std::string value = item.substr(eq + 1);
  trace::StandInIdentity& id = out->id;
  auto bad = [&](const char* expected) {
    return make_error(fmt::format("--device '{}': {}={} is not {}", arg, key, value, expected));
  };
  if (key == "phys") {
    if (!parse_number(value, &id.phys)) return bad("an address (0xfea00000)");
    id.flags |= trace::kStandInPhys;
  } else if (key == "pci") {
    const size_t colon = value.find(':');
    if (colon == std::string::npos || !parse_hex16(value.substr(0, colon), &id.vendor) ||
        !parse_hex16(value.substr(colon + 1), &id.device))
      return bad("VENDOR:DEVICE in hex (1234:11e8)");
    id.flags |= trace::kStandInPci;
  } else if (key == "bar") {
    uint64_t bar = 0;
    if (!parse_number(value, &bar) || bar > 5) return bad("a BAR number, 0 to 5");
    id.bar = static_cast<uint8_t>(bar);
  } else if (key == "size") {
    if (!parse_number(value, &id.bar_size, true)) return bad("a size (4096, 0x1000, 1M)");
    out->has_size = true;
  } else if (key == "slot") {
    if (!parse_slot(value, &id.busdevfn)) return bad("a PCI address [DOMAIN:]BUS:DEV.FN (00:04.0)");
    out->has_slot = true;
  }
  return {};
}

// The BAR size of a stand-in from its file: its size rounded up to a power of two.
Result<void> size_from_file(StandIn& s) {
  struct stat st;
  if (s.glob.find_first_of("*?[") != std::string::npos || ::stat(s.glob.c_str(), &st) != 0 || st.st_size <= 0) {
    return make_error(
        fmt::format("--device '{}' with pci=: give size= (the BAR's size): it cannot be taken from the file, which "
                    "{}",
                    s.glob, s.glob.find_first_of("*?[") != std::string::npos ? "is a pattern" : "is missing or empty"));
  }
  uint64_t size = kMinBarSize;
  while (size < static_cast<uint64_t>(st.st_size)) size <<= 1;
  s.id.bar_size = size;
  return {};
}

}  // namespace

Result<StandIn> parse_stand_in(const std::string& arg) {
  StandIn s;
  s.glob = arg;
  // The identity starts at the first comma after which every item is KEY=VALUE.
  for (size_t comma = arg.find(','); comma != std::string::npos; comma = arg.find(',', comma + 1)) {
    const std::vector<std::string> items = split(arg.substr(comma + 1), ',');
    bool all = true;
    for (const std::string& item : items) all = all && is_key_value(item);
    if (!all) continue;
    s.glob = arg.substr(0, comma);
    for (const std::string& item : items) {
      auto applied = apply(arg, item, &s);
      if (!applied) return make_error(applied.error());
    }
    break;
  }
  if (s.glob.empty()) return make_error(fmt::format("--device '{}' names no file", arg));
  const trace::StandInIdentity& id = s.id;
  const bool pci = (id.flags & trace::kStandInPci) != 0;
  if (pci && (id.flags & trace::kStandInPhys) == 0) {
    return make_error(
        fmt::format("--device '{}': pci= needs phys=, the BAR's address (a BAR at 0 is one the "
                    "firmware never assigned, and readers ignore it)",
                    arg));
  }
  if (!pci && (id.bar != 0 || s.has_size || s.has_slot)) {
    return make_error(fmt::format("--device '{}': bar=, size= and slot= describe a PCI device: give pci= too", arg));
  }
  return s;
}

Result<void> complete_stand_ins(std::vector<StandIn>& stand_ins) {
  if (stand_ins.size() > trace::kMaxStandIns)
    return make_error(fmt::format("too many --device options ({}; at most {})", stand_ins.size(), trace::kMaxStandIns));
  // Stand-ins without slot= join the device with the same pci= that was
  // given a slot; the others, by pci=, get the free slots 00:01.0, 00:02.0, ...
  std::set<uint32_t> used_slots;
  std::map<uint32_t, uint32_t> slot_of_id;  // vendor << 16 | device -> slot
  for (const StandIn& s : stand_ins) {
    if (!s.has_slot) continue;
    used_slots.insert(s.id.busdevfn);
    slot_of_id.emplace((uint32_t{s.id.vendor} << 16) | s.id.device, s.id.busdevfn);
  }
  uint32_t next_dev = 1;
  for (StandIn& s : stand_ins) {
    trace::StandInIdentity& id = s.id;
    if ((id.flags & trace::kStandInPci) == 0) continue;
    if (!s.has_size) {
      auto sized = size_from_file(s);
      if (!sized) return sized;
    }
    if (id.bar_size < kMinBarSize || !is_power_of_two(id.bar_size)) {
      return make_error(fmt::format("--device '{}': size {:#x} is not a BAR's size (a power of two, at least 16)",
                                    s.glob, id.bar_size));
    }
    if (id.phys % id.bar_size != 0) {
      return make_error(fmt::format(
          "--device '{}': phys={:#x} is not a multiple of the BAR's size {:#x} (a BAR is aligned on its size)", s.glob,
          id.phys, id.bar_size));
    }
    if (s.has_slot) continue;
    const uint32_t key = (uint32_t{id.vendor} << 16) | id.device;
    auto it = slot_of_id.find(key);
    if (it == slot_of_id.end()) {
      while (used_slots.count(next_dev << 3) != 0) ++next_dev;
      if (next_dev > 0x1f) return make_error("too many stand-in PCI devices on bus 0: give slot=");
      it = slot_of_id.emplace(key, next_dev << 3).first;
      used_slots.insert(next_dev << 3);
    }
    id.busdevfn = it->second;
  }
  // One identity per slot, each BAR once, BARs apart.
  for (size_t i = 0; i < stand_ins.size(); ++i) {
    const trace::StandInIdentity& a = stand_ins[i].id;
    if ((a.flags & trace::kStandInPci) == 0) continue;
    for (size_t j = i + 1; j < stand_ins.size(); ++j) {
      const trace::StandInIdentity& b = stand_ins[j].id;
      if ((b.flags & trace::kStandInPci) == 0 || a.busdevfn != b.busdevfn) continue;
      const std::string both = fmt::format("--device '{}' and '{}'", stand_ins[i].glob, stand_ins[j].glob);
      if (a.vendor != b.vendor || a.device != b.device)
        return make_error(fmt::format("{} are both at slot {} with different pci=", both, slot_name(a.busdevfn)));
      if (a.bar == b.bar)
        return make_error(fmt::format("{} are both BAR {} of {}", both, a.bar, slot_name(a.busdevfn)));
      if (a.phys < b.phys + b.bar_size && b.phys < a.phys + a.bar_size)
        return make_error(fmt::format("{}: the BARs of {} overlap", both, slot_name(a.busdevfn)));
    }
  }
  return {};
}

}  // namespace mmiotrace::cli
