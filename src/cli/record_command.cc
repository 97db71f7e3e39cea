// mmiotrace record: run a program with the agent preloaded and write its
// device accesses to a trace file (docs/record.md).
#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/recorder.h"
#include "common/program_kind.h"

namespace mmiotrace::cli {

namespace {

uint64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// The agent library: $MMIOTRACE_AGENT, else found from this executable's own
// folder: where `cmake --install` puts it (MMIOTRACE_AGENT_FROM_BIN, set by
// the build from the install layout: ../lib/mmiotrace/ by default), then
// where the build tree has it (build/bin/mmiotrace, build/lib/).
Result<std::string> find_agent() {
  if (const char* env = getenv("MMIOTRACE_AGENT"); env != nullptr && *env != '\0') {
    if (access(env, R_OK) != 0) return make_error(fmt::format("MMIOTRACE_AGENT names '{}', which cannot be read", env));
    return std::string(env);
  }
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (const char* rel : {MMIOTRACE_AGENT_FROM_BIN, "../lib/libmmiotrace-agent.so"}) {
    std::filesystem::path p = exe.parent_path() / rel;  // an absolute `rel` replaces the folder
    if (access(p.c_str(), R_OK) == 0) return std::filesystem::weakly_canonical(p, ec).string();
  }
  return make_error(fmt::format("cannot find libmmiotrace-agent.so at {} (set MMIOTRACE_AGENT to its path)",
                                (exe.parent_path() / MMIOTRACE_AGENT_FROM_BIN).lexically_normal().string()));
}

// The program as execvp would find it, or an error a user can act on.
Result<std::string> find_program(const std::string& name) {
  auto runnable = [](const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), F_OK) != 0) return make_error(fmt::format("program '{}' not found", name));
    if (!runnable(name)) return make_error(fmt::format("program '{}' is not an executable file", name));
    return name;
  }
  const char* path = getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (runnable(candidate)) return candidate;
    start = end + 1;
  }
  return make_error(fmt::format("program '{}' not found in PATH", name));
}

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

std::string preload_value(const std::string& agent) {
  const char* existing = getenv("LD_PRELOAD");
  return existing != nullptr && *existing != '\0' ? agent + ":" + existing : agent;
}

