// CMSIS-SVD import (Arm's System View Description, CMSIS-SVD.xsd 1.3): one
// RegisterMap per peripheral, its offsets relative to the peripheral's
// baseAddress (the default binding, bind.h), read with pugixml.
//
// Every element is checked against the schema's list for its parent: an
// element the schema does not have (a typo such as <adressOffset>, or an
// extension outside <vendorExtensions>) is an error naming its line, never
// passed over. What is imported: peripherals (derivedFrom, dim arrays),
// clusters (nested, dim), registers (dim arrays "NAME[%s]" or lists
// "NAME%s", derivedFrom in the same peripheral), size/access/resetValue
// inheritance, fields (bitOffset+bitWidth, lsb+msb, bitRange),
// enumeratedValues (values with don't-care bits expanded). Names inside a
// cluster are "CLUSTER.REGISTER".
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <pugixml.hpp>

#include "analysis/regmap.h"

namespace mmiotrace::analysis {

namespace {

const std::initializer_list<std::string_view> kRegisterProperties = {"size", "access", "protection", "resetValue",
                                                                     "resetMask"};
const std::initializer_list<std::string_view> kDimElements = {"dim", "dimIncrement", "dimIndex", "dimName",
                                                              "dimArrayIndex"};

struct Properties {
  unsigned size_bits = 32;
  RegAccess access = RegAccess::UNSPECIFIED;
  std::optional<uint64_t> reset;
};

class SvdImporter {
 public:
  SvdImporter(std::string_view xml, std::string_view name) : xml_(xml), name_(name) {}
  Result<std::vector<RegisterMap>> run(std::string_view peripheral);

 private:
  unsigned line_of(const pugi::xml_node& node) const {
    const auto offset = static_cast<size_t>(std::max<ptrdiff_t>(0, node.offset_debug()));
    return 1 + static_cast<unsigned>(std::count(xml_.begin(), xml_.begin() + std::min(offset, xml_.size()), '\n'));
  }
  Error error_at(const pugi::xml_node& node, const std::string& what) const {
    return make_error(fmt::format("SVD file '{}' line {}: {}", name_, line_of(node), what));
  }
  Result<void> check_children(const pugi::xml_node& node, std::initializer_list<std::string_view> a,
                              std::initializer_list<std::string_view> b = {},
                              std::initializer_list<std::string_view> c = {}) const;
  Result<uint64_t> number(const pugi::xml_node& node) const;
  Result<uint64_t> child_number(const pugi::xml_node& parent, const char* name) const;
  Result<void> read_properties(const pugi::xml_node& node, Properties& p) const;
  Result<std::vector<std::string>> dim_names(const pugi::xml_node& node, uint64_t dim) const;

  Result<void> import_peripheral(const pugi::xml_node& p, const pugi::xml_node& registers_from, Properties props,
                                 RegisterMap& map);
  Result<void> import_block(const pugi::xml_node& registers, const std::string& prefix, uint64_t base,
                            const Properties& props, RegisterMap& map);
  Result<void> import_register(const pugi::xml_node& r, const pugi::xml_node& scope, const std::string& prefix,
                               uint64_t base, const Properties& props, RegisterMap& map);
  Result<void> import_fields(const pugi::xml_node& fields, const pugi::xml_node& scope, Register& reg);
  Result<void> import_enums(const pugi::xml_node& values, const pugi::xml_node& scope, Field& f);

