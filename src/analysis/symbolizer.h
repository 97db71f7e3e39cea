// Symbolizer: turns an instruction address of a traced program into
// function+offset and file:line (elfutils' libdwfl), from the code maps the
// trace recorded (CODEMAP records, analysis/code_maps.h), also after the
// program's files have changed: the file is taken only if it is still the one
// that was mapped (same GNU build-id; without a build-id, same size,
// modification time and inode), else looked up by build-id in the debug
// folders (`<dir>/.build-id/xx/yyyy.debug`, as Debian's -dbgsym packages
// install them). When none fits, the Symbol says why.
#pragma once

#include <elfutils/libdwfl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "analysis/code_maps.h"
#include "trace/reader.h"

namespace mmiotrace::analysis {

struct Symbol {
  bool available = false;  // a file with the recorded code was found; else `why` says why not
  std::string function;    // demangled; empty if no symbol covers the address
  uint64_t offset = 0;     // from the function's start
  std::string file;        // source file; empty without line information
  int line = 0;
  std::string object;          // the file the code was mapped from, as recorded ("" without a code map)
  uint64_t object_offset = 0;  // the address's offset in that file
  std::string why;             // when !available

  // "function+0x1a (file.c:34)", "libfoo.so+0x1234" without a symbol, or
  // "? (why)" when nothing is available.
  std::string text() const;
};

class Symbolizer {
 public:
  struct Options {
    std::vector<std::string> debug_dirs{"/usr/lib/debug"};  // searched for .build-id/xx/yyyy[.debug]
  };
  Symbolizer();
  explicit Symbolizer(Options options);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Takes the trace's records in order; the CODEMAP ones say where code was.
  void add(const trace::RecordView& record) { maps_.add(record); }
  // The symbol for the instruction at `pc` in process `pid`, as the code was
  // mapped at this point of the trace. Valid until the Symbolizer goes away.
  const Symbol& lookup(uint32_t pid, uint64_t pc);
  const CodeMaps& maps() const { return maps_; }

  // The program addresses of the function `name` (its demangled name, or
  // the symbol as written) in every code map added so far: [first, last]
  // ranges, one per map that holds it. `mmiotrace print --function` and the
  // other filters select accesses by them.
  std::vector<std::pair<uint64_t, uint64_t>> function_ranges(const std::string& name);

 private:
  struct Object;
  Object& object_for(const CodeMap& map);
  Symbol resolve(const CodeMap& map, uint64_t pc);

  Options options_;
  std::string debuginfo_path_;  // libdwfl's search path, from options_.debug_dirs
  char* debuginfo_path_ptr_ = nullptr;
  Dwfl_Callbacks callbacks_{};
  CodeMaps maps_;
  std::map<std::pair<uint64_t, uint64_t>, Symbol> cache_;  // (code map id, pc)
  std::unordered_map<std::string, std::unique_ptr<Object>> objects_;
  Symbol no_map_;
};

}  // namespace mmiotrace::analysis
