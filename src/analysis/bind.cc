#include "analysis/bind.h"

#include <algorithm>
#include <charconv>

namespace mmiotrace::analysis {

namespace {

bool parse_hex(std::string_view text, uint64_t& out) {
  if (text.substr(0, 2) != "0x" && text.substr(0, 2) != "0X") return false;
  text.remove_prefix(2);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

Result<BindSpec> parse_where(std::string_view where) {
  BindSpec spec;
  auto bad = [&] {
    return make_error(fmt::format(
        "cannot read the binding '@{}': give pci:VVVV:DDDD[/BAR], a physical address such as 0xfebc0000, or map:N",
        where));
  };
  if (where.substr(0, 4) == "pci:") {
    std::string_view rest = where.substr(4);
    spec.kind = BindSpec::Kind::PCI;
    if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
      unsigned bar = 0;
      std::string_view b = rest.substr(slash + 1);
      auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), bar);
      if (ec != std::errc() || end != b.data() + b.size() || bar > 5) return bad();
      spec.bar = static_cast<int>(bar);
      rest = rest.substr(0, slash);
    }
    unsigned vendor = 0, device = 0;
    if (rest.size() != 9 || rest[4] != ':') return bad();
    auto a = std::from_chars(rest.data(), rest.data() + 4, vendor, 16);
    auto d = std::from_chars(rest.data() + 5, rest.data() + 9, device, 16);
    if (a.ec != std::errc() || a.ptr != rest.data() + 4 || d.ec != std::errc() || d.ptr != rest.data() + 9)
      return bad();
    spec.pci = {static_cast<uint16_t>(vendor), static_cast<uint16_t>(device)};
    return spec;
  }
  if (where.substr(0, 4) == "map:") {
    std::string_view id = where.substr(4);
    int32_t n = 0;
    auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    if (ec != std::errc() || end != id.data() + id.size() || id.empty()) return bad();
    spec.kind = BindSpec::Kind::MAP_ID;
    spec.map_id = n;
    return spec;
  }
  if (!parse_hex(where, spec.address)) return bad();
  spec.kind = BindSpec::Kind::ADDRESS;
  return spec;
}

}  // namespace

Result<RegsArgument> parse_regs_argument(std::string_view text) {
  RegsArgument arg;
  std::string_view rest = text;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    auto spec = parse_where(rest.substr(at + 1));
    if (!spec) return Error{spec.error()};
    arg.bind = *spec;
    rest = rest.substr(0, at);
  }
  if (size_t hash = rest.rfind('#'); hash != std::string_view::npos) {
    arg.part = rest.substr(hash + 1);
    rest = rest.substr(0, hash);
  }
  if (rest.empty()) return make_error(fmt::format("--regs '{}' names no map", text));
  arg.map = rest;
  return arg;
}

