// mmiotrace mark: writes a MARK record into a running recorder's trace from
// another shell, as writing to the kernel's trace_marker does (docs/mark.md).
//
// The recorder is found through /proc: it holds the channel memfd
// ("/memfd:mmiotrace-channel (deleted)") open, and the channel names its
// recorder's pid. `mark` opens it as /proc/<pid>/fd/<n>, maps it, and writes
// through a ring of its own like any producer (trace/channel_producer.h).
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "trace/channel.h"
#include "trace/channel_producer.h"
#include "trace/encode.h"

namespace mmiotrace::cli {
namespace {

constexpr int kExitNoPerm = 77;  // EX_NOPERM
constexpr const char* kChannelLink = "/memfd:mmiotrace-channel (deleted)";

struct MarkOptions {
  int pid = 0;  // 0: find the only recorder of this user
  std::vector<std::string> words;
  std::string proc_root = "/proc";  // tests point it at a fake tree
};

struct Failure {
  int status = 0;
  std::string message;
};

enum class FdScan { FOUND, NONE, NO_PROCESS, DENIED };

// The descriptor through which process `pid` holds a channel open.
FdScan find_channel_fd(const std::string& proc, int pid, int* fd_out) {
  const std::string dir = fmt::format("{}/{}/fd", proc, pid);
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == EACCES || errno == EPERM) return FdScan::DENIED;
    return FdScan::NO_PROCESS;
  }
  FdScan result = FdScan::NONE;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char link[256];
    ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
    if (n < 0) continue;
    link[n] = '\0';
    if (strcmp(link, kChannelLink) == 0) {
      *fd_out = atoi(e->d_name);
      result = FdScan::FOUND;
      break;
    }
  }
  closedir(d);
  return result;
}

int parent_pid(const std::string& proc, int pid) {
  std::ifstream in(fmt::format("{}/{}/status", proc, pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PPid:", 0) == 0) return atoi(line.c_str() + 5);
  }
  return 0;
}

// Every process of this user that holds a channel open, but a recorder's
// child between fork and exec (it still has the recorder's descriptors).
std::vector<int> find_recorders(const std::string& proc) {
  std::vector<int> pids;
  DIR* d = opendir(proc.c_str());
  if (d == nullptr) return pids;
  const uid_t me = getuid();
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 0 || pid == getpid()) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, 0) != 0 || st.st_uid != me) continue;
    int fd = -1;
    if (find_channel_fd(proc, static_cast<int>(pid), &fd) == FdScan::FOUND) pids.push_back(static_cast<int>(pid));
  }
  closedir(d);
  std::vector<int> recorders;
  for (int p : pids) {
    if (std::find(pids.begin(), pids.end(), parent_pid(proc, p)) == pids.end()) recorders.push_back(p);
  }
  std::sort(recorders.begin(), recorders.end());
  return recorders;
}

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const std::string& w : words) {
    if (!s.empty()) s += ' ';
    s += w;
  }
  return s;
}

// Maps the recorder's channel; returns null and sets *failure if it cannot.
trace::ChannelHeader* attach(const std::string& proc, int pid, size_t* size, Failure* failure) {
  int n = -1;
  switch (find_channel_fd(proc, pid, &n)) {
    case FdScan::FOUND:
      break;
    case FdScan::NO_PROCESS:
      *failure = {kExitUnavailable, fmt::format("there is no process {}", pid)};
      return nullptr;
    case FdScan::DENIED:
      *failure = {kExitNoPerm,
                  fmt::format("not permitted to open process {}'s channel (run mark as the recorder's user)", pid)};
      return nullptr;
    case FdScan::NONE:
      *failure = {kExitUnavailable, fmt::format("process {} is not a running mmiotrace recorder", pid)};
      return nullptr;
  }
  const std::string path = fmt::format("{}/{}/fd/{}", proc, pid, n);
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == EACCES || e == EPERM) {
      *failure = {kExitNoPerm,
                  fmt::format("not permitted to open process {}'s channel (run mark as the recorder's user)", pid)};
    } else {
      *failure = {kExitUnavailable, fmt::format("cannot open the channel of recorder {}: {}", pid, strerror(e))};
    }
    return nullptr;
  }
  trace::ChannelHeader probe;
  const ssize_t got = pread(fd, &probe, sizeof(probe), 0);
  if (got != static_cast<ssize_t>(sizeof(probe)) ||
      memcmp(probe.magic, trace::kChannelMagic, sizeof(probe.magic)) != 0 || probe.version != trace::kChannelVersion ||
      probe.ring_count == 0 || probe.total_size != trace::channel_size(probe.ring_count, probe.ring_bytes)) {
    close(fd);
    *failure = {kExitUnavailable,
                fmt::format("process {}'s channel is not one this mmiotrace understands (another version?)", pid)};
    return nullptr;
  }
  void* p = mmap(nullptr, probe.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED) {
    *failure = {kExitUnavailable, fmt::format("cannot map the channel of recorder {}: {}", pid, strerror(e))};
    return nullptr;
  }
  *size = probe.total_size;
  return static_cast<trace::ChannelHeader*>(p);
}

