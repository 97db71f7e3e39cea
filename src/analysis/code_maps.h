// CodeMaps: which file holds the code at a program address, for each process
// of a trace, as of a point in the trace. Fed the trace's records in order
// (CODEMAP records, trace/format.h); a later CODEMAP of a process replaces the
// ones it overlaps, and one flagged kCodeMapFirst starts the process's address
// space afresh (the program was exec'd).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "trace/reader.h"

namespace mmiotrace::analysis {

// One executable mapping of a file, as recorded.
struct CodeMap {
  uint64_t id = 0;  // 1, 2, ... in the order the maps were added
  uint32_t pid = 0;
  uint64_t virt = 0;
  uint64_t len = 0;
  uint64_t file_offset = 0;
  uint64_t elf_vaddr = 0;  // ELF virtual address of the byte at `virt`
  uint64_t mtime_ns = 0;
  uint64_t file_size = 0;
  uint64_t inode = 0;
  std::vector<uint8_t> build_id;  // empty: the file had none
  std::string path;

  // The offset in the file of the byte at program address `pc` (inside the map).
  uint64_t file_offset_of(uint64_t pc) const { return pc - virt + file_offset; }
};

std::string hex_string(std::span<const uint8_t> bytes);

class CodeMaps {
 public:
  // Takes a record of the trace; records of other types are ignored.
  void add(const trace::RecordView& record);
  // The map that holds `pc` in process `pid` now, or null.
  const CodeMap* find(uint32_t pid, uint64_t pc) const;
  // Every map added so far, in order (maps that were replaced included).
  const std::vector<std::shared_ptr<const CodeMap>>& all() const { return all_; }
  bool empty() const { return all_.empty(); }

 private:
  // Per process: maps by start address, never overlapping.
  std::unordered_map<uint32_t, std::map<uint64_t, std::shared_ptr<const CodeMap>>> by_pid_;
  std::vector<std::shared_ptr<const CodeMap>> all_;
};

}  // namespace mmiotrace::analysis
