#include "analysis/code_maps.h"

namespace mmiotrace::analysis {

std::string hex_string(std::span<const uint8_t> bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

void CodeMaps::add(const trace::RecordView& record) {
  if (record.type() != trace::RecordType::CODEMAP) return;
  const auto r = record.as<trace::CodeMapRecord>();
  auto map = std::make_shared<CodeMap>();
  map->id = all_.size() + 1;
  map->pid = r.pid;
  map->virt = r.virt;
  map->len = r.len;
  map->file_offset = r.file_offset;
  map->elf_vaddr = r.elf_vaddr;
  map->mtime_ns = r.mtime_ns;
  map->file_size = r.file_size;
  map->inode = r.inode;
  const auto id = record.codemap_build_id();
  map->build_id.assign(id.begin(), id.end());
  map->path = std::string(record.codemap_path());
  auto& maps = by_pid_[r.pid];
  if (r.flags & trace::kCodeMapFirst) maps.clear();
  // Drop what the new map overlaps (whole maps: a mapping partly replaced is
  // rare and then mostly gone).
  const uint64_t end = r.virt + r.len;
  auto it = maps.lower_bound(r.virt);
  if (it != maps.begin() && std::prev(it)->second->virt + std::prev(it)->second->len > r.virt) --it;
  while (it != maps.end() && it->first < end) it = maps.erase(it);
  maps[r.virt] = map;
  all_.push_back(std::move(map));
}

const CodeMap* CodeMaps::find(uint32_t pid, uint64_t pc) const {
  auto p = by_pid_.find(pid);
  if (p == by_pid_.end()) return nullptr;
  auto it = p->second.upper_bound(pc);
  if (it == p->second.begin()) return nullptr;
  --it;
  const CodeMap& m = *it->second;
  return pc - m.virt < m.len ? &m : nullptr;
}

}  // namespace mmiotrace::analysis
