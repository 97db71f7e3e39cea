// The envytools rules-ng-ng database as parsed (import_rnndb.cc's input; see
// there for the subset of the format read). Internal to src/analysis.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <pugixml.hpp>
#include <string>
#include <vector>

#include "analysis/regmap.h"

namespace mmiotrace::analysis::rnndb {

struct VarInfo {
  std::string prefix, varset, variants;
};

struct RnnValue {
  std::string name;
  uint64_t value = 0;
  bool valid = false;
  VarInfo vi;
};

struct RnnBitfield;

struct TypeInfo {
  std::string type;  // "" or an enum/bitset/spectype name or a base type
  uint64_t shr = 0;
  uint64_t add = 0;
  std::vector<RnnValue> values;
  std::vector<RnnBitfield> bitfields;
};

struct RnnBitfield {
  std::string name;
  unsigned low = 0;
  unsigned high = 0;
  VarInfo vi;
  TypeInfo ti;
};

struct RnnElem {
  enum class Kind : uint8_t { REG, ARRAY, STRIPE, USE_GROUP } kind = Kind::REG;
  std::string name;
  unsigned width = 0;  // bits (REG)
  uint64_t offset = 0;
  uint64_t length = 1;
  uint64_t stride = 0;
  RegAccess access = RegAccess::READ_WRITE;
  VarInfo vi;
  TypeInfo ti;
  std::vector<RnnElem> sub;
};

struct RnnEnum {
  bool isinline = false;
  VarInfo vi;
  std::vector<RnnValue> values;
};

struct RnnBitset {
  bool isinline = false;
  VarInfo vi;
  std::vector<RnnBitfield> bitfields;
};

struct RnnDomain {
  unsigned width = 8;
  uint64_t size = 0;
  bool bare = false;
  VarInfo vi;
  std::vector<RnnElem> elems;
};

// The database as parsed: top-level entities merged by name, as rnn does.
struct RnnDb {
  std::map<std::string, RnnEnum> enums;
  std::map<std::string, RnnBitset> bitsets;
  std::map<std::string, RnnDomain> domains;
  std::vector<std::string> domain_order;
  std::map<std::string, std::vector<RnnElem>> groups;
  std::map<std::string, TypeInfo> spectypes;
};

class RnnParser {
 public:
  explicit RnnParser(std::filesystem::path root) : root_(std::move(root)) {}
  Result<void> parse_file(const std::filesystem::path& path);
  RnnDb& db() { return db_; }

 private:
  struct File {
    std::string path;
    std::string text;
  };
  Error error_at(const pugi::xml_node& node, const std::string& what) const {
    const File& f = *current_;
    const auto offset = static_cast<size_t>(std::max<ptrdiff_t>(0, node.offset_debug()));
    const auto line =
        1 + std::count(f.text.begin(), f.text.begin() + static_cast<ptrdiff_t>(std::min(offset, f.text.size())), '\n');
    return make_error(fmt::format("rnndb file '{}' line {}: {}", f.path, line, what));
  }
  Result<uint64_t> num(const pugi::xml_node& node, const pugi::xml_attribute& a) const;
  Result<bool> boolean(const pugi::xml_node& node, const pugi::xml_attribute& a) const;
  bool is_doc(const pugi::xml_node& n) const {
    const std::string_view name = n.name();
    return name == "doc" || name == "brief";
  }
  Result<bool> try_top(const pugi::xml_node& n);
  Result<bool> try_var(const pugi::xml_node& n, const pugi::xml_attribute& a, VarInfo& vi) const;
  Result<bool> try_type_attr(const pugi::xml_node& n, const pugi::xml_attribute& a, TypeInfo& ti) const;
  Result<bool> try_type_tag(const pugi::xml_node& n, TypeInfo& ti);
  Result<RnnValue> parse_value(const pugi::xml_node& n);
  Result<RnnBitfield> parse_bitfield(const pugi::xml_node& n);
  Result<std::optional<RnnElem>> try_elem(const pugi::xml_node& n);
  Result<void> parse_children(const pugi::xml_node& n, std::vector<RnnElem>* elems, TypeInfo* ti,
                              std::vector<RnnValue>* values, std::vector<RnnBitfield>* bitfields);
  Result<void> parse_enum(const pugi::xml_node& n);
  Result<void> parse_bitset(const pugi::xml_node& n);
  Result<void> parse_domain(const pugi::xml_node& n);
  Result<void> parse_group(const pugi::xml_node& n);
  Result<void> parse_spectype(const pugi::xml_node& n);

  std::filesystem::path root_;
  std::vector<std::string> seen_;
  std::vector<std::unique_ptr<File>> files_;
  const File* current_ = nullptr;
  RnnDb db_;
};

}  // namespace mmiotrace::analysis::rnndb
