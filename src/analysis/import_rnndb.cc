// envytools rules-ng-ng ("rnndb") import: the subset of the database format
// that demmio's address and value decoding uses (envytools rnn/rnn.c,
// rnn/rnndec.c, rnndb/rules-ng-ng.txt), turned into one RegisterMap per domain.
//
//   <database> <import file=...> <domain> <group>/<use-group> <array> <stripe>
//   <reg8/16/32/64> <bitset> <bitfield> <enum> <value> <spectype>
//   attributes: name offset length stride width size bare prefix varset variants
//   inline type shr add access pos low high value; <doc>, <brief>, <copyright> ignored
//
// The map's registers are the domain's elements in demmio's lookup order
// (rnndec.c trymatch(): the first element that holds the address wins; an
// <array> holds its whole range, its registers before it), with demmio's names:
// "PMC.ID", "PTIMER.REMAP[0x2].BASE", "PMC+0x123" for an offset inside an array
// that no register of it claims. Variants ("NV50-", "G84:GF100") are kept per
// register, field and value against the domain's varset enum (the chipset).
// The map detects its variant as demmio does: from the first read of PMC.ID at
// offset 0, for NV10 and later (demmio's parse_pmc_id(), nvhw/chipset.c).
//
// Limitations: only byte-addressed domains (width 8); a bitfield typed by a
// bitset, and the float and fixed-point types, decode as hex; variants of a
// varset other than the domain's match always (as in demmio, which knows no
// value for them).
#include <algorithm>
#include <filesystem>

#include "analysis/rnndb_db.h"

namespace mmiotrace::analysis {

namespace {

using rnndb::RnnDb;
using rnndb::RnnElem;
using rnndb::TypeInfo;
using rnndb::VarInfo;

// Variant context passed down the tree, as rnn's prepvarinfo() keeps it.
struct Vars {
  std::string prefix_enum;  // the enum "prefix" names (inherited)
  std::string varset;       // the enum "varset" names (inherited when there is no prefix)
  VariantSet main;          // restriction on the map's variant enum; empty: none
};

class Flattener {
 public:
  Flattener(const RnnDb& db, const std::string& domain_name, const std::string& source)
      : db_(db), domain_name_(domain_name), source_(source) {}
  Result<RegisterMap> run();

 private:
  struct Ctx {
    std::string prefix;  // names of the enclosing arrays, each followed by '.'
    std::vector<uint16_t> index_at;
    std::vector<Dim> dims;
    std::vector<Dim> pending;  // dims of unnamed stripes, placed after the next name
    uint64_t base = 0;
    Vars vars;
  };
  Error error(const std::string& what) const {
    return make_error(fmt::format("rnndb database '{}', domain {}: {}", source_, domain_name_, what));
  }
  const std::vector<rnndb::RnnValue>* enum_values(const std::string& name) const;
  Result<std::optional<Vars>> resolve(const VarInfo& vi, const Vars& parent) const;
  Result<void> add_values(const std::vector<rnndb::RnnValue>& values, const Vars& vars, Field& f) const;
  Result<void> add_bitfield(const rnndb::RnnBitfield& bf, const Vars& vars, Register& reg) const;
  Result<void> type_fields(const TypeInfo& ti, unsigned width_bits, const Vars& vars, Register& reg, int depth) const;
  uint64_t unbounded_count(uint64_t offset, uint64_t stride) const;
  void name_element(const std::string& name, const Ctx& ctx, uint64_t length, uint64_t stride, uint64_t offset,
                    Register& r) const;
  Result<void> flatten(const std::vector<RnnElem>& elems, const Ctx& ctx, int depth);