namespace {

std::string describe_devices(const DeviceCatalog& catalog) {
  std::string list;
  for (const PciDevice& d : catalog.devices()) {
    list += fmt::format("{}{:04x}:{:04x} at {}", list.empty() ? "" : ", ", d.id.vendor, d.id.device,
                        pci_address(d.busdevfn));
  }
  return list;
}

// The BAR `bar` of `d` as the place of `map`, or why it cannot be.
Result<void> check_bar(const RegisterMap& map, const PciDevice& d, int bar) {
  const std::string where =
      fmt::format("BAR{} of {} ({:04x}:{:04x})", bar, pci_address(d.busdevfn), d.id.vendor, d.id.device);
  if (d.bar_size[bar] == 0) {
    return make_error(fmt::format("register map '{}' does not fit the device: {} is not there", map.id, where));
  }
  if (d.bar_io[bar]) {
    return make_error(
        fmt::format("register map '{}' does not fit the device: {} is an I/O port BAR, not memory", map.id, where));
  }
  if (d.bar_size[bar] < map.extent()) {
    return make_error(fmt::format("register map '{}' does not fit the device: it needs {:#x} bytes, {} has {:#x}",
                                  map.id, map.extent(), where, d.bar_size[bar]));
  }
  return {};
}

struct Place {
  bool by_map_id = false;
  int32_t map_id = 0;
  uint64_t base = 0;
  const PciDevice* device = nullptr;
};

Result<std::vector<Place>> places_by_pci(const RegisterMap& map, const std::vector<PciId>& ids, int bar,
                                         const DeviceCatalog& catalog) {
  std::string wanted;
  for (const PciId& id : ids) {
    wanted += fmt::format("{}{:04x}:", wanted.empty() ? "" : " or ", id.vendor);
    wanted += id.device == kAnyPciDevice ? std::string("*") : fmt::format("{:04x}", id.device);
  }
  if (catalog.devices().empty()) {
    return make_error(
        fmt::format("cannot bind register map '{}' by PCI id ({}): the trace has no PCIDEV lines; bind it by address "
                    "(--regs {}@0xADDRESS) or by mapping (--regs {}@map:N)",
                    map.id, wanted, map.id, map.id));
  }
  std::vector<Place> places;
  for (const PciDevice& d : catalog.devices()) {
    bool match = false;
    for (const PciId& id : ids) match = match || id.matches(d.id);
    if (!match) continue;
    if (auto ok = check_bar(map, d, bar); !ok) return Error{ok.error()};
    places.push_back({false, 0, d.bar_start[bar], &d});
  }
  if (places.empty()) {
    return make_error(fmt::format("cannot bind register map '{}': the trace has no PCI device {} (it has {})", map.id,
                                  wanted, describe_devices(catalog)));
  }
  return places;
}

Result<std::vector<Place>> places_of(const RegisterMap& map, const BindSpec& spec, const DeviceCatalog& catalog) {
  switch (spec.kind) {
    case BindSpec::Kind::DEFAULT:
      if (!map.pci.empty()) return places_by_pci(map, map.pci, map.bar, catalog);
      if (map.base) return std::vector<Place>{{false, 0, *map.base, nullptr}};
      return make_error(
          fmt::format("register map '{}' names no PCI device and no base address: bind it with --regs {}@0xADDRESS or "
                      "--regs {}@map:N",
                      map.id, map.id, map.id));
    case BindSpec::Kind::PCI:
      return places_by_pci(map, {spec.pci}, spec.bar >= 0 ? spec.bar : map.bar, catalog);
    case BindSpec::Kind::ADDRESS:
      return std::vector<Place>{{false, 0, spec.address, nullptr}};
    case BindSpec::Kind::MAP_ID: {
      const Mapping* m = catalog.mapping(spec.map_id);
      if (m == nullptr) {
        return make_error(fmt::format("cannot bind register map '{}' to mapping {}: the trace has no MAP with id {}",
                                      map.id, spec.map_id, spec.map_id));
      }
      // A mapping of a PCI BAR must hold the map as the BAR itself would.
      if (auto bar = catalog.bar_of(m->phys)) {
        if (auto ok = check_bar(map, *bar->first, bar->second); !ok) return Error{ok.error()};
      }
      return std::vector<Place>{{true, spec.map_id, 0, nullptr}};
    }
  }
  return std::vector<Place>{};
}

}  // namespace

Result<RegisterBindings> RegisterBindings::make(std::vector<RegisterMap> maps, const std::vector<BindSpec>& specs,
                                                const DeviceCatalog& catalog, std::string_view variant) {
  MT_CHECK(maps.size() == specs.size());
  RegisterBindings b;
  b.maps_ = std::move(maps);
  std::vector<std::vector<Place>> places;
  for (size_t i = 0; i < b.maps_.size(); ++i) {
    auto p = places_of(b.maps_[i], specs[i], catalog);
    if (!p) return Error{p.error()};
    places.push_back(std::move(*p));
  }
  for (size_t i = 0; i < b.maps_.size(); ++i) {
    const RegisterMap& map = b.maps_[i];
    int fixed = -1;
    if (!variant.empty() && !map.variants.empty()) {
      fixed = map.find_variant(variant);
      if (fixed < 0) {
        return make_error(fmt::format("register map '{}' has no variant '{}' (it has {} ... {})", map.id, variant,
                                      map.variants.front(), map.variants.back()));
      }
    }
    for (const Place& p : places[i]) {
      Binding bind{&map, RegisterIndex(map), map.id, p.by_map_id, p.map_id, p.base, map.extent(), fixed, fixed >= 0};
      if (p.by_map_id) {
        // offset = phys - base, modulo 2^64: the mapping's start is device_offset_of() into the map.
        const Mapping& m = *catalog.mapping(p.map_id);
        bind.base = m.phys - device_offset_of(m);
      }
      if (places[i].size() > 1 && p.device != nullptr) bind.label += "@" + pci_address(p.device->busdevfn);
      b.bindings_.push_back(std::move(bind));
    }
  }
  return b;
}

