// Parsing an rnndb database (rnndb_db.h) with pugixml, as envytools rnn/rnn.c
// does: top-level entities anywhere, merged by name; imports once each, looked
// up from the database's root folder. Unknown tags and attributes are errors
// naming the file and line.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "analysis/rnndb_db.h"

namespace mmiotrace::analysis::rnndb {

Result<uint64_t> RnnParser::num(const pugi::xml_node& node, const pugi::xml_attribute& a) const {
  std::string_view text = a.value();
  int base = 10;
  // rnn reads a number with an 'x' in it as hex (strtoull base 16), others as decimal.
  if (text.find_first_of("xX") != std::string_view::npos) {
    base = 16;
    if (text.substr(0, 2) == "0x" || text.substr(0, 2) == "0X") text.remove_prefix(2);
  }
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return error_at(node,
                    fmt::format("invalid number \"{}\" in attribute {} of <{}>", a.value(), a.name(), node.name()));
  }
  return v;
}

Result<bool> RnnParser::boolean(const pugi::xml_node& node, const pugi::xml_attribute& a) const {
  const std::string_view v = a.value();
  if (v == "yes" || v == "1") return true;
  if (v == "no" || v == "0") return false;
  return error_at(node, fmt::format("invalid boolean \"{}\" in attribute {}", v, a.name()));
}

Result<bool> RnnParser::try_var(const pugi::xml_node&, const pugi::xml_attribute& a, VarInfo& vi) const {
  const std::string_view n = a.name();
  if (n == "prefix") {
    vi.prefix = a.value();
  } else if (n == "varset") {
    vi.varset = a.value();
  } else if (n == "variants") {
    vi.variants = a.value();
  } else {
    return false;
  }
  return true;
}

Result<bool> RnnParser::try_type_attr(const pugi::xml_node& node, const pugi::xml_attribute& a, TypeInfo& ti) const {
  const std::string_view n = a.name();
  if (n == "type") {
    ti.type = a.value();
    return true;
  }
  if (n == "shr" || n == "add" || n == "min" || n == "max" || n == "align" || n == "radix") {
    auto v = num(node, a);
    if (!v) return Error{v.error()};
    if (n == "shr") ti.shr = *v;
    if (n == "add") ti.add = *v;
    return true;
  }
  return false;
}

Result<RnnValue> RnnParser::parse_value(const pugi::xml_node& n) {
  RnnValue v;
  for (const pugi::xml_attribute& a : n.attributes()) {
    const std::string_view an = a.name();
    if (an == "name") {
      v.name = a.value();
    } else if (an == "value") {
      auto x = num(n, a);
      if (!x) return Error{x.error()};
      v.value = *x;
      v.valid = true;
    } else if (an == "varset" || an == "variants") {
      (void)try_var(n, a, v.vi);
    } else {
      return error_at(n, fmt::format("unknown attribute {} of <value>", an));
    }
  }
  if (auto ok = parse_children(n, nullptr, nullptr, nullptr, nullptr); !ok) return Error{ok.error()};
  if (v.name.empty()) return error_at(n, "a <value> has no name");
  return v;
}

Result<RnnBitfield> RnnParser::parse_bitfield(const pugi::xml_node& n) {
  RnnBitfield bf;
  bool low = false, high = false;
  for (const pugi::xml_attribute& a : n.attributes()) {
    const std::string_view an = a.name();
    if (an == "name") {
      bf.name = a.value();
    } else if (an == "low" || an == "high" || an == "pos") {
      auto x = num(n, a);
      if (!x) return Error{x.error()};
      if (an != "high") bf.low = static_cast<unsigned>(*x), low = true;
      if (an != "low") bf.high = static_cast<unsigned>(*x), high = true;
    } else if (an == "varset" || an == "variants") {
      (void)try_var(n, a, bf.vi);
    } else {
      auto t = try_type_attr(n, a, bf.ti);
      if (!t) return Error{t.error()};
      if (!*t) return error_at(n, fmt::format("unknown attribute {} of <bitfield>", an));
    }
  }
  if (auto ok = parse_children(n, nullptr, &bf.ti, nullptr, nullptr); !ok) return Error{ok.error()};
  if (bf.name.empty()) return error_at(n, "a <bitfield> has no name");
  if (!low || !high || bf.high < bf.low || bf.high > 63)
    return error_at(n, fmt::format("bitfield {} has wrong placement", bf.name));
  return bf;
}

