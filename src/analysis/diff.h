// Diff of two traces at register level (docs/diff.md): each trace becomes
// the sequence of its accesses as registers see them (op, register, width,
// value; one event per register an access touches; times, PCs, threads left
// out), consecutive identical reads (polling) folded into one; the two
// sequences are aligned with Myers' algorithm, and differences come out as a
// person reads them: accesses only in A, only in B, and the same register
// accessed with another value, with what changed ("LU cleared").
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "analysis/bind.h"
#include "analysis/devices.h"
#include "analysis/walk.h"

namespace mmiotrace::analysis {

struct DiffOptions {
  // Registers whose accesses are left out of both sides: globs matched against
  // the register's name ("RDBAL", "RAL*", "RAL[3]") and with its map's label
  // ("e1000 RDBAL").
  std::vector<std::string> ignore_registers;
  // Fields whose bits are not compared: "REGISTER.FIELD" globs ("STATUS.LU", "*.SPEED").
  std::vector<std::string> ignore_fields;
  bool ignore_values = false;  // compare which registers are accessed, in order, not their values
  bool count_polls = false;    // a read repeated N times differs from one repeated M times
  unsigned context = 3;        // equal accesses shown around each difference
};

// The names, values and bits to ignore of each distinct (op, register,
// width), shared by both sides so that their events compare.
class DiffKeys;

struct DiffEvent {
  uint32_t key = 0;
  uint32_t token = 0;   // equal tokens: equal events (key and compared value)
  uint64_t value = 0;   // as accessed
  bool known = false;   // value known (not `?`, at most 8 bytes)
  uint32_t repeat = 1;  // identical reads folded into this one
  uint64_t seq = 0;
  uint64_t time_ns = 0;
  uint64_t pc = 0;
  uint32_t pid = 0;
};

// One trace's events, collected by walking it (walk.h) with its own bindings.
class DiffSide final : public TraceVisitor {
 public:
  DiffSide(DiffKeys& keys, int side, const DiffOptions& options, const DeviceCatalog* devices);
  void on_access(const Access& access, const AccessDescription* described) override;
  const std::vector<DiffEvent>& events() const { return events_; }
  uint64_t accesses() const { return accesses_; }

 private:
  void add(const Access& a, uint32_t key, bool known, uint64_t value);
  DiffKeys& keys_;
  int side_;
  const DiffOptions& options_;
  const DeviceCatalog* devices_;
  std::vector<DiffEvent> events_;
  uint64_t accesses_ = 0;
};

class DiffKeys {
 public:
  explicit DiffKeys(const DiffOptions& options) : options_(options) {}
  ~DiffKeys();
  // The key of a part of an access, or -1 when the register is ignored.
  // `reg`/`byte`/`variant` (reg may be null) let values be decoded and
  // compared without the ignored fields.
  int64_t key(char op, const std::string& label, const std::string& name, unsigned width, int side, const Register* reg,
              unsigned byte, const Binding* binding);
  uint32_t token(uint32_t key, bool known, uint64_t value);

  struct Key {
    char op = 'R';
    std::string label;  // the map's label, or "" for a device address
    std::string name;   // "STATUS", "RAL[3]", "0000:00:03.0 BAR0+0x8"
    unsigned width = 0;
    uint64_t ignored = 0;                         // bits (of the part's value) not compared
    const Register* reg[2] = {nullptr, nullptr};  // per side (each side has its own maps)
    unsigned byte = 0;
    const Binding* binding[2] = {nullptr, nullptr};
    std::string full_name() const { return label.empty() ? name : label + " " + name; }
  };
  const Key& at(uint32_t key) const { return keys_[key]; }

 private:
  const DiffOptions& options_;
  std::vector<Key> keys_;
  std::map<std::tuple<char, std::string, std::string, unsigned>, int64_t> ids_;
  std::map<std::tuple<uint32_t, bool, uint64_t>, uint32_t> tokens_;
};

struct DiffResult {
  uint64_t only_a = 0;  // events only in A
  uint64_t only_b = 0;
  uint64_t changed = 0;                // same register, another value
  std::vector<std::string> registers;  // that differ, in order of first difference
  bool same() const { return only_a == 0 && only_b == 0 && changed == 0; }
};

// Aligns the sides and writes the differences (with `context` equal events
// around each) to `out`; `a_name`/`b_name` head the output.
DiffResult diff_sides(const DiffKeys& keys, const DiffSide& a, const DiffSide& b, const DiffOptions& options,
                      const std::string& a_name, const std::string& b_name, fmt::memory_buffer& out);

}  // namespace mmiotrace::analysis