  const RnnDb& db_;
  std::string domain_name_;
  std::string source_;
  std::string main_enum_;  // the domain's varset enum ("chipset"), empty if none
  std::vector<std::string> variant_names_;
  uint64_t domain_size_ = 0;
  RegisterMap map_;
};

const std::vector<rnndb::RnnValue>* Flattener::enum_values(const std::string& name) const {
  auto it = db_.enums.find(name);
  return it == db_.enums.end() ? nullptr : &it->second.values;
}

// rnn's prepvarinfo(): a "variants" string ("NV10-", "G84:GF100 MCP77", "NV1")
// restricts its element, within the parent's restriction, to those entries of
// the active varset enum. nullopt: the element exists in no variant (dead).
Result<std::optional<Vars>> Flattener::resolve(const VarInfo& vi, const Vars& parent) const {
  Vars v = parent;
  if (!vi.prefix.empty()) v.prefix_enum = vi.prefix == "none" ? "" : vi.prefix;
  std::string varset = v.prefix_enum;
  if (varset.empty() && vi.varset.empty()) {
    varset = parent.varset;
  } else if (!vi.varset.empty()) {
    varset = vi.varset;
  }
  v.varset = !vi.varset.empty() ? vi.varset : v.prefix_enum.empty() ? parent.varset : std::string();
  if (vi.variants.empty()) return std::optional<Vars>{v};
  if (varset.empty()) return error(fmt::format("variants \"{}\" without an active varset", vi.variants));
  const auto* entries = enum_values(varset);
  if (entries == nullptr) return error(fmt::format("varset enum {} does not exist", varset));
  const size_t n = entries->size();
  auto index = [&](std::string_view name) -> Result<size_t> {
    for (size_t i = 0; i < n; ++i) {
      if ((*entries)[i].name == name) return i;
    }
    return error(fmt::format("variant {} is not in enum {}", name, varset));
  };
  std::vector<bool> own(n, false);
  std::string_view s = vi.variants;
  while (true) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty()) break;
    const size_t split = std::min(s.find_first_of(":- "), s.size());
    const std::string_view first = s.substr(0, split);
    if (split == s.size() || s[split] == ' ') {
      auto i = index(first);
      if (!i) return Error{i.error()};
      own[*i] = true;
      s.remove_prefix(split);
      continue;
    }
    const size_t end = std::min(s.find(' ', split + 1), s.size());
    const std::string_view second = s.substr(split + 1, end - split - 1);
    size_t lo = 0, hi = n;
    if (!first.empty()) {
      auto i = index(first);
      if (!i) return Error{i.error()};
      lo = *i;
    }
    if (!second.empty()) {
      auto i = index(second);
      if (!i) return Error{i.error()};
      hi = *i + (s[split] == '-' ? 1 : 0);  // "A-B" includes B, "A:B" does not
    }
    for (size_t i = lo; i < hi && i < n; ++i) own[i] = true;
    s.remove_prefix(end);
  }
  if (varset != main_enum_) return std::optional<Vars>{v};  // a varset demmio has no value for: matches
  if (v.main.empty()) v.main.assign(n, true);
  bool alive = false;
  for (size_t i = 0; i < n; ++i) {
    v.main[i] = v.main[i] && own[i];
    alive = alive || v.main[i];
  }
  if (!alive) return std::optional<Vars>{};
  return std::optional<Vars>{v};
}

Result<void> Flattener::add_values(const std::vector<rnndb::RnnValue>& values, const Vars& vars, Field& f) const {
  for (const rnndb::RnnValue& val : values) {
    auto vv = resolve(val.vi, vars);
    if (!vv) return Error{vv.error()};
    if (!*vv || !val.valid) continue;
    // The database has values wider than their field (PGRAPH.CTX_SWITCH1.GRCLASS's
    // NV30_LIN): they can never match, as in demmio; leave them out.
    if (f.shr == 0 && f.add == 0 && f.bits() < 64 && (val.value >> f.bits()) != 0) continue;
    f.values.push_back({val.name, val.value, {}, (*vv)->main});
  }
  return {};
}

