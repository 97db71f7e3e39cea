#include "analysis/regmap.h"

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace mmiotrace::analysis {

const char* to_string(RegAccess access) {
  switch (access) {
    case RegAccess::UNSPECIFIED:
      return "";
    case RegAccess::READ_WRITE:
      return "rw";
    case RegAccess::READ_ONLY:
      return "r";
    case RegAccess::WRITE_ONLY:
      return "w";
    case RegAccess::READ_CLEAR:
      return "rc";
    case RegAccess::WRITE_1_CLEAR:
      return "w1c";
  }
  return "";
}

std::optional<RegAccess> parse_reg_access(std::string_view text) {
  for (RegAccess a : {RegAccess::READ_WRITE, RegAccess::READ_ONLY, RegAccess::WRITE_ONLY, RegAccess::READ_CLEAR,
                      RegAccess::WRITE_1_CLEAR}) {
    if (text == to_string(a)) return a;
  }
  return std::nullopt;
}

bool variant_matches(const VariantSet& set, int variant) {
  if (variant < 0 || set.empty()) return true;
  return static_cast<size_t>(variant) < set.size() && set[static_cast<size_t>(variant)];
}

bool PciId::matches(const PciId& actual) const {
  return vendor == actual.vendor && (device == kAnyPciDevice || device == actual.device);
}

uint64_t Register::elements() const {
  uint64_t n = 1;
  for (const Dim& d : dims) n *= d.count;
  return n;
}

uint64_t Register::end() const {
  uint64_t last = offset;
  for (const Dim& d : dims) last += (d.count - 1) * d.stride;
  return last + element_size();
}

uint64_t RegisterMap::extent() const {
  if (size != 0) return size;
  uint64_t end = 0;
  for (const Register& r : registers) end = std::max(end, r.end());
  return end;
}

int RegisterMap::find_variant(std::string_view wanted) const {
  for (size_t i = 0; i < variants.size(); ++i) {
    if (variants[i].size() == wanted.size() && ::strncasecmp(variants[i].data(), wanted.data(), wanted.size()) == 0)
      return static_cast<int>(i);
  }
  return -1;
}

// ---- validate ----

namespace {

Error map_error(const RegisterMap& map, const std::string& what) {
  return make_error(fmt::format("register map '{}': {}", map.source.empty() ? map.id : map.source, what));
}

bool valid_width(unsigned w) { return w == 1 || w == 2 || w == 4 || w == 8; }

Result<void> validate_fields(const RegisterMap& map, const Register& r) {
  const unsigned reg_bits = r.width * 8u;
  for (size_t i = 0; i < r.fields.size(); ++i) {
    const Field& f = r.fields[i];
    if (f.lsb > f.msb || f.msb >= reg_bits) {
      return map_error(map, fmt::format("field '{}' of register '{}' is bits {}:{}, outside the register's {} bits",
                                        f.name, r.name, f.msb, f.lsb, reg_bits));
    }
    for (const EnumValue& v : f.values) {
      if (f.shr == 0 && f.add == 0 && f.bits() < 64 && (v.value >> f.bits()) != 0) {
        return map_error(map, fmt::format("value {} ({:#x}) of field '{}' of register '{}' does not fit its {} bits",
                                          v.name, v.value, f.name, r.name, f.bits()));
      }
    }
    if (map.variants.empty() && !map.shared_bytes && i > 0) {
      const Field& prev = r.fields[i - 1];
      if ((prev.mask() & f.mask()) != 0) {
        return map_error(map,
                         fmt::format("fields '{}' and '{}' of register '{}' share bits", prev.name, f.name, r.name));
      }
    }
  }
  return {};
}

Result<void> validate_register(const RegisterMap& map, const Register& r) {
  if (r.name.empty()) return map_error(map, fmt::format("the register at {:#x} has no name", r.offset));
  if (r.kind == RegKind::REGISTER && !valid_width(r.width)) {
    return map_error(
        map, fmt::format("register '{}' is {} bits wide; registers are 8, 16, 32 or 64 bits", r.name, r.width * 8u));
  }
  if (r.kind == RegKind::BLOCK && r.block_size == 0) return map_error(map, fmt::format("block '{}' is empty", r.name));
  if (r.dims.size() > kMaxDims || r.index_at.size() != r.dims.size()) {
    return map_error(map, fmt::format("register '{}' has {} array dimensions; at most {} are supported", r.name,
                                      r.dims.size(), kMaxDims));
  }
  uint64_t inner = r.element_size();
  for (size_t k = r.dims.size(); k-- > 0;) {
    const Dim& d = r.dims[k];
    if (d.count == 0) return map_error(map, fmt::format("register array '{}' has no elements", r.name));
    if (d.count > 1 && d.stride < inner) {
      return map_error(map, fmt::format("register array '{}' has stride {:#x}, less than its elements' {:#x} bytes",
                                        r.name, d.stride, inner));
    }
    if (r.index_at[k] > r.name.size()) return map_error(map, fmt::format("register '{}': bad index position", r.name));
    inner = (d.count - 1) * d.stride + inner;
  }
  if (r.reset && r.width < 8 && (*r.reset >> (r.width * 8u)) != 0) {
    return map_error(map, fmt::format("reset value {:#x} of register '{}' does not fit its {} bits", *r.reset, r.name,
                                      r.width * 8u));
  }
  if (map.size != 0 && r.end() > map.size && !map.shared_bytes) {
    return map_error(map,
                     fmt::format("register '{}' ends at {:#x}, past the map's size {:#x}", r.name, r.end(), map.size));
  }
  return validate_fields(map, r);
}

}  // namespace

Result<void> validate(const RegisterMap& map) {
  if (map.id.empty()) return map_error(map, "the map has no id");
  if (map.bar < 0 || map.bar > 5) return map_error(map, fmt::format("bar {} is not 0 to 5", map.bar));
  for (const Register& r : map.registers) {
    if (auto ok = validate_register(map, r); !ok) return ok;
  }
  if (map.variants.empty() && !map.shared_bytes) {
    // Without variants a byte belongs to one register: two registers sharing
    // one are a mistake in the map (a wrong offset, a copied line).
    RegisterIndex index(map);
    for (const Register& r : map.registers) {
      const uint64_t n = r.elements();
      for (uint64_t e = 0; e < n && e < 4096; ++e) {
        uint64_t off = r.offset;
        uint64_t rest = e;
        for (size_t k = r.dims.size(); k-- > 0;) {
          off += (rest % r.dims[k].count) * r.dims[k].stride;
          rest /= r.dims[k].count;
        }
        for (uint64_t b = 0; b < r.element_size(); ++b) {
          auto hit = index.find(off + b);
          if (hit && hit->reg != &r) {
            return map_error(
                map, fmt::format("registers '{}' and '{}' share the byte at {:#x}", hit->reg->name, r.name, off + b));
          }
        }
      }
    }
  }
  return {};
}

// ---- RegisterIndex ----

RegisterIndex::RegisterIndex(const RegisterMap& map) : map_(&map) {
  struct Event {
    uint64_t pos;
    bool start;
    uint32_t reg;
  };
  std::vector<Event> events;
  events.reserve(map.registers.size() * 2);
  for (uint32_t i = 0; i < map.registers.size(); ++i) {
    const Register& r = map.registers[i];
    events.push_back({r.offset, true, i});
    events.push_back({r.end(), false, i});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.pos < b.pos; });
  std::set<uint32_t> active;
  size_t i = 0;
  while (i < events.size()) {
    const uint64_t pos = events[i].pos;
    for (; i < events.size() && events[i].pos == pos; ++i) {
      if (events[i].start) {
        active.insert(events[i].reg);
      } else {
        active.erase(events[i].reg);
      }
    }
    if (active.empty() || i == events.size()) continue;
    Segment s;
    s.begin = pos;
    s.end = events[i].pos;
    s.first = static_cast<uint32_t>(candidates_.size());
    s.n = static_cast<uint32_t>(active.size());
    candidates_.insert(candidates_.end(), active.begin(), active.end());
    segments_.push_back(s);
  }
}

