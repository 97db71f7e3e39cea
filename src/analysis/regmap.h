// Register maps: what a device's registers are called, where they are and what
// their bits mean. A RegisterMap is loaded from the project's own TOML format
// (docs/regs.md, "The map format"), or imported from CMSIS-SVD or envytools
// rnndb XML; it is then asked, for an offset in the device, which register is
// there (RegisterIndex) and how a value written to it or read from it splits
// into fields (decode_value, format_decoded).
//
// Binding a map to the accesses of a trace (which device, which base address)
// is bind.h's business; this header knows nothing about traces.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace mmiotrace::analysis {

// How software may access a register or a field. Decoding does not depend on
// it; it is carried for readers and for later checks.
enum class RegAccess : uint8_t {
  UNSPECIFIED = 0,
  READ_WRITE,     // "rw"
  READ_ONLY,      // "r"
  WRITE_ONLY,     // "w"
  READ_CLEAR,     // "rc": reading clears it (e1000 ICR)
  WRITE_1_CLEAR,  // "w1c": writing 1 to a bit clears that bit
};
const char* to_string(RegAccess access);  // "rw", "r", "w", "rc", "w1c"; "" for UNSPECIFIED
std::optional<RegAccess> parse_reg_access(std::string_view text);

// How a field's number is shown when no enumerated value names it.
enum class FieldFormat : uint8_t {
  HEX = 0,   // 0x1f, 0 (the default)
  UNSIGNED,  // 31
  SIGNED,    // -1 (two's complement in the field's width)
  BOOL,      // a flag: its name alone when 1, nothing when 0
};

// A set of variants of a map (rnndb's chipsets), one bit per entry of
// RegisterMap::variants; empty means every variant.
using VariantSet = std::vector<bool>;
bool variant_matches(const VariantSet& set, int variant);  // variant -1 (not known) matches every set

struct EnumValue {
  std::string name;
  uint64_t value = 0;
  std::string description;
  VariantSet variants;
};

struct Field {
  std::string name;  // empty: the register's whole value (a register typed by an enum or a number format)
  uint8_t lsb = 0;   // lsb <= msb < the register's width in bits
  uint8_t msb = 0;
  FieldFormat format = FieldFormat::HEX;
  uint8_t shr = 0;  // rnndb: the value is (bits << shr) + add
  uint64_t add = 0;
  RegAccess access = RegAccess::UNSPECIFIED;
  std::vector<EnumValue> values;
  std::string description;
  VariantSet variants;

  unsigned bits() const { return msb - lsb + 1u; }
  // The field's bits, in register position.
  uint64_t mask() const { return (bits() >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits()) - 1) << lsb; }
  // Its bits shifted down, then << shr, + add.
  uint64_t extract(uint64_t reg_value) const { return (((reg_value & mask()) >> lsb) << shr) + add; }
};

// One dimension of a register array: `count` elements, `stride` bytes apart.
struct Dim {
  uint64_t count = 1;
  uint64_t stride = 0;
};
inline constexpr unsigned kMaxDims = 4;

enum class RegKind : uint8_t {
  REGISTER = 0,  // a register of `width` bytes (per element)
  BLOCK,         // rnndb <array>: a range of `block_size` bytes per element that names the offsets no
                 // register inside it claims ("PMC+0x123"); it has no value
};

// One register, or an array of them: RAL[n] at 0x5400 + 8n is one Register with
// offset 0x5400 and dims {{16, 8}}. Nested arrays (rnndb) have several dims,
// outermost first, and the name says where each index goes.
struct Register {
  std::string name;                // "RAL", "PTIMER.REMAP.BASE"
  std::vector<uint16_t> index_at;  // for each dim, where "[i]" goes in `name` (name.size(): at the end)
  std::vector<Dim> dims;           // empty for a single register
  uint64_t offset = 0;             // bytes from the start of the map, of element 0
  uint8_t width = 4;               // bytes: 1, 2, 4 or 8 (REGISTER)
  RegKind kind = RegKind::REGISTER;
  uint64_t block_size = 0;  // bytes per element (BLOCK)
  RegAccess access = RegAccess::UNSPECIFIED;
  std::optional<uint64_t> reset;
  std::vector<Field> fields;  // sorted by lsb (overlaps only between variants)
  std::string description;
  VariantSet variants;