  std::string_view xml_;
  std::string name_;
  std::map<std::string, pugi::xml_node> peripherals_;
  pugi::xml_node scope_;  // the peripheral whose registers are read: derivedFrom names are looked up in it
};

Result<void> SvdImporter::check_children(const pugi::xml_node& node, std::initializer_list<std::string_view> a,
                                         std::initializer_list<std::string_view> b,
                                         std::initializer_list<std::string_view> c) const {
  for (const pugi::xml_node& child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    const std::string_view n = child.name();
    auto in = [&](std::initializer_list<std::string_view> list) {
      return std::find(list.begin(), list.end(), n) != list.end();
    };
    if (in(a) || in(b) || in(c)) continue;
    const char* owner = node.child_value("name");
    return error_at(child, fmt::format("unknown element <{}> in <{}>{}{}; CMSIS-SVD 1.3 has no such element there", n,
                                       node.name(), *owner != '\0' ? " " : "", owner));
  }
  return {};
}

// scaledNonNegativeInteger: decimal, 0x hex, # binary, with an optional k/M/G/T scale.
Result<uint64_t> SvdImporter::number(const pugi::xml_node& node) const {
  std::string text = node.child_value();
  text.erase(std::remove_if(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); }), text.end());
  auto bad = [&] { return error_at(node, fmt::format("<{}> '{}' is not a number", node.name(), text)); };
  if (text.empty()) return bad();
  uint64_t scale = 1;
  const size_t unit = std::string_view("kmgt").find(static_cast<char>(std::tolower(text.back())));
  if (unit != std::string_view::npos) scale = uint64_t{1} << (10 * (unit + 1));  // k, M, G, T
  int base = 10;
  std::string_view digits = text;
  if (scale != 1) digits.remove_suffix(1);
  if (digits.substr(0, 2) == "0x" || digits.substr(0, 2) == "0X") {
    base = 16;
    digits.remove_prefix(2);
  } else if (digits.substr(0, 1) == "#") {
    base = 2;
    digits.remove_prefix(1);
  }
  if (digits.empty()) return bad();
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (ec != std::errc() || end != digits.data() + digits.size()) return bad();
  return v * scale;
}

Result<uint64_t> SvdImporter::child_number(const pugi::xml_node& parent, const char* name) const {
  pugi::xml_node n = parent.child(name);
  if (!n) {
    return error_at(parent, fmt::format("<{}> {} has no <{}>", parent.name(), parent.child_value("name"), name));
  }
  return number(n);
}

std::optional<RegAccess> svd_access(std::string_view text) {
  if (text == "read-only") return RegAccess::READ_ONLY;
  if (text == "write-only" || text == "writeOnce") return RegAccess::WRITE_ONLY;
  if (text == "read-write" || text == "read-writeOnce") return RegAccess::READ_WRITE;
  return std::nullopt;
}

Result<void> SvdImporter::read_properties(const pugi::xml_node& node, Properties& p) const {
  if (pugi::xml_node n = node.child("size")) {
    auto v = number(n);
    if (!v) return Error{v.error()};
    if (*v != 8 && *v != 16 && *v != 32 && *v != 64)
      return error_at(n, fmt::format("<size> {} is not 8, 16, 32 or 64", *v));
    p.size_bits = static_cast<unsigned>(*v);
  }
  if (pugi::xml_node n = node.child("access")) {
    auto a = svd_access(n.child_value());
    if (!a) return error_at(n, fmt::format("<access> '{}' is not one the schema has", n.child_value()));
    p.access = *a;
  }
  if (pugi::xml_node n = node.child("resetValue")) {
    auto v = number(n);
    if (!v) return Error{v.error()};
    p.reset = *v;
  }
  return {};
}

// The names of the elements of a dim array: <dimIndex> "0-3", "A-D" or "A,B,C", else 0..dim-1.
Result<std::vector<std::string>> SvdImporter::dim_names(const pugi::xml_node& node, uint64_t dim) const {
  std::vector<std::string> names;
  pugi::xml_node index = node.child("dimIndex");
  if (!index) {
    for (uint64_t i = 0; i < dim; ++i) names.push_back(std::to_string(i));
    return names;
  }
  const std::string text = index.child_value();
  const size_t dash = text.find('-');
  if (dash != std::string::npos && text.find(',') == std::string::npos) {
    const std::string first = text.substr(0, dash), last = text.substr(dash + 1);
    if (first.size() == 1 && last.size() == 1 && std::isalpha(static_cast<unsigned char>(first[0]))) {
      for (char ch = first[0]; ch <= last[0]; ++ch) names.emplace_back(1, ch);
    } else {
      uint64_t a = 0, b = 0;
      auto ra = std::from_chars(first.data(), first.data() + first.size(), a);
      auto rb = std::from_chars(last.data(), last.data() + last.size(), b);
      if (ra.ec != std::errc() || rb.ec != std::errc() || b < a) return error_at(index, "bad <dimIndex> range");
      for (uint64_t i = a; i <= b; ++i) names.push_back(std::to_string(i));
    }
  } else {
    size_t start = 0;
    while (start <= text.size()) {
      const size_t comma = std::min(text.find(',', start), text.size());
      names.push_back(text.substr(start, comma - start));
      start = comma + 1;
    }
  }
  if (names.size() != dim) {
    return error_at(index, fmt::format("<dimIndex> names {} elements, <dim> says {}", names.size(), dim));
  }
  return names;
}

