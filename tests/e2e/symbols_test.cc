// Symbolized instruction addresses (docs/trace-format.md, CODEMAP; the
// analysis library's Symbolizer): a program and a plugin it dlopens, both
// with debug information, are recorded; every access must come out as the
// function and source line that made it, in a forked child too, also when the
// plugin was found only through the program's own RUNPATH (the dlopen interposer must not take the
// program's place as dlopen's caller), and after the program's file has
// changed: by build-id from a debug folder, or with a message saying why not.
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "analysis/code_maps.h"
#include "analysis/symbolizer.h"
#include "harness.h"
#include "trace/reader.h"

namespace mmiotrace::e2e {
namespace {

namespace fs = std::filesystem;

const std::string kDir = E2E_SYMBOLS_DIR;

// The line of `marker` in one of the test program's sources.
int line_of(const std::string& source, const std::string& marker) {
  std::ifstream in(std::string(E2E_SOURCE_DIR) + "/symbols/" + source);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find(marker) != std::string::npos) return n;
  }
  ADD_FAILURE() << marker << " not in " << source;
  return 0;
}

std::string build_id_of(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  const void* id = nullptr;
  const ssize_t n = elf != nullptr ? dwelf_elf_gnu_build_id(elf, &id) : -1;
  std::string hex =
      n > 0 ? analysis::hex_string({static_cast<const uint8_t*>(id), static_cast<size_t>(n)}) : std::string();
  if (elf != nullptr) elf_end(elf);
  ::close(fd);
  return hex;
}

struct Symbolized {
  std::vector<std::string> writes;  // "W 0x4 <symbol text>" per write, in order
  std::vector<trace::CodeMapRecord> code_maps;
  std::vector<std::string> code_map_paths;
};

Symbolized symbolize(const std::string& trace_path, analysis::Symbolizer::Options options = {}) {
  Symbolized out;
  auto reader = trace::TraceReader::open(trace_path);
  EXPECT_TRUE(reader.ok()) << reader.error();
  if (!reader.ok()) return out;
  analysis::Symbolizer symbolizer(options);
  trace::RecordView v;
  for (;;) {
    auto more = reader->next(v);
    EXPECT_TRUE(more.ok()) << more.error();
    if (!more.ok() || !*more) break;
    symbolizer.add(v);
    if (v.type() == trace::RecordType::CODEMAP) {
      out.code_maps.push_back(v.as<trace::CodeMapRecord>());
      out.code_map_paths.emplace_back(v.codemap_path());
    }
    if (v.type() != trace::RecordType::ACCESS) continue;
    const auto a = v.as<trace::AccessRecord>();
    if (a.op != static_cast<uint8_t>(trace::AccessOp::WRITE)) continue;
    // The source file by its name: its folder is the build's (relative with
    // ccache's base folder).
    const analysis::Symbol& sym = symbolizer.lookup(a.pid, a.pc);
    out.writes.push_back(fmt::format("W {:#x} {}", a.phys,
                                     sym.file.empty() ? sym.text()
                                                      : fmt::format("{}+{:#x} ({}:{})", sym.function, sym.offset,
                                                                    fs::path(sym.file).filename().string(), sym.line)));
  }
  return out;
}

std::string expected_main() {
  return fmt::format("poke_doorbell+0x0 (symbols_main.c:{})", line_of("symbols_main.c", "SYMBOLS-TEST: poke_doorbell"));
}

std::string expected_plugin() {
  return fmt::format("plugin_poke+0x0 (symbols_plugin.c:{})", line_of("symbols_plugin.c", "SYMBOLS-TEST: plugin_poke"));
}

class Symbols : public ::testing::TestWithParam<std::string> {};