namespace {

// The element and byte of `r` that `offset` falls in, decomposing the offset
// dimension by dimension as rnndb's lookup does (index = offset / stride).
std::optional<RegisterHit> hit_in(const Register& r, uint64_t offset) {
  if (offset < r.offset) return std::nullopt;
  uint64_t rel = offset - r.offset;
  uint64_t element = 0;
  for (const Dim& d : r.dims) {
    const uint64_t idx = d.stride == 0 ? 0 : rel / d.stride;
    if (idx >= d.count) return std::nullopt;
    rel -= idx * d.stride;
    element = element * d.count + idx;
  }
  if (rel >= r.element_size()) return std::nullopt;
  return RegisterHit{&r, element, rel};
}

}  // namespace

std::optional<RegisterHit> RegisterIndex::find(uint64_t offset, int variant) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](uint64_t off, const Segment& s) { return off < s.begin; });
  if (it == segments_.begin()) return std::nullopt;
  --it;
  if (offset >= it->end) return std::nullopt;
  for (uint32_t k = 0; k < it->n; ++k) {
    const Register& r = map_->registers[candidates_[it->first + k]];
    if (!variant_matches(r.variants, variant)) continue;
    if (auto hit = hit_in(r, offset)) return hit;
  }
  return std::nullopt;
}