  uint64_t element_size() const { return kind == RegKind::BLOCK ? block_size : width; }
  uint64_t elements() const;  // product of the dims' counts
  uint64_t end() const;       // one past the last byte of the last element
};

// How a map picks its variant from the trace, as demmio picks the chipset from
// the first read of PMC.ID: a read of `width` bytes at `offset` whose bits
// [lsb, msb] equal one of `values` selects that value's variant.
struct VariantDetect {
  uint64_t offset = 0;
  uint8_t width = 4;
  uint8_t lsb = 0;
  uint8_t msb = 0;
  std::vector<std::pair<uint64_t, uint32_t>> values;  // field value -> index into RegisterMap::variants
};

struct PciId {
  uint16_t vendor = 0;
  uint16_t device = 0;  // kAnyPciDevice: any device of the vendor
  bool operator==(const PciId&) const = default;
  bool matches(const PciId& actual) const;
};
inline constexpr uint16_t kAnyPciDevice = 0xffff;  // never a real device id (PCI: 0xffff means "no device")

struct RegisterMap {
  std::string id;                // short name shown in output ("e1000")
  std::string name;              // long name ("Intel 82540EM Gigabit Ethernet Controller")
  std::string description;       // where the facts come from
  std::string source;            // the file it was loaded from (for messages)
  std::vector<PciId> pci;        // devices it describes (bind.h binds to them by default)
  int bar = 0;                   // which BAR of those devices (0-5)
  uint64_t size = 0;             // bytes of register space; 0: up to the end of the last register
  std::optional<uint64_t> base;  // physical address it describes by default (SVD's baseAddress)
  bool hex_indices = false;      // indices print as [0x3] (rnndb, as demmio does) instead of [3]
  // An imported map (SVD, rnndb) as its vendor wrote it: registers may share
  // bytes (the first in map order wins) and lie past `size`.
  bool shared_bytes = false;
  std::vector<Register> registers;    // in map order: among registers sharing a byte, the first wins
  std::vector<std::string> variants;  // names of the variants (rnndb); empty: none
  std::optional<VariantDetect> detect;

  uint64_t extent() const;                        // size, or the end of the last register if size is 0
  int find_variant(std::string_view name) const;  // index, or -1 (case-insensitive)
};

// Checks what every loader guarantees, so that lookups and decoding can trust
// the map: widths 1/2/4/8, fields inside their register, enumerated values that
// fit their field, array strides that hold an element, at most kMaxDims dims;
// unless the map has variants or shared_bytes, nothing past `size`, no two
// registers sharing a byte and no two fields of a register sharing a bit. The
// error names the map and the register.
Result<void> validate(const RegisterMap& map);

// ---- Loading ----

enum class MapFormat : uint8_t {
  TOML,   // the project's own format (docs/regs.md)
  SVD,    // CMSIS-SVD: root element <device>
  RNNDB,  // envytools rules-ng-ng: root element <database>
};

// What names a map on the command line: "PATH" or "PATH#PART"; PART picks one
// peripheral of an SVD file or one domain of an rnndb database.
struct MapSource {
  std::string path;
  std::string part;
};

// Which format a file holds, from its first bytes.
MapFormat detect_map_format(std::string_view first_bytes);

// Loads every map `source` names: one for a TOML file; one per peripheral of an
// SVD file, or the one PART names; the rnndb domain PART names (NV_MMIO, or the
// only domain, by default). Every map is validated. Errors are one line naming
// the file, the line where known, and what is wrong.
Result<std::vector<RegisterMap>> load_register_maps(const MapSource& source);