Result<void> Flattener::add_bitfield(const rnndb::RnnBitfield& bf, const Vars& vars, Register& reg) const {
  auto bv = resolve(bf.vi, vars);
  if (!bv) return Error{bv.error()};
  if (!*bv) return {};
  Field f;
  f.name = bf.name;
  f.lsb = static_cast<uint8_t>(bf.low);
  f.msb = static_cast<uint8_t>(bf.high);
  f.variants = (*bv)->main;
  f.shr = static_cast<uint8_t>(bf.ti.shr);
  f.add = bf.ti.add;
  const unsigned width = bf.high - bf.low + 1;
  // preptypeinfo(): a named type; else inline bitfields or values; else boolean for one bit, hex otherwise.
  std::string type = bf.ti.type;
  if (type.empty())
    type = !bf.ti.bitfields.empty() ? "bitfield" : !bf.ti.values.empty() ? "enum" : width == 1 ? "boolean" : "hex";
  for (int depth = 0; depth < 8; ++depth) {
    if (auto st = db_.spectypes.find(type); st != db_.spectypes.end()) {
      type = st->second.type.empty() ? "hex" : st->second.type;
      continue;
    }
    break;
  }
  if (auto e = db_.enums.find(type); e != db_.enums.end()) {
    // An inline enum's values take the bitfield's variants; another's, its own.
    Vars ev;
    if (e->second.isinline) {
      ev = *(*bv);
    } else {
      auto r = resolve(e->second.vi, Vars{});
      if (!r) return Error{r.error()};
      if (*r) ev = **r;
    }
    if (auto ok = add_values(e->second.values, ev, f); !ok) return ok;
  } else if (type == "enum") {
    if (auto ok = add_values(bf.ti.values, **bv, f); !ok) return ok;
  } else if (type == "boolean") {
    f.format = FieldFormat::BOOL;
  } else if (type == "uint") {
    f.format = FieldFormat::UNSIGNED;
  } else if (type == "int") {
    f.format = FieldFormat::SIGNED;
  }
  reg.fields.push_back(std::move(f));
  return {};
}

Result<void> Flattener::type_fields(const TypeInfo& ti, unsigned width_bits, const Vars& vars, Register& reg,
                                    int depth) const {
  if (depth > 8) return error(fmt::format("register {}: types refer to each other in a loop", reg.name));
  std::string type = ti.type;
  if (type.empty()) type = !ti.bitfields.empty() ? "bitfield" : !ti.values.empty() ? "enum" : "hex";
  Field whole;
  whole.lsb = 0;
  whole.msb = static_cast<uint8_t>(width_bits - 1);
  whole.shr = static_cast<uint8_t>(ti.shr);
  whole.add = ti.add;
  if (auto st = db_.spectypes.find(type); st != db_.spectypes.end()) {
    return type_fields(st->second, width_bits, vars, reg, depth + 1);
  }
  if (auto b = db_.bitsets.find(type); b != db_.bitsets.end()) {
    Vars bv = vars;
    if (!b->second.isinline) {
      auto r = resolve(b->second.vi, Vars{});
      if (!r) return Error{r.error()};
      bv = *r ? **r : Vars{};
    }
    for (const rnndb::RnnBitfield& bf : b->second.bitfields) {
      if (auto ok = add_bitfield(bf, bv, reg); !ok) return ok;
    }
  } else if (type == "bitfield") {
    for (const rnndb::RnnBitfield& bf : ti.bitfields) {
      if (auto ok = add_bitfield(bf, vars, reg); !ok) return ok;
    }
  } else if (auto e = db_.enums.find(type); e != db_.enums.end()) {
    Vars ev = vars;
    if (!e->second.isinline) {
      auto r = resolve(e->second.vi, Vars{});
      if (!r) return Error{r.error()};
      ev = *r ? **r : Vars{};
    }
    if (auto ok = add_values(e->second.values, ev, whole); !ok) return ok;
    reg.fields.push_back(std::move(whole));
  } else if (type == "enum") {
    if (auto ok = add_values(ti.values, vars, whole); !ok) return ok;
    reg.fields.push_back(std::move(whole));
  } else if (type == "uint" || type == "int" || type == "boolean") {
    whole.format = type == "uint" ? FieldFormat::UNSIGNED : type == "int" ? FieldFormat::SIGNED : FieldFormat::BOOL;
    reg.fields.push_back(std::move(whole));
  } else if (whole.shr != 0 || whole.add != 0) {
    reg.fields.push_back(std::move(whole));
  }
  // "hex" (and float, fixed, ufixed): no field; the value prints in hex.
  std::stable_sort(reg.fields.begin(), reg.fields.end(), [](const Field& a, const Field& b) { return a.lsb < b.lsb; });
  return {};
}