const Binding* RegisterBindings::locate(int32_t map_id, uint64_t phys, uint64_t* offset) const {
  // A binding to a mapping is the more specific: it wins over an address range.
  for (const Binding& b : bindings_) {
    if (b.by_map_id && b.map_id == map_id && phys - b.base < b.size) {
      *offset = phys - b.base;
      return &b;
    }
  }
  for (const Binding& b : bindings_) {
    if (!b.by_map_id && phys >= b.base && phys - b.base < b.size) {
      *offset = phys - b.base;
      return &b;
    }
  }
  return nullptr;
}

namespace {

// demmio's chipset detection, generalised: the first read of the detect
// register whose field has a known value fixes the variant.
void detect_variant(Binding& b, const Access& a, uint64_t offset) {
  const VariantDetect& d = *b.map->detect;
  if (a.is_write() || !a.value_known() || offset != d.offset || a.width != d.width) return;
  Field f;
  f.lsb = d.lsb;
  f.msb = d.msb;
  const uint64_t v = f.extract(a.value_bits(0, a.width));
  for (const auto& [value, variant] : d.values) {
    if (value == v) {
      b.variant = static_cast<int>(variant);
      return;
    }
  }
}

}  // namespace

void RegisterBindings::describe(const Access& a, AccessDescription& out) {
  out.binding = nullptr;
  uint64_t offset = 0;
  const Binding* found = locate(a.map_id, a.phys, &offset);
  if (found == nullptr) {
    out.parts.clear();
    return;
  }
  Binding& b = bindings_[static_cast<size_t>(found - bindings_.data())];
  if (b.variant < 0 && !b.variant_fixed && b.map->detect) detect_variant(b, a, offset);
  out.binding = &b;
  out.offset = offset;
  size_t nparts = 0;
  unsigned pos = 0;
  while (pos < a.width) {
    auto hit = b.index.find(offset + pos, b.variant);
    unsigned n = a.width - pos;
    if (hit && hit->reg->kind == RegKind::REGISTER) {
      n = static_cast<unsigned>(std::min<uint64_t>(hit->reg->width - hit->byte, n));
    } else if (!hit) {
      // Bytes of no register, up to the next one.
      n = 1;
      while (pos + n < a.width && !b.index.find(offset + pos + n, b.variant)) ++n;
    }
    if (nparts == out.parts.size()) out.parts.emplace_back();
    RegisterPart& part = out.parts[nparts++];
    part.hit = hit;
    part.offset = offset + pos;
    part.first = pos;
    part.nbytes = n;
    part.value_known = a.value_known() && n <= 8;
    part.value = part.value_known ? a.value_bits(pos, n) : 0;
    if (hit && hit->reg->kind == RegKind::REGISTER && part.value_known) {
      decode_value(*hit->reg, part.value, static_cast<unsigned>(hit->byte), n, b.variant, part.decoded);
    } else {
      part.decoded.fields.clear();
      part.decoded.unknown_bits = 0;
    }
    pos += n;
  }
  out.parts.resize(nparts);
}

void format_description(const AccessDescription& d, bool write, fmt::memory_buffer& out, unsigned from, unsigned to) {
  if (d.binding == nullptr) return;
  const std::string_view arrow = write ? " <= " : " => ";
  bool first = true;
  for (const RegisterPart& p : d.parts) {
    if (p.first < from || p.first >= to) continue;
    if (!first) out.append(std::string_view(", "));
    first = false;
    if (p.hit) {
      format_register_name(*d.binding->map, *p.hit, out);
    } else {
      out.push_back('+');
      append_hex(p.offset, out);
    }
    if (!p.value_known) continue;
    out.append(arrow);
    if (p.hit && p.hit->reg->kind == RegKind::REGISTER) {
      format_decoded(p.decoded, out);
    } else {
      append_hex(p.value, out);
    }
  }
}

}  // namespace mmiotrace::analysis
