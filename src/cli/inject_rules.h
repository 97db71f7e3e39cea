// Fault injection rules as users write them (docs/inject.md), into the
// session's binary form (trace::InjectRule) the agent applies:
//
//   [read|write|any] [OFFSET | phys=ADDR] [width=N] ACTION [nth=N | from=N count=N] [after=TIME] [until=TIME]
//
//   ACTION: value=V  set=MASK  clear=MASK  flip=MASK  random   (reads)
//           drop                                                (writes)
//           delay=TIME  all-ones                                (either)
//   shortcuts: "all-ones [WHEN...]" (every read all-ones, every write dropped),
//              "slow=TIME" (every access delayed)
//
// Words are separated by spaces or commas; numbers are decimal or 0x hex;
// TIME is a number with ns, us, ms or s.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "trace/session.h"

namespace CLI {
class App;
}

namespace mmiotrace::cli {

// --inject RULE (any number), --inject-file FILE, --seed N: the same for
// record and replay.
struct InjectOptions {
  std::vector<std::string> rules;
  std::string file;
  uint64_t seed = 0;
};
void add_inject_options(CLI::App* sub, InjectOptions* options);
// Every rule given, command line first, then the file's.
Result<std::vector<trace::InjectRule>> inject_rules_of(const InjectOptions& options);

inline constexpr size_t kMaxInjectRules = 256;

// One rule. The error names the word that is wrong.
Result<trace::InjectRule> parse_inject_rule(const std::string& text);

// A rules file: one rule per line, '#' starts a comment, blank lines are
// ignored. The error names the file and line.
Result<std::vector<trace::InjectRule>> parse_inject_file(const std::string& path);

// Why `rule` cannot apply in step mode: there the instruction itself reads
// and writes the device, past the backend (no rule applies in step mode).
std::string step_mode_refusal(const trace::InjectRule& rule);

}  // namespace mmiotrace::cli