int run_mark(const MarkOptions& opt) {
  const std::string text = join(opt.words);
  if (text.size() > trace::kMaxMarkText) {
    print_error(
        fmt::format("the mark text is {} bytes; at most {} fit in a MARK record", text.size(), trace::kMaxMarkText));
    return kExitUsage;
  }
  int pid = opt.pid;
  if (pid == 0) {
    std::vector<int> recorders = find_recorders(opt.proc_root);
    if (recorders.empty()) {
      print_error("no mmiotrace record is running for this user; start one, or give --pid RECORDER_PID");
      return kExitUnavailable;
    }
    if (recorders.size() > 1) {
      std::string list;
      for (int p : recorders) list += (list.empty() ? "" : ", ") + std::to_string(p);
      print_error(fmt::format("{} mmiotrace recorders are running ({}); say which with --pid", recorders.size(), list));
      return kExitUsage;
    }
    pid = recorders[0];
  }
  Failure failure;
  size_t size = 0;
  trace::ChannelHeader* ch = attach(opt.proc_root, pid, &size, &failure);
  if (ch == nullptr) {
    print_error(failure.message);
    return failure.status;
  }
  const auto my_pid = static_cast<uint32_t>(getpid());
  const auto my_tid = static_cast<uint32_t>(syscall(SYS_gettid));
  std::vector<uint8_t> buf(trace::record_size_for_mark(static_cast<unsigned>(text.size())));
  trace::MarkFields f;
  f.pid = my_pid;
  f.text = text.data();
  f.text_len = static_cast<uint16_t>(text.size());
  const size_t n = trace::encode_mark(buf.data(), buf.size(), trace::RecordStamp{0, 0, my_tid}, f);
  // No signal may end this process while it owns a ring or holds the order
  // lock: every producer would wait for the lock forever.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  bool ok = false;
  {
    trace::ChannelProducer producer(ch);
    if (n != 0 && producer.claim(my_pid, my_tid, 1u << 20)) {
      // Testing only (not documented for users): say the ring is claimed, then
      // hold it until the recorder has begun its final drain, so that a test
      // can end the program in between. An event, not a delay: a loaded
      // machine may take any time to end the program.
      if (getenv("MMIOTRACE_TESTING_MARK_HOLD_UNTIL_CLOSING") != nullptr) {
        fmt::print(stderr, "mmiotrace: testing: ring claimed\n");
        fflush(stderr);
        while (ch->closing.load(std::memory_order_seq_cst) == 0) usleep(1000);
      }
      ok = producer.stamp_and_push(buf.data(), n);
    }
  }  // retires the ring
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(ch, size);
  if (!ok) {
    print_error(fmt::format("recorder {} did not take the mark (every ring busy, or the recorder died)", pid));
    return kExitUnavailable;
  }
  return 0;
}

}  // namespace

void add_mark_command(CLI::App& root, Action& run) {
  auto opts = std::make_shared<MarkOptions>();
  auto* sub =
      root.add_subcommand("mark", "Write a MARK line into a running recording, from another shell (docs/mark.md)");
  sub->add_option("--pid", opts->pid,
                  "The recorder's pid (the `mmiotrace record` process); needed when several are running")
      ->check(CLI::PositiveNumber);
  sub->add_option("--proc-root", opts->proc_root, "")->group("");  // tests: a fake /proc
  sub->add_option("TEXT", opts->words, "The mark's text (the words are joined with spaces)")->required();
  sub->callback([&run, opts] { run = [opts] { return run_mark(*opts); }; });
}

}  // namespace mmiotrace::cli
