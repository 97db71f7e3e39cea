// mmiotrace record: run a program with the agent preloaded and write its
// device accesses to a trace file (docs/record.md).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/inject_rules.h"
#include "cli/launch.h"
#include "cli/model_spec.h"
#include "cli/recorder.h"
#include "cli/session_file.h"

namespace mmiotrace::cli {

namespace {

// --device patterns are matched against the canonical path of the mapped file
// (the kernel's name for the descriptor), so canonicalize what can be.
std::string canonical_glob(const std::string& glob) {
  std::error_code ec;
  if (glob.find_first_of("*?[") == std::string::npos) {
    auto p = std::filesystem::weakly_canonical(std::filesystem::absolute(glob, ec), ec);
    return ec ? glob : p.string();
  }
  std::filesystem::path g = std::filesystem::absolute(glob, ec);
  std::filesystem::path dir = g.parent_path();
  if (dir.string().find_first_of("*?[") == std::string::npos) {
    auto canon = std::filesystem::weakly_canonical(dir, ec);
    if (!ec) return (canon / g.filename()).string();
  }
  return g.string();
}

// The --device identities, parsed and checked (globs made canonical).
// Returns 0, or the exit status after saying what is wrong.
int parse_devices(RecordOptions& options) {
  for (const std::string& arg : options.device_args) {
    auto device = parse_stand_in(arg);
    if (!device) {
      print_error(device.error());
      return kExitUsage;
    }
    device->glob = canonical_glob(device->glob);
    options.devices.push_back(*device);
  }
  if (auto ok = complete_stand_ins(options.devices); !ok) {
    print_error(ok.error());
    return kExitUsage;
  }
  return 0;
}

int run_record(const RecordOptions& in, const InjectOptions& inject, const std::string& model_arg) {
  RecordOptions options = in;
  if (in.command.empty()) {
    print_error("record needs a program to run: mmiotrace record [-o FILE] [--device GLOB]... -- PROGRAM [ARGS...]");
    return kExitUsage;
  }
  if (int status = parse_devices(options); status != 0) return status;
  auto rules = inject_rules_of(inject);
  if (!rules) {
    print_error(rules.error());
    return kExitUsage;
  }
  if (options.step) {
    for (const trace::InjectRule& r : *rules) {
      if (std::string why = step_mode_refusal(r); !why.empty()) {
        print_error(why);
        return kExitUsage;
      }
    }
  }
  SessionSpec spec;
  spec.rules = *rules;
  spec.seed = inject.seed;
  std::optional<ModelOption> model_option;
  const mmiotrace_model* model = nullptr;
  if (!model_arg.empty()) {
    // A single step lets the instruction reach the mapping itself, where the
    // model would never see it (docs/models.md).
    if (options.step) {
      print_error("--model runs in emulate mode only: --mode=step would let instructions access the stand-in itself");
      return kExitUsage;
    }
    auto o = parse_model_option(model_arg);
    if (!o) {
      print_error(o.error());
      return kExitUsage;
    }
    auto m = load_model(o->library);
    if (!m) {
      print_error(m.error());
      return kExitUsage;
    }
    if (auto ok = model_session_spec(*o, **m, &spec); !ok) {
      print_error(ok.error());
      return kExitUsage;
    }
    model_option = *o;
    model = *m;
  }
  std::optional<SessionFile> session;
  if (!spec.rules.empty() || model != nullptr) {
    auto s = SessionFile::create(spec, clock_ns(CLOCK_MONOTONIC));
    if (!s) {
      print_error(s.error());
      return kExitSoftware;
    }
    if (model != nullptr) {
      if (auto ok = init_model_state(*model_option, *model, s->header()); !ok) {
        print_error(ok.error());
        return kExitUsage;
      }
    }
    session.emplace(std::move(*s));
  }
  LaunchHooks hooks;
  const trace::SessionHeader* h = session ? session->header() : nullptr;
  hooks.summary = [&options, h](const RecordStats& stats) {
    std::string line = record_summary(stats, options.output);
    if (h != nullptr && (h->flags & trace::kSessionModel) != 0) {
      const uint32_t n = h->interrupts.load();
      line += fmt::format("; device model: {} interrupt{}", n, n == 1 ? "" : "s");
    }
    if (h != nullptr && h->rule_count != 0) {
      const uint32_t n = h->injected.load();
      line += fmt::format("; {} access{} changed by injection rules", n, n == 1 ? "" : "es");
    }
    return line;
  };
  return launch(options, session ? &*session : nullptr, hooks);
}

}  // namespace

void add_record_command(CLI::App& root, Action& run, const std::vector<std::string>* after_dashes) {
  auto options = std::make_shared<RecordOptions>();
  auto inject = std::make_shared<InjectOptions>();
  auto model = std::make_shared<std::string>();
  auto* sub = root.add_subcommand("record", "Run a program and record every access it makes to device memory");
  sub->add_option("-o,--output", options->output, "Trace file to write")->capture_default_str();
  sub->add_option("--device", options->device_args,
                  "Treat files matching GLOB as device memory (a stand-in device; physical address = file offset, "
                  "or phys= + offset; with pci=, the trace names it as that PCI device's BAR)")
      ->type_name("GLOB[,phys=ADDR][,pci=VENDOR:DEVICE][,bar=N][,size=BYTES][,slot=BUS:DEV.FN]")
      ->expected(1)  // one pattern per --device: `--device X PROGRAM` must not take PROGRAM as a pattern
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option_function<std::string>(
         "--mode", [options](const std::string& m) { options->step = m == "step"; },
         "emulate: emulate each faulting instruction (default); step: run it for real on the device, "
         "single-stepped (race-free with protection keys, else with mprotect)")
      ->type_name("emulate|step")
      ->check(CLI::IsMember({"emulate", "step"}));
  sub->add_flag(
      "--no-follow", options->no_follow,
      "Trace only PROGRAM itself: the processes it starts (fork, vfork, clone, posix_spawn, exec) run untraced");
  sub->add_option("--patch-after", options->patch_after,
                  "Patch an instruction that has faulted on device memory N times into a jump to a trampoline "
                  "that records its accesses without faulting (docs/record.md, Patching)")
      ->type_name("N")
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
      ->check(CLI::Range(1u, 1000000000u));
  sub->add_flag("--no-patch", options->no_patch, "Never patch: every device access takes a fault");
  sub->add_flag("--drop-when-full", options->drop_when_full,
                "When a buffer is full, drop device accesses (counted, and shown as \"Lost N events\") instead of "
                "making the program wait");
  sub->add_flag("--allow-untraceable", options->allow_untraceable,
                "Run PROGRAM even if the agent cannot enter it (statically linked, not x86-64): it runs untraced, "
                "and the trace says so");
  add_inject_options(sub, inject.get());
  sub->add_option("--model", *model,
                  "Run the program against a device model (a shared library, include/mmiotrace/model.h) instead of "
                  "a device: the program opens PATH (default /sys/bus/pci/devices/SLOT/resource0) and its accesses "
                  "are answered by the model (docs/models.md)")
      ->type_name("LIB[,device=PATH][,slot=BUS:DEV.FN][,phys=ADDR][,irq=N][,args=TEXT]");
  sub->add_option("--sysroot", options->sysroot, "Look for /sys and /dev under DIR (testing)")
      ->type_name("DIR")
      ->group("");
  sub->add_option("--testing-consumer-delay-ms", options->consumer_delay_ms, "")->group("");  // tests: a slow consumer
  // Without `--`, everything from the program's name on belongs to the
  // program, options included.
  sub->prefix_command();
  sub->footer("Example: mmiotrace record -o t.mmio --device /tmp/fake-bar0 -- ./driver /tmp/fake-bar0");
  sub->callback([&run, options, inject, model, sub, after_dashes] {
    // `record [OPTIONS] PROGRAM ARGS -- MORE` gives the program its own `--`.
    options->command = sub->remaining();
    if (after_dashes != nullptr) {
      if (!options->command.empty()) options->command.emplace_back("--");
      options->command.insert(options->command.end(), after_dashes->begin(), after_dashes->end());
    }
    run = [options, inject, model] { return run_record(*options, *inject, *model); };
  });
}

}  // namespace mmiotrace::cli
