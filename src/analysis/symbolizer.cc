#include "analysis/symbolizer.h"

#include <cxxabi.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "common/unique_fd.h"

namespace mmiotrace::analysis {

namespace {

// The GNU build-id of the ELF file at `path`; nullopt if it cannot be read
// or is no ELF file, an empty vector if it has none.
std::optional<std::vector<uint8_t>> file_build_id(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::nullopt;
  Elf* elf = elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr);
  if (elf == nullptr) return std::nullopt;
  std::optional<std::vector<uint8_t>> id;
  if (elf_kind(elf) == ELF_K_ELF) {
    const void* bytes = nullptr;
    const ssize_t n = dwelf_elf_gnu_build_id(elf, &bytes);
    id.emplace();
    if (n > 0) id->assign(static_cast<const uint8_t*>(bytes), static_cast<const uint8_t*>(bytes) + n);
  }
  elf_end(elf);
  return id;
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string demangle(const char* name) {
  if (std::strncmp(name, "_Z", 2) != 0) return name;
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (d == nullptr) return name;
  std::string s(d);
  std::free(d);
  return s;
}

std::string base_name(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string Symbol::text() const {
  if (!available) return fmt::format("? ({})", why);
  std::string s = function.empty() ? fmt::format("{}+{:#x}", base_name(object), object_offset)
                                   : fmt::format("{}+{:#x}", function, offset);
  if (!file.empty()) s += fmt::format(" ({}:{})", file, line);
  return s;
}

struct Symbolizer::Object {
  std::string why;   // not usable: why
  std::string used;  // the file opened
  Dwfl* dwfl = nullptr;
  Dwfl_Module* module = nullptr;
  ~Object() {
    if (dwfl != nullptr) dwfl_end(dwfl);
  }
};

Symbolizer::Symbolizer() : Symbolizer(Options{}) {}

Symbolizer::Symbolizer(Options options) : options_(std::move(options)) {
  // libdwfl's path: ":" separated; "" (the file's own folder), ".debug" (a
  // .debug folder beside it), then the debug folders, searched by build-id
  // and by the file's .gnu_debuglink name.
  debuginfo_path_ = ":.debug";
  for (const std::string& d : options_.debug_dirs) debuginfo_path_ += ":" + d;
  debuginfo_path_ptr_ = debuginfo_path_.data();
  // libdwfl keeps a pointer to the callbacks: they live as long as this.
  callbacks_.find_elf = nullptr;
  callbacks_.find_debuginfo = dwfl_standard_find_debuginfo;
  callbacks_.section_address = dwfl_offline_section_address;
  callbacks_.debuginfo_path = &debuginfo_path_ptr_;
  no_map_.why =
      "no code mapping was recorded for this address (a kernel log, or a trace from before format 1.2, has none)";
  elf_version(EV_CURRENT);
}

Symbolizer::~Symbolizer() = default;

Symbolizer::Object& Symbolizer::object_for(const CodeMap& map) {
  const std::string key = map.build_id.empty()
                              ? fmt::format("path:{}:{}:{}:{}", map.path, map.mtime_ns, map.file_size, map.inode)
                              : "id:" + hex_string(map.build_id);
  auto& slot = objects_[key];
  if (slot) return *slot;
  slot = std::make_unique<Object>();
  Object& o = *slot;
  if (!map.build_id.empty()) {
    const std::string id = hex_string(map.build_id);
    std::vector<std::string> candidates{map.path};
    for (const std::string& d : options_.debug_dirs) {
      const std::string stem = fmt::format("{}/.build-id/{}/{}", d, id.substr(0, 2), id.substr(2));
      candidates.push_back(stem + ".debug");
      candidates.push_back(stem);
    }
    for (const std::string& c : candidates) {
      auto got = file_build_id(c);
      if (got && *got == map.build_id) {
        o.used = c;
        break;
      }
    }
    if (o.used.empty()) {
      std::string dirs;
      for (const std::string& d : options_.debug_dirs) dirs += (dirs.empty() ? "" : ", ") + d + "/.build-id";
      o.why = fmt::format("{} {} since the trace was recorded and no file with its build-id {} was found in {}",
                          map.path, exists(map.path) ? "has changed" : "is gone", id,
                          dirs.empty() ? std::string("no debug folder") : dirs);
      return o;
    }
  } else {
    struct stat st;
    const bool same =
        ::stat(map.path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == map.file_size &&
        st.st_ino == map.inode &&
        static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000u + static_cast<uint64_t>(st.st_mtim.tv_nsec) ==
            map.mtime_ns;
    if (!same) {
      o.why = fmt::format("{} {} since the trace was recorded and has no build-id to find the recorded version by",
                          map.path, exists(map.path) ? "has changed" : "is gone");
      return o;
    }
    o.used = map.path;
  }
  o.dwfl = dwfl_begin(&callbacks_);
  if (o.dwfl != nullptr) {
    dwfl_report_begin(o.dwfl);
    // Placed so that module addresses are the file's own ELF virtual addresses.
    o.module = dwfl_report_elf(o.dwfl, base_name(map.path).c_str(), o.used.c_str(), -1, 0, true);
    dwfl_report_end(o.dwfl, nullptr, nullptr);
  }
  if (o.module == nullptr) o.why = fmt::format("cannot read {}: {}", o.used, dwfl_errmsg(-1));
  return o;
}

Symbol Symbolizer::resolve(const CodeMap& map, uint64_t pc) {
  Symbol s;
  s.object = map.path;
  s.object_offset = map.file_offset_of(pc);
  Object& o = object_for(map);
  if (!o.why.empty()) {
    s.why = o.why;
    return s;
  }
  s.available = true;
  const GElf_Addr addr = pc - map.virt + map.elf_vaddr;
  GElf_Off off = 0;
  GElf_Sym sym;
  if (const char* name = dwfl_module_addrinfo(o.module, addr, &off, &sym, nullptr, nullptr, nullptr)) {
    s.function = demangle(name);
    s.offset = off;
  }
  if (Dwfl_Line* line = dwfl_module_getsrc(o.module, addr)) {
    int lineno = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
      s.file = file;
      s.line = lineno;
    }
  }
  return s;
}

std::vector<std::pair<uint64_t, uint64_t>> Symbolizer::function_ranges(const std::string& name) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& map : maps_.all()) {
    Object& o = object_for(*map);
    if (!o.why.empty()) continue;
    const int n = dwfl_module_getsymtab(o.module);
    for (int i = 0; i < n; ++i) {
      GElf_Sym sym;
      GElf_Addr addr = 0;
      const char* sname = dwfl_module_getsym_info(o.module, i, &sym, &addr, nullptr, nullptr, nullptr);
      if (sname == nullptr || GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_size == 0) continue;
      if (name != sname && name != demangle(sname)) continue;
      // The ELF range, in this map's program addresses where they overlap.
      const uint64_t lo = std::max<uint64_t>(addr, map->elf_vaddr);
      const uint64_t hi = std::min<uint64_t>(addr + sym.st_size, map->elf_vaddr + map->len);
      if (lo >= hi) continue;
      out.emplace_back(lo - map->elf_vaddr + map->virt, hi - 1 - map->elf_vaddr + map->virt);
    }
  }
  return out;
}

const Symbol& Symbolizer::lookup(uint32_t pid, uint64_t pc) {
  const CodeMap* map = maps_.find(pid, pc);
  if (map == nullptr) return no_map_;
  auto key = std::make_pair(map->id, pc);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  return cache_.emplace(key, resolve(*map, pc)).first->second;
}

}  // namespace mmiotrace::analysis
