// The project's own register map format, TOML (docs/regs.md, "The map format"),
// read with toml++. Every key is checked: an unknown one is an error naming its
// line, so that a typo ("ofset") does not silently drop a register.
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <unordered_map>

#include "analysis/regmap.h"

namespace mmiotrace::analysis {

namespace {

class TomlMapParser {
 public:
  explicit TomlMapParser(std::string_view name) : name_(name) {}
  Result<RegisterMap> parse(std::string_view text);

 private:
  Error error_at(const toml::node& node, const std::string& what) const {
    return make_error(fmt::format("register map '{}' line {}: {}", name_, node.source().begin.line, what));
  }
  Error error(const std::string& what) const { return make_error(fmt::format("register map '{}': {}", name_, what)); }
  Result<void> check_keys(const toml::table& t, std::string_view what, std::initializer_list<std::string_view> known);
  Result<uint64_t> get_uint(const toml::node& node, std::string_view what) const;
  Result<std::string> get_string(const toml::node& node, std::string_view what) const;
  Result<void> parse_device(const toml::table& t, RegisterMap& map);
  Result<Register> parse_register(const toml::table& t, unsigned default_width);
  Result<Field> parse_field(const toml::table& t, const Register& reg);
  Result<void> parse_bits(const toml::table& t, const Register& reg, Field& f);