// "path": dlopen by path (the interposer calls dlopen and records at once);
// "bare": by a name only the program's RUNPATH finds (the interposer jumps to
// dlopen untouched; the plugin is recorded before the next device mapping).
TEST_P(Symbols, EveryWriteIsItsFunctionAndLine) {
  const std::string plugin = kDir + "/plugin/libsymbols_plugin.so";
  TracedRun run = run_traced("Symbols_" + GetParam(), kDir + "/symbols_main", {GetParam() == "bare" ? "bare" : plugin},
                             4096, {}, false);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err << "\nreproduce: " << run.repro;
  Symbolized s = symbolize(run.dir + "/trace.mmio");
  // The third write is the forked child's: its code maps are its parent's.
  EXPECT_EQ(s.writes, (std::vector<std::string>{"W 0x4 " + expected_main(), "W 0x8 " + expected_plugin(),
                                                "W 0x4 " + expected_main()}))
      << "reproduce: " << run.repro;

  // The program's code map comes first, flagged as the start of its address
  // space, with the file's build-id; the plugin's with its own.
  ASSERT_FALSE(s.code_maps.empty());
  EXPECT_EQ(s.code_map_paths[0], fs::canonical(kDir + "/symbols_main").string());
  EXPECT_TRUE(s.code_maps[0].flags & trace::kCodeMapFirst);
  const std::string main_id = build_id_of(kDir + "/symbols_main");
  ASSERT_FALSE(main_id.empty());
  const auto plugin_at = std::find(s.code_map_paths.begin(), s.code_map_paths.end(), fs::canonical(plugin).string());
  ASSERT_NE(plugin_at, s.code_map_paths.end());
  // The program mapped the plugin's file executable itself: one more code map,
  // flagged mmap, at the address it printed.
  size_t mmapped = 0;
  for (size_t i = 0; i < s.code_maps.size(); ++i) {
    if (s.code_maps[i].flags & trace::kCodeMapMmap) {
      ++mmapped;
      EXPECT_EQ(s.code_map_paths[i], fs::canonical(plugin).string());
      EXPECT_NE(run.out.find(fmt::format("MMAPPED {:#x} ", s.code_maps[i].virt)), std::string::npos) << run.out;
      EXPECT_EQ(s.code_maps[i].file_offset, 0u);
      EXPECT_EQ(s.code_maps[i].build_id_len, 20u);
    }
  }
  EXPECT_EQ(mmapped, 1u);
}

INSTANTIATE_TEST_SUITE_P(Dlopen, Symbols, ::testing::Values("path", "bare"));

// "... in f+0x0 (../x/y.c:22)" -> "f+0x0 (y.c:22)": the text after `in ` at
// `from`, its source file by name (the build's folder may be relative).
std::string symbol_after(const std::string& line, const std::string& from) {
  size_t at = line.find(from);
  if (at == std::string::npos) return "(no '" + from + "' in: " + line + ")";
  std::string s = line.substr(at + from.size());
  const size_t open = s.find('('), slash = s.rfind('/');
  if (open != std::string::npos && slash != std::string::npos && slash > open) s.erase(open + 1, slash - open);
  return s;
}

// `print --symbols` names each access's function in every format, and
// `print --function` keeps only that function's accesses.
TEST(PrintSymbols, EveryFormatAndTheFunctionFilter) {
  TracedRun run =
      run_traced("PrintSymbols", kDir + "/symbols_main", {kDir + "/plugin/libsymbols_plugin.so"}, 4096, {}, false);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::string trace = run.dir + "/trace.mmio";
  auto print = [&](std::vector<std::string> args, int* status = nullptr) {
    args.insert(args.begin(), {mmiotrace_path(), "print"});
    args.push_back(trace);
    std::string out, err;
    const int st = exit_status(run_command(args, &out, &err));
    if (status != nullptr) {
      *status = st;
      return err;
    }
    EXPECT_EQ(st, 0) << err;
    return out;
  };
  auto lines_with = [](const std::string& text, const std::string& needle) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (line.find(needle) != std::string::npos) out.push_back(line);
    return out;
  };
  const std::vector<std::string> all{expected_main(), expected_plugin(), expected_main()};
  struct Format {
    const char* name;
    const char* access;  // a text every access line has and no other line
    const char* before;  // what comes before the symbol
  };
  for (const Format& f : {Format{"kernel", "W 4 ", " # in "}, Format{"native", " W 4 ", " in "},
                          Format{"annotated", "  W4  ", "  in "}, Format{"csv", ",ACCESS,", ",,,,,,"}}) {
    SCOPED_TRACE(f.name);
    std::vector<std::string> got;
    for (const std::string& line : lines_with(print({"--symbols", "--format", f.name}), f.access)) {
      std::string sym = symbol_after(line, f.before);
      if (std::string_view(f.name) == "native") sym = sym.substr(0, sym.find(" insn="));
      got.push_back(sym);
    }
    EXPECT_EQ(got, all);
  }
  const std::vector<std::string> json = lines_with(print({"--symbols", "--format", "json"}), "\"type\":\"access\"");
  ASSERT_EQ(json.size(), 3u);
  EXPECT_NE(json[1].find("\"symbol\":{\"text\":\"plugin_poke+0x0 ("), std::string::npos) << json[1];
  EXPECT_NE(json[1].find(fmt::format("\"function\":\"plugin_poke\",\"offset\":\"0x0\",\"file\":")), std::string::npos);
  EXPECT_NE(json[1].find(fmt::format("symbols_plugin.c\",\"line\":{}",
                                     line_of("symbols_plugin.c", "SYMBOLS-TEST: plugin_poke"))),
            std::string::npos)
      << json[1];

  // --function: the plugin's one write, then the program's two (the forked child's too).
  std::vector<std::string> only = lines_with(print({"--function", "plugin_poke", "--format", "csv"}), ",ACCESS,");
  ASSERT_EQ(only.size(), 1u);
  EXPECT_NE(only[0].find(",W,4,1,0x8,0x5678,"), std::string::npos) << only[0];
  only = lines_with(print({"--function", "poke_doorbell", "--format", "csv"}), ",ACCESS,");
  ASSERT_EQ(only.size(), 2u);
  for (const std::string& line : only) EXPECT_NE(line.find(",W,4,1,0x4,0x1234,"), std::string::npos) << line;

  int status = 0;
  EXPECT_EQ(print({"--function", "no_such_function"}, &status),
            "mmiotrace: --function no_such_function: no function of that name in the trace's code\n");
  EXPECT_EQ(status, 64);
}

