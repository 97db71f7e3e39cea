// Filters: which accesses of a trace to keep. One FilterSpec, the same for every
// output of `print` and for `stats` and `diff`, with one meaning (docs/print.md,
// "Filters"): criteria of different kinds must all hold; the values given for
// one kind are alternatives (--tid 5 --tid 6: either thread).
//
// Filters select accesses (ACCESS records, each access of an ACCESS_RUN) and
// UNKNOWN records, on what those have. The records that give an access its
// context (PCIDEV, MAP, UNMAP, MARK, LOST) always pass, so that a filtered
// kernel-format print is still a log other tools read.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/access.h"
#include "analysis/bind.h"
#include "analysis/devices.h"
#include "common/result.h"
#include "trace/reader.h"

namespace mmiotrace::analysis {

struct Range {
  uint64_t first = 0;  // inclusive
  uint64_t last = 0;   // inclusive
  bool contains(uint64_t v) const { return v >= first && v <= last; }
};

// "0x100" (one value), "0x100-0x1ff" (inclusive), "0x100+0x10" (16 from 0x100);
// numbers in hex with 0x, else decimal.
Result<Range> parse_range(std::string_view text);
// Seconds as the kernel format prints them ("12.000512"), to nanoseconds.
Result<uint64_t> parse_seconds(std::string_view text);

struct FilterSpec {
  std::vector<int32_t> map_ids;        // --map-id: the mapping (MAP record) accessed
  std::vector<std::string> devices;    // --device: vvvv:dddd, a PCI address (0000:00:03.0 or 00:03.0), or a map's label
  std::vector<int> bars;               // --bar
  std::vector<Range> offsets;          // --offset: in the bound map if one covers the access, else in the device
  std::vector<Range> addresses;        // --address: physical
  std::vector<std::string> registers;  // --reg: names, with * and ? (RCTL, RAL*, RAL[3], PTIMER.*); needs --regs
  std::optional<trace::AccessOp> op;   // --op r|w
  std::vector<unsigned> widths;        // --width: bytes
  std::vector<uint32_t> pids;          // --pid
  std::vector<uint32_t> tids;          // --tid
  std::vector<Range> pcs;              // --pc
  std::vector<std::string> functions;  // --function: needs symbols (Filter::make's FunctionRanges)
  std::optional<uint64_t> from_ns;     // --time FROM:TO, inclusive, CLOCK_MONOTONIC nanoseconds
  std::optional<uint64_t> to_ns;
  std::string from_mark;  // --from-mark: the window opens after a MARK whose text contains this
  std::string to_mark;    // --to-mark: and closes at one whose text contains this

  bool empty() const;
};

// The PC ranges of a function, from the trace's symbols (another module
// provides it; without one, --function is an error).
using FunctionRanges = std::function<Result<std::vector<Range>>(const std::string& function)>;

class Filter {
 public:
  Filter() = default;  // passes everything

  // Checks the spec against what it needs: --reg needs `bindings`, --function
  // needs `functions`, --device and --bar need `catalog` (either may be null
  // when the spec does not use them). Error: one line.
  static Result<Filter> make(const FilterSpec& spec, const DeviceCatalog* catalog, RegisterBindings* bindings,
                             const FunctionRanges& functions = {});

  bool passes_everything() const { return everything_; }
  // Whether accepts() looks at register names (then give it a description).
  bool needs_description() const { return !spec_.registers.empty(); }

  // Call for every record, in order, before asking about its accesses: MARKs
  // open and close the --from-mark/--to-mark window.
  void observe(const trace::RecordView& record);

  // Whether one access passes. `described`: the access described by the
  // bindings (needed for --reg, used for --offset and --device when given;
  // when null and needed, the filter describes it itself).
  bool accepts(const Access& access, const AccessDescription* described = nullptr);
  // Whether an UNKNOWN record passes (on what it has: no op, width or register).
  bool accepts_unknown(const trace::UnknownRecord& r);

 private:
  bool in_window(uint64_t time_ns) const;
  bool device_matches(int32_t map_id, uint64_t phys, const AccessDescription* d) const;
  bool offset_matches(int32_t map_id, uint64_t phys, const AccessDescription* d) const;
  bool register_matches(const AccessDescription& d) const;

  FilterSpec spec_;
  bool everything_ = true;
  bool window_open_ = true;
  const DeviceCatalog* catalog_ = nullptr;
  RegisterBindings* bindings_ = nullptr;
  std::vector<Range> function_pcs_;
  // For each binding's map, which registers a --reg pattern without an index names.
  std::vector<std::vector<bool>> register_selected_;
  bool indexed_patterns_ = false;  // some --reg pattern has '[': names are formatted and matched
  AccessDescription scratch_;
};

}  // namespace mmiotrace::analysis