Result<std::optional<RnnElem>> RnnParser::try_elem(const pugi::xml_node& n) {
  const std::string_view tag = n.name();
  RnnElem e;
  if (tag == "use-group") {
    e.kind = RnnElem::Kind::USE_GROUP;
  } else if (tag == "array" || tag == "stripe") {
    e.kind = tag == "array" ? RnnElem::Kind::ARRAY : RnnElem::Kind::STRIPE;
  } else if (tag == "reg8" || tag == "reg16" || tag == "reg32" || tag == "reg64") {
    e.kind = RnnElem::Kind::REG;
    e.width = tag == "reg8" ? 8 : tag == "reg16" ? 16 : tag == "reg32" ? 32 : 64;
  } else {
    return std::optional<RnnElem>{};
  }
  for (const pugi::xml_attribute& a : n.attributes()) {
    const std::string_view an = a.name();
    if (an == "name") {
      e.name = a.value();
      continue;
    }
    if (e.kind == RnnElem::Kind::USE_GROUP) return error_at(n, fmt::format("unknown attribute {} of <use-group>", an));
    if (an == "offset" || an == "length" || an == "stride") {
      auto x = num(n, a);
      if (!x) return Error{x.error()};
      (an == "offset" ? e.offset : an == "length" ? e.length : e.stride) = *x;
    } else if (an == "prefix" || an == "varset" || an == "variants") {
      (void)try_var(n, a, e.vi);
    } else if (e.kind == RnnElem::Kind::REG && an == "access") {
      const std::string_view v = a.value();
      e.access = v == "r" ? RegAccess::READ_ONLY : v == "w" ? RegAccess::WRITE_ONLY : RegAccess::READ_WRITE;
    } else if (e.kind == RnnElem::Kind::REG) {
      auto t = try_type_attr(n, a, e.ti);
      if (!t) return Error{t.error()};
      if (!*t) return error_at(n, fmt::format("unknown attribute {} of <{}>", an, tag));
    } else {
      return error_at(n, fmt::format("unknown attribute {} of <{}>", an, tag));
    }
  }
  // A nameless <array> exists (bus/pci.xml); demmio prints its name with
  // printf's %s of a null pointer, which glibc writes "(null)". So do we.
  if (e.name.empty() && e.kind == RnnElem::Kind::ARRAY) e.name = "(null)";
  if (e.name.empty() && e.kind != RnnElem::Kind::STRIPE) return error_at(n, fmt::format("a <{}> has no name", tag));
  if (e.kind == RnnElem::Kind::ARRAY && e.stride == 0)
    return error_at(n, fmt::format("array {} has no stride", e.name));
  auto ok = e.kind == RnnElem::Kind::REG         ? parse_children(n, nullptr, &e.ti, nullptr, nullptr)
            : e.kind == RnnElem::Kind::USE_GROUP ? parse_children(n, nullptr, nullptr, nullptr, nullptr)
                                                 : parse_children(n, &e.sub, nullptr, nullptr, nullptr);
  if (!ok) return Error{ok.error()};
  return std::optional<RnnElem>{std::move(e)};
}