Result<void> SvdImporter::import_enums(const pugi::xml_node& values, const pugi::xml_node& scope, Field& f) {
  pugi::xml_node source = values;
  if (const char* from = values.attribute("derivedFrom").value(); *from != '\0') {
    source = scope.find_node([&](const pugi::xml_node& n) {
      return std::string_view(n.name()) == "enumeratedValues" && std::string_view(n.child_value("name")) == from;
    });
    if (!source)
      return error_at(values, fmt::format("enumeratedValues derivedFrom '{}': no such enumeratedValues", from));
  }
  if (auto ok = check_children(source, {"name", "headerEnumName", "usage", "enumeratedValue"}); !ok) return ok;
  for (const pugi::xml_node& v : source.children("enumeratedValue")) {
    if (auto ok = check_children(v, {"name", "description", "value", "isDefault"}); !ok) return ok;
    pugi::xml_node value = v.child("value");
    if (!value) continue;  // isDefault: names every other value; nothing to look up
    std::string text = value.child_value();
    text.erase(std::remove_if(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); }), text.end());
    // Binary with don't-care bits ("#1x0", "0b1x0"): every value it stands for.
    std::string_view bin;
    if (text.substr(0, 1) == "#") bin = std::string_view(text).substr(1);
    if (text.substr(0, 2) == "0b" || text.substr(0, 2) == "0B") bin = std::string_view(text).substr(2);
    std::vector<uint64_t> expanded;
    if (!bin.empty()) {
      expanded.push_back(0);
      for (char ch : bin) {
        std::vector<uint64_t> next;
        for (uint64_t e : expanded) {
          if (ch == '0' || ch == 'x' || ch == 'X') next.push_back(e << 1);
          if (ch == '1' || ch == 'x' || ch == 'X') next.push_back((e << 1) | 1);
          if (ch != '0' && ch != '1' && ch != 'x' && ch != 'X') return error_at(value, "bad binary enumerated value");
        }
        expanded = std::move(next);
        if (expanded.size() > 256) return error_at(value, "too many don't-care bits in an enumerated value");
      }
    } else {
      auto n = number(value);
      if (!n) return Error{n.error()};
      expanded.push_back(*n);
    }
    for (uint64_t e : expanded) f.values.push_back({v.child_value("name"), e, v.child_value("description"), {}});
  }
  return {};
}

