#include "cli/inject_rules.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>

namespace mmiotrace::cli {

namespace {

using trace::InjectAction;
using trace::InjectRule;
using trace::InjectWhere;

std::optional<uint64_t> number(const std::string& s) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = strtoull(s.c_str(), &end, 0);
  if (errno != 0 || end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

std::optional<uint64_t> duration_ns(const std::string& s) {
  struct Unit {
    const char* suffix;
    uint64_t ns;
  };
  for (const Unit& u : {Unit{"ns", 1}, Unit{"us", 1000}, Unit{"ms", 1000000}, Unit{"s", 1000000000}}) {
    const size_t n = strlen(u.suffix);
    if (s.size() <= n || s.compare(s.size() - n, n, u.suffix) != 0) continue;
    const std::string digits = s.substr(0, s.size() - n);
    if (digits.empty() || !isdigit(static_cast<unsigned char>(digits.back()))) continue;  // "ms" ends in "s"
    auto v = number(digits);
    if (!v || *v > UINT64_MAX / u.ns) return std::nullopt;
    return *v * u.ns;
  }
  return std::nullopt;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == ',') {
      if (!w.empty()) out.push_back(w);
      w.clear();
    } else {
      w += c;
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}

Error bad(const std::string& rule, const std::string& why) {
  return make_error(fmt::format("injection rule '{}': {}", rule, why));
}

// What a rule says, before it is checked as a whole.
struct Parsed {
  uint8_t ops = 0;  // given explicitly
  std::optional<InjectAction> action;
  std::string action_word;
  bool has_nth = false, has_from = false, has_count = false;
};

}  // namespace

Result<InjectRule> parse_inject_rule(const std::string& text) {
  InjectRule r{};
  r.from = 1;
  r.count = UINT64_MAX;
  r.until_ns = UINT64_MAX;
  Parsed p;
  const std::vector<std::string> ws = words(text);
  if (ws.empty()) return bad(text, "empty");
  for (const std::string& w : ws) {
    const size_t eq = w.find('=');
    const std::string key = eq == std::string::npos ? w : w.substr(0, eq);
    const std::string val = eq == std::string::npos ? "" : w.substr(eq + 1);
    auto set_action = [&](InjectAction a) -> bool {
      if (p.action) return false;
      p.action = a;
      p.action_word = key;
      return true;
    };
    auto need_number = [&](uint64_t* out) -> Result<void> {
      auto v = number(val);
      if (!v) return bad(text, fmt::format("'{}' needs a number (decimal or 0x hex)", w));
      *out = *v;
      return {};
    };
    auto need_time = [&](uint64_t* out) -> Result<void> {
      auto v = duration_ns(val);
      if (!v) return bad(text, fmt::format("'{}' needs a time with its unit (ns, us, ms or s), e.g. {}=10ms", w, key));
      *out = *v;
      return {};
    };
    Result<void> ok;
    if (w == "read") {
      p.ops |= trace::kInjectRead;
    } else if (w == "write") {
      p.ops |= trace::kInjectWrite;
    } else if (w == "any") {
      p.ops |= trace::kInjectRead | trace::kInjectWrite;
    } else if (eq == std::string::npos && number(w)) {
      if (r.where != static_cast<uint8_t>(InjectWhere::ANY)) return bad(text, "two addresses");
      r.where = static_cast<uint8_t>(InjectWhere::OFFSET);
      r.addr = *number(w);
    } else if (key == "phys") {
      if (r.where != static_cast<uint8_t>(InjectWhere::ANY)) return bad(text, "two addresses");
      r.where = static_cast<uint8_t>(InjectWhere::PHYS);
      ok = need_number(&r.addr);
    } else if (key == "width") {
      uint64_t v = 0;
      ok = need_number(&v);
      if (ok && v != 1 && v != 2 && v != 4 && v != 8) return bad(text, "width must be 1, 2, 4 or 8");
      r.width = static_cast<uint8_t>(v);
    } else if (key == "value" || key == "set" || key == "clear" || key == "flip") {
      const InjectAction a = key == "value"   ? InjectAction::VALUE
                             : key == "set"   ? InjectAction::SET
                             : key == "clear" ? InjectAction::CLEAR
                                              : InjectAction::FLIP;
      if (!set_action(a)) return bad(text, fmt::format("'{}' and '{}': one action per rule", p.action_word, key));
      ok = need_number(&r.operand);
    } else if (w == "random" || w == "all-ones" || w == "drop") {
      const InjectAction a = w == "random" ? InjectAction::RANDOM
                             : w == "drop" ? InjectAction::DROP
                                           : InjectAction::ALL_ONES;
      if (!set_action(a)) return bad(text, fmt::format("'{}' and '{}': one action per rule", p.action_word, w));
    } else if (key == "delay" || key == "slow") {
      if (!set_action(InjectAction::DELAY)) {
        return bad(text, fmt::format("'{}' and '{}': one action per rule", p.action_word, key));
      }
      ok = need_time(&r.delay_ns);
      if (key == "slow") p.ops |= trace::kInjectRead | trace::kInjectWrite;
    } else if (key == "nth") {
      ok = need_number(&r.from);
      r.count = 1;
      p.has_nth = true;
    } else if (key == "from") {
      ok = need_number(&r.from);
      p.has_from = true;
    } else if (key == "count") {
      ok = need_number(&r.count);
      p.has_count = true;
    } else if (key == "after") {
      ok = need_time(&r.after_ns);
    } else if (key == "until") {
      ok = need_time(&r.until_ns);
    } else {
      return bad(text, fmt::format("'{}' is not a word of a rule (docs/inject.md)", w));
    }
    if (!ok) return Error{ok.error()};
  }
  if (!p.action) {
    return bad(text, "no action: value=, set=, clear=, flip=, random, all-ones, drop or delay= (docs/inject.md)");
  }
  r.action = static_cast<uint8_t>(*p.action);
  const bool reads_only = *p.action <= InjectAction::RANDOM;
  if (p.ops == 0) {
    p.ops = reads_only                        ? trace::kInjectRead
            : *p.action == InjectAction::DROP ? trace::kInjectWrite
                                              : trace::kInjectRead | trace::kInjectWrite;
  }
  if (reads_only && (p.ops & trace::kInjectWrite) != 0) {
    return bad(text, fmt::format("'{}' changes what a read returns: it applies to reads only", p.action_word));
  }
  if (*p.action == InjectAction::DROP && (p.ops & trace::kInjectRead) != 0) {
    return bad(text, "'drop' applies to writes only (a read cannot be left unanswered)");
  }
  if (p.has_nth && (p.has_from || p.has_count)) return bad(text, "nth= means from=N count=1: not both");
  if (r.from == 0) return bad(text, "accesses are counted from 1");
  if (r.count == 0) return bad(text, "count=0 matches nothing");
  if (r.after_ns >= r.until_ns) return bad(text, "after= must come before until=");
  r.ops = p.ops;
  std::string shown;
  for (const std::string& w : ws) shown += (shown.empty() ? "" : " ") + w;
  if (shown.size() >= sizeof r.text) shown = shown.substr(0, sizeof r.text - 4) + "...";
  memcpy(r.text, shown.c_str(), shown.size() + 1);
  return r;
}

Result<std::vector<InjectRule>> parse_inject_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(fmt::format("cannot read the rules file {}: {}", path, strerror(errno)));
  std::vector<InjectRule> rules;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    if (words(line).empty()) continue;
    auto r = parse_inject_rule(line);
    if (!r) return make_error(fmt::format("{}:{}: {}", path, n, r.error()));
    rules.push_back(*r);
  }
  return rules;
}