// Children of `n`: elements (if `elems`), type tags (if `ti`), values (if
// `values`), bitfields (if `bitfields`), top-level entities and docs anywhere.
Result<void> RnnParser::parse_children(const pugi::xml_node& n, std::vector<RnnElem>* elems, TypeInfo* ti,
                                       std::vector<RnnValue>* values, std::vector<RnnBitfield>* bitfields) {
  for (const pugi::xml_node& c : n.children()) {
    if (c.type() != pugi::node_element || is_doc(c)) continue;
    const std::string_view tag = c.name();
    if (elems != nullptr) {
      auto e = try_elem(c);
      if (!e) return Error{e.error()};
      if (*e) {
        elems->push_back(std::move(**e));
        continue;
      }
    }
    if ((ti != nullptr || values != nullptr) && tag == "value") {
      auto v = parse_value(c);
      if (!v) return Error{v.error()};
      (ti != nullptr ? ti->values : *values).push_back(std::move(*v));
      continue;
    }
    if ((ti != nullptr || bitfields != nullptr) && tag == "bitfield") {
      auto b = parse_bitfield(c);
      if (!b) return Error{b.error()};
      (ti != nullptr ? ti->bitfields : *bitfields).push_back(std::move(*b));
      continue;
    }
    auto top = try_top(c);
    if (!top) return Error{top.error()};
    if (!*top) return error_at(c, fmt::format("unknown tag <{}> in <{}>", tag, n.name()));
  }
  return {};
}

Result<void> RnnParser::parse_enum(const pugi::xml_node& n) {
  std::string name;
  RnnEnum e;
  for (const pugi::xml_attribute& a : n.attributes()) {
    const std::string_view an = a.name();
    if (an == "name") {
      name = a.value();
    } else if (an == "inline" || an == "bare") {
      auto b = boolean(n, a);
      if (!b) return Error{b.error()};
      if (an == "inline") e.isinline = *b;
    } else if (an == "prefix" || an == "varset" || an == "variants") {
      (void)try_var(n, a, e.vi);
    } else {
      return error_at(n, fmt::format("unknown attribute {} of <enum>", an));
    }
  }
  if (name.empty()) return error_at(n, "an <enum> has no name");
  RnnEnum& target = db_.enums.try_emplace(name, e).first->second;
  return parse_children(n, nullptr, nullptr, &target.values, nullptr);
}

Result<void> RnnParser::parse_bitset(const pugi::xml_node& n) {
  std::string name;
  RnnBitset b;
  for (const pugi::xml_attribute& a : n.attributes()) {
    const std::string_view an = a.name();
    if (an == "name") {
      name = a.value();
    } else if (an == "inline" || an == "bare") {
      auto v = boolean(n, a);
      if (!v) return Error{v.error()};
      if (an == "inline") b.isinline = *v;
    } else if (an == "prefix" || an == "varset" || an == "variants") {
      (void)try_var(n, a, b.vi);
    } else {
      return error_at(n, fmt::format("unknown attribute {} of <bitset>", an));
    }
  }
  if (name.empty()) return error_at(n, "a <bitset> has no name");
  RnnBitset& target = db_.bitsets.try_emplace(name, b).first->second;
  return parse_children(n, nullptr, nullptr, nullptr, &target.bitfields);
}

Result<void> RnnParser::parse_domain(const pugi::xml_node& n) {
  std::string name;
  RnnDomain d;
  for (const pugi::xml_attribute& a : n.attributes()) {
    const std::string_view an = a.name();
    if (an == "name") {
      name = a.value();
    } else if (an == "bare") {
      auto v = boolean(n, a);
      if (!v) return Error{v.error()};
      d.bare = *v;
    } else if (an == "size") {
      continue;  // below: a domain declared again may give its size once
    } else if (an == "width") {
      auto v = num(n, a);
      if (!v) return Error{v.error()};
      d.width = static_cast<unsigned>(*v);
    } else if (an == "prefix" || an == "varset" || an == "variants") {
      (void)try_var(n, a, d.vi);
    } else {
      return error_at(n, fmt::format("unknown attribute {} of <domain>", an));
    }
  }
  if (name.empty()) return error_at(n, "a <domain> has no name");
  uint64_t size = 0;
  if (pugi::xml_attribute s = n.attribute("size")) {
    auto v = num(n, s);
    if (!v) return Error{v.error()};
    size = *v;
  }
  auto [it, fresh] = db_.domains.try_emplace(name, d);
  if (fresh) db_.domain_order.push_back(name);
  RnnDomain& target = it->second;
  if (!fresh && (target.width != d.width || target.vi.prefix != d.vi.prefix || target.bare != d.bare)) {
    return error_at(n, fmt::format("domain {} is declared twice with different attributes", name));
  }
  if (size != 0) target.size = size;
  return parse_children(n, &target.elems, nullptr, nullptr, nullptr);
}

