#include "cli/recorder.h"

#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

namespace mmiotrace::cli {

void TraceFileSink::take(const trace::RecordView& record) {
  counter_.add(record);
  if (!write_error_.empty()) return;
  Result<void> r = writer_->append(record.bytes().data(), record.size());
  if (!r) write_error_ = r.error();
}

namespace {

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

// Channel::mark gave up: a live thread kept the order lock (a process
// stopped in the middle of an access), or the recorder's own ring was full.
void warn_no_exit_mark(pid_t pid) {
  fmt::print(stderr,
             "mmiotrace: warning: the trace has no exit MARK for process {}: the order lock stayed taken by a live "
             "thread for 2 s, or the recorder's ring was full\n",
             pid);
}

}  // namespace

void Recorder::started(pid_t pid, uint64_t spawn_ns, const std::string& program) {
  pid_ = pid;
  channel_->mark_start(spawn_ns, static_cast<uint32_t>(pid), fmt::format("mmiotrace: start {} {}", pid, program));
}

RecordOutcome Recorder::run(const std::function<void(pid_t program)>& poll) {
  RecordOutcome out;
  bool program_ended = false;
  // After records arrived, the recorder looks again at once for a while
  // (giving its CPU to the program's threads in between) before it sleeps on
  // the doorbell: a producer rings only once its ring is half full, and a
  // recorder woken that late leaves a fast producer waiting for room
  // (docs/benchmarks.md). About 100 us of looking after the last record.
  constexpr unsigned kIdleLooks = 64;
  unsigned idle_looks = kIdleLooks;
  for (;;) {
    bool progress = consumer_.drain();
    siginfo_t info;
    pid_t w;
    // The program, or a process it left behind (reparented to the recorder).
    // Its exit MARK is written before it is reaped: a process that sees it
    // gone (its parent's pid no longer in use) knows the MARK precedes
    // whatever it does next in the trace.
    while ((w = ended_child(&info)) > 0) {
      // Everything the process published is in the rings: the mark comes after it.
      consumer_.drain();
      if (!channel_->mark(static_cast<uint32_t>(w), exit_text(info))) warn_no_exit_mark(w);
      int st = 0;
      waitpid(w, &st, 0);
      if (w == pid_) {
        out.status = st;
        program_ended = true;
      }
    }
    // w == 0: children still running; -1 (ECHILD): none left.
    if (program_ended && w != 0) break;
    if (poll) poll(pid_);
    if (progress) {
      idle_looks = 0;
    } else if (idle_looks < kIdleLooks) {
      ++idle_looks;
      sched_yield();
    } else {
      consumer_.wait(2);
    }
    if (consumer_delay_ms_ > 0) usleep(static_cast<useconds_t>(consumer_delay_ms_) * 1000u);
  }
  consumer_.finish();

  trace::ChannelHeader* ch = channel_->header();
  out.step_used_mprotect = (ch->step_flags.load() & trace::kStepUsedMprotect) != 0;
  // What the agents learned while recording goes into the header's features.
  Result<void> closed;
  if (out.step_used_mprotect) closed = writer_->set_features(header_features_ | trace::kFeatureStepMayMiss);
  if (closed) closed = writer_->close();
  out.error = sink_.write_error();
  if (out.error.empty() && !closed) out.error = closed.error();
  out.channel_error = consumer_.channel_error();
  out.stats.counts = sink_.counts();
  out.stats.dropped = ch->dropped.load(std::memory_order_relaxed);
  out.stats.room_waits = ch->room_waits.load(std::memory_order_relaxed);
  out.stats.room_wait_ns = ch->room_wait_ns.load(std::memory_order_relaxed);
  out.stats.lock_takeovers = ch->lock_takeovers.load(std::memory_order_relaxed);
  out.stats.stepped = ch->stepped.load();
  out.stats.patching = ch->patch_after != 0;
  out.stats.patched_sites = ch->patched_sites.load();
  for (size_t i = 0; i < trace::kUnpatchedReasons; ++i) out.stats.unpatched[i] = ch->unpatched[i].load();
  return out;
}

}  // namespace mmiotrace::cli