// ---- Decoding ----

void decode_value(const Register& reg, uint64_t value, unsigned first_byte, unsigned nbytes, int variant,
                  DecodedValue& out) {
  out.fields.clear();
  out.unknown_bits = 0;
  if (reg.kind != RegKind::REGISTER) return;
  const unsigned shift = first_byte * 8u;
  const unsigned nbits = nbytes * 8u;
  const uint64_t accessed_low = nbits >= 64 ? ~uint64_t{0} : (uint64_t{1} << nbits) - 1;
  const uint64_t accessed = shift >= 64 ? 0 : accessed_low << shift;
  const uint64_t reg_value = shift >= 64 ? 0 : (value & accessed_low) << shift;
  uint64_t covered = 0;
  for (const Field& f : reg.fields) {
    if (!variant_matches(f.variants, variant)) continue;
    if ((f.mask() & ~accessed) != 0) continue;  // not wholly inside the accessed bytes
    FieldValue fv;
    fv.field = &f;
    fv.value = f.extract(reg_value);
    for (const EnumValue& e : f.values) {
      if (e.value == fv.value && variant_matches(e.variants, variant)) {
        fv.named = &e;
        break;
      }
    }
    covered |= f.mask();
    out.fields.push_back(fv);
  }
  out.unknown_bits = reg_value & accessed & ~covered;
}

namespace {

void append_dec(uint64_t v, fmt::memory_buffer& out) {
  char tmp[20];
  char* end = tmp + sizeof tmp;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out.append(p, end);
}

}  // namespace

void format_register_name(const RegisterMap& map, const RegisterHit& hit, fmt::memory_buffer& out) {
  const Register& r = *hit.reg;
  uint64_t indices[kMaxDims] = {};
  uint64_t rest = hit.element;
  for (size_t k = r.dims.size(); k-- > 0;) {
    indices[k] = rest % r.dims[k].count;
    rest /= r.dims[k].count;
  }
  size_t pos = 0;
  for (size_t k = 0; k < r.dims.size(); ++k) {
    out.append(std::string_view(r.name).substr(pos, r.index_at[k] - pos));
    pos = r.index_at[k];
    if (map.hex_indices) {
      out.push_back('[');
      append_hex(indices[k], out);
      out.push_back(']');
    } else {
      out.push_back('[');
      append_dec(indices[k], out);
      out.push_back(']');
    }
  }
  out.append(std::string_view(r.name).substr(pos));
  if (r.kind == RegKind::BLOCK || hit.byte != 0) {
    out.push_back('+');
    append_hex(hit.byte, out);
  }
}

namespace {

void format_number(const Field& f, uint64_t v, fmt::memory_buffer& out) {
  switch (f.format) {
    case FieldFormat::UNSIGNED:
      append_dec(v, out);
      return;
    case FieldFormat::SIGNED: {
      const unsigned bits = f.bits() + f.shr;
      if (bits < 64 && ((v >> (bits - 1)) & 1) != 0) {
        out.push_back('-');
        append_dec((uint64_t{1} << bits) - v, out);
      } else {
        append_dec(v, out);
      }
      return;
    }
    case FieldFormat::HEX:
    case FieldFormat::BOOL:
      append_hex(v, out);
      return;
  }
}

}  // namespace