Result<void> SvdImporter::import_fields(const pugi::xml_node& fields, const pugi::xml_node& scope, Register& reg) {
  if (auto ok = check_children(fields, {"field"}); !ok) return ok;
  for (const pugi::xml_node& fx : fields.children("field")) {
    if (auto ok = check_children(fx,
                                 {"name", "description", "bitOffset", "bitWidth", "lsb", "msb", "bitRange", "access",
                                  "modifiedWriteValues", "writeConstraint", "readAction", "enumeratedValues"},
                                 kDimElements);
        !ok)
      return ok;
    Field f;
    f.name = fx.child_value("name");
    f.description = fx.child_value("description");
    uint64_t lsb = 0, msb = 0;
    if (fx.child("bitOffset")) {
      auto off = number(fx.child("bitOffset"));
      if (!off) return Error{off.error()};
      uint64_t width = 1;
      if (fx.child("bitWidth")) {
        auto w = number(fx.child("bitWidth"));
        if (!w) return Error{w.error()};
        width = *w;
      }
      if (width == 0 || width > 64) return error_at(fx, fmt::format("field {} has bitWidth {}", f.name, width));
      lsb = *off;
      msb = *off + width - 1;
    } else if (fx.child("lsb") && fx.child("msb")) {
      auto l = number(fx.child("lsb"));
      auto m = number(fx.child("msb"));
      if (!l) return Error{l.error()};
      if (!m) return Error{m.error()};
      lsb = *l;
      msb = *m;
    } else if (pugi::xml_node range = fx.child("bitRange")) {
      const std::string text = range.child_value();
      unsigned m = 0, l = 0;
      if (std::sscanf(text.c_str(), "[%u:%u]", &m, &l) != 2) return error_at(range, "bitRange is not [MSB:LSB]");
      msb = m;
      lsb = l;
    } else {
      return error_at(fx, fmt::format("field {} has no bitOffset, lsb/msb or bitRange", f.name));
    }
    if (lsb > msb || msb > 63) return error_at(fx, fmt::format("field {} has bits {}:{}", f.name, msb, lsb));
    f.lsb = static_cast<uint8_t>(lsb);
    f.msb = static_cast<uint8_t>(msb);
    if (pugi::xml_node a = fx.child("access")) {
      auto access = svd_access(a.child_value());
      if (!access) return error_at(a, fmt::format("<access> '{}' is not one the schema has", a.child_value()));
      f.access = *access;
    }
    if (std::string_view(fx.child_value("modifiedWriteValues")) == "oneToClear") f.access = RegAccess::WRITE_1_CLEAR;
    if (std::string_view(fx.child_value("readAction")) == "clear") f.access = RegAccess::READ_CLEAR;
    for (const pugi::xml_node& values : fx.children("enumeratedValues")) {
      if (auto ok = import_enums(values, scope, f); !ok) return ok;
    }
    f.format = f.values.empty() && f.bits() == 1 ? FieldFormat::BOOL : FieldFormat::HEX;
    reg.fields.push_back(std::move(f));
  }
  std::stable_sort(reg.fields.begin(), reg.fields.end(), [](const Field& a, const Field& b) { return a.lsb < b.lsb; });
  return {};
}

Result<void> SvdImporter::import_register(const pugi::xml_node& r0, const pugi::xml_node& scope,
                                          const std::string& prefix, uint64_t base, const Properties& inherited,
                                          RegisterMap& map) {
  if (auto ok =
          check_children(r0,
                         {"name", "displayName", "description", "alternateGroup", "alternateRegister", "addressOffset",
                          "dataType", "modifiedWriteValues", "writeConstraint", "readAction", "fields"},
                         kRegisterProperties, kDimElements);
      !ok)
    return ok;
  // derivedFrom: the named register of the same peripheral gives what this one does not say.
  pugi::xml_node from;
  if (const char* name = r0.attribute("derivedFrom").value(); *name != '\0') {
    from = scope.find_node([&](const pugi::xml_node& n) {
      return std::string_view(n.name()) == "register" && std::string_view(n.child_value("name")) == name;
    });
    if (!from) return error_at(r0, fmt::format("register derivedFrom '{}': no such register in this peripheral", name));
  }
  auto pick = [&](const char* child) { return r0.child(child) ? r0.child(child) : from.child(child); };
  Properties props = inherited;
  if (from) {
    if (auto ok = read_properties(from, props); !ok) return ok;
  }
  if (auto ok = read_properties(r0, props); !ok) return ok;
  Register reg;
  reg.width = static_cast<uint8_t>(props.size_bits / 8);
  reg.access = props.access;
  reg.reset = props.reset;
  if (reg.reset && reg.width < 8) *reg.reset &= (uint64_t{1} << (reg.width * 8)) - 1;
  reg.description = pick("description").child_value();
  if (std::string_view(pick("modifiedWriteValues").child_value()) == "oneToClear")
    reg.access = RegAccess::WRITE_1_CLEAR;
  if (std::string_view(pick("readAction").child_value()) == "clear") reg.access = RegAccess::READ_CLEAR;
  if (pugi::xml_node fields = pick("fields")) {
    if (auto ok = import_fields(fields, scope, reg); !ok) return ok;
  }
  if (!r0.child("addressOffset"))
    return error_at(r0, fmt::format("register {} has no <addressOffset>", r0.child_value("name")));
  auto offset = number(r0.child("addressOffset"));
  if (!offset) return Error{offset.error()};
  const std::string name = r0.child_value("name");
  if (!r0.child("dim")) {
    reg.name = prefix + name;
    reg.offset = base + *offset;
    map.registers.push_back(std::move(reg));
    return {};
  }
  auto dim = child_number(r0, "dim");
  auto inc = child_number(r0, "dimIncrement");
  if (!dim) return Error{dim.error()};
  if (!inc) return Error{inc.error()};
  if (size_t at = name.find("[%s]"); at != std::string::npos) {
    // An array: one register with a dimension.
    reg.name = prefix + name.substr(0, at) + name.substr(at + 4);
    reg.index_at.push_back(static_cast<uint16_t>(prefix.size() + at));
    reg.dims.push_back({*dim, *inc});
    reg.offset = base + *offset;
    map.registers.push_back(std::move(reg));
    return {};
  }
  // A list: one register per element, %s replaced by the element's name.
  auto names = dim_names(r0, *dim);
  if (!names) return Error{names.error()};
  for (uint64_t i = 0; i < *dim; ++i) {
    Register e = reg;
    std::string n = name;
    if (size_t at = n.find("%s"); at != std::string::npos) n.replace(at, 2, (*names)[i]);
    e.name = prefix + n;
    e.offset = base + *offset + i * *inc;
    map.registers.push_back(std::move(e));
  }
  return {};
}