Result<void> RnnParser::parse_group(const pugi::xml_node& n) {
  std::string name;
  for (const pugi::xml_attribute& a : n.attributes()) {
    if (std::string_view(a.name()) != "name")
      return error_at(n, fmt::format("unknown attribute {} of <group>", a.name()));
    name = a.value();
  }
  if (name.empty()) return error_at(n, "a <group> has no name");
  return parse_children(n, &db_.groups[name], nullptr, nullptr, nullptr);
}

Result<void> RnnParser::parse_spectype(const pugi::xml_node& n) {
  std::string name;
  TypeInfo ti;
  for (const pugi::xml_attribute& a : n.attributes()) {
    if (std::string_view(a.name()) == "name") {
      name = a.value();
      continue;
    }
    auto t = try_type_attr(n, a, ti);
    if (!t) return Error{t.error()};
    if (!*t) return error_at(n, fmt::format("unknown attribute {} of <spectype>", a.name()));
  }
  if (name.empty()) return error_at(n, "a <spectype> has no name");
  if (auto ok = parse_children(n, nullptr, &ti, nullptr, nullptr); !ok) return ok;
  db_.spectypes[name] = std::move(ti);
  return {};
}

Result<bool> RnnParser::try_top(const pugi::xml_node& n) {
  const std::string_view tag = n.name();
  Result<void> ok;
  if (tag == "enum") {
    ok = parse_enum(n);
  } else if (tag == "bitset") {
    ok = parse_bitset(n);
  } else if (tag == "group") {
    ok = parse_group(n);
  } else if (tag == "domain") {
    ok = parse_domain(n);
  } else if (tag == "spectype") {
    ok = parse_spectype(n);
  } else if (tag == "copyright") {
    return true;  // authors and license: nothing to decode
  } else if (tag == "import") {
    const char* file = n.attribute("file").value();
    if (*file == '\0') return error_at(n, "an <import> has no file");
    // rnn looks imports up in RNN_PATH (the database's root); fall back to the importing file's folder.
    std::filesystem::path p = root_ / file;
    if (!std::filesystem::exists(p)) p = std::filesystem::path(current_->path).parent_path() / file;
    const File* saved = current_;
    ok = parse_file(p);
    current_ = saved;
  } else {
    return false;
  }
  if (!ok) return Error{ok.error()};
  return true;
}

Result<void> RnnParser::parse_file(const std::filesystem::path& path) {
  std::error_code ec;
  const std::string canonical = std::filesystem::weakly_canonical(path, ec).string();
  if (std::find(seen_.begin(), seen_.end(), canonical) != seen_.end()) return {};  // imported once only
  seen_.push_back(canonical);
  auto file = std::make_unique<File>();
  file->path = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const std::string where = current_ != nullptr ? fmt::format(" (imported by '{}')", current_->path) : "";
    return make_error(fmt::format("cannot open rnndb file '{}'{}: {}", path.string(), where, std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  file->text = text.str();
  current_ = file.get();
  files_.push_back(std::move(file));
  pugi::xml_document doc;
  const pugi::xml_parse_result parsed = doc.load_buffer(current_->text.data(), current_->text.size());
  if (!parsed) {
    const auto offset = static_cast<size_t>(std::max<ptrdiff_t>(0, parsed.offset));
    const auto line =
        1 + std::count(current_->text.begin(),
                       current_->text.begin() + static_cast<ptrdiff_t>(std::min(offset, current_->text.size())), '\n');
    return make_error(fmt::format("rnndb file '{}' line {}: {}", current_->path, line, parsed.description()));
  }
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "database") {
    return error_at(root, fmt::format("the root element is <{}>, not <database>", root.name()));
  }
  return parse_children(root, nullptr, nullptr, nullptr, nullptr);
}

}  // namespace mmiotrace::analysis::rnndb