uint64_t Flattener::unbounded_count(uint64_t offset, uint64_t stride) const {
  const uint64_t end = domain_size_ != 0 ? domain_size_ : uint64_t{1} << 32;
  return offset >= end || stride == 0 ? 1 : (end - offset + stride - 1) / stride;
}

// Name and dims of an element called `name` inside `ctx`: the enclosing arrays'
// indices where they are, then unnamed stripes' indices, then its own (rnndec
// appendidx() order).
void Flattener::name_element(const std::string& name, const Ctx& ctx, uint64_t length, uint64_t stride, uint64_t offset,
                             Register& r) const {
  r.name = ctx.prefix + name;
  r.index_at = ctx.index_at;
  r.dims = ctx.dims;
  for (const Dim& d : ctx.pending) {
    r.index_at.push_back(static_cast<uint16_t>(r.name.size()));
    r.dims.push_back(d);
  }
  if (length != 1) {
    r.index_at.push_back(static_cast<uint16_t>(r.name.size()));
    r.dims.push_back({length == 0 ? unbounded_count(ctx.base + offset, stride) : length, stride});
  }
  r.offset = ctx.base + offset;
}

Result<void> Flattener::flatten(const std::vector<RnnElem>& elems, const Ctx& ctx, int depth) {
  if (depth > 16) return error("groups or arrays nest more than 16 deep");
  for (const RnnElem& e : elems) {
    auto resolved = resolve(e.vi, ctx.vars);
    if (!resolved) return Error{resolved.error()};
    if (!*resolved) continue;  // in no variant
    const Vars& vars = **resolved;
    switch (e.kind) {
      case RnnElem::Kind::USE_GROUP: {
        auto g = db_.groups.find(e.name);
        if (g == db_.groups.end()) return error(fmt::format("group {} not found", e.name));
        Ctx inner = ctx;
        inner.vars = vars;
        if (auto ok = flatten(g->second, inner, depth + 1); !ok) return ok;
        break;
      }
      case RnnElem::Kind::REG: {
        Register r;
        const uint64_t stride = e.stride != 0 ? e.stride : e.width / 8;
        name_element(e.name, ctx, e.length, stride, e.offset, r);
        r.width = static_cast<uint8_t>(e.width / 8);
        r.access = e.access;
        r.variants = vars.main;
        if (auto ok = type_fields(e.ti, e.width, vars, r, 0); !ok) return ok;
        map_.registers.push_back(std::move(r));
        break;
      }
      case RnnElem::Kind::ARRAY:
      case RnnElem::Kind::STRIPE: {
        if (e.length != 1 && e.stride == 0)
          return error(fmt::format("{} has length {} but no stride", e.name, e.length));
        if (e.kind == RnnElem::Kind::STRIPE && e.name.empty()) {
          Ctx inner = ctx;
          inner.base += e.offset;
          inner.vars = vars;
          if (e.length != 1)
            inner.pending.push_back({e.length == 0 ? unbounded_count(inner.base, e.stride) : e.length, e.stride});
          if (auto ok = flatten(e.sub, inner, depth + 1); !ok) return ok;
          break;
        }
        Register block;
        name_element(e.name, ctx, e.length, e.stride, e.offset, block);
        if (block.dims.size() > kMaxDims)
          return error(fmt::format("{} nests more than {} arrays", block.name, kMaxDims));
        Ctx inner;
        inner.prefix = block.name + ".";
        inner.index_at = block.index_at;
        inner.dims = block.dims;
        inner.base = block.offset;
        inner.vars = vars;
        if (auto ok = flatten(e.sub, inner, depth + 1); !ok) return ok;
        if (e.kind == RnnElem::Kind::ARRAY) {
          // After its registers: they name the bytes they hold, the array the rest.
          block.kind = RegKind::BLOCK;
          block.block_size = e.stride;
          block.variants = vars.main;
          map_.registers.push_back(std::move(block));
        }
        break;
      }
    }
  }
  return {};
}