// The program is copied, recorded, then overwritten: its code is found again
// only by build-id, in a debug folder, until a copy of it is put there.
TEST(SymbolsAfterChange, FoundByBuildIdOrSaidWhyNot) {
  const std::string dir = work_dir() + "/SymbolsAfterChange";
  fs::remove_all(dir);
  fs::create_directories(dir + "/debug");
  const std::string copy = dir + "/symbols_main";
  fs::copy_file(kDir + "/symbols_main", copy);
  TracedRun run = run_traced("SymbolsAfterChange_run", copy, {kDir + "/plugin/libsymbols_plugin.so"}, 4096, {}, false);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::string trace = run.dir + "/trace.mmio";
  analysis::Symbolizer::Options options;
  options.debug_dirs = {dir + "/debug"};
  EXPECT_EQ(symbolize(trace, options).writes[0], "W 0x4 " + expected_main());

  // Another program in its place.
  fs::copy_file(kDir + "/symbols_main_noid", copy, fs::copy_options::overwrite_existing);
  const std::string id = build_id_of(kDir + "/symbols_main");
  EXPECT_EQ(symbolize(trace, options).writes[0],
            fmt::format("W 0x4 ? ({} has changed since the trace was recorded and no file with its build-id {} was "
                        "found in {}/debug/.build-id)",
                        fs::canonical(copy).string(), id, dir));
  // The plugin did not change: still found.
  EXPECT_EQ(symbolize(trace, options).writes[1], "W 0x8 " + expected_plugin());

  // The recorded version where a -dbgsym package would put it.
  const std::string debug_file = fmt::format("{}/debug/.build-id/{}/{}.debug", dir, id.substr(0, 2), id.substr(2));
  fs::create_directories(fs::path(debug_file).parent_path());
  fs::copy_file(kDir + "/symbols_main", debug_file);
  EXPECT_EQ(symbolize(trace, options).writes[0], "W 0x4 " + expected_main());
  fs::remove_all(dir);
}

// Without a build-id, a changed file cannot be told from the recorded one by
// content: only its size, time and inode, and the message says so.
TEST(SymbolsAfterChange, NoBuildIdChangedFileSaysWhy) {
  const std::string dir = work_dir() + "/SymbolsNoBuildId";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string copy = dir + "/symbols_main_noid";
  fs::copy_file(kDir + "/symbols_main_noid", copy);
  TracedRun run = run_traced("SymbolsNoBuildId_run", copy, {kDir + "/plugin/libsymbols_plugin.so"}, 4096, {}, false);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const std::string trace = run.dir + "/trace.mmio";
  EXPECT_EQ(symbolize(trace).writes[0], "W 0x4 " + expected_main());
  fs::remove(copy);
  fs::copy_file(kDir + "/symbols_main", copy);
  EXPECT_EQ(symbolize(trace).writes[0],
            fmt::format("W 0x4 ? ({} has changed since the trace was recorded and has no build-id to find the "
                        "recorded version by)",
                        fs::canonical(copy).string()));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mmiotrace::e2e