void format_decoded(const DecodedValue& value, fmt::memory_buffer& out) {
  bool any = false;
  auto separator = [&] {
    if (any) out.append(std::string_view(" | "));
    any = true;
  };
  // The one field an access covers shows even when 0 ("TEST=0"): it is what was written.
  const bool only_field = value.fields.size() == 1 && value.unknown_bits == 0;
  for (const FieldValue& fv : value.fields) {
    const Field& f = *fv.field;
    if (f.name.empty()) {
      separator();
      if (fv.named != nullptr) {
        out.append(fv.named->name);
      } else if (f.format == FieldFormat::BOOL && fv.value <= 1) {
        out.append(std::string_view(fv.value != 0 ? "TRUE" : "FALSE"));  // rnndb's boolean registers, as demmio
      } else {
        format_number(f, fv.value, out);
      }
      continue;
    }
    if (fv.named == nullptr) {
      if (fv.value == 0 && !only_field) continue;
      if (f.format == FieldFormat::BOOL && fv.value == 1) {
        separator();
        out.append(f.name);
        continue;
      }
    }
    separator();
    out.append(f.name);
    out.push_back('=');
    if (fv.named != nullptr) {
      out.append(fv.named->name);
    } else {
      format_number(f, fv.value, out);
    }
  }
  if (value.unknown_bits != 0) {
    separator();
    append_hex(value.unknown_bits, out);
  }
  if (!any) out.push_back('0');
}

// ---- Loading ----

MapFormat detect_map_format(std::string_view first) {
  // XML starts with '<' (after a byte order mark and blanks); TOML cannot.
  if (first.substr(0, 3) == "\xef\xbb\xbf") first.remove_prefix(3);
  const size_t start = first.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos || first[start] != '<') return MapFormat::TOML;
  // The root element: the first tag that is not a declaration, comment or doctype.
  size_t pos = start;
  while (pos != std::string_view::npos && pos + 1 < first.size() && (first[pos + 1] == '?' || first[pos + 1] == '!')) {
    pos = first.find('<', pos + 1);
  }
  if (pos != std::string_view::npos && first.substr(pos + 1, 8) == "database") return MapFormat::RNNDB;
  return MapFormat::SVD;
}

namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fmt::format("cannot open register map '{}': {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(fmt::format("cannot read register map '{}': {}", path, std::strerror(errno)));
  return text.str();
}

}  // namespace

Result<std::vector<RegisterMap>> load_register_maps(const MapSource& source) {
  auto text = read_file(source.path);
  if (!text) return Error{text.error()};
  std::vector<RegisterMap> maps;
  switch (detect_map_format(*text)) {
    case MapFormat::TOML: {
      if (!source.part.empty()) {
        return make_error(fmt::format("register map '{}' is a TOML map: it has no parts to pick with '#{}'",
                                      source.path, source.part));
      }
      auto map = parse_toml_map(*text, source.path);
      if (!map) return Error{map.error()};
      maps.push_back(std::move(*map));
      break;
    }
    case MapFormat::SVD: {
      auto svd = import_svd(*text, source.path, source.part);
      if (!svd) return Error{svd.error()};
      maps = std::move(*svd);
      break;
    }
    case MapFormat::RNNDB: {
      auto map = import_rnndb(source.path, source.part);
      if (!map) return Error{map.error()};
      maps.push_back(std::move(*map));
      break;
    }
  }
  for (RegisterMap& m : maps) {
    if (m.source.empty()) m.source = source.path;
    if (auto ok = validate(m); !ok) return Error{ok.error()};
  }
  return maps;
}

Result<std::string> find_map_file(const std::string& name, const std::vector<std::string>& dirs) {
  if (name.find('/') != std::string::npos || ::access(name.c_str(), F_OK) == 0) return name;
  std::vector<std::string> tried;
  for (const std::string& dir : dirs) {
    if (dir.empty()) continue;
    std::string path = dir;
    path += '/';
    path += name;
    std::string with_suffix = path;
    with_suffix += ".toml";
    for (const std::string& candidate : {path, with_suffix}) {
      if (::access(candidate.c_str(), F_OK) == 0) return candidate;
    }
    tried.push_back(dir);
  }
  std::string where;
  for (const std::string& d : tried) where += (where.empty() ? "" : ", ") + d;
  return make_error(fmt::format("no register map named '{}': not a file, and not in {}", name,
                                where.empty() ? "any map directory" : where));
}

}  // namespace mmiotrace::analysis
