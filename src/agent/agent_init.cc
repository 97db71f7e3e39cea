// The agent's entry: a constructor that runs when LD_PRELOAD loads the
// library, before the program's own constructors. It attaches to the channel
// `mmiotrace record` created, and installs the fault handler. Without the
// channel (MMIOTRACE_CHANNEL unset) it stays detached and every interposer
// passes straight through.
#include <cpuid.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/arming.h"
#include "agent/backend/model.h"
#include "agent/code_maps.h"
#include "agent/exit_barrier.h"
#include "agent/patch/patcher.h"
#include "agent/producer.h"
#include "agent/safe_format.h"
#include "agent/session.h"
#include "agent/step.h"
#include "agent/untraced_mappings.h"
#include "emu/xsave_area.h"
#include "trace/channel.h"

namespace mmiotrace::agent {

Agent g_agent;

namespace {

void warn(const char* what, const char* detail) {
  SafeBuf m;
  m.str("mmiotrace: agent not tracing this process: ").str(what).str(detail).str("\n");
  m.write_to(STDERR_FILENO);
}

bool cpu_has_avx512bw() {
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  // AVX512BW is CPUID.(7,0):EBX[30]; it is usable only if the OS enabled the
  // opmask and ZMM state (XCR0 bits 5-7).
  return (b & (1u << 30)) != 0 && (emu::XsaveLayout::host().supported & 0xe0) == 0xe0;
}

trace::ChannelHeader* map_channel(const char* path) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    warn("cannot open the recorder's channel ", path);
    return nullptr;
  }
  trace::ChannelHeader probe;
  if (pread(fd, &probe, sizeof(probe), 0) != static_cast<ssize_t>(sizeof(probe)) ||
      memcmp(probe.magic, trace::kChannelMagic, sizeof(probe.magic)) != 0 || probe.version != trace::kChannelVersion) {
    close(fd);
    warn("the channel comes from a different mmiotrace version: ", path);
    return nullptr;
  }
  void* p = real_mmap(nullptr, probe.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    warn("cannot map the recorder's channel ", path);
    return nullptr;
  }
  return static_cast<trace::ChannelHeader*>(p);
}

void disarm_region(const RegionInfo& r, void*) {
  // The child's copy of the mapping is the same shared device memory: with
  // the program's own protection back, its accesses reach the device directly.
  real_mprotect(reinterpret_cast<void*>(r.start), r.size(), r.prot);
  real_munmap(host_pointer(r.real), r.size());
}

// record --no-follow, in a child the program forked: the child runs as if
// untraced. Its inherited device mappings get their protection back, the
// program's own SIGSEGV/SIGBUS dispositions are installed, and the agent
// detaches (every interposer passes through from here on).
void detach_child() {
  trace::ChannelHeader* ch = g_agent.channel;
  g_agent.channel = nullptr;
  g_agent.regions.for_each(disarm_region, nullptr);
  restore_program_dispositions();
  real_munmap(ch, ch->total_size);
}

}  // namespace

void after_fork_child() {
  if (g_agent.channel == nullptr) return;
  g_agent.pid = static_cast<uint32_t>(getpid());
  producer_after_fork_child();
  patch::fork_child();
  if ((g_agent.channel->flags & trace::kChannelNoFollow) != 0) {
    detach_child();
    return;
  }
  g_agent.channel->processes_attached.fetch_add(1);
  record_code_maps_in_child();
}

namespace {

__attribute__((constructor(101))) void agent_init() {
  init_signal_interposition();
  const char* path = getenv(trace::kChannelEnv);
  if (path == nullptr || *path == '\0') return;
  trace::ChannelHeader* ch = map_channel(path);
  if (ch == nullptr) {
    const char* session_path = getenv(trace::kSessionEnv);
    if (session_path != nullptr && *session_path != '\0') _exit(70);  // as a session that cannot be used, below
    return;
  }
  if ((ch->flags & trace::kChannelNoFollow) != 0 && ch->root_pid.load() != static_cast<uint32_t>(getpid())) {
    // record --no-follow: a program a descendant exec'd (or posix_spawned)
    // runs untraced.
    real_munmap(ch, ch->total_size);
    return;
  }
  if (!session_attach() || !model_attach()) {
    // A replay or model session that cannot be used: running on would let the
    // program open the device files the session stands in for, for real.
    real_munmap(ch, ch->total_size);
    _exit(70);  // EX_SOFTWARE
  }
  g_agent.pid = static_cast<uint32_t>(getpid());
  g_agent.has_avx512bw = cpu_has_avx512bw();
  g_agent.has_fsgsbase = (getauxval(AT_HWCAP2) & 2) != 0;  // HWCAP2_FSGSBASE
  (void)emu::XsaveLayout::host();                          // compute outside any signal handler
  g_agent.step_mode = (ch->flags & trace::kChannelStepMode) != 0;
  // Protection keys unless told not to (tests and the benchmark measure mprotect stepping).
  const char* no_pkeys = getenv("MMIOTRACE_NO_PKEYS");
  arming_init(no_pkeys == nullptr || *no_pkeys == '\0' || *no_pkeys == '0');
  producer_init();
  step_init();
  // The fast path (agent/patch): a site is patched after this many faults.
  patch::init(ch->patch_after);
  // A session (replay, injection rules) performs device accesses through a
  // backend other than the plain real mapping, and each must take the fault
  // path: nothing is patched whatever the channel says (docs/replay.md).
  if (session() != nullptr) patch::turn_off();
  pthread_atfork(patch::fork_prepare, patch::fork_parent, after_fork_child);
  install_fault_handlers();
  ch->processes_attached.fetch_add(1);
  g_agent.channel = ch;  // from here on, device mmaps are traced
  record_code_maps_at_start();
}

// exit() and returning from main end here, after the program's own atexit
// handlers and destructors: the preloaded agent was initialized first, so it
// is finalized last.
__attribute__((destructor(101))) void agent_fini() {
  if (!attached()) return;
  report_untraced_device_mappings();
  exit_barrier();
}

}  // namespace

}  // namespace mmiotrace::agent

extern "C" {

__attribute__((visibility("default"), noreturn)) void _exit(int status) {
  if (mmiotrace::agent::attached()) {
    mmiotrace::agent::report_untraced_device_mappings();
    mmiotrace::agent::exit_barrier();
  }
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

__attribute__((visibility("default"), noreturn)) void _Exit(int status) { _exit(status); }

}  // extern "C"
