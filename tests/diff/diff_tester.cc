// Differential tester for the instruction emulator (src/emu).
//
// For each instance (rows.h: a random instance of one row of the table, fully
// determined by its seed) the instruction runs natively (native.h) and under
// emu::emulate() with a CpuState built from the same initial state and a
// Memory over a copy of the same memory, and the two are compared: the
// outcome (completed; faulted with the same signal and si_code, at the same
// address for #GP and at a faulting byte of the same Memory call for a page
// fault; #UD = DECODE_ERROR), all 16 general registers, RIP, the flags CF PF
// AF ZF SF OF DF, ZMM0-31 in full, k0-k7, and every byte of memory. The
// emulator's Memory calls (read, write, their masked forms, atomic_rmw) are
// checked against the model of the row's accesses: the exact sequence (kind,
// address, size, byte mask), or for rows marked inexact the bytes read and the
// bytes written; when the instruction faults, the calls made must be a prefix
// of that sequence. Calls outside the test region, malformed sizes or masks,
// and refusals of supported rows all fail.
//
//   diff_tester [--instances N] [--seed S] [--row SUBSTRING] [--all-rows]
//               [--replay INSTANCE_SEED] [--max-reports K] [--list] [--dump]
//
// The pieces: tester.h (the loop, tester.cc; the comparison, compare.cc; the
// emulator's Memory, diff_memory.cc), rows.h (the rows, rows.cc; the instance
// generator, generate.cc and generate_forms.cc), native.h (the native run).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "diff/tester.h"

namespace mmiotrace::difftest {
namespace {

uint64_t parse_u64(const char* s) {
  char* end = nullptr;
  const uint64_t v = std::strtoull(s, &end, 0);
  if (end == s || *end != '\0') {
    std::fprintf(stderr, "diff_tester: not a number: %s\n", s);
    std::exit(2);
  }
  return v;
}

}  // namespace
}  // namespace mmiotrace::difftest

int main(int argc, char** argv) {
  using namespace mmiotrace::difftest;
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--instances" && has_value) {
      opt.instances = parse_u64(argv[++i]);
    } else if (a == "--seed" && has_value) {
      opt.seed = parse_u64(argv[++i]);
    } else if (a == "--row" && has_value) {
      opt.row_filters.push_back(argv[++i]);
    } else if (a == "--all-rows") {
      opt.all_rows = true;
    } else if (a == "--replay" && has_value) {
      opt.replay = true;
      opt.replay_seed = parse_u64(argv[++i]);
    } else if (a == "--max-reports" && has_value) {
      opt.max_reports = static_cast<unsigned>(parse_u64(argv[++i]));
    } else if (a == "--list") {
      opt.list = true;
    } else if (a == "--dump") {
      opt.dump = true;
    } else {
      std::fprintf(stderr,
                   "usage: diff_tester [--instances N] [--seed S] [--row SUBSTRING]... [--all-rows]\n"
                   "                   [--replay INSTANCE_SEED] [--max-reports K] [--list] [--dump]\n");
      return 2;
    }
  }
  Tester tester(opt);
  return tester.main();
}
