// mmiotrace replay: run a program against a recording instead of its device
// (docs/replay.md). Reads are answered from the recording, writes checked
// against it; what the program does is itself recorded, into a trace.
#include <fmt/format.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <memory>

#include "cli/commands.h"
#include "cli/inject_rules.h"
#include "cli/launch.h"
#include "cli/recording.h"
#include "cli/replay_report.h"
#include "cli/session_file.h"

namespace mmiotrace::cli {

namespace {

struct ReplayOptions {
  std::string trace;
  std::string output = "replay.mmio";
  std::string policy = "strict";
  double stall_timeout_s = 2.0;
  InjectOptions inject;
  std::vector<std::string> command;
};

constexpr size_t kMaxListed = 10;

// Recorded accesses the program made.
uint64_t replayed(const trace::SessionHeader& h, size_t events) {
  const auto* done = reinterpret_cast<const uint8_t*>(&h) + h.consumed_off;
  uint64_t n = 0;
  for (size_t i = 0; i < events; ++i) n += done[i];
  return n;
}

int report(const trace::SessionHeader& h, const Recording& rec, bool strict) {
  const uint32_t stored = h.stored_divergences.load();
  const uint64_t total = h.divergences.load();
  std::string unreplayed = describe_unreplayed(h, rec, kMaxListed);
  if (strict && h.diverged.load() != 0) {
    fmt::print(stderr,
               "mmiotrace: replay diverged from the recording; the program was stopped at the first "
               "difference:\n");
    if (stored != 0) fmt::print(stderr, "{}", describe_divergence(h.divergence[0], rec));
    return kExitDiverged;
  }
  if (total != 0) {
    fmt::print(stderr, "mmiotrace: {} access{} differed from the recording{}:\n", total, total == 1 ? "" : "es",
               total > stored ? fmt::format(" (the first {} listed)", stored) : "");
    for (uint32_t i = 0; i < stored; ++i) fmt::print(stderr, "{}", describe_divergence(h.divergence[i], rec));
  }
  if (!unreplayed.empty()) fmt::print(stderr, "mmiotrace: {}", unreplayed);
  if (strict && !unreplayed.empty()) return kExitDiverged;
  return -1;  // end as the program did
}

int run_replay(const ReplayOptions& options) {
  if (options.command.empty()) {
    print_error("replay needs a trace and a program: mmiotrace replay [-o FILE] TRACE -- PROGRAM [ARGS...]");
    return kExitUsage;
  }
  auto rec = load_recording(options.trace);
  if (!rec) {
    print_error(rec.error());
    return access(options.trace.c_str(), R_OK) != 0 ? kExitNoInput : kExitDataErr;
  }
  if (rec->events.empty() && rec->devices.empty()) {
    print_error(fmt::format("{} records no device mapping: there is nothing to replay", options.trace));
    return kExitDataErr;
  }
  if (rec->lost != 0 || rec->unknown != 0) {
    fmt::print(stderr,
               "mmiotrace: note: the recording is incomplete ({} lost event{}, {} instruction{} it could not "
               "emulate): the replay may diverge where it is\n",
               rec->lost, rec->lost == 1 ? "" : "s", rec->unknown, rec->unknown == 1 ? "" : "s");
  }
  auto rules = inject_rules_of(options.inject);
  if (!rules) {
    print_error(rules.error());
    return kExitUsage;
  }
  const bool strict = options.policy == "strict";
  SessionSpec spec;
  spec.rules = *rules;
  spec.seed = options.inject.seed;
  spec.replay = &*rec;
  spec.policy = strict ? trace::ReplayPolicy::STRICT : trace::ReplayPolicy::LENIENT;
  spec.stall_timeout_ns = static_cast<uint64_t>(options.stall_timeout_s * 1e9);
  const uint64_t start = clock_ns(CLOCK_MONOTONIC);
  auto session = SessionFile::create(spec, start);
  if (!session) {
    print_error(session.error());
    return kExitSoftware;
  }
  RecordOptions record;
  record.output = options.output;
  // Emulate mode only: a single step would let the instruction access the
  // stand-in's backing itself, unmatched (docs/replay.md, "Limits").
  record.command = options.command;
  trace::SessionHeader* h = session->header();
  LaunchHooks hooks;
  hooks.command_name = "replay";
  hooks.usage = "replay needs a trace and a program: mmiotrace replay [-o FILE] TRACE -- PROGRAM [ARGS...]";
  bool killed = false;
  hooks.poll = [h, &killed](pid_t) {
    // Strict: one process found a divergence and ended; the others end too.
    if (!killed && h->diverged.load() != 0) {
      killed = true;
      kill_descendants();
    }
  };
  const Recording& recording = *rec;
  hooks.summary = [h, &recording, &options](const RecordStats& s) {
    std::string line = fmt::format("replayed {} of {} recorded accesses ({} reads, {} writes made) into {}",
                                   replayed(*h, recording.events.size()), recording.events.size(), s.counts.reads,
                                   s.counts.writes, options.output);
    const uint64_t d = h->divergences.load();
    line += d == 0 ? "; no divergence" : fmt::format("; {} divergence{}", d, d == 1 ? "" : "s");
    if (h->rule_count != 0) {
      const uint32_t n = h->injected.load();
      line += fmt::format("; {} access{} changed by injection rules", n, n == 1 ? "" : "es");
    }
    if (const uint64_t r = h->reordered.load(); r != 0) {
      line += fmt::format("; {} access{} out of the recorded order (a wait for another thread's turn gave up)", r,
                          r == 1 ? "" : "es");
    }
    return line;
  };
  hooks.finish = [h, &recording, strict](int) { return report(*h, recording, strict); };
  return launch(record, &*session, hooks);
}

}  // namespace

void add_replay_command(CLI::App& root, Action& run, const std::vector<std::string>* after_dashes) {
  auto options = std::make_shared<ReplayOptions>();
  auto* sub = root.add_subcommand(
      "replay", "Run a program against a recording instead of its device: reads answered, writes checked");
  sub->add_option("-o,--output", options->output, "Trace file to write (what the program did in the replay)")
      ->capture_default_str();
  sub->add_option("--policy", options->policy,
                  "strict: stop at the first access that differs from the recording; lenient: answer it from the "
                  "register's last value and list the differences at the end")
      ->type_name("strict|lenient")
      ->check(CLI::IsMember({"strict", "lenient"}))
      ->capture_default_str();
  sub->add_option("--stall-timeout", options->stall_timeout_s,
                  "Seconds a thread waits for another's recorded access to come first before it goes on out of order")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_inject_options(sub, &options->inject);
  sub->add_option("trace", options->trace, "The recording (a trace file written by mmiotrace record)")
      ->required()
      ->type_name("TRACE");
  sub->prefix_command();
  sub->footer(
      "Example: mmiotrace replay -o replay.mmio trace.mmio -- ./driver /sys/bus/pci/devices/0000:00:04.0/resource0");
  sub->callback([&run, options, sub, after_dashes] {
    options->command = sub->remaining();
    if (after_dashes != nullptr) {
      if (!options->command.empty()) options->command.emplace_back("--");
      options->command.insert(options->command.end(), after_dashes->begin(), after_dashes->end());
    }
    run = [options] { return run_replay(*options); };
  });
}

}  // namespace mmiotrace::cli