Result<RegisterMap> Flattener::run() {
  const rnndb::RnnDomain& domain = db_.domains.at(domain_name_);
  if (domain.width != 8) {
    return error(fmt::format("it is addressed in units of {} bits; only byte-addressed domains (width 8) are supported",
                             domain.width));
  }
  domain_size_ = domain.size;
  main_enum_ = !domain.vi.prefix.empty() && domain.vi.prefix != "none" ? domain.vi.prefix : domain.vi.varset;
  map_.id = domain_name_;
  map_.name = fmt::format("rnndb domain {}", domain_name_);
  map_.description = fmt::format("imported from the envytools rnndb database {}", source_);
  map_.source = source_;
  map_.size = domain.size;
  map_.hex_indices = true;
  map_.shared_bytes = true;
  if (!main_enum_.empty()) {
    const auto* entries = enum_values(main_enum_);
    if (entries == nullptr) return error(fmt::format("its varset enum {} does not exist", main_enum_));
    for (const auto& v : *entries) map_.variants.push_back(v.name);
  }
  Ctx root;
  root.prefix = domain.bare ? "" : domain_name_ + ".";
  auto dv = resolve(domain.vi, Vars{});
  if (!dv) return Error{dv.error()};
  if (*dv) root.vars = **dv;
  if (auto ok = flatten(domain.elems, root, 0); !ok) return Error{ok.error()};
  if (domain_name_ == "NV_MMIO") map_.pci.push_back({0x10de, kAnyPciDevice});  // demmio: any NVIDIA device, BAR0
  if (main_enum_ == "chipset") {
    // demmio: the first read of PMC.ID (offset 0) gives the chipset; NV10 and
    // later have it in bits 20-28 (nvhw/chipset.c, parse_pmc_id()).
    VariantDetect d;
    d.offset = 0;
    d.width = 4;
    d.lsb = 20;
    d.msb = 28;
    const auto& entries = *enum_values(main_enum_);
    for (uint32_t i = 0; i < entries.size(); ++i) {
      if (entries[i].valid && entries[i].value >= 0x10) d.values.emplace_back(entries[i].value, i);
    }
    map_.detect = std::move(d);
  }
  return std::move(map_);
}

}  // namespace

Result<RegisterMap> import_rnndb(const std::string& path, std::string_view domain) {
  const std::filesystem::path p(path);
  rnndb::RnnParser parser(p.parent_path());
  if (auto ok = parser.parse_file(p); !ok) return Error{ok.error()};
  const RnnDb& db = parser.db();
  std::string name(domain);
  if (name.empty()) {
    if (db.domains.count("NV_MMIO") != 0) {
      name = "NV_MMIO";  // what demmio decodes
    } else if (db.domain_order.size() == 1) {
      name = db.domain_order.front();
    } else {
      std::string list;
      for (const std::string& d : db.domain_order) list += fmt::format("{}{}", list.empty() ? "" : ", ", d);
      return make_error(fmt::format("rnndb database '{}' has several domains ({}): pick one with '{}#DOMAIN'", path,
                                    list.empty() ? "none" : list, path));
    }
  }
  if (db.domains.count(name) == 0) {
    std::string list;
    for (const std::string& d : db.domain_order) list += fmt::format("{}{}", list.empty() ? "" : ", ", d);
    return make_error(
        fmt::format("rnndb database '{}' has no domain {} (it has {})", path, name, list.empty() ? "none" : list));
  }
  return Flattener(db, name, path).run();
}

}  // namespace mmiotrace::analysis