Result<void> SvdImporter::import_block(const pugi::xml_node& block, const std::string& prefix, uint64_t base,
                                       const Properties& props, RegisterMap& map) {
  for (const pugi::xml_node& child : block.children()) {
    if (child.type() != pugi::node_element) continue;
    const std::string_view n = child.name();
    if (n == "register") {
      if (auto ok = import_register(child, scope_, prefix, base, props, map); !ok) return ok;
    } else if (n == "cluster") {
      if (auto ok = check_children(
              child,
              {"name", "description", "alternateCluster", "headerStructName", "addressOffset", "register", "cluster"},
              kRegisterProperties, kDimElements);
          !ok)
        return ok;
      Properties cp = props;
      if (auto ok = read_properties(child, cp); !ok) return ok;
      auto offset = child_number(child, "addressOffset");
      if (!offset) return Error{offset.error()};
      std::string name = child.child_value("name");
      uint64_t dim = 1, inc = 0;
      if (child.child("dim")) {
        auto d = child_number(child, "dim");
        auto i = child_number(child, "dimIncrement");
        if (!d) return Error{d.error()};
        if (!i) return Error{i.error()};
        dim = *d;
        inc = *i;
      }
      auto names = dim_names(child, dim);
      if (!names) return Error{names.error()};
      for (uint64_t i = 0; i < dim; ++i) {
        std::string element = name;
        if (size_t at = element.find("[%s]"); at != std::string::npos) {
          element.replace(at, 4, "[" + (*names)[i] + "]");
        } else if (size_t at2 = element.find("%s"); at2 != std::string::npos) {
          element.replace(at2, 2, (*names)[i]);
        }
        if (auto ok = import_block(child, prefix + element + ".", base + *offset + i * inc, cp, map); !ok) return ok;
      }
    }
  }
  return {};
}

Result<void> SvdImporter::import_peripheral(const pugi::xml_node& p, const pugi::xml_node& registers_from,
                                            Properties props, RegisterMap& map) {
  if (auto ok = read_properties(p, props); !ok) return ok;
  uint64_t size = 0;
  for (const pugi::xml_node& block : p.children("addressBlock")) {
    if (auto ok = check_children(block, {"offset", "size", "usage", "protection"}); !ok) return ok;
    auto off = child_number(block, "offset");
    auto sz = child_number(block, "size");
    if (!off) return Error{off.error()};
    if (!sz) return Error{sz.error()};
    size = std::max(size, *off + *sz);
  }
  pugi::xml_node regs = p.child("registers") ? p.child("registers") : registers_from.child("registers");
  scope_ = p.child("registers") ? p : registers_from;
  if (!regs) return error_at(p, fmt::format("peripheral {} has no <registers>", p.child_value("name")));
  if (auto ok = check_children(regs, {"register", "cluster"}); !ok) return ok;
  if (auto ok = import_block(regs, "", 0, props, map); !ok) return ok;
  map.size = std::max(size, map.extent());
  return {};
}

