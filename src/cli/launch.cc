#include "cli/launch.h"

#include <dirent.h>
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

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "common/program_kind.h"
#include "trace/session.h"

namespace mmiotrace::cli {

uint64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

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

std::string preload_value(const std::string& agent) {
  const char* existing = getenv("LD_PRELOAD");
  return existing != nullptr && *existing != '\0' ? agent + ":" + existing : agent;
}

// Forks the program. The child reports an exec failure's errno through a
// close-on-exec pipe, so that the parent can say why.
Result<pid_t> spawn(const std::string& program, const std::vector<std::string>& argv, const std::string& agent,
                    const std::string& channel_path, const SessionFile* session, std::atomic<uint32_t>* root_pid) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return make_error(fmt::format("cannot create a pipe: {}", strerror(errno)));
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string preload = preload_value(agent);
  const std::string session_path = session != nullptr ? session->agent_path() : "";
  pid_t pid = fork();
  if (pid < 0) return make_error(fmt::format("cannot fork: {}", strerror(errno)));
  if (pid == 0) {
    close(pipefd[0]);
    // The shared channel: the agent knows the process record started (--no-follow).
    root_pid->store(static_cast<uint32_t>(getpid()));
    setenv("LD_PRELOAD", preload.c_str(), 1);
    setenv(trace::kChannelEnv, channel_path.c_str(), 1);
    if (session != nullptr) {
      setenv(trace::kSessionEnv, session_path.c_str(), 1);
    } else {
      unsetenv(trace::kSessionEnv);
    }
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

// The dynamic loader ignores LD_PRELOAD for a program that changes identity
// on exec (secure-execution mode): the agent would not load.
std::string setid_reason(const std::string& program) {
  struct stat st;
  if (stat(program.c_str(), &st) != 0) return "";
  if ((st.st_mode & S_ISUID) != 0 && st.st_uid != geteuid()) return "set-user-ID";
  if ((st.st_mode & S_ISGID) != 0 && st.st_gid != getegid()) return "set-group-ID";
  return "";
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

// Whether the program can be traced at all: it does not change identity, and
// the agent can enter it. Returns 0 (with `untraceable` saying why it runs
// untraced, if --allow-untraceable let it), or the exit status after saying
// what is wrong.
int check_program(const RecordOptions& options, const std::string& program, const std::string& command_name,
                  std::string* untraceable) {
  if (std::string why = setid_reason(program); !why.empty()) {
    print_error(
        fmt::format("'{}' is {}: the loader ignores LD_PRELOAD for it, so the agent would not load and the "
                    "trace would be empty (run {} as the program's owner, or use a copy without the bit)",
                    program, why, command_name));
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

}  // namespace

std::string record_summary(const RecordStats& s, const std::string& output) {
  const analysis::TraceCounts& c = s.counts;
  std::string line =
      fmt::format("recorded {} accesses ({} reads, {} writes) on {} mapping{} from {} thread{} in {} process{} into {}",
                  c.accesses(), c.reads, c.writes, c.maps, c.maps == 1 ? "" : "s", c.threads.size(),
                  c.threads.size() == 1 ? "" : "s", c.processes.size(), c.processes.size() == 1 ? "" : "es", output);
  if (c.unknown != 0)
    line += fmt::format("; {} instruction{} could not be emulated", c.unknown, c.unknown == 1 ? "" : "s");
  if (c.lost != 0) {
    line += fmt::format("; {} event{} lost", c.lost, c.lost == 1 ? "" : "s");
    if (s.dropped != 0) line += fmt::format(" ({} dropped because a buffer was full)", s.dropped);
  }
  if (s.room_waits != 0) {
    // The program was slowed down by the tracer beyond each access's own cost.
    line +=
        fmt::format("; threads waited {} time{} for room in a full buffer, {:.1f} ms in all (the recorder fell behind)",
                    s.room_waits, s.room_waits == 1 ? "" : "s", static_cast<double>(s.room_wait_ns) / 1e6);
  }
  if (s.lock_takeovers != 0) {
    line += fmt::format("; the order lock was taken over from a process killed while holding it ({} time{})",
                        s.lock_takeovers, s.lock_takeovers == 1 ? "" : "s");
  }
  if (s.stepped != 0) line += fmt::format("; {} instruction{} single-stepped", s.stepped, s.stepped == 1 ? "" : "s");
  line += patching_summary(s);
  return line;
}

void kill_descendants() {
  // The children of every process under this one (/proc/PID/task/TID/children).
  std::vector<pid_t> todo{getpid()};
  std::vector<pid_t> found;
  while (!todo.empty()) {
    const pid_t p = todo.back();
    todo.pop_back();
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", p), ec)) {
      std::ifstream in(task.path() / "children");
      pid_t child;
      while (in >> child) {
        found.push_back(child);
        todo.push_back(child);
      }
    }
  }
  for (pid_t p : found) kill(p, SIGKILL);
}

int launch(const RecordOptions& options, const SessionFile* session, const LaunchHooks& hooks) {
  if (options.command.empty()) {
    print_error(hooks.usage);
    return kExitUsage;
  }
  auto program = find_program(options.command.front());
  if (!program) {
    print_error(program.error());
    return kExitNotFound;
  }
  std::string untraceable;
  if (int status = check_program(options, *program, hooks.command_name, &untraceable); status != 0) return status;
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
  auto pid = spawn(*program, options.command, *agent, channel->agent_path(), session, &channel->header()->root_pid);
  if (!pid) {
    print_error(pid.error());
    return kExitNotFound;
  }
  Recorder recorder(&*channel, &*writer, header.features, options.consumer_delay_ms);
  recorder.started(*pid, spawn_ns, options.command.front());
  if (!untraceable.empty()) channel->mark(static_cast<uint32_t>(*pid), "mmiotrace: " + untraceable + ": not traced");
  const RecordOutcome outcome = recorder.run(hooks.poll);
  fmt::print(stderr, "mmiotrace: {}\n",
             hooks.summary ? hooks.summary(outcome.stats) : record_summary(outcome.stats, options.output));
  if (outcome.step_used_mprotect) {
    fmt::print(stderr,
               "mmiotrace: note: instructions were single-stepped with mprotect (no protection keys): "
               "accesses other threads made meanwhile to the same pages may be missing\n");
  }
  if (!outcome.channel_error.empty()) print_error(outcome.channel_error);
  if (!outcome.error.empty()) {
    print_error(outcome.error);
    return kExitIoErr;
  }
  const int status = outcome.status;
  const int code = hooks.finish ? hooks.finish(status) : -1;
  fflush(stderr);
  fflush(stdout);
  if (code >= 0) _exit(code);
  exit_like(status);
}

}  // namespace mmiotrace::cli