// The loaders behind load_register_maps. `name` is used in messages. An rnndb
// database imports other files relative to its own, so that importer takes a path.
Result<RegisterMap> parse_toml_map(std::string_view text, std::string_view name);
Result<std::vector<RegisterMap>> import_svd(std::string_view xml, std::string_view name, std::string_view peripheral);
Result<RegisterMap> import_rnndb(const std::string& path, std::string_view domain);

// The file of a map given by name: "e1000" or "e1000.toml" is looked for in
// `dirs` in order (NAME, then NAME.toml); a name that exists as given, or that
// has a '/', is a path and is returned as is.
Result<std::string> find_map_file(const std::string& name, const std::vector<std::string>& dirs);

// ---- Lookup and decoding ----

// Where an offset falls in a map.
struct RegisterHit {
  const Register* reg = nullptr;
  uint64_t element = 0;  // flat index over the dims, row-major (0 for a single register)
  uint64_t byte = 0;     // the offset's byte within that element
};

// Offset -> register, in O(log n) over a map's registers. Registers of other
// variants are passed over; among registers that share the byte, the first in
// map order wins (as demmio's lookup does).
class RegisterIndex {
 public:
  explicit RegisterIndex(const RegisterMap& map);
  // `variant`: index into map.variants, or -1 when not known.
  std::optional<RegisterHit> find(uint64_t offset, int variant = -1) const;
  const RegisterMap& map() const { return *map_; }

 private:
  struct Segment {
    uint64_t begin = 0;  // offsets [begin, end)
    uint64_t end = 0;
    uint32_t first = 0;  // candidates_[first, first + n): registers that may hold a byte of it, in map order
    uint32_t n = 0;
  };
  const RegisterMap* map_;
  std::vector<Segment> segments_;
  std::vector<uint32_t> candidates_;
};

// `v` as C's "%#x" writes it: "0x1f", and "0" for zero (as demmio and the
// kernel's tools print numbers).
inline void append_hex(uint64_t v, fmt::memory_buffer& out) {
  if (v == 0) {
    out.push_back('0');
    return;
  }
  char tmp[18];
  char* end = tmp + sizeof tmp;
  char* p = end;
  for (; v != 0; v >>= 4) *--p = "0123456789abcdef"[v & 15];
  *--p = 'x';
  *--p = '0';
  out.append(p, end);
}

// One field of a decoded value.
struct FieldValue {
  const Field* field = nullptr;
  uint64_t value = 0;                // Field::extract
  const EnumValue* named = nullptr;  // the enumerated value that names it, if any
};

// A value of a register split into its fields. For an access to the bytes
// [first_byte, first_byte + nbytes) of the register, `value` holds those bytes
// (shifted down) and only fields wholly inside them are decoded. Set bits that
// no decoded field covers are in `unknown_bits`, in register position.
struct DecodedValue {
  std::vector<FieldValue> fields;
  uint64_t unknown_bits = 0;
};
void decode_value(const Register& reg, uint64_t value, unsigned first_byte, unsigned nbytes, int variant,
                  DecodedValue& out);

// The name of the register part at `hit`: "RCTL", "RAL[3]", "CTRL+0x2" (a byte
// inside the register), "PMC+0x123" (a byte of a block no register claims),
// "PTIMER.REMAP[0x2].BASE" (hex indices).
void format_register_name(const RegisterMap& map, const RegisterHit& hit, fmt::memory_buffer& out);

// "EN | UPE | BAM | BSIZE=2048 | 0x8000": one-bit flags by name when set;
// other fields as NAME=ENUM or NAME=number, shown when not 0, when an
// enumerated value names 0, or when the field is the only one decoded (a write
// of 0 to it: "TEST=0"); set bits of no field last, in hex; "0" when nothing
// is shown. A whole-register field (no name) shows its enumerated name or number alone.
void format_decoded(const DecodedValue& value, fmt::memory_buffer& out);

}  // namespace mmiotrace::analysis