// Forks the program. The child reports an exec failure's errno through a
// close-on-exec pipe, so that the parent can say why.
Result<pid_t> spawn(const std::string& program, const std::vector<std::string>& argv, const std::string& agent,
                    const std::string& channel_path, std::atomic<uint32_t>* root_pid) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return make_error(fmt::format("cannot create a pipe: {}", strerror(errno)));
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string preload = preload_value(agent);
  pid_t pid = fork();
  if (pid < 0) return make_error(fmt::format("cannot fork: {}", strerror(errno)));
  if (pid == 0) {
    close(pipefd[0]);
    // The shared channel: the agent knows the process record started (--no-follow).
    root_pid->store(static_cast<uint32_t>(getpid()));
    setenv("LD_PRELOAD", preload.c_str(), 1);
    setenv(trace::kChannelEnv, channel_path.c_str(), 1);
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    execv(program.c_str(), args.data());
    int e = errno;
    (void)!write(pipefd[1], &e, sizeof(e));
    _exit(kExitNotFound);
  }
  close(pipefd[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(pipefd[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(pipefd[0]);
  if (n == sizeof(child_errno)) {
    waitpid(pid, nullptr, 0);
    return make_error(fmt::format("cannot run '{}': {}", program, strerror(child_errno)));
  }
  return pid;
}

// Channel::mark gave up: a live thread kept the order lock (a process
// stopped in the middle of an access), or the recorder's own ring was full.
void warn_no_exit_mark(pid_t pid) {
  fmt::print(stderr,
             "mmiotrace: warning: the trace has no exit MARK for process {}: the order lock stayed taken by a live "
             "thread for 2 s, or the recorder's ring was full\n",
             pid);
}

// The MARK text for how a process ended (waitid's report of it).
std::string exit_text(const siginfo_t& info) {
  if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) {
    return fmt::format("mmiotrace: exit {} killed by signal {}", info.si_pid, info.si_status);
  }
  return fmt::format("mmiotrace: exit {} status {}", info.si_pid, info.si_code == CLD_EXITED ? info.si_status : -1);
}

// A child that has ended, left unreaped (WNOWAIT): its pid, with *info; 0 if
// none has ended yet; -1 if there is no child left.
pid_t ended_child(siginfo_t* info) {
  *info = siginfo_t{};
  if (waitid(P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
  return info->si_pid;
}

// The dynamic loader ignores LD_PRELOAD for a program that changes identity
// on exec (secure-execution mode): the agent would not load.
std::string setid_reason(const std::string& program) {
  struct stat st;
  if (stat(program.c_str(), &st) != 0) return "";
  if ((st.st_mode & S_ISUID) != 0 && st.st_uid != geteuid()) return "set-user-ID";
  if ((st.st_mode & S_ISGID) != 0 && st.st_gid != getegid()) return "set-group-ID";
  return "";
}

// The fast path's part of the summary: hot sites patched, and those that were
// not with why (docs/record.md, "Patching").
std::string patching_summary(const RecordStats& s) {
  uint64_t unpatched = 0;
  for (uint64_t n : s.unpatched) unpatched += n;
  if (!s.patching || (s.patched_sites == 0 && unpatched == 0)) return "";
  std::string text = fmt::format("; {} instruction site{} patched", s.patched_sites, s.patched_sites == 1 ? "" : "s");
  if (unpatched == 0) return text;
  text += fmt::format(", {} not (", unpatched);
  const char* sep = "";
  for (size_t i = 0; i < trace::kUnpatchedReasons; ++i) {
    if (s.unpatched[i] == 0) continue;
    text += fmt::format("{}{}: {}", sep, s.unpatched[i], trace::describe(static_cast<trace::UnpatchedReason>(i)));
    sep = "; ";
  }
  return text + ")";
}

// Why the agent cannot enter `program` ("'/bin/busybox' is statically
// linked"), or "" if it can.
std::string untraceable_program(const std::string& program) {
  char runs[256];
  const ProgramKind kind = program_kind(program.c_str(), runs, sizeof runs);
  const char* why = untraceable_reason(kind);
  if (*why == '\0') return "";
  if (program == runs) return fmt::format("'{}' {}", program, why);
  return fmt::format("'{}' runs '{}', which {}", program, runs, why);
}

std::string summary(const RecordStats& s, const std::string& output) {
  std::string line =
      fmt::format("recorded {} accesses ({} reads, {} writes) on {} mapping{} from {} thread{} in {} process{} into {}",
                  s.reads + s.writes, s.reads, s.writes, s.maps, s.maps == 1 ? "" : "s", s.threads.size(),
                  s.threads.size() == 1 ? "" : "s", s.processes.size(), s.processes.size() == 1 ? "" : "es", output);
  if (s.unknown != 0)
    line += fmt::format("; {} instruction{} could not be emulated", s.unknown, s.unknown == 1 ? "" : "s");
  if (s.lost != 0) {
    line += fmt::format("; {} event{} lost", s.lost, s.lost == 1 ? "" : "s");
    if (s.dropped != 0) line += fmt::format(" ({} dropped because a buffer was full)", s.dropped);
  }
  if (s.lock_takeovers != 0) {
    line += fmt::format("; the order lock was taken over from a process killed while holding it ({} time{})",
                        s.lock_takeovers, s.lock_takeovers == 1 ? "" : "s");
  }
  if (s.stepped != 0) line += fmt::format("; {} instruction{} single-stepped", s.stepped, s.stepped == 1 ? "" : "s");
  line += patching_summary(s);
  return line;
}

// Ends `record` the way the program ended: same exit code, or the same signal.
[[noreturn]] void exit_like(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);  // the program already dumped its core, if any
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    raise(sig);
    _exit(128 + sig);
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : kExitSoftware);
}

// What the agents learned while recording goes into the header's features.
Result<void> finish_header(const trace::ChannelHeader* ch, uint64_t features, trace::TraceWriter& writer) {
  if ((ch->step_flags.load() & trace::kStepUsedMprotect) == 0) return {};
  return writer.set_features(features | trace::kFeatureStepMayMiss);
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

// Whether the program can be traced at all: it exists, it does not change
// identity, and the agent can enter it. Returns 0 (with `untraceable` saying
// why it runs untraced, if --allow-untraceable let it), or the exit status
// after saying what is wrong.
int check_program(const RecordOptions& options, const std::string& program, std::string* untraceable) {
  if (std::string why = setid_reason(program); !why.empty()) {
    print_error(
        fmt::format("'{}' is {}: the loader ignores LD_PRELOAD for it, so the agent would not load and the "
                    "trace would be empty (run record as the program's owner, or use a copy without the bit)",
                    program, why));
    return kExitNoPerm;
  }
  // The agent is loaded with LD_PRELOAD: a program the dynamic loader does
  // not start (static) or cannot load it into (another architecture) would
  // run untraced and leave an empty trace.
  *untraceable = untraceable_program(program);
  if (!untraceable->empty() && !options.allow_untraceable) {
    print_error(
        fmt::format("{}: the agent is loaded with LD_PRELOAD and cannot enter it, so nothing it does would be "
                    "recorded (give --allow-untraceable to run it untraced)",
                    *untraceable));
    return kExitUnavailable;
  }
  if (!untraceable->empty()) print_error(fmt::format("warning: {}: it runs untraced", *untraceable));
  return 0;
}

int run_record(const RecordOptions& in) {
  if (in.command.empty()) {
    print_error("record needs a program to run: mmiotrace record [-o FILE] [--device GLOB]... -- PROGRAM [ARGS...]");
    return kExitUsage;
  }
  RecordOptions options = in;
  if (int status = parse_devices(options); status != 0) return status;
  auto program = find_program(options.command.front());
  if (!program) {
    print_error(program.error());
    return kExitNotFound;
  }
  std::string untraceable;
  if (int status = check_program(options, *program, &untraceable); status != 0) return status;
  auto agent = find_agent();
  if (!agent) {
    print_error(agent.error());
    return kExitSoftware;
  }
  const uint64_t start_mono = clock_ns(CLOCK_MONOTONIC);
  trace::FileHeader header =
      trace::make_file_header(start_mono, clock_ns(CLOCK_REALTIME), static_cast<uint32_t>(getpid()));
  if (options.step) header.features |= trace::kFeatureStepMode;
  auto writer = trace::TraceWriter::create(options.output, header);
  if (!writer) {
    print_error(writer.error());
    return kExitCantCreat;
  }
  auto channel = Channel::create(options, start_mono);
  if (!channel) {
    print_error(channel.error());
    return kExitSoftware;
  }
  // Like system(): the terminal's ^C goes to the program; the recorder stays
  // to write what it recorded.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  // Processes the program leaves behind become the recorder's children, so
  // that it can wait for them (they may still record) and reap them.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  channel->reserve_marks();
  const uint64_t spawn_ns = clock_ns(CLOCK_MONOTONIC);
  auto pid = spawn(*program, options.command, *agent, channel->agent_path(), &channel->header()->root_pid);
  if (!pid) {
    print_error(pid.error());
    return kExitNotFound;
  }
  channel->mark_start(spawn_ns, static_cast<uint32_t>(*pid),
                      fmt::format("mmiotrace: start {} {}", *pid, options.command.front()));
  if (!untraceable.empty()) channel->mark(static_cast<uint32_t>(*pid), "mmiotrace: " + untraceable + ": not traced");
  Consumer consumer(channel->header(), &*writer);
  int status = 0;
  bool program_ended = false;
  // Until the program and every process it left behind have ended.
  for (;;) {
    bool progress = consumer.drain();
    siginfo_t info;
    pid_t w;
    // The program, or a process it left behind (reparented to the recorder).
    // Its exit MARK is written before it is reaped: a process that sees it
    // gone (its parent's pid no longer in use) knows the MARK precedes
    // whatever it does next in the trace.
    while ((w = ended_child(&info)) > 0) {
      // Everything the process published is in the rings: the mark comes after it.
      consumer.drain();
      if (!channel->mark(static_cast<uint32_t>(w), exit_text(info))) warn_no_exit_mark(w);
      int st = 0;
      waitpid(w, &st, 0);
      if (w == *pid) {
        status = st;
        program_ended = true;
      }
    }
    // w == 0: children still running; -1 (ECHILD): none left.
    if (program_ended && w != 0) break;
    if (!progress) consumer.wait(2);
    if (options.consumer_delay_ms > 0) usleep(static_cast<useconds_t>(options.consumer_delay_ms) * 1000u);
  }
  consumer.finish();
  Result<void> closed = finish_header(channel->header(), header.features, *writer);
  if (closed) closed = writer->close();
  std::string error = consumer.write_error();
  if (error.empty() && !closed) error = closed.error();
  RecordStats stats = consumer.stats();
  stats.stepped = channel->header()->stepped.load();
  stats.patching = channel->header()->patch_after != 0;
  stats.patched_sites = channel->header()->patched_sites.load();
  for (size_t i = 0; i < trace::kUnpatchedReasons; ++i) stats.unpatched[i] = channel->header()->unpatched[i].load();
  fmt::print(stderr, "mmiotrace: {}\n", summary(stats, options.output));
  if ((channel->header()->step_flags.load() & trace::kStepUsedMprotect) != 0) {
    fmt::print(stderr,
               "mmiotrace: note: instructions were single-stepped with mprotect (no protection keys): "
               "accesses other threads made meanwhile to the same pages may be missing\n");
  }
  if (!consumer.channel_error().empty()) print_error(consumer.channel_error());
  if (!error.empty()) {
    print_error(error);
    return kExitIoErr;
  }
  fflush(stderr);
  exit_like(status);
}

}  // namespace

void add_record_command(CLI::App& root, Action& run, const std::vector<std::string>* after_dashes) {
  auto options = std::make_shared<RecordOptions>();
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
  sub->add_option("--sysroot", options->sysroot, "Look for /sys and /dev under DIR (testing)")
      ->type_name("DIR")
      ->group("");
  sub->add_option("--testing-consumer-delay-ms", options->consumer_delay_ms, "")->group("");  // tests: a slow consumer
  // Without `--`, everything from the program's name on belongs to the
  // program, options included.
  sub->prefix_command();
  sub->footer("Example: mmiotrace record -o t.mmio --device /tmp/fake-bar0 -- ./driver /tmp/fake-bar0");
  sub->callback([&run, options, sub, after_dashes] {
    // `record [OPTIONS] PROGRAM ARGS -- MORE` gives the program its own `--`.
    options->command = sub->remaining();
    if (after_dashes != nullptr) {
      if (!options->command.empty()) options->command.emplace_back("--");
      options->command.insert(options->command.end(), after_dashes->begin(), after_dashes->end());
    }
    run = [options] { return run_record(*options); };
  });
}

}  // namespace mmiotrace::cli