void add_inject_options(CLI::App* sub, InjectOptions* options) {
  sub->add_option("--inject", options->rules,
                  "A fault injection rule, e.g. 'read 0x8 clear=0x2', 'write 0x64 drop', 'all-ones after=10ms', "
                  "'slow=50us' (docs/inject.md)")
      ->type_name("RULE")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--inject-file", options->file, "Fault injection rules, one per line ('#' comments)")
      ->type_name("FILE");
  sub->add_option("--seed", options->seed, "Seed of the injection rules' random values (reproducible)")
      ->type_name("N")
      ->capture_default_str();
}

Result<std::vector<InjectRule>> inject_rules_of(const InjectOptions& options) {
  std::vector<InjectRule> rules;
  for (const std::string& text : options.rules) {
    auto r = parse_inject_rule(text);
    if (!r) return Error{r.error()};
    rules.push_back(*r);
  }
  if (!options.file.empty()) {
    auto more = parse_inject_file(options.file);
    if (!more) return Error{more.error()};
    rules.insert(rules.end(), more->begin(), more->end());
  }
  if (rules.size() > kMaxInjectRules) {
    return make_error(fmt::format("{} injection rules: at most {}", rules.size(), kMaxInjectRules));
  }
  return rules;
}

std::string step_mode_refusal(const InjectRule& rule) {
  return fmt::format(
      "injection rule '{}' cannot apply in step mode: there the instruction itself reads and writes the device, "
      "so what it reads cannot be changed, a write cannot be dropped and an access cannot be held back; use "
      "--mode=emulate (the default) (docs/inject.md, \"Step mode\")",
      rule.text);
}

}  // namespace mmiotrace::cli
