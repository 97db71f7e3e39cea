// Binding register maps to the accesses of a trace, and naming those accesses.
//
//   --regs e1000                     the map's own PCI ids: BAR `bar` of every such PCIDEV device
//   --regs e1000@pci:8086:100f/0     another vendor:device (and BAR)
//   --regs edu.toml@0xfea00000       the physical address where the map starts
//   --regs edu.toml@map:1            the accesses through mapping 1 (stand-in files)
//   --regs chip.svd#USART1           one SVD peripheral, at its baseAddress
//
// (docs/regs.md, "Binding".) RegisterBindings::make() checks every binding
// against the trace's devices before anything is printed: a trace without
// PCIDEV lines, a device the trace does not have, a BAR smaller than the map,
// a mapping id the trace does not have are one-line errors.
//
// Then, for each access, describe() says which map and register(s) it touched
// and decodes the value into fields: what printers, filters, `stats` and `diff`
// need to name accesses.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/access.h"
#include "analysis/devices.h"
#include "analysis/regmap.h"
#include "common/result.h"

namespace mmiotrace::analysis {

struct BindSpec {
  enum class Kind : uint8_t {
    DEFAULT,  // the map's own PCI ids; for a map without any, its base address (SVD)
    PCI,      // `pci`, BAR `bar` (-1: the map's)
    ADDRESS,  // physical address `address`
    MAP_ID,   // the accesses through mapping `map_id`
  };
  Kind kind = Kind::DEFAULT;
  PciId pci;
  int bar = -1;
  uint64_t address = 0;
  int32_t map_id = 0;
};

// One --regs argument: MAP[#PART][@WHERE], where MAP is a file or the name of a
// shipped map, and WHERE is pci:VVVV:DDDD[/BAR], 0xADDRESS or map:N.
struct RegsArgument {
  std::string map;  // as given: a path or a name (find_map_file resolves it)
  std::string part;
  BindSpec bind;
};
Result<RegsArgument> parse_regs_argument(std::string_view text);

// One map bound to one place of the trace.
struct Binding {
  const RegisterMap* map = nullptr;
  RegisterIndex index;
  std::string label;  // shown in output: the map's id, "+" the PCI address when a map is bound to several devices
  bool by_map_id = false;
  int32_t map_id = 0;          // by_map_id: the mapping
  uint64_t base = 0;           // else: physical address of the map's offset 0
  uint64_t size = 0;           // bytes from base that belong to it (the map's extent)
  int variant = -1;            // index into map->variants, -1 while not known
  bool variant_fixed = false;  // chosen by the user: never detected
};

// The part of an access that falls into one register (or one gap between registers).
struct RegisterPart {
  std::optional<RegisterHit> hit;  // nullopt: no register there
  uint64_t offset = 0;             // offset in the map of the part's first byte
  unsigned first = 0;              // the part's first byte in the access
  unsigned nbytes = 0;
  bool value_known = false;
  uint64_t value = 0;  // the part's bytes as a little-endian integer (nbytes <= 8 when hit)
  DecodedValue decoded;
};

// What one access touched: the binding, and its register parts in address order.
struct AccessDescription {
  const Binding* binding = nullptr;  // nullptr: no map covers the access
  uint64_t offset = 0;               // offset in the map of the access's first byte
  std::vector<RegisterPart> parts;
};

class RegisterBindings {
 public:
  RegisterBindings() = default;
  RegisterBindings(RegisterBindings&&) noexcept = default;
  RegisterBindings& operator=(RegisterBindings&&) noexcept = default;

  // Binds maps[i] as specs[i] says (the vectors have the same length), using
  // what `catalog` knows of the trace; `variant` (may be empty) is the variant
  // of maps that have variants, instead of detecting it. Error: one line.
  static Result<RegisterBindings> make(std::vector<RegisterMap> maps, const std::vector<BindSpec>& specs,
                                       const DeviceCatalog& catalog, std::string_view variant = {});

  bool empty() const { return bindings_.empty(); }
  const std::vector<Binding>& bindings() const { return bindings_; }
  const std::vector<RegisterMap>& maps() const { return maps_; }

  // The binding and map offset of the byte at `phys` through mapping `map_id`.
  const Binding* locate(int32_t map_id, uint64_t phys, uint64_t* offset) const;

  // Names the access and decodes its value (when known). A read that tells a
  // map its variant (VariantDetect) sets it, for this access and the next ones.
  void describe(const Access& access, AccessDescription& out);

 private:
  std::vector<RegisterMap> maps_;  // owned; bindings point into it (stable: never resized after make)
  std::vector<Binding> bindings_;
};

// "RCTL <= EN | UPE | BAM | BSIZE=2048", parts joined by ", "; "RCTL" alone
// for an unknown value; "+0x1234" for bytes of no register. Nothing for an
// access no map covers. Only the parts that start in bytes [from, to) of the
// access (a printer that splits an access into lines annotates each line).
void format_description(const AccessDescription& d, bool write, fmt::memory_buffer& out, unsigned from = 0,
                        unsigned to = ~0u);

}  // namespace mmiotrace::analysis