Result<std::vector<RegisterMap>> SvdImporter::run(std::string_view peripheral) {
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_buffer(xml_.data(), xml_.size());
  if (!parsed) {
    const size_t offset = static_cast<size_t>(std::max<ptrdiff_t>(0, parsed.offset));
    const unsigned line =
        1 + static_cast<unsigned>(std::count(xml_.begin(), xml_.begin() + std::min(offset, xml_.size()), '\n'));
    return make_error(fmt::format("SVD file '{}' line {}: {}", name_, line, parsed.description()));
  }
  pugi::xml_node device = doc.child("device");
  if (!device) return make_error(fmt::format("SVD file '{}' has no <device> root element", name_));
  if (auto ok = check_children(device,
                               {"vendor", "vendorID", "name", "series", "version", "description", "licenseText", "cpu",
                                "headerSystemFilename", "headerDefinitionsPrefix", "addressUnitBits", "width",
                                "peripherals", "vendorExtensions"},
                               kRegisterProperties);
      !ok)
    return Error{ok.error()};
  if (pugi::xml_node unit = device.child("addressUnitBits")) {
    auto bits = number(unit);
    if (!bits) return Error{bits.error()};
    if (*bits != 8)
      return error_at(unit, fmt::format("addressUnitBits is {}; only byte-addressed devices (8) are supported", *bits));
  }
  Properties props;
  if (auto ok = read_properties(device, props); !ok) return Error{ok.error()};
  pugi::xml_node list = device.child("peripherals");
  if (!list) return error_at(device, "<device> has no <peripherals>");
  if (auto ok = check_children(list, {"peripheral"}); !ok) return Error{ok.error()};
  for (const pugi::xml_node& p : list.children("peripheral")) peripherals_[p.child_value("name")] = p;

  std::vector<RegisterMap> maps;
  for (const pugi::xml_node& p : list.children("peripheral")) {
    if (auto ok = check_children(
            p,
            {"name", "version", "description", "alternatePeripheral", "groupName", "prependToName", "appendToName",
             "headerStructName", "disableCondition", "baseAddress", "addressBlock", "interrupt", "registers"},
            kRegisterProperties, kDimElements);
        !ok)
      return Error{ok.error()};
    const std::string name = p.child_value("name");
    if (!peripheral.empty() && name != peripheral) continue;
    pugi::xml_node from = p;
    Properties inherited = props;
    if (const char* base_name = p.attribute("derivedFrom").value(); *base_name != '\0') {
      auto it = peripherals_.find(base_name);
      if (it == peripherals_.end()) {
        return error_at(p, fmt::format("peripheral {} derivedFrom '{}': no such peripheral", name, base_name));
      }
      from = it->second;
      if (auto ok = read_properties(from, inherited); !ok) return Error{ok.error()};
    }
    RegisterMap map;
    map.id = name;
    map.name = fmt::format("{} {}", device.child_value("name"), name);
    map.description = p.child_value("description");
    if (map.description.empty()) map.description = from.child_value("description");
    map.shared_bytes = true;  // alternateRegister/alternateGroup describe one address twice
    auto base = child_number(p, "baseAddress");
    if (!base) return Error{base.error()};
    map.base = *base;
    if (p.child("dim"))
      return error_at(p, fmt::format("peripheral arrays (<dim> in peripheral {}) are not supported", name));
    if (auto ok = import_peripheral(p, from, inherited, map); !ok) return Error{ok.error()};
    maps.push_back(std::move(map));
  }
  if (maps.empty()) {
    if (!peripheral.empty()) {
      std::string names;
      for (const auto& [n, node] : peripherals_) names += fmt::format("{}{}", names.empty() ? "" : ", ", n);
      return make_error(fmt::format("SVD file '{}' has no peripheral '{}' (it has {})", name_, peripheral, names));
    }
    return make_error(fmt::format("SVD file '{}' has no peripherals", name_));
  }
  return maps;
}

}  // namespace

Result<std::vector<RegisterMap>> import_svd(std::string_view xml, std::string_view name, std::string_view peripheral) {
  return SvdImporter(xml, name).run(peripheral);
}

}  // namespace mmiotrace::analysis