  struct FieldsFrom {
    std::string reg;   // the register that says fields_from
    std::string from;  // the register whose fields it takes
    unsigned line = 0;
  };
  std::string name_;
  std::vector<FieldsFrom> fields_from_;
};

Result<void> TomlMapParser::check_keys(const toml::table& t, std::string_view what,
                                       std::initializer_list<std::string_view> known) {
  for (const auto& [key, node] : t) {
    if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
    std::string list;
    for (std::string_view k : known) list += fmt::format("{}{}", list.empty() ? "" : ", ", k);
    return error_at(node, fmt::format("unknown key '{}' in {} (known keys: {})", key.str(), what, list));
  }
  return {};
}

Result<uint64_t> TomlMapParser::get_uint(const toml::node& node, std::string_view what) const {
  if (auto v = node.value<int64_t>(); v && node.is_integer()) {
    if (*v < 0) return error_at(node, fmt::format("{} is negative", what));
    return static_cast<uint64_t>(*v);
  }
  // TOML integers are signed 64-bit: a 64-bit value with the top bit set is written as a string.
  if (auto s = node.value<std::string>()) {
    std::string_view text = *s;
    int base = 10;
    if (text.substr(0, 2) == "0x" || text.substr(0, 2) == "0X") {
      text.remove_prefix(2);
      base = 16;
    }
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
    if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return v;
  }
  return error_at(node, fmt::format("{} must be a non-negative integer (0x1f, 31, or \"0x...\")", what));
}

Result<std::string> TomlMapParser::get_string(const toml::node& node, std::string_view what) const {
  if (auto s = node.value<std::string>(); s && node.is_string()) return *s;
  return error_at(node, fmt::format("{} must be a string", what));
}

Result<void> parse_pci_id(std::string_view text, PciId& id) {
  unsigned vendor = 0, device = 0;
  if (text.size() == 6 && text.substr(4) == ":*") {
    auto a = std::from_chars(text.data(), text.data() + 4, vendor, 16);
    if (a.ec != std::errc() || a.ptr != text.data() + 4) return make_error("");
    id = {static_cast<uint16_t>(vendor), kAnyPciDevice};
    return {};
  }
  const size_t colon = text.find(':');
  if (text.size() != 9 || colon != 4) return make_error("");
  auto a = std::from_chars(text.data(), text.data() + 4, vendor, 16);
  auto b = std::from_chars(text.data() + 5, text.data() + 9, device, 16);
  if (a.ec != std::errc() || a.ptr != text.data() + 4 || b.ec != std::errc() || b.ptr != text.data() + 9)
    return make_error("");
  id = {static_cast<uint16_t>(vendor), static_cast<uint16_t>(device)};
  return {};
}

Result<void> TomlMapParser::parse_device(const toml::table& t, RegisterMap& map) {
  if (auto ok = check_keys(t, "[device]", {"id", "name", "description", "pci", "bar", "size", "base", "width"}); !ok)
    return ok;
  if (const toml::node* n = t.get("id")) {
    auto s = get_string(*n, "id");
    if (!s) return Error{s.error()};
    map.id = *s;
  }
  for (auto [key, target] : {std::pair{"name", &map.name}, std::pair{"description", &map.description}}) {
    if (const toml::node* n = t.get(key)) {
      auto s = get_string(*n, key);
      if (!s) return Error{s.error()};
      *target = *s;
    }
  }
  if (const toml::node* n = t.get("pci")) {
    const toml::array* ids = n->as_array();
    if (ids == nullptr) return error_at(*n, "pci must be a list of \"vendor:device\" strings, such as [\"8086:100e\"]");
    for (const toml::node& e : *ids) {
      auto s = get_string(e, "each pci id");
      PciId id;
      if (!s || !parse_pci_id(*s, id))
        return error_at(e, "each pci id must be \"vvvv:dddd\" or \"vvvv:*\" in hex, such as \"8086:100e\"");
      map.pci.push_back(id);
    }
  }
  if (const toml::node* n = t.get("bar")) {
    auto v = get_uint(*n, "bar");
    if (!v) return Error{v.error()};
    if (*v > 5) return error_at(*n, "bar must be 0 to 5");
    map.bar = static_cast<int>(*v);
  }
  if (const toml::node* n = t.get("size")) {
    auto v = get_uint(*n, "size");
    if (!v) return Error{v.error()};
    map.size = *v;
  }
  if (const toml::node* n = t.get("base")) {
    auto v = get_uint(*n, "base");
    if (!v) return Error{v.error()};
    map.base = *v;
  }
  return {};
}

// "17:16" (msb:lsb, as datasheets write them) or "5"; or bit = 5.
Result<void> TomlMapParser::parse_bits(const toml::table& t, const Register& reg, Field& f) {
  const toml::node* bit = t.get("bit");
  const toml::node* bits = t.get("bits");
  if ((bit == nullptr) == (bits == nullptr)) {
    return error_at(
        t, fmt::format("field '{}' of register '{}' needs one of bit = N or bits = \"MSB:LSB\"", f.name, reg.name));
  }
  if (bit != nullptr) {
    auto v = get_uint(*bit, "bit");
    if (!v) return Error{v.error()};
    if (*v > 63) return error_at(*bit, "bit must be 0 to 63");
    f.lsb = f.msb = static_cast<uint8_t>(*v);
    return {};
  }
  auto s = get_string(*bits, "bits");
  if (!s) return Error{s.error()};
  const std::string_view text = *s;
  const size_t colon = text.find(':');
  const std::string_view hi = text.substr(0, colon);
  const std::string_view lo = colon == std::string_view::npos ? hi : text.substr(colon + 1);
  unsigned msb = 64, lsb = 64;
  auto a = std::from_chars(hi.data(), hi.data() + hi.size(), msb);
  auto b = std::from_chars(lo.data(), lo.data() + lo.size(), lsb);
  if (a.ec != std::errc() || a.ptr != hi.data() + hi.size() || b.ec != std::errc() || b.ptr != lo.data() + lo.size() ||
      msb > 63 || lsb > msb) {
    return error_at(*bits,
                    fmt::format("bits = \"{}\" of field '{}' is not \"MSB:LSB\" with 63 >= MSB >= LSB", text, f.name));
  }
  f.msb = static_cast<uint8_t>(msb);
  f.lsb = static_cast<uint8_t>(lsb);
  return {};
}

Result<Field> TomlMapParser::parse_field(const toml::table& t, const Register& reg) {
  Field f;
  const toml::node* name = t.get("name");
  if (name == nullptr) return error_at(t, fmt::format("a field of register '{}' has no name", reg.name));
  auto s = get_string(*name, "name");
  if (!s) return Error{s.error()};
  f.name = *s;
  if (auto ok = check_keys(t, fmt::format("field '{}' of register '{}'", f.name, reg.name),
                           {"name", "bit", "bits", "access", "description", "values", "format"});
      !ok)
    return Error{ok.error()};
  if (auto ok = parse_bits(t, reg, f); !ok) return Error{ok.error()};
  f.format = f.bits() == 1 ? FieldFormat::BOOL : FieldFormat::HEX;
  if (const toml::node* n = t.get("format")) {
    auto v = get_string(*n, "format");
    if (!v) return Error{v.error()};
    static constexpr std::pair<std::string_view, FieldFormat> kFormats[] = {{"hex", FieldFormat::HEX},
                                                                            {"dec", FieldFormat::UNSIGNED},
                                                                            {"signed", FieldFormat::SIGNED},
                                                                            {"flag", FieldFormat::BOOL}};
    auto it = std::find_if(std::begin(kFormats), std::end(kFormats), [&](const auto& p) { return p.first == *v; });
    if (it == std::end(kFormats)) return error_at(*n, "format must be \"hex\", \"dec\", \"signed\" or \"flag\"");
    f.format = it->second;
  }
  if (const toml::node* n = t.get("access")) {
    auto v = get_string(*n, "access");
    auto a = v ? parse_reg_access(*v) : std::nullopt;
    if (!a) return error_at(*n, "access must be \"rw\", \"r\", \"w\", \"rc\" or \"w1c\"");
    f.access = *a;
  }
  if (const toml::node* n = t.get("description")) {
    auto v = get_string(*n, "description");
    if (!v) return Error{v.error()};
    f.description = *v;
  }
  if (const toml::node* n = t.get("values")) {
    const toml::table* values = n->as_table();
    if (values == nullptr) return error_at(*n, "values must be a table of NAME = number, such as { OFF = 0, ON = 1 }");
    for (const auto& [key, node] : *values) {
      auto v = get_uint(node, fmt::format("value {} of field '{}'", key.str(), f.name));
      if (!v) return Error{v.error()};
      f.values.push_back({std::string(key.str()), *v, {}, {}});
    }
    // A flag with names for its values is an enumerated field.
    if (f.format == FieldFormat::BOOL) f.format = FieldFormat::HEX;
  }
  return f;
}

Result<Register> TomlMapParser::parse_register(const toml::table& t, unsigned default_width) {
  Register r;
  const toml::node* name = t.get("name");
  if (name == nullptr) return error_at(t, "a [[register]] has no name");
  auto s = get_string(*name, "name");
  if (!s) return Error{s.error()};
  r.name = *s;
  if (auto ok = check_keys(
          t, fmt::format("register '{}'", r.name),
          {"name", "offset", "width", "access", "reset", "description", "count", "stride", "fields", "fields_from"});
      !ok)
    return Error{ok.error()};
  const toml::node* offset = t.get("offset");
  if (offset == nullptr) return error_at(t, fmt::format("register '{}' has no offset", r.name));
  auto off = get_uint(*offset, "offset");
  if (!off) return Error{off.error()};
  r.offset = *off;
  unsigned width_bits = default_width;
  if (const toml::node* n = t.get("width")) {
    auto v = get_uint(*n, "width");
    if (!v) return Error{v.error()};
    if (*v != 8 && *v != 16 && *v != 32 && *v != 64) return error_at(*n, "width must be 8, 16, 32 or 64 (bits)");
    width_bits = static_cast<unsigned>(*v);
  }
  r.width = static_cast<uint8_t>(width_bits / 8);
  if (const toml::node* n = t.get("access")) {
    auto v = get_string(*n, "access");
    auto a = v ? parse_reg_access(*v) : std::nullopt;
    if (!a) return error_at(*n, "access must be \"rw\", \"r\", \"w\", \"rc\" or \"w1c\"");
    r.access = *a;
  }
  if (const toml::node* n = t.get("reset")) {
    auto v = get_uint(*n, "reset");
    if (!v) return Error{v.error()};
    r.reset = *v;
  }
  if (const toml::node* n = t.get("description")) {
    auto v = get_string(*n, "description");
    if (!v) return Error{v.error()};
    r.description = *v;
  }
  if (const toml::node* n = t.get("count")) {
    auto count = get_uint(*n, "count");
    if (!count) return Error{count.error()};
    if (*count == 0) return error_at(*n, fmt::format("count of register '{}' is 0", r.name));
    uint64_t stride = r.width;
    if (const toml::node* sn = t.get("stride")) {
      auto v = get_uint(*sn, "stride");
      if (!v) return Error{v.error()};
      stride = *v;
    }
    if (*count > 1) {
      r.dims.push_back({*count, stride});
      r.index_at.push_back(static_cast<uint16_t>(r.name.size()));
    }
  } else if (const toml::node* sn = t.get("stride")) {
    return error_at(*sn, fmt::format("register '{}' has a stride but no count", r.name));
  }
  if (const toml::node* n = t.get("fields_from")) {
    if (t.get("fields") != nullptr) {
      return error_at(*n, fmt::format("register '{}' has both fields and fields_from", r.name));
    }
    auto from = get_string(*n, "fields_from");
    if (!from) return Error{from.error()};
    fields_from_.push_back({r.name, *from, n->source().begin.line});
  }
  if (const toml::node* n = t.get("fields")) {
    const toml::array* fields = n->as_array();
    if (fields == nullptr) return error_at(*n, "fields must be a list of { name = ..., bit = N } tables");
    for (const toml::node& e : *fields) {
      const toml::table* ft = e.as_table();
      if (ft == nullptr) return error_at(e, fmt::format("each field of register '{}' must be a table", r.name));
      auto f = parse_field(*ft, r);
      if (!f) return Error{f.error()};
      r.fields.push_back(std::move(*f));
    }
    std::stable_sort(r.fields.begin(), r.fields.end(), [](const Field& a, const Field& b) { return a.lsb < b.lsb; });
  }
  return r;
}

Result<RegisterMap> TomlMapParser::parse(std::string_view text) {
  toml::table doc;
  try {
    doc = toml::parse(text, name_);
  } catch (const toml::parse_error& e) {
    return make_error(fmt::format("register map '{}' line {}: {}", name_, e.source().begin.line, e.description()));
  }
  RegisterMap map;
  map.source = name_;
  if (auto ok = check_keys(doc, "the map", {"device", "register"}); !ok) return Error{ok.error()};
  unsigned default_width = 32;
  if (const toml::node* d = doc.get("device")) {
    const toml::table* t = d->as_table();
    if (t == nullptr) return error_at(*d, "device must be a table ([device])");
    if (auto ok = parse_device(*t, map); !ok) return Error{ok.error()};
    if (const toml::node* w = t->get("width")) {
      auto v = get_uint(*w, "width");
      if (!v) return Error{v.error()};
      if (*v != 8 && *v != 16 && *v != 32 && *v != 64) return error_at(*w, "width must be 8, 16, 32 or 64 (bits)");
      default_width = static_cast<unsigned>(*v);
    }
  }
  if (map.id.empty()) {
    // The file's name without folders and extension.
    std::string_view base = name_;
    if (size_t slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
    if (size_t dot = base.find('.'); dot != std::string_view::npos) base = base.substr(0, dot);
    map.id = base;
  }
  const toml::node* regs = doc.get("register");
  if (regs == nullptr) return error("it has no [[register]] tables");
  const toml::array* list = regs->as_array();
  if (list == nullptr) return error_at(*regs, "register must be an array of tables ([[register]])");
  for (const toml::node& e : *list) {
    const toml::table* t = e.as_table();
    if (t == nullptr) return error_at(e, "each register must be a table ([[register]])");
    auto r = parse_register(*t, default_width);
    if (!r) return Error{r.error()};
    map.registers.push_back(std::move(*r));
  }
  std::unordered_map<std::string, size_t> by_name;
  for (size_t i = 0; i < map.registers.size(); ++i) {
    if (!by_name.emplace(map.registers[i].name, i).second)
      return error(fmt::format("two registers are named '{}'", map.registers[i].name));
  }
  // fields_from = "ICR": the fields of that register (which has its own), for
  // registers with one layout (ICR, ICS, IMS, IMC).
  for (const FieldsFrom& f : fields_from_) {
    auto from = by_name.find(f.from);
    if (from == by_name.end() || map.registers[from->second].fields.empty()) {
      return make_error(
          fmt::format("register map '{}' line {}: fields_from = \"{}\" of register '{}' names no "
                      "register with fields",
                      name_, f.line, f.from, f.reg));
    }
    Register& r = map.registers[by_name.at(f.reg)];
    r.fields = map.registers[from->second].fields;
  }
  return map;
}

}  // namespace

Result<RegisterMap> parse_toml_map(std::string_view text, std::string_view name) {
  return TomlMapParser(name).parse(text);
}

}  // namespace mmiotrace::analysis
